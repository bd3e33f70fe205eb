//! Property tests: encode/decode and assemble/disassemble are identities,
//! and the loader never panics on arbitrary bytes.

use manda::exe::{Executable, Item, SectionKind, SECTION_HEADER_LEN};
use manda::isa::{Addr, Instr, Kind, Mem, Opcode, Operand, Reg, Target, F64};
use proptest::prelude::*;

fn operand(kind: Kind) -> BoxedStrategy<Operand> {
    match kind {
        Kind::Reg => any::<u8>().prop_map(|r| Operand::Reg(Reg(r))).boxed(),
        Kind::I32 => any::<i32>().prop_map(Operand::I32).boxed(),
        Kind::U32 => any::<u32>().prop_map(Operand::U32).boxed(),
        Kind::I64 => any::<i64>().prop_map(Operand::I64).boxed(),
        Kind::U8 => any::<u8>().prop_map(Operand::U8).boxed(),
        Kind::F64 => any::<u64>().prop_map(|b| Operand::F64(F64(b))).boxed(),
        Kind::Addr => any::<u64>().prop_map(|a| Operand::Addr(Addr(a))).boxed(),
        Kind::Target => any::<u64>().prop_map(|a| Operand::Target(Target(a))).boxed(),
        Kind::Mem => (any::<u8>(), any::<i32>()).prop_map(|(b, off)| Operand::Mem(Mem { base: Reg(b), off })).boxed(),
    }
}

fn instr() -> impl Strategy<Value = Instr> {
    (0..Opcode::ALL.len()).prop_flat_map(|i| {
        let op = Opcode::ALL[i];
        let operands: Vec<_> = op.operands().iter().map(|(_, kind)| operand(*kind)).collect();
        operands.prop_map(move |ops| Instr::from_operands(op, &ops).expect("kinds match the table"))
    })
}

/// An operand that makes instructions interact: one of the eight seeded
/// registers (192 …), a small immediate or offset.
fn dense_operand(kind: Kind) -> BoxedStrategy<Operand> {
    let reg = (192u8..200).prop_map(Reg);
    match kind {
        Kind::Reg => reg.prop_map(Operand::Reg).boxed(),
        Kind::I32 => (-16i32..16).prop_map(Operand::I32).boxed(),
        Kind::I64 => (-16i64..16).prop_map(Operand::I64).boxed(),
        Kind::Mem => (reg, -8i32..64).prop_map(|(base, off)| Operand::Mem(Mem { base, off })).boxed(),
        other => operand(other),
    }
}

/// An instruction with [`dense_operand`]s, three times in four one of those
/// that the interpreter fuses into pairs (so that its pairs come up often).
fn dense_instr() -> impl Strategy<Value = Instr> {
    use Opcode::*;
    const FUSED: [Opcode; 25] = [
        Addi, Add, Li, Mov, Blt, Bltu, Bne, Bge, Ld64, Ld8u, Fsub, Fadd, Fmul, St8, Pop, Ret, Addi32, Hld64, Hld32s,
        Hld8u, Hst64, Hst32, Hst8, Bgeu, Hgrow,
    ];
    prop_oneof![1 => 0..Opcode::ALL.len(), 3 => (0..FUSED.len()).prop_map(|i| Opcode::ALL.iter().position(|&o| o == FUSED[i]).unwrap())]
    .prop_flat_map(|i| {
        let op = Opcode::ALL[i];
        let operands: Vec<_> = op.operands().iter().map(|(_, kind)| dense_operand(*kind)).collect();
        operands.prop_map(move |ops| Instr::from_operands(op, &ops).expect("kinds match the table"))
    })
}

/// One element of a generated code section; targets are indices into the
/// program's boundaries, resolved after layout.
#[derive(Debug, Clone)]
enum GenItem {
    Anon,
    Named(usize),
    Instr(Instr, usize),
}

const NAME_STEMS: [&str; 8] = ["f", "a", "sp ace", ".L", "main", "é", "q\"", "bits"];

