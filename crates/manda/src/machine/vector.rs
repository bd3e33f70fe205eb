//! The vector operations ([`VectorOp`](crate::isa::VectorOp)) on 128-bit values: what the
//! interpreter's `v…` instructions compute once it has read their operands'
//! register pairs. Each form has a `*_halves` function, which does the
//! cheap operations in line on the two registers' values, and (for most
//! forms) a function on the 128-bit value for the rest, each operation a
//! small function of its own; every operation is in exactly one of the two.
//! Lanes are little-endian, lane 0 the low end. Float lanes compute as the scalar float instructions do,
//! with the same helpers where those exist.

use super::interp::{fmax, fmin, quiet, quiet32};
use crate::isa::VectorOp as V;

/// The value of the register pair `(lo, hi)`.
pub(super) fn join(lo: u64, hi: u64) -> u128 {
    u128::from(lo) | u128::from(hi) << 64
}

/// `v` as its register pair `(lo, hi)`.
pub(super) fn split(v: u128) -> (u64, u64) {
    (v as u64, (v >> 64) as u64)
}

/// Lane conversions: `$get` splits a vector into its lanes (lane 0 the
/// low bits), `$put` joins them.
macro_rules! lanes {
    ($($get:ident, $put:ident, $t:ty, $n:literal;)*) => {$(
        #[inline(always)]
        fn $get(v: u128) -> [$t; $n] {
            let bytes = v.to_le_bytes();
            const W: usize = 16 / $n;
            std::array::from_fn(|i| <$t>::from_le_bytes(bytes[i * W..i * W + W].try_into().expect("lane width")))
        }
        #[inline(always)]
        fn $put(lanes: [$t; $n]) -> u128 {
            const W: usize = 16 / $n;
            let mut bytes = [0u8; 16];
            for (i, l) in lanes.iter().enumerate() {
                bytes[i * W..i * W + W].copy_from_slice(&l.to_le_bytes());
            }
            u128::from_le_bytes(bytes)
        }
    )*};
}

lanes! {
    i8s, from_i8s, i8, 16;
    u8s, from_u8s, u8, 16;
    i16s, from_i16s, i16, 8;
    u16s, from_u16s, u16, 8;
    i32s, from_i32s, i32, 4;
    u32s, from_u32s, u32, 4;
    f32s, from_f32s, f32, 4;
    f64s, from_f64s, f64, 2;
}

/// Lane by lane over two vectors: `get` reads the lanes, `put` writes them.
macro_rules! zip {
    ($a:expr, $b:expr, $get:ident, $put:ident, |$x:ident, $y:ident| $e:expr) => {{
        let (a, b) = ($get($a), $get($b));
        $put(std::array::from_fn(|i| {
            let ($x, $y) = (a[i], b[i]);
            $e
        }))
    }};
}

/// Lane by lane over one vector.
macro_rules! map {
    ($a:expr, $get:ident, $put:ident, |$x:ident| $e:expr) => {{
        let a = $get($a);
        $put(std::array::from_fn(|i| {
            let $x = a[i];
            $e
        }))
    }};
}

/// All ones if `c`, else 0, as a lane of type `$t`.
macro_rules! mask {
    ($t:ty, $c:expr) => {
        <$t>::from($c).wrapping_neg()
    };
}

/// `lanes` narrowed two at a time from a then b: `lo ..= hi` saturated, as `$t`.
macro_rules! narrow {
    ($a:expr, $b:expr, $get:ident, $put:ident, $t:ty, $lo:expr, $hi:expr) => {{
        let (a, b) = ($get($a), $get($b));
        let n = a.len();
        $put(std::array::from_fn(|i| {
            let v = if i < n { a[i] } else { b[i - n] };
            v.clamp($lo, $hi) as $t
        }))
    }};
}

/// Lanes `from..` of `$get(a)` extended to the wider type.
macro_rules! extend {
    ($a:expr, $get:ident, $put:ident, $wide:ty, $from:expr) => {{
        let a = $get($a);
        $put(std::array::from_fn(|i| <$wide>::from(a[$from + i])))
    }};
}

/// The products of lanes `from..` of a and b, extended to the wider type.
macro_rules! extmul {
    ($a:expr, $b:expr, $get:ident, $put:ident, $wide:ty, $from:expr) => {{
        let (a, b) = ($get($a), $get($b));
        $put(std::array::from_fn(|i| <$wide>::from(a[$from + i]).wrapping_mul(<$wide>::from(b[$from + i]))))
    }};
}

