//! Property tests over random valid programs.

use mova::asm::{assemble, disassemble};
use mova::{Exit, Instr, Program, Vm};
use proptest::prelude::*;

/// A random instruction for position `index` (a GOTO never reaches before 0).
fn instr(index: usize) -> impl Strategy<Value = Instr> {
    prop_oneof![
        any::<i64>().prop_map(Instr::Put),
        any::<i64>().prop_map(Instr::Add),
        (0..=index as u32).prop_map(Instr::Goto),
        Just(Instr::Print),
        prop_oneof![Just(0u32), any::<u32>()].prop_map(Instr::Sleep),
    ]
}

fn program(max_len: usize) -> impl Strategy<Value = Program> {
    (0..max_len)
        .prop_flat_map(|len| (0..len).map(instr).collect::<Vec<_>>())
        .prop_map(|instrs| Program::new(instrs).expect("generated GOTOs stay in range"))
}

/// A program that never sleeps, so it can be run quickly.
fn sleepless_program(max_len: usize) -> impl Strategy<Value = Program> {
    program(max_len).prop_map(|p| {
        let instrs = p.instrs().iter().map(|&i| if let Instr::Sleep(_) = i { Instr::Sleep(0) } else { i }).collect();
        Program::new(instrs).expect("same GOTOs")
    })
}

/// Runs with a step limit; the observable outcome.
fn outcome(program: &Program, steps: u64, fusion: bool) -> (Result<Exit, mova::Trap>, u32, Vec<i64>, Vec<u8>, u64) {
    let mut vm = Vm::new(program.clone(), Vec::new());
    vm.set_fusion(fusion);
    vm.set_step_limit(Some(steps));
    let result = vm.run();
    let (ip, stack, done) = (vm.ip(), vm.stack().to_vec(), vm.steps());
    (result, ip, stack, vm.into_output(), done)
}

proptest! {
    #[test]
    fn decode_inverts_encode(p in program(64)) {
        prop_assert_eq!(Program::from_bytes(&p.to_bytes()), Ok(p));
    }

    #[test]
    fn assemble_inverts_disassemble(p in program(64)) {
        let bytes = p.to_bytes();
        let text = disassemble(&p);
        let (reassembled, warnings) = assemble(&text).expect("disassembly assembles");
        prop_assert!(warnings.is_empty());
        prop_assert_eq!(reassembled.to_bytes(), bytes);
    }

    #[test]
    fn fused_and_plain_dispatch_agree_at_every_limit(p in sleepless_program(12), steps in 0u64..300) {
        prop_assert_eq!(outcome(&p, steps, true), outcome(&p, steps, false));
    }

    #[test]
    fn decoder_never_panics_on_arbitrary_bytes(tail in proptest::collection::vec(any::<u8>(), 0..64)) {
        let mut bytes = b"MOVA\x01\x00".to_vec();
        bytes.extend_from_slice(&tail);
        if let Ok(p) = Program::from_bytes(&bytes) {
            prop_assert_eq!(p.to_bytes(), bytes);
        }
    }
}
