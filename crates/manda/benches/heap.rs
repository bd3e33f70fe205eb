//! Heap loads and stores at flat-memory cost where nothing is shared, and
//! through the copy-on-write translations where a fork shares the pages:
//! the same loop (a load, an add and a store per iteration over a 16 MiB
//! heap, 16 Mi times), run by a machine's first context, whose heap is flat, and by a
//! forked context, whose pages the fork shares; walking the heap in order
//! (the translation cache hits) and in strides of 4,168 bytes (a new page
//! at every access). In the interpreter and in compiled code.
//!
//!     cargo bench -p manda --bench heap

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use manda::exe::Executable;
use manda::machine::{Config, Machine, Stopped, Tier};

/// Iterations of the loop.
const ITERATIONS: u64 = 1 << 24;

/// The loop over the heap, each access `stride` bytes after the last
/// (wrapping within 16 MiB), after the first context has written every
/// page: run by it, or by a context it forks, which shares the pages.
fn program(forked: bool, stride: u64) -> String {
    let then = match forked {
        true => "    fork t3, work\n    halt\n",
        false => "    jmp work\n",
    };
    format!(
        ".code\nmain:\n    li t0, 16777216\n    hgrow t1, t0\n    li t2, 0\n.L0:\n    hst64 t2, t2, 0\n    addi t2, t2, 4096\n    \
         blt t2, t0, .L0\n{then}work:\n    li s0, 0\n    li s1, {ITERATIONS}\n    li s2, 0\n.L:\n    \
         hld64 t4, s2, 0\n    add t4, t4, s0\n    hst64 t4, s2, 0\n    addi s2, s2, {stride}\n    andi s2, s2, 16777208\n    \
         addi s0, s0, 1\n    blt s0, s1, .L\n    halt\n"
    )
}

fn heap(c: &mut Criterion) {
    let mut group = c.benchmark_group("heap");
    group.sample_size(10);
    for (tier, tier_name) in [(Tier::CompileAll, "compiled"), (Tier::Interpreted, "interpreted")] {
        for (stride, walk) in [(8, "in order"), (4168, "a page per access")] {
            for (forked, context) in [(false, "flat (first context)"), (true, "shared (forked context)")] {
                let (bytes, _) = manda::asm::assemble(&program(forked, stride)).expect("assembles");
                let exe = Executable::load(&bytes).expect("loads");
                let name = format!("{tier_name}, {walk}");
                group.bench_with_input(BenchmarkId::new(name, context), &exe, |b, exe| {
                    b.iter(|| {
                        let config = Config { threads: 1, tier, ..Config::default() };
                        let mut m = Machine::new(exe, config).expect("starts");
                        assert_eq!(m.run(), Ok(Stopped::Exited(0)));
                    });
                });
            }
        }
    }
    group.finish();
}

criterion_group!(benches, heap);
criterion_main!(benches);
