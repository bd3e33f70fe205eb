//! The interpreter loop.
//!
//! One `match` over [`Op`] with the hot state — program counter, stack
//! pointer, step budget, time slice — in locals. The loop is compiled twice:
//!
//! - `exec::<false>` runs the fused ops. The step budget is charged a
//!   whole run at a time when control arrives at a run's first
//!   instruction (see `code.rs`), and the context's time slice is counted
//!   in the same place: at every taken branch, jump, call and return (a
//!   backward jump or branch weighing one more per 64 instructions of the
//!   loop it closes). When the slice ends (every 2048 of them, a few
//!   microseconds) the loop reads
//!   the machine's `attention` line — an interrupt, or an `exit` or trap in
//!   another context — and returns, either to stop or to let another run. When the budget left is smaller
//!   than the next run, it returns and the scheduler continues one
//!   instruction at a time, so `--max-steps` stops at exactly the right
//!   instruction.
//! - `exec::<true>` runs exactly one plain op and returns: single steps,
//!   tracing, and the end of a step budget.

use super::code::{Op, M};
use super::system::{system, Effect};
use super::trap::TrapKind;
use super::vector::{self, join, split};
use super::workers::{Local, Workers};
use super::Context;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// Why the loop returned.
pub(super) enum Flow {
    /// One instruction done (single-step mode).
    Stepped,
    /// At a run boundary with too little budget for the next run.
    Boundary,
    /// The machine is stopping (interrupt, `exit` or trap elsewhere): at a run boundary.
    Interrupted,
    /// The time slice is used up: at a run boundary.
    Yield,
    /// `precv` found its port empty; the program counter is on it.
    Block(u64),
    /// `sleep`; the program counter is past it.
    Sleep(Duration),
    /// `halt`: this context ends; the program counter is on it.
    Halt,
    /// `exit`: the machine ends; the program counter is on it.
    Exit(u8),
    /// The instruction at the program counter trapped and had no effect.
    Trap(TrapKind),
}

