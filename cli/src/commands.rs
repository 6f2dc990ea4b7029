//! Operator commands over either backend (local data dir or AWS). Each prints text for people or, with `--json`, one JSON
//! document. A secret is printed once, at creation or rotation.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use rand_core::OsRng;
use serde_json::{Value, json};
use tessera_core::client::{Client, ClientStatus};
use tessera_core::lifecycle::KeyRecord;
use tessera_core::secret::ClientSecret;
use tessera_core::service::{NewClient, admin};
use tessera_core::time::{Clock as _, SystemClock};
use tessera_core::{Scope, ScopeSet};

use crate::error::CliError;
use crate::settings::Settings;
use tessera_core::service::Rotator;
use tessera_wiring::{Backend, BackendConfig};

/// How to print.
#[derive(Clone, Copy, Debug)]
pub struct Output {
    /// JSON instead of text.
    pub json: bool,
}

impl Output {
    fn emit(&self, value: &Value, text: impl FnOnce() -> String) {
        if self.json {
            println!("{value}");
        } else {
            println!("{}", text());
        }
    }
}

/// The backend the commands act on, and the rotator `keys rotate` runs.
#[derive(Debug)]
pub struct Context {
    backend: Backend,
    rotator: Result<Rotator, String>,
}

fn secs(d: Duration) -> String {
    humantime::format_duration(d).to_string()
}

fn when(t: tessera_core::UnixTime) -> String {
    let st = std::time::UNIX_EPOCH + Duration::from_secs(u64::try_from(t.0).unwrap_or(0));
    humantime::format_rfc3339_seconds(st).to_string()
}

/// A client as shown: never the secret hashes.
fn client_json(c: &Client) -> Value {
    json!({
        "client_id": c.id.as_str(),
        "name": c.name,
        "status": match c.status { ClientStatus::Active => "active", ClientStatus::Disabled => "disabled" },
        "scopes": c.scopes.iter().map(Scope::as_str).collect::<Vec<_>>(),
        "audiences": c.audiences,
        "cidrs": c.cidrs.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "max_ttl_seconds": c.max_ttl.as_secs(),
        "scope_ttl_seconds": c.scope_ttl_caps.iter().map(|(k, v)| (k.to_string(), v.as_secs())).collect::<BTreeMap<_, _>>(),
        "secrets": c.secrets.iter().map(|s| json!({"created_at": s.created_at.0, "expires_at": s.expires_at.map(|e| e.0)})).collect::<Vec<_>>(),
        "created_at": c.created_at.0,
        "version": c.version,
    })
}

fn client_text(c: &Client) -> String {
    let cidrs = if c.cidrs.is_empty() {
        "(anywhere)".to_owned()
    } else {
        c.cidrs.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
    };
    let caps = c.scope_ttl_caps.iter().map(|(k, v)| format!("{k}={}", secs(*v))).collect::<Vec<_>>().join(", ");
    let secrets = c
        .secrets
        .iter()
        .map(|s| match s.expires_at {
            Some(e) => format!("created {}, expires {}", when(s.created_at), when(e)),
            None => format!("created {}", when(s.created_at)),
        })
        .collect::<Vec<_>>()
        .join("; ");
    format!(
        "client_id:  {}\nname:       {}\nstatus:     {}\nscopes:     {}\naudiences:  {}\ncidrs:      {}\nmax ttl:    {}{}\nsecrets:    {}",
        c.id,
        c.name,
        if c.status == ClientStatus::Active { "active" } else { "disabled" },
        c.scopes,
        c.audiences.join(", "),
        cidrs,
        secs(c.max_ttl),
        if caps.is_empty() { String::new() } else { format!("\nscope ttls: {caps}") },
        secrets,
    )
}

fn key_json(k: &KeyRecord) -> Value {
    json!({
        "kid": k.kid.as_str(),
        "generation": k.generation,
        "alg": k.alg.as_str(),
        "status": k.status.as_str(),
        "created_at": k.created_at.0,
        "published_at": k.published_at.map(|t| t.0),
        "activated_at": k.activated_at.map(|t| t.0),
        "retiring_at": k.retiring_at.map(|t| t.0),
        "retired_at": k.retired_at.map(|t| t.0),
    })
}

fn secret_lines(out: &Output, env: bool, client: &Client, secret: &ClientSecret, what: &str) {
    if env {
        println!("CLIENT_ID={}\nCLIENT_SECRET={}", client.id, secret.expose());
        return;
    }
    let mut v = client_json(client);
    v["client_secret"] = json!(secret.expose());
    out.emit(&v, || {
        format!(
            "{}\n\nclient_secret: {}\n{what}: store it now, it is not shown again.",
            client_text(client),
            secret.expose()
        )
    });
}

