//! The machine through the library: stepping, registers and memory,
//! injected input and output, interrupts, and the agreement of the fast
//! loop (superinstructions, steps charged a run at a time) with plain
//! single steps at every step limit.

use manda::exe::Executable;
use manda::isa::Reg;
use manda::machine::{Config, Machine, SharedBuf, Stopped, Tier, TrapKind};
use std::path::Path;
use std::time::{Duration, Instant};

fn load(source: &str) -> Executable {
    Executable::load(&manda::asm::assemble(source).unwrap().0).unwrap()
}

fn example(name: &str) -> Executable {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/manda").join(name);
    load(&std::fs::read_to_string(path).unwrap())
}

fn reg(name: &str) -> Reg {
    Reg::parse(name).unwrap()
}

fn machine(exe: &Executable, config: Config, args: &[&str]) -> (Machine, SharedBuf) {
    let mut m = Machine::new(exe, config).unwrap();
    let out = SharedBuf::default();
    m.set_output(Box::new(out.clone()));
    m.set_error_output(Box::new(out.clone()));
    m.set_input(Box::new(&b"some input\n"[..]));
    m.set_args(args.iter().map(|a| a.to_string()));
    (m, out)
}

#[test]
fn step_reads_and_sets_registers_and_memory() {
    let exe = load(".data\nx: .i64 5\n.code\nmain:\n    la t0, x\n    ld64 t1, [t0]\n    addi t1, t1, 1\n    st64 t1, [t0]\n    halt\n");
    // Steps are counted under a step limit.
    let (mut m, _) = machine(&exe, Config { max_steps: Some(1000), ..Config::default() }, &[]);
    assert_eq!(m.pc(), exe.entry() + 13, "the first instruction, past the `main` label header");
    assert_eq!(m.step(), Ok(None));
    assert_eq!(m.reg(reg("t0")), 9);
    m.memory_mut().poke(9, &40i64.to_le_bytes()).unwrap();
    assert_eq!(m.step(), Ok(None));
    assert_eq!(m.reg(reg("t1")), 40);
    m.set_reg(reg("t1"), 99);
    assert_eq!(m.run(), Ok(Stopped::Exited(0)));
    assert_eq!(m.memory().peek(9, 8).unwrap(), 100i64.to_le_bytes());
    assert_eq!(m.steps(), 5);
    assert_eq!(m.run(), Ok(Stopped::Exited(0)), "an ended machine stays ended");
}

#[test]
fn set_pc_accepts_only_boundaries() {
    let exe = load(".code\nmain:\n    li t0, 1\nnext:\n    printi t0\n    halt\n");
    let (mut m, out) = machine(&exe, Config::default(), &[]);
    let next = exe.label("next").unwrap();
    assert!(matches!(m.set_pc(next + 1), Err(TrapKind::BadJump { .. })));
    m.set_pc(next).unwrap();
    m.set_reg(reg("t0"), 7);
    assert_eq!(m.run(), Ok(Stopped::Exited(0)));
    assert_eq!(out.contents(), b"7\n");
}

#[test]
fn input_output_and_arguments_are_injected() {
    let exe = example("wc.s");
    let (mut m, out) = machine(&exe, Config::default(), &[]);
    assert_eq!(m.run(), Ok(Stopped::Exited(0)));
    assert_eq!(out.contents(), b"1 2 11\n");
    let (mut m, out) = machine(&example("fib.s"), Config::default(), &["15"]);
    assert_eq!(m.run(), Ok(Stopped::Exited(0)));
    assert_eq!(out.contents(), b"610\n");
}

#[test]
fn an_interrupt_stops_a_busy_loop_and_run_continues_it() {
    let exe = load(".code\nmain:\n    li t0, 0\nloop:\n    addi t0, t0, 1\n    jmp loop\n");
    let (mut m, _) = machine(&exe, Config::default(), &[]);
    let line = m.interrupt();
    let raiser = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        line.raise();
    });
    assert_eq!(m.run(), Ok(Stopped::Interrupted));
    raiser.join().unwrap();
    let count = m.reg(reg("t0"));
    assert!(count > 0);
    assert_eq!(m.pc(), exe.label("loop").unwrap() + 13, "stopped on the loop's first instruction");
    m.interrupt().clear();
    m.set_reg(reg("t0"), u64::MAX - 5);
    let line = m.interrupt();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(20));
        line.raise();
    });
    assert_eq!(m.run(), Ok(Stopped::Interrupted));
    assert!(m.reg(reg("t0")) < 1 << 40, "it ran on from the changed register and wrapped");
}

