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
    tessera_testkit::key_manager_contract(&keys).await;
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
    let before = b
        .revocations_since(None, tessera_core::UnixTime(0))
        .await
        .expect("read");
    let kid = tessera_core::Kid::parse("k").expect("kid");
    a.revoke(
        &Revocation::Key { kid: kid.clone() },
        tessera_core::UnixTime(0),
    )
    .await
    .expect("write");
    let after = b
        .revocations_since(Some(&before.cursor), tessera_core::UnixTime(0))
        .await
        .expect("read");
    assert_eq!(after.added, vec![Revocation::Key { kid }]);
}
