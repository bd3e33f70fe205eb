//! What `fork` costs as the forking context's memory grows: the copy of an
//! address space with 1 MiB, 64 MiB and 512 MiB of written heap, alone and
//! with the first write on each side afterwards (which copies one page and
//! the tables above it). Copy-on-write makes all of them independent of
//! the size. And the first fork of a flat heap (`arena.rs`), which ends
//! its flatness as it shares the pages: the same pointer copy.
//!
//!     cargo bench -p manda --bench fork

use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion};
use manda::exe::Executable;
use manda::machine::{Memory, Meter, PAGE};
use std::hint::black_box;
use std::sync::Arc;

fn fork(c: &mut Criterion) {
    let source = ".code\nmain:\n    halt\n";
    let exe = Executable::load(&manda::asm::assemble(source).unwrap().0).unwrap();
    let mut group = c.benchmark_group("fork");
    let written = |mib: u64| {
        let meter = Arc::new(Meter::new(2 << 30));
        let mut mem = Memory::new(&exe, 1 << 20, meter).unwrap();
        let heap = mem.grow(mib << 20).unwrap();
        for page in 0..(mib << 20) / PAGE {
            mem.store::<8>(heap + page * PAGE, page).unwrap();
        }
        (mem, heap)
    };
    for mib in [1u64, 64] {
        group.bench_with_input(BenchmarkId::new("copy of a flat heap", format!("{mib} MiB")), &mib, |b, &mib| {
            b.iter_batched(|| written(mib).0, |mut mem| (mem.fork(), mem), BatchSize::PerIteration);
        });
    }
    for mib in [1u64, 64, 512] {
        let (mut mem, heap) = written(mib);
        group.bench_with_input(BenchmarkId::new("copy", format!("{mib} MiB")), &mib, |b, _| {
            b.iter(|| black_box(mem.fork()));
        });
        group.bench_with_input(
            BenchmarkId::new("copy, then a write on each side", format!("{mib} MiB")),
            &mib,
            |b, _| {
                b.iter(|| {
                    let mut child = mem.fork();
                    child.store::<8>(heap, 1).unwrap();
                    mem.store::<8>(heap + PAGE, 2).unwrap();
                    black_box(child)
                });
            },
        );
    }
    group.finish();
}

criterion_group!(benches, fork);
criterion_main!(benches);
