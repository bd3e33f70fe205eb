//! `hv` with no command: an interactive shell.
//!
//! The seed's session works as written — `interrupt 4242`, `sstate`,
//! `rstate 4243` — because the shell remembers the VM it last named and
//! keeps the last saved state in memory. Lines are edited with rustyline;
//! on a terminal the history persists in `~/.hv_history`. Read from a pipe,
//! the shell runs each line as a script and exits 1 if any command failed.

use crate::{
    drain, interrupt, kill, ps, read_state, recover, release, restore_state, resume, save_state, status,
    write_atomically, DrainArgs, Fleet, MigrateArgs, PsArgs, RstateArgs,
};
use clap::{Parser, Subcommand};
use rustyline::error::ReadlineError;
use rustyline::DefaultEditor;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

// One shell line, parsed by clap so `help` and errors match the CLI's.
#[derive(Parser)]
#[command(multicall = true, help_template = "Commands (a VM is a PID or HOST:PORT):\n{subcommands}")]
struct Line {
    #[command(subcommand)]
    command: ShellCommand,
}

#[derive(Subcommand)]
enum ShellCommand {
    /// List the VM processes on this host (with hv --cluster: on every host of the fleet).
    Ps(PsArgs),
    /// Print a VM's state (default: the current VM).
    Status {
        /// The VM: a PID or HOST:PORT; by default the current VM.
        vm: Option<String>,
    },
    /// Stop a VM at an instruction boundary; it becomes the current VM.
    Interrupt {
        /// The VM: its PID on this host (`hv ps` lists them) or its control endpoint HOST:PORT.
        vm: String,
    },
    /// Save the current (or named) VM's state and keep it here; -o also writes it to FILE.
    Sstate {
        /// The VM: a PID or HOST:PORT; by default the current VM.
        vm: Option<String>,
        /// Also write the state to FILE (atomically: temp file, fsync, rename).
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Send the kept state (or FILE's) to a VM, which continues from it.
    Rstate(RstateArgs),
    /// Let the current (or named) VM continue.
    Resume {
        /// The VM: a PID or HOST:PORT; by default the current VM.
        vm: Option<String>,
    },
    /// Give up the lease on the current (or named) VM; it stays interrupted.
    Release {
        /// The VM: a PID or HOST:PORT; by default the current VM.
        vm: Option<String>,
    },
    /// Stop the current (or named) VM process.
    Kill {
        /// The VM: a PID or HOST:PORT; by default the current VM.
        vm: Option<String>,
    },
    /// Move a running program to a waiting VM.
    Migrate(MigrateArgs),
    /// Settle every migration a stopped hv left behind.
    Recover,
    /// Move every VM off a host of the fleet (hv --cluster).
    Drain(DrainArgs),
    /// Set the token sent to VMs (no argument: send none).
    Token {
        /// The token; none to send none.
        token: Option<String>,
    },
    /// Leave the shell.
    #[command(alias = "quit")]
    Exit,
}

/// What the shell remembers between lines.
struct Session {
    token: Option<String>,
    current: Option<String>,
    kept: Option<Vec<u8>>,
    /// The fleet `ps`, `migrate` and `recover` work in (`hv --cluster`).
    fleet: Fleet,
}

impl Session {
    /// `vm`, or the current VM; a named VM becomes current.
    fn target(&mut self, vm: Option<String>) -> Result<String, String> {
        match vm {
            Some(vm) => {
                self.current = Some(vm.clone());
                Ok(vm)
            }
            None => self.current.clone().ok_or_else(|| "no current VM: name one (hv ps lists them)".to_string()),
        }
    }

    /// Runs one command; `Ok(None)` means leave.
    fn execute(&mut self, command: ShellCommand) -> Result<Option<String>, String> {
        let token = self.token.clone();
        let token = token.as_deref();
        let said = match command {
            ShellCommand::Ps(PsArgs { json }) => ps(json, token, &self.fleet).map(|()| String::new())?,
            ShellCommand::Status { vm } => status(&self.target(vm)?, token)?,
            ShellCommand::Interrupt { vm } => interrupt(&self.target(Some(vm))?, token)?,
            ShellCommand::Resume { vm } => resume(&self.target(vm)?, token)?,
            ShellCommand::Release { vm } => release(&self.target(vm)?, token)?,
            ShellCommand::Kill { vm } => {
                let vm = self.target(vm)?;
                let said = kill(&vm, token)?;
                self.current = None;
                said
            }
            ShellCommand::Sstate { vm, output } => {
                let vm = self.target(vm)?;
                let state = save_state(&vm, token)?;
                if let Some(path) = &output {
                    write_atomically(path, &state, true)
                        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
                }
                let said = format!("kept {} bytes of state from {vm}", state.len());
                self.kept = Some(state);
                said
            }
            ShellCommand::Rstate(RstateArgs { vm, input, paused }) => {
                let state = match input {
                    Some(path) => read_state(Some(&path))?,
                    None => self.kept.clone().ok_or("no state kept: run sstate first, or give -i FILE")?,
                };
                let vm = self.target(Some(vm))?;
                restore_state(&vm, &state, paused, token)?
            }
            ShellCommand::Migrate(args) => {
                let said = args.run(token, &self.fleet)?;
                self.current = Some(args.to);
                said
            }
            ShellCommand::Token { token } => {
                let said = if token.is_some() { "token set" } else { "token cleared" };
                self.token = token;
                said.to_string()
            }
            ShellCommand::Recover => recover(token, &self.fleet).map(|()| String::new())?,
            ShellCommand::Drain(args) => drain(&args, token, &self.fleet).map(|()| String::new())?,
            ShellCommand::Exit => return Ok(None),
        };
        Ok(Some(said))
    }
}

/// Runs the shell until `exit` or end of input.
pub fn run(token: Option<String>, fleet: Fleet) -> ExitCode {
    let interactive = std::io::stdin().is_terminal();
    let mut editor = match DefaultEditor::new() {
        Ok(editor) => editor,
        Err(e) => {
            eprintln!("hv: cannot start the shell: {e}");
            return ExitCode::FAILURE;
        }
    };
    let history = std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".hv_history"));
    if interactive {
        println!("hv shell: type `help` for commands, `exit` or Ctrl-D to leave");
        if let Some(path) = &history {
            let _ = editor.load_history(path);
        }
    }
    let mut session = Session { token, current: None, kept: None, fleet };
    let mut failed = false;
    loop {
        let prompt = match &session.current {
            Some(vm) => format!("hv {vm}> "),
            None => "hv> ".to_string(),
        };
        let line = match editor.readline(&prompt) {
            Ok(line) => line,
            Err(ReadlineError::Interrupted) => continue,
            Err(ReadlineError::Eof) => break,
            Err(e) => {
                eprintln!("hv: {e}");
                failed = true;
                break;
            }
        };
        let words: Vec<&str> = line.split_whitespace().collect();
        if words.is_empty() || words[0].starts_with('#') {
            continue;
        }
        if interactive {
            let _ = editor.add_history_entry(line.as_str());
        }
        let command = match Line::try_parse_from(&words) {
            Ok(parsed) => parsed.command,
            Err(e) => {
                // `help` and `--help` land here too, as clap "errors" that print to stdout.
                let is_help = !e.use_stderr();
                let _ = e.print();
                failed |= !is_help;
                continue;
            }
        };
        // A command that fails does not change the current VM.
        let current = session.current.clone();
        let executed = session.execute(command);
        if executed.is_err() {
            session.current = current;
        }
        match executed {
            Ok(Some(said)) if said.is_empty() => {}
            Ok(Some(said)) => println!("{said}"),
            Ok(None) => break,
            Err(message) => {
                eprintln!("error: {message}");
                failed = true;
            }
        }
    }
    if interactive {
        if let Some(path) = &history {
            let _ = editor.save_history(path);
        }
    }
    if failed && !interactive {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
