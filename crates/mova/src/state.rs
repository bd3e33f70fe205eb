//! The state serializer: a running program's state as bytes, and back.
//!
//! A state is a sequence of segments, each a u16 little-endian header then
//! its body (specified byte by byte in `docs/mova/state.md`):
//!
//! | header | segment | body |
//! | --- | --- | --- |
//! | `0x1D5A` | program identity | 32-byte SHA-256 of the program's bytecode |
//! | `0x101E` | instruction pointer (seed) | u32 |
//! | `0x3ACC` | stack (seed) | u16 count, u32 element size (8), count × i64, bottom first |
//! | `0x51EE` | remaining sleep | u64 microseconds |
//! | `0xC4C5` | checksum, always last | u32 CRC-32 (IEEE) of every byte before it |
//!
//! The decoder treats its input as hostile: the checksum is verified first
//! (CRC-32 detects every error burst up to 32 bits, so any single corrupted
//! byte is rejected), then each segment is parsed with its length checked
//! before anything is allocated.

use crate::bytecode::Program;
use sha2::{Digest, Sha256};
use std::time::Duration;
use thiserror::Error;

/// Segment header: program identity.
pub const SEG_PROGRAM: u16 = 0x1D5A;
/// Segment header: instruction pointer (from the seed).
pub const SEG_IP: u16 = 0x101E;
/// Segment header: stack (from the seed).
pub const SEG_STACK: u16 = 0x3ACC;
/// Segment header: the rest of an interrupted SLEEP.
pub const SEG_SLEEP: u16 = 0x51EE;
/// Segment header: checksum of everything before it.
pub const SEG_CHECKSUM: u16 = 0xC4C5;
/// The stack element size the format records: 8 bytes, an i64.
pub const ELEMENT_SIZE: u32 = 8;
/// The most values a stack holds: its count is a u16 in the state format
/// (and so the VM's limit too).
pub const MAX_STACK: usize = u16::MAX as usize;
/// The largest state there can be: every segment, a full stack.
pub const MAX_STATE_LEN: usize = (2 + 32) + (2 + 4) + (2 + 2 + 4 + MAX_STACK * 8) + (2 + 8) + (2 + 4);

/// SHA-256 of a program's bytecode: what a state is bound to.
pub type ProgramHash = [u8; 32];

/// Identifies a program: the SHA-256 of its bytecode file.
pub fn program_hash(program: &Program) -> ProgramHash {
    Sha256::digest(program.to_bytes()).into()
}

/// Everything a stopped Mova program needs to continue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct State {
    /// The program it belongs to.
    pub program: ProgramHash,
    /// Next instruction to run.
    pub ip: u32,
    /// The stack, bottom first.
    pub stack: Vec<i64>,
    /// Sleep still owed before the next instruction.
    pub sleep_remaining: Duration,
}

/// Why a state was rejected, and at which byte.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("state byte {offset}: {kind}")]
pub struct StateError {
    /// Byte offset in the state where the problem is.
    pub offset: usize,
    /// What is wrong.
    pub kind: StateErrorKind,
}

/// The ways a state can be malformed or not belong here.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum StateErrorKind {
    /// Shorter than the smallest possible state, or larger than the largest.
    #[error("a state is {min} to {max} bytes, this one is {0}", min = 6, max = MAX_STATE_LEN)]
    BadLength(usize),
    /// The last segment is not the checksum.
    #[error("no checksum segment at the end (expected header 0x{SEG_CHECKSUM:04X}, found 0x{0:04X})")]
    MissingChecksum(u16),
    /// The checksum does not match: the state was corrupted.
    #[error("checksum mismatch: stored 0x{stored:08X}, computed 0x{computed:08X}; the state is corrupted")]
    BadChecksum {
        /// The value in the checksum segment.
        stored: u32,
        /// The CRC-32 of the bytes before it.
        computed: u32,
    },
    /// A segment header this format does not have.
    #[error("unknown segment header 0x{0:04X}")]
    UnknownSegment(u16),
    /// A segment that appears twice.
    #[error("duplicate {0} segment")]
    DuplicateSegment(&'static str),
    /// A required segment that does not appear.
    #[error("missing {0} segment")]
    MissingSegment(&'static str),
    /// A segment cut short by the checksum segment.
    #[error("truncated {segment} segment: needs {needed} bytes, {available} left")]
    Truncated {
        /// The segment being read.
        segment: &'static str,
        /// Bytes it needs.
        needed: usize,
        /// Bytes left before the checksum.
        available: usize,
    },
    /// The stack segment's element size is not 8.
    #[error("stack element size {0}, expected 8")]
    ElementSize(u32),
    /// The IP is past the end of the program.
    #[error("IP {ip} is out of range: the program has {len} instructions")]
    IpOutOfRange {
        /// The IP in the state.
        ip: u32,
        /// Program length.
        len: usize,
    },
    /// The state was saved from another program.
    #[error("the state belongs to another program (sha256 {found}…, this program is {expected}…)")]
    WrongProgram {
        /// Hash prefix in the state.
        found: String,
        /// Hash prefix of the program.
        expected: String,
    },
}

fn segment_name(header: u16) -> &'static str {
    match header {
        SEG_PROGRAM => "program",
        SEG_IP => "IP",
        SEG_STACK => "stack",
        SEG_SLEEP => "sleep",
        _ => "checksum",
    }
}

fn hex_prefix(hash: &ProgramHash) -> String {
    vm_core::hex(&hash[..6])
}

