//! `manda`: assemble and disassemble Manda executables.
//!
//! A thin layer over the `manda` library; see `docs/manda/` for the formats.

use clap::{Parser, Subcommand};
use manda::diag::{render, Severity};
use manda::exe::Executable;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "manda", version, about = "Manda: a 64-bit register machine — assembler and disassembler")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Assemble a source file (docs/manda/assembly.md) into an executable.
    Asm {
        /// The assembly source.
        file: PathBuf,
        /// Where to write the executable.
        #[arg(short, long, value_name = "OUT")]
        output: PathBuf,
    },
    /// Print an executable as assembly that assembles back to the identical bytes.
    Disasm {
        /// The executable, or an assembly source (`.s`, assembled first).
        file: PathBuf,
    },
    /// Print the instruction reference (docs/manda/OPCODES.md) generated from the table.
    Opcodes,
}

fn main() -> ExitCode {
    let result = match Cli::parse().command {
        Command::Asm { file, output } => assemble(&file).and_then(|bytes| {
            std::fs::write(&output, bytes).map_err(|e| format!("cannot write {}: {e}", output.display()))
        }),
        Command::Disasm { file } => load(&file).map(|exe| print!("{}", manda::disasm::disassemble(&exe))),
        Command::Opcodes => {
            print!("{}", manda::isa::opcodes_markdown());
            Ok(())
        }
    };
    match result {
        Ok(()) => {
            let _ = std::io::stdout().flush();
            ExitCode::SUCCESS
        }
        Err(message) => {
            if !message.is_empty() {
                eprintln!("manda: {message}");
            }
            ExitCode::FAILURE
        }
    }
}

/// Assembles `file`, printing its diagnostics; `Err("")` when they are already printed.
fn assemble(file: &Path) -> Result<Vec<u8>, String> {
    let source = std::fs::read_to_string(file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    let name = file.display().to_string();
    match manda::asm::assemble(&source) {
        Ok((bytes, warnings)) => {
            eprint!("{}", render(&warnings, &name, &source));
            Ok(bytes)
        }
        Err(err) => {
            let errors = err.diagnostics.iter().filter(|d| d.severity == Severity::Error).count();
            eprint!("{}", render(&err.diagnostics, &name, &source));
            Err(format!("{name}: {errors} error(s); nothing written"))
        }
    }
}

/// Loads an executable, or assembles a `.s` source first.
fn load(file: &Path) -> Result<Executable, String> {
    let bytes = if file.extension().is_some_and(|e| e == "s") {
        assemble(file)?
    } else {
        std::fs::read(file).map_err(|e| format!("cannot read {}: {e}", file.display()))?
    };
    Executable::load(&bytes).map_err(|e| format!("{}: {e}", file.display()))
}
