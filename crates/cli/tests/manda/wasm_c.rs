//! C programs compiled to WebAssembly by clang (wasm32-wasi, wasi-libc),
//! run by the real `manda` binary, print exactly what their native builds
//! print.
//!
//! Each test runs the module committed beside its C source (`X.wasm` beside
//! `X.c`, built by `examples/wasm/build.sh`), so a machine with only Rust runs
//! them all. Where clang can build for wasm32-wasi, each test also builds its
//! source afresh and runs that module too, so a source changed without its
//! module fails here. Without clang that half is skipped, said on stderr past
//! the test harness's capture, and a failure when `MANDA_REQUIRE_CLANG` is set
//! (`.ci/run` sets it and installs clang).

mod common;

use common::Vm;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Mutex, OnceLock};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("manda-wasm-c-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// Builds `sources` into the scratch directory with `examples/wasm/build.sh -o`.
fn build(sources: &[&Path]) -> Output {
    Command::new("bash")
        .arg(root().join("examples/wasm/build.sh"))
        .arg("-o")
        .arg(scratch(""))
        .args(sources)
        .stdin(Stdio::null())
        .output()
        .expect("bash")
}

/// Whether clang builds a trivial C program for wasm32-wasi here; the first
/// time it does not, the reason goes to stderr, or a panic under `MANDA_REQUIRE_CLANG`.
fn clang_builds_wasm() -> bool {
    static ABLE: OnceLock<Result<(), String>> = OnceLock::new();
    let able = ABLE.get_or_init(|| {
        let probe = scratch("probe.c");
        std::fs::write(&probe, "int main(void) { return 0; }\n").unwrap();
        let out = build(&[&probe]);
        if out.status.success() {
            return Ok(());
        }
        let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        let why = match said.trim() {
            "" => format!("clang exited with {}", out.status),
            said => said.to_string(),
        };
        let message = format!(
            "wasm_c: fresh builds of the C programs NOT RUN, only their committed modules: clang cannot build for \
             wasm32-wasi here ({}); apt-get install clang lld wasi-libc libclang-rt-14-dev-wasm32",
            why
        );
        // Straight to the process's stderr: the harness captures eprintln! of a passing test.
        let _ = std::io::stderr().write_all(format!("\n!!!!!!!! {message} !!!!!!!!\n\n").as_bytes());
        Err(message)
    });
    if let Err(message) = able {
        assert!(std::env::var_os("MANDA_REQUIRE_CLANG").is_none(), "{message}");
    }
    able.is_ok()
}

/// The modules a test runs for the C program `src`: the committed one beside
/// it and, where clang builds for wasm32-wasi, one built from `src` now.
fn modules(src: &Path) -> Vec<PathBuf> {
    static BUILT: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());
    let committed = src.with_extension("wasm");
    assert!(committed.is_file(), "{} is not committed: bash examples/wasm/build.sh builds it", committed.display());
    let mut modules = vec![committed];
    if clang_builds_wasm() {
        let fresh = scratch(&format!("{}.wasm", src.file_stem().unwrap().to_string_lossy()));
        // One build per source, however many tests run it at once.
        let mut built = BUILT.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if !built.contains(&fresh) {
            let out = build(&[src]);
            assert!(out.status.success(), "{} does not build: {}", src.display(), String::from_utf8_lossy(&out.stderr));
            built.push(fresh.clone());
        }
        modules.push(fresh);
    }
    modules
}

