//! Mova's inputs on arbitrary bytes: both compilers, the bytecode loader,
//! and the state decoder with a restore into a VM: never a panic; a
//! program that decodes encodes back to the same bytes, a state that
//! restores saves bytes that restore and save to the same bytes again; a
//! restored VM runs to an end under a step limit.
#![no_main]
use libfuzzer_sys::fuzz_target;
use mova::{compile, Program, SourceKind, Vm};

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = compile(text, SourceKind::Masm);
        let _ = compile(text, SourceKind::Pseudo);
    }
    if let Ok(program) = Program::from_bytes(data) {
        assert_eq!(program.to_bytes(), data, "load then encode is the identity");
    }
    // The state of a small program with a loop, a sleep and output.
    let (program, _) =
        compile("    PUT 0\nloop:\n    ADD 1\n    PRINT\n    SLEEP 1\n    GOTO loop\n", SourceKind::Masm).unwrap();
    let mut vm = Vm::new(program, std::io::sink());
    if vm.restore_state(data).is_ok() {
        // Segments may come in any order, so the check is on what the encoder writes.
        let saved = vm.save_state().encode();
        let mut again = Vm::new(vm.program().clone(), std::io::sink());
        again.restore_state(&saved).unwrap_or_else(|e| panic!("its own state does not restore: {e}"));
        assert!(again.save_state().encode() == saved, "save, restore, save changed the state");
        // A restored sleep may be long, as the program's own could be: not a hang to find here.
        vm.set_sleep_remaining(std::time::Duration::ZERO);
        vm.set_step_limit(Some(1_000));
        let _ = vm.run();
    }
});
