//! End-to-end load on loopback: `tessera dev` (the release build) under a bounded closed-loop load of
//! concurrent clients, for token issuance (with and without token reuse) and for `/api/*` calls through the
//! authorizer. Prints throughput and latency percentiles; stops by itself.
//!
//! Needs `cargo build --release -p tessera` first (`scripts/test` does it). `TESSERA_LOAD_SECONDS` (default
//! 5) per scenario, `TESSERA_LOAD_CONCURRENCY` (default 8). Run: `cargo bench -p tessera-benches --bench load`.

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tessera_benches::target_dir;

struct Server {
    child: Child,
    base: String,
    id: String,
    secret: String,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(extra: &[&str]) -> Server {
    let binary = target_dir().join("release").join("tessera");
    if !binary.exists() {
        eprintln!("{} is missing: run `cargo build --release -p tessera` first", binary.display());
        std::process::exit(1);
    }
    let dir = tempfile::tempdir().expect("tmp");
    let mut child = Command::new(&binary)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .args(["dev", "--listen", "127.0.0.1:0"])
        .args(extra)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("tessera dev");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines().map_while(Result::ok);
    let (mut base, mut id, mut secret) = (None, None, None);
    for line in lines.by_ref() {
        if let Some(b) = line.split("listening on ").nth(1) {
            base = Some(b.trim().to_owned());
        }
        if let Some(v) = line.trim().strip_prefix("client_id:") {
            id = Some(v.trim().to_owned());
        }
        if let Some(v) = line.trim().strip_prefix("client_secret:") {
            secret = Some(v.trim().to_owned());
            break;
        }
    }
    std::thread::spawn(move || lines.for_each(drop));
    Server {
        child,
        base: base.expect("listening"),
        id: id.expect("demo client"),
        secret: secret.expect("demo secret"),
        _dir: dir,
    }
}

/// Runs `concurrency` closed-loop workers for `seconds`; returns every request's latency and the errors.
async fn drive<F, Fut>(concurrency: usize, seconds: u64, make: F) -> (Vec<Duration>, usize, Duration)
where
    F: Fn(reqwest::Client) -> Fut + Send + Sync + Clone + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let until = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let make = make.clone();
        tasks.push(tokio::spawn(async move {
            let http = reqwest::Client::builder().no_proxy().build().expect("client");
            let (mut lat, mut errors) = (Vec::new(), 0usize);
            while Instant::now() < until {
                let t = Instant::now();
                if !make(http.clone()).await {
                    errors += 1;
                }
                lat.push(t.elapsed());
            }
            (lat, errors)
        }));
    }
    let (mut all, mut errors) = (Vec::new(), 0);
    for t in tasks {
        let (l, e) = t.await.expect("worker");
        all.extend(l);
        errors += e;
    }
    (all, errors, started.elapsed())
}

fn report(name: &str, (mut lat, errors, took): (Vec<Duration>, usize, Duration), concurrency: usize) {
    lat.sort();
    let p = |q: f64| {
        #[allow(
            clippy::cast_precision_loss,
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "an index"
        )]
        let i = ((lat.len() as f64 - 1.0) * q).round() as usize;
        lat[i].as_secs_f64() * 1e3
    };
    #[allow(clippy::cast_precision_loss, reason = "a rate")]
    let rate = lat.len() as f64 / took.as_secs_f64();
    println!(
        "load {name}: {rate:.0} req/s with {concurrency} clients; latency p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms; {} requests, {errors} errors",
        p(0.5),
        p(0.9),
        p(0.99),
        p(1.0),
        lat.len()
    );
}

fn main() {
    let seconds: u64 = std::env::var("TESSERA_LOAD_SECONDS").ok().and_then(|v| v.parse().ok()).unwrap_or(5);
    let concurrency: usize = std::env::var("TESSERA_LOAD_CONCURRENCY").ok().and_then(|v| v.parse().ok()).unwrap_or(8);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    for (label, extra) in [("issue (token reuse on)", &[][..]), ("issue (token reuse off)", &["--no-token-reuse"][..])]
    {
        let s = start(extra);
        let (url, id, secret) = (format!("{}/oauth2/token", s.base), s.id.clone(), s.secret.clone());
        let result = rt.block_on(drive(concurrency, seconds, move |http: reqwest::Client| {
            let (url, id, secret) = (url.clone(), id.clone(), secret.clone());
            async move {
                http.post(&url)
                    .basic_auth(&id, Some(&secret))
                    .form(&[("grant_type", "client_credentials"), ("scope", "orders:read")])
                    .send()
                    .await
                    .is_ok_and(|r| r.status() == 200)
            }
        }));
        report(&format!("POST /oauth2/token, {label}"), result, concurrency);
    }
    let s = start(&[]);
    let token = rt.block_on(async {
        let r = reqwest::Client::builder()
            .no_proxy()
            .build()
            .expect("client")
            .post(format!("{}/oauth2/token", s.base))
            .basic_auth(&s.id, Some(&s.secret))
            .form(&[("grant_type", "client_credentials"), ("scope", "orders:read")])
            .send()
            .await
            .expect("token");
        let v: serde_json::Value = r.json().await.expect("json");
        v["access_token"].as_str().expect("access_token").to_owned()
    });
    let url = format!("{}/api/orders/42", s.base);
    let result = rt.block_on(drive(concurrency, seconds, move |http: reqwest::Client| {
        let (url, token) = (url.clone(), token.clone());
        async move { http.get(&url).bearer_auth(&token).send().await.is_ok_and(|r| r.status() == 200) }
    }));
    report("GET /api/orders/42 (authorizer + demo API)", result, concurrency);
}
