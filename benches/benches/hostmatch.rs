//! Host matching cost per request as a vault grows from 1 to 10,000 services.
//!
//! The proxy uses `HostIndex` (two hash lookups); the linear `match_host` is shown beside it to
//! make the difference visible. DESIGN §7 asks for flat cost from 1 to 10,000 services.

use av_store::hostmatch::{match_host, HostIndex};
use av_store::services::Service;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use std::hint::black_box;

/// `n` services: half exact hosts, half wildcards, the probed ones declared last (worst case
/// for a linear scan).
fn services(n: usize) -> Vec<Service> {
    let mut out: Vec<Service> = (0..n.saturating_sub(2))
        .map(|i| Service {
            host: if i % 2 == 0 {
                format!("api{i}.example.com")
            } else {
                format!("*.svc{i}.example.net")
            },
            ..Service::default()
        })
        .collect();
    out.push(Service {
        host: "api.stripe.com".into(),
        ..Service::default()
    });
    if n > 1 {
        out.push(Service {
            host: "*.github.com".into(),
            ..Service::default()
        });
    }
    out
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("hostmatch");
    for n in [1usize, 100, 10_000] {
        let list = services(n);
        let index = HostIndex::build(&list);
        let probes = [
            "api.stripe.com",
            "API.Stripe.com:443",
            "uploads.github.com",
            "nomatch.example.org",
        ];
        group.bench_with_input(BenchmarkId::new("indexed", n), &n, |b, _| {
            b.iter(|| {
                for p in probes {
                    black_box(index.lookup(black_box(p)));
                }
            })
        });
        group.bench_with_input(BenchmarkId::new("linear", n), &n, |b, _| {
            b.iter(|| {
                for p in probes {
                    black_box(match_host(black_box(p), &list));
                }
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