/// Adjacent lanes added, extended to the wider type.
macro_rules! pairwise {
    ($a:expr, $get:ident, $put:ident, $wide:ty) => {{
        let a = $get($a);
        $put(std::array::from_fn(|i| <$wide>::from(a[2 * i]).wrapping_add(<$wide>::from(a[2 * i + 1]))))
    }};
}

/// `i16x8.relaxed_dot_i8x16_i7x16_s`: signed products summed in pairs, wrapping to 16 bits.
fn dot_i8(a: u128, b: u128) -> [i16; 8] {
    let (a, b) = (i8s(a), i8s(b));
    std::array::from_fn(|i| {
        let p = |k: usize| i16::from(a[k]).wrapping_mul(i16::from(b[k]));
        p(2 * i).wrapping_add(p(2 * i + 1))
    })
}

/// The lanes `a` then `b` picked by `indices`: index ≥ 32 gives 0.
fn shuffle(a: u128, b: u128, indices: u128) -> u128 {
    // One table of the 32 lanes: a lane is one indexed load, with no branch.
    let mut table = [0u8; 33];
    table[..16].copy_from_slice(&a.to_le_bytes());
    table[16..32].copy_from_slice(&b.to_le_bytes());
    let idx = indices.to_le_bytes();
    u128::from_le_bytes(std::array::from_fn(|i| table[usize::from(idx[i].min(32))]))
}

/// `i8x16.swizzle`: lane i = a's lane b[i], or 0 if b[i] ≥ 16.
fn swizzle(a: u128, b: u128) -> u128 {
    let mut table = [0u8; 17];
    table[..16].copy_from_slice(&a.to_le_bytes());
    let idx = b.to_le_bytes();
    u128::from_le_bytes(std::array::from_fn(|i| table[usize::from(idx[i].min(16))]))
}

/// `f(a, b)`, never inlined: each operation is a small function of its
/// own, and the `match` over operations a jump to it (no large frame to
/// set up for the one operation that runs).
#[inline(never)]
fn leaf2(a: u128, b: u128, f: impl Fn(u128, u128) -> u128) -> u128 {
    f(a, b)
}

/// As [`leaf2`], for one operand.
#[inline(never)]
fn leaf1(a: u128, f: impl Fn(u128) -> u128) -> u128 {
    f(a)
}

/// As [`leaf2`], for a shift.
#[inline(never)]
fn leaf_shift(a: u128, n: u64, f: impl Fn(u128, u64) -> u128) -> u128 {
    f(a, n)
}

fn fmin32(a: f32, b: f32) -> f32 {
    fmin(f64::from(a), f64::from(b)) as f32
}

fn fmax32(a: f32, b: f32) -> f32 {
    fmax(f64::from(a), f64::from(b)) as f32
}

