//! The translator's intermediate form and its last step, Manda code.
//!
//! A function body is first translated into [`Item`]s whose registers are
//! numbered relative to the function's **window** (see the module doc):
//! `0..WINDOW` are the function's own, the numbers above are the fixed
//! registers ([`ZERO`], the globals, the scratch registers). Once every
//! function's window is placed, [`Emitter`] writes the items as Manda
//! instructions, each register mapped to its real number and each call
//! expanded into its saves, argument moves, `call` and restores.

use manda::exe::MAX_CODE_ITEMS;
use manda::isa::{Instr, Reg};

/// Registers a window may hold: real registers 64..=252.
pub const WINDOW: u8 = 189;
/// The first real register of the window area.
pub const WINDOW_BASE: u8 = 64;
/// The register that always holds 0 (real `a0`).
pub const ZERO: u8 = 252;
/// The first of the registers that hold mutable globals (real `a1`…).
pub const GLOBAL_REGS: u8 = 200;
/// How many globals live in registers; the rest live in a data section.
pub const GLOBALS_IN_REGS: u8 = 40;
/// Scratch registers: never live from one wasm operator to the next.
pub const S1: u8 = 255;
/// Second scratch register.
pub const S2: u8 = 254;
/// Third scratch register: the cycle breaker of parallel moves.
pub const S3: u8 = 253;

/// A branch target inside one function's items.
pub type Label = u32;

/// A value moved into a register by a call or a parallel move.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Src {
    /// A register.
    Reg(u8),
    /// A constant's bits.
    Imm(u64),
    /// A spilled local: 8 bytes at `sp + off` (before any push of the call).
    Frame(i32),
}

/// Who a call goes to.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Callee {
    /// A function by index (imports included).
    Direct(u32),
    /// Through a table: the thunk's address (for a tail call, that of the
    /// jump to the function before it) is in `addr`; `ty` is the canonical type id.
    Indirect {
        /// The canonical type id of the signature.
        ty: u32,
        /// The register holding the address.
        addr: u8,
    },
}

/// One call: everything the emitter needs to expand it.
#[derive(Debug, Clone, PartialEq)]
pub struct CallSite {
    /// The callee.
    pub callee: Callee,
    /// The caller's registers whose values must survive the call.
    pub live: RegSet,
    /// The arguments, in order.
    pub args: Vec<Src>,
    /// Where each result goes.
    pub dsts: Vec<u8>,
}

/// One item of a translated body.
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    /// An instruction with no code target.
    Ins(Instr),
    /// A jump, branch or fork whose target is a label of this body.
    Jump(Instr, Label),
    /// A label's position.
    Bind(Label),
    /// One entry of a `br_table`'s jump table: a `jmp` to the label, always
    /// exactly 9 bytes (the table is indexed by multiplying by 9).
    TableEntry(Label),
    /// A call.
    Call(Box<CallSite>),
    /// `fork rd, CHILD`: starts a context at the module's child entry (`manda.fork`).
    Fork(u8),
    /// The function's epilogue: its frame freed, then `ret`.
    Return,
    /// `rd` = a reference to function `func` (`ref.func`): its canonical
    /// type id and its thunk's address, known once the code is emitted.
    FuncRef {
        /// The register.
        rd: u8,
        /// The function.
        func: u32,
    },
    /// A tail call (`return_call`, `return_call_indirect`) whose arguments
    /// are already in the window's first `args` registers: the frame freed,
    /// then a jump to the callee (for `Callee::Indirect`, `addr` holds the
    /// address of the jump to the function placed before its thunk). The callee shares the caller's window
    /// (see `place_windows`), so it returns straight to the caller's caller.
    TailCall {
        /// The callee.
        callee: Callee,
        /// How many arguments it takes.
        args: u8,
    },
}

impl Item {
    /// An instruction or jump with each register passed through `f`; other items as they are.
    pub fn map_regs(&self, f: impl Fn(u8) -> u8) -> Item {
        match self {
            Item::Ins(i) => Item::Ins(i.map_regs(&mut |r| Reg(f(r.0)))),
            Item::Jump(i, l) => Item::Jump(i.map_regs(&mut |r| Reg(f(r.0))), *l),
            other => other.clone(),
        }
    }
}

