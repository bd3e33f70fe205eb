//! `mova`: compile, disassemble and run Mova programs.
//!
//! A thin layer over the `mova` library; see `docs/mova/` for the formats.

use clap::{CommandFactory, Parser, Subcommand};
use cli::ControlArgs;
use cli::DocsCommand;
use cli::{print_err, print_out, print_streamed, read_at_most, MAX_INPUT_FILE};
use mova::diag::render;
use mova::{compile, FileKind, Program, Vm};
use std::io;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use vm_host::host;

/// Exit status for bad input: a source that does not compile, a malformed file, an I/O error.
const EXIT_BAD_INPUT: u8 = 1;

#[derive(Parser)]
#[command(
    name = "mova",
    version,
    about = "Mova: a stack VM whose running programs can be moved between processes",
    disable_help_subcommand = true
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Compile a .masm or .mv source file to bytecode.
    Compile {
        /// Source file (.masm bytecode text or .mv pseudo language).
        file: PathBuf,
        /// Where to write the bytecode.
        #[arg(short, long, value_name = "OUT")]
        output: PathBuf,
    },
    /// Print a program as bytecode text that compiles back to the identical bytes.
    Disasm {
        /// Bytecode, or a source file (compiled first).
        file: PathBuf,
    },
    /// Run a program: bytecode (detected by its magic), .masm or .mv.
    Run {
        /// The program.
        file: PathBuf,
        /// Stop with a trap (exit 3) after exactly N executed instructions.
        #[arg(long, value_name = "N")]
        max_steps: Option<u64>,
        /// Print each executed instruction with its IP and the stack top to stderr.
        #[arg(long)]
        trace: bool,
        /// Dispatch every instruction separately (no ADD+GOTO fusion); for benchmarks.
        #[arg(long, hide = true)]
        no_fusion: bool,
        #[command(flatten)]
        control: Box<ControlArgs>,
    },
    /// Print the opcode reference (docs/mova/opcodes.md) generated from the instruction table.
    Opcodes,
    #[command(flatten)]
    Docs(DocsCommand),
}

/// A failure already explained on stderr, with the status to exit with.
struct Failure(u8);

fn fail(message: impl std::fmt::Display, status: u8) -> Failure {
    print_err(&format!("mova: {message}\n"));
    Failure(status)
}

/// Writes a command's whole output to stdout (a reader that stops early is fine).
fn stdout(text: &str) -> Result<(), Failure> {
    print_out(text).map_err(|e| fail(format!("cannot write output: {e}"), EXIT_BAD_INPUT))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Compile { file, output } => cmd_compile(&file, &output),
        Command::Disasm { file } => load(&file).and_then(|p| {
            print_streamed(|out| mova::asm::disassemble_to(&p, out))
                .map_err(|e| fail(format!("cannot write output: {e}"), EXIT_BAD_INPUT))
        }),
        Command::Run { file, max_steps, trace, no_fusion, control } => {
            cmd_run(&file, max_steps, trace, no_fusion, &control)
        }
        Command::Opcodes => stdout(&mova::isa::opcodes_markdown()),
        Command::Docs(docs) => docs.run(Cli::command()).map_err(|why| fail(why, EXIT_BAD_INPUT)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure(status)) => ExitCode::from(status),
    }
}

/// Reads and compiles or decodes a program, reporting problems on stderr.
fn load(path: &Path) -> Result<Program, Failure> {
    let name = path.display();
    let bytes = read_at_most(path, MAX_INPUT_FILE, "a program").map_err(|e| fail(e, EXIT_BAD_INPUT))?;
    match FileKind::detect(path, &bytes) {
        Some(FileKind::Bytecode) => {
            Program::from_bytes(&bytes).map_err(|e| fail(format!("{name}: {e}"), EXIT_BAD_INPUT))
        }
        Some(FileKind::Source(kind)) => {
            let source = std::str::from_utf8(&bytes).map_err(|e| {
                fail(format!("{name}: not UTF-8 text: invalid byte at offset {}", e.valid_up_to()), EXIT_BAD_INPUT)
            })?;
            let file_name = path.to_string_lossy();
            match compile(source, kind) {
                Ok((program, warnings)) => {
                    print_err(&render(&warnings, &file_name, source));
                    Ok(program)
                }
                Err(err) => {
                    print_err(&render(&err.diagnostics, &file_name, source));
                    let errors = err.diagnostics.iter().filter(|d| d.severity == mova::diag::Severity::Error).count();
                    let plural = if errors == 1 { "" } else { "s" };
                    Err(fail(format!("could not compile {name}: {errors} error{plural}"), EXIT_BAD_INPUT))
                }
            }
        }
        None => Err(fail(
            format!(
                "{name}: unknown file kind: not bytecode (no MOVA magic) and the extension is not .masm, .mv or .mova"
            ),
            EXIT_BAD_INPUT,
        )),
    }
}

fn cmd_compile(file: &Path, output: &Path) -> Result<(), Failure> {
    let bytes = read_at_most(file, MAX_INPUT_FILE, "a source file").map_err(|e| fail(e, EXIT_BAD_INPUT))?;
    if Program::is_bytecode(&bytes) {
        return Err(fail(
            format!("{}: already bytecode; compile takes .masm or .mv source", file.display()),
            EXIT_BAD_INPUT,
        ));
    }
    let program = load(file)?;
    std::fs::write(output, program.to_bytes())
        .map_err(|e| fail(format!("cannot write {}: {e}", output.display()), EXIT_BAD_INPUT))
}

fn cmd_run(
    file: &Path,
    max_steps: Option<u64>,
    trace: bool,
    no_fusion: bool,
    control: &ControlArgs,
) -> Result<(), Failure> {
    let program = load(file)?;
    let stdout = io::stdout().lock();
    let mut vm = Vm::new(program, stdout);
    vm.set_step_limit(max_steps);
    if no_fusion {
        vm.set_fusion(false);
    }
    if trace {
        vm.set_trace(Some(Box::new(io::stderr())));
    }
    let options = control
        .options(file.display().to_string(), mova::control::hash_hex(&vm))
        .map_err(|why| fail(why, EXIT_BAD_INPUT))?;
    match host::run(&mut vm, options, control.restore.as_deref()) {
        0 => Ok(()),
        status => Err(Failure(status)),
    }
}