impl Context {
    /// Runs from `self.pc`; see the module doc.
    #[inline(never)]
    pub(super) fn exec<const STEP: bool, const METERED: bool>(&mut self, run: &Workers, local: &mut Local) -> Flow {
        let code = run.code;
        let ops: &[Op] = &code.ops;
        let run_len: &[u32] = &code.run_len;
        let Context { id, regs: ctx_regs, pc: pc_slot, sp: sp_slot, calls, mem, .. } = self;
        let id = *id;
        // The loop works on a copy in its own frame, addressed from the
        // stack pointer, so the register file needs no base register of its
        // own. Only the registers the program names are copied in and out
        // (a few dozen bytes, not 2 KiB): the others are never touched here.
        // A single step works on the context's own: a large program names
        // most registers, and compiled code steps an instruction at a time
        // (the copies in and out, and clearing the copy, were most of it).
        let mut regs_local = [0u64; 256];
        let mut ctx_regs: Option<&mut [u64; 256]> = Some(ctx_regs);
        let regs: &mut [u64; 256] = match STEP {
            true => ctx_regs.take().expect("the context's registers, not taken yet"),
            false => {
                copy_regs(&code.used_regs, ctx_regs.as_deref().expect("not taken"), &mut regs_local);
                &mut regs_local
            }
        };
        let attention = &run.core.attention;
        let max_depth = run.config.max_call_depth;
        let (stack_base, stack_top) = (mem.stack_base(), mem.stack_top());
        let heap_base = mem.heap_base();
        // The program counter as a pointer into `ops`: a dispatch is a load
        // through it, with no index arithmetic. `pc!()` is the index again.
        let base = ops.as_ptr();
        debug_assert!((*pc_slot as usize) < ops.len());
        // SAFETY: the program counter is always a valid index (see the dispatch below).
        let mut ip = unsafe { base.add(*pc_slot as usize) };
        let mut sp = *sp_slot;
        // The translations stay in the context (not copied into this frame:
        // a switch between contexts would copy them in and out each time).
        let mut fuel = local.fuel;
        let mut slice = local.slice;
        let mut stepped = false;

        macro_rules! pc {
            () => {
                index_of(base, ip)
            };
        }
        macro_rules! r {
            ($x:expr) => {
                regs[$x as usize]
            };
        }
        macro_rules! f {
            ($x:expr) => {
                f64::from_bits(regs[$x as usize])
            };
        }
        // Charges the run starting at `pc` (fast loop with a step limit only).
        macro_rules! charge {
            () => {
                if !STEP && METERED {
                    // SAFETY: `pc` is a valid index (see the dispatch below);
                    // `run_len` has one entry per index.
                    let need = u64::from(unsafe { *run_len.get_unchecked(pc!()) });
                    if fuel < need {
                        break Flow::Boundary;
                    }
                    fuel -= need;
                }
            };
        }
        // A taken jump, branch, call or return to index `t`: where the fast
        // loop reads the interrupt line and charges the step budget.
        macro_rules! goto {
            ($t:expr) => {{
                // SAFETY: `$t` is an index `Code` produced (see the dispatch below).
                ip = unsafe { base.add($t as usize) };
                if !STEP {
                    // The stop line is read when the slice ends (every few
                    // microseconds), not at every transfer: one counter to
                    // test here instead of a counter and a shared flag.
                    slice -= 1;
                    if slice == 0 {
                        break match attention.load(Ordering::Relaxed) {
                            true => Flow::Interrupted,
                            false => Flow::Yield,
                        };
                    }
                }
                charge!();
                continue;
            }};
        }
        // A taken jump or branch to index `t`: as `goto!`, and a backward one
        // closes a loop, which weighs one more transfer per 64 instructions
        // it spans, so that a long loop body does not run 2,048 times
        // between two reads of the stop line (a 3,000-instruction loop took
        // 5–7 ms to see an interrupt).
        macro_rules! jump {
            ($t:expr) => {{
                if !STEP {
                    let (from, to) = (pc!(), $t as usize);
                    if to + 64 <= from {
                        // At least 1 left: `goto!` takes the transfer's own and tests for 0.
                        let span = ((from - to) >> 6).min(u32::MAX as usize) as u32;
                        slice = slice.saturating_sub(span).max(1);
                    }
                }
                goto!($t)
            }};
        }
        // A branch not taken: a new run starts, but control only moved forward.
        macro_rules! fall_through {
            () => {{
                // SAFETY: as for `next!`.
                ip = unsafe { ip.add(1) };
                charge!();
                continue;
            }};
        }
        macro_rules! next {
            ($n:expr) => {{
                // SAFETY: an op that is not `End` nor a transfer is followed
                // by at least one more index in its section (see below).
                ip = unsafe { ip.add($n) };
                continue;
            }};
        }
        // A fused op whose second half transfers control: on to that half's
        // index first, where a trap or the transfer then starts from.
        macro_rules! second_half {
            () => {
                // SAFETY: a fused op's second half is the next index (as for `next!`).
                ip = unsafe { ip.add(1) }
            };
        }
        macro_rules! ret {
            () => {
                match calls.pop(mem.meter()) {
                    Some(t) => goto!(t),
                    None => trap!(TrapKind::ReturnWithoutCall),
                }
            };
        }
        macro_rules! trap {
            ($kind:expr) => {
                break Flow::Trap($kind)
            };
        }
        macro_rules! try_mem {
            ($e:expr) => {
                match $e {
                    Ok(v) => v,
                    Err(kind) => trap!(kind),
                }
            };
        }
        macro_rules! alu {
            ($rd:expr, $v:expr) => {{
                regs[$rd as usize] = $v;
                next!(1)
            }};
        }
        macro_rules! branch {
            ($cond:expr, $t:expr) => {{
                if $cond {
                    jump!($t)
                } else {
                    fall_through!()
                }
            }};
        }
        macro_rules! load {
            ($n:literal, $rd:expr, $base:expr, $off:expr, $ext:expr) => {{
                let addr = r!($base).wrapping_add($off as i64 as u64);
                let v: u64 = try_mem!(mem.load::<$n>(addr));
                alu!($rd, $ext(v))
            }};
        }
        // A heap access: offset = the low 32 bits of `ra` + `off`; nothing
        // lies past the heap, so any fault is the heap's end.
        macro_rules! heap_value {
            ($n:literal, $ra:expr, $off:expr) => {{
                let offset = u64::from(r!($ra) as u32) + u64::from($off);
                match mem.heap_load::<$n>(offset) {
                    Ok(v) => v,
                    Err(_) => trap!(TrapKind::OutOfBounds { offset, len: $n, size: mem.end() - heap_base }),
                }
            }};
        }
        macro_rules! hload {
            ($n:literal, $rd:expr, $ra:expr, $off:expr, $ext:expr) => {{
                let v = heap_value!($n, $ra, $off);
                alu!($rd, $ext(v))
            }};
        }
        macro_rules! hstore {
            ($n:literal, $rs:expr, $ra:expr, $off:expr) => {{
                let offset = u64::from(r!($ra) as u32) + u64::from($off);
                match mem.heap_store::<$n>(offset, r!($rs)) {
                    Ok(()) => next!(1),
                    Err(_) => trap!(TrapKind::OutOfBounds { offset, len: $n, size: mem.end() - heap_base }),
                }
            }};
        }
        macro_rules! f32 {
            ($x:expr) => {
                f32::from_bits(regs[$x as usize] as u32)
            };
        }
        macro_rules! f32_out {
            ($rd:expr, $v:expr) => {
                alu!($rd, u64::from(f32::to_bits($v)))
            };
        }
        macro_rules! store {
            ($n:literal, $rs:expr, $base:expr, $off:expr) => {{
                let addr = r!($base).wrapping_add($off as i64 as u64);
                try_mem!(mem.store::<$n>(addr, r!($rs)));
                next!(1)
            }};
        }

        let flow = loop {
            if STEP {
                if stepped {
                    break Flow::Stepped;
                }
                stepped = true;
            }
            debug_assert!(pc!() < ops.len());
            // SAFETY: `pc` only ever holds an index that `Code` produced: the
            // entry, a resolved target (`Code::index_of`), a return index
            // (one past a call, which is never a section's last index), or
            // one or two past an op that is not `End` nor a transfer — and
            // every section's indices end with `End`. So `pc < ops.len()`.
            // Checked indexing here measured 10% slower on the loop benchmark.
            match if STEP { code.plain_op(pc!()) } else { *unsafe { &*ip } } {
                Op::Nop {} => next!(1),
                Op::Mov { rd, rs } => alu!(rd, r!(rs)),
                Op::Li { rd, imm } => alu!(rd, imm as u64),
                Op::La { rd, addr: imm } | Op::Fli { rd, imm } => alu!(rd, imm),
                Op::Add { rd, ra, rb } => alu!(rd, r!(ra).wrapping_add(r!(rb))),
                Op::Sub { rd, ra, rb } => alu!(rd, r!(ra).wrapping_sub(r!(rb))),
                Op::Mul { rd, ra, rb } => alu!(rd, r!(ra).wrapping_mul(r!(rb))),
                Op::Mulh { rd, ra, rb } => {
                    alu!(rd, ((i128::from(r!(ra) as i64) * i128::from(r!(rb) as i64)) >> 64) as u64)
                }
                Op::Mulhu { rd, ra, rb } => alu!(rd, ((u128::from(r!(ra)) * u128::from(r!(rb))) >> 64) as u64),
                Op::Div { rd, ra, rb } => {
                    let (a, b) = (r!(ra) as i64, r!(rb) as i64);
                    match b {
                        0 => trap!(TrapKind::DivisionByZero),
                        -1 if a == i64::MIN => trap!(TrapKind::DivisionOverflow),
                        _ => alu!(rd, (a / b) as u64),
                    }
                }
                Op::Divu { rd, ra, rb } => match r!(rb) {
                    0 => trap!(TrapKind::DivisionByZero),
                    b => alu!(rd, r!(ra) / b),
                },
                Op::Rem { rd, ra, rb } => {
                    let (a, b) = (r!(ra) as i64, r!(rb) as i64);
                    match b {
                        0 => trap!(TrapKind::DivisionByZero),
                        -1 if a == i64::MIN => trap!(TrapKind::DivisionOverflow),
                        _ => alu!(rd, (a % b) as u64),
                    }
                }
                Op::Remu { rd, ra, rb } => match r!(rb) {
                    0 => trap!(TrapKind::DivisionByZero),
                    b => alu!(rd, r!(ra) % b),
                },
                Op::And { rd, ra, rb } => alu!(rd, r!(ra) & r!(rb)),
                Op::Or { rd, ra, rb } => alu!(rd, r!(ra) | r!(rb)),
                Op::Xor { rd, ra, rb } => alu!(rd, r!(ra) ^ r!(rb)),
                Op::Shl { rd, ra, rb } => alu!(rd, r!(ra) << (r!(rb) & 63)),
                Op::Shr { rd, ra, rb } => alu!(rd, r!(ra) >> (r!(rb) & 63)),
                Op::Sar { rd, ra, rb } => alu!(rd, ((r!(ra) as i64) >> (r!(rb) & 63)) as u64),
                Op::Addi { rd, ra, imm } => alu!(rd, r!(ra).wrapping_add(imm as i64 as u64)),
                Op::Muli { rd, ra, imm } => alu!(rd, r!(ra).wrapping_mul(imm as i64 as u64)),
                Op::Andi { rd, ra, imm } => alu!(rd, r!(ra) & imm as i64 as u64),
                Op::Ori { rd, ra, imm } => alu!(rd, r!(ra) | imm as i64 as u64),
                Op::Xori { rd, ra, imm } => alu!(rd, r!(ra) ^ imm as i64 as u64),
                Op::Shli { rd, ra, imm } => alu!(rd, r!(ra) << (imm & 63)),
                Op::Shri { rd, ra, imm } => alu!(rd, r!(ra) >> (imm & 63)),
                Op::Sari { rd, ra, imm } => alu!(rd, ((r!(ra) as i64) >> (imm & 63)) as u64),
                Op::Neg { rd, rs } => alu!(rd, r!(rs).wrapping_neg()),
                Op::Not { rd, rs } => alu!(rd, !r!(rs)),
                Op::Seq { rd, ra, rb } => alu!(rd, u64::from(r!(ra) == r!(rb))),
                Op::Sne { rd, ra, rb } => alu!(rd, u64::from(r!(ra) != r!(rb))),
                Op::Slt { rd, ra, rb } => alu!(rd, u64::from((r!(ra) as i64) < r!(rb) as i64)),
                Op::Sle { rd, ra, rb } => alu!(rd, u64::from((r!(ra) as i64) <= r!(rb) as i64)),
                Op::Sltu { rd, ra, rb } => alu!(rd, u64::from(r!(ra) < r!(rb))),
                Op::Sleu { rd, ra, rb } => alu!(rd, u64::from(r!(ra) <= r!(rb))),
                Op::Slti { rd, ra, imm } => alu!(rd, u64::from((r!(ra) as i64) < i64::from(imm))),
                Op::Rotl { rd, ra, rb } => alu!(rd, r!(ra).rotate_left((r!(rb) & 63) as u32)),
                Op::Rotr { rd, ra, rb } => alu!(rd, r!(ra).rotate_right((r!(rb) & 63) as u32)),
                Op::Clz { rd, rs } => alu!(rd, u64::from(r!(rs).leading_zeros())),
                Op::Ctz { rd, rs } => alu!(rd, u64::from(r!(rs).trailing_zeros())),
                Op::Popcnt { rd, rs } => alu!(rd, u64::from(r!(rs).count_ones())),
                Op::Add32 { rd, ra, rb } => alu!(rd, sext32((r!(ra) as u32).wrapping_add(r!(rb) as u32))),
                Op::Sub32 { rd, ra, rb } => alu!(rd, sext32((r!(ra) as u32).wrapping_sub(r!(rb) as u32))),
                Op::Mul32 { rd, ra, rb } => alu!(rd, sext32((r!(ra) as u32).wrapping_mul(r!(rb) as u32))),
                Op::Addi32 { rd, ra, imm } => alu!(rd, add32(r!(ra), imm)),
                Op::Shl32 { rd, ra, rb } => alu!(rd, sext32((r!(ra) as u32) << (r!(rb) & 31))),
                Op::Shr32 { rd, ra, rb } => alu!(rd, sext32((r!(ra) as u32) >> (r!(rb) & 31))),
                Op::Sar32 { rd, ra, rb } => alu!(rd, sext32(((r!(ra) as i32) >> (r!(rb) & 31)) as u32)),
                Op::Shli32 { rd, ra, imm } => alu!(rd, sext32((r!(ra) as u32) << (imm & 31))),
                Op::Shri32 { rd, ra, imm } => alu!(rd, sext32((r!(ra) as u32) >> (imm & 31))),
                Op::Sari32 { rd, ra, imm } => alu!(rd, sext32(((r!(ra) as i32) >> (imm & 31)) as u32)),
                Op::Rotl32 { rd, ra, rb } => alu!(rd, sext32((r!(ra) as u32).rotate_left((r!(rb) & 31) as u32))),
                Op::Rotr32 { rd, ra, rb } => alu!(rd, sext32((r!(ra) as u32).rotate_right((r!(rb) & 31) as u32))),
                Op::Clz32 { rd, rs } => alu!(rd, u64::from((r!(rs) as u32).leading_zeros())),
                Op::Ctz32 { rd, rs } => alu!(rd, u64::from((r!(rs) as u32).trailing_zeros())),
                Op::Popcnt32 { rd, rs } => alu!(rd, u64::from((r!(rs) as u32).count_ones())),
                Op::Csel { rd, rc, ra, rb } => alu!(rd, if r!(rc) != 0 { r!(ra) } else { r!(rb) }),
                Op::Sext8 { rd, rs } => alu!(rd, r!(rs) as i8 as i64 as u64),
                Op::Sext16 { rd, rs } => alu!(rd, r!(rs) as i16 as i64 as u64),
                Op::Sext32 { rd, rs } => alu!(rd, r!(rs) as i32 as i64 as u64),
                Op::Zext8 { rd, rs } => alu!(rd, r!(rs) as u8 as u64),
                Op::Zext16 { rd, rs } => alu!(rd, r!(rs) as u16 as u64),
                Op::Zext32 { rd, rs } => alu!(rd, r!(rs) as u32 as u64),
                Op::Fadd { rd, ra, rb } => alu!(rd, (f!(ra) + f!(rb)).to_bits()),
                Op::Fsub { rd, ra, rb } => alu!(rd, (f!(ra) - f!(rb)).to_bits()),
                Op::Fmul { rd, ra, rb } => alu!(rd, (f!(ra) * f!(rb)).to_bits()),
                Op::Fdiv { rd, ra, rb } => alu!(rd, (f!(ra) / f!(rb)).to_bits()),
                Op::Fmin { rd, ra, rb } => alu!(rd, fmin(f!(ra), f!(rb)).to_bits()),
                Op::Fmax { rd, ra, rb } => alu!(rd, fmax(f!(ra), f!(rb)).to_bits()),
                Op::Fsqrt { rd, rs } => alu!(rd, f!(rs).sqrt().to_bits()),
                Op::Fneg { rd, rs } => alu!(rd, r!(rs) ^ (1 << 63)),
                Op::Fabs { rd, rs } => alu!(rd, r!(rs) & !(1 << 63)),
                Op::Feq { rd, ra, rb } => alu!(rd, u64::from(f!(ra) == f!(rb))),
                Op::Flt { rd, ra, rb } => alu!(rd, u64::from(f!(ra) < f!(rb))),
                Op::Fle { rd, ra, rb } => alu!(rd, u64::from(f!(ra) <= f!(rb))),
                Op::Itof { rd, rs } => alu!(rd, (r!(rs) as i64 as f64).to_bits()),
                Op::Utof { rd, rs } => alu!(rd, (r!(rs) as f64).to_bits()),
                Op::Ftoi { rd, rs } => alu!(rd, f!(rs) as i64 as u64),
                Op::Fcopysign { rd, ra, rb } => alu!(rd, (r!(ra) & !(1 << 63)) | (r!(rb) & (1 << 63))),
                Op::Fceil { rd, rs } => alu!(rd, quiet(f!(rs).ceil()).to_bits()),
                Op::Ffloor { rd, rs } => alu!(rd, quiet(f!(rs).floor()).to_bits()),
                Op::Ftrunc { rd, rs } => alu!(rd, quiet(f!(rs).trunc()).to_bits()),
                Op::Fround { rd, rs } => alu!(rd, quiet(f!(rs).round_ties_even()).to_bits()),
                Op::Truncs32 { rd, rs } => {
                    let v = try_mem!(truncate(Truncation::S32, f!(rs)));
                    alu!(rd, v)
                }
                Op::Truncu32 { rd, rs } => {
                    let v = try_mem!(truncate(Truncation::U32, f!(rs)));
                    alu!(rd, v)
                }
                Op::Truncs64 { rd, rs } => {
                    let v = try_mem!(truncate(Truncation::S64, f!(rs)));
                    alu!(rd, v)
                }
                Op::Truncu64 { rd, rs } => {
                    let v = try_mem!(truncate(Truncation::U64, f!(rs)));
                    alu!(rd, v)
                }
                Op::Sats32 { rd, rs } => alu!(rd, f!(rs) as i32 as i64 as u64),
                Op::Satu32 { rd, rs } => alu!(rd, sext32(f!(rs) as u32)),
                Op::Satu64 { rd, rs } => alu!(rd, f!(rs) as u64),
                Op::Fadd32 { rd, ra, rb } => f32_out!(rd, f32!(ra) + f32!(rb)),
                Op::Fsub32 { rd, ra, rb } => f32_out!(rd, f32!(ra) - f32!(rb)),
                Op::Fmul32 { rd, ra, rb } => f32_out!(rd, f32!(ra) * f32!(rb)),
                Op::Fdiv32 { rd, ra, rb } => f32_out!(rd, f32!(ra) / f32!(rb)),
                Op::Fmin32 { rd, ra, rb } => f32_out!(rd, fmin(f64::from(f32!(ra)), f64::from(f32!(rb))) as f32),
                Op::Fmax32 { rd, ra, rb } => f32_out!(rd, fmax(f64::from(f32!(ra)), f64::from(f32!(rb))) as f32),
                Op::Fsqrt32 { rd, rs } => f32_out!(rd, f32!(rs).sqrt()),
                Op::Fneg32 { rd, rs } => alu!(rd, u64::from(r!(rs) as u32 ^ (1 << 31))),
                Op::Fabs32 { rd, rs } => alu!(rd, u64::from(r!(rs) as u32 & !(1 << 31))),
                Op::Fcopysign32 { rd, ra, rb } => {
                    alu!(rd, u64::from((r!(ra) as u32 & !(1 << 31)) | (r!(rb) as u32 & (1 << 31))))
                }
                Op::Feq32 { rd, ra, rb } => alu!(rd, u64::from(f32!(ra) == f32!(rb))),
                Op::Flt32 { rd, ra, rb } => alu!(rd, u64::from(f32!(ra) < f32!(rb))),
                Op::Fle32 { rd, ra, rb } => alu!(rd, u64::from(f32!(ra) <= f32!(rb))),
                Op::Fceil32 { rd, rs } => f32_out!(rd, quiet32(f32!(rs).ceil())),
                Op::Ffloor32 { rd, rs } => f32_out!(rd, quiet32(f32!(rs).floor())),
                Op::Ftrunc32 { rd, rs } => f32_out!(rd, quiet32(f32!(rs).trunc())),
                Op::Fround32 { rd, rs } => f32_out!(rd, quiet32(f32!(rs).round_ties_even())),
                Op::Fpromote { rd, rs } => alu!(rd, f64::from(f32!(rs)).to_bits()),
                Op::Fdemote { rd, rs } => f32_out!(rd, f!(rs) as f32),
                Op::Itof32 { rd, rs } => f32_out!(rd, r!(rs) as i64 as f32),
                Op::Utof32 { rd, rs } => f32_out!(rd, r!(rs) as f32),
                Op::Ld8s { rd, mem } => load!(1, rd, mem.base, mem.off, |v: u64| v as u8 as i8 as i64 as u64),
                Op::Ld8u { rd, mem } => load!(1, rd, mem.base, mem.off, |v: u64| v),
                Op::Ld16s { rd, mem } => load!(2, rd, mem.base, mem.off, |v: u64| v as u16 as i16 as i64 as u64),
                Op::Ld16u { rd, mem } => load!(2, rd, mem.base, mem.off, |v: u64| v),
                Op::Ld32s { rd, mem } => load!(4, rd, mem.base, mem.off, |v: u64| v as u32 as i32 as i64 as u64),
                Op::Ld32u { rd, mem } => load!(4, rd, mem.base, mem.off, |v: u64| v),
                Op::Ld64 { rd, mem } => load!(8, rd, mem.base, mem.off, |v: u64| v),
                Op::St8 { rs, mem } => store!(1, rs, mem.base, mem.off),
                Op::St16 { rs, mem } => store!(2, rs, mem.base, mem.off),
                Op::St32 { rs, mem } => store!(4, rs, mem.base, mem.off),
                Op::St64 { rs, mem } => store!(8, rs, mem.base, mem.off),
                Op::Hld8s { rd, ra, off } => hload!(1, rd, ra, off, |v: u64| v as u8 as i8 as i64 as u64),
                Op::Hld8u { rd, ra, off } => hload!(1, rd, ra, off, |v: u64| v),
                Op::Hld16s { rd, ra, off } => hload!(2, rd, ra, off, |v: u64| v as u16 as i16 as i64 as u64),
                Op::Hld16u { rd, ra, off } => hload!(2, rd, ra, off, |v: u64| v),
                Op::Hld32s { rd, ra, off } => hload!(4, rd, ra, off, |v: u64| v as u32 as i32 as i64 as u64),
                Op::Hld32u { rd, ra, off } => hload!(4, rd, ra, off, |v: u64| v),
                Op::Hld64 { rd, ra, off } => hload!(8, rd, ra, off, |v: u64| v),
                Op::Hst8 { rs, ra, off } => hstore!(1, rs, ra, off),
                Op::Hst16 { rs, ra, off } => hstore!(2, rs, ra, off),
                Op::Hst32 { rs, ra, off } => hstore!(4, rs, ra, off),
                Op::Hst64 { rs, ra, off } => hstore!(8, rs, ra, off),
                Op::Hld128 { rd, rdh, ra, off } => {
                    let offset = u64::from(r!(ra) as u32) + u64::from(off);
                    let at = heap_base + offset;
                    match (mem.load::<8>(at + 8), mem.load::<8>(at)) {
                        (Ok(hi), Ok(lo)) => {
                            r!(rd) = lo;
                            r!(rdh) = hi;
                            next!(1)
                        }
                        _ => trap!(TrapKind::OutOfBounds { offset, len: 16, size: mem.end() - heap_base }),
                    }
                }
                Op::Hst128 { rs, rsh, ra, off } => {
                    let offset = u64::from(r!(ra) as u32) + u64::from(off);
                    let at = heap_base + offset;
                    // The high half first: if it is in the heap, so is the low
                    // one, so a trap leaves the heap unwritten.
                    let (lo, hi) = (r!(rs), r!(rsh));
                    match mem.store::<8>(at + 8, hi).and_then(|()| mem.store::<8>(at, lo)) {
                        Ok(()) => next!(1),
                        Err(_) => trap!(TrapKind::OutOfBounds { offset, len: 16, size: mem.end() - heap_base }),
                    }
                }
                Op::Vbin { rd, rdh, ra, rah, rb, rbh, op } => {
                    (r!(rd), r!(rdh)) = vector::binary_halves(op, r!(ra), r!(rah), r!(rb), r!(rbh));
                    next!(1)
                }
                Op::Vun { rd, rdh, ra, rah, op } => {
                    (r!(rd), r!(rdh)) = vector::unary_halves(op, r!(ra), r!(rah));
                    next!(1)
                }
                Op::Vtern { rd, rdh, ra, rah, rb, rbh, rc, rch, op } => {
                    let (a, b, c) = ([r!(ra), r!(rah)], [r!(rb), r!(rbh)], [r!(rc), r!(rch)]);
                    (r!(rd), r!(rdh)) = vector::ternary_halves(op, a, b, c);
                    next!(1)
                }
                Op::Vshift { rd, rdh, ra, rah, rb, op } => {
                    (r!(rd), r!(rdh)) = vector::shift_halves(op, r!(ra), r!(rah), r!(rb));
                    next!(1)
                }
                Op::Vsplat { rd, rdh, rs, op } => {
                    (r!(rd), r!(rdh)) = split(vector::splat(op, r!(rs)));
                    next!(1)
                }
                Op::Vtest { rd, ra, rah, op } => alu!(rd, vector::test(op, join(r!(ra), r!(rah)))),
                Op::Vextract { rd, ra, rah, lane, op } => alu!(rd, vector::extract_halves(op, r!(ra), r!(rah), lane)),
                Op::Vreplace { rd, rdh, ra, rah, rs, lane, op } => {
                    (r!(rd), r!(rdh)) = vector::replace_halves(op, r!(ra), r!(rah), r!(rs), lane);
                    next!(1)
                }
                Op::Trap { code } => trap!(TrapKind::Raised(code)),
                Op::Push { rs } => {
                    if sp - stack_base < 8 {
                        trap!(TrapKind::StackOverflow);
                    }
                    try_mem!(mem.store::<8>(sp - 8, r!(rs)));
                    sp -= 8;
                    next!(1)
                }
                Op::Pop { rd } => {
                    if stack_top - sp < 8 {
                        trap!(TrapKind::StackUnderflow);
                    }
                    let v = try_mem!(mem.load::<8>(sp));
                    sp += 8;
                    alu!(rd, v)
                }
                Op::Salloc { size } => {
                    if sp - stack_base < u64::from(size) {
                        trap!(TrapKind::StackOverflow);
                    }
                    sp -= u64::from(size);
                    next!(1)
                }
                Op::Sfree { size } => {
                    if stack_top - sp < u64::from(size) {
                        trap!(TrapKind::StackUnderflow);
                    }
                    sp += u64::from(size);
                    next!(1)
                }
                Op::Ldsp { rd, off } => {
                    let v = try_mem!(mem.load::<8>(sp.wrapping_add(off as i64 as u64)));
                    alu!(rd, v)
                }
                Op::Stsp { rs, off } => {
                    try_mem!(mem.store::<8>(sp.wrapping_add(off as i64 as u64), r!(rs)));
                    next!(1)
                }
                Op::Getsp { rd } => alu!(rd, sp),
                Op::Jmp { target: t } => jump!(t),
                Op::Jr { rs } => match code.index_of(r!(rs)) {
                    Some(t) => goto!(t),
                    None => trap!(TrapKind::BadJump { target: r!(rs), why: code.why_not_target(r!(rs)) }),
                },
                Op::Beq { ra, rb, target: t } => branch!(r!(ra) == r!(rb), t),
                Op::Bne { ra, rb, target: t } => branch!(r!(ra) != r!(rb), t),
                Op::Blt { ra, rb, target: t } => branch!((r!(ra) as i64) < r!(rb) as i64, t),
                Op::Bge { ra, rb, target: t } => branch!((r!(ra) as i64) >= r!(rb) as i64, t),
                Op::Bltu { ra, rb, target: t } => branch!(r!(ra) < r!(rb), t),
                Op::Bgeu { ra, rb, target: t } => branch!(r!(ra) >= r!(rb), t),
                Op::Beqz { rs, target: t } => branch!(r!(rs) == 0, t),
                Op::Bnez { rs, target: t } => branch!(r!(rs) != 0, t),
                Op::Call { target: t } => {
                    if let Err(kind) = calls.push(pc!() as u32 + 1, mem.meter(), max_depth) {
                        trap!(kind);
                    }
                    goto!(t)
                }
                Op::Callr { rs } => {
                    let Some(t) = code.index_of(r!(rs)) else {
                        trap!(TrapKind::BadJump { target: r!(rs), why: code.why_not_target(r!(rs)) })
                    };
                    if let Err(kind) = calls.push(pc!() as u32 + 1, mem.meter(), max_depth) {
                        trap!(kind);
                    }
                    goto!(t)
                }
                Op::Ret {} => ret!(),
                Op::Halt {} => break Flow::Halt,
                Op::End => trap!(TrapKind::FellOffCode),
                Op::StepBlt { r, y, imm, t } => {
                    let v = r!(r).wrapping_add(imm as i64 as u64);
                    r!(r) = v;
                    second_half!();
                    branch!((v as i64) < r!(y) as i64, t)
                }
                Op::StepBltu { r, y, imm, t } => {
                    let v = r!(r).wrapping_add(imm as i64 as u64);
                    r!(r) = v;
                    second_half!();
                    branch!(v < r!(y), t)
                }
                Op::StepAddBltu { r, rb, y, t } => {
                    let v = r!(r).wrapping_add(r!(rb));
                    r!(r) = v;
                    second_half!();
                    branch!(v < r!(y), t)
                }
                Op::PopRet { rd } => {
                    if stack_top - sp < 8 {
                        trap!(TrapKind::StackUnderflow);
                    }
                    r!(rd) = try_mem!(mem.load::<8>(sp));
                    sp += 8;
                    second_half!();
                    ret!()
                }
                Op::MovRet { rd, rs } => {
                    r!(rd) = r!(rs);
                    second_half!();
                    ret!()
                }
                Op::FmulFadd { rd, ra, rb, rd2, rc } => {
                    let product = fmul(f!(ra), f!(rb));
                    r!(rd) = product.to_bits();
                    r!(rd2) = fadd(f!(rc), product).to_bits();
                    next!(2)
                }
                Op::FmulFsub { rd, ra, rb, rd2, rc } => {
                    let product = fmul(f!(ra), f!(rb));
                    r!(rd) = product.to_bits();
                    r!(rd2) = (f!(rc) - product).to_bits();
                    next!(2)
                }
                Op::Ld64Fmul { rd, mem: M { base, off }, rd2, ra } => {
                    let v = try_mem!(mem.load::<8>(r!(base).wrapping_add(off as i64 as u64)));
                    r!(rd) = v;
                    r!(rd2) = fmul(f!(ra), f64::from_bits(v)).to_bits();
                    next!(2)
                }
                Op::AddiBlt { rd, ra, x, y, imm, t } => {
                    r!(rd) = r!(ra).wrapping_add(imm as i64 as u64);
                    second_half!();
                    branch!((r!(x) as i64) < r!(y) as i64, t)
                }
                Op::AddiBltu { rd, ra, x, y, imm, t } => {
                    r!(rd) = r!(ra).wrapping_add(imm as i64 as u64);
                    second_half!();
                    branch!(r!(x) < r!(y), t)
                }
                Op::LiBlt { rd, x, y, imm, t } => {
                    r!(rd) = imm as i64 as u64;
                    second_half!();
                    branch!((r!(x) as i64) < r!(y) as i64, t)
                }
                Op::LiBge { rd, x, y, imm, t } => {
                    r!(rd) = imm as i64 as u64;
                    second_half!();
                    branch!((r!(x) as i64) >= r!(y) as i64, t)
                }
                Op::Mov2 { rd, rs, rd2, rs2 } => {
                    r!(rd) = r!(rs);
                    r!(rd2) = r!(rs2);
                    next!(2)
                }
                Op::Ld64Fsub { rd, mem: M { base, off }, rd2, ra } => {
                    r!(rd) = try_mem!(mem.load::<8>(r!(base).wrapping_add(off as i64 as u64)));
                    r!(rd2) = (f!(ra) - f!(rd)).to_bits();
                    next!(2)
                }
                Op::Ld64Fadd { rd, mem: M { base, off }, rd2, rb } => {
                    r!(rd) = try_mem!(mem.load::<8>(r!(base).wrapping_add(off as i64 as u64)));
                    r!(rd2) = fadd(f!(rd), f!(rb)).to_bits();
                    next!(2)
                }
                Op::Fmul2 { rd, ra, rb, rd2, rc } => {
                    r!(rd) = fmul(f!(ra), f!(rb)).to_bits();
                    r!(rd2) = fmul(f!(rd), f!(rc)).to_bits();
                    next!(2)
                }
                Op::Ld8uAdd { rd, mem: M { base, off }, rd2, ra } => {
                    r!(rd) = try_mem!(mem.load::<1>(r!(base).wrapping_add(off as i64 as u64)));
                    r!(rd2) = r!(ra).wrapping_add(r!(rd));
                    next!(2)
                }
                Op::Addi32Hld64 { rd, ra, imm, rd2, off } => {
                    r!(rd) = add32(r!(ra), imm);
                    second_half!();
                    hload!(8, rd2, rd, off, |v: u64| v)
                }
                Op::Addi32Hld32s { rd, ra, imm, rd2, off } => {
                    r!(rd) = add32(r!(ra), imm);
                    second_half!();
                    hload!(4, rd2, rd, off, |v: u64| v as u32 as i32 as i64 as u64)
                }
                Op::Addi32Hld8u { rd, ra, imm, rd2, off } => {
                    r!(rd) = add32(r!(ra), imm);
                    second_half!();
                    hload!(1, rd2, rd, off, |v: u64| v)
                }
                Op::Addi32Hst64 { rd, ra, imm, rs, off } => {
                    r!(rd) = add32(r!(ra), imm);
                    second_half!();
                    hstore!(8, rs, rd, off)
                }
                Op::Addi32Hst32 { rd, ra, imm, rs, off } => {
                    r!(rd) = add32(r!(ra), imm);
                    second_half!();
                    hstore!(4, rs, rd, off)
                }
                Op::Addi32Hst8 { rd, ra, imm, rs, off } => {
                    r!(rd) = add32(r!(ra), imm);
                    second_half!();
                    hstore!(1, rs, rd, off)
                }
                Op::Hld64Fsub { rd, ra, off, rd2, rb } => {
                    let v = heap_value!(8, ra, off);
                    r!(rd) = v;
                    r!(rd2) = (f!(rb) - f64::from_bits(v)).to_bits();
                    next!(2)
                }
                Op::Hld64Fadd { rd, ra, off, rd2, rb } => {
                    let v = heap_value!(8, ra, off);
                    r!(rd) = v;
                    r!(rd2) = fadd(f!(rb), f64::from_bits(v)).to_bits();
                    next!(2)
                }
                Op::LiBltu { rd, x, y, imm, t } => {
                    r!(rd) = imm as i64 as u64;
                    second_half!();
                    branch!(r!(x) < r!(y), t)
                }
                Op::LiBgeu { rd, x, y, imm, t } => {
                    r!(rd) = imm as i64 as u64;
                    second_half!();
                    branch!(r!(x) >= r!(y), t)
                }
                Op::LiBeq { rd, x, y, imm, t } => {
                    r!(rd) = imm as i64 as u64;
                    second_half!();
                    branch!(r!(x) == r!(y), t)
                }
                Op::LiBne { rd, x, y, imm, t } => {
                    r!(rd) = imm as i64 as u64;
                    second_half!();
                    branch!(r!(x) != r!(y), t)
                }
                // The system instructions (the table's system, context and port
                // groups but `halt`): run from their `Instr`. Named one by one,
                // not `_`: an exhaustive match needs no range check before
                // its jump table, and a new instruction cannot fall in here
                // unnoticed.
                Op::Fork { .. }
                | Op::Ctxid { .. }
                | Op::Pnew { .. }
                | Op::Psend { .. }
                | Op::Precv { .. }
                | Op::Ptry { .. }
                | Op::Pclose { .. }
                | Op::Write { .. }
                | Op::Read { .. }
                | Op::Argc { .. }
                | Op::Arg { .. }
                | Op::Exit { .. }
                | Op::Clock { .. }
                | Op::Sleep { .. }
                | Op::Grow { .. }
                | Op::Printi { .. }
                | Op::Printf { .. }
                | Op::Putc { .. }
                | Op::Printf32 { .. }
                | Op::Now { .. }
                | Op::Hsize { .. }
                | Op::Hgrow { .. }
                | Op::Hcopy { .. }
                | Op::Hfill { .. }
                | Op::Hput { .. }
                | Op::Wasi { .. } => {
                    debug_assert!(ops[pc!()].is_system());
                    let Some(instr) = code.instr(pc!()) else { trap!(TrapKind::FellOffCode) };
                    // `system` keeps the translations true (a fork, a copy, a grow).
                    let effect = system(run, local, id, instr, regs, ctx_regs.as_deref(), mem);
                    match effect {
                        Ok(Effect::Next) => next!(1),
                        Ok(Effect::Exit(status)) => break Flow::Exit(status),
                        Ok(Effect::Sleep(duration)) => {
                            // SAFETY: as for `next!`: `sleep` is not a transfer.
                            ip = unsafe { ip.add(1) };
                            break Flow::Sleep(duration);
                        }
                        Ok(Effect::Block(port)) => break Flow::Block(port),
                        Err(kind) => trap!(kind),
                    }
                }
            }
        };
        if let Some(own) = ctx_regs {
            copy_regs(&code.used_regs, &regs_local, own);
        }
        *pc_slot = pc!() as u32;
        *sp_slot = sp;
        local.fuel = fuel;
        local.slice = slice;
        flow
    }
}

