//! Manda programs from arbitrary bytes (whatever the loader accepts) run
//! under small limits, fork and ports included: never a panic or a hang.
//! For a program of one context (no `fork`) and no clock (`clock`, `now`) or sleep, whose
//! end cannot depend on a schedule, the fast loop, the loop without
//! superinstructions and single steps end in the same state. (With several
//! contexts the modes interleave them differently — time slices against one
//! instruction at a time — so, say, another context reaches the step limit.)
#![no_main]
use libfuzzer_sys::fuzz_target;
use manda::exe::Executable;
use manda::machine::{Config, Machine, SharedBuf};

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
    let run = |fused: bool, steps: bool| {
        let config = Config {
            max_steps: Some(5_000),
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
        Some((ended, out.contents(), m.steps()))
    };
    let fast = run(true, false);
    if comparable {
        assert_eq!(run(false, false), fast, "without superinstructions");
        assert_eq!(run(true, true), fast, "in single steps");
    }
});