/// Compiled code's time slice bounds the instructions it runs, not the
/// transfers: two contexts on one thread, each printing its number once
/// per pass of a 900-instruction loop, take turns every slice — some 280
/// passes (262,144 weight units over ~930 a pass), where a count of
/// transfers let each run all 2,000 of its passes in one turn. (Every
/// region compiled at once: in `Tier::Compiled` the loop is compiled in the
/// background, and the interpreter may run all of it meanwhile.)
#[test]
fn compiled_time_slices_count_instructions_not_transfers() {
    let body = "    addi t1, t1, 1\n".repeat(900);
    let source = format!(
        ".code\nmain:\n    li a0, 0\n    fork t0, passes\n    li a0, 1\npasses:\n    li s0, 2000\n.Lpass:\n    printi a0\n{body}    addi s0, s0, -1\n    bnez s0, .Lpass\n    halt\n"
    );
    let exe = load(&source);
    let (mut m, out) = machine(&exe, Config { threads: 1, tier: Tier::CompileAll, ..Config::default() }, &[]);
    assert_eq!(m.run(), Ok(Stopped::Exited(0)));
    let out = out.contents();
    let lines: Vec<&[u8]> = out.split(|&b| b == b'\n').filter(|l| !l.is_empty()).collect();
    assert_eq!(lines.len(), 4000);
    let turns = lines.chunk_by(|a, b| a == b).map(<[_]>::len).collect::<Vec<_>>();
    let longest = turns.iter().max().copied().unwrap_or(0);
    assert!(turns.len() > 10 && longest <= 300, "turns of {turns:?} passes");
}

/// A region may weigh more than a whole time slice — here 9,000 vector
/// instructions, each run by the interpreter through a helper and counted
/// 32 — and still runs: counted whole at its entry, it ended every slice
/// before it began, and the program never ran on.
#[test]
fn a_region_heavier_than_a_time_slice_runs() {
    let body = "    vbin t2, t3, t2, t3, t2, t3, v128.xor\n".repeat(9000);
    let source = format!(".code\nmain:\n    li t2, 5\n{body}    printi t2\n    halt\n");
    let exe = load(&source);
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let (mut m, out) = machine(&exe, Config { threads: 1, tier: Tier::CompileAll, ..Config::default() }, &[]);
        let _ = done.send((m.run(), out.contents()));
    });
    let (ended, out) = finished.recv_timeout(Duration::from_secs(120)).expect("the program ends");
    assert_eq!(ended, Ok(Stopped::Exited(0)));
    // x ^ x ^ x … 9,000 times over: 0.
    assert_eq!(out, b"0\n");
}

/// The interpreter reads the stop line when its time slice ends, and a
/// backward jump weighs the loop it closes: one slice of a 3,000-instruction
/// loop body is some 40 passes, where it was 2,048 (5–7 ms before an
/// interrupt was seen). Here the first context runs one slice of the loop,
/// then the context it forked runs and calls `exit`, which stops it.
#[test]
fn a_slice_of_a_long_loop_body_is_a_few_passes_not_thousands() {
    let body = "    addi t0, t0, 1\n    xor t1, t1, t0\n".repeat(1500);
    let source = format!(".code\nmain:\n    fork t5, child\n.L:\n{body}    addi s0, s0, 1\n    jmp .L\nchild:\n    li t0, 7\n    exit t0\n");
    let exe = load(&source);
    let (mut m, _) = machine(&exe, Config { threads: 1, tier: Tier::Interpreted, ..Config::default() }, &[]);
    assert_eq!(m.run(), Ok(Stopped::Exited(7)));
    let passes = m.reg(reg("s0"));
    assert!((1..=64).contains(&passes), "{passes} passes of the loop in one slice");
}

