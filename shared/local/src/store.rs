//! Every store port over SQLite.
//!
//! Items are stored as JSON documents beside the columns that conditions and queries need, the same
//! shape the DynamoDB single-table design uses, so both adapters pass one contract suite.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension as _, params};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tessera_core::client::{Client, ClientStatus};
use tessera_core::lifecycle::KeyRecord;
use tessera_core::ports::{
    ClientStore, Cursor, KeyRegistry, KeySource, PortError, PortResult, RevocationDelta, RevocationSource,
    RevocationStore, TokenRecord, TokenStore,
};
use tessera_core::revocation::Revocation;
use tessera_core::{ClientId, Jti, UnixTime};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS clients (
    id TEXT PRIMARY KEY,
    version INTEGER NOT NULL,
    status TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS tokens (
    jti TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS tokens_expiry ON tokens (expires_at);
CREATE TABLE IF NOT EXISTS keys (
    kid TEXT PRIMARY KEY,
    generation INTEGER NOT NULL UNIQUE,
    version INTEGER NOT NULL,
    body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS revocations (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    dedup TEXT NOT NULL UNIQUE,
    expires_at INTEGER,
    created_at INTEGER NOT NULL,
    body TEXT NOT NULL
);
PRAGMA user_version = 1;
";

/// Revocation entries are kept this long past their token's expiry, beyond any verifier's leeway.
const REVOCATION_SLACK: Duration = Duration::from_secs(600);

/// The SQLite store.
#[derive(Clone)]
pub struct SqliteStore {
    conn: Arc<Mutex<Connection>>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SqliteStore")
    }
}

fn db_err(e: rusqlite::Error) -> PortError {
    PortError::unavailable(e)
}

fn to_json<T: Serialize>(v: &T) -> PortResult<String> {
    serde_json::to_string(v).map_err(|e| PortError::Corrupt(e.to_string()))
}

fn from_json<T: DeserializeOwned>(s: &str, what: &str) -> PortResult<T> {
    serde_json::from_str(s).map_err(|e| PortError::Corrupt(format!("{what}: {e}")))
}

impl SqliteStore {
    /// Opens (creating if needed) the database file.
    pub fn open(path: &Path) -> PortResult<Self> {
        let conn = Connection::open(path).map_err(db_err)?;
        // WAL lets readers run beside the one writer, across processes; the busy timeout makes a writer
        // wait for another process's transaction instead of failing.
        conn.busy_timeout(Duration::from_secs(10)).map_err(db_err)?;
        conn.pragma_update(None, "journal_mode", "WAL").map_err(db_err)?;
        conn.pragma_update(None, "synchronous", "NORMAL").map_err(db_err)?;
        conn.pragma_update(None, "foreign_keys", "ON").map_err(db_err)?;
        conn.execute_batch(SCHEMA).map_err(db_err)?;
        Ok(Self { conn: Arc::new(Mutex::new(conn)) })
    }

    async fn run<T, F>(&self, f: F) -> PortResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> PortResult<T> + Send + 'static,
    {
        let conn = Arc::clone(&self.conn);
        tokio::task::spawn_blocking(move || {
            let mut guard = conn.lock().map_err(|_| PortError::Corrupt("store lock poisoned".to_owned()))?;
            f(&mut guard)
        })
        .await
        .map_err(PortError::unavailable)?
    }

    /// Deletes token records and revocations that can no longer matter.
    pub async fn purge_expired(&self, now: UnixTime) -> PortResult<usize> {
        let horizon = now.minus(REVOCATION_SLACK).0;
        self.run(move |c| {
            let a = c.execute("DELETE FROM tokens WHERE expires_at < ?1", params![horizon]).map_err(db_err)?;
            let b = c
                .execute("DELETE FROM revocations WHERE expires_at IS NOT NULL AND expires_at < ?1", params![horizon])
                .map_err(db_err)?;
            Ok(a + b)
        })
        .await
    }
}

fn status_str(s: ClientStatus) -> &'static str {
    match s {
        ClientStatus::Active => "active",
        ClientStatus::Disabled => "disabled",
    }
}

fn is_constraint(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::ConstraintViolation)
}

