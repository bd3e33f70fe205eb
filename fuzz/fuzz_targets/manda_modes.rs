//! Manda programs from arbitrary bytes (whatever the loader accepts) run
//! under small limits, fork and ports included: never a panic or a hang.
//! For a program of one context (no `fork`) and no clock (`clock`, `now`) or sleep, whose
//! end cannot depend on a schedule, the fast loop, the loop without
//! superinstructions and single steps end in the same state, and when that
//! run ends within its step budget, compiled code (every region compiled at
//! its first arrival, nothing counted) ends it in the same state too:
//! registers, pc, sp, output and end (unless either ran out of memory).
//! (With several
//! contexts the modes interleave them differently — time slices against one
//! instruction at a time — so, say, another context reaches the step limit.)
#![no_main]
use libfuzzer_sys::fuzz_target;
use manda::exe::Executable;
use manda::machine::{Config, Machine, SharedBuf, Tier};

fuzz_target!(|data: &[u8]| {
    let Ok(exe) = Executable::load(data) else { return };
    use manda::isa::Instr;
    let instrs = || {
        exe.sections.iter().flat_map(|s| s.items()).filter_map(|item| match item {
            manda::exe::Item::Instr { instr, .. } => Some(instr),
            _ => None,
        })
    };
    if instrs().any(|i| matches!(i, Instr::Sleep { .. })) {
        return; // a long sleep is the program's own business, not a hang
    }
    let comparable = !instrs().any(|i| matches!(i, Instr::Clock { .. } | Instr::Now { .. } | Instr::Fork { .. }));
    let run = |fused: bool, steps: bool, tier: Tier| {
        let config = Config {
            max_steps: (tier == Tier::Interpreted).then_some(5_000),
            tier,
            max_memory: 8 << 20,
            stack_size: 4096,
            max_call_depth: 64,
            max_ports: 8,
            max_contexts: 16,
            threads: 1,
            ..Config::default()
        };
        let Ok(mut m) = Machine::new(&exe, config) else { return None };
        let out = SharedBuf::default();
        m.set_output(Box::new(out.clone()));
        m.set_error_output(Box::new(out.clone()));
        m.set_input(Box::new(&b"input"[..]));
        if !fused {
            m.disable_fusion();
        }
        if steps {
            m.set_trace(Some(Box::new(std::io::sink())));
        }
        let ended = format!("{:?}", m.run());
        let regs: Vec<u64> = (0..=255).map(|r| m.reg(manda::isa::Reg(r))).collect();
        Some((ended, out.contents(), m.steps(), regs, m.pc(), m.sp()))
    };
    let fast = run(true, false, Tier::Interpreted);
    if comparable {
        assert_eq!(run(false, false, Tier::Interpreted), fast, "without superinstructions");
        assert_eq!(run(true, true, Tier::Interpreted), fast, "in single steps");
        if let Some(fast) = fast.filter(|f| !f.0.contains("StepLimit")) {
            // Compiled code counts no steps; all else must agree.
            // Compiled code is charged to the memory limit, so where a
            // program runs out of memory may move: not compared.
            let compiled = run(true, false, Tier::CompileAll).map(|c| (c.0, c.1, fast.2, c.3, c.4, c.5));
            let out_of_memory = |ended: &str| ended.contains("OutOfMemory");
            if !out_of_memory(&fast.0) && !compiled.as_ref().is_some_and(|c| out_of_memory(&c.0)) {
                assert_eq!(compiled, Some(fast), "compiled");
            }
        }
    }
});