/// In `Tier::Compiled` a hot loop is compiled on the machine's compiling
/// thread while the interpreter runs on — unless most of it would be
/// interpreter steps (here vector instructions), which the interpreter
/// runs faster itself: that loop is never compiled.
#[test]
fn hot_loops_are_compiled_in_the_background_unless_mostly_steps() {
    let run = |body: &str, passes: u64| {
        let source = format!(
            ".code\nmain:\n    li s0, {passes}\n.Lpass:\n{body}    addi s0, s0, -1\n    bnez s0, .Lpass\n    printi t2\n    halt\n"
        );
        let exe = load(&source);
        let (mut m, out) = machine(&exe, Config { threads: 1, tier: Tier::Compiled, ..Config::default() }, &[]);
        assert_eq!(m.run(), Ok(Stopped::Exited(0)));
        (out.contents(), m.compile_stats().expect("a compiled run").regions)
    };
    let (out, regions) = run("    addi t2, t2, 3\n    addi t3, t3, 1\n", 30_000_000);
    assert_eq!(out, b"90000000\n");
    assert!(regions >= 1, "the scalar loop was compiled");
    let vector = "    vbin t2, t3, t2, t3, t2, t3, v128.xor\n    vbin t4, t5, t4, t5, t4, t5, v128.or\n";
    let (out, regions) = run(vector, 3_000_000);
    assert_eq!(out, b"0\n");
    assert_eq!(regions, 0, "the vector loop was left to the interpreter");
}

/// Compiled code pushes and pops the call stack in place: a recursion
/// 300,000 deep (past the 64 Ki frames of a chunk, so chunks fill, empty
/// and are reused) returns the same value as in the interpreter, and past
/// the depth limit traps at the same instruction.
#[test]
fn deep_recursion_in_compiled_code_keeps_the_call_stack() {
    let source = ".code\nmain:\n    li a0, 300000\n    call down\n    printi v0\n    li a0, 200000\n    call down\n    printi v0\n    halt\ndown:\n    beqz a0, .Lbottom\n    addi a0, a0, -1\n    call down\n    addi v0, v0, 3\n    ret\n.Lbottom:\n    li v0, 7\n    ret\n";
    let exe = load(source);
    let ending = |tier: Tier, max_call_depth: u32| {
        let (mut m, out) = machine(&exe, Config { threads: 1, tier, max_call_depth, ..Config::default() }, &[]);
        let ended = m.run();
        (ended.map_err(|t| t.to_string()), out.contents(), m.call_stack().len())
    };
    for tier in [Tier::Compiled, Tier::CompileAll] {
        let deep = ending(tier, 1_000_000);
        assert_eq!(deep, (Ok(Stopped::Exited(0)), b"900007\n600007\n".to_vec(), 0), "{tier:?}");
        assert_eq!(deep, ending(Tier::Interpreted, 1_000_000));
        let over = ending(tier, 250_000);
        assert!(over.0.as_ref().is_err_and(|e| e.starts_with("call stack overflow: more than 250000")), "{over:?}");
        assert_eq!(over, ending(Tier::Interpreted, 250_000), "{tier:?}");
    }
}

#[test]
fn an_interrupt_cuts_a_sleep_short_and_the_rest_is_owed() {
    let exe = load(".code\nmain:\n    li t0, 300\n    sleep t0\n    li t1, 1\n    halt\n");
    let (mut m, _) = machine(&exe, Config::default(), &[]);
    let line = m.interrupt();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        line.raise();
    });
    let start = Instant::now();
    assert_eq!(m.run(), Ok(Stopped::Interrupted));
    let first = start.elapsed();
    assert!(first < Duration::from_millis(250), "interrupted mid-sleep after {first:?}");
    assert_eq!(m.reg(reg("t1")), 0, "the instruction after the sleep has not run");
    m.interrupt().clear();
    let again = Instant::now();
    assert_eq!(m.run(), Ok(Stopped::Exited(0)));
    assert!(again.elapsed() >= Duration::from_millis(100), "the rest of the sleep was slept");
    assert_eq!(m.reg(reg("t1")), 1);
}

/// Everything observable about a machine after a run, for comparisons.
fn observe(m: &Machine, result: String, out: &SharedBuf) -> String {
    let regs: Vec<u64> = (0..=255).map(|r| m.reg(Reg(r))).collect();
    format!(
        "{result} pc={:x} sp={:x} steps={} calls={:?} out={:?} regs={regs:?}",
        m.pc(),
        m.sp(),
        m.steps(),
        m.call_stack(),
        out.contents(),
    )
}

