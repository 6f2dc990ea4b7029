//! The local adapters against the shared contract suites, on real SQLite files and key directories.

use tessera_local::{SoftwareKeys, SqliteStore};

fn store() -> (tempfile::TempDir, SqliteStore) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SqliteStore::open(&dir.path().join("t.db")).expect("open");
    (dir, store)
}

#[tokio::test]
async fn sqlite_clients() {
    let (_d, s) = store();
    tessera_testkit::client_store_contract(&s).await;
}

#[tokio::test]
async fn sqlite_tokens() {
    let (_d, s) = store();
    tessera_testkit::token_store_contract(&s).await;
}

#[tokio::test]
async fn sqlite_keys() {
    let (_d, s) = store();
    tessera_testkit::key_registry_contract(&s).await;
}

#[tokio::test]
async fn sqlite_revocations() {
    let (_d, s) = store();
    tessera_testkit::revocation_contract(&s).await;
}

#[tokio::test]
async fn software_keys() {
    let dir = tempfile::tempdir().expect("tempdir");
    let keys = SoftwareKeys::open(&dir.path().join("keys")).expect("open");
    tessera_testkit::key_manager_contract(&keys, true).await;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        for entry in std::fs::read_dir(dir.path().join("keys")).expect("dir") {
            let path = entry.expect("entry").path();
            if path.extension().is_some_and(|e| e == "pem") {
                let mode = std::fs::metadata(&path).expect("meta").permissions().mode() & 0o777;
                assert_eq!(mode, 0o600, "{} is private", path.display());
            }
        }
    }
}

#[tokio::test]
async fn two_connections_see_each_others_writes() {
    // As the dev server and the CLI do: two handles on one file.
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("t.db");
    let a = SqliteStore::open(&path).expect("open a");
    let b = SqliteStore::open(&path).expect("open b");
    use tessera_core::ports::{RevocationSource as _, RevocationStore as _};
    use tessera_core::revocation::Revocation;
    let before = b.revocations_since(None, tessera_core::UnixTime(0)).await.expect("read");
    let kid = tessera_core::Kid::parse("k").expect("kid");
    a.revoke(&Revocation::Key { kid: kid.clone() }, tessera_core::UnixTime(0)).await.expect("write");
    let after = b.revocations_since(Some(&before.cursor), tessera_core::UnixTime(0)).await.expect("read");
    assert_eq!(after.added, vec![Revocation::Key { kid }]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_rotators_on_one_database_never_double_rotate() {
    use std::sync::Arc;
    use std::time::Duration;
    use tessera_core::UnixTime;
    use tessera_core::discovery::Metadata;
    use tessera_core::jose::Algorithm;
    use tessera_core::lifecycle::{KeyStatus, RotationPolicy};
    use tessera_core::ports::KeySource as _;
    use tessera_core::service::Rotator;
    use tessera_local::DirPublisher;

    let dir = tempfile::tempdir().expect("tempdir");
    let policy = RotationPolicy {
        rotate_every: Duration::from_secs(100),
        jwks_max_age: Duration::from_secs(10),
        propagation_margin: Duration::from_secs(5),
        max_token_ttl: Duration::from_secs(30),
        leeway: Duration::from_secs(5),
        deletion_window: Duration::from_secs(7 * 86_400),
        algorithm: Algorithm::ES256,
    };
    // Four rotators, each with its own connection, as four overlapping Lambda invocations would be.
    let rotators: Vec<Rotator> = (0..4)
        .map(|_| {
            let store = Arc::new(SqliteStore::open(&dir.path().join("t.db")).expect("open"));
            let keys = Arc::new(SoftwareKeys::open(&dir.path().join("keys")).expect("keys"));
            let publisher = Arc::new(DirPublisher::new(&dir.path().join("public")));
            let meta = Metadata::new("https://i", "https://i/.well-known/jwks.json", vec!["ES256".into()]);
            Rotator::new(store.clone(), keys, publisher, store, policy.clone(), meta)
        })
        .collect();
    let reader = SqliteStore::open(&dir.path().join("t.db")).expect("open");
    for t in [1_000, 1_000, 1_100, 1_100, 1_145, 1_200, 1_300] {
        let handles: Vec<_> =
            rotators.iter().cloned().map(|r| tokio::spawn(async move { r.step(UnixTime(t), false).await })).collect();
        for h in handles {
            h.await.expect("join").expect("a step either applies or yields to the winner");
        }
        let keys = reader.list_keys().await.expect("list");
        let count = |s: KeyStatus| keys.iter().filter(|k| k.status == s).count();
        assert_eq!(count(KeyStatus::Active), 1, "t={t}: exactly one signing key");
        assert_eq!(count(KeyStatus::Pending), 1, "t={t}: exactly one successor");
        let mut generations: Vec<u64> = keys.iter().map(|k| k.generation).collect();
        generations.dedup();
        assert_eq!(generations.len(), keys.len(), "generations are unique");
    }
    // 1000: gen 1 active + gen 2 pending; 1100: gen 2 promoted, gen 3 created; 1200: gen 3; 1300: gen 4.
    assert_eq!(reader.list_keys().await.expect("list").len(), 5, "one rotation per period, however many rotators");
}
