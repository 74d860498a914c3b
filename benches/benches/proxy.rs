//! Per-request costs of the proxy's own work (DESIGN §7): token lookup in the in-memory view
//! (flat from 10 to 100,000 tokens), building the injected headers (including the credential
//! decryption it implies), and the AES-256-GCM decryption alone. Host matching is in
//! `hostmatch.rs`.

use std::hint::black_box;

use av_proxy::inject;
use av_proxy::services::Services;
use av_proxy::view::{token_hash, FastMap, Holder, Session, Tokens};
use av_store::crypto::MasterKey;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};

fn raw_token(i: usize) -> String {
    format!("av_agt_{:064x}", i * 7919 + 1)
}

fn token_lookup(c: &mut Criterion) {
    let mut group = c.benchmark_group("token_lookup");
    for n in [10usize, 100_000] {
        let tokens = Tokens::default();
        tokens.replace_all((0..n).map(|i| {
            (
                token_hash(&raw_token(i)),
                Session {
                    holder: Holder::Agent("agent".into()),
                    expires_at: None,
                },
            )
        }));
        let probe = raw_token(n / 2);
        group.bench_with_input(BenchmarkId::from_parameter(n), &probe, |b, probe| {
            b.iter(|| tokens.get(&token_hash(black_box(probe))))
        });
    }
    group.finish();
}

fn header_build(c: &mut Criterion) {
    let key = MasterKey::from_bytes([5; 32]);
    let credentials: FastMap<String, _> = [
        ("TOKEN", "sk-live-0123456789abcdef0123456789abcdef"),
        ("USER", "alice"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), key.seal(v.as_bytes()).unwrap()))
    .collect();
    let mut group = c.benchmark_group("header_build");
    for (name, auth) in [
        ("bearer", r#"{"type":"bearer","token":"TOKEN"}"#),
        (
            "basic",
            r#"{"type":"basic","username":"USER","password":"TOKEN"}"#,
        ),
        (
            "custom",
            r#"{"type":"custom","headers":{"X-Key":"k={{ TOKEN }}","X-User":"{{USER}}"}}"#,
        ),
    ] {
        let services =
            Services::parse(&format!(r#"[{{"host":"api.example.com","auth":{auth}}}]"#)).unwrap();
        let auth = services.find("api.example.com").unwrap().clone();
        group.bench_function(name, |b| {
            b.iter(|| inject::build(black_box(&auth), &credentials, &key).unwrap())
        });
    }
    group.finish();
}

fn decrypt(c: &mut Criterion) {
    let key = MasterKey::from_bytes([5; 32]);
    let sealed = key
        .seal(b"sk-live-0123456789abcdef0123456789abcdef")
        .unwrap();
    c.bench_function("decrypt_credential", |b| {
        b.iter(|| {
            key.open_string(black_box(&sealed.ciphertext), &sealed.nonce)
                .unwrap()
        })
    });
}

criterion_group!(benches, token_lookup, header_build, decrypt);
criterion_main!(benches);
