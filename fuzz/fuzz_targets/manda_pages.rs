//! A live migration's target on arbitrary bytes: pages sent ahead
//! (`Received::apply`, records of any kind — bytes, zeros, shared, owed,
//! void — context and page number), then a final snapshot over them
//! (`Machine::restore_received`, with a correct CRC-32 so that mutations
//! reach its structural checks), then a post-copy's owed pages arriving
//! (`Pager::fill`). Never a panic, never more memory than the limit
//! allows; a machine so restored saves a state that restores into a fresh
//! machine once no page is owed, and refuses to save while one is.
//!
//! The input: two bytes of the pages part's length, two of the owed pages
//! part's, the pages part, the owed pages part, then the snapshot.
#![no_main]
use libfuzzer_sys::fuzz_target;
use mova_manda_fuzz::{snapshot_machine, snapshot_program, with_right_crc};

fuzz_target!(|input: &[u8]| {
    let Some((lens, rest)) = input.split_first_chunk::<4>() else { return };
    let len = |i: usize| u16::from_le_bytes([lens[i], lens[i + 1]]) as usize;
    let (pages, rest) = rest.split_at(len(0).min(rest.len()));
    let (fills, snapshot) = rest.split_at(len(2).min(rest.len()));
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
    if machine.restore_received(&snapshot, received).is_err() {
        return;
    }
    if let Some(pager) = machine.pages_owed().cloned() {
        // Owed pages' records (an index and 4096 bytes each), a few at a time.
        for chunk in fills.chunks(3 * 4104) {
            if pager.fill(chunk).is_err() {
                break;
            }
        }
        if pager.left() > 0 {
            assert!(machine.save().is_err(), "a machine still owed pages saves no state");
            return;
        }
    }
    let saved = machine.save().expect("a restored machine saves");
    fresh().restore(&saved).unwrap_or_else(|e| panic!("its own save does not restore: {e}"));
});
