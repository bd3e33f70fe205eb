//! The control port under hostile clients: many idle connections, the file
//! descriptor limit, payloads that never finish, silent clients, empty and
//! leaked tokens. Through all of it the VM runs its program and serves a
//! well-behaved client.

mod common;

use common::{counter_command, hv, hv_ok, run, runtime_dir, scratch, Raw, Vm};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::process::Command;
use std::time::{Duration, Instant};

/// `hv-counter ARGS` started through `sh -c 'ulimit …; exec …'`, so it runs under a resource limit.
fn start_limited(ulimit: &str, args: &[&str]) -> Vm {
    let command = counter_command(&runtime_dir(), &[]);
    let mut limited = Command::new("sh");
    limited.arg("-c").arg(format!("ulimit {ulimit} && exec \"$0\" \"$@\"")).arg(command.get_program()).args(args);
    for (key, value) in command.get_envs() {
        match value {
            Some(value) => limited.env(key, value),
            None => limited.env_remove(key),
        };
    }
    limited.stdin(std::process::Stdio::null()).stdout(std::process::Stdio::piped());
    Vm::spawn(limited, runtime_dir())
}

/// The VM still counts (new values keep coming) and answers `hv status` promptly.
fn assert_serving(vm: &mut Vm) {
    vm.drain();
    let before = vm.take(1)[0];
    let started = Instant::now();
    let status = hv_ok(&["status", &vm.pid()]);
    assert!(status.starts_with("running hv-counter pid="), "{status}");
    assert!(started.elapsed() < Duration::from_secs(2), "status took {:?}", started.elapsed());
    assert!(vm.take(1)[0] > before);
}

#[test]
fn hundreds_of_idle_connections_cost_no_threads_and_block_nobody() {
    // 400 MB of address space: one thread per connection would run out after a few hundred.
    let mut a = start_limited("-v 400000", &["--period-ms", "2"]);
    let mut b = Vm::start(&["--wait"]);
    let idle: Vec<TcpStream> = (0..300).map(|_| TcpStream::connect(a.endpoint()).unwrap()).collect();
    let idle_b: Vec<TcpStream> = (0..300).map(|_| TcpStream::connect(b.endpoint()).unwrap()).collect();
    std::thread::sleep(Duration::from_millis(200));
    assert!(a.proc_status("Threads") <= 4, "threads: {}", a.proc_status("Threads"));
    assert_serving(&mut a);
    // A migration goes through them.
    let mut seen = a.drain();
    assert_eq!(hv_ok(&["migrate", &a.pid(), "--to", &b.pid()]), format!("migrated {} -> {}\n", a.pid(), b.pid()));
    seen.extend(a.read_to_end());
    seen.extend(b.take(3));
    common::assert_counts_up(&seen[seen.len().saturating_sub(6)..]);
    drop((idle, idle_b));
}

#[test]
fn under_a_task_limit_connections_cannot_exhaust_threads() {
    // The case: 64 tasks (cgroup pids.max), 63 idle connections aborted the VM when each had a thread.
    let cgroup = std::path::PathBuf::from(format!("/sys/fs/cgroup/pids/hv-test-{}", std::process::id()));
    if std::fs::create_dir(&cgroup).is_err() {
        eprintln!("\n!!!!!!!! task-limit test NOT RUN: cannot create a pids cgroup (needs root and cgroup v1 pids) !!!!!!!!\n");
        return;
    }
    std::fs::write(cgroup.join("pids.max"), "8").unwrap();
    let procs = cgroup.join("cgroup.procs");
    let mut vm = start_limited(&format!("-c 0 && echo $$ > {}", procs.display()), &["--period-ms", "2"]);
    let idle: Vec<TcpStream> = (0..100).map(|_| TcpStream::connect(vm.endpoint()).unwrap()).collect();
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(std::fs::read_to_string(&procs).unwrap().trim(), vm.pid(), "the VM runs in the cgroup");
    assert!(vm.proc_status("Threads") <= 4);
    assert_serving(&mut vm);
    drop(idle);
    let _ = vm.child.kill();
    let _ = vm.child.wait();
    let _ = std::fs::remove_dir(&cgroup);
}

