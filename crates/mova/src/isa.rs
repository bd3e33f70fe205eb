//! The Mova instruction set: one table, everything else derived from it.
//!
//! `for_each_op!` lists every instruction once — opcode byte, mnemonic,
//! operand, semantics and traps. The [`Opcode`] and [`Instr`] types, the
//! binary encoder and decoder, the assembler's mnemonic lookup, the
//! disassembler and `docs/mova/opcodes.md` are all expanded from it, so they
//! cannot drift apart (a test checks the committed doc against
//! [`opcodes_markdown`]).

use std::fmt;

/// Calls `$m!` with the whole instruction table.
///
/// Each row: `Variant = byte, "MNEMONIC", (operand: type)?, "semantics", "traps";`.
/// Operand types are `i64` (a value) or `u32` (an offset or a duration).
macro_rules! for_each_op {
    ($m:ident) => {
        $m! {
            Put = 0x01, "PUT", (value: i64),
                "Pushes `value` onto the stack.",
                "*stack overflow* when the stack already holds 65535 values (the most a saved state can hold).";
            Add = 0x02, "ADD", (value: i64),
                "Replaces the top of the stack with top + `value`, wrapping on overflow. The depth is unchanged.",
                "*stack underflow* when the stack is empty.";
            Goto = 0x03, "GOTO", (offset: u32),
                "Jumps back `offset` instructions from the GOTO itself: `GOTO 0` is the GOTO, `GOTO 3` at index 4 goes to index 1. A target before instruction 0 is rejected when the program is compiled or loaded, never at run time.",
                "none.";
            Print = 0x04, "PRINT", (),
                "Writes the top of the stack in decimal and a newline to standard output, without popping it; each line is flushed as it is printed.",
                "*stack underflow* when the stack is empty; *output failed* when standard output cannot be written.";
            Sleep = 0x05, "SLEEP", (ms: u32),
                "Sleeps `ms` milliseconds. An interrupt cuts the sleep short at once; the part not yet slept is kept and slept first when the program continues.",
                "none.";
        }
    };
}

/// The value type of an instruction's operand, as encoded in bytecode.
pub trait OperandType: Copy + fmt::Display + Sized {
    /// What the operand is, as the docs name it.
    const KIND: OperandKind;
    /// Appends the little-endian encoding.
    fn write_le(self, out: &mut Vec<u8>);
    /// Reads the little-endian encoding from the start of `bytes`, if there are enough.
    fn read_le(bytes: &[u8]) -> Option<Self>;
    /// Converts a parsed literal, if it is in range.
    fn from_i128(v: i128) -> Option<Self>;
}

/// The kinds of operand an instruction can carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OperandKind {
    /// No operand.
    None,
    /// A signed 64-bit integer, 8 bytes.
    I64,
    /// An unsigned 32-bit integer, 4 bytes.
    U32,
}

impl OperandKind {
    /// Encoded size in bytes.
    pub const fn size(self) -> usize {
        match self {
            OperandKind::None => 0,
            OperandKind::I64 => 8,
            OperandKind::U32 => 4,
        }
    }

    /// The type's name in the docs.
    pub const fn name(self) -> &'static str {
        match self {
            OperandKind::None => "none",
            OperandKind::I64 => "i64",
            OperandKind::U32 => "u32",
        }
    }
}

impl OperandType for i64 {
    const KIND: OperandKind = OperandKind::I64;
    fn write_le(self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_le_bytes());
    }
    fn read_le(bytes: &[u8]) -> Option<Self> {
        Some(i64::from_le_bytes(bytes.get(..8)?.try_into().ok()?))
    }
    fn from_i128(v: i128) -> Option<Self> {
        i64::try_from(v).ok()
    }
}

impl OperandType for u32 {
    const KIND: OperandKind = OperandKind::U32;
    fn write_le(self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_le_bytes());
    }
    fn read_le(bytes: &[u8]) -> Option<Self> {
        Some(u32::from_le_bytes(bytes.get(..4)?.try_into().ok()?))
    }
    fn from_i128(v: i128) -> Option<Self> {
        u32::try_from(v).ok()
    }
}

macro_rules! operand_kind {
    () => {
        OperandKind::None
    };
    ($ty:ty) => {
        <$ty as OperandType>::KIND
    };
}

macro_rules! operand_name {
    () => {
        None
    };
    ($field:ident) => {
        Some(stringify!($field))
    };
}