fn test_program(name: &str) -> PathBuf {
    root().join("crates/cli/tests/manda/wasm_c").join(name)
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

/// Each wasm build of `src` on Manda and the native build print the same,
/// byte for byte, and exit the same; returns what they print.
fn same_as_native(src: &Path, args: &[&str], stdin: &[u8]) -> String {
    let natively = run(Command::new(native(src)).args(args), stdin);
    for module in modules(src) {
        let on_manda = manda(args, &module, stdin);
        assert_eq!(
            String::from_utf8_lossy(&on_manda.stdout),
            String::from_utf8_lossy(&natively.stdout),
            "{} {args:?}: Manda's output differs from the native build's (stderr: {})",
            module.display(),
            String::from_utf8_lossy(&on_manda.stderr)
        );
        assert_eq!(on_manda.status.code(), natively.status.code(), "{}: exit status", module.display());
    }
    String::from_utf8(natively.stdout).unwrap()
}

fn peer(name: &str) -> PathBuf {
    root().join("bench/peers").join(name)
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
    // Sum over i < 200000 of i*i mod 1000003, whichever worker sums which part.
    let expected: i64 = (0..200_000i64).map(|i| i * i % 1_000_003).sum();
    for module in modules(&root().join("examples/wasm/forksum.c")) {
        for workers in ["1", "3", "8"] {
            let out = manda(&[workers, "200000"], &module, b"");
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            let printed = String::from_utf8(out.stdout).unwrap();
            assert_eq!(printed, format!("{workers} workers, n = 200000: {expected}\n"), "{}", module.display());
        }
    }
}

#[test]
fn a_c_program_gets_its_arguments_and_exit_status() {
    for module in modules(&test_program("args.c")) {
        let out = manda(&["one", "", "three four"], &module, b"");
        assert_eq!(String::from_utf8(out.stdout).unwrap(), "[one]\n[]\n[three four]\n", "{}", module.display());
        assert_eq!(String::from_utf8(out.stderr).unwrap(), "to stderr\n");
        assert_eq!(out.status.code(), Some(4));
    }
}

#[test]
fn a_trap_in_c_names_the_wasm_trap_and_the_function() {
    for module in modules(&test_program("oob.c")) {
        let out = manda(&[], &module, b"");
        let err = String::from_utf8(out.stderr).unwrap();
        assert_eq!(out.status.code(), Some(3), "{}: {err}", module.display());
        assert!(err.starts_with("trap: out of bounds memory access: 4 bytes at heap offset 0x7ffffff1"), "{err}");
        assert!(err.contains("<$peek+"), "{err}");
    }
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
    for module in modules(&root().join("examples/wasm/primes.c")) {
        let module = module.to_str().unwrap();
        // 200 primes 10 ms apart: two seconds, ample time to move it on a loaded machine.
        let mut a = Vm::start(&[], module, &["200", "10"]);
        let mut b = Vm::start(&["--wait"], module, &[]);
        let (seen, moved_at) = common::move_mid_run(&mut a, &mut b, 10);
        assert_eq!(b.wait(), Some(0));
        assert!(moved_at < 200, "the move came before the end ({moved_at} primes printed by the source)");
        assert_eq!(seen, first_primes(200), "every prime once, in order ({module})");
    }
}

#[test]
fn the_readme_script_moves_the_committed_c_module_mid_run() {
    let (a, b) = common::run_migration_script("examples/wasm/migrate.sh", "wasm-migrate-sh-runtime");
    assert_eq!([a, b].concat(), first_primes(40), "A's primes, then B's, each once");
}

#[test]
fn every_manda_import_works_from_c() {
    for module in modules(&test_program("imports.c")) {
        let out = manda(&[], &module, b"");
        assert_eq!(
            String::from_utf8(out.stdout).unwrap(),
            "ctxid 0\ntry on an empty port: -2\nchild 1 sent 107 (4 bytes)\nreceive after close: -1\n",
            "{}: {}",
            module.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(out.status.code(), Some(0));
    }
}

#[test]
fn a_fork_through_a_bad_function_pointer_traps_as_call_indirect_would() {
    for module in modules(&test_program("badfork.c")) {
        let out = manda(&[], &module, b"");
        let err = String::from_utf8(out.stderr).unwrap();
        assert_eq!(out.status.code(), Some(3), "{}: {err}", module.display());
        // Past the table's end: wasm's *undefined element*, in the child, context 1.
        assert!(err.starts_with("trap: undefined element at 0x"), "{err}");
        assert!(err.ends_with("(trap 5) in context 1\n"), "{err}");
    }
}

/// Every committed module beside a C source is one that the tests run: a
/// module left behind when its test went would be a file nothing checks.
#[test]
fn every_committed_c_module_is_run_by_a_test() {
    let this = std::fs::read_to_string(root().join("crates/cli/tests/manda/wasm_c.rs")).unwrap();
    for dir in ["examples/wasm", "bench/peers", "crates/cli/tests/manda/wasm_c"] {
        for entry in std::fs::read_dir(root().join(dir)).unwrap().map(Result::unwrap) {
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "c") {
                let name = path.file_name().unwrap().to_string_lossy().to_string();
                let module = path.with_extension("wasm");
                if module.exists() {
                    assert!(this.contains(&format!("{name}\"")), "{} is run by no test", module.display());
                }
            }
        }
    }
}

/// A fresh, empty directory of the scratch area.
fn fresh_dir(name: &str) -> PathBuf {
    let dir = scratch(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn files_and_directories_behave_as_in_the_native_build() {
    let src = test_program("files.c");
    let natively = run(Command::new(native(&src)).current_dir(fresh_dir("files-native")).env("GREETING", "hi"), b"x\n");
    assert!(natively.status.success());
    let expected = String::from_utf8(natively.stdout).unwrap();
    assert!(expected.contains("mtime: 1234567890.123456789 atime: 1000000000.000000005\n"), "{expected}");
    for module in modules(&src) {
        let dir = fresh_dir("files-manda");
        let out = run(
            common::manda_command().current_dir(&dir).args(["run", "--dir", ".", "--env", "GREETING=hi"]).arg(&module),
            b"x\n",
        );
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            expected,
            "{}: {}",
            module.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(out.status.code(), Some(0));
        // It cleaned up after itself, in the granted directory and nowhere else.
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
    }
}

#[test]
fn without_a_grant_a_program_sees_no_file_and_no_environment() {
    let module = test_program("files.wasm");
    let dir = fresh_dir("files-ungranted");
    let out = run(common::manda_command().current_dir(&dir).env("GREETING", "host").arg("run").arg(&module), b"");
    // Its first `fopen` fails, and the program, which does not check, traps on the null FILE.
    assert_eq!(String::from_utf8(out.stdout).unwrap(), "GREETING=(unset)\n");
    assert_eq!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
}

/// The attacker's sandbox (see `escape.c`): `inside` is granted, `outside` holds the secret.
fn sandbox() -> PathBuf {
    let root = fresh_dir("escape");
    let (inside, outside) = (root.join("inside"), root.join("outside"));
    std::fs::create_dir_all(inside.join("sub")).unwrap();
    std::fs::create_dir_all(inside.join("real")).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("secret.txt"), "SECRET\n").unwrap();
    std::fs::write(inside.join("sub/inner.txt"), "in\n").unwrap();
    std::fs::write(inside.join("real/secret.txt"), "safe\n").unwrap();
    let link = |target: &Path, at: &str| std::os::unix::fs::symlink(target, inside.join(at)).unwrap();
    link(Path::new("../outside"), "link_out");
    link(&outside.join("secret.txt"), "abs_link");
    link(Path::new("sub/../../outside/secret.txt"), "chain");
    link(Path::new("loop"), "loop");
    link(Path::new("real"), "flip");
    root
}

const ESCAPES: &str = "\
dotdot: notcapable
dotdot deep: notcapable
dotdot many: notcapable
absolute: notcapable
symlink to a directory out: notcapable
absolute symlink: notcapable
absolute symlink, not followed: loop
symlink chain: notcapable
symlink loop: loop
a path that stays in: OPENED [inside]
stat ..: notcapable
stat via link: notcapable
rename out: notcapable
rename in: notcapable
hard link in: notcapable
mkdir out: notcapable
unlink out: notcapable
symlink pointing out: ok
following it: notcapable
set times through a link: notcapable
NUL in a path: ilseq
long path: nametoolong
path past memory: fault
result past memory: fault
a path under standard input: notcapable
no such descriptor: badf
write under a read-only grant: notcapable
create without the right: notcapable
widen rights: notcapable
mkdir without the right: notcapable
libc ../: Capabilities insufficient
libc outside the preopen: Capabilities insufficient
";

#[test]
fn no_path_leads_out_of_a_granted_directory() {
    for module in modules(&test_program("escape.c")) {
        let root = sandbox();
        // `flip` is swapped, atomically, between a link to `real` (inside) and
        // one to `../outside` for as long as the program races to open through it.
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flipper = {
            let (stop, inside) = (stop.clone(), root.join("inside"));
            std::thread::spawn(move || {
                let mut flips = 0u64;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let target = if flips % 2 == 0 { "../outside" } else { "real" };
                    let tmp = inside.join("flip.tmp");
                    let _ = std::fs::remove_file(&tmp);
                    std::os::unix::fs::symlink(target, &tmp).unwrap();
                    std::fs::rename(&tmp, inside.join("flip")).unwrap();
                    flips += 1;
                }
                flips
            })
        };
        let out = run(
            common::manda_command()
                .current_dir(&root)
                .args(["run", "--dir", "inside::/sandbox"])
                .arg(&module)
                .arg("20000"),
            b"",
        );
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        assert!(flipper.join().unwrap() > 10, "the link flipped while the program ran");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            format!("{ESCAPES}race: 0 leaked\n"),
            "{}: {}",
            module.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(std::fs::read_to_string(root.join("outside/secret.txt")).unwrap(), "SECRET\n");
        assert_eq!(std::fs::read_dir(root.join("outside")).unwrap().count(), 1, "nothing was made outside");
    }
}

#[test]
fn a_program_streams_a_file_through_a_compressor_as_its_native_build_does() {
    // `stream.c` is the program the migration tests move with its files open (moving_files.rs).
    let src = test_program("stream.c");
    let input: Vec<u8> = (0..5u32 << 20).map(|i| (i / 7 % 251) as u8).collect();
    let native_dir = fresh_dir("stream-native");
    std::fs::write(native_dir.join("in.bin"), &input).unwrap();
    let natively = run(Command::new(native(&src)).current_dir(&native_dir), b"");
    assert!(natively.status.success());
    let expected = std::fs::read(native_dir.join("out.bin")).unwrap();
    for module in modules(&src) {
        let dir = fresh_dir("stream-manda");
        std::fs::write(dir.join("in.bin"), &input).unwrap();
        let out = run(common::manda_command().current_dir(&dir).args(["run", "--dir", "."]).arg(&module), b"");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&natively.stdout),
            "{}",
            module.display()
        );
        assert!(std::fs::read(dir.join("out.bin")).unwrap() == expected, "{}: out.bin differs", module.display());
    }
}

