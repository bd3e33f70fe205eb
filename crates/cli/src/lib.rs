//! What the command lines of `mova`, `manda`, `hv` and `hv-counter` share
//! beyond the control options: `help`, shell completions and man pages,
//! generated from each binary's clap definition.

use clap::{Command, Subcommand};

mod control_args;
pub mod tls_init;
pub mod translation_cache;
pub use control_args::{read_token_file, ControlArgs, FleetArgs};
use std::io::{self, Write};
pub use vm_host::files::{read_bounded, ReadError};

/// Writes `text` to `out` whole and flushes it. A reader that went away
/// (a closed pipe, as in `manda disasm prog.mx | head`) is not an error: the
/// rest of the output was not wanted. `print!` would panic there instead.
pub fn write_text(mut out: impl Write, text: &str) -> io::Result<()> {
    unless_reader_left(out.write_all(text.as_bytes()).and_then(|()| out.flush()))
}

/// [`write_text`] to stdout: a command's whole output, or a line of it.
pub fn print_out(text: &str) -> io::Result<()> {
    write_text(io::stdout().lock(), text)
}

/// Writes a command's output as `write` produces it, through a buffer, to
/// stdout: text much larger than memory should hold (a disassembly) is never
/// built whole. A reader that went away is not an error, as in [`write_text`].
pub fn print_streamed(write: impl FnOnce(&mut dyn std::fmt::Write) -> std::fmt::Result) -> io::Result<()> {
    /// `fmt::Write` over an `io::Write`, keeping the first I/O error (which
    /// `fmt::Error` cannot carry).
    struct Adapter<W: Write> {
        out: W,
        error: Option<io::Error>,
    }
    impl<W: Write> std::fmt::Write for Adapter<W> {
        fn write_str(&mut self, text: &str) -> std::fmt::Result {
            self.out.write_all(text.as_bytes()).map_err(|e| {
                self.error.get_or_insert(e);
                std::fmt::Error
            })
        }
    }
    let mut adapter = Adapter { out: io::BufWriter::with_capacity(1 << 16, io::stdout().lock()), error: None };
    let written = match write(&mut adapter) {
        Ok(()) => adapter.out.flush(),
        Err(std::fmt::Error) => Err(adapter.error.take().unwrap_or_else(|| io::Error::other("formatting failed"))),
    };
    unless_reader_left(written)
}

/// [`write_text`] to stderr; if even that fails there is nobody left to tell.
pub fn print_err(text: &str) {
    let _ = write_text(io::stderr().lock(), text);
}

/// The largest source, bytecode or executable file the tools read: input is
/// read whole, so a file with no end (`/dev/zero`, a pipe that never closes
/// its writer end early) must stop somewhere short of the machine's memory.
pub const MAX_INPUT_FILE: u64 = 1 << 30;

/// [`read_bounded`] with errors that name the file: `cannot read FILE: why`,
/// or `FILE is larger than MAX bytes, the most WHAT can be`.
pub fn read_at_most(path: &std::path::Path, max: u64, what: &str) -> Result<Vec<u8>, String> {
    let name = path.display();
    read_bounded(path, max).map_err(|e| match e {
        ReadError::Io(e) => format!("cannot read {name}: {e}"),
        ReadError::TooLarge => format!("{name} is larger than {max} bytes, the most {what} can be"),
    })
}

/// A write's result, with a closed pipe (the reader stopped early) as success.
fn unless_reader_left(written: io::Result<()>) -> io::Result<()> {
    match written {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

/// Subcommands every binary has (flatten into its own `Subcommand` enum, and
/// set `disable_help_subcommand` on the parser so this `help` is the one).
#[derive(Debug, Clone, Subcommand)]
pub enum DocsCommand {
    /// Print this message, or the help of the given subcommand.
    Help {
        /// The subcommand (and its subcommands) to explain.
        command: Vec<String>,
    },
    /// Print a completion script for SHELL (for bash, install it as ~/.local/share/bash-completion/completions/NAME).
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page in roff (install it as ~/.local/share/man/man1/NAME.1).
    Man,
}

impl DocsCommand {
    /// Does it for `command`, the binary's whole parser (`Cli::command()`).
    pub fn run(&self, mut command: Command) -> Result<(), String> {
        let name = command.get_name().to_string();
        // Built, subcommands know their full name (`hv migrate`, not `migrate`) for their usage lines.
        command.build();
        let mut out = std::io::stdout().lock();
        let written = match self {
            DocsCommand::Help { command: path } => {
                let mut target = &mut command;
                for word in path {
                    target = target
                        .find_subcommand_mut(word)
                        .ok_or_else(|| format!("no subcommand `{word}` (`{name} help` lists them)"))?;
                }
                write!(out, "{}", target.render_long_help())
            }
            DocsCommand::Completions { shell } => {
                clap_complete::generate(*shell, &mut command, name, &mut out);
                Ok(())
            }
            DocsCommand::Man => clap_mangen::Man::new(command).render(&mut out),
        };
        unless_reader_left(written.and_then(|()| out.flush())).map_err(|e| format!("cannot write: {e}"))
    }
}