/// Runs with `--max-steps n` (fast loop) and by `n` single steps (plain
/// ops): the same state, output and trap for every n.
#[test]
fn fast_loop_and_single_steps_agree_at_every_step_limit() {
    for (name, arg, max) in [("fib.s", "6", 400), ("sieve.s", "30", 800), ("nbody.s", "1", 700), ("loop.s", "20", 150)]
    {
        let exe = example(name);
        for n in (0..max).step_by(7).chain([max]) {
            let config = Config { max_steps: Some(n), ..Config::default() };
            let (mut fast, fast_out) = machine(&exe, config, &[arg]);
            let fast_result = format!("{:?}", fast.run());
            let (mut slow, slow_out) = machine(&exe, Config { max_steps: Some(u64::MAX), ..Config::default() }, &[arg]);
            let mut slow_result = None;
            for _ in 0..n {
                match slow.step() {
                    Ok(None) => continue,
                    Ok(Some(outcome)) => slow_result = Some(format!("{:?}", Ok::<_, ()>(outcome))),
                    Err(trap) => slow_result = Some(format!("{:?}", Err::<(), _>(trap))),
                }
                break;
            }
            match slow_result {
                Some(slow_result) => assert_eq!(fast_result, slow_result, "{name} n={n}"),
                // All n steps ran: the fast run must stop exactly there.
                None => {
                    let trap = fast.run().unwrap_err();
                    assert_eq!(trap.kind, TrapKind::StepLimit(n), "{name} n={n}");
                    assert_eq!(trap.addr, slow.pc(), "{name} n={n}");
                }
            }
            let steps_fast = fast.steps();
            assert_eq!(
                observe(&fast, String::new(), &fast_out).replace(&format!("steps={steps_fast}"), ""),
                observe(&slow, String::new(), &slow_out).replace(&format!("steps={}", slow.steps()), ""),
                "{name} n={n}"
            );
            assert_eq!(steps_fast, slow.steps(), "{name} n={n}: steps");
            let whole = |m: &Machine| m.memory().peek(0, m.memory().end()).unwrap();
            assert!(whole(&fast) == whole(&slow), "{name} n={n}: memory differs");
        }
    }
}

#[test]
fn limits_are_traps_and_setup_checks_the_memory_limit() {
    let exe = load(".code\nmain:\n    halt\n");
    let tiny = Config { max_memory: 4096, ..Config::default() };
    let err = Machine::new(&exe, tiny).err().unwrap();
    assert_eq!(
        err.to_string(),
        "the program needs 1060864 bytes of memory (image, guards and stack), more than the limit of 4096"
    );
    let exe = load(".code\nmain:\n    li t0, -1\n    grow t1, t0\n    halt\n");
    let (mut m, _) = machine(&exe, Config::default(), &[]);
    let trap = m.run().unwrap_err();
    assert!(matches!(trap.kind, TrapKind::OutOfMemory { .. }), "{trap}");
}

/// Stop-the-world: an interrupt from another thread stops a busy context, a
/// sleeping one and a blocked one alike; each is then plain data to read
/// and change, and the machine continues from there.
#[test]
fn an_interrupt_stops_every_context_busy_sleeping_or_blocked() {
    let source = "\
.data
b: .zero 8
.code
main:
    pnew a1
    fork t0, sleeper
    fork t0, waiter
    li t0, 0
.Lspin:
    addi t0, t0, 1
    beqz t1, .Lspin         ; until t1 is set from outside
    la t3, b
    li t2, 8
    psend a1, t3, t2
    halt
sleeper:
    li t0, 3600000
    sleep t0
    halt
waiter:
    la t3, b
    li t2, 8
recv:
    precv t4, a1, t3, t2
    printi t4
    li t0, 5
    exit t0
";
    let exe = load(source);
    for threads in [1, 2, 4] {
        let (mut m, out) = machine(&exe, Config { threads, ..Config::default() }, &[]);
        let line = m.interrupt();
        let raiser = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            line.raise();
        });
        let start = Instant::now();
        assert_eq!(m.run(), Ok(Stopped::Interrupted));
        assert!(start.elapsed() < Duration::from_secs(10), "stopped, not hung");
        raiser.join().unwrap();
        let ids: Vec<u64> = m.contexts().map(|c| c.id()).collect();
        assert_eq!(ids, [0, 1, 2], "{threads} threads");
        let spinner = m.contexts().next().unwrap();
        assert!(spinner.reg(reg("t0")) > 0, "it was running");
        let sleeper = m.contexts().nth(1).unwrap();
        assert!(sleeper.sleep_owed() > Duration::from_secs(3500), "{:?}", sleeper.sleep_owed());
        let waiter = m.contexts().nth(2).unwrap();
        assert_eq!(waiter.waiting_on(), Some(0));
        assert_eq!(m.pc_of(waiter), exe.label("recv").unwrap() + 13, "on its precv");
        // Change the busy one, and let the machine go on.
        m.context_mut(0).unwrap().set_reg(reg("t1"), 1);
        m.interrupt().clear();
        assert_eq!(m.run(), Ok(Stopped::Exited(5)), "{threads} threads");
        assert_eq!(out.contents(), b"8\n");
    }
}

