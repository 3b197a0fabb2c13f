//! Readiness evaluation (`readiness::evaluate`) at 10, 1,000 and 10,000 collections, with no
//! required collection and with 10 of them (each looked up among all collections).

mod support;

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use milvus_exporter::cache::View;
use milvus_exporter::readiness::{evaluate, Scope};

fn bench(c: &mut Criterion) {
    let mut views: HashMap<usize, Arc<View>> = HashMap::new();
    let mut view = |n: usize| Arc::clone(views.entry(n).or_insert_with(|| support::view(n).0));
    let mut g = c.benchmark_group("readiness");
    g.sample_size(30)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    for n in [10usize, 1_000, 10_000] {
        for required in [0usize, 10] {
            g.bench_function(BenchmarkId::new(format!("required_{required}"), n), |b| {
                let v = view(n);
                let config = support::config("http://127.0.0.1:1", &support::required(n, required));
                b.iter(|| {
                    let verdict = evaluate(
                        black_box(&v.snapshot),
                        black_box(&config.readiness),
                        Scope::Main,
                    );
                    assert!(verdict.ready);
                    verdict
                })
            });
        }
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
