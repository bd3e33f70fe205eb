//! Interrupt latency: from raising a machine's interrupt line to its
//! `run` returning `Interrupted`, in the interpreter and in compiled code,
//! under loops of several shapes — a tight one, one with a body of 900
//! instructions, one that loads across 64 MiB (translation misses), one
//! that calls a function, one of vector instructions (run through the step
//! helper in compiled code), and one too large to compile. The goal is
//! under 1 ms for every one.
//!
//!     cargo bench -p manda --bench interrupt
//!
//! Prints the median, 99th percentile and worst of 300 interrupts each,
//! raised at random moments 0.2–2 ms apart.

use manda::exe::Executable;
use manda::machine::{Config, Machine, Stopped, Tier};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The loops, as Manda assembly: (name, source).
fn programs() -> Vec<(&'static str, String)> {
    let body = |n: usize| "    addi t0, t0, 1\n    xor t1, t1, t0\n".repeat(n / 2);
    vec![
        ("tight loop (2 instructions)", ".code\nmain:\n.L:\n    addi t0, t0, 1\n    jmp .L\n".to_string()),
        ("loop of 900 instructions", format!(".code\nmain:\n.L:\n{}    jmp .L\n", body(900))),
        (
            "random loads over 64 MiB",
            ".code\nmain:\n    li a0, 67108864\n    grow s1, a0\n    li t1, 12345\n    li t4, 6364136223846793005\n    li t5, 1442695040888963407\n.L:\n    mul t1, t1, t4\n    add t1, t1, t5\n    andi t2, t1, 67108856\n    add t2, t2, s1\n    ld64 t3, [t2]\n    add t0, t0, t3\n    jmp .L\n"
                .to_string(),
        ),
        (
            "calls of a small function",
            ".code\nmain:\n.L:\n    call f\n    jmp .L\nf:\n    addi t0, t0, 1\n    ret\n".to_string(),
        ),
        ("vector instructions", ".code\nmain:\n.L:\n    vbin t0, t1, t0, t1, t2, t3, v128.xor\n    jmp .L\n".to_string()),
        ("loop of 3,000 instructions (not compiled)", format!(".code\nmain:\n.L:\n{}    jmp .L\n", body(3000))),
    ]
}

/// (median, p99, worst) of the latencies, in microseconds.
fn summary(mut samples: Vec<Duration>) -> (f64, f64, f64) {
    samples.sort();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize].as_secs_f64() * 1e6;
    (at(0.5), at(0.99), at(1.0))
}

/// The latencies of `n` interrupts of `source` running in `tier`.
fn latencies(source: &str, tier: Tier, n: usize) -> Vec<Duration> {
    let (bytes, _) = manda::asm::assemble(source).expect("assembles");
    let exe = Executable::load(&bytes).expect("loads");
    let mut m = Machine::new(&exe, Config { threads: 1, tier, ..Config::default() }).expect("starts");
    let line = m.interrupt();
    let (stopped_tx, stopped) = mpsc::channel();
    let (go, go_rx) = mpsc::channel::<bool>();
    let runner = std::thread::spawn(move || loop {
        let ended = m.run();
        let at = Instant::now();
        assert_eq!(ended, Ok(Stopped::Interrupted), "the loop runs until interrupted");
        stopped_tx.send(at).unwrap();
        if !go_rx.recv().unwrap() {
            return;
        }
    });
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut samples = Vec::with_capacity(n);
    for k in 0..=n {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        std::thread::sleep(Duration::from_micros(200 + seed % 1800));
        let raised = Instant::now();
        line.raise();
        let stopped_at = stopped.recv().unwrap();
        line.clear();
        // The first interrupt may land while the region is compiled.
        if k > 0 {
            samples.push(stopped_at.saturating_duration_since(raised));
        }
        go.send(k < n).unwrap();
    }
    runner.join().unwrap();
    samples
}

fn main() {
    println!("| loop | tier | median µs | p99 µs | worst µs |");
    println!("| --- | --- | --- | --- | --- |");
    for (name, source) in programs() {
        for (tier_name, tier) in [("interpreted", Tier::Interpreted), ("compiled", Tier::Compiled)] {
            let (median, p99, worst) = summary(latencies(&source, tier, 300));
            println!("| {name} | {tier_name} | {median:.1} | {p99:.1} | {worst:.1} |");
        }
    }
}