#[test]
fn at_the_file_descriptor_limit_clients_are_refused_at_once_and_the_vm_does_not_spin() {
    let mut vm = start_limited("-n 32", &["--period-ms", "10"]);
    let endpoint = vm.endpoint();
    let mut held = Vec::new();
    let mut refused = 0;
    for _ in 0..60 {
        let mut stream = TcpStream::connect(&endpoint).unwrap();
        stream.set_read_timeout(Some(Duration::from_millis(300))).unwrap();
        let mut reply = [0u8; 64];
        match stream.read(&mut reply) {
            Ok(n) if n > 0 => {
                assert_eq!(&reply[..n], b"ERR busy: the VM has run out of file descriptors\n");
                refused += 1;
            }
            _ => held.push(stream),
        }
    }
    assert!(refused >= 20, "{refused} refused, {} held", held.len());
    let ticks = vm.cpu_ticks();
    std::thread::sleep(Duration::from_secs(1));
    let used = vm.cpu_ticks() - ticks;
    assert!(used < 30, "the VM used {used} ticks of CPU in 1 s at the fd limit");
    drop(held);
    std::thread::sleep(Duration::from_millis(100));
    assert_serving(&mut vm);
}

#[test]
fn payloads_that_never_finish_are_bounded_and_time_out() {
    let mut vm = Vm::start(&["--period-ms", "2", "--max-state", "1048576", "--control-timeout", "1"]);
    let endpoint = vm.endpoint();
    let chunk = vec![0x55u8; 64 * 1024];
    let mut accepted = Vec::new();
    let mut refused = 0;
    for _ in 0..200 {
        let mut raw = Raw::connect(&endpoint);
        raw.send(b"restore 0123456789abcdef0123456789abcdef 1048576\n");
        let _ = raw.writer.write_all(&chunk);
        raw.writer.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
        let reply = raw.line();
        if reply.is_empty() {
            accepted.push(raw);
        } else {
            assert!(
                reply.starts_with("ERR busy: ") && reply.ends_with(" (at most 4194304 at once); try again"),
                "{reply}"
            );
            refused += 1;
        }
    }
    assert_eq!(accepted.len(), 4, "4 MiB of payload at once, then refusals");
    assert_eq!(refused, 196);
    let rss_kb = vm.proc_status("VmRSS");
    assert!(rss_kb < 32 * 1024, "the VM holds {rss_kb} kB");
    assert_serving(&mut vm);
    // The deadline ends them; then a whole payload is read and judged.
    for raw in &mut accepted {
        raw.writer.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        assert_eq!(raw.line(), "ERR timeout: the payload did not arrive within 1 s; closing");
    }
    let mut raw = Raw::connect(&endpoint);
    let lease = common::lease_of(&raw.call("interrupt"));
    raw.send(format!("restore {lease} 1048576\n").as_bytes());
    raw.send(&vec![0u8; 1048576]);
    assert_eq!(raw.line(), "ERR state byte 0: a counter state is 20 bytes, not 1048576");
    assert_eq!(raw.call("restore x 1048577"), "ERR bad payload length `1048577` (at most 1048576 bytes)");
    assert!(raw.closed(), "a payload that cannot be skipped closes the connection");
}