/// Single steps through several contexts end as a run does, one
/// instruction at a time: a `precv` that must wait is not a step.
#[test]
fn stepping_a_forking_program_ends_as_running_it_does() {
    let source = "\
.data
b: .zero 8
.code
main:
    pnew a1
    fork t0, child
    la t1, b
    li t2, 8
    precv t3, a1, t1, t2
    ld64 t4, [t1]
    printi t4
    halt
child:
    la t1, b
    li t4, 99
    st64 t4, [t1]
    li t2, 8
    psend a1, t1, t2
    halt
";
    let exe = load(source);
    let (mut ran, ran_out) = machine(&exe, Config { max_steps: Some(1000), threads: 1, ..Config::default() }, &[]);
    assert_eq!(ran.run(), Ok(Stopped::Exited(0)));
    let (mut stepped, stepped_out) = machine(&exe, Config { max_steps: Some(1000), ..Config::default() }, &[]);
    let mut steps = 0;
    let outcome = loop {
        steps += 1;
        assert!(steps < 100, "it ends");
        if let Some(outcome) = stepped.step().unwrap() {
            break outcome;
        }
    };
    assert_eq!(outcome, Stopped::Exited(0));
    assert_eq!(stepped_out.contents(), b"99\n");
    assert_eq!(ran_out.contents(), b"99\n");
    // 8 instructions in the first context, 6 in the child: 14 steps, counted alike.
    assert_eq!((steps, stepped.steps(), ran.steps()), (14, 14, 14));
}

/// A receiver whose buffer faults when a message is handed to it, while
/// the ports are too full to queue the message instead: the sender traps,
/// and the receiver is still among the machine's contexts (it used to be lost).
#[test]
fn a_receiver_is_kept_when_its_message_can_be_neither_handed_over_nor_queued() {
    let source = "\
.rodata
msg: .ascii \"12345678\"
.code
main:
    pnew a1
    fork t0, receiver
    li t1, 1
    sleep t1                ; the receiver parks on the port meanwhile
    la t2, msg
    li t3, 8
    psend a1, t2, t3
    halt
receiver:
    la t2, msg              ; read-only: no message may be written there
    li t3, 8
    precv t4, a1, t2, t3
    halt
";
    let exe = load(source);
    let config = Config { threads: 1, max_port_bytes: 8, ..Config::default() };
    let (mut m, _) = machine(&exe, config, &[]);
    let trap = m.run().unwrap_err();
    assert_eq!(trap.context, 0);
    assert!(trap.to_string().starts_with("ports full: 72 more bytes"), "{trap}");
    let ids: Vec<u64> = m.contexts().map(|c| c.id()).collect();
    assert_eq!(ids, [0, 1], "the receiver is handed back with the sender");
}

