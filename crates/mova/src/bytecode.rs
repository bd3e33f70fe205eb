//! The bytecode file format and the validated [`Program`] it holds.
//!
//! Layout (specified byte by byte in `docs/mova/bytecode.md`):
//!
//! ```text
//! offset 0  4 bytes  magic "MOVA" (4D 4F 56 41)
//! offset 4  u16 LE   format version, 1
//! offset 6  ...      instructions until the end of the file:
//!                    opcode byte, then its operand (i64 or u32, LE, or none)
//! ```
//!
//! The decoder treats its input as hostile: every rejection names the byte
//! offset where the file stops making sense.

use crate::isa::{Instr, Opcode};
use thiserror::Error;

/// The four bytes every bytecode file starts with.
pub const MAGIC: [u8; 4] = *b"MOVA";
/// The only format version this crate reads and writes.
pub const VERSION: u16 = 1;
/// Size of the magic plus version.
pub const HEADER_LEN: usize = 6;
/// The most instructions a program may have here: 2^24 (16,777,216). The
/// format's 32-bit instruction pointer would allow 2^32 − 1, but each takes
/// 16 bytes in memory, so a file of one-byte `PRINT`s would cost 16 times
/// its size; past this limit a program is refused instead.
pub const MAX_INSTRUCTIONS: usize = 1 << 24;

/// A program whose every GOTO lands on an instruction: the only kind the VM runs.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Program {
    instrs: Vec<Instr>,
}

/// A GOTO whose offset reaches before instruction 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("GOTO {offset} at instruction {index} lands before instruction 0")]
pub struct GotoOutOfRange {
    /// Index of the GOTO.
    pub index: usize,
    /// Its offset.
    pub offset: u32,
}

/// Why a bytecode file was rejected, and where.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("byte {offset}: {kind}")]
pub struct LoadError {
    /// Byte offset in the file where the problem is.
    pub offset: usize,
    /// What is wrong there.
    pub kind: LoadErrorKind,
}

/// The ways a bytecode file can be malformed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum LoadErrorKind {
    /// The file ends inside the 6-byte header.
    #[error("truncated header: the file has {0} bytes, a Mova header needs 6")]
    TruncatedHeader(usize),
    /// The first four bytes are not `MOVA`.
    #[error("bad magic {0:02X?}: not a Mova bytecode file (expected 4D 4F 56 41, \"MOVA\")")]
    BadMagic([u8; 4]),
    /// The version is not one this crate reads.
    #[error("unsupported format version {0} (this mova reads version 1)")]
    UnsupportedVersion(u16),
    /// A byte where an opcode should be is not one.
    #[error("unknown opcode 0x{0:02X} (valid opcodes are 0x01 to 0x05)")]
    UnknownOpcode(u8),
    /// The file ends inside an operand.
    #[error("truncated operand: {mnemonic} needs {needed} operand bytes, the file has {available} left")]
    TruncatedOperand {
        /// The instruction being read.
        mnemonic: &'static str,
        /// Operand size.
        needed: usize,
        /// Bytes left in the file.
        available: usize,
    },
    /// A GOTO jumps before the first instruction.
    #[error(transparent)]
    GotoOutOfRange(#[from] GotoOutOfRange),
    /// More than [`MAX_INSTRUCTIONS`].
    #[error("too many instructions: a program has at most {MAX_INSTRUCTIONS}")]
    TooManyInstructions,
}

impl Program {
    /// Wraps instructions after checking that every GOTO lands on one.
    pub fn new(instrs: Vec<Instr>) -> Result<Program, GotoOutOfRange> {
        if let Some((index, offset)) = instrs.iter().enumerate().find_map(|(i, ins)| match *ins {
            Instr::Goto(off) if off as usize > i => Some((i, off)),
            _ => None,
        }) {
            return Err(GotoOutOfRange { index, offset });
        }
        Ok(Program { instrs })
    }

    /// The instructions, in order.
    pub fn instrs(&self) -> &[Instr] {
        &self.instrs
    }

    /// Number of instructions.
    pub fn len(&self) -> usize {
        self.instrs.len()
    }

    /// True if the program has no instructions.
    pub fn is_empty(&self) -> bool {
        self.instrs.is_empty()
    }

    /// The bytecode file for this program.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER_LEN + self.instrs.len() * 9);
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&VERSION.to_le_bytes());
        for ins in &self.instrs {
            ins.encode(&mut out);
        }
        out
    }

    /// True if `bytes` starts with the bytecode magic.
    pub fn is_bytecode(bytes: &[u8]) -> bool {
        bytes.starts_with(&MAGIC)
    }

    /// Decodes and validates a bytecode file.
    pub fn from_bytes(bytes: &[u8]) -> Result<Program, LoadError> {
        let fail = |offset, kind| Err(LoadError { offset, kind });
        if bytes.len() < HEADER_LEN {
            if !MAGIC.starts_with(&bytes[..bytes.len().min(4)]) {
                let mut found = [0; 4];
                found[..bytes.len().min(4)].copy_from_slice(&bytes[..bytes.len().min(4)]);
                return fail(0, LoadErrorKind::BadMagic(found));
            }
            return fail(bytes.len(), LoadErrorKind::TruncatedHeader(bytes.len()));
        }
        let magic: [u8; 4] = bytes[..4].try_into().expect("length checked above");
        if magic != MAGIC {
            return fail(0, LoadErrorKind::BadMagic(magic));
        }
        let version = u16::from_le_bytes([bytes[4], bytes[5]]);
        if version != VERSION {
            return fail(4, LoadErrorKind::UnsupportedVersion(version));
        }
        // Every instruction is at least one byte, so this bounds the allocation by the input.
        let mut instrs = Vec::with_capacity(((bytes.len() - HEADER_LEN) / 5).min(MAX_INSTRUCTIONS));
        let mut pos = HEADER_LEN;
        while pos < bytes.len() {
            let Some(op) = Opcode::from_byte(bytes[pos]) else {
                return fail(pos, LoadErrorKind::UnknownOpcode(bytes[pos]));
            };
            let rest = &bytes[pos + 1..];
            let Some(ins) = Instr::decode_operand(op, rest) else {
                return fail(
                    pos + 1,
                    LoadErrorKind::TruncatedOperand {
                        mnemonic: op.mnemonic(),
                        needed: op.operand_kind().size(),
                        available: rest.len(),
                    },
                );
            };
            if let Instr::Goto(offset) = ins {
                if offset as usize > instrs.len() {
                    let index = instrs.len();
                    return fail(pos, GotoOutOfRange { index, offset }.into());
                }
            }
            if instrs.len() == MAX_INSTRUCTIONS {
                return fail(pos, LoadErrorKind::TooManyInstructions);
            }
            instrs.push(ins);
            pos += op.encoded_len();
        }
        Ok(Program { instrs })
    }
}