#[test]
fn silent_and_slow_clients_are_cut_off_by_deadlines() {
    let vm = Vm::start(&["--period-ms", "5", "--control-timeout", "1", "--token", "s3cret"]);
    let endpoint = vm.endpoint();
    let started = Instant::now();
    let mut silent = Raw::connect(&endpoint);
    assert_eq!(silent.line(), "ERR timeout: no `auth TOKEN` within 1 s; closing");
    assert!(silent.closed());
    let mut slow = Raw::connect(&endpoint);
    assert_eq!(slow.call("auth s3cret"), "OK authenticated");
    slow.send(b"stat");
    assert_eq!(slow.line(), "ERR timeout: the request line did not end within 1 s; closing");
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
    let mut idle = Raw::connect(&endpoint);
    assert_eq!(idle.call("auth s3cret"), "OK authenticated");
    assert_eq!(idle.line(), "ERR timeout: idle for 6 s; closing");
    let mut long = Raw::connect(&endpoint);
    long.send(&[b'a'; 2000]);
    assert_eq!(long.line(), "ERR line longer than 1024 bytes");
    assert!(long.closed());
}

#[test]
fn empty_tokens_are_refused_everywhere() {
    let refusal = "hv-counter: the token is empty: give a non-empty token, or none\n";
    for (args, env) in
        [(vec!["--token", ""], None), (vec![], Some("")), (vec!["--listen", "0.0.0.0:0", "--token", ""], None)]
    {
        let mut command = counter_command(&runtime_dir(), &args);
        if let Some(value) = env {
            command.env("MOVA_TOKEN", value);
        }
        let out = run(command);
        assert_eq!(String::from_utf8_lossy(&out.stderr), refusal, "{args:?}");
        assert_eq!(out.status.code(), Some(1));
    }
    let out = run(hv(&["--token", "", "status", "127.0.0.1:1"]));
    assert_eq!(String::from_utf8_lossy(&out.stderr), "hv: the token is empty: give a non-empty token, or none\n");
    // A bare `auth` line is no token.
    let vm = Vm::start(&["--token", "s3cret"]);
    let mut raw = Raw::connect(&vm.endpoint());
    assert_eq!(raw.call("auth"), "ERR unauthorized: send `auth TOKEN` first");
    assert!(raw.closed());
    let mut raw = Raw::connect(&vm.endpoint());
    assert_eq!(raw.call("auth s3cre"), "ERR unauthorized: send `auth TOKEN` first");
    // `hv ps` without the token says what the VM needs, not that it is unreachable.
    let table = String::from_utf8(run(hv(&["ps"])).stdout).unwrap();
    let row = table.lines().find(|l| l.trim_start().starts_with(&format!("{} ", vm.pid()))).unwrap();
    assert!(row.contains(" needs-token "), "{row}");
}

#[test]
fn a_token_file_keeps_the_token_off_the_command_line() {
    let dir = scratch("token-file");
    let file = dir.join("token");
    std::fs::write(&file, "from-a-file\n").unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = run(counter_command(&runtime_dir(), &["--token-file", file.to_str().unwrap()]));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        format!("hv-counter: the token file {} is readable by others (mode 0644); chmod 600 it\n", file.display())
    );
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let vm = Vm::start(&["--token-file", file.to_str().unwrap()]);
    let cmdline = std::fs::read(format!("/proc/{}/cmdline", vm.pid())).unwrap();
    assert!(!String::from_utf8_lossy(&cmdline).contains("from-a-file"));
    let out = run(hv(&["status", &vm.pid()]));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        format!("hv: {}: unauthorized: send `auth TOKEN` first\n", vm.pid())
    );
    let out = run(hv(&["--token", "from-a-file", "status", &vm.pid()]));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("running hv-counter"));
    // hv reads one too, under the same rule.
    let out = run(hv(&["--token-file", file.to_str().unwrap(), "status", &vm.pid()]));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("running hv-counter"));
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o640)).unwrap();
    let out = run(hv(&["--token-file", file.to_str().unwrap(), "status", &vm.pid()]));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        format!("hv: the token file {} is readable by others (mode 0640); chmod 600 it\n", file.display())
    );
}

#[test]
fn a_limit_of_zero_is_a_usage_error() {
    for flag in ["--control-timeout", "--lease-timeout"] {
        let out = run(counter_command(&runtime_dir(), &[flag, "0"]));
        assert_eq!(out.status.code(), Some(2), "{flag} 0");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("0 is not in 1..=86400"), "{stderr}");
    }
}