/// A binary operation (`vbin`) on the halves of its operands. The
/// operations on two 64-bit lanes are two scalar operations, done in line:
/// a call would cost more than they do. The rest go to [`binary`].
#[inline(always)]
pub(super) fn binary_halves(op: V, a: u64, ah: u64, b: u64, bh: u64) -> (u64, u64) {
    let both = |f: fn(u64, u64) -> u64| (f(a, b), f(ah, bh));
    let float = |f: fn(f64, f64) -> f64| {
        let g = |x: u64, y: u64| f(f64::from_bits(x), f64::from_bits(y)).to_bits();
        (g(a, b), g(ah, bh))
    };
    let test = |f: fn(u64, u64) -> bool| (mask64(f(a, b)), mask64(f(ah, bh)));
    let ftest = |f: fn(f64, f64) -> bool| {
        let g = |x: u64, y: u64| mask64(f(f64::from_bits(x), f64::from_bits(y)));
        (g(a, b), g(ah, bh))
    };
    // Four 32-bit lanes: two in each half.
    let quad = |f: fn(u32, u32) -> u32| quad_with(a, ah, b, bh, f);
    let quad_test = |f: fn(u32, u32) -> bool| quad_with(a, ah, b, bh, |x, y| u32::from(f(x, y)).wrapping_neg());
    let float32 =
        |f: fn(f32, f32) -> f32| quad_with(a, ah, b, bh, |x, y| f(f32::from_bits(x), f32::from_bits(y)).to_bits());
    let ftest32 = |f: fn(f32, f32) -> bool| {
        quad_with(a, ah, b, bh, |x, y| u32::from(f(f32::from_bits(x), f32::from_bits(y))).wrapping_neg())
    };
    match op {
        V::I32x4Add => quad(u32::wrapping_add),
        V::I32x4Sub => quad(u32::wrapping_sub),
        V::I32x4Mul => quad(u32::wrapping_mul),
        V::I32x4MinS => quad(|x, y| (x as i32).min(y as i32) as u32),
        V::I32x4MinU => quad(u32::min),
        V::I32x4MaxS => quad(|x, y| (x as i32).max(y as i32) as u32),
        V::I32x4MaxU => quad(u32::max),
        V::I32x4Eq => quad_test(|x, y| x == y),
        V::I32x4Ne => quad_test(|x, y| x != y),
        V::I32x4LtS => quad_test(|x, y| (x as i32) < y as i32),
        V::I32x4LtU => quad_test(|x, y| x < y),
        V::I32x4LeS => quad_test(|x, y| x as i32 <= y as i32),
        V::I32x4LeU => quad_test(|x, y| x <= y),
        V::F32x4Add => float32(|x, y| x + y),
        V::F32x4Sub => float32(|x, y| x - y),
        V::F32x4Mul => float32(|x, y| x * y),
        V::F32x4Div => float32(|x, y| x / y),
        V::F32x4Min => float32(fmin32),
        V::F32x4Max => float32(fmax32),
        V::F32x4Pmin => float32(|x, y| if y < x { y } else { x }),
        V::F32x4Pmax => float32(|x, y| if x < y { y } else { x }),
        V::F32x4Eq => ftest32(|x, y| x == y),
        V::F32x4Ne => ftest32(|x, y| x != y),
        V::F32x4Lt => ftest32(|x, y| x < y),
        V::F32x4Le => ftest32(|x, y| x <= y),
        V::I64x2ExtmulLowI32x4S => (
            (a as i32 as i64).wrapping_mul(b as i32 as i64) as u64,
            ((a >> 32) as i32 as i64).wrapping_mul((b >> 32) as i32 as i64) as u64,
        ),
        V::I64x2ExtmulHighI32x4S => (
            (ah as i32 as i64).wrapping_mul(bh as i32 as i64) as u64,
            ((ah >> 32) as i32 as i64).wrapping_mul((bh >> 32) as i32 as i64) as u64,
        ),
        V::I64x2ExtmulLowI32x4U => ((a as u32 as u64) * (b as u32 as u64), (a >> 32) * (b >> 32)),
        V::I64x2ExtmulHighI32x4U => ((ah as u32 as u64) * (bh as u32 as u64), (ah >> 32) * (bh >> 32)),
        V::V128And => both(|x, y| x & y),
        V::V128Or => both(|x, y| x | y),
        V::V128Xor => both(|x, y| x ^ y),
        V::V128Andnot => both(|x, y| x & !y),
        V::I64x2Add => both(u64::wrapping_add),
        V::I64x2Sub => both(u64::wrapping_sub),
        V::I64x2Mul => both(u64::wrapping_mul),
        V::I64x2Eq => test(|x, y| x == y),
        V::I64x2Ne => test(|x, y| x != y),
        V::I64x2LtS => test(|x, y| (x as i64) < y as i64),
        V::I64x2LeS => test(|x, y| x as i64 <= y as i64),
        V::F64x2Add => float(|x, y| x + y),
        V::F64x2Sub => float(|x, y| x - y),
        V::F64x2Mul => float(|x, y| x * y),
        V::F64x2Div => float(|x, y| x / y),
        V::F64x2Min => float(fmin),
        V::F64x2Max => float(fmax),
        V::F64x2Pmin => float(|x, y| if y < x { y } else { x }),
        V::F64x2Pmax => float(|x, y| if x < y { y } else { x }),
        V::F64x2Eq => ftest(|x, y| x == y),
        V::F64x2Ne => ftest(|x, y| x != y),
        V::F64x2Lt => ftest(|x, y| x < y),
        V::F64x2Le => ftest(|x, y| x <= y),
        _ => split(binary(op, join(a, ah), join(b, bh))),
    }
}

/// `f` on each of the four 32-bit lanes of (a, ah) and (b, bh).
#[inline(always)]
fn quad_with(a: u64, ah: u64, b: u64, bh: u64, f: impl Fn(u32, u32) -> u32) -> (u64, u64) {
    let g = |x: u64, y: u64| u64::from(f(x as u32, y as u32)) | u64::from(f((x >> 32) as u32, (y >> 32) as u32)) << 32;
    (g(a, b), g(ah, bh))
}

/// All ones if `c`, else 0.
#[inline(always)]
fn mask64(c: bool) -> u64 {
    u64::from(c).wrapping_neg()
}

