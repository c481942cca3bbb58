//! Per-stage benchmarks over generated trees at 1x and 10x (throughput in input bytes):
//! the YAML event tokenizer alone (the baseline the targets are stated against), load and
//! model, pod classes and selectors, the whole `check`, and fix computation.
//!
//! Trees come from the `gen` example (same code, included below) and are cached under
//! `target/bench-trees/scale-N`. Run with `cargo bench --bench pipeline`.

use std::fs;
use std::path::{Path, PathBuf};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};

use netpol_fix::analysis::analyze;
use netpol_fix::check::{CheckOptions, check};
use netpol_fix::connectivity::Engine;
use netpol_fix::fix::fixes;
use netpol_fix::load::{Input, LoadOptions};

#[allow(dead_code)]
#[path = "../examples/gen.rs"]
mod generator;

#[path = "../examples/shared/baseline.rs"]
mod baseline;

/// Every stage, the baseline included, allocates through jemalloc, as the binary does.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// The tree of `scale`, generated once (seed 1, many files).
fn tree(scale: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target/bench-trees")
        .join(format!("scale-{scale}"));
    if !dir.join(".complete").exists() {
        let args: Vec<String> = ["--scale", scale, "--seed", "1", "--force", "--out"]
            .iter()
            .map(|s| s.to_string())
            .chain([dir.display().to_string()])
            .collect();
        let options = generator::parse_args(&args)
            .expect("generator options")
            .expect("not --help");
        generator::run(&options).expect("generate the tree");
        fs::write(dir.join(".complete"), "").unwrap();
    }
    dir
}

fn stages(c: &mut Criterion) {
    for scale in ["1", "10"] {
        let dir = tree(scale);
        let texts = baseline::yaml_texts(&dir);
        let bytes: usize = texts.iter().map(String::len).sum();
        let inputs = [Input::Path(dir.clone())];
        let mut group = c.benchmark_group(format!("scale-{scale}"));
        group.throughput(Throughput::Bytes(bytes as u64));
        group.sample_size(10);
        group.bench_function("tokenize (saphyr events, 1 thread)", |b| {
            b.iter(|| baseline::tokenize(&texts))
        });
        group.bench_function("load and model", |b| {
            b.iter(|| analyze(&inputs, LoadOptions::default()))
        });
        let analysis = analyze(&inputs, LoadOptions::default());
        group.bench_function("classes and selectors", |b| {
            b.iter(|| Engine::new(&analysis.world))
        });
        let options = CheckOptions::default();
        group.bench_function("check (end to end, no output)", |b| {
            b.iter(|| check(&inputs, &options))
        });
        let run = check(&inputs, &options);
        group.bench_function("fixes", |b| b.iter(|| fixes(&run).count()));
        group.finish();
    }
}

criterion_group!(benches, stages);
criterion_main!(benches);
