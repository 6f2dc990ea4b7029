//! The S3 publisher: the origin CloudFront serves `/.well-known/*` from.

use async_trait::async_trait;
use aws_sdk_s3::primitives::ByteStream;
use tessera_core::ports::{PortResult, PublishedDocuments, Publisher};

use crate::errors;

/// Writes the documents under `PREFIX.well-known/` in a bucket.
#[derive(Clone, Debug)]
pub struct S3Publisher {
    client: aws_sdk_s3::Client,
    bucket: String,
    prefix: String,
}

impl S3Publisher {
    /// Publishes to `bucket`, object keys starting with `prefix` (usually empty).
    #[must_use]
    pub fn new(client: aws_sdk_s3::Client, bucket: impl Into<String>, prefix: impl Into<String>) -> Self {
        Self { client, bucket: bucket.into(), prefix: prefix.into() }
    }

    async fn put(&self, name: &str, body: &[u8], cache_control: &str) -> PortResult<()> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(format!("{}.well-known/{name}", self.prefix))
            .body(ByteStream::from(body.to_vec()))
            .content_type("application/json")
            .cache_control(cache_control)
            .send()
            .await
            .map_err(|e| errors::map("s3:PutObject", e))?;
        Ok(())
    }
}

#[async_trait]
impl Publisher for S3Publisher {
    async fn publish(&self, docs: &PublishedDocuments) -> PortResult<()> {
        let cache = format!("public, max-age={}", docs.max_age.as_secs());
        self.put("openid-configuration", &docs.openid_configuration, &cache).await?;
        self.put("oauth-authorization-server", &docs.oauth_authorization_server, &cache).await?;
        // The JWKS last: its write is what the rotator records as "published".
        self.put("jwks.json", &docs.jwks, &cache).await
    }
}
