//! What compiled code calls: the interpreter's own paths for what is not
//! inlined (a translation-cache miss, a call stack chunk filling or
//! emptying, a step of a system or vector instruction, a float operation
//! with exact NaN rules). Each takes the [`Env`] of the running context,
//! and none unwinds: errors are returned as values.

use super::{status, Env, Jit};
use crate::machine::interp::{fmax as fmax64, fmin as fmin64, quiet, quiet32, truncate, Flow, Truncation};
use crate::machine::workers::Workers;

/// `Env::run` back as the workers it is.
///
/// # Safety
/// `env` must be the [`Env`] of a running context (`exec_compiled`).
unsafe fn workers<'a>(env: &Env) -> &'a Workers<'a> {
    unsafe { &*(env.run as *const Workers<'a>) }
}

/// Runs instruction `index` in the interpreter: 0 if it stepped, else
/// [`status::FLOW`] with the flow in `env.flow`.
///
/// # Safety
/// `env` must be the [`Env`] of a running context whose registers and
/// stack pointer compiled code has written back.
pub(super) unsafe extern "C" fn step(env: *mut Env, index: u32) -> u64 {
    let env = unsafe { &mut *env };
    unsafe { env.calls_out() };
    let ctx = unsafe { &mut *env.ctx };
    ctx.pc = index;
    let run = unsafe { workers(env) };
    let flow = ctx.exec::<true, false>(run, unsafe { &mut *env.local });
    unsafe { env.calls_in() };
    match flow {
        Flow::Stepped => 0,
        flow => {
            env.flow = Some(flow);
            status::FLOW
        }
    }
}

/// A load of `N` bytes that missed the translation cache: 0 with the
/// value in `env.scratch`, or 1 if it faults.
///
/// # Safety
/// As for [`step`].
pub(super) unsafe extern "C" fn load<const N: u64>(env: *mut Env, addr: u64) -> u32 {
    let env = unsafe { &mut *env };
    match unsafe { (*env.ctx).mem.load::<N>(addr) } {
        Ok(v) => {
            env.scratch = v;
            0
        }
        Err(_) => 1,
    }
}

/// A store of `N` bytes that missed the translation cache: 0, or 1 if it faults.
///
/// # Safety
/// As for [`step`].
pub(super) unsafe extern "C" fn store<const N: u64>(env: *mut Env, addr: u64, value: u64) -> u32 {
    let env = unsafe { &mut *env };
    u32::from(unsafe { (*env.ctx).mem.store::<N>(addr, value) }.is_err())
}

/// Pushes a return index where compiled code found the top chunk full:
/// 0, or 1 if the call stack is full (or the memory limit reached).
///
/// # Safety
/// As for [`step`].
pub(super) unsafe extern "C" fn push(env: *mut Env, ret: u32) -> u32 {
    let env = unsafe { &mut *env };
    let run = unsafe { workers(env) };
    unsafe { env.calls_out() };
    let ctx = unsafe { &mut *env.ctx };
    let failed = ctx.calls.push(ret, ctx.mem.meter(), run.config.max_call_depth).is_err();
    unsafe { env.calls_in() };
    u32::from(failed)
}

/// Pops a return index where compiled code found the top chunk empty;
/// `u64::MAX` if the call stack is empty.
///
/// # Safety
/// As for [`step`].
pub(super) unsafe extern "C" fn pop(env: *mut Env) -> u64 {
    let env = unsafe { &mut *env };
    unsafe { env.calls_out() };
    let ctx = unsafe { &mut *env.ctx };
    let popped = ctx.calls.pop(ctx.mem.meter()).map_or(u64::MAX, u64::from);
    unsafe { env.calls_in() };
    popped
}

/// The index of the instruction a jump to `addr` lands on; `u64::MAX` if none.
///
/// # Safety
/// As for [`step`].
pub(super) unsafe extern "C" fn index_of(env: *mut Env, addr: u64) -> u64 {
    let env = unsafe { &*env };
    let run = unsafe { workers(env) };
    run.code.index_of(addr).map_or(u64::MAX, u64::from)
}

/// The region rooted at `index`, compiled now if need be; 0 if it cannot be.
///
/// # Safety
/// As for [`step`].
pub(super) unsafe extern "C" fn callee(env: *mut Env, index: u32) -> usize {
    let env = unsafe { &*env };
    let run = unsafe { workers(env) };
    let jit: &Jit = unsafe { &*env.jit };
    jit.region(run.code, index).map_or(0, |f| f as usize)
}

/// A trapping conversion of the f64 `bits` (`kind` is a [`Truncation`]
/// as `u32`): 0 with the result in `env.scratch`, or 1 if it traps (the
/// interpreter then raises the trap).
///
/// # Safety
/// As for [`step`].
pub(super) unsafe extern "C" fn convert(env: *mut Env, kind: u32, bits: u64) -> u32 {
    let env = unsafe { &mut *env };
    let kind = match kind {
        0 => Truncation::S32,
        1 => Truncation::U32,
        2 => Truncation::S64,
        _ => Truncation::U64,
    };
    match truncate(kind, f64::from_bits(bits)) {
        Ok(v) => {
            env.scratch = v;
            0
        }
        Err(_) => 1,
    }
}

/// `fmin` as the interpreter computes it.
pub(super) extern "C" fn fmin(a: f64, b: f64) -> f64 {
    fmin64(a, b)
}

/// `fmax` as the interpreter computes it.
pub(super) extern "C" fn fmax(a: f64, b: f64) -> f64 {
    fmax64(a, b)
}

/// `fmin32` as the interpreter computes it.
pub(super) extern "C" fn fmin32(a: f32, b: f32) -> f32 {
    fmin64(f64::from(a), f64::from(b)) as f32
}

/// `fmax32` as the interpreter computes it.
pub(super) extern "C" fn fmax32(a: f32, b: f32) -> f32 {
    fmax64(f64::from(a), f64::from(b)) as f32
}

/// `fceil`.
pub(super) extern "C" fn ceil(v: f64) -> f64 {
    quiet(v.ceil())
}

/// `ffloor`.
pub(super) extern "C" fn floor(v: f64) -> f64 {
    quiet(v.floor())
}

/// `ftrunc`.
pub(super) extern "C" fn trunc(v: f64) -> f64 {
    quiet(v.trunc())
}

/// `fround`: to the nearest, ties to even.
pub(super) extern "C" fn round(v: f64) -> f64 {
    quiet(v.round_ties_even())
}

/// `fceil32`.
pub(super) extern "C" fn ceil32(v: f32) -> f32 {
    quiet32(v.ceil())
}

/// `ffloor32`.
pub(super) extern "C" fn floor32(v: f32) -> f32 {
    quiet32(v.floor())
}

/// `ftrunc32`.
pub(super) extern "C" fn trunc32(v: f32) -> f32 {
    quiet32(v.trunc())
}

/// `fround32`.
pub(super) extern "C" fn round32(v: f32) -> f32 {
    quiet32(v.round_ties_even())
}
