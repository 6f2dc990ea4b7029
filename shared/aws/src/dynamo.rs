//! Every store port over one DynamoDB table.
//!
//! # Single-table design
//!
//! Keys are `pk` and `sk` (strings); on-demand capacity; no GSI — every read is a key lookup or a query on
//! one partition, so every read that a decision depends on is strongly consistent.
//!
//! | item | `pk` | `sk` | other attributes |
//! |---|---|---|---|
//! | client | `CLIENT#<client_id>` | `CLIENT` | `body` (JSON), `version`, `status` |
//! | disabled clients | `CLIENTS` | `DISABLED` | `ids` (string set), changed in the same transaction as the client |
//! | token metadata | `TOKEN#<jti>` | `TOKEN` | `body`, `expires_at` |
//! | signing key | `KEYS` | `KEY#<kid>` | `body`, `version`, `generation` |
//! | generation claim | `KEYS` | `GEN#<generation, 20 digits>` | `kid`: written with the key, so one generation has one key |
//! | revocation | `REVOCATIONS` | `<unix µs, 16 digits>#<what>` | `body`, `expires_at` (token revocations) |
//! | revocation marker | `REVOKED#<what>` | `REVOKED` | `expires_at`: makes revoking twice a no-op |
//!
//! `expires_at` (epoch seconds) is the table's TTL attribute: token metadata and token revocations leave
//! the table after their token has expired (plus a slack). DynamoDB deletes expired items lazily, so
//! reads also filter on it.
//!
//! Every state change is conditional: on `version` for clients and keys, on absence for new items, in a
//! transaction where two items must change together.

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, Delete, KeySchemaElement, KeyType, Put, ScalarAttributeType,
    TransactWriteItem, Update,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tessera_core::client::{Client as TesseraClient, ClientStatus};
use tessera_core::lifecycle::KeyRecord;
use tessera_core::ports::{
    ClientStore, Cursor, KeyRegistry, KeySource, PortError, PortResult, RevocationDelta, RevocationSource,
    RevocationStore, TokenRecord, TokenStore,
};
use tessera_core::revocation::Revocation;
use tessera_core::{ClientId, Jti, UnixTime};

use crate::errors;

type Item = HashMap<String, AttributeValue>;

/// Revocations and token metadata outlive their token by this much, beyond any verifier's leeway.
const SLACK: Duration = Duration::from_secs(600);
/// A reader re-reads this much of the revocation feed each time, so an entry written with a slightly
/// earlier timestamp than one already read (clock skew between writers, slow writes) is still seen.
const FEED_OVERLAP_US: i64 = 10_000_000;

/// The DynamoDB store.
#[derive(Clone, Debug)]
pub struct DynamoStore {
    client: Client,
    table: String,
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn to_json<T: Serialize>(v: &T) -> PortResult<String> {
    serde_json::to_string(v).map_err(|e| PortError::Corrupt(e.to_string()))
}

fn body<T: DeserializeOwned>(item: &Item, what: &str) -> PortResult<T> {
    let text =
        item.get("body").and_then(|v| v.as_s().ok()).ok_or_else(|| PortError::Corrupt(format!("{what}: no body")))?;
    serde_json::from_str(text).map_err(|e| PortError::Corrupt(format!("{what}: {e}")))
}

fn number(item: &Item, name: &str) -> Option<i64> {
    item.get(name).and_then(|v| v.as_n().ok()).and_then(|v| v.parse().ok())
}

fn build<T, E: std::fmt::Display>(r: Result<T, E>) -> PortResult<T> {
    r.map_err(|e| PortError::Corrupt(format!("request: {e}")))
}

/// A transaction cancelled by a failed condition is a lost race, like a failed conditional write.
fn map_tx(
    op: &'static str,
    e: SdkError<
        aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError,
        aws_sdk_dynamodb::config::http::HttpResponse,
    >,
) -> PortError {
    if let Some(
        aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError::TransactionCanceledException(tc),
    ) = e.as_service_error()
    {
        let reasons: Vec<&str> = tc.cancellation_reasons().iter().filter_map(|r| r.code()).collect();
        if reasons.iter().any(|c| *c == "ConditionalCheckFailed" || *c == "TransactionConflict") {
            return PortError::Conflict(format!("{op}: {}", reasons.join(",")));
        }
    }
    errors::map(op, e)
}

/// Microseconds since the epoch, strictly increasing within this process, so entries one writer makes
/// keep their order in the feed.
fn feed_time_us() -> i64 {
    static LAST: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(0);
    let now =
        SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX));
    let prev = LAST.fetch_max(now, std::sync::atomic::Ordering::SeqCst);
    if now > prev { now } else { LAST.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1 }
}

