//! The Lambda runtime emulator (`cargo lambda watch`, from PyPI `cargo-lambda`), started on loopback with
//! its own target dir, for tests that invoke the functions as Lambda would.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::root;

/// A running `cargo lambda watch` (the Lambda runtime emulator) serving the workspace's functions.
#[derive(Debug)]
pub struct Watch {
    child: Child,
    /// Its loopback port.
    pub port: u16,
    /// Where its output (and the functions') goes.
    pub log: PathBuf,
}

impl Drop for Watch {
    fn drop(&mut self) {
        // The emulator runs the functions as its children: end the whole process group.
        // killpg, not the kill(1) command: procps's kill reads "-TERM -N" so that it signals every process.
        if let Ok(pid) = i32::try_from(self.child.id()) {
            let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGTERM);
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn cargo_lambda() -> String {
    std::env::var("CARGO_LAMBDA").unwrap_or_else(|_| "cargo-lambda".to_owned())
}

/// Starts the emulator with `env` for every function; returns once it listens.
#[must_use]
pub fn start_watch(dir: &Path, env: &[(&str, String)]) -> Watch {
    use std::os::unix::process::CommandExt as _;
    let env_file = dir.join("functions.env");
    let text: String = env.iter().map(|(k, v)| format!("{k}=\"{v}\"\n")).collect();
    std::fs::write(&env_file, text).expect("env file");
    let port = tessera_testkit::moto::free_port();
    let log = dir.join("watch.log");
    let out = std::fs::File::create(&log).expect("log");
    let child = Command::new(cargo_lambda())
        .args(["lambda", "watch", "-A", "127.0.0.1", "-P", &port.to_string(), "--features", "aws", "--ignore-changes"])
        .arg("--env-file")
        .arg(&env_file)
        .current_dir(root())
        // Its own target dir: `cargo test` holds the workspace's while tests run.
        .env("CARGO_TARGET_DIR", root().join("target").join("lambda-watch"))
        .stdout(Stdio::from(out.try_clone().expect("log")))
        .stderr(Stdio::from(out))
        .process_group(0)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start cargo-lambda ({e}): scripts/test installs it into .venv"));
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(start.elapsed() < Duration::from_secs(60), "cargo lambda watch did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    Watch { child, port, log }
}

impl Watch {
    /// Invokes a function; the first invocation compiles it, so the timeout is generous.
    pub async fn invoke(&self, function: &str, event: &Value) -> (u16, Value) {
        let url = format!("http://127.0.0.1:{}/2015-03-31/functions/{function}/invocations", self.port);
        let client = reqwest::Client::builder().no_proxy().timeout(Duration::from_secs(900)).build().expect("client");
        let r = client
            .post(url)
            .json(event)
            .send()
            .await
            .unwrap_or_else(|e| panic!("invoke {function}: {e}\n{}", self.logs()));
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// The last lines of its output.
    #[must_use]
    pub fn logs(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        text.lines().rev().take(40).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n")
    }
}

/// An event fixture of the authorizer's tests (`functions/authorizer/tests/fixtures`).
#[must_use]
pub fn fixture(name: &str) -> Value {
    let path = root().join("functions/authorizer/tests/fixtures").join(name);
    serde_json::from_str(&std::fs::read_to_string(path).expect("fixture")).expect("json")
}
