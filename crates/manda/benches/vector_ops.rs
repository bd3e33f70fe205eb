//! Every vector operation against its scalar emulation's least cost.
//!
//! A program that did an operation on N lanes without the vector
//! instructions would need at least one scalar instruction per lane (N for
//! an `i32x4.add`, 2 for a `v128.and` on two 64-bit halves; 1–3 for a lane
//! read, write or splat, see `lanes`; real emulations need more:
//! extracting, combining). For
//! each operation of the table this times a loop of 16 of its instruction
//! and a loop of 16 × N scalar instructions on the same machine — the
//! float instruction doing one lane's work for a float operation (`fadd32`
//! for `f32x4.add`, `fceil` for `f64x2.ceil`), `add` for the rest — and
//! prints the nanoseconds per operation and their ratio: below 1, the
//! vector instruction is faster than even that least emulation.
//!
//!     cargo bench -p manda --bench vector_ops [-- FILTER]
//!
//! Best of 7 runs of each loop, the vector and the scalar one alternated;
//! the table is Markdown for docs/performance.md.

use manda::exe::Executable;
use manda::isa::{Form, VectorOp};
use manda::machine::{Config, Machine};
use std::time::Instant;

/// Passes of each loop.
const PASSES: u64 = 300_000;
/// Instructions timed per pass.
const UNROLL: usize = 16;

/// The fewest scalar instructions that do what `op` does to a vector held
/// as two registers: one per lane for a lane-wise operation (two for the
/// bitwise ones, one per 64-bit half); for a lane read, a shift and an
/// extension (a move for a 64-bit lane); for a lane write, a clear, a
/// shift and an or (a move for a 64-bit lane); for a splat, forming the
/// repeated word and writing both halves (two moves for 64 bits). A lane
/// of a multiply-add is a multiply and an add; of a dot product, its
/// multiplies and adds (3 for a pair, 8 for four and the accumulator).
fn lanes(op: VectorOp) -> u64 {
    let name = op.name();
    let per_lane = match op {
        VectorOp::F32x4Madd | VectorOp::F32x4Nmadd | VectorOp::F64x2Madd | VectorOp::F64x2Nmadd => 2,
        VectorOp::I32x4DotI16x8S | VectorOp::I16x8DotI8x16I7x16S => 3,
        VectorOp::I32x4DotI8x16I7x16AddS => 8,
        _ => 1,
    };
    per_lane
        * match op.form() {
            Form::Extract | Form::Replace if name.ends_with("64") => 1,
            Form::Splat if name.ends_with("64") => 2,
            Form::Extract => 2,
            Form::Replace | Form::Splat => 3,
            _ if name.starts_with("i8x16") => 16,
            _ if name.starts_with("i16x8") => 8,
            _ if name.starts_with("i32x4") || name.starts_with("f32x4") => 4,
            _ => 2, // i64x2, f64x2, and v128 (two 64-bit halves)
        }
}

/// The scalar instruction that does one lane of a float operation (the
/// same work, a libm call for the roundings), as source with registers
/// t4, t4, t0; `add` for the rest.
fn scalar(op: VectorOp) -> String {
    let (suffix, lane) = match op.name().split_once('.') {
        Some(("f64x2", lane)) => ("", lane),
        Some(("f32x4", lane)) => ("32", lane),
        _ => return "add t4, t4, t0".into(),
    };
    let mnemonic = match lane {
        "add" | "sub" | "mul" | "div" | "min" | "max" | "ceil" | "floor" | "trunc" => format!("f{lane}"),
        "pmin" => "fmin".into(),
        "pmax" => "fmax".into(),
        "nearest" => "fround".into(),
        "sqrt" | "abs" | "neg" => format!("f{lane}"),
        "eq" | "ne" => "feq".into(),
        "lt" => "flt".into(),
        "le" => "fle".into(),
        _ => return "add t4, t4, t0".into(),
    };
    let unary = ["ceil", "floor", "trunc", "nearest", "sqrt", "abs", "neg"].contains(&lane);
    if unary {
        format!("{mnemonic}{suffix} t4, t0")
    } else {
        format!("{mnemonic}{suffix} t4, t4, t0")
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
    // t0: 0.125 as an f64, 1.9375 in its low 32 bits as an f32 (no subnormals), 0 mod 8 as a shift count.
    s.push_str(&format!("    li t0, 0x3fc000003ff80000\n    li t2, 0\n    li t3, {PASSES}\nloop:\n"));
    for _ in 0..UNROLL * count {
        s.push_str("    ");
        s.push_str(body);
        s.push('\n');
    }
    s.push_str("    addi t2, t2, 1\n    blt t2, t3, loop\n    halt\n");
    let (bytes, _) = manda::asm::assemble(&s).expect("the benchmark program assembles");
    Executable::load(&bytes).expect("and loads")
}

/// One run of `exe`, per instruction of its body, in nanoseconds.
fn per_instruction(exe: &Executable, count: usize) -> f64 {
    let mut m = Machine::new(exe, Config { threads: 1, ..Config::default() }).expect("a machine");
    let start = Instant::now();
    m.run().expect("the loop halts");
    start.elapsed().as_secs_f64() * 1e9 / (PASSES as f64 * (UNROLL * count) as f64)
}

fn main() {
    let filter: Option<String> = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    println!("| operation | least scalar instructions | ns per vector op | ns per scalar op | vector / (instructions × scalar) |");
    println!("| --- | --- | --- | --- | --- |");
    let mut worst = (0.0f64, "");
    let mut above = 0;
    for &op in VectorOp::ALL {
        if filter.as_deref().is_some_and(|f| !op.name().contains(f)) {
            continue;
        }
        let n = lanes(op) as usize;
        let (vector_exe, scalar_exe) = (program(&instruction(op), 1), program(&scalar(op), n));
        // Alternated, best of each: this machine's speed drifts between runs.
        let (mut vector, mut add) = (f64::MAX, f64::MAX);
        for _ in 0..7 {
            vector = vector.min(per_instruction(&vector_exe, 1));
            add = add.min(per_instruction(&scalar_exe, n));
        }
        let ratio = vector / (n as f64 * add);
        if ratio > worst.0 {
            worst = (ratio, op.name());
        }
        above += usize::from(ratio > 1.0);
        println!("| `{}` | {n} | {vector:.2} | {add:.2} | {ratio:.2} |", op.name());
    }
    println!("\nslowest against its emulation: `{}` at {:.2}; {above} above 1", worst.1, worst.0);
}