impl DynamoStore {
    /// The store over `table`.
    #[must_use]
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self { client, table: table.into() }
    }

    /// The table's name.
    #[must_use]
    pub fn table(&self) -> &str {
        &self.table
    }

    /// Opens the connection and checks the table exists: done at cold start, not on the first request.
    pub async fn warm(&self) -> PortResult<()> {
        self.client
            .describe_table()
            .table_name(&self.table)
            .send()
            .await
            .map_err(|e| errors::map("dynamodb:DescribeTable", e))?;
        Ok(())
    }

    /// Creates the table as the infrastructure template does (for tests and first local runs).
    pub async fn create_table(&self) -> PortResult<()> {
        let attr = |name: &str| {
            build(AttributeDefinition::builder().attribute_name(name).attribute_type(ScalarAttributeType::S).build())
        };
        let key = |name: &str, t: KeyType| build(KeySchemaElement::builder().attribute_name(name).key_type(t).build());
        self.client
            .create_table()
            .table_name(&self.table)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(attr("pk")?)
            .attribute_definitions(attr("sk")?)
            .key_schema(key("pk", KeyType::Hash)?)
            .key_schema(key("sk", KeyType::Range)?)
            .send()
            .await
            .map_err(|e| errors::map("dynamodb:CreateTable", e))?;
        Ok(())
    }

    fn put(&self, item: Item, condition: &str, values: Option<Item>) -> PortResult<TransactWriteItem> {
        let put = build(
            Put::builder()
                .table_name(&self.table)
                .set_item(Some(item))
                .condition_expression(condition)
                .set_expression_attribute_values(values)
                .build(),
        )?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    fn disabled_set_change(&self, id: &ClientId, disabled: bool) -> PortResult<TransactWriteItem> {
        let expr = if disabled { "ADD ids :id" } else { "DELETE ids :id" };
        let update = build(
            Update::builder()
                .table_name(&self.table)
                .key("pk", s("CLIENTS"))
                .key("sk", s("DISABLED"))
                .update_expression(expr)
                .expression_attribute_values(":id", AttributeValue::Ss(vec![id.to_string()]))
                .build(),
        )?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    fn client_item(c: &TesseraClient) -> PortResult<Item> {
        Ok(HashMap::from([
            ("pk".to_owned(), s(format!("CLIENT#{}", c.id))),
            ("sk".to_owned(), s("CLIENT")),
            ("version".to_owned(), n(c.version)),
            ("status".to_owned(), s(if c.status == ClientStatus::Active { "active" } else { "disabled" })),
            ("body".to_owned(), s(to_json(c)?)),
        ]))
    }

    /// A strongly consistent read of one item.
    async fn get(&self, pk: String, sk: &str) -> PortResult<Option<Item>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(pk))
            .key("sk", s(sk))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| errors::map("dynamodb:GetItem", e))?;
        Ok(out.item)
    }

    async fn query_all(&self, pk: &str, sk_condition: &str, values: Item) -> PortResult<Vec<Item>> {
        let mut out = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let mut q = self
                .client
                .query()
                .table_name(&self.table)
                .consistent_read(true)
                .key_condition_expression(format!("pk = :pk AND {sk_condition}"))
                .expression_attribute_values(":pk", s(pk))
                .set_exclusive_start_key(start.take());
            for (k, v) in &values {
                q = q.expression_attribute_values(k, v.clone());
            }
            let page = q.send().await.map_err(|e| errors::map("dynamodb:Query", e))?;
            out.extend(page.items.unwrap_or_default());
            match page.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => break,
            }
        }
        Ok(out)
    }
}

#[async_trait]
impl ClientStore for DynamoStore {
    async fn create_client(&self, client: &TesseraClient) -> PortResult<()> {
        let put = self.put(Self::client_item(client)?, "attribute_not_exists(pk)", None)?;
        let set = self.disabled_set_change(&client.id, client.status == ClientStatus::Disabled)?;
        self.client
            .transact_write_items()
            .transact_items(put)
            .transact_items(set)
            .send()
            .await
            .map_err(|e| map_tx("create client", e))?;
        Ok(())
    }

    async fn get_client(&self, id: &ClientId) -> PortResult<Option<TesseraClient>> {
        self.get(format!("CLIENT#{id}"), "CLIENT").await?.map(|i| body(&i, "client")).transpose()
    }

