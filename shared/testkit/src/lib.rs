//! Contract suites: the behaviour every adapter of a port must show. The SQLite store and the software
//! keys run them today; the DynamoDB and KMS adapters run the very same functions.
//!
//! Each suite expects a fresh, empty backend and panics (fails the calling test) on the first broken
//! promise.
#![allow(clippy::unwrap_used, reason = "test support: a failed unwrap is a failed contract")]

use std::time::Duration;

use rand_core::OsRng;
use tessera_core::client::{Client, ClientStatus, SecretRecord};
use tessera_core::jose::{Algorithm, PublicKey};
use tessera_core::lifecycle::{KeyRecord, KeyStatus};
use tessera_core::ports::{
    ClientStore, KeyManager, KeyRegistry, PortError, RevocationSource, RevocationStore, Signer, TokenRecord, TokenStore,
};
use tessera_core::revocation::Revocation;
use tessera_core::secret::ClientSecret;
use tessera_core::{ClientId, Jti, Kid, ScopeSet, UnixTime};

const NOW: UnixTime = UnixTime(1_800_000_000);

fn client(id: &str) -> Client {
    let secret = ClientSecret::generate(&mut OsRng);
    Client {
        id: ClientId::parse(id).unwrap(),
        name: format!("client {id}"),
        status: ClientStatus::Active,
        secrets: vec![SecretRecord { hash: secret.hash(), created_at: NOW, expires_at: None }],
        scopes: ScopeSet::parse("a b").unwrap(),
        audiences: vec!["https://api".into()],
        cidrs: vec!["10.0.0.0/8".parse().unwrap()],
        max_ttl: Duration::from_secs(600),
        scope_ttl_caps: [("b".parse().unwrap(), Duration::from_secs(60))].into(),
        created_at: NOW,
        version: 1,
    }
}

fn is_conflict<T: std::fmt::Debug>(r: Result<T, PortError>) -> bool {
    matches!(r, Err(PortError::Conflict(_)))
}

/// Clients: create once, read back exactly, versioned updates, versioned deletes.
pub async fn client_store_contract(store: &dyn ClientStore) {
    let a = client("tsc_contract_a");
    store.create_client(&a).await.unwrap();
    assert!(is_conflict(store.create_client(&a).await), "create twice must conflict");
    assert_eq!(store.get_client(&a.id).await.unwrap(), Some(a.clone()), "read back what was written");
    assert_eq!(store.get_client(&ClientId::parse("tsc_missing").unwrap()).await.unwrap(), None);

    let mut v2 = a.clone();
    v2.status = ClientStatus::Disabled;
    v2.version = 2;
    store.update_client(&v2).await.unwrap();
    // A second writer that also read version 1 loses.
    let mut stale = a.clone();
    stale.name = "stale".into();
    stale.version = 2;
    assert!(is_conflict(store.update_client(&stale).await), "a stale update must conflict");
    assert_eq!(store.get_client(&a.id).await.unwrap(), Some(v2.clone()), "the lost update changed nothing");

    let b = client("tsc_contract_b");
    store.create_client(&b).await.unwrap();
    let ids: Vec<String> = store.list_clients().await.unwrap().into_iter().map(|c| c.id.to_string()).collect();
    assert_eq!(ids, vec!["tsc_contract_a", "tsc_contract_b"]);

    assert!(is_conflict(store.delete_client(&a.id, 1).await), "delete with a stale version must conflict");
    store.delete_client(&a.id, 2).await.unwrap();
    assert_eq!(store.get_client(&a.id).await.unwrap(), None);
    assert!(is_conflict(store.update_client(&v2).await), "updating a deleted client must conflict");
}

/// Token metadata: recorded once, readable until expiry.
pub async fn token_store_contract(store: &dyn TokenStore) {
    let record = TokenRecord {
        jti: Jti::parse("jti-contract").unwrap(),
        client_id: ClientId::parse("tsc_x").unwrap(),
        scope: ScopeSet::parse("a").unwrap(),
        audience: "https://api".into(),
        kid: "k".into(),
        issued_at: NOW,
        expires_at: NOW.plus(Duration::from_secs(60)),
    };
    store.record_token(&record).await.unwrap();
    assert!(is_conflict(store.record_token(&record).await), "a jti is unique");
    assert_eq!(store.get_token(&record.jti, NOW).await.unwrap(), Some(record.clone()));
    assert_eq!(store.get_token(&record.jti, NOW.plus(Duration::from_secs(60))).await.unwrap(), None, "expired");
    assert_eq!(store.get_token(&Jti::parse("other").unwrap(), NOW).await.unwrap(), None);
}

