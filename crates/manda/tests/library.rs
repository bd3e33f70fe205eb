//! The assembler, loader and disassembler through the library: the
//! instruction table's coverage, the examples, and exact error locations.

use manda::exe::{Executable, Item};
use manda::isa::Opcode;
use std::collections::BTreeSet;
use std::path::Path;

fn repo(rel: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").join(rel)
}

fn assemble_file(path: &Path) -> Vec<u8> {
    let source = std::fs::read_to_string(path).unwrap();
    match manda::asm::assemble(&source) {
        Ok((bytes, _)) => bytes,
        Err(e) => panic!("{}", manda::diag::render(&e.diagnostics, &path.display().to_string(), &source)),
    }
}

#[test]
fn every_instruction_in_the_table_is_in_the_corpus() {
    let bytes = assemble_file(&repo("crates/cli/tests/manda/asm/all_instructions.s"));
    let exe = Executable::load(&bytes).unwrap();
    let used: BTreeSet<Opcode> = exe
        .sections
        .iter()
        .flat_map(|s| s.items())
        .filter_map(|i| match i {
            Item::Instr { instr, .. } => Some(instr.opcode()),
            _ => None,
        })
        .collect();
    let all: BTreeSet<Opcode> = Opcode::ALL.iter().copied().collect();
    assert_eq!(used, all);
}

#[test]
fn the_table_is_consistent() {
    for (i, &op) in Opcode::ALL.iter().enumerate() {
        assert!(op as u8 >= 10, "{op:?}: opcodes 0-9 are label headers");
        assert_eq!(Opcode::from_byte(op as u8), Some(op));
        assert_eq!(Opcode::from_mnemonic(op.mnemonic()), Some(op));
        assert!(Opcode::ALL[..i].iter().all(|o| o.mnemonic() != op.mnemonic()));
        let size: usize = 1 + op.operands().iter().map(|(_, k)| k.size()).sum::<usize>();
        assert_eq!(op.encoded_len(), size);
    }
    let defined: Vec<u8> = (0..=255u8).filter(|b| Opcode::from_byte(*b).is_some()).collect();
    assert_eq!(defined.len(), Opcode::ALL.len());
}

#[test]
fn the_examples_assemble_and_round_trip() {
    for name in ["hello", "fib", "sieve", "nbody"] {
        let bytes = assemble_file(&repo(&format!("examples/manda/{name}.s")));
        let exe = Executable::load(&bytes).unwrap();
        assert!(exe.label("main").is_some(), "{name} has main");
        let text = manda::disasm::disassemble(&exe);
        assert_eq!(manda::asm::assemble(&text).unwrap().0, bytes, "{name}");
    }
}

#[test]
fn the_hello_example_has_the_documented_bytes() {
    let bytes = assemble_file(&repo("examples/manda/hello.s"));
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(
        hex,
        "020e00000000000000\
         48656c6c6f2c20776f726c64210a\
         013000000000000000\
         0104000000000000006d61696e\
         0c000100000000000000\
         0d010900000000000000\
         0c020e00000000000000\
         aa000102\
         af"
    );
}

#[test]
fn the_entry_is_main_or_the_first_code_byte() {
    let with_main = manda::asm::assemble(".code\nstart: nop\nmain: halt\n").unwrap().0;
    assert_eq!(Executable::load(&with_main).unwrap().entry(), 9 + 14 + 1);
    let without = manda::asm::assemble(".data\n.byte 1\n.code\nnop\nhalt\n").unwrap().0;
    assert_eq!(Executable::load(&without).unwrap().entry(), 10 + 9);
}

/// A code section holding `instr`, as a whole executable.
fn one_instruction(instr: manda::isa::Instr) -> Vec<u8> {
    let mut code = Vec::new();
    instr.encode(&mut code);
    let mut bytes = vec![1u8];
    bytes.extend_from_slice(&(code.len() as u64).to_le_bytes());
    bytes.extend_from_slice(&code);
    bytes
}

#[test]
fn a_vector_operation_must_be_one_of_its_instructions_form() {
    use manda::isa::{Instr, Reg, VOp, VectorOp};
    let r = Reg(1);
    let vbin = |op: VOp| Instr::Vbin { rd: r, rdh: r, ra: r, rah: r, rb: r, rbh: r, op };
    let refused = |instr| Executable::load(&one_instruction(instr)).unwrap_err().to_string();
    assert_eq!(refused(vbin(VOp(250))), "offset 9 (0x9): `vbin` operation 250 names no vector operation");
    assert_eq!(
        refused(vbin(VectorOp::I32x4Neg.into())),
        "offset 9 (0x9): `vbin` operation 115 is an operation of another vector instruction"
    );
    assert!(Executable::load(&one_instruction(vbin(VectorOp::I32x4Add.into()))).is_ok());
    // The assembler says which instruction takes it.
    let err = manda::asm::assemble(".code\nmain:\n    vbin a0, a1, a2, a3, a4, a5, i32x4.neg\n").unwrap_err();
    assert_eq!(err.diagnostics[0].message, "`i32x4.neg` is an operation of `vun`, not of `vbin`");
}