    async fn update_client(&self, client: &TesseraClient) -> PortResult<()> {
        let prev = HashMap::from([(":prev".to_owned(), n(client.version.saturating_sub(1)))]);
        let put = self.put(Self::client_item(client)?, "version = :prev", Some(prev))?;
        let set = self.disabled_set_change(&client.id, client.status == ClientStatus::Disabled)?;
        self.client
            .transact_write_items()
            .transact_items(put)
            .transact_items(set)
            .send()
            .await
            .map_err(|e| map_tx("update client", e))?;
        Ok(())
    }

    async fn delete_client(&self, id: &ClientId, expected_version: u64) -> PortResult<()> {
        let delete = build(
            Delete::builder()
                .table_name(&self.table)
                .key("pk", s(format!("CLIENT#{id}")))
                .key("sk", s("CLIENT"))
                .condition_expression("version = :v")
                .expression_attribute_values(":v", n(expected_version))
                .build(),
        )?;
        let set = self.disabled_set_change(id, false)?;
        self.client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().delete(delete).build())
            .transact_items(set)
            .send()
            .await
            .map_err(|e| map_tx("delete client", e))?;
        Ok(())
    }

    async fn list_clients(&self) -> PortResult<Vec<TesseraClient>> {
        // An operator's command, not a request path: a scan is fine here.
        let mut out = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let page = self
                .client
                .scan()
                .table_name(&self.table)
                .consistent_read(true)
                .filter_expression("begins_with(pk, :p) AND sk = :sk")
                .expression_attribute_values(":p", s("CLIENT#"))
                .expression_attribute_values(":sk", s("CLIENT"))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| errors::map("dynamodb:Scan", e))?;
            for item in page.items.unwrap_or_default() {
                out.push(body::<TesseraClient>(&item, "client")?);
            }
            match page.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => break,
            }
        }
        out.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(out)
    }
}

#[async_trait]
impl TokenStore for DynamoStore {
    async fn record_token(&self, record: &TokenRecord) -> PortResult<()> {
        self.client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(format!("TOKEN#{}", record.jti)))
            .item("sk", s("TOKEN"))
            .item("body", s(to_json(record)?))
            .item("expires_at", n(record.expires_at.plus(SLACK).0))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await
            .map_err(|e| errors::map("dynamodb:PutItem", e))?;
        Ok(())
    }

    async fn get_token(&self, jti: &Jti, now: UnixTime) -> PortResult<Option<TokenRecord>> {
        let Some(item) = self.get(format!("TOKEN#{jti}"), "TOKEN").await? else { return Ok(None) };
        let record: TokenRecord = body(&item, "token")?;
        Ok((record.expires_at > now).then_some(record))
    }
}

#[async_trait]
impl KeySource for DynamoStore {
    async fn list_keys(&self) -> PortResult<Vec<KeyRecord>> {
        let items =
            self.query_all("KEYS", "begins_with(sk, :k)", HashMap::from([(":k".to_owned(), s("KEY#"))])).await?;
        let mut keys = items.iter().map(|i| body::<KeyRecord>(i, "key")).collect::<PortResult<Vec<_>>>()?;
        keys.sort_by_key(|k| k.generation);
        Ok(keys)
    }
}

impl DynamoStore {
    fn key_item(k: &KeyRecord) -> PortResult<Item> {
        Ok(HashMap::from([
            ("pk".to_owned(), s("KEYS")),
            ("sk".to_owned(), s(format!("KEY#{}", k.kid))),
            ("version".to_owned(), n(k.version)),
            ("generation".to_owned(), n(k.generation)),
            ("body".to_owned(), s(to_json(k)?)),
        ]))
    }
}

#[async_trait]
impl KeyRegistry for DynamoStore {
    async fn insert_key(&self, key: &KeyRecord) -> PortResult<()> {
        let record = self.put(Self::key_item(key)?, "attribute_not_exists(pk)", None)?;
        let claim = HashMap::from([
            ("pk".to_owned(), s("KEYS")),
            ("sk".to_owned(), s(format!("GEN#{:020}", key.generation))),
            ("kid".to_owned(), s(key.kid.to_string())),
        ]);
        let claim = self.put(claim, "attribute_not_exists(pk)", None)?;
        self.client
            .transact_write_items()
            .transact_items(record)
            .transact_items(claim)
            .send()
            .await
            .map_err(|e| map_tx("insert key", e))?;
        Ok(())
    }

