//! Manda snapshot and migration figures: save and restore of a machine
//! with 256 MiB of written memory and of one with 1,000 contexts, in
//! process; whole migrations of a small parallel machine between real
//! processes (library call and `hv migrate`); the downtime of a 256 MiB one.
//!
//! `bash bench/snapshot.sh` (builds `hv` too). Prints medians and 90th
//! percentiles; wall-clock figures, so run on a quiet machine.

mod common;

use common::{repo, runtime_dir, Proc};
use manda::exe::Executable;
use manda::machine::{Config, Machine, Stopped};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use vm_host::migrate;

fn assemble(source: &str) -> Executable {
    Executable::load(&manda::asm::assemble(source).unwrap().0).unwrap()
}

/// (median, p90) of the samples.
fn summary(mut samples: Vec<Duration>) -> (Duration, Duration) {
    samples.sort();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    (at(0.5), at(0.9))
}

fn row(name: &str, samples: Vec<Duration>, bytes: Option<usize>) {
    let n = samples.len();
    let (median, p90) = summary(samples);
    let rate = bytes.map_or(String::new(), |b| format!("{:.2} GB/s", b as f64 / median.as_secs_f64() / 1e9));
    println!(
        "| {name:<62} | {n:>3} | {:>10.3} | {:>10.3} | {rate:>10} |",
        median.as_secs_f64() * 1e3,
        p90.as_secs_f64() * 1e3
    );
}

/// A stopped machine: `setup` run, then interrupted while it sleeps.
fn stopped(source: &str, pages: u64) -> (Executable, Machine) {
    let exe = assemble(source);
    let mut m = Machine::new(&exe, Config { max_memory: 2 << 30, ..Config::default() }).unwrap();
    m.set_output(Box::new(std::io::sink()));
    if pages > 0 {
        let heap = m.memory_mut().grow(pages * 4096).unwrap();
        for p in 0..pages {
            m.memory_mut().poke(heap + p * 4096, &(p + 1).to_le_bytes()).unwrap();
        }
    }
    let line = m.interrupt();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(200));
        line.raise();
    });
    assert_eq!(m.run(), Ok(Stopped::Interrupted));
    m.interrupt().clear();
    (exe, m)
}

fn save_restore(name: &str, source: &str, pages: u64, runs: usize) {
    let (exe, m) = stopped(source, pages);
    let mut saves = Vec::new();
    let mut restores = Vec::new();
    let mut size = 0;
    for _ in 0..runs {
        let started = Instant::now();
        let bytes = m.save().unwrap();
        saves.push(started.elapsed());
        size = bytes.len();
        let mut target = Machine::new(&exe, *m.config()).unwrap();
        let started = Instant::now();
        target.restore(&bytes).unwrap();
        restores.push(started.elapsed());
    }
    println!("| {name}: snapshot of {:.1} MiB | | | | |", size as f64 / (1 << 20) as f64);
    row(&format!("{name}: save"), saves, Some(size));
    row(&format!("{name}: restore"), restores, Some(size));
}

fn start(program: &str, options: &[&str], args: &[&str]) -> (Proc, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_manda"));
    command.arg("run").args(options).arg(repo(program)).args(args);
    common::start(command)
}

/// Whole migrations of `program` between fresh processes (started before the
/// clock starts, after `warm`), through the library or the `hv` binary.
fn migrations(program: &str, args: &[&str], warm: Duration, runs: usize, hv: Option<&Path>) -> Vec<Duration> {
    (0..runs)
        .map(|_| {
            let (_a, ea) = start(program, &[], args);
            let (_b, eb) = start(program, &["--wait"], &[]);
            std::thread::sleep(warm);
            let started = Instant::now();
            match hv {
                Some(hv) => {
                    let status = Command::new(hv).args(["migrate", &ea, "--to", &eb]).stdout(Stdio::null()).status();
                    assert!(status.unwrap().success());
                }
                None => {
                    migrate(&ea, &eb, None).unwrap();
                }
            }
            started.elapsed()
        })
        .collect()
}

fn main() {
    let hv = Path::new(env!("CARGO_BIN_EXE_manda")).with_file_name("hv");
    let hv = hv.exists().then_some(hv);
    let sleeper = ".code\nmain:\n    li t0, 600000\n    sleep t0\n    halt\n";
    let forker = ".code\nmain:\n    li a0, 1\n    li s1, 1000\n.Lf:\n    fork t0, nap\n    addi a0, a0, 1\n    \
                  blt a0, s1, .Lf\nnap:\n    salloc 64\n    getsp t1\n    st64 a0, [t1]\n    li t0, 600000\n    sleep t0\n    halt\n";
    // `cargo bench -p cli --bench snapshot -- migrate`: the migration rows only.
    let only_migrations = std::env::args().any(|a| a == "migrate");
    println!("| measurement | n | median ms | p90 ms | rate |");
    println!("| --- | --- | --- | --- | --- |");
    if !only_migrations {
        save_restore("256 MiB written, 1 context", sleeper, 65536, 10);
        save_restore("1,000 contexts, a stack page each", forker, 0, 20);
    }
    let pipeline = "examples/manda/pipeline.s";
    let warm = Duration::from_millis(30);
    row("migrate a 4-context pipeline A -> B, library call", migrations(pipeline, &["100000"], warm, 40, None), None);
    match hv.as_deref() {
        Some(hv) => row(
            "migrate a 4-context pipeline A -> B, `hv migrate`, spawn to exit",
            migrations(pipeline, &["100000"], warm, 40, Some(hv)),
            None,
        ),
        None => println!("(hv is not built beside manda: `cargo build --release -p cli` for the hv row)"),
    }
    if only_migrations {
        return;
    }
    let big = "crates/cli/tests/manda/hosted/big_heap.s";
    row(
        "downtime: migrate a machine with 256 MiB written, library call",
        migrations(big, &[], Duration::from_millis(600), 5, None),
        Some(268435456),
    );
    let _ = std::fs::remove_dir_all(runtime_dir());
}
