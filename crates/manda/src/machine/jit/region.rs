//! Which instructions a region holds: everything reachable from its root
//! by falling through, branching and jumping (not by calls), up to a size
//! past which the rest is left to regions of its own.

use crate::machine::code::{Code, Op};
use std::collections::{BTreeSet, HashSet};

/// Instructions a region holds at most: the code reachable from a root
/// that holds more is left to the interpreter. (Compile time grows in
/// proportion to a region's size, some 10–80 µs an instruction here.)
const MAX_INSTRUCTIONS: usize = 20_000;

/// Where control can go after an instruction.
pub(super) enum Next {
    /// On to the next index.
    Fall,
    /// To `t` or on to the next index.
    Branch(u32),
    /// To `t` only.
    Jump(u32),
    /// A call: the callee, then (after its return) the next index.
    Call,
    /// Out of the region: a return, an indirect jump, an end.
    Leave,
}

/// Where control can go after `op` (a plain op).
pub(super) fn next(op: &Op) -> Next {
    match *op {
        Op::Jmp { target } => Next::Jump(target),
        Op::Beq { target, .. }
        | Op::Bne { target, .. }
        | Op::Blt { target, .. }
        | Op::Bge { target, .. }
        | Op::Bltu { target, .. }
        | Op::Bgeu { target, .. }
        | Op::Beqz { target, .. }
        | Op::Bnez { target, .. } => Next::Branch(target),
        Op::Call { .. } | Op::Callr { .. } => Next::Call,
        Op::Ret {} | Op::Jr { .. } | Op::Halt {} | Op::End | Op::Trap { .. } | Op::Exit { .. } => Next::Leave,
        _ => Next::Fall,
    }
}

/// A region: its instructions in index order, and which of them
/// start a block (control arrives there other than by falling through).
pub(super) struct Region {
    /// Its instructions' indices, ascending.
    pub(super) indices: BTreeSet<u32>,
    /// The indices control reaches other than from the index before.
    pub(super) leaders: HashSet<u32>,
}

impl Region {
    /// The region rooted at `root`; `None` if it holds more than
    /// [`MAX_INSTRUCTIONS`].
    pub(super) fn discover(code: &Code, root: u32) -> Option<Region> {
        let mut indices = BTreeSet::new();
        let mut leaders = HashSet::from([root]);
        let mut todo = vec![root];
        while let Some(i) = todo.pop() {
            if (i as usize) >= code.ops.len() || !indices.insert(i) {
                continue;
            }
            if indices.len() > MAX_INSTRUCTIONS {
                return None;
            }
            match next(&code.plain_op(i as usize)) {
                Next::Fall => todo.push(i + 1),
                Next::Branch(t) => {
                    leaders.extend([t, i + 1]);
                    todo.extend([t, i + 1]);
                }
                Next::Jump(t) => {
                    leaders.insert(t);
                    todo.push(t);
                }
                Next::Call => {
                    leaders.insert(i + 1);
                    todo.push(i + 1);
                }
                Next::Leave => {
                    // The jumps right after an indirect jump: a jump table
                    // (where `br_table` is translated to). Its entries are
                    // leaders, so that the jump stays in the region.
                    if matches!(code.plain_op(i as usize), Op::Jr { .. }) {
                        let mut k = i + 1;
                        while (k as usize) < code.ops.len() && matches!(code.plain_op(k as usize), Op::Jmp { .. }) {
                            leaders.insert(k);
                            todo.push(k);
                            k += 1;
                        }
                    }
                }
            }
        }
        Some(Region { indices, leaders })
    }
}