/// The low 32 bits of `v`, sign-extended: how the 32-bit instructions leave their result.
#[inline(always)]
fn sext32(v: u32) -> u64 {
    v as i32 as i64 as u64
}

/// `v`, with a NaN made quiet: rounding a signalling NaN gives a quiet one, as arithmetic does.
#[inline(always)]
pub(super) fn quiet(v: f64) -> f64 {
    if v.is_nan() {
        f64::from_bits(v.to_bits() | 1 << 51)
    } else {
        v
    }
}

/// The NaN a commutative operation of a superinstruction gives: the one the
/// separate instructions give (the first operand's NaN, quieted, if it is
/// one; else the second's; else the result as it is), whatever order the
/// compiler evaluated `a op b` in. Rust leaves NaN payloads unspecified,
/// and the fused ops were compiled to the other order, so a program gave
/// other bits with superinstructions than without (found by the
/// `manda_modes` fuzz target; its input is a seed of the target now).
#[inline(always)]
fn first_nan(result: f64, a: f64, b: f64) -> f64 {
    match result.is_nan() {
        false => result,
        true if a.is_nan() => quiet(a),
        true if b.is_nan() => quiet(b),
        true => result,
    }
}

/// `a + b`, its NaN as [`first_nan`] says.
#[inline(always)]
fn fadd(a: f64, b: f64) -> f64 {
    first_nan(a + b, a, b)
}