/// A unary operation (`vun`) on the halves of its operand: as
/// [`binary_halves`], the two-lane ones in line, the rest by [`unary`].
#[inline(always)]
pub(super) fn unary_halves(op: V, a: u64, ah: u64) -> (u64, u64) {
    let both = |f: fn(u64) -> u64| (f(a), f(ah));
    let float = |f: fn(f64) -> f64| (f(f64::from_bits(a)).to_bits(), f(f64::from_bits(ah)).to_bits());
    match op {
        V::V128Not => both(|x| !x),
        V::I64x2Neg => both(u64::wrapping_neg),
        V::I64x2Abs => both(|x| (x as i64).wrapping_abs() as u64),
        V::F64x2Neg => both(|x| x ^ (1 << 63)),
        V::F64x2Abs => both(|x| x & !(1 << 63)),
        V::F64x2Sqrt => float(f64::sqrt),
        V::F64x2Ceil => float(|x| quiet(x.ceil())),
        V::F64x2Floor => float(|x| quiet(x.floor())),
        V::F64x2Trunc => float(|x| quiet(x.trunc())),
        V::F64x2Nearest => float(|x| quiet(x.round_ties_even())),
        V::I64x2ExtendLowI32x4S => (a as i32 as i64 as u64, (a >> 32) as i32 as i64 as u64),
        V::I64x2ExtendHighI32x4S => (ah as i32 as i64 as u64, (ah >> 32) as i32 as i64 as u64),
        V::I64x2ExtendLowI32x4U => (a as u32 as u64, a >> 32),
        V::I64x2ExtendHighI32x4U => (ah as u32 as u64, ah >> 32),
        V::F64x2ConvertLowI32x4S => (f64::from(a as i32).to_bits(), f64::from((a >> 32) as i32).to_bits()),
        V::F64x2ConvertLowI32x4U => (f64::from(a as u32).to_bits(), f64::from((a >> 32) as u32).to_bits()),
        V::F64x2PromoteLowF32x4 => {
            let f = |x: u64| f64::from(f32::from_bits(x as u32)).to_bits();
            (f(a), f(a >> 32))
        }
        V::I32x4TruncSatF64x2SZero => {
            let t = |x: u64| u64::from(f64::from_bits(x) as i32 as u32);
            (t(a) | t(ah) << 32, 0)
        }
        V::I32x4TruncSatF64x2UZero => {
            let t = |x: u64| u64::from(f64::from_bits(x) as u32);
            (t(a) | t(ah) << 32, 0)
        }
        V::F32x4DemoteF64x2Zero => {
            let d = |x: u64| u64::from((f64::from_bits(x) as f32).to_bits());
            (d(a) | d(ah) << 32, 0)
        }
        V::F32x4Neg => both(|x| x ^ 0x8000_0000_8000_0000),
        V::F32x4Abs => both(|x| x & !0x8000_0000_8000_0000),
        V::I32x4Neg => {
            let n = |x: u64| u64::from((x as u32).wrapping_neg()) | u64::from(((x >> 32) as u32).wrapping_neg()) << 32;
            (n(a), n(ah))
        }
        _ => split(unary(op, join(a, ah))),
    }
}

/// A shift (`vshift`) on the halves: 64- and 32-bit lanes in line, the rest by [`shift`].
#[inline(always)]
pub(super) fn shift_halves(op: V, a: u64, ah: u64, n: u64) -> (u64, u64) {
    let quad = |f: fn(u32, u32) -> u32| {
        let g = |x: u64| u64::from(f(x as u32, n as u32 % 32)) | u64::from(f((x >> 32) as u32, n as u32 % 32)) << 32;
        (g(a), g(ah))
    };
    match op {
        V::I64x2Shl => (a << (n % 64), ah << (n % 64)),
        V::I64x2ShrU => (a >> (n % 64), ah >> (n % 64)),
        V::I64x2ShrS => (((a as i64) >> (n % 64)) as u64, ((ah as i64) >> (n % 64)) as u64),
        V::I32x4Shl => quad(|x, k| x << k),
        V::I32x4ShrU => quad(|x, k| x >> k),
        V::I32x4ShrS => quad(|x, k| ((x as i32) >> k) as u32),
        _ => split(shift(op, join(a, ah), n)),
    }
}

/// A ternary operation (`vtern`) on the halves: `bitselect` in line, the rest by [`ternary`].
#[inline(always)]
pub(super) fn ternary_halves(op: V, a: [u64; 2], b: [u64; 2], c: [u64; 2]) -> (u64, u64) {
    match op {
        V::V128Bitselect => ((a[0] & c[0]) | (b[0] & !c[0]), (a[1] & c[1]) | (b[1] & !c[1])),
        _ => split(ternary(op, join(a[0], a[1]), join(b[0], b[1]), join(c[0], c[1]))),
    }
}

