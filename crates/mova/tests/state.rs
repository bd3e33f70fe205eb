//! The state serializer: exact bytes, round trips and hostile input.

use mova::state::{program_hash, StateErrorKind, MAX_STATE_LEN};
use mova::{compile, Exit, SourceKind, State, Vm};
use proptest::prelude::*;
use std::time::Duration;

fn counter() -> mova::Program {
    compile("PUT 0\nloop: ADD 1\nPRINT\nSLEEP 100\nGOTO loop\n", SourceKind::Masm).unwrap().0
}

/// The counter interrupted for real in its second SLEEP, after printing 1 and 2; the owed
/// time, which varies by microseconds from run to run, is then set to 41.5 ms.
fn saved_counter() -> Vec<u8> {
    let mut vm = Vm::new(counter(), Vec::new());
    vm.set_step_limit(Some(7)); // PUT, ADD, PRINT, SLEEP (100 ms), GOTO, ADD, PRINT
    assert_eq!(vm.run(), Ok(Exit::StepLimit));
    vm.set_step_limit(None);
    let line = vm.interrupt_line();
    let interrupter = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(58));
        line.raise();
    });
    assert_eq!(vm.run(), Ok(Exit::Interrupted));
    interrupter.join().unwrap();
    assert_eq!((vm.ip(), vm.stack()), (4, &[2][..]), "the SLEEP ran; the GOTO is next");
    assert!(vm.sleep_remaining() > Duration::ZERO && vm.sleep_remaining() < Duration::from_millis(100));
    vm.set_sleep_remaining(Duration::from_micros(41_500));
    vm.save_state().encode()
}

/// The bytes of the hex walk-through in docs/mova/state.md.
fn documented_bytes() -> Vec<u8> {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/mova/state.md")).unwrap();
    let block = doc.split("## A real state").nth(1).unwrap().split("```text\n").nth(1).unwrap();
    let block = block.split("```").next().unwrap();
    block
        .lines()
        .filter(|l| l.starts_with("0x"))
        .flat_map(|l| {
            l.split_whitespace()
                .skip(1)
                .take_while(|w| w.len() == 2 && w.chars().all(|c| c.is_ascii_hexdigit()))
                .map(|w| u8::from_str_radix(w, 16).unwrap())
                .collect::<Vec<_>>()
        })
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(" ")
}

#[test]
fn a_saved_state_has_the_documented_bytes() {
    let bytes = saved_counter();
    let hash = program_hash(&counter());
    let expected = format!(
        "5a 1d {} 1e 10 04 00 00 00 cc 3a 01 00 08 00 00 00 02 00 00 00 00 00 00 00 ee 51 1c a2 00 00 00 00 00 00 c5 c4 {}",
        hex(&hash),
        hex(&crc32fast::hash(&bytes[..bytes.len() - 6]).to_le_bytes())
    );
    assert_eq!(hex(&bytes), expected);
    assert_eq!(bytes.len(), 34 + 6 + 16 + 10 + 6);
    assert_eq!(hex(&documented_bytes()), hex(&bytes), "docs/mova/state.md's walk-through is these bytes");
}

#[test]
fn restore_continues_from_the_saved_point() {
    let bytes = saved_counter();
    let mut b = Vm::new(counter(), Vec::new());
    b.restore_state(&bytes).unwrap();
    assert_eq!((b.ip(), b.stack(), b.sleep_remaining()), (4, &[2][..], Duration::from_micros(41_500)));
    b.set_sleep_remaining(Duration::ZERO);
    b.set_step_limit(Some(3)); // GOTO, ADD, PRINT
    assert_eq!(b.run(), Ok(Exit::StepLimit));
    assert_eq!(b.into_output(), b"3\n", "the first PRINT after restore continues the sequence");
}

