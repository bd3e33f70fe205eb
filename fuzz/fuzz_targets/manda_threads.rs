//! `--threads 1` against `--threads 2` and `3` on programs whose result
//! cannot depend on the schedule: the bytes choose one to four workers,
//! each forked with a reply port of its own, looping over straight-line
//! code (moves, arithmetic, comparisons, extension, floating point, loads
//! and stores into its copy of a shared data page, the stack) and sending
//! that page back; the main context receives from each port in turn and
//! prints every word. The schedule decides only when each worker runs,
//! never what it computes, so the output, the exit and the total steps
//! must be the same on any number of threads. A program that traps on one
//! thread is only run (no panic, no hang), not compared: which of two
//! trapping workers stops the machine first is the schedule's choice.
#![no_main]
use libfuzzer_sys::fuzz_target;
use manda::exe::Executable;
use manda::isa::{Group, Instr, Kind, Mem, Opcode, Operand, Reg, VectorOp, F64};
use manda::machine::{Config, Machine, SharedBuf};
use mova_manda_fuzz::Choices;
use std::fmt::Write;

/// The groups a worker's body draws from: nothing that branches, forks,
/// talks to a port or does I/O.
const BODY_GROUPS: [Group; 8] = [
    Group::MovesAndConstants,
    Group::IntegerArithmetic,
    Group::Comparisons,
    Group::Extension,
    Group::FloatingPoint,
    Group::Memory,
    Group::Stack,
    Group::Vector,
];

/// One of t0–t7 (registers 192–199), the worker's working set.
fn reg(choose: &mut Choices) -> Reg {
    Reg(192 + choose.byte() % 8)
}

fn operand(choose: &mut Choices, kind: Kind) -> Operand {
    match kind {
        Kind::Reg => Operand::Reg(reg(choose)),
        Kind::I32 => Operand::I32(i32::from(choose.byte() as i8)),
        Kind::U32 => Operand::U32(u32::from(choose.byte() % 64) * 8),
        Kind::I64 => {
            Operand::I64(if choose.byte() % 4 == 0 { choose.u64() as i64 } else { i64::from(choose.byte() as i8) })
        }
        Kind::U8 => Operand::U8(choose.byte()),
        Kind::F64 => Operand::F64(F64((f64::from(choose.byte() as i8) / 4.0).to_bits())),
        // s0 holds the data page's address; offsets stay on the page.
        Kind::Mem => Operand::Mem(Mem { base: Reg(64), off: i32::from(choose.byte() % 249) }),
        Kind::Addr => Operand::Addr(manda::isa::Addr(choose.u64() % 4096)),
        Kind::Target => unreachable!("no body instruction has a target"),
        Kind::VOp => Operand::VOp(manda::isa::VOp(choose.byte())),
    }
}

fn instr(choose: &mut Choices, body: &[Opcode]) -> Instr {
    let op = body[usize::from(choose.byte()) % body.len()];
    let mut operands: Vec<Operand> = op.operands().iter().map(|(_, kind)| operand(choose, *kind)).collect();
    // A vector operation of the instruction's form (all the loader accepts).
    if let Some(form) = op.vector_form() {
        let of_form: Vec<VectorOp> = form.ops().collect();
        for o in &mut operands {
            if let Operand::VOp(v) = o {
                *o = Operand::VOp(of_form[usize::from(v.0) % of_form.len()].into());
            }
        }
    }
    Instr::from_operands(op, &operands).expect("kinds match the table")
}

/// The program's source: workers, then main receiving and printing.
fn program(data: &[u8]) -> String {
    let body_ops: Vec<Opcode> = Opcode::ALL.iter().copied().filter(|op| BODY_GROUPS.contains(&op.group())).collect();
    let mut choose = Choices(data);
    let workers = 1 + usize::from(choose.byte() % 4);
    let mut s = String::from(".data\npage: .zero 256\ninbox: .zero 256\n.code\nmain:\n");
    for w in 0..workers {
        writeln!(s, "    pnew a{w}").unwrap();
    }
    for w in 0..workers {
        writeln!(s, "    fork t8, worker{w}").unwrap();
    }
    s.push_str("    la s1, inbox\n    li s2, 256\n");
    for w in 0..workers {
        // Receive worker w's page, then print its 32 words and the length.
        writeln!(s, "    precv s3, a{w}, s1, s2\n    printi s3\n    li s4, 0\nprint{w}:").unwrap();
        writeln!(
            s,
            "    add s5, s1, s4\n    ld64 s6, [s5]\n    printi s6\n    addi s4, s4, 8\n    blt s4, s2, print{w}"
        )
        .unwrap();
    }
    // `halt`, not `exit`: the machine ends once every worker has halted too,
    // so the total steps do not depend on how far they got.
    s.push_str("    halt\n");
    for w in 0..workers {
        writeln!(s, "worker{w}:\n    la s0, page").unwrap();
        for t in 0..8 {
            writeln!(s, "    li t{t}, {}", choose.u64() as i64).unwrap();
        }
        let rounds = 1 + choose.byte() % 64;
        writeln!(s, "    li t9, {rounds}\n    li t10, 0\nloop{w}:").unwrap();
        for _ in 0..choose.byte() % 24 {
            writeln!(s, "    {}", instr(&mut choose, &body_ops)).unwrap();
        }
        writeln!(s, "    addi t9, t9, -1\n    bne t9, t10, loop{w}").unwrap();
        // The registers too end up in the page, so every computed value is compared.
        for t in 0..8 {
            writeln!(s, "    st64 t{t}, [s0+{}]", 192 + 8 * t).unwrap();
        }
        writeln!(s, "    li t11, 256\n    psend a{w}, s0, t11\n    halt").unwrap();
    }
    s
}

fuzz_target!(|data: &[u8]| {
    let source = program(data);
    let (bytes, _) = manda::asm::assemble(&source).unwrap_or_else(|e| panic!("{e:?}\n{source}"));
    let exe = Executable::load(&bytes).expect("what the assembler writes loads");
    let run = |threads: usize| {
        let config = Config {
            max_steps: Some(1_000_000),
            max_memory: 64 << 20,
            stack_size: 4096,
            max_call_depth: 64,
            threads,
            ..Config::default()
        };
        let mut m = Machine::new(&exe, config).expect("a small program starts");
        let out = SharedBuf::default();
        m.set_output(Box::new(out.clone()));
        m.set_error_output(Box::new(out.clone()));
        let ended = format!("{:?}", m.run());
        (ended, out.contents(), m.steps())
    };
    let one = run(1);
    if !one.0.starts_with("Ok(") {
        let _ = run(2);
        return;
    }
    for threads in [2, 3] {
        let many = run(threads);
        if many != one {
            let show = |(ended, out, steps): &(String, Vec<u8>, u64)| {
                format!("{ended}, {steps} steps, output:\n{}", String::from_utf8_lossy(out))
            };
            panic!("{threads} threads: {}\none thread: {}\n{source}", show(&many), show(&one));
        }
    }
});
