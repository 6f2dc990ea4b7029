//! A moto server (the AWS API emulator) on loopback for this test binary, and SDK clients pointed at it.
#![allow(dead_code, clippy::unwrap_used, reason = "test support")]

use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use tessera_aws::AwsConfig;

struct Moto {
    endpoint: String,
    _child: ChildGuard,
}

struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
    }
}

static MOTO: OnceLock<Moto> = OnceLock::new();

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The moto endpoint: `$TESSERA_TEST_AWS_ENDPOINT` if the test command started one, else a server this
/// process starts from `$MOTO_SERVER` (or `moto_server` on PATH).
pub fn endpoint() -> String {
    if let Ok(e) = std::env::var("TESSERA_TEST_AWS_ENDPOINT") {
        return e;
    }
    MOTO.get_or_init(|| {
        let bin = std::env::var("MOTO_SERVER").unwrap_or_else(|_| "moto_server".to_owned());
        let port = free_port();
        let child = Command::new(&bin)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {bin} ({e}): scripts/test installs moto[server] into .venv"));
        let endpoint = format!("http://127.0.0.1:{port}");
        let start = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(start.elapsed() < Duration::from_secs(30), "moto did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Moto { endpoint, _child: ChildGuard(child) }
    })
    .endpoint
    .clone()
}

/// SDK configuration for the emulator: fixed region, dummy credentials.
pub async fn config() -> AwsConfig {
    let creds = aws_sdk_dynamodb::config::Credentials::new("testing", "testing", None, None, "tests");
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint())
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(creds)
        .load()
        .await;
    AwsConfig::from_sdk(sdk)
}

/// A name no other test uses.
pub fn unique(prefix: &str) -> String {
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    format!("{prefix}-{}-{}", std::process::id(), N.fetch_add(1, std::sync::atomic::Ordering::SeqCst))
}
