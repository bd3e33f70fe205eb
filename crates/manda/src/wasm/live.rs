//! Liveness of a body's window registers, to save only what a call must keep.
//!
//! The translator first marks every local and every slot below a call's
//! arguments as live across it. A backward dataflow pass over the items
//! (the usual one: a register is live where some path reads it before it is
//! written) narrows each call's set to the registers read after the call.
//! A `jr` (a `br_table`'s jump) may go to any label of the body.

use super::ir::{Item, RegSet, Src, WINDOW};
use crate::isa::Instr;
use std::collections::HashMap;

/// The window registers `instr` reads and the one it writes.
fn uses_defs(instr: &Instr) -> (RegSet, Option<u8>) {
    let rd = instr.rd().map(|r| r.0);
    let mut regs = Vec::with_capacity(4);
    instr.map_regs(&mut |r| {
        regs.push(r.0);
        r
    });
    let mut uses = RegSet::default();
    // The result register is the first operand; the rest are read.
    for &r in &regs[usize::from(rd.is_some())..] {
        if r < WINDOW {
            uses.insert(r);
        }
    }
    (uses, rd.filter(|&r| r < WINDOW))
}

/// The registers live after each item, and each item's writes.
fn analyze(items: &[Item], results: usize) -> (Vec<RegSet>, Vec<RegSet>) {
    let n = items.len();
    let mut label_at: HashMap<u32, usize> = HashMap::new();
    for (i, item) in items.iter().enumerate() {
        if let Item::Bind(l) = item {
            label_at.insert(*l, i);
        }
    }
    let all_labels: Vec<usize> = label_at.values().copied().collect();
    let mut uses = vec![RegSet::default(); n];
    let mut defs = vec![RegSet::default(); n];
    let mut succ: Vec<Vec<usize>> = vec![Vec::new(); n];
    let next = |i: usize| if i + 1 < n { vec![i + 1] } else { vec![] };
    for (i, item) in items.iter().enumerate() {
        match item {
            Item::Ins(instr) | Item::Jump(instr, _) => {
                let (u, d) = uses_defs(instr);
                uses[i] = u;
                if let Some(d) = d {
                    defs[i].insert(d);
                }
                succ[i] = match (item, instr) {
                    (_, Instr::Trap { .. } | Instr::Exit { .. } | Instr::Halt {} | Instr::Ret {}) => vec![],
                    (_, Instr::Jr { .. }) => all_labels.clone(),
                    (Item::Jump(_, l), Instr::Jmp { .. }) => vec![label_at[l]],
                    (Item::Jump(_, _), Instr::La { .. } | Instr::Fork { .. }) => next(i),
                    (Item::Jump(_, l), _) => {
                        let mut s = next(i);
                        s.push(label_at[l]);
                        s
                    }
                    _ => next(i),
                };
            }
            Item::Bind(_) => succ[i] = next(i),
            Item::TableEntry(l) => succ[i] = vec![label_at[l]],
            Item::Call(call) => {
                for a in &call.args {
                    if let Src::Reg(r) = a {
                        if *r < WINDOW {
                            uses[i].insert(*r);
                        }
                    }
                }
                for &d in &call.dsts {
                    defs[i].insert(d);
                }
                succ[i] = next(i);
            }
            Item::Fork(rd) => {
                defs[i].insert(*rd);
                succ[i] = next(i);
            }
            Item::Return => {
                for r in 0..results as u8 {
                    uses[i].insert(r);
                }
            }
        }
    }
    let mut live_in = vec![RegSet::default(); n];
    let mut live_out = vec![RegSet::default(); n];
    let mut changed = true;
    while changed {
        changed = false;
        for i in (0..n).rev() {
            let mut out = RegSet::default();
            for &s in &succ[i] {
                out.union_with(&live_in[s]);
            }
            let mut inn = out;
            for k in 0..4 {
                inn.0[k] &= !defs[i].0[k];
                inn.0[k] |= uses[i].0[k];
            }
            live_out[i] = out;
            if inn != live_in[i] {
                live_in[i] = inn;
                changed = true;
            }
        }
    }
    (live_out, defs)
}

/// Narrows the `live` set of every call in `items` to the registers read after it.
pub fn narrow_calls(items: &mut [Item], results: usize) {
    let (live_out, defs) = analyze(items, results);
    for (i, item) in items.iter_mut().enumerate() {
        if let Item::Call(call) = item {
            for k in 0..4 {
                call.live.0[k] &= live_out[i].0[k] & !defs[i].0[k];
            }
        }
    }
}

/// Removes moves and constants into registers nobody reads, and writes a
/// result straight to where the next instruction would move it
/// (`add x, …` then `mov y, x` with x dead after: `add y, …`).
pub fn simplify(items: Vec<Item>, results: usize) -> Vec<Item> {
    let (live_out, _) = analyze(&items, results);
    let dead = |i: usize, r: u8| r < WINDOW && !live_out[i].contains(r);
    let mut out: Vec<Item> = Vec::with_capacity(items.len());
    let mut skip_next = false;
    for (i, item) in items.iter().enumerate() {
        if std::mem::take(&mut skip_next) {
            continue;
        }
        if let Item::Ins(instr @ (Instr::Mov { rd, .. } | Instr::Li { rd, .. })) = item {
            if dead(i, rd.0) {
                let _ = instr;
                continue;
            }
        }
        if let (Item::Ins(mut instr), Some(Item::Ins(Instr::Mov { rd: y, rs: x }))) = (item.clone(), items.get(i + 1)) {
            if instr.rd() == Some(*x) && x.0 < WINDOW && dead(i + 1, x.0) && !matches!(instr, Instr::Pop { .. }) {
                *instr.rd_mut().expect("has a result register") = *y;
                out.push(Item::Ins(instr));
                skip_next = true;
                continue;
            }
        }
        out.push(item.clone());
    }
    out
}