fn key(generation: u64) -> KeyRecord {
    KeyRecord {
        kid: Kid::parse(&format!("kid-{generation}")).unwrap(),
        generation,
        alg: Algorithm::ES256,
        provider_key_id: format!("provider-{generation}"),
        public_key_spki: vec![1, 2, 3],
        status: KeyStatus::Pending,
        created_at: NOW,
        published_at: None,
        activated_at: None,
        retiring_at: None,
        retired_at: None,
        deletion_scheduled: false,
        version: 1,
    }
}

/// Key registry: unique kids and generations, atomic versioned multi-key updates.
pub async fn key_registry_contract(store: &dyn KeyRegistry) {
    assert!(store.list_keys().await.unwrap().is_empty());
    let k1 = key(1);
    store.insert_key(&k1).await.unwrap();
    assert!(is_conflict(store.insert_key(&k1).await), "same kid");
    let mut same_gen = key(1);
    same_gen.kid = Kid::parse("other-kid").unwrap();
    assert!(is_conflict(store.insert_key(&same_gen).await), "two rotators claiming one generation: one wins");
    let k2 = key(2);
    store.insert_key(&k2).await.unwrap();

    let mut a1 = k1.clone();
    a1.status = KeyStatus::Active;
    a1.version = 2;
    let mut a2 = k2.clone();
    a2.status = KeyStatus::Retiring;
    a2.version = 2;
    store.update_keys(&[a1.clone(), a2.clone()]).await.unwrap();
    assert_eq!(store.list_keys().await.unwrap(), vec![a1.clone(), a2.clone()], "ordered by generation");

    // A batch with one stale member applies nothing.
    let mut b1 = a1.clone();
    b1.status = KeyStatus::Retired;
    b1.version = 3;
    let mut stale2 = k2.clone();
    stale2.status = KeyStatus::Active;
    stale2.version = 2;
    assert!(is_conflict(store.update_keys(&[b1, stale2]).await));
    assert_eq!(store.list_keys().await.unwrap(), vec![a1, a2], "all or nothing");
}

/// Revocations: idempotent appends, an incremental feed, expiry, and the disabled clients.
pub async fn revocation_contract<S>(store: &S)
where
    S: RevocationStore + RevocationSource + ClientStore,
{
    let first = store.revocations_since(None, NOW).await.unwrap();
    assert!(first.added.is_empty() && first.disabled_clients.is_empty());
    let c = ClientId::parse("tsc_r").unwrap();
    let token = Revocation::Token {
        jti: Jti::parse("j1").unwrap(),
        client_id: c.clone(),
        expires_at: NOW.plus(Duration::from_secs(60)),
    };
    store.revoke(&token, NOW).await.unwrap();
    store.revoke(&token, NOW).await.unwrap();
    let before = Revocation::ClientBefore { client_id: c.clone(), before: NOW };
    store.revoke(&before, NOW).await.unwrap();
    let d1 = store.revocations_since(Some(&first.cursor), NOW).await.unwrap();
    assert_eq!(d1.added, vec![token.clone(), before.clone()], "in order, without duplicates");
    let d2 = store.revocations_since(Some(&d1.cursor), NOW).await.unwrap();
    assert!(d2.added.is_empty(), "nothing new after the cursor");
    let key = Revocation::Key { kid: Kid::parse("k9").unwrap() };
    store.revoke(&key, NOW).await.unwrap();
    assert_eq!(store.revocations_since(Some(&d2.cursor), NOW).await.unwrap().added, vec![key.clone()]);

    // Long after the token expired, a full read no longer carries its entry.
    let later = store.revocations_since(None, NOW.plus(Duration::from_secs(86_400))).await.unwrap();
    assert_eq!(later.added, vec![before, key]);

    let mut disabled = client("tsc_disabled");
    store.create_client(&disabled).await.unwrap();
    store.create_client(&client("tsc_enabled")).await.unwrap();
    disabled.status = ClientStatus::Disabled;
    disabled.version = 2;
    store.update_client(&disabled).await.unwrap();
    let d = store.revocations_since(Some(&d2.cursor), NOW).await.unwrap();
    assert_eq!(d.disabled_clients, vec![disabled.id]);
}

