//! Emission: the code section of a translated module — the entry (memory,
//! globals, data, start, then the calls), the fork child's entry, every
//! function's body with its calls expanded, and the thunks the table's
//! entries point at.

use crate::ir::{parallel_move, CallSite, Callee, Emitter, Item, RegSet, Src, S1, S2, S3, WINDOW_BASE, ZERO};
use crate::{
    clobber_sets, func, host, indirect_sets, real, within_limit, ConstValue, Function, GlobalHome, Module, Options,
    TranslateError, STD,
};
use manda::isa::{Addr, Instr, Mem, Reg, Target};
use wasmparser::ValType;

/// One `--invoke`: its results (or the global's value) are printed.
pub(crate) enum Invocation {
    /// Call an exported function with these arguments' bits.
    Call(u32, Vec<u64>),
    /// Read an exported global.
    Read(u32),
}

/// What the emission lays out: the module, its functions with their
/// windows placed, and what the entry does.
#[derive(Clone, Copy)]
pub(crate) struct Program<'a> {
    pub(crate) module: &'a Module,
    pub(crate) functions: &'a [Function],
    /// The functions a call through a table may reach.
    pub(crate) indirect_targets: &'a [u32],
    /// The functions a reference may name: each has a thunk.
    pub(crate) referenced: &'a [u32],
    /// Data segments: (offset in the module, memory offset, rodata address, length).
    pub(crate) segments: &'a [(u64, u64, u64, u64)],
    /// The trap instantiation ends in, if a segment does not fit.
    pub(crate) init_trap: Option<u8>,
    pub(crate) start: Option<u32>,
    /// What to call or read, and print, in order.
    pub(crate) invokes: &'a [Invocation],
    /// `_start`, unless there are invocations.
    pub(crate) entry: Option<u32>,
    /// Whether `manda.fork` is imported: the child entry is needed.
    pub(crate) forks: bool,
    /// Where the code section's header is.
    pub(crate) code_base: u64,
    /// Where rodata starts.
    pub(crate) rodata_base: u64,
    /// Where the data section's contents start.
    pub(crate) data_base: u64,
    /// Where a function reference is stored in rodata or the data section
    /// (an address), and the function's index: written once its thunk is placed.
    pub(crate) ref_sites: &'a [(u64, u32)],
}

