//! `infra/template.yaml`, read as CloudFormation reads it: short-form intrinsics (`!Ref`, `!Sub`, …) become
//! their long forms, so tests can inspect roles and functions as JSON.

use std::collections::BTreeSet;
use std::path::PathBuf;

use serde_json::{Map, Value, json};

/// The parsed template.
#[derive(Debug)]
pub struct Template(pub Value);

/// One IAM policy statement of a role.
#[derive(Clone, Debug)]
pub struct Statement {
    /// Its `Sid`.
    pub sid: String,
    /// Its actions.
    pub actions: Vec<String>,
    /// Its `Resource` (one value or a list, intrinsics in long form).
    pub resource: Value,
    /// Its `Condition`, or null.
    pub condition: Value,
}

/// The template file.
#[must_use]
pub fn path() -> PathBuf {
    crate::root().join("infra").join("template.yaml")
}

fn convert(v: serde_yaml::Value) -> Value {
    use serde_yaml::Value as Y;
    match v {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(b),
        Y::Number(n) => serde_json::to_value(n).unwrap_or(Value::Null),
        Y::String(s) => Value::String(s),
        Y::Sequence(items) => Value::Array(items.into_iter().map(convert).collect()),
        Y::Mapping(m) => Value::Object(
            m.into_iter()
                .map(|(k, v)| (k.as_str().map_or_else(|| format!("{k:?}"), str::to_owned), convert(v)))
                .collect::<Map<_, _>>(),
        ),
        Y::Tagged(t) => {
            let name = t.tag.to_string();
            let name = name.trim_start_matches('!');
            let inner = convert(t.value);
            match name {
                "Ref" | "Condition" => json!({ name: inner }),
                // `!GetAtt A.B` is `Fn::GetAtt: [A, B]`.
                "GetAtt" => match inner {
                    Value::String(s) => {
                        let (a, b) = s.split_once('.').unwrap_or((&s, ""));
                        json!({"Fn::GetAtt": [a, b]})
                    }
                    other => json!({"Fn::GetAtt": other}),
                },
                other => json!({ format!("Fn::{other}"): inner }),
            }
        }
    }
}

impl Template {
    /// Reads and parses `infra/template.yaml`.
    #[must_use]
    pub fn load() -> Self {
        let text = std::fs::read_to_string(path()).expect("infra/template.yaml");
        let yaml: serde_yaml::Value = serde_yaml::from_str(&text).expect("the template is YAML");
        Self(convert(yaml))
    }

    /// A resource by logical id.
    #[must_use]
    pub fn resource(&self, id: &str) -> &Value {
        &self.0["Resources"][id]
    }

    /// Logical ids of the resources of one type.
    #[must_use]
    pub fn resources_of(&self, kind: &str) -> Vec<String> {
        self.0["Resources"]
            .as_object()
            .map(|m| m.iter().filter(|(_, r)| r["Type"] == kind).map(|(k, _)| k.clone()).collect())
            .unwrap_or_default()
    }

    /// The function whose build produces `binary` (`Metadata.BuildProperties.Binary`).
    #[must_use]
    pub fn function_for_binary(&self, binary: &str) -> Option<String> {
        self.resources_of("AWS::Serverless::Function")
            .into_iter()
            .find(|f| self.resource(f)["Metadata"]["BuildProperties"]["Binary"] == binary)
    }

    /// The logical id of a function's role (`Role: !GetAtt X.Arn`).
    #[must_use]
    pub fn role_of(&self, function: &str) -> Option<String> {
        self.resource(function)["Properties"]["Role"]["Fn::GetAtt"][0].as_str().map(str::to_owned)
    }

    /// Every statement of every inline policy of a role.
    #[must_use]
    pub fn statements(&self, role: &str) -> Vec<Statement> {
        let mut out = Vec::new();
        for policy in self.resource(role)["Properties"]["Policies"].as_array().into_iter().flatten() {
            for s in policy["PolicyDocument"]["Statement"].as_array().into_iter().flatten() {
                let actions = match &s["Action"] {
                    Value::String(a) => vec![a.clone()],
                    Value::Array(a) => a.iter().filter_map(|x| x.as_str().map(str::to_owned)).collect(),
                    _ => Vec::new(),
                };
                out.push(Statement {
                    sid: s["Sid"].as_str().unwrap_or_default().to_owned(),
                    actions,
                    resource: s["Resource"].clone(),
                    condition: s["Condition"].clone(),
                });
            }
        }
        out
    }

    /// The `dynamodb:LeadingKeys` patterns that bound a role's DynamoDB writes (empty: writes unbounded).
    #[must_use]
    pub fn leading_keys(&self, role: &str) -> Vec<String> {
        self.statements(role)
            .iter()
            .filter(|s| s.actions.iter().any(|a| is_dynamodb_write(a)))
            .flat_map(|s| {
                s.condition["ForAllValues:StringLike"]["dynamodb:LeadingKeys"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|p| p.as_str().map(str::to_owned))
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// A role's actions outside its `Logs` statement (that one is for the Lambda runtime, not the code).
    #[must_use]
    pub fn code_actions(&self, role: &str) -> BTreeSet<String> {
        self.statements(role).into_iter().filter(|s| s.sid != "Logs").flat_map(|s| s.actions).collect()
    }
}

/// Whether an action changes DynamoDB items.
#[must_use]
pub fn is_dynamodb_write(action: &str) -> bool {
    matches!(action, "dynamodb:PutItem" | "dynamodb:UpdateItem" | "dynamodb:DeleteItem" | "dynamodb:BatchWriteItem")
}
