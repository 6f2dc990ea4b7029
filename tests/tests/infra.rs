//! `infra/template.yaml` against the code: every AWS call the adapters make has a permission in some role
//! (or is an operator's, made with the operator's own credentials), no role allows what no code calls, and
//! every statement is bounded — no wildcard actions, keys by tag, writes by partition key, objects by prefix.
//! The Lambda test (`lambda_aws.rs`) checks each role against the calls its function really makes.

use std::collections::BTreeSet;

use serde_json::{Value, json};
use tessera_tests::template::{Template, is_dynamodb_write};

const FUNCTIONS: [&str; 3] = ["tessera-issuer", "tessera-authorizer", "tessera-rotator"];

/// Calls only the `tessera` CLI makes, with the operator's credentials; no function role may hold them.
const OPERATOR_ONLY: [(&str, &str); 4] = [
    ("dynamodb:CreateTable", "tests and `tessera` on a fresh account; the stack creates the table"),
    ("dynamodb:Scan", "`tessera clients list`"),
    ("dynamodb:DeleteItem", "`tessera clients delete`"),
    ("dynamodb:UpdateItem", "`tessera clients create|disable|enable|delete` (the set of disabled clients)"),
];

fn pascal(snake: &str) -> String {
    snake
        .split('_')
        .map(|w| {
            let mut c = w.chars();
            c.next().map_or_else(String::new, |f| f.to_uppercase().chain(c).collect())
        })
        .collect()
}

/// The IAM actions the AWS adapters' SDK calls need, read from `shared/aws/src`.
fn adapter_actions() -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (file, service) in [("dynamo.rs", "dynamodb"), ("kms.rs", "kms"), ("s3.rs", "s3")] {
        let path = tessera_tests::root().join("shared/aws/src").join(file);
        let text: String =
            std::fs::read_to_string(&path).expect("adapter source").chars().filter(|c| !c.is_whitespace()).collect();
        for call in text.split(".client.").skip(1) {
            let op: String = call.chars().take_while(|c| c.is_ascii_lowercase() || *c == '_').collect();
            if !call[op.len()..].starts_with("()") {
                continue;
            }
            match (service, op.as_str()) {
                // A transaction is authorized per item, as the single-item action of its kind.
                ("dynamodb", "transact_write_items") => {
                    for (builder, action) in [
                        ("TransactWriteItem::builder().put(", "PutItem"),
                        ("TransactWriteItem::builder().update(", "UpdateItem"),
                        ("TransactWriteItem::builder().delete(", "DeleteItem"),
                        ("TransactWriteItem::builder().condition_check(", "ConditionCheckItem"),
                    ] {
                        if text.contains(builder) {
                            out.insert(format!("dynamodb:{action}"));
                        }
                    }
                }
                // Tags on CreateKey need kms:TagResource as well.
                ("kms", "create_key") => {
                    out.insert("kms:CreateKey".to_owned());
                    out.insert("kms:TagResource".to_owned());
                }
                _ => {
                    out.insert(format!("{service}:{}", pascal(&op)));
                }
            }
        }
    }
    out
}

fn role(t: &Template, binary: &str) -> String {
    let f = t.function_for_binary(binary).unwrap_or_else(|| panic!("no function builds {binary}"));
    t.role_of(&f).unwrap_or_else(|| panic!("{f} must have a role of its own (Role: !GetAtt X.Arn)"))
}

#[test]
fn every_adapter_call_has_a_permission_and_every_permission_a_call() {
    let t = Template::load();
    let code = adapter_actions();
    assert!(code.contains("kms:Sign") && code.contains("dynamodb:Query"), "the source scan found the calls: {code:?}");
    let granted: BTreeSet<String> = FUNCTIONS.iter().flat_map(|b| t.code_actions(&role(&t, b))).collect();
    let operator: BTreeSet<String> = OPERATOR_ONLY.iter().map(|(a, _)| (*a).to_owned()).collect();
    let unaccounted: Vec<_> = code.iter().filter(|a| !granted.contains(*a) && !operator.contains(*a)).collect();
    assert!(
        unaccounted.is_empty(),
        "the AWS adapters call {unaccounted:?}, which no role in infra/template.yaml allows: add the permission to \
         the role of the function that makes the call (or to OPERATOR_ONLY, with the reason, if only the CLI does)"
    );
    let stale: Vec<_> = granted.difference(&code).collect();
    assert!(stale.is_empty(), "roles allow {stale:?}, which no code calls");
    let leaked: Vec<_> = granted.intersection(&operator).collect();
    assert!(leaked.is_empty(), "operator-only actions in a function role: {leaked:?}");
}

#[test]
fn no_statement_uses_a_wildcard_action_or_an_unbounded_resource() {
    let t = Template::load();
    let mut roles = BTreeSet::new();
    for binary in FUNCTIONS {
        let r = role(&t, binary);
        assert!(roles.insert(r.clone()), "{binary} shares its role {r}");
        for s in t.statements(&r) {
            assert!(!s.sid.is_empty(), "{r}: every statement has a Sid");
            for a in &s.actions {
                assert!(!a.contains('*') && !a.contains('?'), "{r}/{}: wildcard action {a}", s.sid);
            }
            if s.resource == json!("*") {
                // Only CreateKey (and the TagResource it implies) has no ARN to name: the request's tags bound it.
                let cond = &s.condition["StringEquals"];
                assert!(
                    s.actions.iter().all(|a| a == "kms:CreateKey" || a == "kms:TagResource")
                        && cond["aws:RequestTag/tessera:managed"] == "true"
                        && cond["aws:RequestTag/tessera:stack"].is_object()
                        && cond["kms:KeyUsage"] == "SIGN_VERIFY",
                    "{r}/{}: Resource \"*\" needs CreateKey's request-tag conditions",
                    s.sid
                );
            }
        }
    }
}