fn section() -> impl Strategy<Value = (SectionKind, Vec<u8>, Vec<GenItem>)> {
    prop_oneof![
        (prop::collection::vec(any::<u8>(), 0..40)).prop_map(|b| (SectionKind::Data, b, vec![])),
        (prop::collection::vec(any::<u8>(), 0..40)).prop_map(|b| (SectionKind::Rodata, b, vec![])),
        prop::collection::vec(
            prop_oneof![
                Just(GenItem::Anon),
                (0..NAME_STEMS.len()).prop_map(GenItem::Named),
                (instr(), any::<usize>()).prop_map(|(i, t)| GenItem::Instr(i, t)),
                (instr(), any::<usize>()).prop_map(|(i, t)| GenItem::Instr(i, t)),
            ],
            0..20
        )
        .prop_map(|items| (SectionKind::Code, vec![], items)),
    ]
}

/// Lays out generated sections into executable bytes with valid targets.
fn build(sections: &[(SectionKind, Vec<u8>, Vec<GenItem>)]) -> Vec<u8> {
    let mut names = 0usize;
    let name_of = |stem: usize, n: usize| format!("{}{n}", NAME_STEMS[stem]);
    // Pass 1: boundaries.
    let mut boundaries = Vec::new();
    let mut addr = 0u64;
    for (kind, bytes, items) in sections {
        addr += SECTION_HEADER_LEN;
        if *kind != SectionKind::Code {
            addr += bytes.len() as u64;
            continue;
        }
        for item in items {
            boundaries.push(addr);
            addr += match item {
                GenItem::Anon => 1,
                GenItem::Named(stem) => {
                    names += 1;
                    9 + name_of(*stem, names).len() as u64
                }
                GenItem::Instr(i, _) => i.opcode().encoded_len() as u64,
            };
        }
    }
    // Pass 2: bytes.
    let mut out = Vec::new();
    names = 0;
    for (kind, bytes, items) in sections {
        let mut contents = bytes.clone();
        for item in items {
            match item {
                GenItem::Anon => contents.push(0),
                GenItem::Named(stem) => {
                    names += 1;
                    let name = name_of(*stem, names);
                    contents.push(1);
                    contents.extend_from_slice(&(name.len() as u64).to_le_bytes());
                    contents.extend_from_slice(name.as_bytes());
                }
                GenItem::Instr(instr, pick) => {
                    let mut ops = instr.operands();
                    for op in &mut ops {
                        if let Operand::Target(_) = op {
                            *op = Operand::Target(Target(boundaries[pick % boundaries.len()]));
                        }
                    }
                    Instr::from_operands(instr.opcode(), &ops).unwrap().encode(&mut contents);
                }
            }
        }
        out.push(kind.byte());
        out.extend_from_slice(&(contents.len() as u64).to_le_bytes());
        out.extend_from_slice(&contents);
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn encode_decode_encode_is_identity(instr in instr()) {
        let mut bytes = Vec::new();
        instr.encode(&mut bytes);
        prop_assert_eq!(bytes.len(), instr.opcode().encoded_len());
        let decoded = Instr::decode(&bytes).unwrap();
        prop_assert_eq!(decoded, instr);
        let mut again = Vec::new();
        decoded.encode(&mut again);
        prop_assert_eq!(&again, &bytes);
        // Every strict prefix is reported as cut, never misread.
        for cut in 1..bytes.len() {
            prop_assert_eq!(Instr::decode(&bytes[..cut]), Err(Some(instr.opcode())));
        }
    }

    #[test]
    fn assemble_disassemble_assemble_is_identity(
        mut sections in prop::collection::vec(section(), 1..6),
    ) {
        sections.push((SectionKind::Code, vec![], vec![GenItem::Instr(Instr::Halt {}, 0)]));
        let bytes = build(&sections);
        let exe = Executable::load(&bytes).expect("generated executables are valid");
        prop_assert_eq!(exe.to_bytes(), bytes.clone());
        let text = manda::disasm::disassemble(&exe);
        let (again, _) = manda::asm::assemble(&text).map_err(|e| {
            TestCaseError::fail(format!("{}\n{text}", manda::diag::render(&e.diagnostics, "disasm", &text)))
        })?;
        prop_assert_eq!(again, bytes, "{}", text);
    }

    /// The machine keeps no table of addresses: an index is found from the
    /// loader's maps of where items start, and an address from an index by
    /// counting. Checked against the items decoded one by one.
    #[test]
    fn the_machine_maps_every_address_to_its_index_and_back(
        mut sections in prop::collection::vec(section(), 1..6),
    ) {
        sections.push((SectionKind::Code, vec![], vec![GenItem::Instr(Instr::Halt {}, 0)]));
        let exe = Executable::load(&build(&sections)).expect("generated executables are valid");
        let code = manda::machine::Code::new(&exe);
        let mut index = 0u32;
        for section in exe.sections.iter().filter(|s| s.kind == SectionKind::Code) {
            for item in section.items() {
                prop_assert_eq!(code.index_of(item.addr()), Some(index), "item at 0x{:x}", item.addr());
                prop_assert_eq!(exe.check_boundary(item.addr()), Ok(()));
                let starts_instr = matches!(item, Item::Instr { .. });
                prop_assert_eq!(code.instr_index(item.addr()), starts_instr.then_some(index));
                if let Item::Instr { addr, instr } = item {
                    prop_assert_eq!(code.addr_of(index as usize), addr);
                    prop_assert_eq!(code.instr(index as usize), Some(instr));
                    prop_assert!(code.is_instr(index as usize));
                    for inside in addr + 1..addr + instr.opcode().encoded_len() as u64 {
                        prop_assert_eq!(code.index_of(inside), None, "inside the instruction at 0x{:x}", addr);
                    }
                    index += 1;
                }
            }
            // The section's `End`: at its end address, which is no jump target.
            prop_assert_eq!(code.addr_of(index as usize), section.end());
            prop_assert_eq!(code.instr(index as usize), None);
            prop_assert!(!code.is_instr(index as usize));
            prop_assert_eq!(code.index_of(section.end()), None);
            prop_assert_eq!(code.instr_index(section.end()), None);
            index += 1;
        }
        prop_assert_eq!(code.ops.len(), index as usize);
        for section in exe.sections.iter().filter(|s| s.kind != SectionKind::Code) {
            prop_assert_eq!(code.index_of(section.start), None);
        }
    }

    #[test]
    fn the_loader_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let _ = Executable::load(&bytes);
    }

    #[test]
    fn the_loader_never_panics_on_mutated_valid_files(
        sections in prop::collection::vec(section(), 1..4), at in any::<usize>(), byte in any::<u8>(),
    ) {
        let mut bytes = build(&sections);
        if !bytes.is_empty() {
            let i = at % bytes.len();
            bytes[i] = byte;
        }
        if let Ok(exe) = Executable::load(&bytes) {
            prop_assert_eq!(exe.to_bytes(), bytes);
        }
    }
}

