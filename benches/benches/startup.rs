//! Cold start and memory of the release authorizer binary, under a minimal Lambda Runtime API on loopback.
//!
//! - cold start: from `spawn` to the first decision's response reaching the Runtime API, against a bare tokio
//!   binary (`bare-start`, the default multi-threaded runtime) that only starts and exits, in the same run.
//!   Goal: ≤ 2×. Also against `bare-start-current-thread`, the runtime flavour the functions use. The local backend (a
//!   SQLite file) stands in for DynamoDB, so the figure is the binary's own start-up; on AWS the SDK's
//!   first round trips (DescribeTable, one Query) come on top and depend on the network.
//! - memory: peak RSS (VmHWM) after the first decision with an empty world, and with 10,000 live
//!   revocations and 100 published keys.
//! - the binary's size.
//!
//! Needs `cargo build --release -p tessera-authorizer` first (`scripts/test` does it). Runs:
//! `TESSERA_BENCH_RUNS` (default 15). Run: `cargo bench -p tessera-benches --bench startup`.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::routing::{get, post};
use tessera_benches::{AUDIENCE, ISSUER, ROUTES, World, rest_request_event, target_dir};

/// What the Runtime API saw: when the response came, and what it said.
#[derive(Default)]
struct Seen {
    event: String,
    served: bool,
    response: Option<(Instant, String)>,
}

type Shared = Arc<Mutex<Seen>>;

async fn next(State(seen): State<Shared>) -> (StatusCode, HeaderMap, String) {
    let event = {
        let mut s = seen.lock().expect("seen");
        if s.served {
            None
        } else {
            s.served = true;
            Some(s.event.clone())
        }
    };
    let Some(event) = event else {
        // One invocation per process: later polls wait until the process is killed.
        tokio::time::sleep(Duration::from_secs(3600)).await;
        return (StatusCode::NO_CONTENT, HeaderMap::new(), String::new());
    };
    let mut h = HeaderMap::new();
    h.insert("lambda-runtime-aws-request-id", HeaderValue::from_static("bench-1"));
    h.insert("lambda-runtime-deadline-ms", HeaderValue::from_static("99999999999999"));
    h.insert(
        "lambda-runtime-invoked-function-arn",
        HeaderValue::from_static("arn:aws:lambda:us-east-1:123456789012:function:tessera-authorizer"),
    );
    h.insert("content-type", HeaderValue::from_static("application/json"));
    (StatusCode::OK, h, event)
}

async fn respond(State(seen): State<Shared>, UrlPath(_id): UrlPath<String>, body: String) -> StatusCode {
    seen.lock().expect("seen").response = Some((Instant::now(), body));
    StatusCode::ACCEPTED
}

async fn init_error(State(seen): State<Shared>, body: String) -> StatusCode {
    seen.lock().expect("seen").response = Some((Instant::now(), format!("init error: {body}")));
    StatusCode::ACCEPTED
}

async fn runtime_api(seen: Shared) -> String {
    let app = axum::Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next))
        .route("/2018-06-01/runtime/invocation/{id}/response", post(respond))
        .route("/2018-06-01/runtime/invocation/{id}/error", post(respond))
        .route("/2018-06-01/runtime/init/error", post(init_error))
        .with_state(seen);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await.expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

fn peak_rss_kib(child: &Child) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{}/status", child.id())).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// One cold start: spawn → first response. Returns the time and the peak RSS (KiB).
async fn cold_start(binary: &Path, world: &World) -> (Duration, u64) {
    let seen: Shared =
        Arc::new(Mutex::new(Seen { event: rest_request_event(&world.token).to_string(), ..Seen::default() }));
    let api = runtime_api(Arc::clone(&seen)).await;
    let started = Instant::now();
    let mut child = Command::new(binary)
        .env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", &api)
        .env("AWS_LAMBDA_FUNCTION_NAME", "tessera-authorizer")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "bench")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", "bench")
        .env("TESSERA_BACKEND", "local")
        .env("TESSERA_DATA_DIR", &world.dir)
        .env("TESSERA_ISSUER", ISSUER)
        .env("TESSERA_AUDIENCES", AUDIENCE)
        .env("TESSERA_ROUTES", ROUTES)
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the authorizer");
    let deadline = Instant::now() + Duration::from_secs(30);
    let (at, body) = loop {
        if let Some(r) = seen.lock().expect("seen").response.clone() {
            break r;
        }
        assert!(Instant::now() < deadline, "the authorizer answered nothing within 30 s");
        tokio::time::sleep(Duration::from_micros(200)).await;
    };
    let rss = peak_rss_kib(&child).unwrap_or(0);
    let _ = child.kill();
    let _ = child.wait();
    assert!(body.contains("Allow"), "the first decision allows the world's token: {body}");
    (at - started, rss)
}

fn bare_start(binary: &Path) -> Duration {
    let started = Instant::now();
    let status = Command::new(binary).stdout(Stdio::null()).status().expect("bare-start");
    assert!(status.success());
    started.elapsed()
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    // `cargo bench` passes criterion-style flags; this harness has none.
    let binary = target_dir().join("release").join("tessera-authorizer");
    if !binary.exists() {
        eprintln!("{} is missing: run `cargo build --release -p tessera-authorizer` first", binary.display());
        std::process::exit(1);
    }
    let bare = Path::new(env!("CARGO_BIN_EXE_bare-start"));
    let bare_single = Path::new(env!("CARGO_BIN_EXE_bare-start-current-thread"));
    let runs: usize = std::env::var("TESSERA_BENCH_RUNS").ok().and_then(|v| v.parse().ok()).unwrap_or(15);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    rt.block_on(async {
        let small = World::new(0, 0).await;
        let (mut starts, mut bares, mut singles, mut rss_small) = (Vec::new(), Vec::new(), Vec::new(), 0);
        for _ in 0..runs {
            bares.push(bare_start(bare));
            singles.push(bare_start(bare_single));
            let (t, rss) = cold_start(&binary, &small).await;
            starts.push(t);
            rss_small = rss_small.max(rss);
        }
        let (a, b, c) = (median(starts), median(bares), median(singles));
        let ratio = a.as_secs_f64() / b.as_secs_f64();
        println!(
            "ratio cold start to first decision / bare tokio start = {ratio:.2}× ({:.1} ms / {:.1} ms, medians of {runs})  goal ≤ 2.00×: {}",
            a.as_secs_f64() * 1e3,
            b.as_secs_f64() * 1e3,
            if ratio <= 2.0 { "met" } else { "NOT met" }
        );
        println!(
            "ratio cold start to first decision / bare tokio current-thread start = {:.2}× ({:.1} ms / {:.1} ms; the runtime the functions use)",
            a.as_secs_f64() / c.as_secs_f64(),
            a.as_secs_f64() * 1e3,
            c.as_secs_f64() * 1e3
        );
        let big = World::new(10_000, 100).await;
        let (_, rss_big) = cold_start(&binary, &big).await;
        println!("peak RSS after the first decision: {rss_small} KiB (1 key, no revocations); {rss_big} KiB (101 keys, 10,000 revocations)");
        let size = std::fs::metadata(&binary).map(|m| m.len()).unwrap_or(0);
        #[allow(clippy::cast_precision_loss, reason = "a size in MB")]
        let mb = size as f64 / 1e6;
        println!("binary size: {mb:.1} MB ({}, release profile: thin LTO, 1 codegen unit, stripped)", binary.display());
    });
}
