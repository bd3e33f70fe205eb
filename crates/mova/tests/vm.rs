//! The VM through its library API: stepping, state access, interrupts.

use mova::{compile, Exit, SourceKind, Trap, TrapKind, Vm};
use std::time::{Duration, Instant};

fn vm(source: &str) -> Vm<Vec<u8>> {
    let (program, _) = compile(source, SourceKind::Masm).expect("test source compiles");
    Vm::new(program, Vec::new())
}

#[test]
fn step_executes_one_instruction_at_a_time() {
    let mut vm = vm("PUT 5\nADD 2\nPRINT\n");
    assert_eq!(vm.step(), Ok(None));
    assert_eq!((vm.ip(), vm.stack()), (1, &[5][..]));
    assert_eq!(vm.step(), Ok(None));
    assert_eq!(vm.step(), Ok(Some(Exit::Halted)));
    assert_eq!(vm.step(), Ok(Some(Exit::Halted)));
    assert_eq!(vm.steps(), 3);
    assert_eq!(vm.into_output(), b"7\n");
}

#[test]
fn state_can_be_replaced_and_execution_continues_from_it() {
    let mut vm = vm("PUT 0\nloop: ADD 1\nPRINT\nGOTO loop\n");
    vm.set_stack(vec![1, 2, 41]).unwrap();
    vm.set_ip(1).unwrap();
    vm.set_step_limit(Some(5));
    assert_eq!(vm.run(), Ok(Exit::StepLimit));
    assert_eq!(vm.stack(), &[1, 2, 43]);
    assert_eq!(vm.ip(), 3);
    assert_eq!(vm.set_ip(5), Err(5));
    assert_eq!(vm.set_stack(vec![0; 65536]).map_err(|s| s.len()), Err(65536));
    assert_eq!(vm.into_output(), b"42\n43\n");
}

#[test]
fn traps_leave_the_ip_on_the_faulting_instruction() {
    let mut vm = vm("SLEEP 0\nADD 1\n");
    let trap = vm.run().unwrap_err();
    assert_eq!(trap, Trap { ip: 1, opcode: mova::Opcode::Add, kind: TrapKind::StackUnderflow });
    assert_eq!(trap.to_string(), "trap at instruction 1 (ADD): stack underflow");
    assert_eq!((vm.ip(), vm.steps()), (1, 1));
}

#[test]
fn an_interrupt_stops_a_tight_loop_at_a_boundary_and_it_resumes() {
    let mut vm = vm("PUT 0\nloop: ADD 1\nGOTO loop\n");
    let handle = vm.interrupt_line();
    let stopper = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        handle.raise();
    });
    assert_eq!(vm.run(), Ok(Exit::Interrupted));
    stopper.join().unwrap();
    // Stopped after a GOTO: the next instruction is the ADD, and ADD/GOTO ran in pairs.
    assert_eq!(vm.ip(), 1);
    assert_eq!(vm.steps() % 2, 1);
    assert_eq!(vm.stack()[0] as u64, (vm.steps() - 1) / 2);
    let before = vm.stack()[0];
    assert_eq!(vm.run(), Ok(Exit::Interrupted), "still pending until cleared");
    vm.interrupt_line().clear();
    vm.set_step_limit(Some(4));
    assert_eq!(vm.run(), Ok(Exit::StepLimit));
    assert_eq!(vm.stack()[0], before + 2);
}

#[test]
fn an_interrupt_cuts_a_long_sleep_short_and_keeps_the_rest() {
    let mut vm = vm("PUT 7\nSLEEP 3600000\nPRINT\n");
    let handle = vm.interrupt_line();
    let started = Instant::now();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(30));
        handle.raise();
    });
    assert_eq!(vm.run(), Ok(Exit::Interrupted));
    assert!(started.elapsed() < Duration::from_secs(60), "the sleep was cut short");
    assert_eq!(vm.ip(), 2, "the SLEEP counts as executed");
    let owed = vm.sleep_remaining();
    assert!(owed > Duration::from_secs(3500) && owed <= Duration::from_secs(3600), "{owed:?}");
    // Owe only a little, then continue: the rest is slept before the PRINT.
    vm.interrupt_line().clear();
    vm.set_sleep_remaining(Duration::from_millis(20));
    let resumed = Instant::now();
    assert_eq!(vm.run(), Ok(Exit::Halted));
    assert!(resumed.elapsed() >= Duration::from_millis(20));
    assert_eq!(vm.sleep_remaining(), Duration::ZERO);
    assert_eq!(vm.into_output(), b"7\n");
}

#[test]
fn output_failure_is_a_trap_naming_the_print() {
    struct Broken;
    impl std::io::Write for Broken {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::Error::new(std::io::ErrorKind::BrokenPipe, "reader went away"))
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let (program, _) = compile("PUT 1\nPRINT\n", SourceKind::Masm).unwrap();
    let mut vm = Vm::new(program, Broken);
    let trap = vm.run().unwrap_err();
    assert_eq!(trap.to_string(), "trap at instruction 1 (PRINT): output failed: reader went away");
}