fn sub_text(v: &Value) -> String {
    v["Fn::Sub"].as_str().map_or_else(|| v.to_string(), str::to_owned)
}

#[test]
fn each_resource_is_named_and_bounded() {
    let t = Template::load();
    let table_arn = json!({"Fn::GetAtt": ["Table", "Arn"]});
    for binary in FUNCTIONS {
        let r = role(&t, binary);
        let function = t.function_for_binary(binary).expect("function");
        let log_group = &t.resource(&function)["Properties"]["LoggingConfig"]["LogGroup"]["Ref"];
        for s in t.statements(&r) {
            let services: BTreeSet<&str> = s.actions.iter().filter_map(|a| a.split(':').next()).collect();
            assert_eq!(services.len(), 1, "{r}/{}: one service per statement", s.sid);
            match services.into_iter().next().expect("service") {
                "logs" => {
                    assert_eq!(s.resource["Fn::GetAtt"][0], *log_group, "{r}: logs only to its own log group");
                }
                "dynamodb" => {
                    assert_eq!(s.resource, table_arn, "{r}/{}: the table, and nothing else", s.sid);
                    if s.actions.iter().any(|a| is_dynamodb_write(a)) {
                        let keys = &s.condition["ForAllValues:StringLike"]["dynamodb:LeadingKeys"];
                        assert!(keys.as_array().is_some_and(|k| !k.is_empty()), "{r}/{}: writes by key", s.sid);
                    }
                }
                "kms" => {
                    let res = sub_text(&s.resource);
                    if res.contains(":key/") {
                        let cond = &s.condition["StringEquals"];
                        assert!(
                            cond["aws:ResourceTag/tessera:managed"] == "true"
                                && cond["aws:ResourceTag/tessera:stack"].is_object(),
                            "{r}/{}: keys only by Tessera's tags",
                            s.sid
                        );
                    } else if res.contains(":alias/") {
                        assert!(res.ends_with("alias/tessera-${AWS::StackName}"), "{r}/{}: its own alias", s.sid);
                    } else {
                        assert_eq!(s.resource, json!("*"), "{r}/{}: {res}", s.sid);
                    }
                }
                "s3" => {
                    assert_eq!(s.actions, ["s3:PutObject"], "{r}/{}", s.sid);
                    assert_eq!(sub_text(&s.resource), "${JwksBucket.Arn}/.well-known/*", "{r}/{}", s.sid);
                }
                other => panic!("{r}/{}: unexpected service {other}", s.sid),
            }
        }
    }
}

#[test]
fn the_authorizer_only_reads_and_the_issuer_only_signs() {
    let t = Template::load();
    let authorizer = t.code_actions(&role(&t, "tessera-authorizer"));
    assert!(authorizer.iter().all(|a| a.starts_with("dynamodb:")), "authorizer: DynamoDB only: {authorizer:?}");
    assert!(!authorizer.iter().any(|a| is_dynamodb_write(a)), "authorizer: read-only: {authorizer:?}");
    let issuer = t.code_actions(&role(&t, "tessera-issuer"));
    let kms: Vec<_> = issuer.iter().filter(|a| a.starts_with("kms:")).collect();
    assert_eq!(kms, ["kms:Sign"], "issuer: KMS Sign only");
    assert!(!issuer.iter().any(|a| a.starts_with("s3:")), "issuer: never publishes");
}

#[test]
fn the_template_wires_what_the_issue_asks_for() {
    let t = Template::load();
    for binary in FUNCTIONS {
        let f = &t.resource(&t.function_for_binary(binary).expect("function"))["Properties"];
        assert_eq!((f["Runtime"].as_str(), f["Handler"].as_str()), (Some("provided.al2023"), Some("bootstrap")));
        assert_eq!(t.0["Globals"]["Function"]["Architectures"], json!(["arm64"]));
        assert_eq!(f["Environment"]["Variables"]["TESSERA_BACKEND"], "aws", "{binary}");
    }
    let table = &t.resource("Table")["Properties"];
    assert_eq!(table["BillingMode"], "PAY_PER_REQUEST");
    assert_eq!(table["TimeToLiveSpecification"]["AttributeName"], "expires_at", "the store's TTL attribute");
    assert_eq!(table["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"], true);
    assert_eq!(table["DeletionProtectionEnabled"], json!({"Ref": "TableDeletionProtection"}));
    let bucket = &t.resource("JwksBucket")["Properties"]["PublicAccessBlockConfiguration"];
    for k in ["BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"] {
        assert_eq!(bucket[k], true, "{k}");
    }
    let cache = &t.resource("ExampleRestApi")["Properties"]["Auth"]["Authorizers"]["Tessera"]["Identity"];
    assert_eq!(cache["ReauthorizeEvery"], json!({"Ref": "AuthorizerCacheTtl"}));
    assert_eq!(t.0["Parameters"]["AuthorizerCacheTtl"]["Default"], 0, "the default keeps revocation within 1 s");
    for output in ["IssuerUrl", "JwksUrl", "AuthorizerFunctionArn", "TableName"] {
        assert!(t.0["Outputs"][output].is_object(), "output {output}");
    }
    // The rotator's schedule and the issuer's throttling come from parameters.
    let step = &t.resource("RotatorFunction")["Properties"]["Events"]["Step"];
    assert_eq!(step["Type"], "ScheduleV2");
    assert_eq!(step["Properties"]["ScheduleExpression"], json!({"Ref": "RotationSchedule"}));
    let stage = &t.resource("IssuerStage")["Properties"]["DefaultRouteSettings"];
    assert_eq!(stage["ThrottlingRateLimit"], json!({"Ref": "IssuerRateLimit"}));
}