/// A set of registers, one bit each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RegSet(pub [u64; 4]);

impl RegSet {
    /// Adds `r`.
    pub fn insert(&mut self, r: u8) {
        self.0[usize::from(r / 64)] |= 1 << (r % 64);
    }
    /// Whether `r` is in.
    pub fn contains(&self, r: u8) -> bool {
        self.0[usize::from(r / 64)] & (1 << (r % 64)) != 0
    }
    /// Adds every register of `other`; whether anything changed.
    pub fn union_with(&mut self, other: &RegSet) -> bool {
        let before = self.0;
        for (a, b) in self.0.iter_mut().zip(other.0) {
            *a |= b;
        }
        before != self.0
    }
    /// Every register in, ascending.
    pub fn iter(&self) -> impl Iterator<Item = u8> + '_ {
        (0..=255u8).filter(|&r| self.contains(r))
    }
}

/// Emits (to `out`) `dsts[i] = srcs[i]` for all i as if at once, using
/// `temp` to break cycles (`temp` must be neither a source nor a destination).
pub fn parallel_move(mut out: impl FnMut(Instr), moves: &[(u8, Src)], temp: u8) {
    let mut pending: Vec<(u8, u8)> = Vec::new();
    for &(dst, src) in moves {
        if let Src::Reg(s) = src {
            if s != dst {
                pending.push((dst, s));
            }
        }
    }
    while !pending.is_empty() {
        let free = pending.iter().position(|&(d, _)| !pending.iter().any(|&(_, s)| s == d));
        match free {
            Some(i) => {
                let (d, s) = pending.remove(i);
                out(Instr::Mov { rd: Reg(d), rs: Reg(s) });
            }
            None => {
                // Only cycles are left: park one destination's value in `temp`.
                let d = pending[0].0;
                out(Instr::Mov { rd: Reg(temp), rs: Reg(d) });
                for m in &mut pending {
                    if m.1 == d {
                        m.1 = temp;
                    }
                }
            }
        }
    }
    // Constants and spilled values read no register a move above could have overwritten.
    for &(dst, src) in moves {
        match src {
            Src::Imm(v) => out(Instr::Li { rd: Reg(dst), imm: v as i64 }),
            Src::Frame(off) => out(Instr::Ldsp { rd: Reg(dst), off }),
            Src::Reg(_) => {}
        }
    }
}

/// Writes Manda code: instructions, label positions and the targets to patch.
#[derive(Default)]
pub struct Emitter {
    /// The code section's contents so far.
    pub code: Vec<u8>,
    /// Each global label's offset in `code`, once bound.
    pub labels: Vec<Option<u64>>,
    /// (offset of an 8-byte field in `code`, global label): the label's
    /// address is added to what the field holds — 0 for a jump's target,
    /// the type id in the high half for a function reference.
    fixups: Vec<(usize, u32)>,
    /// The address of `code[0]` in the executable.
    pub base: u64,
    /// Instructions and label headers so far (an executable has at most [`MAX_CODE_ITEMS`]).
    pub items: usize,
}

