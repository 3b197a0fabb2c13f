//! Snapshot → exposition at 10, 1,000 and 10,000 collections: rendering a view's families in
//! OpenMetrics and in text 0.0.4 (what the first scrape of each snapshot pays), the answer
//! every later scrape of that snapshot gets (memo plus its age), and the 0.0.4 rewrite alone. Each size's view is made
//! (by a refresh of the fake Milvus) only when a benchmark of that size is selected, so
//! `cargo bench --bench exposition -- openmetrics/10000` pays for one setup.

mod support;

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use milvus_exporter::cache::View;
use milvus_exporter::render::exposition::{render_families, to_text_004, Exposition, Format};

const SIZES: [usize; 3] = [10, 1_000, 10_000];

const TTL: Duration = Duration::from_secs(10);

fn answer(view: &Arc<View>, format: Format) -> milvus_exporter::render::exposition::Answer {
    Exposition {
        view: Arc::clone(view),
        age_seconds: 1.5,
        ttl: TTL,
        include_host: true,
        fleet: None,
    }
    .render(format)
}

fn bench(c: &mut Criterion) {
    let mut views: HashMap<usize, Arc<View>> = HashMap::new();
    let mut view = |n: usize| Arc::clone(views.entry(n).or_insert_with(|| support::view(n).0));
    let mut g = c.benchmark_group("exposition");
    g.sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    for n in SIZES {
        g.throughput(Throughput::Elements(n as u64));
        g.bench_function(BenchmarkId::new("render_openmetrics", n), |b| {
            let v = view(n);
            b.iter(|| render_families(black_box(&v), TTL, true, Format::OpenMetrics))
        });
        g.bench_function(BenchmarkId::new("render_text004", n), |b| {
            let v = view(n);
            b.iter(|| render_families(black_box(&v), TTL, true, Format::Text004))
        });
        g.bench_function(BenchmarkId::new("answer_memoised_text004", n), |b| {
            let v = view(n);
            b.iter(|| answer(black_box(&v), Format::Text004))
        });
        g.bench_function(BenchmarkId::new("to_text_004_only", n), |b| {
            let body = render_families(&view(n), TTL, true, Format::OpenMetrics);
            b.iter(|| to_text_004(black_box(&body)))
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