#[async_trait]
impl ClientStore for SqliteStore {
    async fn create_client(&self, client: &Client) -> PortResult<()> {
        let (id, version, status, body) =
            (client.id.to_string(), client.version, status_str(client.status), to_json(client)?);
        self.run(move |c| {
            match c.execute(
                "INSERT INTO clients (id, version, status, body) VALUES (?1, ?2, ?3, ?4)",
                params![id, version, status, body],
            ) {
                Ok(_) => Ok(()),
                Err(e) if is_constraint(&e) => Err(PortError::Conflict(format!("client {id} exists"))),
                Err(e) => Err(db_err(e)),
            }
        })
        .await
    }

    async fn get_client(&self, id: &ClientId) -> PortResult<Option<Client>> {
        let id = id.to_string();
        self.run(move |c| {
            let body: Option<String> = c
                .query_row("SELECT body FROM clients WHERE id = ?1", params![id], |r| r.get(0))
                .optional()
                .map_err(db_err)?;
            body.map(|b| from_json(&b, "client")).transpose()
        })
        .await
    }

    async fn update_client(&self, client: &Client) -> PortResult<()> {
        let (id, version, status, body) =
            (client.id.to_string(), client.version, status_str(client.status), to_json(client)?);
        self.run(move |c| {
            let n = c
                .execute(
                    "UPDATE clients SET version = ?2, status = ?3, body = ?4 WHERE id = ?1 AND version = ?2 - 1",
                    params![id, version, status, body],
                )
                .map_err(db_err)?;
            if n == 1 { Ok(()) } else { Err(PortError::Conflict(format!("client {id} changed or is gone"))) }
        })
        .await
    }

    async fn delete_client(&self, id: &ClientId, expected_version: u64) -> PortResult<()> {
        let id = id.to_string();
        self.run(move |c| {
            let n = c
                .execute("DELETE FROM clients WHERE id = ?1 AND version = ?2", params![id, expected_version])
                .map_err(db_err)?;
            if n == 1 { Ok(()) } else { Err(PortError::Conflict(format!("client {id} changed or is gone"))) }
        })
        .await
    }

    async fn list_clients(&self) -> PortResult<Vec<Client>> {
        self.run(|c| {
            let mut stmt = c.prepare("SELECT body FROM clients ORDER BY id").map_err(db_err)?;
            let rows = stmt.query_map([], |r| r.get::<_, String>(0)).map_err(db_err)?;
            rows.map(|r| r.map_err(db_err).and_then(|b| from_json(&b, "client"))).collect()
        })
        .await
    }
}

#[async_trait]
impl TokenStore for SqliteStore {
    async fn record_token(&self, record: &TokenRecord) -> PortResult<()> {
        let (jti, client, exp, body) =
            (record.jti.to_string(), record.client_id.to_string(), record.expires_at.0, to_json(record)?);
        self.run(move |c| {
            match c.execute(
                "INSERT INTO tokens (jti, client_id, expires_at, body) VALUES (?1, ?2, ?3, ?4)",
                params![jti, client, exp, body],
            ) {
                Ok(_) => Ok(()),
                Err(e) if is_constraint(&e) => Err(PortError::Conflict(format!("token {jti} exists"))),
                Err(e) => Err(db_err(e)),
            }
        })
        .await
    }

    async fn get_token(&self, jti: &Jti, now: UnixTime) -> PortResult<Option<TokenRecord>> {
        let jti = jti.to_string();
        self.run(move |c| {
            let body: Option<String> = c
                .query_row("SELECT body FROM tokens WHERE jti = ?1 AND expires_at > ?2", params![jti, now.0], |r| {
                    r.get(0)
                })
                .optional()
                .map_err(db_err)?;
            body.map(|b| from_json(&b, "token")).transpose()
        })
        .await
    }
}

#[async_trait]
impl KeySource for SqliteStore {
    async fn list_keys(&self) -> PortResult<Vec<KeyRecord>> {
        self.run(|c| {
            let mut stmt = c.prepare("SELECT body FROM keys ORDER BY generation").map_err(db_err)?;
            let rows = stmt.query_map([], |r| r.get::<_, String>(0)).map_err(db_err)?;
            rows.map(|r| r.map_err(db_err).and_then(|b| from_json(&b, "key"))).collect()
        })
        .await
    }
}