/// Random programs (random instructions with small registers values mixed
/// in, every static target valid) run under tight limits: each ends in an
/// outcome or a trap, never a panic or a hang.
mod machine_never_panics {
    use super::*;
    use manda::machine::{Config, Machine, SharedBuf};

    /// An instruction of the contexts-and-ports group, with operands.
    fn context_instr() -> impl Strategy<Value = Instr> {
        let group: Vec<Opcode> =
            Opcode::ALL.iter().copied().filter(|op| op.group() == manda::isa::Group::ContextsAndPorts).collect();
        (0..group.len()).prop_flat_map(move |i| {
            let op = group[i];
            let operands: Vec<_> = op.operands().iter().map(|(_, kind)| operand(*kind)).collect();
            operands.prop_map(move |ops| Instr::from_operands(op, &ops).expect("kinds match the table"))
        })
    }

    /// Any instructions, with forks and port operations more often than
    /// their share of the table.
    fn program() -> impl Strategy<Value = Vec<Instr>> {
        prop::collection::vec(prop_oneof![3 => instr(), 1 => context_instr()], 1..40)
    }

    /// An executable of a 64-byte data section (all 7s), then `instrs` as
    /// code with every static target on the first instruction, and `sleep`
    /// (which could hang the test, not the machine) as `nop`.
    fn random_executable(instrs: &[Instr]) -> Executable {
        let data_len = 64u64;
        let code_start = SECTION_HEADER_LEN * 2 + data_len;
        let mut code = Vec::new();
        for instr in instrs {
            let fixed = match *instr {
                // An endless sleep would hang the test, not the machine.
                Instr::Sleep { .. } => Instr::Nop {},
                other => {
                    let mut operands = other.operands();
                    for operand in &mut operands {
                        if let Operand::Target(_) = operand {
                            *operand = Operand::Target(Target(code_start));
                        }
                    }
                    Instr::from_operands(other.opcode(), &operands).unwrap()
                }
            };
            fixed.encode(&mut code);
        }
        let mut bytes = vec![SectionKind::Data.byte()];
        bytes.extend_from_slice(&data_len.to_le_bytes());
        bytes.extend(std::iter::repeat_n(7u8, data_len as usize));
        bytes.push(SectionKind::Code.byte());
        bytes.extend_from_slice(&(code.len() as u64).to_le_bytes());
        bytes.extend_from_slice(&code);
        Executable::load(&bytes).expect("a valid executable")
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]
        #[test]
        fn random_programs_end_cleanly(instrs in program(), seeds in prop::collection::vec(any::<u64>(), 8), threads in 1usize..3) {
            let exe = random_executable(&instrs);
            let config = Config { max_steps: Some(2000), max_memory: 8 << 20, stack_size: 4096, max_call_depth: 64, max_ports: 4, max_contexts: 64, threads, ..Config::default() };
            let mut m = Machine::new(&exe, config).unwrap();
            let out = SharedBuf::default();
            m.set_output(Box::new(out.clone()));
            m.set_error_output(Box::new(out));
            m.set_input(Box::new(&b"input"[..]));
            m.set_args(["one"]);
            // Small values make addresses and ports that exist.
            for (i, seed) in seeds.iter().enumerate() {
                m.set_reg(Reg(192 + i as u8), seed % 128);
            }
            let _ = m.run();
            prop_assert!(m.ended().is_some());
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 1500, ..ProptestConfig::default() })]
        /// The fast loop (superinstructions, a step budget charged a run at
        /// a time), the same without superinstructions, single steps (the
        /// tracing path) and — when the program ends within the budget — the
        /// loop with no budget at all leave the same machine: outcome or
        /// trap (kind, address, instruction), output, steps, registers, pc,
        /// sp, the data section.
        #[test]
        fn every_execution_mode_ends_in_the_same_state(
            instrs in prop::collection::vec(prop_oneof![1 => instr(), 6 => dense_instr()], 1..40),
            seeds in prop::collection::vec(any::<u64>(), 8),
        ) {
            // One context (`fork` is a `nop` here, so that the schedule is
            // not part of the state) and no `clock` or `now`, which differ run to run.
            let instrs: Vec<Instr> = instrs
                .into_iter()
                .map(|i| match i {
                    Instr::Fork { .. } | Instr::Clock { .. } | Instr::Now { .. } => Instr::Nop {},
                    i => i,
                })
                .collect();
            let exe = random_executable(&instrs);
            let run = |max_steps: Option<u64>, fused: bool, steps: bool| {
                let config = Config { max_steps, max_memory: 8 << 20, stack_size: 4096, max_call_depth: 64, max_ports: 4, threads: 1, ..Config::default() };
                let mut m = Machine::new(&exe, config).unwrap();
                let out = SharedBuf::default();
                m.set_output(Box::new(out.clone()));
                m.set_error_output(Box::new(out.clone()));
                m.set_input(Box::new(&b"input"[..]));
                m.set_args(["one"]);
                if !fused {
                    m.disable_fusion();
                }
                if steps {
                    m.set_trace(Some(Box::new(std::io::sink())));
                }
                for (i, seed) in seeds.iter().enumerate() {
                    m.set_reg(Reg(192 + i as u8), seed % 128);
                }
                let ended = format!("{:?}", m.run());
                let regs: Vec<u64> = (0..=255).map(|r| m.reg(Reg(r))).collect();
                let data = m.memory().peek(SECTION_HEADER_LEN, 64);
                (ended, out.contents(), m.steps(), regs, m.pc(), m.sp(), data)
            };
            let fast = run(Some(2000), true, false);
            prop_assert_eq!(&run(Some(2000), false, false), &fast, "without superinstructions");
            prop_assert_eq!(&run(Some(2000), true, true), &fast, "in single steps");
            if !fast.0.contains("StepLimit") {
                // Without a budget nothing counts steps: all else must agree.
                let mut unmetered = run(None, true, false);
                unmetered.2 = fast.2;
                prop_assert_eq!(&unmetered, &fast, "with no step budget");
            }
        }
    }
}
