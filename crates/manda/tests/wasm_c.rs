//! C programs compiled to WebAssembly by clang (wasm32-wasi, wasi-libc),
//! run by the real `manda` binary, print exactly what their native builds
//! print. Needs Debian's clang, lld, wasi-libc and libclang-rt-14-dev-wasm32
//! (`.ci/run` installs them); without them these tests fail, saying so.

mod common;

use common::Vm;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("manda-wasm-c-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// Compiles `src` with clang for wasm32-wasi at -O2 (with include/ for manda.h).
fn wasm(src: &Path) -> PathBuf {
    let out = scratch(&format!("{}.wasm", src.file_stem().unwrap().to_string_lossy()));
    let status = Command::new("clang")
        .args(["--target=wasm32-wasi", "-O2", "-I"])
        .arg(root().join("include"))
        .arg("-o")
        .arg(&out)
        .arg(src)
        .status()
        .expect("clang is needed: apt-get install clang lld wasi-libc libclang-rt-14-dev-wasm32 (.ci/run does)");
    assert!(status.success(), "clang --target=wasm32-wasi failed on {}", src.display());
    out
}

fn native(src: &Path) -> PathBuf {
    let out = scratch(&format!("{}.native", src.file_stem().unwrap().to_string_lossy()));
    let status = Command::new("cc").arg("-O2").arg("-o").arg(&out).arg(src).arg("-lm").status().expect("cc");
    assert!(status.success(), "cc failed on {}", src.display());
    out
}

fn run(cmd: &mut Command, stdin: &[u8]) -> Output {
    let mut child = cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let mut input = child.stdin.take().unwrap();
    let data = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = std::io::Write::write_all(&mut input, &data);
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    out
}

fn manda(args: &[&str], module: &Path, stdin: &[u8]) -> Output {
    // A port of its own and a private runtime directory: tests run side by side.
    run(common::manda_command().arg("run").arg(module).args(args), stdin)
}

/// The wasm build on Manda and the native build print the same, byte for byte, and exit the same.
fn same_as_native(src: &Path, args: &[&str], stdin: &[u8]) -> String {
    let (w, n) = (wasm(src), native(src));
    let on_manda = manda(args, &w, stdin);
    let natively = run(Command::new(&n).args(args), stdin);
    assert_eq!(
        String::from_utf8_lossy(&on_manda.stdout),
        String::from_utf8_lossy(&natively.stdout),
        "{} {args:?}: Manda's output differs from the native build's (stderr: {})",
        src.display(),
        String::from_utf8_lossy(&on_manda.stderr)
    );
    assert_eq!(on_manda.status.code(), natively.status.code(), "{}: exit status", src.display());
    String::from_utf8(on_manda.stdout).unwrap()
}

fn peer(name: &str) -> PathBuf {
    root().join("../shared/bench/peers").join(name)
}

#[test]
fn the_peer_benchmarks_in_c_print_what_their_native_builds_print() {
    assert_eq!(same_as_native(&peer("fib.c"), &["24"], b""), "46368\n");
    // `long` is 32 bits on wasm32: a sum that fits both.
    assert_eq!(same_as_native(&peer("loop.c"), &["50000"], b""), "1249975000\n");
    assert_eq!(same_as_native(&peer("sieve.c"), &["100000"], b""), "9592\n9592\n9592\n");
    assert_eq!(same_as_native(&peer("nbody.c"), &["1000"], b""), "-0.169075164\n-0.169087605\n");
}

#[test]
fn sha256_of_stdin_and_of_arguments_matches_the_native_build() {
    let src = root().join("examples/wasm/sha256.c");
    let text = same_as_native(&src, &[], b"abc");
    assert_eq!(text, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad  -\n");
    let big: Vec<u8> = (0..200_000u32).map(|i| (i * 7 + i / 251) as u8).collect();
    same_as_native(&src, &[], &big);
    same_as_native(&src, &["", "hello", "the quick brown fox"], b"");
}

#[test]
fn wordfreq_counts_like_the_native_build() {
    let src = root().join("examples/wasm/wordfreq.c");
    let mut text = Vec::new();
    for doc in ["README.md", "docs/manda/README.md", "docs/hypervisor.md"] {
        text.extend(std::fs::read(root().join(doc)).unwrap());
    }
    let out = same_as_native(&src, &["8"], &text);
    assert_eq!(out.lines().count(), 9, "{out}");
    assert_eq!(same_as_native(&src, &[], b""), "0 words, 0 distinct\n");
}

#[test]
fn a_c_program_forks_workers_and_collects_their_results_over_a_port() {
    let w = wasm(&root().join("examples/wasm/forksum.c"));
    // Sum over i < 200000 of i*i mod 1000003, whichever worker sums which part.
    let expected: i64 = (0..200_000i64).map(|i| i * i % 1_000_003).sum();
    for workers in ["1", "3", "8"] {
        let out = manda(&[workers, "200000"], &w, b"");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(String::from_utf8(out.stdout).unwrap(), format!("{workers} workers, n = 200000: {expected}\n"));
    }
}

#[test]
fn a_c_program_gets_its_arguments_and_exit_status() {
    let src = scratch("args.c");
    std::fs::write(
        &src,
        "#include <stdio.h>\nint main(int argc, char **argv) {\n  for (int i = 1; i < argc; i++) printf(\"[%s]\\n\", argv[i]);\n  \
         fprintf(stderr, \"to stderr\\n\");\n  return argc;\n}\n",
    )
    .unwrap();
    let out = manda(&["one", "", "three four"], &wasm(&src), b"");
    assert_eq!(String::from_utf8(out.stdout).unwrap(), "[one]\n[]\n[three four]\n");
    assert_eq!(String::from_utf8(out.stderr).unwrap(), "to stderr\n");
    assert_eq!(out.status.code(), Some(4));
}

#[test]
fn a_trap_in_c_names_the_wasm_trap_and_the_function() {
    let src = scratch("oob.c");
    std::fs::write(
        &src,
        "#include <stdlib.h>\n__attribute__((noinline)) int peek(volatile int *p) { return *p; }\n\
         int main(int argc, char **argv) { return peek((int *)(0x7ffffff0 + argc)); }\n",
    )
    .unwrap();
    let out = manda(&[], &wasm(&src), b"");
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.starts_with("trap: out of bounds memory access: 4 bytes at heap offset 0x7ffffff1"), "{err}");
    assert!(err.contains("<$peek+"), "{err}");
}

fn first_primes(n: usize) -> Vec<u64> {
    let mut primes: Vec<u64> = Vec::new();
    let mut k = 2;
    while primes.len() < n {
        if primes.iter().take_while(|&&p| p * p <= k).all(|&p| k % p != 0) {
            primes.push(k);
        }
        k += 1;
    }
    primes
}

#[test]
fn a_c_program_moved_mid_run_with_hv_migrate_prints_what_an_uninterrupted_run_prints() {
    let module = wasm(&root().join("examples/wasm/primes.c"));
    let module = module.to_str().unwrap();
    // 200 primes 10 ms apart: two seconds, ample time to move it on a loaded machine.
    let mut a = Vm::start(&[], module, &["200", "10"]);
    let mut seen = a.take(10);
    let mut b = Vm::start(&["--wait"], module, &[]);
    let said = hypervisor::migrate(&a.endpoint(), &b.endpoint(), None).unwrap();
    assert!(said.starts_with("migrated "), "{said}");
    seen.extend(a.read_to_end());
    assert_eq!(a.wait(), Some(0), "the source exits as moved");
    let moved_at = seen.len();
    seen.extend(b.read_to_end());
    assert_eq!(b.wait(), Some(0));
    assert!(moved_at < 200, "the move came before the end ({moved_at} primes printed by the source)");
    assert_eq!(seen, first_primes(200), "every prime once, in order");
}

#[test]
fn every_manda_import_works_from_c() {
    let src = scratch("imports.c");
    std::fs::write(
        &src,
        r#"#include <stdio.h>
#include "manda.h"
static int port;
static void child(int k) {
  int id = manda_ctxid() * 100 + k;
  manda_sleep_ms(20);
  manda_port_send(port, &id, sizeof id);
}
int main(void) {
  printf("ctxid %d\n", manda_ctxid());
  port = manda_port_new();
  int buf = 0;
  printf("try on an empty port: %d\n", manda_port_try(port, &buf, sizeof buf));
  int c = manda_fork(child, 7);
  int n = manda_port_recv(port, &buf, sizeof buf);
  printf("child %d sent %d (%d bytes)\n", c, buf, n);
  manda_port_close(port);
  printf("receive after close: %d\n", manda_port_recv(port, &buf, sizeof buf));
  return 0;
}
"#,
    )
    .unwrap();
    let out = manda(&[], &wasm(&src), b"");
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "ctxid 0\ntry on an empty port: -2\nchild 1 sent 107 (4 bytes)\nreceive after close: -1\n",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn a_fork_through_a_bad_function_pointer_traps_as_call_indirect_would() {
    let src = scratch("badfork.c");
    std::fs::write(
        &src,
        "#include \"manda.h\"\nint main(void) { manda_fork((void (*)(int))123456, 0); manda_sleep_ms(1000); return 0; }\n",
    )
    .unwrap();
    let out = manda(&[], &wasm(&src), b"");
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(3), "{err}");
    // Past the table's end: wasm's *undefined element*, in the child, context 1.
    assert!(err.starts_with("trap: undefined element at 0x"), "{err}");
    assert!(err.ends_with("(trap 5) in context 1\n"), "{err}");
}