/// `a × b`, its NaN as [`first_nan`] says.
#[inline(always)]
fn fmul(a: f64, b: f64) -> f64 {
    first_nan(a * b, a, b)
}

/// As [`quiet`] for an f32.
#[inline(always)]
pub(super) fn quiet32(v: f32) -> f32 {
    if v.is_nan() {
        f32::from_bits(v.to_bits() | 1 << 22)
    } else {
        v
    }
}

/// `addi32`: `a + imm` on the low 32 bits, sign-extended.
#[inline(always)]
fn add32(a: u64, imm: i32) -> u64 {
    sext32((a as u32).wrapping_add(imm as u32))
}

/// A trapping conversion from f64 to an integer (`truncs32` … `truncu64`).
#[derive(Debug, Clone, Copy)]
pub(super) enum Truncation {
    S32,
    U32,
    S64,
    U64,
}

/// The register value of conversion `kind` of `v`: its whole part, if
/// the integer type holds it; else the trap.
#[inline]
pub(super) fn truncate(kind: Truncation, v: f64) -> Result<u64, TrapKind> {
    if v.is_nan() {
        return Err(TrapKind::InvalidConversion);
    }
    // The bounds are exclusive and exact in f64.
    let (lo, hi) = match kind {
        Truncation::S32 => (-2_147_483_649.0, 2_147_483_648.0),
        Truncation::U32 => (-1.0, 4_294_967_296.0),
        Truncation::S64 => (-9_223_372_036_854_777_856.0, 9_223_372_036_854_775_808.0),
        Truncation::U64 => (-1.0, 18_446_744_073_709_551_616.0),
    };
    let t = v.trunc();
    if !(t > lo && t < hi) {
        return Err(TrapKind::IntegerOverflow);
    }
    Ok(match kind {
        Truncation::S32 | Truncation::S64 => t as i64 as u64,
        Truncation::U32 => sext32(t as u32),
        Truncation::U64 => t as u64,
    })
}

/// The index of the op `ip` points at in the array that starts at `base`.
#[inline(always)]
fn index_of(base: *const Op, ip: *const Op) -> usize {
    // SAFETY: the interpreter's `ip` always points into the op array at `base`.
    unsafe { ip.offset_from(base) as usize }
}

/// Copies the registers in `spans` from `from` to `to`.
#[inline(always)]
fn copy_regs(spans: &[std::ops::Range<usize>], from: &[u64; 256], to: &mut [u64; 256]) {
    for span in spans {
        to[span.clone()].copy_from_slice(&from[span.clone()]);
    }
}

/// `fmin`: NaN if either is NaN; -0.0 below +0.0.
pub(super) fn fmin(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else if a == b {
        if a.is_sign_negative() {
            a
        } else {
            b
        }
    } else if a < b {
        a
    } else {
        b
    }
}

/// `fmax`: NaN if either is NaN; +0.0 above -0.0.
pub(super) fn fmax(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else if a == b {
        if a.is_sign_negative() {
            b
        } else {
            a
        }
    } else if a > b {
        a
    } else {
        b
    }
}
