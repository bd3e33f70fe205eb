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
use mova_manda_fuzz::{snapshot_machine, snapshot_program, with_right_crc};

fuzz_target!(|input: &[u8]| {
    let Some((len, rest)) = input.split_first_chunk::<2>() else { return };
    let split = (u16::from_le_bytes(*len) as usize).min(rest.len());
    let (pages, snapshot) = rest.split_at(split);
    let snapshot = with_right_crc(snapshot);
    // The machine manda_snapshot restores into: a port, a heap page, a forked second context.
    let exe = snapshot_program();
    let fresh = || snapshot_machine(&exe);
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
