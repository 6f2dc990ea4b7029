//! The authorizer's hot path against the bare signature check it cannot avoid.
//!
//! - `bare_verify`: the P-256 ECDSA verification of the same token with the same crypto crate (p256), the
//!   baseline;
//! - `decision`: a whole REST REQUEST decision as the Lambda handler makes it — typed event, token parse,
//!   kid lookup, verification, claims, revocations, IP, route policy, the IAM policy document, and its JSON
//!   log line — from in-memory state (keys and revocations refreshed in the background; no I/O);
//! - `event_parse` and `response_serialise`: the JSON at either end, which the Lambda runtime does around
//!   the handler, measured apart so one sees where time goes.
//!
//! Goal: `decision` ≤ 1.10 × `bare_verify`. Run: `cargo bench -p tessera-benches --bench authorizer`.

use std::sync::Arc;
use std::time::Duration;

use criterion::Criterion;
use p256::ecdsa::signature::Verifier as _;
use p256::pkcs8::DecodePublicKey as _;
use tessera_authorizer::state::Freshness;
use tessera_authorizer::{Authorizer, AuthorizerConfig, AuthorizerEvent, HttpApiResponse, VerifierState};
use tessera_benches::{AUDIENCE, ISSUER, ROUTES, Totals, World, rest_request_event, split_token, timed};
use tessera_core::policy::RoutePolicy;
use tessera_core::time::{Clock, SystemClock};
use tessera_core::verify::VerifierConfig;

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let world = rt.block_on(World::new(0, 0));
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    // Steady state: the view is fresh for the whole run (the background refresh keeps it so in Lambda).
    let freshness = Freshness {
        max_staleness: Duration::from_secs(3600),
        unknown_kid_reload: Duration::from_secs(1),
        leeway: Duration::from_secs(30),
    };
    let state = rt
        .block_on(VerifierState::load(world.store.clone(), world.store.clone(), Arc::clone(&clock), freshness))
        .expect("state");
    let config = AuthorizerConfig {
        verifier: VerifierConfig::new(ISSUER, vec![AUDIENCE.to_owned()], Duration::from_secs(30)).expect("config"),
        routes: RoutePolicy::parse(&ROUTES.replace(';', "\n")).expect("routes"),
        http_api: HttpApiResponse::Simple,
        refresh_every: Duration::from_millis(250),
        freshness,
    };
    let authorizer = Authorizer::new(&config, state, clock);
    // As in production: one JSON log line per decision (written to a sink here).
    tracing::subscriber::set_global_default(
        tracing_subscriber::fmt().json().with_writer(std::io::sink).with_max_level(tracing::Level::INFO).finish(),
    )
    .expect("subscriber");

    let event = rest_request_event(&world.token);
    let raw_event = serde_json::to_vec(&event).expect("json");
    let (input, signature) = split_token(&world.token);
    let key = p256::ecdsa::VerifyingKey::from_public_key_der(&world.spki).expect("key");
    let response = rt.block_on(authorizer.handle(event.clone())).expect("allowed");
    assert!(response.to_string().contains("Allow"), "the benchmark's token is allowed: {response}");

    let totals = Totals::default();
    let mut c = Criterion::default().configure_from_args();
    c.bench_function("bare_verify", |b| {
        b.iter_custom(|iters| {
            timed(&totals, "bare_verify", iters, || {
                let sig = p256::ecdsa::Signature::from_slice(&signature).expect("signature");
                assert!(key.verify(std::hint::black_box(input.as_bytes()), &sig).is_ok());
            })
        });
    });
    c.bench_function("decision", |b| {
        b.iter_custom(|iters| {
            // The handler takes its event by value: the copies are made before the clock starts.
            let mut events: Vec<_> = (0..iters).map(|_| event.clone()).collect();
            let start = std::time::Instant::now();
            for e in events.drain(..) {
                let r = rt.block_on(authorizer.handle(std::hint::black_box(e)));
                std::hint::black_box(r.is_ok());
            }
            let took = start.elapsed();
            totals.add("decision", took, iters);
            took
        });
    });
    c.bench_function("event_parse", |b| {
        b.iter_custom(|iters| {
            timed(&totals, "event_parse", iters, || {
                let v: serde_json::Value = serde_json::from_slice(std::hint::black_box(&raw_event)).expect("json");
                std::hint::black_box(AuthorizerEvent::parse(v).is_ok());
            })
        });
    });
    c.bench_function("response_serialise", |b| {
        b.iter_custom(|iters| {
            timed(&totals, "response_serialise", iters, || {
                std::hint::black_box(serde_json::to_vec(std::hint::black_box(&response)).expect("json"));
            })
        });
    });
    c.final_summary();
    totals.report("decision", "bare_verify", Some(1.10));
    totals.report("event_parse", "bare_verify", None);
    totals.report("response_serialise", "bare_verify", None);
}
