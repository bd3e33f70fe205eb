//! Saving a machine hands its pages out without copying them: the VM's
//! peak resident set stays within the limit while a state is saved, and a
//! machine that runs on while its state is sent writes copies, not the
//! state. (Apart from `memory_limit.rs`, whose children's peaks would count
//! the 64 MiB states these tests hold.)

mod common;

use vm_host::protocol::Command;

use common::{ABOVE_MIB, LIMIT_MIB};

#[test]
fn saving_a_machine_does_not_copy_its_memory() {
    // 48 MiB of heap under a 64 MiB limit: a save that copied it would hold 96.
    let mut vm = common::Vm::start(&["--max-memory", &format!("{}M", 2 * LIMIT_MIB)], "limits/heap.s", &[]);
    assert_eq!(vm.take(1), [1]);
    let mut client = vm_host::Client::connect(&vm.endpoint(), None).unwrap();
    let (lease, _) = client.interrupt(None).unwrap();
    let state = client.save(&lease).unwrap();
    assert!(state.len() > 48 << 20, "{} bytes", state.len());
    let status = std::fs::read_to_string(format!("/proc/{}/status", vm.child.id())).unwrap();
    let peak: u64 =
        status.lines().find_map(|l| l.strip_prefix("VmHWM:")).unwrap().trim().trim_end_matches(" kB").parse().unwrap();
    assert!(
        peak / 1024 <= 2 * LIMIT_MIB + ABOVE_MIB,
        "saving held {} MiB under --max-memory {}M",
        peak / 1024,
        2 * LIMIT_MIB
    );
    assert_eq!(client.call(&Command::Resume(lease.to_string())).unwrap(), "running");
}

/// The pages a save hands out are the machine's own: if the machine runs
/// again while they are on their way (its lease holder resumed it over
/// another connection), what it writes goes to copies, and the state sent
/// is the one saved — its checksum holds and it restores.
#[test]
fn a_machine_resumed_while_its_state_is_sent_writes_copies_not_the_state() {
    use std::io::{BufRead, Read, Write};
    let mut vm = common::Vm::start(&[], "limits/rewrite.s", &[]);
    assert_eq!(vm.take(1), [1]);
    let stream = std::net::TcpStream::connect(vm.endpoint()).unwrap();
    let mut reader = std::io::BufReader::new(stream.try_clone().unwrap());
    let mut writer = stream;
    let mut line = String::new();
    writer.write_all(b"interrupt\n").unwrap();
    reader.read_line(&mut line).unwrap();
    let lease = vm_host::protocol::field(line.trim_end(), "lease").unwrap().to_string();
    line.clear();
    writer.write_all(format!("save {lease}\n").as_bytes()).unwrap();
    reader.read_line(&mut line).unwrap();
    let len: usize = line.trim_end().strip_prefix("OK ").unwrap().parse().unwrap();
    // The payload waits in the VM while the program runs on and rewrites every page.
    let mut other = vm_host::Client::connect(&vm.endpoint(), None).unwrap();
    assert_eq!(other.call(&Command::Resume(lease.to_string())).unwrap(), "running");
    std::thread::sleep(std::time::Duration::from_millis(300));
    let mut state = vec![0u8; len];
    reader.read_exact(&mut state).unwrap();
    let mut target = common::Vm::start(&["--wait"], "limits/rewrite.s", &[]);
    let mut client = vm_host::Client::connect(&target.endpoint(), None).unwrap();
    let (lease, _) = client.claim(None).unwrap();
    let restored = client.restore(&lease, &state).unwrap();
    assert!(restored.starts_with("restored "), "{restored}");
    // The program checks every page it rewrites: one from a later pass
    // than the state's (written while the state was sent) makes it exit 7.
    assert_eq!(client.call(&Command::Resume(lease.to_string())).unwrap(), "running");
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert_eq!(target.child.try_wait().unwrap().map(|s| s.code()), None, "the restored state was torn");
}
