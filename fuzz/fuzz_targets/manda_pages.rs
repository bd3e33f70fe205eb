//! A live migration's target on arbitrary bytes: pages sent ahead
//! (`Received::apply`, records of any kind, context and page number), then
//! a final snapshot over them (`Machine::restore_received`, with a correct
//! CRC-32 so that mutations reach its structural checks). Never a panic,
//! never more memory than the limit allows; a machine so restored saves a
//! state that restores into a fresh machine.
//!
//! The input: two bytes of the pages part's length, the pages part, then the snapshot.
#![no_main]
use libfuzzer_sys::fuzz_target;
use manda::machine::{Config, Machine, SharedBuf};

/// As manda_snapshot's: a port, a heap page, a forked second context.
const PROGRAM: &str = ".data\nd: .zero 64\n.code\nmain:\n    pnew t0\n    li t1, 4096\n    grow t2, t1\n    fork t3, child\n    printi t3\n    halt\nchild:\n    printi t0\n    halt\n";

fuzz_target!(|input: &[u8]| {
    let Some((len, rest)) = input.split_first_chunk::<2>() else { return };
    let split = (u16::from_le_bytes(*len) as usize).min(rest.len());
    let (pages, snapshot) = rest.split_at(split);
    let mut snapshot = snapshot.to_vec();
    if snapshot.len() > 4 {
        let body = snapshot.len() - 4;
        let crc = crc32fast::hash(&snapshot[..body]);
        snapshot[body..].copy_from_slice(&crc.to_le_bytes());
    }
    let (bytes, _) = manda::asm::assemble(PROGRAM).unwrap();
    let exe = manda::exe::Executable::load(&bytes).unwrap();
    let fresh = || {
        let config = Config { max_steps: Some(10_000), max_memory: 16 << 20, threads: 1, ..Config::default() };
        let mut machine = Machine::new(&exe, config).unwrap();
        machine.set_output(Box::new(SharedBuf::default()));
        machine.set_error_output(Box::new(SharedBuf::default()));
        machine
    };
    let mut machine = fresh();
    let mut received = machine.receiver().expect("an empty receiver");
    // Records in chunks of up to 512 bytes, as frames would bring them; the first bad one ends it.
    for chunk in pages.chunks(512) {
        if received.apply(chunk).is_err() {
            return;
        }
    }
    if machine.restore_received(&snapshot, received).is_ok() {
        let saved = machine.save().expect("a restored machine saves");
        fresh().restore(&saved).unwrap_or_else(|e| panic!("its own save does not restore: {e}"));
    }
});