#[test]
fn every_wasi_function_called_from_c_does_what_it_should() {
    // The same scenarios as `wasi/every_call.wat` (`manda-wasi`), through wasi-libc's raw bindings.
    let expected = "\
args_sizes_get: 1 16
args_get: every_call.wasm
environ_sizes_get: 2 8
environ_get: A=1 B=2
clock_res_get: 0 1
clock_time_get: 0 1
fd_advise: 0 28
fd_allocate: 0 100
fd_filestat_set_size: 0 5
fd_datasync: 0
fd_sync: 0
fd_fdstat_get: 0 4
fd_fdstat_set_flags: 1
fd_filestat_get: 0 4 5
fd_filestat_set_times: 7
fd_pread: 0 4 ello
fd_pwrite: 0 2
fd_seek: 0 3
fd_read: 0 2 XY
fd_tell: 0 5
fd_write: to stdout
fd_fdstat_set_rights: 0 76
fd_prestat_get: 0 1 8
fd_prestat_dir_name: 0 .
fd_readdir: 0 80
fd_renumber: 0 8
fd_close: 0 8
path_create_directory: 0 20
path_filestat_get: 0 3
path_filestat_set_times: 0 9
path_link: 0 2
path_symlink: 0
path_readlink: 0 5 f.txt
path_rename: 0 44
path_unlink_file: 0 44
path_remove_directory: 0 44
path_open: 44
poll_oneoff: 0 1 42 0
proc_raise: 52
sched_yield: 0
random_get: 0
sock_accept: 52
sock_recv: 52
sock_send: 52
sock_shutdown: 52
";
    for module in modules(&test_program("every_call.c")) {
        let dir = fresh_dir("every-call");
        std::fs::write(dir.join("f.txt"), "hello").unwrap();
        let grant = format!("{}::.", dir.display());
        let options = ["--dir", &grant, "--env", "A=1", "--env", "B=2"];
        let out = run(common::manda_command().arg("run").args(options).arg(&module), b"");
        assert_eq!(String::from_utf8_lossy(&out.stdout), expected, "{}", module.display());
        assert_eq!(out.status.code(), Some(7), "proc_exit's status");
        let left: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(left, ["f.txt"]);
    }
}