/// Lane `lane` (modulo the lane count) of (a, ah), extended to a register (`vextract`).
#[inline(always)]
pub(super) fn extract_halves(op: V, a: u64, ah: u64, lane: u8) -> u64 {
    let width = match op {
        V::Extract8s | V::Extract8u => 8,
        V::Extract16s | V::Extract16u => 16,
        V::Extract32s | V::Extract32u => 32,
        _ => 64,
    };
    let at = u32::from(lane) % (128 / width) * width;
    let bits = if at >= 64 { ah } else { a } >> (at % 64);
    match op {
        V::Extract8s => bits as i8 as i64 as u64,
        V::Extract8u => u64::from(bits as u8),
        V::Extract16s => bits as i16 as i64 as u64,
        V::Extract16u => u64::from(bits as u16),
        V::Extract32s => bits as i32 as i64 as u64,
        V::Extract32u => u64::from(bits as u32),
        _ => bits,
    }
}

/// (a, ah) with lane `lane` (modulo the lane count) = the low bits of `x` (`vreplace`).
#[inline(always)]
pub(super) fn replace_halves(op: V, a: u64, ah: u64, x: u64, lane: u8) -> (u64, u64) {
    let width = match op {
        V::Replace8 => 8,
        V::Replace16 => 16,
        V::Replace32 => 32,
        _ => 64,
    };
    let at = u32::from(lane) % (128 / width) * width;
    let ones = u64::MAX >> (64 - width);
    let put = |half: u64| (half & !(ones << (at % 64))) | ((x & ones) << (at % 64));
    if at >= 64 {
        (a, put(ah))
    } else {
        (put(a), ah)
    }
}

