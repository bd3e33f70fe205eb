//! The Manda assembler on arbitrary text: never a panic, and what it
//! writes the loader accepts.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(source) = std::str::from_utf8(data) else { return };
    if let Ok((bytes, _)) = manda::asm::assemble(source) {
        manda::exe::Executable::load(&bytes).expect("what the assembler writes loads");
    }
});
