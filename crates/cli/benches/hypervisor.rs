//! Hypervisor figures: state round trip in process, whole migrations
//! between real processes, and interrupt latency over the control socket.
//!
//! `cargo bench -p cli --bench hypervisor` (or `bash bench/hypervisor.sh`,
//! which also builds `hv`). Prints medians and 90th percentiles; these are
//! wall-clock figures over loopback TCP, so run on a quiet machine.

mod common;

use common::{repo, runtime_dir, Proc};
use mova::vm::Vm;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use vm_host::protocol::Command as Request;
use vm_host::{migrate, Client};

/// Starts `mova run PROGRAM EXTRA…` and returns it with its control endpoint.
fn start(program: &str, extra: &[&str]) -> (Proc, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_mova"));
    command.arg("run").arg(repo(program)).args(extra);
    common::start(command)
}

/// (median, p90) of the samples, in microseconds.
fn summary(mut samples: Vec<Duration>) -> (f64, f64) {
    samples.sort();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize].as_secs_f64() * 1e6;
    (at(0.5), at(0.9))
}

fn row(name: &str, samples: Vec<Duration>) {
    let n = samples.len();
    let (median, p90) = summary(samples);
    println!("| {name:<58} | {n:>5} | {:>10.1} | {:>10.1} |", median, p90);
}

/// Save + encode, then decode + restore, in one process: the serializer alone.
fn state_round_trip() -> Vec<Duration> {
    let source = std::fs::read_to_string(repo("examples/counter.masm")).unwrap();
    let (program, _) = mova::compile(&source, mova::SourceKind::Masm).unwrap();
    let mut vm = Vm::new(program, std::io::sink());
    vm.set_stack(vec![41; 1000]).unwrap();
    (0..2000)
        .map(|_| {
            let started = Instant::now();
            let bytes = vm.save_state().encode();
            vm.restore_state(&bytes).unwrap();
            started.elapsed()
        })
        .collect()
}

/// The same through a VM process: `save` then `restore` over the control socket.
fn socket_round_trip() -> Vec<Duration> {
    let (_vm, endpoint) = start("examples/counter.mv", &[]);
    let mut client = Client::connect(&endpoint, None).unwrap();
    let (lease, _) = client.interrupt(None).unwrap();
    (0..500)
        .map(|_| {
            let started = Instant::now();
            let state = client.save(&lease).unwrap();
            client.restore(&lease, &state).unwrap();
            started.elapsed()
        })
        .collect()
}

/// Interrupt, then resume, a VM; the time until `OK interrupted` arrives.
fn interrupt_latency(program: &str) -> Vec<Duration> {
    let (_vm, endpoint) = start(program, &[]);
    let mut client = Client::connect(&endpoint, None).unwrap();
    (0..500)
        .map(|_| {
            std::thread::sleep(Duration::from_micros(300));
            let started = Instant::now();
            let (lease, _) = client.interrupt(None).unwrap();
            let took = started.elapsed();
            client.call(&Request::Resume(lease.to_string())).unwrap();
            took
        })
        .collect()
}

/// Whole migrations of the seed's counter between two fresh processes:
/// through the library (what `hv migrate` does), and through the `hv` binary;
/// with `idle` connections held open on source and target meanwhile.
fn migrations(hv: Option<&Path>, idle: usize) -> (Vec<Duration>, Vec<Duration>) {
    let (mut library, mut command) = (Vec::new(), Vec::new());
    for i in 0..60 {
        let (_a, ea) = start("examples/counter.mv", &[]);
        let (_b, eb) = start("examples/counter.mv", &["--wait"]);
        let _held: Vec<std::net::TcpStream> = [&ea, &eb]
            .iter()
            .flat_map(|e| (0..idle).map(move |_| std::net::TcpStream::connect(e.as_str()).expect("connects")))
            .collect();
        // Long enough for both VMs to have accepted every idle connection: they are held, not arriving.
        std::thread::sleep(Duration::from_millis(if idle > 0 { 100 } else { 5 }));
        let started = Instant::now();
        match hv {
            Some(hv) if i % 2 == 1 => {
                let status = Command::new(hv).args(["migrate", &ea, "--to", &eb]).stdout(Stdio::null()).status();
                assert!(status.unwrap().success());
                command.push(started.elapsed());
            }
            _ => {
                migrate(&ea, &eb, None).unwrap();
                library.push(started.elapsed());
            }
        }
    }
    (library, command)
}

fn main() {
    // `cargo bench` passes `--bench`; any other argument is a filter we do not support.
    let hv = Path::new(env!("CARGO_BIN_EXE_mova")).with_file_name("hv");
    let hv = hv.exists().then_some(hv);
    println!("| measurement | n | median µs | p90 µs |");
    println!("| --- | --- | --- | --- |");
    row("state save+encode, decode+restore (1000-value stack)", state_round_trip());
    row("save + restore over the control socket (counter)", socket_round_trip());
    row("interrupt latency, running (ADD/GOTO self-loop)", interrupt_latency("bench/mova/loop.masm"));
    row(
        "interrupt latency, running (counter with SLEEP 0)",
        interrupt_latency("crates/cli/tests/mova/vms/counter_sleep0.mv"),
    );
    row(
        "interrupt latency, sleeping (SLEEP 3600000)",
        interrupt_latency("crates/cli/tests/mova/vms/counter_sleep_hour.mv"),
    );
    let (library, command) = migrations(hv.as_deref(), 0);
    row("migrate counter A -> B, library call (hv's code path)", library);
    match hv {
        Some(_) => row("migrate counter A -> B, `hv migrate` process, spawn to exit", command),
        None => println!("(hv is not built beside mova: run `cargo build --release -p cli` for the hv row)"),
    }
    let (library, command) = migrations(hv.as_deref(), 400);
    row("the same, 400 idle connections held on A and on B, library", library);
    if hv.is_some() {
        row("the same, 400 idle connections held on A and on B, `hv migrate`", command);
    }
    let _ = std::fs::remove_dir_all(runtime_dir());
}
