//! Criterion benchmarks of the Mova interpreter loop, in-process.
//!
//! The end-to-end figure against Lua (whole `mova run` processes) comes from
//! `bench/mova-loop.sh`; these isolate the dispatch loop itself.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use mova::{compile, Exit, SourceKind, Vm};
use std::hint::black_box;

const STEPS: u64 = 100_000_000;

fn run(source: &str, fusion: bool) -> i64 {
    let (program, _) = compile(source, SourceKind::Masm).expect("benchmark source compiles");
    let mut vm = Vm::new(program, std::io::sink());
    vm.set_fusion(fusion);
    vm.set_step_limit(Some(STEPS));
    assert_eq!(vm.run(), Ok(Exit::StepLimit));
    vm.stack()[0]
}

fn loops(c: &mut Criterion) {
    let mut group = c.benchmark_group("mova");
    group.throughput(Throughput::Elements(STEPS));
    group.sample_size(10);
    let tight = "PUT 0\nloop: ADD 1\nGOTO loop\n";
    // The same work spread over two ADDs defeats the self-loop path: one fused dispatch per pass.
    let two_adds = "PUT 0\nloop: ADD 1\nADD 1\nGOTO loop\n";
    group.bench_function("tight_loop", |b| b.iter(|| black_box(run(tight, true))));
    group.bench_function("two_add_loop", |b| b.iter(|| black_box(run(two_adds, true))));
    group.bench_function("tight_loop_unfused", |b| b.iter(|| black_box(run(tight, false))));
    group.finish();
}

criterion_group!(benches, loops);
criterion_main!(benches);