/// Parses `a b`, `a,b` into scopes, with a message naming the flag.
fn scopes(s: &str) -> Result<ScopeSet, CliError> {
    ScopeSet::parse(s).map_err(|e| CliError::Config(format!("--scopes: {e}")))
}

fn list(s: &str) -> Vec<String> {
    s.split(',').map(str::trim).filter(|x| !x.is_empty()).map(str::to_owned).collect()
}

impl Context {
    /// Opens the local data dir (its saved settings give the rotation policy), or the AWS backend named by
    /// the environment (the rotator's own `TESSERA_*` variables give the policy).
    pub async fn open(kind: crate::BackendKind, dir: &Path) -> Result<Self, CliError> {
        let lookup = |k: &str| std::env::var(k).ok();
        let (config, rotation) = match kind {
            crate::BackendKind::Local => {
                // Validates the data dir with errors that name the problem.
                crate::backend::Backend::open(dir)?;
                let settings = Settings::load(dir)?;
                let rotation = settings.policy().map(|p| (p, settings.metadata())).map_err(|e| e.to_string());
                (BackendConfig::Local { data_dir: dir.to_path_buf() }, rotation)
            }
            crate::BackendKind::Aws => {
                let aws = |k: &str| if k == "TESSERA_BACKEND" { Some("aws".to_owned()) } else { lookup(k) };
                let config = BackendConfig::from_lookup(&aws).map_err(|e| CliError::Config(e.to_string()))?;
                let rotation = tessera_rotator::RotatorConfig::from_lookup(lookup)
                    .map(|c| (c.policy, c.metadata))
                    .map_err(|e| e.to_string());
                (config, rotation)
            }
        };
        let backend = Backend::open(&config, "tessera-cli").await.map_err(|e| CliError::Config(e.to_string()))?;
        let rotator = rotation.and_then(|(policy, metadata)| {
            let publisher =
                backend.publisher.clone().ok_or("configuration TESSERA_JWKS_BUCKET: is required to rotate keys")?;
            Ok(Rotator::new(
                backend.key_registry.clone(),
                backend.key_manager.clone(),
                publisher,
                backend.revocations.clone(),
                policy,
                metadata,
            ))
        });
        Ok(Self { backend, rotator })
    }

    fn now() -> tessera_core::UnixTime {
        SystemClock.now()
    }

    /// `clients create`.
    #[allow(clippy::too_many_arguments, reason = "one argument per flag")]
    pub async fn create_client(
        &self,
        out: &Output,
        name: &str,
        scope_text: &str,
        audiences: &str,
        cidrs: &str,
        max_ttl: Duration,
        scope_ttl: &[String],
        env: bool,
    ) -> Result<(), CliError> {
        let cidrs = list(cidrs)
            .iter()
            .map(|c| c.parse::<ipnet::IpNet>().map_err(|e| CliError::Config(format!("--cidrs: {c:?}: {e}"))))
            .collect::<Result<Vec<_>, _>>()?;
        let mut caps = BTreeMap::new();
        for item in scope_ttl {
            let (s, d) = item
                .split_once('=')
                .ok_or_else(|| CliError::Config(format!("--scope-ttl {item:?}: expected SCOPE=DUR")))?;
            let scope = Scope::parse(s).map_err(|e| CliError::Config(format!("--scope-ttl: {e}")))?;
            let d = humantime::parse_duration(d).map_err(|e| CliError::Config(format!("--scope-ttl {item:?}: {e}")))?;
            caps.insert(scope, d);
        }
        let spec = NewClient {
            name: name.to_owned(),
            scopes: scopes(scope_text)?,
            audiences: list(audiences),
            cidrs,
            max_ttl,
            scope_ttl_caps: caps,
        };
        let (client, secret) =
            admin::create_client(self.backend.clients.as_ref(), spec, Self::now(), &mut OsRng).await?;
        secret_lines(out, env, &client, &secret, "This is the client's secret");
        Ok(())
    }

    /// `clients list`.
    pub async fn list_clients(&self, out: &Output) -> Result<(), CliError> {
        let clients = self.backend.clients.list_clients().await?;
        out.emit(&Value::Array(clients.iter().map(client_json).collect()), || {
            if clients.is_empty() {
                return "no clients".to_owned();
            }
            clients
                .iter()
                .map(|c| {
                    format!(
                        "{}  {:8}  {}  [{}]",
                        c.id,
                        if c.status == ClientStatus::Active { "active" } else { "disabled" },
                        c.name,
                        c.scopes
                    )
                })
                .collect::<Vec<_>>()
                .join("\n")
        });
        Ok(())
    }

