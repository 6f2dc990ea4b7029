//! Black-box test support: start the built `tessera` binary, drive it over HTTP and through its CLI.
#![allow(clippy::unwrap_used, reason = "test support: a failed unwrap is a failed test")]

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

pub mod aws_calls;
pub mod lambda;
pub mod template;

/// The workspace root.
#[must_use]
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// The `tessera` binary under test: `$TESSERA_BIN`, or the workspace's debug build.
#[must_use]
pub fn bin() -> PathBuf {
    if let Some(p) = std::env::var_os("TESSERA_BIN") {
        return PathBuf::from(p);
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf();
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
    let p = target.join("debug").join("tessera");
    assert!(p.exists(), "{} not built: run `cargo build -p tessera` first (scripts/test does)", p.display());
    p
}

/// Runs the CLI on a data dir.
pub fn cli(dir: &Path, args: &[&str]) -> Output {
    Command::new(bin()).arg("--data-dir").arg(dir).args(args).output().unwrap()
}

/// Runs the CLI, asserts success, returns stdout.
pub fn cli_ok(dir: &Path, args: &[&str]) -> String {
    let out = cli(dir, args);
    assert!(out.status.success(), "tessera {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// Runs the CLI with `--json`, parses the output.
pub fn cli_json(dir: &Path, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.push("--json");
    serde_json::from_str(&cli_ok(dir, &all)).unwrap()
}

/// A running `tessera dev`.
pub struct DevServer {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// Its data dir.
    pub dir: PathBuf,
    _tmp: Option<tempfile::TempDir>,
    /// The demo client's id and secret, when this start created it.
    pub demo: Option<(String, String)>,
    log: PathBuf,
    /// Everything it printed on stdout.
    pub stdout: Vec<String>,
}

impl DevServer {
    /// Starts on a fresh data dir and a free port.
    pub fn start(extra: &[&str]) -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("data");
        let mut s = Self::start_in(&dir, extra);
        s._tmp = Some(tmp);
        s
    }

    /// Starts on a given data dir.
    pub fn start_in(dir: &Path, extra: &[&str]) -> Self {
        std::fs::create_dir_all(dir).unwrap();
        let log = dir.with_extension(format!("log.{}", std::process::id()));
        let log_file = std::fs::OpenOptions::new().create(true).append(true).open(&log).unwrap();
        let mut child = Command::new(bin())
            .arg("--data-dir")
            .arg(dir)
            .arg("dev")
            .args(if extra.contains(&"--listen") { &[][..] } else { &["--listen", "127.0.0.1:0"][..] })
            .args(extra)
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log_file))
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut lines = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        let base = loop {
            let line = rx.recv_timeout(deadline.saturating_duration_since(Instant::now())).unwrap_or_else(|_| {
                panic!("dev server did not start; log:\n{}", std::fs::read_to_string(&log).unwrap_or_default())
            });
            lines.push(line.clone());
            if let Some(rest) = line.split("listening on ").nth(1) {
                break rest.trim().to_owned();
            }
        };
        // The demo client, if any, is printed right after the banner.
        while let Ok(line) = rx.recv_timeout(Duration::from_millis(400)) {
            let done = line.contains("/oauth2/token");
            lines.push(line);
            if done {
                break;
            }
        }
        let field = |name: &str| lines.iter().find_map(|l| l.trim().strip_prefix(name).map(|v| v.trim().to_owned()));
        let demo = field("client_id:").zip(field("client_secret:"));
        Self { child, base, dir: dir.to_path_buf(), _tmp: None, demo, log, stdout: lines }
    }

    /// A URL on the server.
    #[must_use]
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// What the server logged (stderr).
    #[must_use]
    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// CLI on this server's data dir.
    pub fn cli(&self, args: &[&str]) -> Output {
        cli(&self.dir, args)
    }

    /// Kills the process with SIGKILL (crash, not shutdown).
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Whether the process is still running.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl std::fmt::Debug for DevServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DevServer").field("base", &self.base).field("dir", &self.dir).finish_non_exhaustive()
    }
}

impl Drop for DevServer {
    fn drop(&mut self) {
        self.kill9();
        let _ = std::fs::remove_file(&self.log);
    }
}

/// An HTTP client that never goes through a proxy.
#[must_use]
pub fn http() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().timeout(Duration::from_secs(20)).build().unwrap()
}

/// POSTs a token request with Basic authentication; returns status and JSON body.
pub async fn token(server: &DevServer, id: &str, secret: &str, form: &[(&str, &str)]) -> (u16, Value) {
    let mut all = vec![("grant_type", "client_credentials")];
    all.extend_from_slice(form);
    let r = http().post(server.url("/oauth2/token")).basic_auth(id, Some(secret)).form(&all).send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// An access token, asserting success.
pub async fn access_token(server: &DevServer, id: &str, secret: &str, form: &[(&str, &str)]) -> String {
    let (status, body) = token(server, id, secret, form).await;
    assert_eq!(status, 200, "token request failed: {body}");
    body["access_token"].as_str().unwrap().to_owned()
}

/// Calls the demo API; returns the status.
pub async fn call(server: &DevServer, method: &str, path: &str, token: &str) -> u16 {
    let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    http().request(m, server.url(path)).bearer_auth(token).send().await.unwrap().status().as_u16()
}

/// Polls until `call` returns `want`, up to `limit`; returns how long it took.
pub async fn until_status(server: &DevServer, path: &str, token: &str, want: u16, limit: Duration) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if call(server, "GET", path, token).await == want {
            return Some(start.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    None
}

/// The claims of a token, without verification (tests only).
#[must_use]
pub fn claims(token: &str) -> Value {
    use base64::Engine as _;
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

/// The header of a token.
#[must_use]
pub fn header(token: &str) -> Value {
    use base64::Engine as _;
    let h = token.split('.').next().unwrap();
    serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(h).unwrap()).unwrap()
}