    async fn update_keys(&self, keys: &[KeyRecord]) -> PortResult<()> {
        if keys.is_empty() {
            return Ok(());
        }
        let mut tx = self.client.transact_write_items();
        for k in keys {
            let prev = HashMap::from([(":prev".to_owned(), n(k.version.saturating_sub(1)))]);
            tx = tx.transact_items(self.put(Self::key_item(k)?, "version = :prev", Some(prev))?);
        }
        tx.send().await.map_err(|e| map_tx("update keys", e))?;
        Ok(())
    }
}

/// Where a reader is in the feed: the newest timestamp read, and the entries inside the overlap window
/// it has already reported.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
struct FeedCursor {
    t: i64,
    seen: Vec<String>,
}

fn what(r: &Revocation) -> String {
    match r {
        Revocation::Token { jti, .. } => format!("token:{jti}"),
        Revocation::ClientBefore { client_id, before } => format!("client:{client_id}:{before}"),
        Revocation::Key { kid } => format!("key:{kid}"),
    }
}

#[async_trait]
impl RevocationStore for DynamoStore {
    async fn revoke(&self, revocation: &Revocation, _now: UnixTime) -> PortResult<()> {
        let what = what(revocation);
        let expires = match revocation {
            Revocation::Token { expires_at, .. } => Some(expires_at.plus(SLACK).0),
            _ => None,
        };
        let mut marker =
            HashMap::from([("pk".to_owned(), s(format!("REVOKED#{what}"))), ("sk".to_owned(), s("REVOKED"))]);
        let mut entry = HashMap::from([
            ("pk".to_owned(), s("REVOCATIONS")),
            ("sk".to_owned(), s(format!("{:016}#{what}", feed_time_us()))),
            ("body".to_owned(), s(to_json(revocation)?)),
        ]);
        if let Some(e) = expires {
            marker.insert("expires_at".to_owned(), n(e));
            entry.insert("expires_at".to_owned(), n(e));
        }
        let result = self
            .client
            .transact_write_items()
            .transact_items(self.put(marker, "attribute_not_exists(pk)", None)?)
            .transact_items(self.put(entry, "attribute_not_exists(pk)", None)?)
            .send()
            .await
            .map_err(|e| map_tx("revoke", e));
        match result {
            // The marker exists: revoked before, nothing to add.
            Ok(_) | Err(PortError::Conflict(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

#[async_trait]
impl RevocationSource for DynamoStore {
    async fn revocations_since(&self, cursor: Option<&Cursor>, now: UnixTime) -> PortResult<RevocationDelta> {
        let mut feed: FeedCursor = match cursor {
            None => FeedCursor::default(),
            Some(c) => serde_json::from_str(&c.0).map_err(|_| PortError::Corrupt(format!("bad cursor {:?}", c.0)))?,
        };
        let from = format!("{:016}", (feed.t - FEED_OVERLAP_US).max(0));
        let items = self.query_all("REVOCATIONS", "sk > :from", HashMap::from([(":from".to_owned(), s(from))])).await?;
        let horizon = now.minus(SLACK).0;
        let mut added = Vec::new();
        let mut seen_now = Vec::new();
        for item in &items {
            let sk = item.get("sk").and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
            let us: i64 = sk.split('#').next().and_then(|t| t.parse().ok()).unwrap_or(0);
            feed.t = feed.t.max(us);
            let new = !feed.seen.contains(&sk);
            seen_now.push((us, sk));
            // Expired items linger until DynamoDB's TTL sweep gets to them.
            if !new || number(item, "expires_at").is_some_and(|e| e < horizon) {
                continue;
            }
            added.push(body::<Revocation>(item, "revocation")?);
        }
        // Remember what the next read's overlap window will return again, so it is reported once.
        feed.seen = seen_now.into_iter().filter(|(us, _)| *us > feed.t - FEED_OVERLAP_US).map(|(_, sk)| sk).collect();
        let cursor = Cursor(serde_json::to_string(&feed).map_err(|e| PortError::Corrupt(e.to_string()))?);
        let disabled = self.get("CLIENTS".to_owned(), "DISABLED").await?;
        let mut disabled_clients = Vec::new();
        if let Some(ids) = disabled.as_ref().and_then(|i| i.get("ids")).and_then(|v| v.as_ss().ok()) {
            for id in ids {
                disabled_clients.push(ClientId::parse(id).map_err(|e| PortError::Corrupt(e.to_string()))?);
            }
        }
        disabled_clients.sort();
        Ok(RevocationDelta { added, disabled_clients, cursor })
    }
}