/// Emits `program`'s code section, writing the function references it
/// notes into `rodata` and `data`; stops when the translation would hold
/// more than the memory limit (it holds `held` bytes besides the code).
pub(crate) fn code(
    program: Program<'_>,
    options: &Options,
    held: u64,
    rodata: &mut [u8],
    data: &mut [u8],
) -> Result<Vec<u8>, TranslateError> {
    let Program {
        module,
        functions,
        indirect_targets,
        referenced,
        segments,
        init_trap,
        start,
        invokes,
        entry,
        forks,
        code_base,
        rodata_base,
        data_base,
        ref_sites,
    } = program;
    let clobbers = clobber_sets(functions, module, indirect_targets);
    let by_type = indirect_sets(&clobbers, module, indirect_targets);
    let indirect_clobber = |ty: u32| -> RegSet {
        let mut set = by_type.get(&ty).copied().unwrap_or_default();
        set.insert(S1);
        set
    };

    // Emission.
    let mut e = Emitter::new(code_base + 9);
    let func_labels: Vec<u32> = functions.iter().map(|_| e.label()).collect();
    let thunk_labels: Vec<u32> = functions.iter().map(|_| e.label()).collect();
    let child_label = e.label();
    let emit_call = |e: &mut Emitter, call: &CallSite, base: u8, clobbers: &[RegSet]| {
        let (callee_base, clobber) = match call.callee {
            Callee::Direct(g) => (functions[g as usize].base, clobbers[g as usize]),
            Callee::Indirect { ty, .. } => (STD, indirect_clobber(ty)),
        };
        let saved: Vec<u8> = call.live.iter().map(|x| real(x, base)).filter(|&x| clobber.contains(x)).collect();
        for &x in &saved {
            e.ins(Instr::Push { rs: Reg(x) });
        }
        let shift = saved.len() as i32 * 8;
        let moves: Vec<(u8, Src)> = call
            .args
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let dst = callee_base + i as u8;
                (
                    dst,
                    match *s {
                        Src::Reg(x) => Src::Reg(real(x, base)),
                        Src::Frame(off) => Src::Frame(off + shift),
                        imm => imm,
                    },
                )
            })
            .collect();
        parallel_move(|i| e.ins(i), &moves, S3);
        match call.callee {
            Callee::Direct(g) => e.jump(Instr::Call { target: Target(0) }, func_labels[g as usize]),
            Callee::Indirect { addr, .. } => e.ins(Instr::Callr { rs: Reg(real(addr, base)) }),
        }
        let moves: Vec<(u8, Src)> =
            call.dsts.iter().enumerate().map(|(i, &d)| (real(d, base), Src::Reg(callee_base + i as u8))).collect();
        parallel_move(|i| e.ins(i), &moves, S3);
        for &x in saved.iter().rev() {
            e.ins(Instr::Pop { rd: Reg(x) });
        }
    };

    // The entry: memory, globals, data, start, then the calls.
    e.named("main");
    if let Some((pages, _)) = module.memory {
        if pages > 0 {
            e.ins(Instr::Li { rd: Reg(S1), imm: (pages * 65536) as i64 });
            e.ins(Instr::Grow { rd: Reg(S1), rs: Reg(S1) });
        }
    }
    for g in &module.globals {
        if let GlobalHome::Reg(x) = g.home {
            let rd = Reg(real(x, 0));
            match g.init {
                ConstValue::Func(f) => e.func_ref(rd, module.canon_of(f), thunk_labels[f as usize]),
                // (A v128 global is never in a register.)
                bits => e.ins(Instr::Li { rd, imm: bits.bits() as i64 }),
            }
        }
    }
    match init_trap {
        Some(code) => e.ins(Instr::Trap { code }),
        None => {
            for &(_, offset, addr, len) in segments {
                e.ins(Instr::Li { rd: Reg(S1), imm: offset as i64 });
                e.ins(Instr::La { rd: Reg(S2), addr: Addr(addr) });
                e.ins(Instr::Li { rd: Reg(S3), imm: len as i64 });
                e.ins(Instr::Hput { dst: Reg(S1), src: Reg(S2), len: Reg(S3) });
            }
        }
    }
    let plain_call = |f: u32, args: Vec<Src>, results: usize| CallSite {
        callee: Callee::Direct(f),
        live: RegSet::default(),
        args,
        dsts: (0..results as u8).collect(),
    };
    if let Some(f) = start {
        emit_call(&mut e, &plain_call(f, vec![], 0), WINDOW_BASE, &clobbers);
    }
    for invocation in invokes {
        let results: Vec<ValType> = match invocation {
            Invocation::Call(f, args) => {
                let ty = module.func_type(*f);
                let call = plain_call(*f, args.iter().map(|&a| Src::Imm(a)).collect(), ty.results().len());
                emit_call(&mut e, &call, WINDOW_BASE, &clobbers);
                ty.results().to_vec()
            }
            Invocation::Read(g) => {
                let global = &module.globals[*g as usize];
                let rd = Reg(WINDOW_BASE);
                e.ins(match global.home {
                    GlobalHome::Const(v) => Instr::Li { rd, imm: v as i64 },
                    GlobalHome::Reg(x) => Instr::Mov { rd, rs: Reg(real(x, WINDOW_BASE)) },
                    GlobalHome::Mem(addr) => {
                        Instr::Ld64 { rd, mem: Mem { base: Reg(real(ZERO, 0)), off: addr as i32 } }
                    }
                });
                if global.ty == ValType::V128 {
                    // Its high half, in the next word (a v128 global is always in memory).
                    if let GlobalHome::Mem(addr) = global.home {
                        let mem = Mem { base: Reg(real(ZERO, 0)), off: addr as i32 + 8 };
                        e.ins(Instr::Ld64 { rd: Reg(WINDOW_BASE + 1), mem });
                    }
                }
                crate::lowered(&[global.ty])
            }
        };
        let mut high_half = false;
        for (i, t) in results.iter().enumerate() {
            let rs = Reg(WINDOW_BASE + i as u8);
            if *t == ValType::V128 && !options.raw_results {
                // A v128 is one line: 0x and its 32 hex digits, as --invoke reads one.
                if !high_half {
                    print_v128(&mut e, rs, Reg(WINDOW_BASE + i as u8 + 1));
                }
                high_half = !high_half;
                continue;
            }
            if options.raw_results {
                // `=` marks a result line, apart from anything the function printed.
                e.ins(Instr::Li { rd: Reg(S1), imm: i64::from(b'=') });
                e.ins(Instr::Putc { rs: Reg(S1) });
            }
            e.ins(match (t, options.raw_results) {
                (ValType::F32, false) => Instr::Printf32 { rs },
                (ValType::F64, false) => Instr::Printf { rs, digits: 255 },
                _ => Instr::Printi { rs },
            });
        }
        if options.raw_results {
            // An empty line ends each call's results.
            e.ins(Instr::Li { rd: Reg(S1), imm: 10 });
            e.ins(Instr::Putc { rs: Reg(S1) });
        }
    }
    if let Some(f) = entry {
        emit_call(&mut e, &plain_call(f, vec![], 0), WINDOW_BASE, &clobbers);
    }
    e.ins(Instr::Exit { rs: Reg(0) });

    // A context `manda.fork` starts: calls the table's function with its argument, then ends.
    if forks {
        e.bind(child_label);
        let ty = module.types.iter().position(|t| t.params() == [ValType::I32] && t.results().is_empty());
        match (ty, module.tables.first()) {
            (Some(ty), Some(table)) => {
                let ty = module.canon[ty];
                // The same checks as `call_indirect`, and the same traps.
                let (undefined, null_or_mismatch, null) = (e.label(), e.label(), e.label());
                let found = e.label();
                for item in func::table_lookup(host::FORK_FN, table, ty, [undefined, null_or_mismatch], false) {
                    e.item(&item.map_regs(|x| real(x, WINDOW_BASE)));
                }
                e.jump(Instr::Jmp { target: Target(0) }, found);
                e.bind(undefined);
                e.ins(Instr::Trap { code: 5 });
                e.bind(null_or_mismatch);
                for item in func::null_or_mismatch(null) {
                    e.item(&item.map_regs(|x| real(x, WINDOW_BASE)));
                }
                e.bind(null);
                e.ins(Instr::Trap { code: 6 });
                e.bind(found);
                let call = CallSite {
                    callee: Callee::Indirect { ty, addr: S1 },
                    live: RegSet::default(),
                    args: vec![Src::Reg(host::FORK_ARG)],
                    dsts: vec![],
                };
                emit_call(&mut e, &call, WINDOW_BASE, &clobbers);
                e.ins(Instr::Halt {});
            }
            _ => e.ins(Instr::Trap { code: 7 }),
        }
    }

    // The functions.
    let mut used_names: std::collections::HashSet<String> = std::collections::HashSet::new();
    used_names.insert("main".into());
    for (i, f) in functions.iter().enumerate() {
        let mut name = format!("${}", f.name);
        let mut n = 1;
        while !used_names.insert(name.clone()) {
            n += 1;
            name = format!("${}#{n}", f.name);
        }
        e.named(&name);
        e.bind(func_labels[i]);
        let local: Vec<u32> = (0..f.labels).map(|_| e.label()).collect();
        // Leaving the function, by `ret` or a tail call: its frame goes.
        let free_frame = |e: &mut Emitter| {
            if f.frame > 0 {
                e.ins(Instr::Sfree { size: f.frame });
            }
        };
        let map = |ins: Instr| ins.map_regs(&mut |r| Reg(real(r.0, f.base)));
        for item in &f.items {
            match item {
                Item::Ins(ins) => e.ins(map(*ins)),
                Item::Jump(ins, l) => e.jump(map(*ins), local[*l as usize]),
                Item::Bind(l) => e.bind(local[*l as usize]),
                Item::TableEntry(l) => e.jump(Instr::Jmp { target: Target(0) }, local[*l as usize]),
                Item::Call(call) => emit_call(&mut e, call, f.base, &clobbers),
                Item::Fork(rd) => e.jump(Instr::Fork { rd: Reg(real(*rd, f.base)), target: Target(0) }, child_label),
                Item::FuncRef { rd, func } => {
                    e.func_ref(Reg(real(*rd, f.base)), module.canon_of(*func), thunk_labels[*func as usize])
                }
                Item::Return => {
                    free_frame(&mut e);
                    e.ins(Instr::Ret {});
                }
                Item::TailCall { callee, .. } => {
                    free_frame(&mut e);
                    match *callee {
                        Callee::Direct(g) => e.jump(Instr::Jmp { target: Target(0) }, func_labels[g as usize]),
                        Callee::Indirect { addr, .. } => e.ins(Instr::Jr { rs: Reg(real(addr, f.base)) }),
                    }
                }
            }
        }
        within_limit(options, held + e.heap_bytes(), &f.name)?;
        if e.too_large() {
            return Err(TranslateError {
                offset: None,
                message: format!(
                    "the translation passes the largest executable ({} instructions) at function `{}`",
                    manda::exe::MAX_CODE_ITEMS,
                    f.name
                ),
            });
        }
    }
    // Thunks: the functions a reference names, called with their arguments
    // in the standard registers. Just before each, a jump to the function
    // itself: where a tail call through a table goes (`func::TAIL_ENTRY`
    // bytes before the thunk), the arguments already in the function's window.
    for &f in referenced {
        e.jump(Instr::Jmp { target: Target(0) }, func_labels[f as usize]);
        e.bind(thunk_labels[f as usize]);
        let ty = module.func_type(f);
        let call = CallSite {
            callee: Callee::Direct(f),
            live: RegSet::default(),
            args: (0..ty.params().len() as u8).map(Src::Reg).collect(),
            dsts: (0..ty.results().len() as u8).collect(),
        };
        // The thunk's own window is the standard registers.
        emit_call(&mut e, &call, STD, &clobbers);
        e.ins(Instr::Ret {});
    }
    // A function reference holds its thunk's address in 32 bits.
    if e.base + e.code.len() as u64 > u64::from(u32::MAX) {
        return Err(TranslateError { offset: None, message: "the translated code passes 4 GiB".into() });
    }
    for &(addr, f) in ref_sites {
        let value = (u64::from(module.canon_of(f)) << 32) | e.addr_of(thunk_labels[f as usize]);
        let (bytes, at) =
            if addr >= data_base { (&mut *data, addr - data_base) } else { (&mut *rodata, addr - rodata_base) };
        bytes[at as usize..at as usize + 8].copy_from_slice(&value.to_le_bytes());
    }
    Ok(e.finish())
}