macro_rules! define_isa {
    ($(
        $variant:ident = $byte:literal, $mnemonic:literal, ($($field:ident : $ty:ty)?),
            $semantics:literal, $traps:literal;
    )*) => {
        /// An opcode byte of the Mova instruction set.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[repr(u8)]
        pub enum Opcode {
            $(
                #[doc = $semantics]
                $variant = $byte,
            )*
        }

        impl Opcode {
            /// Every opcode, in table order.
            pub const ALL: &'static [Opcode] = &[$(Opcode::$variant),*];

            /// The opcode for `byte`, if it is one.
            pub const fn from_byte(byte: u8) -> Option<Opcode> {
                match byte {
                    $($byte => Some(Opcode::$variant),)*
                    _ => None,
                }
            }

            /// The upper-case mnemonic.
            pub const fn mnemonic(self) -> &'static str {
                match self { $(Opcode::$variant => $mnemonic,)* }
            }

            /// The opcode for a mnemonic, ignoring ASCII case.
            pub fn from_mnemonic(name: &str) -> Option<Opcode> {
                $(if name.eq_ignore_ascii_case($mnemonic) { return Some(Opcode::$variant); })*
                None
            }

            /// The operand this opcode carries.
            pub const fn operand_kind(self) -> OperandKind {
                match self { $(Opcode::$variant => operand_kind!($($ty)?),)* }
            }

            /// The operand's name in the docs, if there is one.
            pub const fn operand_name(self) -> Option<&'static str> {
                match self { $(Opcode::$variant => operand_name!($($field)?),)* }
            }

            /// Exact semantics, one paragraph.
            pub const fn semantics(self) -> &'static str {
                match self { $(Opcode::$variant => $semantics,)* }
            }

            /// What makes the instruction trap.
            pub const fn traps(self) -> &'static str {
                match self { $(Opcode::$variant => $traps,)* }
            }

            /// Encoded size of the instruction: opcode byte plus operand.
            pub const fn encoded_len(self) -> usize {
                1 + self.operand_kind().size()
            }
        }

        /// One decoded Mova instruction with its operand.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Instr {
            $(
                #[doc = $semantics]
                $variant $(($ty))?,
            )*
        }

        impl Instr {
            /// The instruction's opcode.
            pub const fn opcode(&self) -> Opcode {
                match self { $(Instr::$variant { .. } => Opcode::$variant,)* }
            }

            /// Appends the instruction's bytecode encoding to `out`.
            pub fn encode(&self, out: &mut Vec<u8>) {
                match *self {
                    $(Instr::$variant $(($field))? => {
                        out.push($byte);
                        $(OperandType::write_le($field, out);)?
                    })*
                }
            }

            /// Decodes the operand of `opcode` from `bytes` (which start after
            /// the opcode byte); `None` if `bytes` is too short.
            pub fn decode_operand(opcode: Opcode, bytes: &[u8]) -> Option<Instr> {
                #[allow(unused_variables)]
                match opcode {
                    $(Opcode::$variant => Some(Instr::$variant $((<$ty as OperandType>::read_le(bytes)?))?),)*
                }
            }

            /// Builds an instruction from a mnemonic's opcode and a parsed
            /// literal operand; `Err` names the accepted range when the
            /// literal does not fit, `Ok(None)` when an operand is missing or
            /// superfluous.
            pub fn from_literal(opcode: Opcode, operand: Option<i128>) -> Result<Option<Instr>, OperandKind> {
                #[allow(unused_variables)]
                match (opcode, operand) {
                    $(
                        (Opcode::$variant, operand) => {
                            define_isa!(@build $variant, operand $(, $ty)?)
                        }
                    )*
                }
            }
        }

        impl fmt::Display for Instr {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match *self {
                    $(Instr::$variant $(($field))? => {
                        f.write_str($mnemonic)?;
                        $(write!(f, " {}", $field)?;)?
                        Ok(())
                    })*
                }
            }
        }
    };
    (@build $variant:ident, $operand:ident) => {
        match $operand {
            None => Ok(Some(Instr::$variant)),
            Some(_) => Ok(None),
        }
    };
    (@build $variant:ident, $operand:ident, $ty:ty) => {
        match $operand {
            None => Ok(None),
            Some(v) => match <$ty as OperandType>::from_i128(v) {
                Some(v) => Ok(Some(Instr::$variant(v))),
                None => Err(<$ty as OperandType>::KIND),
            },
        }
    };
}

for_each_op!(define_isa);

/// The accepted range of an operand kind, for error messages.
pub fn operand_range(kind: OperandKind) -> &'static str {
    match kind {
        OperandKind::None => "no operand",
        OperandKind::I64 => "-9223372036854775808 to 9223372036854775807",
        OperandKind::U32 => "0 to 4294967295",
    }
}

/// Renders the opcode reference, `docs/mova/opcodes.md`, from the table.
pub fn opcodes_markdown() -> String {
    use std::fmt::Write as _;
    let mut md = String::new();
    md.push_str(
        "# Mova opcodes\n\n\
         <!-- Generated from the table in crates/mova/src/isa.rs; a test fails when they differ.\n     \
         Re-record with: BLESS=1 cargo test -p mova --test docs -->\n\n\
         Values are signed 64-bit integers; arithmetic wraps. The stack holds at most 65535 values.\n\
         Each instruction is its opcode byte followed by its operand, little-endian\n\
         (see [bytecode.md](bytecode.md)).\n\n\
         | Instruction | Hex | Operand | Encoded size | Description |\n\
         | ----------- | --- | ------- | ------------ | ----------- |\n",
    );
    for &op in Opcode::ALL {
        let operand = match op.operand_name() {
            Some(name) => format!("`{name}`: {}", op.operand_kind().name()),
            None => "none".to_string(),
        };
        let _ = writeln!(
            md,
            "| {} | 0x{:02X} | {} | {} | {} |",
            op.mnemonic(),
            op as u8,
            operand,
            match op.encoded_len() {
                1 => "1 byte".to_string(),
                n => format!("{n} bytes"),
            },
            op.semantics()
        );
    }
    for &op in Opcode::ALL {
        let syntax = match op.operand_name() {
            Some(name) => format!("{} {name}", op.mnemonic()),
            None => op.mnemonic().to_string(),
        };
        let _ = write!(
            md,
            "\n## {}\n\n`{syntax}` — opcode 0x{:02X}\n\n{}\n\nTraps: {}\n",
            op.mnemonic(),
            op as u8,
            op.semantics(),
            op.traps()
        );
    }
    md
}
