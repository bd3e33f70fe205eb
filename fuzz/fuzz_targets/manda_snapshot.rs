//! A Manda snapshot decoder and restore on arbitrary bytes, into a machine
//! of a small program with ports and a heap: never a panic; a restored
//! machine runs (under a step and memory limit, and for at most 200 ms: a
//! restored sleep may be long) to an end or an interrupt; what a restored
//! machine saves restores into a fresh machine that saves the same bytes
//! but the clock (encode ∘ decode is the identity on encoded snapshots). Every input gets
//! a correct CRC-32 in its last 4 bytes, so that mutations reach the
//! decoder's structural checks rather than stop at the checksum (whose own
//! check the unit tests cover).
#![no_main]
use libfuzzer_sys::fuzz_target;
use mova_manda_fuzz::{snapshot_machine, snapshot_program, with_right_crc};

fuzz_target!(|input: &[u8]| {
    let data = with_right_crc(input);
    let data = &data[..];
    let exe = snapshot_program();
    let fresh = || snapshot_machine(&exe);
    let mut machine = fresh();
    if machine.restore(data).is_ok() {
        let saved = machine.save().expect("a restored machine saves");
        let mut again = fresh();
        again.restore(&saved).unwrap_or_else(|e| panic!("its own save does not restore: {e}"));
        let mut twice = again.save().unwrap();
        // The clock (bytes 58..66) goes on while a machine is stopped, and the CRC covers it.
        let mut saved = saved;
        if saved.len() == twice.len() && saved.len() > 66 {
            let crc = saved.len() - 4;
            for bytes in [&mut saved, &mut twice] {
                bytes[58..66].fill(0);
                bytes[crc..].fill(0);
            }
        }
        if twice != saved {
            let at = twice.iter().zip(&saved).position(|(a, b)| a != b).unwrap_or(twice.len().min(saved.len()));
            panic!(
                "save, restore, save changed the snapshot at byte {at} (lengths {} and {}):\n{:02x?}\n{:02x?}",
                saved.len(),
                twice.len(),
                &saved[at.saturating_sub(16)..(at + 16).min(saved.len())],
                &twice[at.saturating_sub(16)..(at + 16).min(twice.len())]
            );
        }
        // A restored context may owe a sleep of any length, as the program's
        // own `sleep` could: not a hang. Interrupt the run after 200 ms.
        let interrupt = machine.interrupt();
        let (done, finished) = std::sync::mpsc::channel::<()>();
        let raiser = std::thread::spawn(move || {
            if finished.recv_timeout(std::time::Duration::from_millis(200)).is_err() {
                interrupt.raise();
            }
        });
        let _ = machine.run();
        let _ = done.send(());
        raiser.join().unwrap();
    }
});