#[test]
fn every_single_flipped_byte_is_rejected() {
    let bytes = saved_counter();
    for i in 0..bytes.len() {
        for flip in [0x01u8, 0x80, 0xFF] {
            let mut bad = bytes.clone();
            bad[i] ^= flip;
            let mut vm = Vm::new(counter(), Vec::new());
            assert!(vm.restore_state(&bad).is_err(), "byte {i} ^ {flip:#x} accepted");
            assert_eq!((vm.ip(), vm.stack()), (0, &[][..]), "a rejected state leaves the VM unchanged");
        }
    }
}

/// Re-seals a hand-edited body with a valid checksum, to reach the checks behind it.
fn sealed(body: &[u8]) -> Vec<u8> {
    let mut out = body.to_vec();
    out.extend_from_slice(&0xC4C5u16.to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(body).to_le_bytes());
    out
}

fn kind(bytes: &[u8]) -> (usize, StateErrorKind) {
    let e = State::decode(bytes, &counter()).unwrap_err();
    (e.offset, e.kind)
}

#[test]
fn structural_errors_are_typed_with_their_offset() {
    let good = saved_counter();
    let body = &good[..good.len() - 6];
    // Segment offsets in the body: program 0, IP 34, stack 40, sleep 56.
    assert_eq!(kind(&good[..5]), (0, StateErrorKind::BadLength(5)));
    assert_eq!(kind(&vec![0; MAX_STATE_LEN + 1]).1, StateErrorKind::BadLength(MAX_STATE_LEN + 1));
    assert_eq!(
        kind(&good[..good.len() - 1]).1,
        StateErrorKind::MissingChecksum(u16::from_le_bytes([good[good.len() - 7], good[good.len() - 6]]))
    );
    let mut unknown = body.to_vec();
    unknown.extend_from_slice(&[0x34, 0x12]);
    assert_eq!(kind(&sealed(&unknown)), (66, StateErrorKind::UnknownSegment(0x1234)));
    let mut dup = body.to_vec();
    dup.extend_from_slice(&body[34..40]);
    assert_eq!(kind(&sealed(&dup)), (66, StateErrorKind::DuplicateSegment("IP")));
    let no_sleep = &body[..56];
    assert_eq!(kind(&sealed(no_sleep)), (56, StateErrorKind::MissingSegment("sleep")));
    let cut = &body[..60];
    assert_eq!(kind(&sealed(cut)), (58, StateErrorKind::Truncated { segment: "sleep", needed: 8, available: 2 }));
    let mut wide = body.to_vec();
    wide[44] = 4;
    assert_eq!(kind(&sealed(&wide)), (44, StateErrorKind::ElementSize(4)));
    // A stack count far beyond the data: rejected before any allocation.
    let mut deep = body.to_vec();
    deep[42..44].copy_from_slice(&u16::MAX.to_le_bytes());
    assert_eq!(kind(&sealed(&deep)).1, StateErrorKind::Truncated { segment: "stack", needed: 524280, available: 18 });
    let mut far = body.to_vec();
    far[36..40].copy_from_slice(&6u32.to_le_bytes());
    assert_eq!(kind(&sealed(&far)), (36, StateErrorKind::IpOutOfRange { ip: 6, len: 5 }));
    let other = compile("PUT 1\n", SourceKind::Masm).unwrap().0;
    let e = State::decode(&good, &other).unwrap_err();
    assert!(matches!(e.kind, StateErrorKind::WrongProgram { .. }), "{e}");
    assert!(e.to_string().starts_with("state byte 2: the state belongs to another program"), "{e}");
}

proptest! {
    #[test]
    fn decode_inverts_encode(ip in 0u32..=5, stack in proptest::collection::vec(any::<i64>(), 0..200), us in any::<u64>()) {
        let state = State { program: program_hash(&counter()), ip, stack, sleep_remaining: Duration::from_micros(us) };
        prop_assert_eq!(State::decode(&state.encode(), &counter()), Ok(state));
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = State::decode(&sealed(&bytes), &counter());
        let _ = State::decode(&bytes, &counter());
    }
}
