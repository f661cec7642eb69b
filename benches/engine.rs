//! Engine benchmarks: lossless parse + render against dotenvy's parse on the same 100,000-entry
//! file, and diff / sync planning at 10k, 100k and 1M keys (linear growth expected).
//!
//! Run: `cargo bench --bench engine`.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use envault::classify::Classifier;
use envault::config::Strategy;
use envault::diff::diff_documents;
use envault::dotenv::Document;
use envault::glob::GlobSet;
use envault::sync::{self, Options};

/// A realistic env file of `n` entries (~75 bytes each, 7.5 MB for 100k): mostly plain values, some quoted,
/// comments and blank lines. `salt` changes every 7th value, so two files differ.
fn env_file(n: usize, salt: &str) -> String {
    let mut s = String::with_capacity(n * 80);
    for i in 0..n {
        let tag = if i % 7 == 0 { salt } else { "base" };
        match i % 10 {
            0 => s.push_str(&format!("# section {i}\n")),
            1 => s.push('\n'),
            _ => {}
        }
        match i % 5 {
            0 => s.push_str(&format!(
                "SERVICE_{i}_DATABASE_HOST=db-{tag}-{i}.eu-west-1.internal.example.com:5432/app\n"
            )),
            1 => s.push_str(&format!(
                "export FEATURE_FLAG_{i}_ENABLED=\"{tag} true with spaces and words {i}\"\n"
            )),
            2 => s.push_str(&format!(
                "SERVICE_{i}_API_TOKEN='tok_{tag}_{i}_abcdefghijklmnopqrstuvwxyz0123456789'\n"
            )),
            3 => s.push_str(&format!(
                "CACHE_{i}_TTL_SECONDS={i}{tag} # seconds before the cache entry expires\n"
            )),
            _ => s.push_str(&format!(
                "LOG_{i}_LEVEL_FOR_COMPONENT=debug_{tag}_abcdefghijklmnopqrstuvwxyz_{i}\n"
            )),
        }
    }
    s
}

fn parse(c: &mut Criterion) {
    let text = env_file(100_000, "a");
    let mut g = c.benchmark_group("parse_100k");
    g.sample_size(20);
    g.throughput(Throughput::Bytes(text.len() as u64));
    g.bench_function("envault_parse_render", |b| {
        b.iter(|| {
            let doc = Document::parse(black_box(&text)).unwrap();
            black_box(doc.render())
        })
    });
    g.bench_function("envault_parse", |b| {
        b.iter(|| black_box(Document::parse(black_box(&text)).unwrap()))
    });
    g.bench_function("dotenvy_parse", |b| {
        b.iter(|| {
            let v: Vec<(String, String)> = dotenvy::from_read_iter(black_box(text.as_bytes()))
                .collect::<Result<_, _>>()
                .unwrap();
            black_box(v)
        })
    });
    g.finish();
}

fn planning(c: &mut Criterion) {
    let classifier = Classifier::default();
    let none = GlobSet::default();
    let opts = Options {
        source_env: "dev",
        target_env: "prod",
        strategy: Strategy::SourceWins,
        allow_delete: true,
        skip: &none,
        env_specific_keys: &none,
        shared_keys: &none,
        include_env_specific: false,
        classifier: &classifier,
    };
    let mut g = c.benchmark_group("planning");
    g.sample_size(20);
    // 1M keys as well: 10k fit in the CPU caches and 100k do not, so 100k vs 1M shows the
    // growth with the caches out of the picture.
    for n in [10_000usize, 100_000, 1_000_000] {
        let a = Document::parse(&env_file(n, "a")).unwrap();
        let b = Document::parse(&env_file(n, "b")).unwrap();
        g.throughput(Throughput::Elements(n as u64));
        g.bench_with_input(BenchmarkId::new("diff", n), &n, |bench, _| {
            bench.iter(|| black_box(diff_documents(&a, &b).changed.len()))
        });
        g.bench_with_input(BenchmarkId::new("sync_plan", n), &n, |bench, _| {
            bench.iter(|| black_box(sync::plan(&a, &b, &opts)))
        });
    }
    g.finish();
}

criterion_group!(benches, parse, planning);
criterion_main!(benches);
