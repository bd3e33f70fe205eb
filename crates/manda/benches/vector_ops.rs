//! Every vector operation against its scalar emulation's least cost.
//!
//! A program that did an operation on N lanes without the vector
//! instructions would need at least one scalar instruction per lane (N for
//! an `i32x4.add`, 2 for a `v128.and` on two 64-bit halves, 1 for a lane
//! read or write; real emulations need more: extracting, combining). For
//! each operation of the table this times a loop of 16 of its instruction
//! and a loop of 16 × N scalar `add`s on the same machine, and prints the
//! nanoseconds per operation and their ratio: below 1, the vector
//! instruction is faster than even that least emulation.
//!
//!     cargo bench -p manda --bench vector_ops [-- FILTER]
//!
//! Best of 5 runs of each loop; the table is Markdown for
//! docs/performance.md.

use manda::exe::Executable;
use manda::isa::{Form, VectorOp};
use manda::machine::{Config, Machine};
use std::time::{Duration, Instant};

/// Passes of each loop.
const PASSES: u64 = 100_000;
/// Instructions timed per pass.
const UNROLL: usize = 16;

/// The lanes a scalar emulation handles one by one.
fn lanes(op: VectorOp) -> u64 {
    let name = op.name();
    match op.form() {
        Form::Extract | Form::Replace | Form::Splat => 1,
        _ if name.starts_with("i8x16") => 16,
        _ if name.starts_with("i16x8") => 8,
        _ if name.starts_with("i32x4") || name.starts_with("f32x4") => 4,
        _ => 2, // i64x2, f64x2, and v128 (two 64-bit halves)
    }
}

/// One instruction of `op`'s form, on registers a0–a7 (vectors (a0, a1),
/// (a2, a3), (a4, a5), result (a6, a7)) and scalar t0.
fn instruction(op: VectorOp) -> String {
    let name = op.name();
    match op.form() {
        Form::Binary => format!("vbin a6, a7, a0, a1, a2, a3, {name}"),
        Form::Unary => format!("vun a6, a7, a0, a1, {name}"),
        Form::Ternary => format!("vtern a6, a7, a0, a1, a2, a3, a4, a5, {name}"),
        Form::Shift => format!("vshift a6, a7, a0, a1, t0, {name}"),
        Form::Splat => format!("vsplat a6, a7, t0, {name}"),
        Form::Test => format!("vtest t1, a0, a1, {name}"),
        Form::Extract => format!("vextract t1, a0, a1, 1, {name}"),
        Form::Replace => format!("vreplace a6, a7, a0, a1, t0, 1, {name}"),
    }
}

/// A loop of `PASSES` passes over `UNROLL × count` copies of `body`.
fn program(body: &str, count: usize) -> Executable {
    let mut s = String::from(".code\nmain:\n    li a0, 0x3ff0000040490fdb\n    li a1, 0x7fc00000c0000000\n");
    s.push_str("    li a2, 0x0102030405060708\n    li a3, 0x1112131415161718\n    li a4, -1\n    li a5, 0x5555\n");
    s.push_str(&format!("    li t0, 3\n    li t2, 0\n    li t3, {PASSES}\nloop:\n"));
    for _ in 0..UNROLL * count {
        s.push_str("    ");
        s.push_str(body);
        s.push('\n');
    }
    s.push_str("    addi t2, t2, 1\n    blt t2, t3, loop\n    halt\n");
    let (bytes, _) = manda::asm::assemble(&s).expect("the benchmark program assembles");
    Executable::load(&bytes).expect("and loads")
}

/// Best time of 5 runs of `exe`, per instruction of its body.
fn per_instruction(exe: &Executable, count: usize) -> Duration {
    let mut best = Duration::MAX;
    for _ in 0..5 {
        let mut m = Machine::new(exe, Config { threads: 1, ..Config::default() }).expect("a machine");
        let start = Instant::now();
        m.run().expect("the loop halts");
        best = best.min(start.elapsed());
    }
    best / (PASSES as u32 * (UNROLL * count) as u32)
}

fn main() {
    let filter: Option<String> = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let scalar: Vec<Duration> = (1..=16)
        .map(|n| {
            if [1, 2, 4, 8, 16].contains(&n) {
                per_instruction(&program("add t4, t4, t0", n), n)
            } else {
                Duration::ZERO
            }
        })
        .collect();
    println!("| operation | lanes | ns per vector op | ns per scalar `add` | vector / (lanes × add) |");
    println!("| --- | --- | --- | --- | --- |");
    let mut worst = (0.0f64, "");
    for &op in VectorOp::ALL {
        if filter.as_deref().is_some_and(|f| !op.name().contains(f)) {
            continue;
        }
        let n = lanes(op);
        let vector = per_instruction(&program(&instruction(op), 1), 1);
        // The scalar adds timed in a loop of the emulation's length.
        let add = scalar[n as usize - 1];
        let ratio = vector.as_secs_f64() / (n as f64 * add.as_secs_f64());
        if ratio > worst.0 {
            worst = (ratio, op.name());
        }
        println!(
            "| `{}` | {n} | {:.2} | {:.2} | {ratio:.2} |",
            op.name(),
            vector.as_secs_f64() * 1e9,
            add.as_secs_f64() * 1e9
        );
    }
    println!("\nslowest against its emulation: `{}` at {:.2}", worst.1, worst.0);
}