/// A binary operation (`vbin`) not done in line by [`binary_halves`]:
/// each operation is in one place only.
pub(super) fn binary(op: V, a: u128, b: u128) -> u128 {
    match op {
        V::I8x16Swizzle => leaf2(a, b, swizzle),
        V::I8x16Eq => leaf2(a, b, |a, b| zip!(a, b, u8s, from_u8s, |x, y| mask!(u8, x == y))),
        V::I8x16Ne => leaf2(a, b, |a, b| zip!(a, b, u8s, from_u8s, |x, y| mask!(u8, x != y))),
        V::I8x16LtS => leaf2(a, b, |a, b| zip!(a, b, i8s, from_u8s, |x, y| mask!(u8, x < y))),
        V::I8x16LtU => leaf2(a, b, |a, b| zip!(a, b, u8s, from_u8s, |x, y| mask!(u8, x < y))),
        V::I8x16LeS => leaf2(a, b, |a, b| zip!(a, b, i8s, from_u8s, |x, y| mask!(u8, x <= y))),
        V::I8x16LeU => leaf2(a, b, |a, b| zip!(a, b, u8s, from_u8s, |x, y| mask!(u8, x <= y))),
        V::I16x8Eq => leaf2(a, b, |a, b| zip!(a, b, u16s, from_u16s, |x, y| mask!(u16, x == y))),
        V::I16x8Ne => leaf2(a, b, |a, b| zip!(a, b, u16s, from_u16s, |x, y| mask!(u16, x != y))),
        V::I16x8LtS => leaf2(a, b, |a, b| zip!(a, b, i16s, from_u16s, |x, y| mask!(u16, x < y))),
        V::I16x8LtU => leaf2(a, b, |a, b| zip!(a, b, u16s, from_u16s, |x, y| mask!(u16, x < y))),
        V::I16x8LeS => leaf2(a, b, |a, b| zip!(a, b, i16s, from_u16s, |x, y| mask!(u16, x <= y))),
        V::I16x8LeU => leaf2(a, b, |a, b| zip!(a, b, u16s, from_u16s, |x, y| mask!(u16, x <= y))),
        V::I8x16NarrowI16x8S => leaf2(a, b, |a, b| narrow!(a, b, i16s, from_i8s, i8, -128, 127)),
        V::I8x16NarrowI16x8U => leaf2(a, b, |a, b| narrow!(a, b, i16s, from_u8s, u8, 0, 255)),
        V::I8x16Add => leaf2(a, b, |a, b| zip!(a, b, u8s, from_u8s, |x, y| x.wrapping_add(y))),
        V::I8x16AddSatS => leaf2(a, b, |a, b| zip!(a, b, i8s, from_i8s, |x, y| x.saturating_add(y))),
        V::I8x16AddSatU => leaf2(a, b, |a, b| zip!(a, b, u8s, from_u8s, |x, y| x.saturating_add(y))),
        V::I8x16Sub => leaf2(a, b, |a, b| zip!(a, b, u8s, from_u8s, |x, y| x.wrapping_sub(y))),
        V::I8x16SubSatS => leaf2(a, b, |a, b| zip!(a, b, i8s, from_i8s, |x, y| x.saturating_sub(y))),
        V::I8x16SubSatU => leaf2(a, b, |a, b| zip!(a, b, u8s, from_u8s, |x, y| x.saturating_sub(y))),
        V::I8x16MinS => leaf2(a, b, |a, b| zip!(a, b, i8s, from_i8s, |x, y| x.min(y))),
        V::I8x16MinU => leaf2(a, b, |a, b| zip!(a, b, u8s, from_u8s, |x, y| x.min(y))),
        V::I8x16MaxS => leaf2(a, b, |a, b| zip!(a, b, i8s, from_i8s, |x, y| x.max(y))),
        V::I8x16MaxU => leaf2(a, b, |a, b| zip!(a, b, u8s, from_u8s, |x, y| x.max(y))),
        V::I8x16AvgrU => {
            leaf2(a, b, |a, b| zip!(a, b, u8s, from_u8s, |x, y| (u16::from(x) + u16::from(y)).div_ceil(2) as u8))
        }
        V::I16x8Q15mulrSatS => zip!(a, b, i16s, from_i16s, |x, y| {
            ((i32::from(x) * i32::from(y) + (1 << 14)) >> 15).clamp(-32768, 32767) as i16
        }),
        V::I16x8NarrowI32x4S => leaf2(a, b, |a, b| narrow!(a, b, i32s, from_i16s, i16, -32768, 32767)),
        V::I16x8NarrowI32x4U => leaf2(a, b, |a, b| narrow!(a, b, i32s, from_u16s, u16, 0, 65535)),
        V::I16x8Add => leaf2(a, b, |a, b| zip!(a, b, u16s, from_u16s, |x, y| x.wrapping_add(y))),
        V::I16x8AddSatS => leaf2(a, b, |a, b| zip!(a, b, i16s, from_i16s, |x, y| x.saturating_add(y))),
        V::I16x8AddSatU => leaf2(a, b, |a, b| zip!(a, b, u16s, from_u16s, |x, y| x.saturating_add(y))),
        V::I16x8Sub => leaf2(a, b, |a, b| zip!(a, b, u16s, from_u16s, |x, y| x.wrapping_sub(y))),
        V::I16x8SubSatS => leaf2(a, b, |a, b| zip!(a, b, i16s, from_i16s, |x, y| x.saturating_sub(y))),
        V::I16x8SubSatU => leaf2(a, b, |a, b| zip!(a, b, u16s, from_u16s, |x, y| x.saturating_sub(y))),
        V::I16x8Mul => leaf2(a, b, |a, b| zip!(a, b, u16s, from_u16s, |x, y| x.wrapping_mul(y))),
        V::I16x8MinS => leaf2(a, b, |a, b| zip!(a, b, i16s, from_i16s, |x, y| x.min(y))),
        V::I16x8MinU => leaf2(a, b, |a, b| zip!(a, b, u16s, from_u16s, |x, y| x.min(y))),
        V::I16x8MaxS => leaf2(a, b, |a, b| zip!(a, b, i16s, from_i16s, |x, y| x.max(y))),
        V::I16x8MaxU => leaf2(a, b, |a, b| zip!(a, b, u16s, from_u16s, |x, y| x.max(y))),
        V::I16x8AvgrU => {
            leaf2(a, b, |a, b| zip!(a, b, u16s, from_u16s, |x, y| (u32::from(x) + u32::from(y)).div_ceil(2) as u16))
        }
        V::I16x8ExtmulLowI8x16S => leaf2(a, b, |a, b| extmul!(a, b, i8s, from_i16s, i16, 0)),
        V::I16x8ExtmulHighI8x16S => leaf2(a, b, |a, b| extmul!(a, b, i8s, from_i16s, i16, 8)),
        V::I16x8ExtmulLowI8x16U => leaf2(a, b, |a, b| extmul!(a, b, u8s, from_u16s, u16, 0)),
        V::I16x8ExtmulHighI8x16U => leaf2(a, b, |a, b| extmul!(a, b, u8s, from_u16s, u16, 8)),
        V::I16x8DotI8x16I7x16S => leaf2(a, b, |a, b| from_i16s(dot_i8(a, b))),
        V::I32x4DotI16x8S => {
            let (a, b) = (i16s(a), i16s(b));
            from_i32s(std::array::from_fn(|i| {
                let p = |k: usize| i32::from(a[k]) * i32::from(b[k]);
                p(2 * i).wrapping_add(p(2 * i + 1))
            }))
        }
        V::I32x4ExtmulLowI16x8S => leaf2(a, b, |a, b| extmul!(a, b, i16s, from_i32s, i32, 0)),
        V::I32x4ExtmulHighI16x8S => leaf2(a, b, |a, b| extmul!(a, b, i16s, from_i32s, i32, 4)),
        V::I32x4ExtmulLowI16x8U => leaf2(a, b, |a, b| extmul!(a, b, u16s, from_u32s, u32, 0)),
        V::I32x4ExtmulHighI16x8U => leaf2(a, b, |a, b| extmul!(a, b, u16s, from_u32s, u32, 4)),
        _ => a,
    }
}

