//! # Manda
//!
//! Manda (MVM) is a 64-bit register machine with 256 registers, executables
//! made of data, code and read-only sections with W^X protection, parallel
//! contexts started by `fork`, and message ports. This crate holds its
//! toolchain and the machine:
//!
//! - [`isa`] — the instruction set: one table from which the opcode and
//!   instruction types, encoder, decoder, the assembler's and
//!   disassembler's views and `docs/manda/OPCODES.md` are derived;
//! - [`exe`] — the executable format: [`exe::Executable`] is the validated,
//!   decoded form the machine executes, built by a loader that treats its
//!   input as hostile and names the file offset of every problem;
//! - [`asm`] — the assembler (`.s` text to an executable) with located
//!   diagnostics;
//! - [`disasm`] — the disassembler, whose output assembles back to the
//!   identical bytes;
//! - [`machine`] — the machine that runs an executable: copy-on-write
//!   memory with the seed's permissions, the interpreter, parallel contexts
//!   on a pool of threads, ports, traps and limits, and snapshots
//!   (`docs/manda/snapshot.md`) that move a running machine elsewhere;
//! - [`control`] — the machine as a [`vm_core::Machine`], which a host
//!   drives (`manda run`, `hv sstate`, `hv migrate`).
//!
//! It needs no host, network or command line: the `vm-host` crate hosts
//! it, the `manda-wasm` crate translates WebAssembly into its executables,
//! and the `cli` crate's `manda` program puts them together.
//!
//! ```
//! let source = ".code\nmain:\n    li a0, 42\n    printi a0\n    halt\n";
//! let bytes = manda::asm::assemble(source).unwrap().0;
//! let exe = manda::exe::Executable::load(&bytes).unwrap();
//! assert_eq!(exe.entry(), 9); // the `main` label header, right after the section header
//! let text = manda::disasm::disassemble(&exe);
//! assert_eq!(manda::asm::assemble(&text).unwrap().0, bytes);
//! ```

#![warn(missing_docs)]

pub mod asm;
pub mod control;
pub mod disasm;
pub mod exe;
pub mod isa;
pub mod machine;

pub use diagnostics as diag;
