//! The AWS adapters against the same contract suites as the local ones, on a real AWS API emulator.

mod support;

use tessera_aws::{DynamoStore, KmsKeys, KmsOptions, S3Publisher};

async fn store() -> DynamoStore {
    let cfg = support::config().await;
    let store = DynamoStore::new(cfg.dynamodb(), support::unique("tessera"));
    store.create_table().await.expect("create table");
    store.warm().await.expect("warm");
    store
}

#[tokio::test]
async fn dynamo_clients() {
    tessera_testkit::client_store_contract(&store().await).await;
}

#[tokio::test]
async fn dynamo_tokens() {
    tessera_testkit::token_store_contract(&store().await).await;
}

#[tokio::test]
async fn dynamo_keys() {
    tessera_testkit::key_registry_contract(&store().await).await;
}

#[tokio::test]
async fn dynamo_revocations() {
    tessera_testkit::revocation_contract(&store().await).await;
}

#[tokio::test]
async fn kms_keys() {
    use aws_sdk_kms::types::KeyState;
    use tessera_core::jose::Algorithm;
    use tessera_core::ports::KeyManager as _;
    let kms = support::config().await.kms();
    let keys = KmsKeys::new(kms.clone(), KmsOptions::default());
    // moto signs with disabled keys, so the contract's refusal check is off here; the key states KMS
    // reports after disable and scheduled deletion are checked instead.
    tessera_testkit::key_manager_contract(&keys, false).await;
    let created = keys.create_key(Algorithm::ES256).await.expect("create");
    let described = kms.describe_key().key_id(&created.provider_key_id).send().await.expect("describe");
    let meta = described.key_metadata.expect("metadata");
    assert_eq!(meta.key_spec(), Some(&aws_sdk_kms::types::KeySpec::EccNistP256));
    let tags = kms.list_resource_tags().key_id(&created.provider_key_id).send().await.expect("tags");
    assert!(tags.tags().iter().any(|t| t.tag_key() == "tessera:managed" && t.tag_value() == "true"), "keys are tagged");
    keys.disable_key(&created.provider_key_id).await.expect("disable");
    let state = kms.describe_key().key_id(&created.provider_key_id).send().await.expect("describe");
    assert_eq!(state.key_metadata.and_then(|m| m.key_state), Some(KeyState::Disabled));
    keys.schedule_deletion(&created.provider_key_id, std::time::Duration::from_secs(86_400)).await.expect("schedule");
    let state = kms.describe_key().key_id(&created.provider_key_id).send().await.expect("describe");
    assert_eq!(state.key_metadata.and_then(|m| m.key_state), Some(KeyState::PendingDeletion));
    keys.mark_active(&created.provider_key_id).await.expect("alias created");
    let other = keys.create_key(Algorithm::ES256).await.expect("create");
    keys.mark_active(&other.provider_key_id).await.expect("alias moved");
    let aliases = kms.list_aliases().key_id(&other.provider_key_id).send().await.expect("aliases");
    assert!(aliases.aliases().iter().any(|a| a.alias_name() == Some("alias/tessera-signing")));
}

#[tokio::test]
async fn warm_fails_clearly_without_the_table() {
    let cfg = support::config().await;
    let store = DynamoStore::new(cfg.dynamodb(), support::unique("missing"));
    assert!(store.warm().await.is_err());
}

#[tokio::test]
async fn s3_objects_carry_content_type_and_cache_control() {
    use tessera_core::ports::{PublishedDocuments, Publisher as _};
    let cfg = support::config().await;
    let s3 = cfg.s3();
    let bucket = support::unique("jwks");
    s3.create_bucket().bucket(&bucket).send().await.expect("bucket");
    let publisher = S3Publisher::new(s3.clone(), &bucket, "");
    let docs = PublishedDocuments {
        jwks: br#"{"keys":[]}"#.to_vec(),
        openid_configuration: b"{}".to_vec(),
        oauth_authorization_server: b"{}".to_vec(),
        max_age: std::time::Duration::from_secs(120),
    };
    publisher.publish(&docs).await.expect("publish");
    let obj = s3.get_object().bucket(&bucket).key(".well-known/jwks.json").send().await.expect("get");
    assert_eq!(obj.content_type(), Some("application/json"));
    assert_eq!(obj.cache_control(), Some("public, max-age=120"));
    let body = obj.body.collect().await.expect("body").into_bytes();
    assert_eq!(&body[..], br#"{"keys":[]}"#);
    for name in ["openid-configuration", "oauth-authorization-server"] {
        s3.head_object().bucket(&bucket).key(format!(".well-known/{name}")).send().await.expect(name);
    }
}

#[tokio::test]
async fn kms_rs256_keys_sign_what_the_core_verifies() {
    use tessera_core::jose::{Algorithm, PublicKey};
    use tessera_core::ports::{KeyManager as _, Signer as _};
    let keys = KmsKeys::new(support::config().await.kms(), KmsOptions::default());
    let created = keys.create_key(Algorithm::RS256).await.expect("create RSA_2048");
    let public = PublicKey::from_spki(Algorithm::RS256, &created.public_key_spki).expect("RSA SPKI");
    let message = b"eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0";
    let sig = keys.sign(&created.provider_key_id, Algorithm::RS256, message).await.expect("sign");
    let jws = Algorithm::RS256.jws_signature(&sig).expect("jws form");
    assert_eq!(jws.len(), 256, "a 2048-bit PKCS#1 v1.5 signature");
    assert!(public.verify(message, &jws));
    assert!(!public.verify(b"tampered", &jws));
    assert_eq!(public.to_jwk(&public.thumbprint()).kty, "RSA");
}