/// Key manager and signer: keys are created with SPKI public keys, signatures are DER that the core's
/// verifier accepts, disabled keys refuse to sign. `enforces_key_state` is false only for an emulator that
/// signs with disabled keys (moto does; real KMS does not); its adapter test checks the key state instead.
pub async fn key_manager_contract<K>(keys: &K, enforces_key_state: bool)
where
    K: KeyManager + Signer,
{
    let created = keys.create_key(Algorithm::ES256).await.unwrap();
    let public = PublicKey::from_spki(Algorithm::ES256, &created.public_key_spki).unwrap();
    assert_eq!(keys.public_key(&created.provider_key_id).await.unwrap(), created.public_key_spki);
    let message = b"eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0";
    let der = keys.sign(&created.provider_key_id, Algorithm::ES256, message).await.unwrap();
    assert_eq!(der[0], 0x30, "DER SEQUENCE, as KMS returns");
    let raw = Algorithm::ES256.jws_signature(&der).unwrap();
    assert!(public.verify(message, &raw), "signature verifies with the core");
    assert!(!public.verify(b"other message", &raw));
    let other = keys.create_key(Algorithm::ES256).await.unwrap();
    assert_ne!(other.public_key_spki, created.public_key_spki, "every key is new");
    keys.disable_key(&created.provider_key_id).await.unwrap();
    if enforces_key_state {
        assert!(
            keys.sign(&created.provider_key_id, Algorithm::ES256, message).await.is_err(),
            "disabled keys do not sign"
        );
    }
    keys.schedule_deletion(&created.provider_key_id, Duration::from_secs(7 * 86_400)).await.unwrap();
    assert!(keys.sign(&other.provider_key_id, Algorithm::ES256, message).await.is_ok(), "others still sign");
}

/// The AWS API emulator (moto server) on loopback, shared by the tests of one test binary.
pub mod attacks;
pub mod fuzz;

pub mod moto {
    use std::process::{Child, Command, Stdio};
    use std::sync::OnceLock;
    use std::time::{Duration, Instant};

    struct Moto {
        endpoint: String,
        _child: ChildGuard,
    }

    struct ChildGuard(Child);

    impl Drop for ChildGuard {
        fn drop(&mut self) {
            let _ = self.0.kill();
        }
    }

    static MOTO: OnceLock<Moto> = OnceLock::new();

    /// A free loopback port.
    #[must_use]
    pub fn free_port() -> u16 {
        std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
    }

    /// The emulator's endpoint: `$TESSERA_TEST_AWS_ENDPOINT` if set, else a `moto_server` this process
    /// starts on 127.0.0.1 from `$MOTO_SERVER` (scripts/test sets it) or PATH. Test binaries are separate
    /// processes, so each has its own emulator and state.
    #[must_use]
    pub fn endpoint() -> String {
        if let Ok(e) = std::env::var("TESSERA_TEST_AWS_ENDPOINT") {
            return e;
        }
        MOTO.get_or_init(|| {
            let bin = std::env::var("MOTO_SERVER").unwrap_or_else(|_| "moto_server".to_owned());
            let port = free_port();
            let child = Command::new(&bin)
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {bin} ({e}): scripts/test installs moto[server] into .venv"));
            let start = Instant::now();
            while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
                assert!(start.elapsed() < Duration::from_secs(30), "moto did not start");
                std::thread::sleep(Duration::from_millis(50));
            }
            Moto { endpoint: format!("http://127.0.0.1:{port}"), _child: ChildGuard(child) }
        })
        .endpoint
        .clone()
    }

    /// A name no other test of this process uses.
    #[must_use]
    pub fn unique(prefix: &str) -> String {
        static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        format!("{prefix}-{}-{}", std::process::id(), N.fetch_add(1, std::sync::atomic::Ordering::SeqCst))
    }
}
