//! Liveness of a body's window registers, to save only what a call must keep.
//!
//! The translator first marks every local and every slot below a call's
//! arguments as live across it. A backward dataflow pass over the items
//! (the usual one: a register is live where some path reads it before it is
//! written) narrows each call's set to the registers read after the call.
//! A `jr` (a `br_table`'s jump) may go to any label of the body.

use super::ir::{Item, RegSet, Src, WINDOW};
use manda::isa::Instr;

/// The window registers `instr` reads and those it writes (`rd`, and a
/// vector result's high half `rdh`).
fn uses_defs(instr: &Instr) -> (RegSet, [Option<u8>; 2]) {
    let (rd, rdh) = (instr.rd().map(|r| r.0), instr.rdh().map(|r| r.0));
    let mut uses = RegSet::default();
    // The result registers are the first operands; the rest are read.
    let mut skip = usize::from(rd.is_some()) + usize::from(rdh.is_some());
    instr.map_regs(&mut |r| {
        if skip > 0 {
            skip -= 1;
        } else if r.0 < WINDOW {
            uses.insert(r.0);
        }
        r
    });
    let window = |r: Option<u8>| r.filter(|&r| r < WINDOW);
    (uses, [window(rd), window(rdh)])
}

/// Where control may go after an item: up to two places, or any label (`jr`).
#[derive(Clone, Copy)]
enum Next {
    None,
    One(usize),
    Two(usize, usize),
    AnyLabel,
}

/// Bytes [`simplify`] holds beside a body of `n` items at its peak: the
/// liveness analysis's sets and successors (the translator counts them
/// against the memory limit before it finishes a function).
pub fn analysis_bytes(n: usize) -> u64 {
    (n * (4 * std::mem::size_of::<RegSet>() + std::mem::size_of::<Next>())) as u64
}

/// The registers live after each item, and each item's writes.
fn analyze(items: &[Item], labels: u32, results: usize) -> (Vec<RegSet>, Vec<RegSet>) {
    let n = items.len();
    let mut label_at = vec![usize::MAX; labels as usize];
    for (i, item) in items.iter().enumerate() {
        if let Item::Bind(l) = item {
            label_at[*l as usize] = i;
        }
    }
    let all_labels: Vec<usize> = label_at.iter().copied().filter(|&i| i != usize::MAX).collect();
    let mut uses = vec![RegSet::default(); n];
    let mut defs = vec![RegSet::default(); n];
    let mut succ = vec![Next::None; n];
    let next = |i: usize| if i + 1 < n { Next::One(i + 1) } else { Next::None };
    for (i, item) in items.iter().enumerate() {
        match item {
            Item::Ins(instr) | Item::Jump(instr, _) => {
                let (u, d) = uses_defs(instr);
                uses[i] = u;
                for d in d.into_iter().flatten() {
                    defs[i].insert(d);
                }
                succ[i] = match (item, instr) {
                    (_, Instr::Trap { .. } | Instr::Exit { .. } | Instr::Halt {} | Instr::Ret {}) => Next::None,
                    (_, Instr::Jr { .. }) => Next::AnyLabel,
                    (Item::Jump(_, l), Instr::Jmp { .. }) => Next::One(label_at[*l as usize]),
                    (Item::Jump(_, _), Instr::La { .. } | Instr::Fork { .. }) => next(i),
                    (Item::Jump(_, l), _) => match next(i) {
                        Next::One(f) => Next::Two(f, label_at[*l as usize]),
                        _ => Next::One(label_at[*l as usize]),
                    },
                    _ => next(i),
                };
            }
            Item::Bind(_) => succ[i] = next(i),
            Item::TableEntry(l) => succ[i] = Next::One(label_at[*l as usize]),
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
            Item::Fork(rd) | Item::FuncRef { rd, .. } => {
                defs[i].insert(*rd);
                succ[i] = next(i);
            }
            Item::Return => {
                for r in 0..results as u8 {
                    uses[i].insert(r);
                }
            }
            Item::TailCall { args, .. } => {
                for r in 0..*args {
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
            match succ[i] {
                Next::None => {}
                Next::One(a) => out = live_in[a],
                Next::Two(a, b) => {
                    out = live_in[a];
                    out.union_with(&live_in[b]);
                }
                Next::AnyLabel => {
                    for &a in &all_labels {
                        out.union_with(&live_in[a]);
                    }
                }
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

/// One liveness pass, then its two uses: each call's `live` set narrowed to
/// the registers read after it; moves and constants into registers nobody
/// reads removed; a result moved on at once written straight where it goes
/// (`add x, …` then `mov y, x` with x dead after: `add y, …`).
pub fn simplify(mut items: Vec<Item>, labels: u32, results: usize) -> Vec<Item> {
    let (live_out, defs) = analyze(&items, labels, results);
    for (i, item) in items.iter_mut().enumerate() {
        if let Item::Call(call) = item {
            for k in 0..4 {
                call.live.0[k] &= live_out[i].0[k] & !defs[i].0[k];
            }
        }
    }
    let dead = |i: usize, r: u8| r < WINDOW && !live_out[i].contains(r);
    let mut out: Vec<Item> = Vec::with_capacity(items.len());
    let mut skip_next = false;
    for (i, item) in items.iter().enumerate() {
        if std::mem::take(&mut skip_next) {
            continue;
        }
        if let Item::Ins(Instr::Mov { rd, .. } | Instr::Li { rd, .. }) = item {
            if dead(i, rd.0) {
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
