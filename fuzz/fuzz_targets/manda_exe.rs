//! The Manda executable loader on arbitrary bytes: never a panic; what it
//! accepts encodes back to the same bytes, and its disassembly assembles
//! back to the same executable.
#![no_main]
use libfuzzer_sys::fuzz_target;
use manda::exe::Executable;

fuzz_target!(|data: &[u8]| {
    let Ok(exe) = Executable::load(data) else { return };
    assert_eq!(exe.to_bytes(), data, "load then encode is the identity");
    let text = manda::disasm::disassemble(&exe);
    let (bytes, _) =
        manda::asm::assemble(&text).unwrap_or_else(|e| panic!("the disassembly does not assemble: {e:?}\n{text}"));
    let again = Executable::load(&bytes).expect("what the assembler writes loads");
    assert_eq!(again.to_bytes(), exe.to_bytes(), "disasm then asm is the identity\n{text}");
});