    /// `clients show`.
    pub async fn show_client(&self, out: &Output, id: &str) -> Result<(), CliError> {
        let c = admin::get_client(self.backend.clients.as_ref(), id).await?;
        out.emit(&client_json(&c), || client_text(&c));
        Ok(())
    }

    /// `clients enable|disable`.
    pub async fn set_status(&self, out: &Output, id: &str, enable: bool) -> Result<(), CliError> {
        let status = if enable { ClientStatus::Active } else { ClientStatus::Disabled };
        let c = admin::set_status(self.backend.clients.as_ref(), id, status).await?;
        out.emit(&client_json(&c), || {
            format!("{} {}", c.id, if enable { "enabled" } else { "disabled: its tokens are refused from now on" })
        });
        Ok(())
    }

    /// `clients delete`.
    pub async fn delete_client(&self, out: &Output, id: &str) -> Result<(), CliError> {
        admin::delete_client(self.backend.clients.as_ref(), self.backend.revocations.as_ref(), id, Self::now()).await?;
        out.emit(&json!({"deleted": id}), || format!("{id} deleted; its tokens are revoked"));
        Ok(())
    }

    /// `clients rotate-secret`.
    pub async fn rotate_secret(&self, out: &Output, id: &str, grace: Duration, env: bool) -> Result<(), CliError> {
        let (client, secret) =
            admin::rotate_secret(self.backend.clients.as_ref(), id, grace, Self::now(), &mut OsRng).await?;
        secret_lines(
            out,
            env,
            &client,
            &secret,
            &format!("New secret; the previous one works for {} more", secs(grace)),
        );
        Ok(())
    }

    /// `tokens revoke`.
    pub async fn revoke_token(&self, out: &Output, jti: &str) -> Result<(), CliError> {
        let jti =
            admin::revoke_token(self.backend.tokens.as_ref(), self.backend.revocations.as_ref(), jti, Self::now())
                .await?;
        out.emit(&json!({"revoked": jti.as_str()}), || format!("token {jti} revoked"));
        Ok(())
    }

    /// `tokens revoke-client`.
    pub async fn revoke_client(&self, out: &Output, id: &str) -> Result<(), CliError> {
        let now = Self::now();
        let id =
            admin::revoke_client(self.backend.clients.as_ref(), self.backend.revocations.as_ref(), id, now).await?;
        out.emit(&json!({"revoked_client": id.as_str(), "issued_at_or_before": now.0}), || {
            format!("every token of {id} issued at or before {} is revoked", when(now))
        });
        Ok(())
    }

    /// `keys list`.
    pub async fn list_keys(&self, out: &Output) -> Result<(), CliError> {
        let mut keys = self.backend.key_source.list_keys().await?;
        keys.sort_by_key(|k| std::cmp::Reverse(k.generation));
        out.emit(&Value::Array(keys.iter().map(key_json).collect()), || {
            if keys.is_empty() {
                return "no keys yet: `tessera dev` or `tessera keys rotate` creates them".to_owned();
            }
            keys.iter()
                .map(|k| {
                    format!(
                        "{}  gen {:<3} {:<8} {}  created {}",
                        k.kid,
                        k.generation,
                        k.status.as_str(),
                        k.alg,
                        when(k.created_at)
                    )
                })
                .collect::<Vec<_>>()
                .join("\n")
        });
        Ok(())
    }

    /// `keys rotate [--emergency KID]`.
    pub async fn rotate_keys(&self, out: &Output, emergency: Option<&str>) -> Result<(), CliError> {
        let rotator = self.rotator.as_ref().map_err(|e| CliError::Config(e.clone()))?;
        let now = Self::now();
        let report = match emergency {
            Some(kid) => rotator.emergency_retire(kid, now).await?,
            None => rotator.step(now, true).await?,
        };
        let v = tessera_rotator::report_json(&report);
        out.emit(&v, || {
            let mut lines: Vec<String> = report.applied.iter().map(|a| format!("{a:?}")).collect();
            if lines.is_empty() {
                lines.push(format!(
                    "nothing to do yet: the pending key signs once it has been published for {} (JWKS max-age + margin)",
                    secs(rotator.policy().propagation())
                ));
            }
            lines.extend(report.published.iter().map(|(k, s)| format!("published {k} ({})", s.as_str())));
            lines.join("\n")
        });
        Ok(())
    }
}