/// Regression: each worker thread takes steps from the budget a chunk at a
/// time, and a worker that found the budget empty trapped at once, though
/// another worker held most of the budget unrun. Programs of a few hundred
/// steps stopped at step 4 with `--threads 3` under a limit of a million.
#[test]
fn a_step_limit_shared_by_threads_traps_only_once_every_step_has_run() {
    // Four contexts that never stop: the limit is what ends them.
    let spin = load(
        ".code\nmain:\n    fork t0, spin\n    fork t0, spin\n    fork t0, spin\nspin:\n    addi t1, t1, 1\n    jmp spin\n",
    );
    // Four contexts that finish well within the limit, whatever the schedule.
    let finish = load(
        ".code\nmain:\n    pnew a0\n    fork t0, work\n    fork t0, work\n    fork t0, work\n    li t1, 8\n    li t4, 3\n\
         wait:\n    precv t2, a0, t1, t1\n    addi t4, t4, -1\n    bne t4, t5, wait\n    printi t4\n    halt\n\
         work:\n    li t3, 20000\nloop:\n    addi t3, t3, -1\n    bne t3, t5, loop\n    psend a0, t3, t3\n    halt\n",
    );
    for threads in [1, 2, 3, 4] {
        for limit in [1, 1000, 100_000, 3 << 20] {
            let config = Config { max_steps: Some(limit), threads, ..Config::default() };
            let (mut m, _) = machine(&spin, config, &[]);
            let trap = m.run().unwrap_err();
            assert_eq!(trap.kind, TrapKind::StepLimit(limit), "threads={threads} limit={limit}");
            assert_eq!(m.steps(), limit, "threads={threads} limit={limit}: every step ran before the trap");
        }
        for _ in 0..20 {
            let config = Config { max_steps: Some(1_000_000), threads, ..Config::default() };
            let (mut m, out) = machine(&finish, config, &[]);
            assert_eq!(m.run().map_err(|t| t.to_string()), Ok(Stopped::Exited(0)), "threads={threads}");
            assert_eq!(out.contents(), b"0\n");
            assert_eq!(m.steps(), 3 * (2 * 20_000 + 3) + 3 * 3 + 6 + 2);
        }
    }
}

/// Regression: a stack size near 2^64 wrapped when rounded up (a stack of
/// 0 bytes, or a panic in a debug build), and a memory limit as large let
/// the layout overflow. Neither is refused by the limit alone, so the
/// address space stops at `MAX_SPACE`.
#[test]
fn a_layout_past_the_largest_address_space_is_refused_not_wrapped() {
    let exe = load(".code\nmain:\n    halt\n");
    for (stack_size, max_memory) in [(u64::MAX, 1 << 30), (u64::MAX, u64::MAX), (u64::MAX - 15, u64::MAX)] {
        let config = Config { stack_size, max_memory, ..Config::default() };
        match Machine::new(&exe, config) {
            Err(manda::machine::SetupError::TooBig { needed, .. }) => assert_eq!(needed, u64::MAX),
            other => panic!("a stack of {stack_size} bytes: {:?}", other.err()),
        }
    }
}

/// Regression: loading a large `.zero` held the section four times (the
/// file, the loaded section, a second encoding to hash it, a permission byte
/// per image byte) and wrote every zero page: `manda run` of a 500 MB
/// executable peaked at 2.1 GB. Now the sections share the file's bytes and
/// pages of zeros stay absent until written, so the meter counts only what
/// the program's data really holds.
#[test]
fn a_large_zero_section_costs_no_pages_until_written() {
    let source =
        ".data\nhead: .byte 7\nbig: .zero 40000000\ntail: .byte 9\n.code\nmain:\n    la t0, big\n    li t1, 5\n    \
                  st8 t1, [t0+20000000]\n    ld8u t2, [t0+20000000]\n    ld8u t3, [t0+30000000]\n    \
                  la t6, head\n    ld8u t4, [t6]\n    la t6, tail\n    ld8u t5, [t6]\n    halt\n";
    let exe = load(source);
    let (mut m, _) = machine(&exe, Config { max_memory: 1 << 30, ..Config::default() }, &[]);
    let loaded = m.meter().used();
    assert!(loaded < 1 << 20, "{loaded} bytes charged for an image of 40 MB of zeros");
    assert_eq!(m.run().unwrap(), Stopped::Exited(0));
    // The byte written, the zeros around it, the data on either side.
    let read = ["t2", "t3", "t4", "t5"].map(|r| m.reg(reg(r)));
    assert_eq!(read, [5, 0, 7, 9]);
    assert!(m.meter().used() - loaded <= 2 * 4096 + 512 * 4, "one page (and its tables) more");
}
