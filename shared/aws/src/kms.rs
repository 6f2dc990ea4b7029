//! KMS as the signer and key manager. Private keys never leave KMS: Tessera holds key ARNs and public
//! keys. Keys carry tags that mark them as Tessera's (the issuer's IAM policy allows `kms:Sign` only on
//! keys with that tag), and an alias follows the signing key.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{KeySpec, KeyUsageType, MessageType, SigningAlgorithmSpec, Tag};
use tessera_core::jose::Algorithm;
use tessera_core::ports::{CreatedKey, KeyManager, PortError, PortResult, Signer};

use crate::errors;

/// The tag every Tessera key carries; IAM conditions on it.
pub const MANAGED_TAG: &str = "tessera:managed";

/// How keys are created.
#[derive(Clone, Debug)]
pub struct KmsOptions {
    /// Extra tags (the stack name, for instance), besides `tessera:managed=true`.
    pub tags: Vec<(String, String)>,
    /// The alias that names the signing key (`alias/…`), if any.
    pub active_alias: Option<String>,
    /// Create multi-Region primary keys, so replicas can sign in other Regions.
    pub multi_region: bool,
}

impl Default for KmsOptions {
    fn default() -> Self {
        Self { tags: Vec::new(), active_alias: Some("alias/tessera-signing".to_owned()), multi_region: false }
    }
}

/// KMS asymmetric keys.
#[derive(Clone, Debug)]
pub struct KmsKeys {
    client: aws_sdk_kms::Client,
    options: KmsOptions,
}

fn key_spec(alg: Algorithm) -> PortResult<(KeySpec, SigningAlgorithmSpec)> {
    match alg {
        Algorithm::ES256 => Ok((KeySpec::EccNistP256, SigningAlgorithmSpec::EcdsaSha256)),
        Algorithm::RS256 => Ok((KeySpec::Rsa2048, SigningAlgorithmSpec::RsassaPkcs1V15Sha256)),
        // Pure Ed25519 over the whole signing input (RFC 8032), as RFC 8037 requires; untested against moto.
        Algorithm::EdDSA => Ok((KeySpec::EccNistEdwards25519, SigningAlgorithmSpec::Ed25519Sha512)),
        #[allow(unreachable_patterns, reason = "Algorithm is non_exhaustive")]
        other => Err(PortError::Conflict(format!("the KMS adapter does not support {other}"))),
    }
}

impl KmsKeys {
    /// Keys through this client.
    #[must_use]
    pub fn new(client: aws_sdk_kms::Client, options: KmsOptions) -> Self {
        Self { client, options }
    }
}

#[async_trait]
impl Signer for KmsKeys {
    async fn sign(&self, provider_key_id: &str, alg: Algorithm, message: &[u8]) -> PortResult<Vec<u8>> {
        let (_, signing) = key_spec(alg)?;
        // RAW: KMS hashes the message itself. A JWS signing input is far below the 4,096-byte limit.
        if message.len() > 4096 {
            return Err(PortError::Conflict("signing input exceeds KMS's 4,096-byte RAW limit".to_owned()));
        }
        let out = self
            .client
            .sign()
            .key_id(provider_key_id)
            .message(Blob::new(message))
            .message_type(MessageType::Raw)
            .signing_algorithm(signing)
            .send()
            .await
            .map_err(|e| errors::map("kms:Sign", e))?;
        out.signature
            .map(Blob::into_inner)
            .ok_or_else(|| PortError::Corrupt("kms:Sign returned no signature".to_owned()))
    }
}

#[async_trait]
impl KeyManager for KmsKeys {
    async fn create_key(&self, alg: Algorithm) -> PortResult<CreatedKey> {
        let (spec, _) = key_spec(alg)?;
        let mut req = self
            .client
            .create_key()
            .key_spec(spec)
            .key_usage(KeyUsageType::SignVerify)
            .description("Tessera access-token signing key")
            .multi_region(self.options.multi_region);
        let tags =
            std::iter::once((MANAGED_TAG.to_owned(), "true".to_owned())).chain(self.options.tags.iter().cloned());
        for (k, v) in tags {
            let tag = Tag::builder().tag_key(k).tag_value(v).build().map_err(|e| PortError::Corrupt(e.to_string()))?;
            req = req.tags(tag);
        }
        let out = req.send().await.map_err(|e| errors::map("kms:CreateKey", e))?;
        let meta =
            out.key_metadata.ok_or_else(|| PortError::Corrupt("kms:CreateKey returned no metadata".to_owned()))?;
        // The key id, not the ARN: a multi-Region key has the same id in every Region it is replicated
        // to, so a record names the key wherever the issuer runs.
        let id = meta.key_id;
        let spki = self.public_key(&id).await?;
        Ok(CreatedKey { provider_key_id: id, public_key_spki: spki })
    }

    async fn public_key(&self, provider_key_id: &str) -> PortResult<Vec<u8>> {
        let out = self
            .client
            .get_public_key()
            .key_id(provider_key_id)
            .send()
            .await
            .map_err(|e| errors::map("kms:GetPublicKey", e))?;
        out.public_key
            .map(Blob::into_inner)
            .ok_or_else(|| PortError::Corrupt("kms:GetPublicKey returned no key".to_owned()))
    }

    async fn disable_key(&self, provider_key_id: &str) -> PortResult<()> {
        match self.client.disable_key().key_id(provider_key_id).send().await {
            Ok(_) => Ok(()),
            Err(e) => match errors::map("kms:DisableKey", e) {
                // Already pending deletion: as disabled as it gets.
                PortError::Conflict(_) => Ok(()),
                other => Err(other),
            },
        }
    }

    async fn schedule_deletion(&self, provider_key_id: &str, after: Duration) -> PortResult<()> {
        // KMS accepts 7 to 30 days.
        let days = i32::try_from(after.as_secs().div_ceil(86_400)).unwrap_or(30).clamp(7, 30);
        match self.client.schedule_key_deletion().key_id(provider_key_id).pending_window_in_days(days).send().await {
            Ok(_) => Ok(()),
            Err(e) => match errors::map("kms:ScheduleKeyDeletion", e) {
                PortError::Conflict(_) => Ok(()),
                other => Err(other),
            },
        }
    }

    async fn mark_active(&self, provider_key_id: &str) -> PortResult<()> {
        let Some(alias) = &self.options.active_alias else { return Ok(()) };
        match self.client.update_alias().alias_name(alias).target_key_id(provider_key_id).send().await {
            Ok(_) => Ok(()),
            Err(e) => match errors::map("kms:UpdateAlias", e) {
                PortError::Conflict(_) => {
                    self.client
                        .create_alias()
                        .alias_name(alias)
                        .target_key_id(provider_key_id)
                        .send()
                        .await
                        .map_err(|e| errors::map("kms:CreateAlias", e))?;
                    Ok(())
                }
                other => Err(other),
            },
        }
    }
}