impl Emitter {
    /// An emitter whose code starts at address `base`.
    pub fn new(base: u64) -> Emitter {
        Emitter { base, ..Default::default() }
    }
    /// A new label.
    pub fn label(&mut self) -> u32 {
        self.labels.push(None);
        (self.labels.len() - 1) as u32
    }
    /// Binds `label` here.
    pub fn bind(&mut self, label: u32) {
        self.labels[label as usize] = Some(self.code.len() as u64);
    }
    /// Whether the code has passed what an executable may hold.
    pub fn too_large(&self) -> bool {
        self.items > MAX_CODE_ITEMS
    }
    /// A named label header here (a function's name, shown in traps).
    pub fn named(&mut self, name: &str) {
        self.items += 1;
        self.code.push(1);
        self.code.extend_from_slice(&(name.len() as u64).to_le_bytes());
        self.code.extend_from_slice(name.as_bytes());
    }
    /// Appends an instruction.
    pub fn ins(&mut self, instr: Instr) {
        self.items += 1;
        instr.encode(&mut self.code);
    }
    /// Appends a jump, branch, call or fork to `label` (its target is its last operand, encoded as 0).
    pub fn jump(&mut self, instr: Instr, label: u32) {
        self.items += 1;
        instr.encode(&mut self.code);
        self.fixups.push((self.code.len() - 8, label));
    }
    /// Appends `li rd, (ty << 32) + the address of label`: a function
    /// reference (canonical type id `ty`, thunk at `label`).
    pub fn func_ref(&mut self, rd: Reg, ty: u32, label: u32) {
        self.items += 1;
        Instr::Li { rd, imm: (u64::from(ty) << 32) as i64 }.encode(&mut self.code);
        self.fixups.push((self.code.len() - 8, label));
    }
    /// Appends an instruction or a jump whose label is one of this emitter's.
    pub fn item(&mut self, item: &Item) {
        match item {
            Item::Ins(i) => self.ins(*i),
            Item::Jump(i, l) => self.jump(*i, *l),
            other => unreachable!("only instructions and jumps are emitted as they are, not {other:?}"),
        }
    }
    /// Bytes the emitter holds on the heap.
    pub fn heap_bytes(&self) -> u64 {
        (self.code.capacity() + self.labels.capacity() * 16 + self.fixups.capacity() * 16) as u64
    }
    /// The address `label` is bound at.
    pub fn addr_of(&self, label: u32) -> u64 {
        self.base + self.labels[label as usize].expect("every label is bound")
    }
    /// Patches every target; the code is complete.
    pub fn finish(mut self) -> Vec<u8> {
        for &(at, label) in &self.fixups {
            let addr = self.base + self.labels[label as usize].expect("every label is bound");
            let v = u64::from_le_bytes(self.code[at..at + 8].try_into().expect("8 bytes")) + addr;
            self.code[at..at + 8].copy_from_slice(&v.to_le_bytes());
        }
        std::mem::take(&mut self.code)
    }
}

#[cfg(test)]
mod tests {
    use super::{parallel_move, Src};
    use manda::isa::Instr;
    use proptest::prelude::*;

    proptest! {
        /// Every destination ends with its source's value from before the
        /// moves, cycles (swaps, rotations) included, and only the
        /// destinations and the temporary change.
        #[test]
        fn a_parallel_move_is_as_if_at_once(
            dsts in Just((0u8..8).collect::<Vec<u8>>()).prop_shuffle(),
            srcs in prop::collection::vec(prop_oneof![3 => (0u8..8).prop_map(Src::Reg), 1 => any::<u16>().prop_map(|v| Src::Imm(u64::from(v)))], 8),
            n in 0usize..=8,
        ) {
            let moves: Vec<(u8, Src)> = dsts.iter().copied().zip(srcs.iter().copied()).take(n).collect();
            let temp = 9;
            let mut out = Vec::new();
            parallel_move(|i| out.push(i), &moves, temp);
            let before: Vec<u64> = (0..10).map(|r| 1000 + r).collect();
            let mut regs = before.clone();
            for i in out {
                match i {
                    Instr::Mov { rd, rs } => regs[usize::from(rd.0)] = regs[usize::from(rs.0)],
                    Instr::Li { rd, imm } => regs[usize::from(rd.0)] = imm as u64,
                    other => panic!("unexpected {other:?}"),
                }
            }
            for r in 0..9u8 {
                let want = match moves.iter().find(|(d, _)| *d == r) {
                    Some((_, Src::Reg(s))) => before[usize::from(*s)],
                    Some((_, Src::Imm(v))) => *v,
                    Some((_, Src::Frame(_))) => unreachable!(),
                    None => before[usize::from(r)],
                };
                prop_assert_eq!(regs[usize::from(r)], want, "register {} after {:?}", r, moves);
            }
        }
    }
}
