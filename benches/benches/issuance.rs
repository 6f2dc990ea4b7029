//! Issuance's own work against the signature it pays for.
//!
//! - `bare_sign`: a P-256 ECDSA signature (DER out, as KMS returns it) over a token's signing input, with the
//!   same crate the software signer uses — the baseline, and what KMS does remotely;
//! - `issue`: what the issuer adds around it — claims with a fresh jti, the signing input, that signature,
//!   DER to JOSE `r||s`, the compact token, the RFC 6749 JSON response — without the store's and KMS's
//!   round trips, which depend on the network, not on Tessera.
//!
//! Goal: `issue` ≤ 1.20 × `bare_sign`. Run: `cargo bench -p tessera-benches --bench issuance`.

use std::time::Duration;

use criterion::Criterion;
use p256::ecdsa::signature::Signer as _;
use tessera_benches::{AUDIENCE, ISSUER, Totals, kid, timed};
use tessera_core::jose::Algorithm;
use tessera_core::token::{self, AccessClaims, Audience};
use tessera_core::{ClientId, Jti, ScopeSet, UnixTime};

fn main() {
    let sk = p256::ecdsa::SigningKey::random(&mut rand_core::OsRng);
    let kid = kid("bench-kid-0123456789abcdefghijklmnopqrstuvwxy");
    let client = ClientId::parse("tsc_benchclient0123456789").expect("id");
    let scopes = ScopeSet::parse("orders:read orders:write").expect("scopes");
    let claims_at = |now: UnixTime, rng: &mut rand_core::OsRng| AccessClaims {
        iss: ISSUER.to_owned(),
        sub: client.clone(),
        aud: Audience::One(AUDIENCE.to_owned()),
        exp: now.plus(Duration::from_secs(900)),
        iat: now,
        nbf: now,
        jti: Jti::generate(rng),
        client_id: client.clone(),
        scope: scopes.clone(),
        cidrs: vec![],
    };
    let sample_input =
        token::signing_input(Algorithm::ES256, &kid, &claims_at(UnixTime(1_900_000_000), &mut rand_core::OsRng));

    let totals = Totals::default();
    let mut c = Criterion::default().configure_from_args();
    c.bench_function("bare_sign", |b| {
        b.iter_custom(|iters| {
            timed(&totals, "bare_sign", iters, || {
                let sig: p256::ecdsa::Signature = sk.sign(std::hint::black_box(sample_input.as_bytes()));
                std::hint::black_box(sig.to_der());
            })
        });
    });
    c.bench_function("issue", |b| {
        b.iter_custom(|iters| {
            let mut rng = rand_core::OsRng;
            timed(&totals, "issue", iters, || {
                let claims = claims_at(UnixTime(1_900_000_000), &mut rng);
                let input = token::signing_input(Algorithm::ES256, &kid, &claims);
                let sig: p256::ecdsa::Signature = sk.sign(input.as_bytes());
                let der = sig.to_der();
                let raw = Algorithm::ES256.jws_signature(der.as_bytes()).expect("DER");
                let access_token = token::compact(&input, &raw);
                let body = serde_json::json!({
                    "access_token": access_token,
                    "token_type": "Bearer",
                    "expires_in": 900,
                    "scope": claims.scope.to_string(),
                })
                .to_string();
                std::hint::black_box(body);
            })
        });
    });
    c.final_summary();
    totals.report("issue", "bare_sign", Some(1.20));
}
