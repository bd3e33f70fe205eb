//! `hv`: the hypervisor's command-line executor.
//!
//! A VM is named by its local PID (see `hv ps`) or by `HOST:PORT`. With no
//! command, `hv` is an interactive shell over the same commands (`shell.rs`).

mod shell;

use clap::{Args, Parser, Subcommand};
use hypervisor::registry;
use hypervisor::{migrate, Client, HvError};
use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

#[derive(Parser)]
#[command(
    name = "hv",
    version,
    about = "Interrupt, save, restore and migrate running Mova programs",
    after_help = "With no command, hv starts an interactive shell (type `help` there)."
)]
struct Cli {
    /// Token for VMs that require one.
    #[arg(long, global = true, env = "MOVA_TOKEN", hide_env_values = true)]
    token: Option<String>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// List the VM processes on this host.
    Ps(PsArgs),
    /// Print a VM's state: running, interrupted or waiting.
    Status { vm: String },
    /// Stop a VM at an instruction boundary (Interrupted Mode).
    Interrupt { vm: String },
    /// Save an interrupted VM's state (to stdout, or FILE written atomically).
    Sstate {
        vm: String,
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Send a state (from stdin or FILE) to an interrupted or waiting VM, which continues from it.
    Rstate(RstateArgs),
    /// Let an interrupted VM continue.
    Resume { vm: String },
    /// Stop a VM process.
    Kill { vm: String },
    /// Move a running program to a waiting VM; the source stops only after the target runs.
    Migrate(MigrateArgs),
}

/// `ps`, in the CLI and the shell.
#[derive(Args)]
struct PsArgs {
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

/// `rstate`, in the CLI and the shell.
#[derive(Args)]
struct RstateArgs {
    vm: String,
    #[arg(short, long, value_name = "FILE")]
    input: Option<PathBuf>,
    /// Leave the VM interrupted after the restore.
    #[arg(long)]
    paused: bool,
}

/// `migrate`, in the CLI and the shell.
#[derive(Args)]
struct MigrateArgs {
    vm: String,
    #[arg(long, value_name = "TARGET")]
    to: String,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let token = cli.token.as_deref();
    let result = match cli.command {
        None => return shell::run(cli.token),
        Some(Command::Sstate { vm, output: None }) => {
            if std::io::stdout().is_terminal() {
                Err("refusing to write a binary state to a terminal; use -o FILE or a pipe".into())
            } else {
                save_state(&vm, token).and_then(|state| std::io::stdout().write_all(&state).map_err(|e| e.to_string()))
            }
        }
        Some(Command::Sstate { vm, output: Some(path) }) => save_state(&vm, token).and_then(|state| {
            write_atomically(&path, &state).map_err(|e| format!("cannot write {}: {e}", path.display()))
        }),
        Some(Command::Rstate(RstateArgs { vm, input, paused })) => {
            read_state(input.as_deref()).and_then(|state| restore_state(&vm, &state, paused, token)).map(say)
        }
        Some(Command::Ps(PsArgs { json })) => ps(json, token),
        Some(Command::Status { vm }) => call(&vm, "status", token).map(say),
        Some(Command::Interrupt { vm }) => call(&vm, "interrupt", token).map(say),
        Some(Command::Resume { vm }) => call(&vm, "resume", token).map(say),
        Some(Command::Kill { vm }) => call(&vm, "kill", token).map(say),
        Some(Command::Migrate(MigrateArgs { vm, to })) => migrate(&vm, &to, token).map(say).map_err(|e| e.to_string()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("hv: {message}");
            ExitCode::FAILURE
        }
    }
}

fn say(text: String) {
    println!("{text}");
}

fn connect(vm: &str, token: Option<&str>) -> Result<Client, String> {
    Client::connect(vm, token).map_err(|e| e.to_string())
}

/// One command without payload; the reply after `OK`.
fn call(vm: &str, command: &str, token: Option<&str>) -> Result<String, String> {
    connect(vm, token)?.call(command, None).map_err(|e: HvError| e.to_string())
}

/// The state of an interrupted VM.
fn save_state(vm: &str, token: Option<&str>) -> Result<Vec<u8>, String> {
    connect(vm, token)?.save().map_err(|e| e.to_string())
}

/// Restores `state` into `vm` and, unless `paused`, resumes it; the reply for the user.
fn restore_state(vm: &str, state: &[u8], paused: bool, token: Option<&str>) -> Result<String, String> {
    let mut client = connect(vm, token)?;
    let restored = client.restore(state).map_err(|e| e.to_string())?;
    if !paused {
        client.call("resume", None).map_err(|e| e.to_string())?;
    }
    Ok(format!("{restored}{}", if paused { " (paused)" } else { ", running" }))
}

/// Reads a state from `path` or stdin, at most one byte past what a VM would accept.
fn read_state(path: Option<&Path>) -> Result<Vec<u8>, String> {
    let mut state = Vec::new();
    let limit = hypervisor::protocol::MAX_PAYLOAD as u64 + 1;
    match path {
        Some(path) => std::fs::File::open(path).and_then(|f| f.take(limit).read_to_end(&mut state)),
        None => std::io::stdin().take(limit).read_to_end(&mut state),
    }
    .map_err(|e| match path {
        Some(path) => format!("cannot read {}: {e}", path.display()),
        None => format!("cannot read the state from stdin: {e}"),
    })?;
    Ok(state)
}

/// Writes via a temp file, fsync and rename: a crash never leaves a half state that looks whole.
fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let tmp =
        dir.join(format!(".{}.tmp{}", path.file_name().unwrap_or_default().to_string_lossy(), std::process::id()));
    let mut file = std::fs::File::create(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)?;
    std::fs::File::open(dir)?.sync_all()
}

fn ps(json: bool, token: Option<&str>) -> Result<(), String> {
    let entries = registry::list();
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let states: Vec<String> = entries
        .iter()
        .map(|e| {
            Client::connect(&e.endpoint, token)
                .and_then(|mut c| c.call("status", None))
                .map(|s| s.split_whitespace().next().unwrap_or("?").to_string())
                .unwrap_or_else(|_| "unreachable".into())
        })
        .collect();
    if json {
        let rows: Vec<_> = entries
            .iter()
            .zip(&states)
            .map(|(e, s)| {
                serde_json::json!({"pid": e.pid, "machine": e.machine, "program": e.program, "program_hash": e.program_hash,
                "state": s, "endpoint": e.endpoint, "uptime_s": now.saturating_sub(e.started)})
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&rows).map_err(|e| e.to_string())?);
        return Ok(());
    }
    println!("{:>7}  {:<7} {:<12} {:<21} {:>8}  PROGRAM", "PID", "MACHINE", "STATE", "ENDPOINT", "UPTIME");
    for (e, s) in entries.iter().zip(&states) {
        let up = now.saturating_sub(e.started);
        let uptime = format!("{}:{:02}:{:02}", up / 3600, up / 60 % 60, up % 60);
        println!("{:>7}  {:<7} {:<12} {:<21} {:>8}  {}", e.pid, e.machine, s, e.endpoint, uptime, e.program);
    }
    Ok(())
}