/// Prints the v128 in `lo`, `hi` as `0x` and 32 hex digits, most
/// significant first, and a newline. Uses the scratch registers.
fn print_v128(e: &mut Emitter, lo: Reg, hi: Reg) {
    let (c, above, nine) = (Reg(S1), Reg(S2), Reg(S3));
    for ch in [b'0', b'x'] {
        e.ins(Instr::Li { rd: c, imm: i64::from(ch) });
        e.ins(Instr::Putc { rs: c });
    }
    e.ins(Instr::Li { rd: nine, imm: 9 });
    for digit in (0..32).rev() {
        let half = if digit >= 16 { hi } else { lo };
        e.ins(Instr::Shri { rd: c, ra: half, imm: (digit % 16) * 4 });
        e.ins(Instr::Andi { rd: c, ra: c, imm: 15 });
        // '0' + d, or 'a' + d - 10 (39 further) past 9.
        e.ins(Instr::Sltu { rd: above, ra: nine, rb: c });
        e.ins(Instr::Muli { rd: above, ra: above, imm: 39 });
        e.ins(Instr::Add { rd: c, ra: c, rb: above });
        e.ins(Instr::Addi { rd: c, ra: c, imm: 48 });
        e.ins(Instr::Putc { rs: c });
    }
    e.ins(Instr::Li { rd: c, imm: 10 });
    e.ins(Instr::Putc { rs: c });
}