/// A unary operation (`vun`) not done in line by [`unary_halves`].
pub(super) fn unary(op: V, a: u128) -> u128 {
    match op {
        V::I8x16Abs => leaf1(a, |a| map!(a, i8s, from_i8s, |x| x.wrapping_abs())),
        V::I8x16Neg => leaf1(a, |a| map!(a, i8s, from_i8s, |x| x.wrapping_neg())),
        V::I8x16Popcnt => leaf1(a, |a| map!(a, u8s, from_u8s, |x| x.count_ones() as u8)),
        V::I16x8ExtaddPairwiseI8x16S => leaf1(a, |a| pairwise!(a, i8s, from_i16s, i16)),
        V::I16x8ExtaddPairwiseI8x16U => leaf1(a, |a| pairwise!(a, u8s, from_u16s, u16)),
        V::I16x8Abs => leaf1(a, |a| map!(a, i16s, from_i16s, |x| x.wrapping_abs())),
        V::I16x8Neg => leaf1(a, |a| map!(a, i16s, from_i16s, |x| x.wrapping_neg())),
        V::I16x8ExtendLowI8x16S => leaf1(a, |a| extend!(a, i8s, from_i16s, i16, 0)),
        V::I16x8ExtendHighI8x16S => leaf1(a, |a| extend!(a, i8s, from_i16s, i16, 8)),
        V::I16x8ExtendLowI8x16U => leaf1(a, |a| extend!(a, u8s, from_u16s, u16, 0)),
        V::I16x8ExtendHighI8x16U => leaf1(a, |a| extend!(a, u8s, from_u16s, u16, 8)),
        V::I32x4ExtaddPairwiseI16x8S => leaf1(a, |a| pairwise!(a, i16s, from_i32s, i32)),
        V::I32x4ExtaddPairwiseI16x8U => leaf1(a, |a| pairwise!(a, u16s, from_u32s, u32)),
        V::I32x4Abs => leaf1(a, |a| map!(a, i32s, from_i32s, |x| x.wrapping_abs())),
        V::I32x4ExtendLowI16x8S => leaf1(a, |a| extend!(a, i16s, from_i32s, i32, 0)),
        V::I32x4ExtendHighI16x8S => leaf1(a, |a| extend!(a, i16s, from_i32s, i32, 4)),
        V::I32x4ExtendLowI16x8U => leaf1(a, |a| extend!(a, u16s, from_u32s, u32, 0)),
        V::I32x4ExtendHighI16x8U => leaf1(a, |a| extend!(a, u16s, from_u32s, u32, 4)),
        // `as` from a float saturates and gives 0 for NaN: wasm's `trunc_sat`.
        V::I32x4TruncSatF32x4S => leaf1(a, |a| map!(a, f32s, from_i32s, |x| x as i32)),
        V::I32x4TruncSatF32x4U => leaf1(a, |a| map!(a, f32s, from_u32s, |x| x as u32)),
        V::F32x4Ceil => leaf1(a, |a| map!(a, f32s, from_f32s, |x| quiet32(x.ceil()))),
        V::F32x4Floor => leaf1(a, |a| map!(a, f32s, from_f32s, |x| quiet32(x.floor()))),
        V::F32x4Trunc => leaf1(a, |a| map!(a, f32s, from_f32s, |x| quiet32(x.trunc()))),
        V::F32x4Nearest => leaf1(a, |a| map!(a, f32s, from_f32s, |x| quiet32(x.round_ties_even()))),
        V::F32x4Sqrt => leaf1(a, |a| map!(a, f32s, from_f32s, |x| x.sqrt())),
        V::F32x4ConvertI32x4S => leaf1(a, |a| map!(a, i32s, from_f32s, |x| x as f32)),
        V::F32x4ConvertI32x4U => leaf1(a, |a| map!(a, u32s, from_f32s, |x| x as f32)),
        _ => a,
    }
}