impl State {
    /// Encodes the state: program, IP, stack, sleep, checksum segments.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64 + self.stack.len() * 8);
        out.extend_from_slice(&SEG_PROGRAM.to_le_bytes());
        out.extend_from_slice(&self.program);
        out.extend_from_slice(&SEG_IP.to_le_bytes());
        out.extend_from_slice(&self.ip.to_le_bytes());
        out.extend_from_slice(&SEG_STACK.to_le_bytes());
        // The VM never holds more than MAX_STACK values; a hand-built State is clamped to what the format holds.
        let count = self.stack.len().min(MAX_STACK);
        out.extend_from_slice(&(count as u16).to_le_bytes());
        out.extend_from_slice(&ELEMENT_SIZE.to_le_bytes());
        for v in &self.stack[..count] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(&SEG_SLEEP.to_le_bytes());
        let micros = u64::try_from(self.sleep_remaining.as_micros()).unwrap_or(u64::MAX);
        out.extend_from_slice(&micros.to_le_bytes());
        let crc = crc32fast::hash(&out);
        out.extend_from_slice(&SEG_CHECKSUM.to_le_bytes());
        out.extend_from_slice(&crc.to_le_bytes());
        out
    }

    /// Decodes a state and checks that it belongs to `program`.
    pub fn decode(bytes: &[u8], program: &Program) -> Result<State, StateError> {
        let state = State::decode_unbound(bytes)?;
        let expected = program_hash(program);
        if state.program != expected {
            return Err(StateError {
                offset: 2,
                kind: StateErrorKind::WrongProgram {
                    found: hex_prefix(&state.program),
                    expected: hex_prefix(&expected),
                },
            });
        }
        if state.ip as usize > program.len() {
            let offset = bytes.windows(2).position(|w| w == SEG_IP.to_le_bytes()).map_or(0, |p| p + 2);
            return Err(StateError { offset, kind: StateErrorKind::IpOutOfRange { ip: state.ip, len: program.len() } });
        }
        Ok(state)
    }

    /// Decodes a state without checking which program it belongs to.
    pub fn decode_unbound(bytes: &[u8]) -> Result<State, StateError> {
        let fail = |offset, kind| Err(StateError { offset, kind });
        if bytes.len() < 6 || bytes.len() > MAX_STATE_LEN {
            return fail(0, StateErrorKind::BadLength(bytes.len()));
        }
        let body_len = bytes.len() - 6;
        let header = u16::from_le_bytes([bytes[body_len], bytes[body_len + 1]]);
        if header != SEG_CHECKSUM {
            return fail(body_len, StateErrorKind::MissingChecksum(header));
        }
        let stored = u32::from_le_bytes(bytes[body_len + 2..].try_into().expect("4 bytes"));
        let computed = crc32fast::hash(&bytes[..body_len]);
        if stored != computed {
            return fail(body_len + 2, StateErrorKind::BadChecksum { stored, computed });
        }
        let body = &bytes[..body_len];
        let (mut program, mut ip, mut stack, mut sleep) = (None, None, None, None);
        let mut pos = 0;
        while pos < body.len() {
            let start = pos;
            let Some(h) = body.get(pos..pos + 2) else {
                return fail(pos, StateErrorKind::Truncated { segment: "segment header", needed: 2, available: 1 });
            };
            let header = u16::from_le_bytes([h[0], h[1]]);
            pos += 2;
            let name = segment_name(header);
            let take = |pos: &mut usize, n: usize| -> Result<&[u8], StateError> {
                let slice = body.get(*pos..*pos + n).ok_or(StateError {
                    offset: *pos,
                    kind: StateErrorKind::Truncated { segment: name, needed: n, available: body.len() - *pos },
                })?;
                *pos += n;
                Ok(slice)
            };
            let duplicate = StateError { offset: start, kind: StateErrorKind::DuplicateSegment(name) };
            match header {
                SEG_PROGRAM => {
                    let hash: ProgramHash = take(&mut pos, 32)?.try_into().expect("32 bytes");
                    if program.replace(hash).is_some() {
                        return Err(duplicate);
                    }
                }
                SEG_IP => {
                    let v = u32::from_le_bytes(take(&mut pos, 4)?.try_into().expect("4 bytes"));
                    if ip.replace(v).is_some() {
                        return Err(duplicate);
                    }
                }
                SEG_STACK => {
                    if stack.is_some() {
                        return Err(duplicate);
                    }
                    let head = take(&mut pos, 6)?;
                    let count = u16::from_le_bytes([head[0], head[1]]) as usize;
                    let size = u32::from_le_bytes(head[2..6].try_into().expect("4 bytes"));
                    if size != ELEMENT_SIZE {
                        return fail(start + 4, StateErrorKind::ElementSize(size));
                    }
                    // `take` checks the length before anything is allocated.
                    let elements = take(&mut pos, count * 8)?;
                    stack = Some(
                        elements.chunks_exact(8).map(|c| i64::from_le_bytes(c.try_into().expect("8 bytes"))).collect(),
                    );
                }
                SEG_SLEEP => {
                    let micros = u64::from_le_bytes(take(&mut pos, 8)?.try_into().expect("8 bytes"));
                    if sleep.replace(Duration::from_micros(micros)).is_some() {
                        return Err(duplicate);
                    }
                }
                SEG_CHECKSUM => {
                    return fail(start, StateErrorKind::DuplicateSegment("checksum"));
                }
                other => return fail(start, StateErrorKind::UnknownSegment(other)),
            }
        }
        let missing = |name| StateError { offset: body_len, kind: StateErrorKind::MissingSegment(name) };
        Ok(State {
            program: program.ok_or_else(|| missing("program"))?,
            ip: ip.ok_or_else(|| missing("IP"))?,
            stack: stack.ok_or_else(|| missing("stack"))?,
            sleep_remaining: sleep.ok_or_else(|| missing("sleep"))?,
        })
    }
}
