//! Metrics as CloudWatch embedded metric format (EMF) lines on stdout: Lambda ships stdout to CloudWatch
//! Logs, which turns each such line into metric values — no API call, no agent, no added latency.
//!
//! Namespace from `TESSERA_METRICS_NAMESPACE`; unset, nothing is written (tests, `tessera dev`). Every value
//! has the dimension `Function` (`issuer`, `authorizer`, `rotator`); a value given a `Reason` is also
//! recorded per reason, so the alarm sees the total and an operator sees the breakdown.

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value, json};

/// A metric's unit, as CloudWatch names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    /// A count.
    Count,
    /// Microseconds.
    Microseconds,
}

impl Unit {
    fn as_str(self) -> &'static str {
        match self {
            Self::Count => "Count",
            Self::Microseconds => "Microseconds",
        }
    }
}

/// Where one function's metrics go.
#[derive(Clone, Debug)]
pub struct Metrics {
    namespace: Option<String>,
    function: &'static str,
}

impl Metrics {
    /// No metrics.
    #[must_use]
    pub fn off() -> Self {
        Self { namespace: None, function: "" }
    }

    /// Reads `TESSERA_METRICS_NAMESPACE` through `lookup`; `function` is the `Function` dimension.
    #[must_use]
    pub fn from_lookup(lookup: &dyn Fn(&str) -> Option<String>, function: &'static str) -> Self {
        let namespace = lookup("TESSERA_METRICS_NAMESPACE").map(|n| n.trim().to_owned()).filter(|n| !n.is_empty());
        Self { namespace, function }
    }

    /// The EMF document for `values`, or `None` when metrics are off.
    #[must_use]
    pub fn document(&self, values: &[(&str, f64, Unit)], reason: Option<&str>, now: SystemTime) -> Option<Value> {
        let namespace = self.namespace.as_ref()?;
        let timestamp = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis());
        let mut dimensions = vec![json!(["Function"])];
        if reason.is_some() {
            dimensions.push(json!(["Function", "Reason"]));
        }
        let definitions: Vec<Value> =
            values.iter().map(|(name, _, unit)| json!({"Name": name, "Unit": unit.as_str()})).collect();
        let mut doc = Map::new();
        doc.insert(
            "_aws".into(),
            json!({
                "Timestamp": u64::try_from(timestamp).unwrap_or(u64::MAX),
                "CloudWatchMetrics": [{"Namespace": namespace, "Dimensions": dimensions, "Metrics": definitions}],
            }),
        );
        doc.insert("Function".into(), json!(self.function));
        if let Some(r) = reason {
            doc.insert("Reason".into(), json!(r));
        }
        for (name, value, _) in values {
            doc.insert((*name).to_owned(), json!(value));
        }
        Some(Value::Object(doc))
    }

    /// Writes one EMF line (a no-op when metrics are off).
    pub fn emit(&self, values: &[(&str, f64, Unit)], reason: Option<&str>) {
        if let Some(doc) = self.document(values, reason, SystemTime::now()) {
            // One write per line, so lines never interleave with the log's.
            println!("{doc}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_document_declares_every_value_it_carries() {
        let lookup = |k: &str| (k == "TESSERA_METRICS_NAMESPACE").then(|| "Tessera/prod".to_owned());
        let m = Metrics::from_lookup(&lookup, "authorizer");
        let at = UNIX_EPOCH + std::time::Duration::from_millis(1_700_000_000_123);
        let doc = m
            .document(&[("Denials", 1.0, Unit::Count), ("Latency", 52.0, Unit::Microseconds)], Some("expired"), at)
            .expect("on");
        let cw = &doc["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(doc["_aws"]["Timestamp"], 1_700_000_000_123_u64);
        assert_eq!(cw["Namespace"], "Tessera/prod");
        assert_eq!(cw["Dimensions"], json!([["Function"], ["Function", "Reason"]]));
        assert_eq!(
            cw["Metrics"],
            json!([{"Name": "Denials", "Unit": "Count"}, {"Name": "Latency", "Unit": "Microseconds"}])
        );
        assert_eq!(
            (&doc["Function"], &doc["Reason"], &doc["Denials"]),
            (&json!("authorizer"), &json!("expired"), &json!(1.0))
        );
        let plain = m.document(&[("TokensIssued", 1.0, Unit::Count)], None, at).expect("on");
        assert_eq!(plain["_aws"]["CloudWatchMetrics"][0]["Dimensions"], json!([["Function"]]));
        assert!(plain.get("Reason").is_none());
    }

    #[test]
    fn without_a_namespace_nothing_is_written() {
        let m = Metrics::from_lookup(&|_| None, "issuer");
        assert!(m.document(&[("TokensIssued", 1.0, Unit::Count)], None, SystemTime::now()).is_none());
        assert!(Metrics::off().document(&[], None, SystemTime::now()).is_none());
    }
}