#[async_trait]
impl KeyRegistry for SqliteStore {
    async fn insert_key(&self, key: &KeyRecord) -> PortResult<()> {
        let (kid, generation, version, body) = (key.kid.to_string(), key.generation, key.version, to_json(key)?);
        self.run(move |c| {
            match c.execute(
                "INSERT INTO keys (kid, generation, version, body) VALUES (?1, ?2, ?3, ?4)",
                params![kid, generation, version, body],
            ) {
                Ok(_) => Ok(()),
                Err(e) if is_constraint(&e) => {
                    Err(PortError::Conflict(format!("key {kid} or generation {generation} exists")))
                }
                Err(e) => Err(db_err(e)),
            }
        })
        .await
    }

    async fn update_keys(&self, keys: &[KeyRecord]) -> PortResult<()> {
        let rows: Vec<(String, u64, String)> =
            keys.iter().map(|k| Ok((k.kid.to_string(), k.version, to_json(k)?))).collect::<PortResult<_>>()?;
        self.run(move |c| {
            // IMMEDIATE takes the write lock up front, so the version checks and writes are one unit.
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).map_err(db_err)?;
            for (kid, version, body) in &rows {
                let n = tx
                    .execute(
                        "UPDATE keys SET version = ?2, body = ?3 WHERE kid = ?1 AND version = ?2 - 1",
                        params![kid, version, body],
                    )
                    .map_err(db_err)?;
                if n != 1 {
                    return Err(PortError::Conflict(format!("key {kid} changed")));
                }
            }
            tx.commit().map_err(db_err)
        })
        .await
    }
}

fn dedup_key(r: &Revocation) -> String {
    match r {
        Revocation::Token { jti, .. } => format!("token:{jti}"),
        Revocation::ClientBefore { client_id, before } => format!("client:{client_id}:{before}"),
        Revocation::Key { kid } => format!("key:{kid}"),
    }
}

#[async_trait]
impl RevocationStore for SqliteStore {
    async fn revoke(&self, revocation: &Revocation, now: UnixTime) -> PortResult<()> {
        let expires = match revocation {
            Revocation::Token { expires_at, .. } => Some(expires_at.0),
            _ => None,
        };
        let (dedup, body) = (dedup_key(revocation), to_json(revocation)?);
        self.run(move |c| {
            c.execute(
                "INSERT OR IGNORE INTO revocations (dedup, expires_at, created_at, body) VALUES (?1, ?2, ?3, ?4)",
                params![dedup, expires, now.0, body],
            )
            .map(|_| ())
            .map_err(db_err)
        })
        .await
    }
}

#[async_trait]
impl RevocationSource for SqliteStore {
    async fn revocations_since(&self, cursor: Option<&Cursor>, now: UnixTime) -> PortResult<RevocationDelta> {
        let after: i64 = match cursor {
            None => 0,
            Some(c) => c.0.parse().map_err(|_| PortError::Corrupt(format!("bad cursor {:?}", c.0)))?,
        };
        let horizon = now.minus(REVOCATION_SLACK).0;
        self.run(move |c| {
            // One read transaction, so the revocations and the disabled clients are one consistent view.
            let tx = c.transaction().map_err(db_err)?;
            let mut added = Vec::new();
            let mut last = after;
            {
                let mut stmt = tx
                    .prepare(
                        "SELECT seq, body FROM revocations WHERE seq > ?1 AND (expires_at IS NULL OR expires_at >= ?2) ORDER BY seq",
                    )
                    .map_err(db_err)?;
                let rows = stmt
                    .query_map(params![after, horizon], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))
                    .map_err(db_err)?;
                for row in rows {
                    let (seq, body) = row.map_err(db_err)?;
                    added.push(from_json(&body, "revocation")?);
                    last = seq;
                }
                // Entries skipped for being expired still move the cursor on.
                let max: Option<i64> = tx.query_row("SELECT MAX(seq) FROM revocations", [], |r| r.get(0)).map_err(db_err)?;
                last = last.max(max.unwrap_or(0));
            }
            let mut disabled = Vec::new();
            {
                let mut stmt = tx.prepare("SELECT id FROM clients WHERE status = 'disabled'").map_err(db_err)?;
                let rows = stmt.query_map([], |r| r.get::<_, String>(0)).map_err(db_err)?;
                for row in rows {
                    let id = row.map_err(db_err)?;
                    disabled.push(ClientId::parse(&id).map_err(|e| PortError::Corrupt(e.to_string()))?);
                }
            }
            tx.commit().map_err(db_err)?;
            Ok(RevocationDelta { added, disabled_clients: disabled, cursor: Cursor(last.to_string()) })
        })
        .await
    }
}