/// A ternary operation (`vtern`) other than `bitselect` ([`ternary_halves`]).
pub(super) fn ternary(op: V, a: u128, b: u128, c: u128) -> u128 {
    match op {
        V::I8x16Shuffle => shuffle(a, b, c),
        V::I32x4DotI8x16I7x16AddS => {
            let pairs = dot_i8(a, b);
            let c = i32s(c);
            from_i32s(std::array::from_fn(|i| {
                c[i].wrapping_add(i32::from(pairs[2 * i])).wrapping_add(i32::from(pairs[2 * i + 1]))
            }))
        }
        V::F32x4Madd | V::F32x4Nmadd => {
            let (a, b, c) = (f32s(a), f32s(b), f32s(c));
            let neg = op == V::F32x4Nmadd;
            from_f32s(std::array::from_fn(|i| {
                let p = a[i] * b[i];
                if neg {
                    c[i] - p
                } else {
                    p + c[i]
                }
            }))
        }
        V::F64x2Madd | V::F64x2Nmadd => {
            let (a, b, c) = (f64s(a), f64s(b), f64s(c));
            let neg = op == V::F64x2Nmadd;
            from_f64s(std::array::from_fn(|i| {
                let p = a[i] * b[i];
                if neg {
                    c[i] - p
                } else {
                    p + c[i]
                }
            }))
        }
        _ => a,
    }
}

/// A shift by the count `n` (`vshift`) of 8- or 16-bit lanes ([`shift_halves`] does the rest).
pub(super) fn shift(op: V, a: u128, n: u64) -> u128 {
    match op {
        V::I8x16Shl => leaf_shift(a, n, |a, n| map!(a, u8s, from_u8s, |x| x << (n % 8))),
        V::I8x16ShrS => leaf_shift(a, n, |a, n| map!(a, i8s, from_i8s, |x| x >> (n % 8))),
        V::I8x16ShrU => leaf_shift(a, n, |a, n| map!(a, u8s, from_u8s, |x| x >> (n % 8))),
        V::I16x8Shl => leaf_shift(a, n, |a, n| map!(a, u16s, from_u16s, |x| x << (n % 16))),
        V::I16x8ShrS => leaf_shift(a, n, |a, n| map!(a, i16s, from_i16s, |x| x >> (n % 16))),
        V::I16x8ShrU => leaf_shift(a, n, |a, n| map!(a, u16s, from_u16s, |x| x >> (n % 16))),
        _ => a,
    }
}

/// Copies of the scalar `x` in every lane (`vsplat`).
#[inline(always)]
pub(super) fn splat(op: V, x: u64) -> u128 {
    let lane = match op {
        V::Splat8 => u64::from(x as u8) * 0x0101_0101_0101_0101,
        V::Splat16 => u64::from(x as u16) * 0x0001_0001_0001_0001,
        V::Splat32 => u64::from(x as u32) * 0x0000_0001_0000_0001,
        _ => x,
    };
    join(lane, lane)
}

/// A scalar summary of the vector (`vtest`).
pub(super) fn test(op: V, a: u128) -> u64 {
    let bitmask = |tops: u128, width: u32| {
        let mut m = 0;
        for i in 0..128 / width {
            m |= ((tops >> (i * width + width - 1)) & 1) << i;
        }
        m as u64
    };
    match op {
        V::V128AnyTrue => u64::from(a != 0),
        V::I8x16AllTrue => u64::from(u8s(a).iter().all(|&x| x != 0)),
        V::I16x8AllTrue => u64::from(u16s(a).iter().all(|&x| x != 0)),
        V::I32x4AllTrue => u64::from(u32s(a).iter().all(|&x| x != 0)),
        V::I64x2AllTrue => {
            let (lo, hi) = split(a);
            u64::from(lo != 0 && hi != 0)
        }
        V::I8x16Bitmask => bitmask(a, 8),
        V::I16x8Bitmask => bitmask(a, 16),
        V::I32x4Bitmask => bitmask(a, 32),
        V::I64x2Bitmask => bitmask(a, 64),
        _ => 0,
    }
}
