//! `hv`: the hypervisor's command-line executor.
//!
//! A VM is named by its local PID (see `hv ps`) or by `HOST:PORT`. With no
//! command, `hv` is an interactive shell over the same commands (`shell.rs`).

mod shell;

use clap::{Args, CommandFactory, Parser, Subcommand};
use cli::DocsCommand;
use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use vm_host::protocol::Command as Request;
use vm_host::registry::{self, write_file_atomically as write_atomically};
use vm_host::{Client, HvError, Progress};

#[derive(Parser)]
#[command(
    name = "hv",
    version,
    about = "Interrupt, save, restore and migrate running programs of Mova, Manda and any machine the hypervisor hosts",
    after_help = "With no command, hv starts an interactive shell (type `help` there).",
    disable_help_subcommand = true
)]
struct Cli {
    /// Token for VMs that require one.
    #[arg(long, global = true, env = "MOVA_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Read the token from FILE's first line (wins over --token; FILE must not be readable by others).
    #[arg(long, global = true, value_name = "FILE")]
    token_file: Option<PathBuf>,
    /// TLS credentials (DIR/ca.pem, cert.pem, key.pem; `hv tls-init` makes them): VMs on other hosts are reached under TLS.
    #[arg(long, global = true, value_name = "DIR", env = "MOVA_TLS_DIR")]
    tls: Option<PathBuf>,
    /// Allow clear text to VMs and etcd members on other hosts.
    #[arg(long, global = true)]
    insecure: bool,
    #[command(flatten)]
    fleet: cli::FleetArgs,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// List the VM processes on this host (with --cluster: on every host of the fleet).
    Ps(PsArgs),
    /// Print a VM's status line: mode (running, interrupted, waiting, migrating, moving), lease, position.
    Status {
        /// The VM: its PID on this host (`hv ps` lists them) or its control endpoint HOST:PORT.
        vm: String,
    },
    /// Stop a VM at an instruction boundary (Interrupted Mode) and keep its lease for the next hv command.
    Interrupt {
        /// The VM: its PID on this host (`hv ps` lists them) or its control endpoint HOST:PORT.
        vm: String,
    },
    /// Save an interrupted VM's state (to stdout, or FILE written atomically).
    Sstate {
        /// The VM: its PID on this host (`hv ps` lists them) or its control endpoint HOST:PORT.
        vm: String,
        /// Write the state to FILE (atomically: temp file, fsync, rename) instead of standard output.
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Send a state (from stdin or FILE) to an interrupted or waiting VM, which continues from it.
    Rstate(RstateArgs),
    /// Let an interrupted VM continue.
    Resume {
        /// The VM: its PID on this host (`hv ps` lists them) or its control endpoint HOST:PORT.
        vm: String,
    },
    /// Give up the lease on an interrupted VM, leaving it interrupted for another client.
    Release {
        /// The VM: its PID on this host (`hv ps` lists them) or its control endpoint HOST:PORT.
        vm: String,
    },
    /// Stop a VM process.
    Kill {
        /// The VM: its PID on this host (`hv ps` lists them) or its control endpoint HOST:PORT.
        vm: String,
    },
    /// Move a program to a waiting VM so that it runs on exactly once; the source exits once the target runs.
    Migrate(MigrateArgs),
    /// After a crash: settle every migration a stopped hv left behind (commit what committed, abort the rest).
    Recover,
    /// Move every VM off HOST to waiting VMs of the same program on the other hosts of the fleet (needs --cluster).
    Drain(DrainArgs),
    /// Make TLS credentials in DIR: a certificate for NAMEs signed by the authority of --ca (made there if it has none).
    TlsInit {
        /// Where to write cert.pem, key.pem and ca.pem.
        dir: PathBuf,
        /// An address or host name the certificate's holder is reached at (repeat for more).
        #[arg(long = "name", value_name = "NAME", required = true)]
        names: Vec<String>,
        /// The directory of the authority (ca.pem, ca-key.pem) [default: DIR].
        #[arg(long, value_name = "CA_DIR")]
        ca: Option<PathBuf>,
    },
    #[command(flatten)]
    Docs(DocsCommand),
}

/// `ps`, in the CLI and the shell.
#[derive(Args)]
struct PsArgs {
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

/// `drain`, in the CLI and the shell.
#[derive(Args)]
struct DrainArgs {
    /// The host to empty, as the fleet names it (`hv ps --cluster`'s HOST column).
    host: String,
    /// Print the plan and move nothing.
    #[arg(long)]
    dry_run: bool,
    /// Migrations at once, at most.
    #[arg(long, value_name = "N", default_value_t = 2, value_parser = clap::value_parser!(u64).range(1..=64))]
    parallel: u64,
}

/// The fleet `hv` works in: the etcd members `--cluster` names, if any, and this host's name there.
struct Fleet {
    urls: Option<String>,
    host: String,
}

impl Fleet {
    /// The ledger of migrations: the cluster's when there is one (refused if it
    /// cannot be reached: no migration starts without its record).
    fn ledger(&self) -> Result<Option<vm_cluster::EtcdLedger>, String> {
        let Some(urls) = &self.urls else { return Ok(None) };
        let cluster = vm_cluster::Cluster::connect(urls, vm_host::tls::policy()).map_err(|e| e.to_string())?;
        vm_cluster::EtcdLedger::new(std::sync::Arc::new(cluster), &self.host)
            .map(Some)
            .map_err(|e| format!("{e}; no migration starts without its record in the cluster"))
    }
}

/// `rstate`, in the CLI and the shell.
#[derive(Args)]
struct RstateArgs {
    /// The VM to restore into, interrupted or waiting: a PID or HOST:PORT.
    vm: String,
    /// Read the state from FILE (default: standard input; in the shell, the kept state).
    #[arg(short, long, value_name = "FILE")]
    input: Option<PathBuf>,
    /// Leave the VM interrupted after the restore.
    #[arg(long)]
    paused: bool,
}

/// `migrate`, in the CLI and the shell.
#[derive(Args)]
struct MigrateArgs {
    /// The VM whose program moves (running or interrupted): a PID or HOST:PORT.
    vm: String,
    /// The VM it moves to, started with --wait: a PID or HOST:PORT.
    #[arg(long, value_name = "TARGET")]
    to: String,
    /// The longest the program may stop, in milliseconds: its memory is sent while it runs,
    /// round after round, until what is left fits this.
    #[arg(long, value_name = "MS", default_value_t = 20)]
    max_downtime: u64,
    /// Rounds at most before the migration gives up (the program runs on); 0 stops the
    /// program at once and sends its state whole (stop and copy). Default: 30; 0 with --postcopy.
    #[arg(long, value_name = "N")]
    max_rounds: Option<u32>,
    /// Post-copy: the target runs the program before its memory has arrived, and the pages
    /// follow (one it touches first). At once, or with --max-rounds N once N rounds are used up.
    /// If the source or the link dies before the last page, the program is lost.
    #[arg(long)]
    postcopy: bool,
    /// Never slow the program down to make the rounds converge (auto-converge).
    #[arg(long)]
    no_throttle: bool,
    /// Compress pages on the wire (lz4): auto (when that is faster than the link, measured as it goes), on or off.
    #[arg(long, value_name = "WHEN", default_value = "auto", value_parser = ["auto", "on", "off"])]
    compress: String,
    /// Print what the migration did: rounds, bytes, downtime, total time.
    #[arg(long)]
    stats: bool,
}

impl MigrateArgs {
    /// Runs the migration, with progress on a terminal, recorded in the
    /// fleet's cluster if there is one; the lines to print.
    fn run(&self, token: Option<&str>, fleet: &Fleet) -> Result<String, String> {
        let options = vm_host::MigrateOptions {
            max_downtime: Duration::from_millis(self.max_downtime),
            max_rounds: self.max_rounds.unwrap_or(if self.postcopy { 0 } else { 30 }),
            throttle: !self.no_throttle,
            compress: vm_host::protocol::Compress::parse(&self.compress).unwrap_or_default(),
            postcopy: self.postcopy,
        };
        let moved = match fleet.ledger()? {
            Some(ledger) => vm_host::migrate_in(&ledger, &self.vm, &self.to, token, &options, terminal_rounds()),
            None => vm_host::migrate_with(&self.vm, &self.to, token, &options, terminal_rounds()),
        }
        .map_err(|e| e.to_string())?;
        let mut said = moved.said.clone();
        if self.stats {
            said.push('\n');
            said.push_str(&stats(&moved));
        }
        Ok(said)
    }
}

/// `hv migrate --stats`: what the migration did.
fn stats(moved: &vm_host::Moved) -> String {
    let mib = |b: u64| b as f64 / (1 << 20) as f64;
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let mut out = String::new();
    let n = moved.rounds.len();
    for (i, bytes) in moved.rounds.iter().enumerate() {
        let what = if i + 1 == n { "at the stop" } else { "while running" };
        out.push_str(&format!("round {}: {:.1} MiB to send ({what})\n", i + 1, mib(*bytes)));
    }
    let pre = moved.total.saturating_sub(moved.downtime).as_secs_f64().max(1e-9);
    let dirtied: u64 = moved.rounds.iter().skip(1).sum();
    out.push_str(&format!("rounds: {n}\n"));
    out.push_str(&format!("bytes sent: {} ({:.1} MiB), at the stop: {}\n", moved.bytes, mib(moved.bytes), moved.last));
    out.push_str(&format!("dirty rate: {:.1} MiB/s\n", mib(dirtied) / pre));
    let (raw, packed) = moved.compressed;
    match raw {
        0 => out.push_str("compression: none\n"),
        raw => out.push_str(&format!(
            "compression: lz4 on {:.1} MiB of pages, {:.2}:1\n",
            mib(raw),
            raw as f64 / packed.max(1) as f64
        )),
    }
    if let Some((pages, took)) = moved.postcopy {
        out.push_str(&format!(
            "post-copy: {pages} pages ({:.1} MiB) after the target ran; the last arrived {:.1} ms after it ran\n",
            mib(pages * 4096),
            ms(took)
        ));
    }
    out.push_str(&format!("total time: {:.1} ms\n", ms(moved.total)));
    out.push_str(&format!("downtime: {:.2} ms (the source stopped until the target ran)", ms(moved.downtime)));
    out
}

/// On a terminal, one line that follows the rounds (indicatif); nothing otherwise.
fn terminal_rounds() -> Option<vm_host::Watch> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let spinner = indicatif::ProgressBar::new_spinner();
    spinner.set_style(indicatif::ProgressStyle::with_template("{spinner} {elapsed} {msg}").expect("a valid template"));
    Some(std::sync::Arc::new(move |progress: &str| {
        let field = |key: &str| vm_host::protocol::field(progress, key).unwrap_or("?").to_string();
        let mib = |key: &str| field(key).parse::<f64>().map_or("?".into(), |b| format!("{:.1} MiB", b / 1048576.0));
        if let Some(owed) = vm_host::protocol::field(progress, "pages-owed") {
            spinner.set_message(format!("post-copy: the program runs on the target; {owed} pages still to arrive"));
            spinner.tick();
            return;
        }
        spinner.set_message(format!(
            "round {}: {} sent, {} to send, program slowed by {}",
            field("round"),
            mib("sent"),
            mib("to-send"),
            field("throttle")
        ));
        spinner.tick();
    }))
}

fn main() -> ExitCode {
    let mut cli = Cli::parse();
    if let Some(path) = &cli.token_file {
        match cli::read_token_file(path) {
            Ok(token) => cli.token = Some(token),
            Err(why) => {
                eprintln!("hv: {why}");
                return ExitCode::FAILURE;
            }
        }
    }
    let making_them = matches!(cli.command, Some(Command::TlsInit { .. }));
    let tls = match cli.tls.as_deref().filter(|_| !making_them).map(vm_host::tls::Tls::load).transpose() {
        Ok(tls) => tls,
        Err(why) => {
            eprintln!("hv: {why}");
            return ExitCode::FAILURE;
        }
    };
    vm_host::tls::set_policy(vm_host::tls::Policy { tls, insecure: cli.insecure });
    let token = cli.token.as_deref();
    let fleet = Fleet { urls: cli.fleet.cluster.clone(), host: cli.fleet.host_name() };
    let result = match cli.command {
        None => return shell::run(cli.token, fleet),
        Some(Command::Sstate { vm, output: None }) => {
            if std::io::stdout().is_terminal() {
                Err("refusing to write a binary state to a terminal; use -o FILE or a pipe".into())
            } else {
                save_state_to(&vm, token, None)
            }
        }
        Some(Command::Sstate { vm, output: Some(path) }) => save_state_to(&vm, token, Some(&path)),
        Some(Command::Rstate(RstateArgs { vm, input, paused })) => {
            read_state(input.as_deref()).and_then(|state| restore_state(&vm, &state, paused, token)).map(say)
        }
        Some(Command::Ps(PsArgs { json })) => ps(json, token, &fleet),
        Some(Command::Status { vm }) => status(&vm, token).map(say),
        Some(Command::Interrupt { vm }) => interrupt(&vm, token).map(say),
        Some(Command::Resume { vm }) => resume(&vm, token).map(say),
        Some(Command::Release { vm }) => release(&vm, token).map(say),
        Some(Command::Kill { vm }) => kill(&vm, token).map(say),
        Some(Command::Docs(docs)) => docs.run(Cli::command()),
        Some(Command::Migrate(args)) => args.run(token, &fleet).map(say),
        Some(Command::Recover) => recover(token, &fleet),
        Some(Command::Drain(args)) => drain(&args, token, &fleet),
        Some(Command::TlsInit { dir, names, ca }) => {
            cli::tls_init::init(&dir, ca.as_deref().unwrap_or(&dir), &names).map(|lines| say(lines.join("\n")))
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("hv: {message}");
            ExitCode::FAILURE
        }
    }
}

/// A line on stdout; a reader that stopped early (`| head`) is fine.
fn say(text: String) {
    let _ = cli::print_out(&(text + "\n"));
}

/// A progress bar on standard error for the save and restore of a state of
/// 4 MiB or more (bytes, rate, time left), when standard error is a
/// terminal; nothing otherwise.
fn terminal_progress() -> Option<Progress> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = std::sync::Mutex::new(None::<(String, indicatif::ProgressBar)>);
    Some(std::sync::Arc::new(move |what: &str, done: u64, total: u64| {
        if total < 4 << 20 {
            return;
        }
        let mut bar = bar.lock().unwrap_or_else(|e| e.into_inner());
        if bar.as_ref().is_none_or(|(shown, _)| shown != what) {
            let style = indicatif::ProgressStyle::with_template(
                "{msg:8} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {eta}",
            )
            .expect("a valid template")
            .progress_chars("=> ");
            let shown = indicatif::ProgressBar::new(total).with_style(style).with_message(what.to_string());
            *bar = Some((what.to_string(), shown));
        }
        let (_, shown) = bar.as_ref().expect("just made");
        shown.set_position(done);
        if done >= total {
            shown.finish();
        }
    }))
}

fn connect(vm: &str, token: Option<&str>) -> Result<Client, String> {
    Client::connect(vm, token).map_err(|e| e.to_string())
}

/// The VM's lease: the one this user's `hv` keeps (renewed), or one taken on
/// a stopped, free VM — then kept too if `keep`. A lease taken here that
/// cannot be kept is given back, so a failure leaves the VM as it was.
fn held(client: &mut Client, keep: bool) -> Result<String, String> {
    registry::open_dir().map_err(|e| e.to_string())?;
    let kept = client.kept_lease();
    let (lease, _) = client.claim(kept.as_deref()).map_err(|e| e.to_string())?;
    if keep && kept.as_ref() != Some(&lease) {
        if let Err(e) = client.keep_lease(&lease) {
            let _ = client.call(&Request::Release(lease.to_string()));
            return Err(format!("{e}; the lease could not be kept, so it was given back"));
        }
    }
    Ok(lease)
}

/// A VM's status line.
fn status(vm: &str, token: Option<&str>) -> Result<String, String> {
    connect(vm, token)?.fresh_status().map(|s| s.format()).map_err(|e| e.to_string())
}

/// Stops a VM and keeps its lease for the next `hv` command; if the lease
/// cannot be kept, the VM is left as it was found (resumed, or released).
fn interrupt(vm: &str, token: Option<&str>) -> Result<String, String> {
    // Where the lease will be kept must be usable before the VM is stopped, not after.
    registry::open_dir().map_err(|e| e.to_string())?;
    let mut client = connect(vm, token)?;
    let kept = client.kept_lease();
    let (lease, said) = client.interrupt(kept.as_deref()).map_err(|e| e.to_string())?;
    if kept.as_ref() == Some(&lease) {
        return Ok(said); // Renewed: the kept file already holds it.
    }
    if let Err(e) = client.keep_lease(&lease) {
        let was_running = client.status().mode == "running";
        let (command, left): (fn(String) -> Request, _) =
            if was_running { (Request::Resume, "resumed") } else { (Request::Release, "released") };
        let undone = match client.call(&command(lease.clone())) {
            Ok(_) => format!("the lease could not be kept, so the VM was {left}, as it was"),
            Err(undo) => format!("the lease could not be kept, and the VM could not be {left} either: {undo}"),
        };
        return Err(format!("{e}; {undone}"));
    }
    Ok(said)
}

/// Sends `COMMAND LEASE`, with the kept lease or one taken on a stopped,
/// free VM, after which the lease has ended (`resume`, `release`).
fn ending_lease(vm: &str, command: fn(String) -> Request, token: Option<&str>) -> Result<String, String> {
    let mut client = connect(vm, token)?;
    let lease = held(&mut client, false)?;
    let said = client.call(&command(lease)).map_err(|e| e.to_string())?;
    client.forget_lease();
    Ok(said)
}

/// Lets an interrupted VM continue.
fn resume(vm: &str, token: Option<&str>) -> Result<String, String> {
    ending_lease(vm, Request::Resume, token)
}

/// Gives up the lease; the VM stays interrupted.
fn release(vm: &str, token: Option<&str>) -> Result<String, String> {
    ending_lease(vm, Request::Release, token)
}

/// Ends a VM process.
fn kill(vm: &str, token: Option<&str>) -> Result<String, String> {
    let mut client = connect(vm, token)?;
    let said = client.kill(client.kept_lease().as_deref()).map_err(|e| e.to_string())?;
    client.forget_lease();
    Ok(said)
}

/// Writes the state of an interrupted VM, whose lease stays kept, to `path`
/// (atomically) or to standard output, as it arrives: `hv` never holds it whole.
fn save_state_to(vm: &str, token: Option<&str>, path: Option<&Path>) -> Result<(), String> {
    let (mut client, len) = begin_save(vm, token)?;
    match path {
        None => client.read_state_into(len, &mut std::io::stdout().lock()).map_err(|e| e.to_string()),
        Some(path) => vm_host::registry::write_file_atomically_with(path, true, |file| {
            let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
            client.read_state_into(len, &mut out).map_err(std::io::Error::other)?;
            out.flush()
        })
        .map_err(|e| format!("cannot write {}: {e}", path.display())),
    }
}

/// The state of an interrupted VM, whose lease stays kept.
fn save_state(vm: &str, token: Option<&str>) -> Result<Vec<u8>, String> {
    let (mut client, len) = begin_save(vm, token)?;
    let mut state = Vec::new();
    client.read_state_into(len, &mut state).map_err(|e| e.to_string())?;
    Ok(state)
}

/// Takes (and keeps) the VM's lease and asks for its state: the client
/// and the length of the state that follows.
fn begin_save(vm: &str, token: Option<&str>) -> Result<(Client, usize), String> {
    let mut client = connect(vm, token)?;
    client.set_progress(terminal_progress());
    let lease = held(&mut client, true)?;
    let len = client.begin_save(&lease).map_err(|e| e.to_string())?;
    Ok((client, len))
}

/// Restores `state` into `vm` and, unless `paused`, resumes it; the reply for the user.
fn restore_state(vm: &str, state: &[u8], paused: bool, token: Option<&str>) -> Result<String, String> {
    let mut client = connect(vm, token)?;
    client.set_progress(terminal_progress());
    client.accepts(state.len()).map_err(|e| e.to_string())?;
    let kept = client.kept_lease();
    let lease = held(&mut client, paused)?;
    let restored = match client.restore(&lease, state) {
        Ok(restored) => restored,
        Err(e) => {
            // Refused: the VM is left as it was found, free unless this user held it already.
            if kept.as_ref() != Some(&lease) {
                let _ = client.call(&Request::Release(lease.to_string()));
                client.forget_lease();
            }
            return Err(e.to_string());
        }
    };
    if !paused {
        client.call(&Request::Resume(lease.to_string())).map_err(|e| e.to_string())?;
        client.forget_lease();
    }
    Ok(format!("{restored}{}", if paused { " (paused)" } else { ", running" }))
}

/// Settles what crashed `hv` processes left behind — in the fleet's
/// cluster, if there is one, then in this host's runtime directory — a line
/// each; fails if anything is left undecided.
fn recover(token: Option<&str>, fleet: &Fleet) -> Result<(), String> {
    let settled = match fleet.ledger()? {
        Some(ledger) => vm_host::recover_in(&[&ledger, &vm_host::migration::RuntimeDir], token),
        None => vm_host::recover(token),
    }
    .map_err(|e| e.to_string())?;
    if settled.is_empty() {
        say("nothing to recover".into());
    }
    for s in &settled {
        say(s.line.clone());
    }
    match settled.iter().filter(|s| !s.decided).count() {
        0 => Ok(()),
        n => Err(format!("{n} left undecided (above)")),
    }
}

/// Reads a state from `path` or stdin, at most one byte past what a VM would accept.
fn read_state(path: Option<&Path>) -> Result<Vec<u8>, String> {
    let mut state = Vec::new();
    let limit = vm_host::protocol::CLIENT_MAX_PAYLOAD as u64 + 1;
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

/// Each entry's state, asked of all VMs at once with a short timeout, so a
/// VM that does not answer costs `hv ps` one second, not one per entry.
/// Each VM's mode and detail (its position when stopped, its live figures when running).
fn states(entries: &[registry::Entry], token: Option<&str>) -> Vec<(String, String)> {
    let ask = |e: &registry::Entry| {
        let timeout = Duration::from_secs(1);
        let only = |mode: &str| (mode.to_string(), String::new());
        match Client::connect_within(&e.pid.to_string(), token, timeout, timeout) {
            Ok(client) => (client.status().mode.clone(), client.status().position.clone()),
            Err(HvError::Protocol { source, .. }) if source.to_string().contains("not the one registered") => {
                only("impostor")
            }
            Err(HvError::Protocol { source, .. }) if source.to_string().starts_with("unauthorized") => {
                only("needs-token")
            }
            Err(_) => only("unreachable"),
        }
    };
    let mut states = Vec::with_capacity(entries.len());
    for chunk in entries.chunks(64) {
        std::thread::scope(|scope| {
            let asked: Vec<_> = chunk.iter().map(|e| scope.spawn(move || ask(e))).collect();
            states
                .extend(asked.into_iter().map(|h| h.join().unwrap_or_else(|_| ("unreachable".into(), String::new()))));
        });
    }
    states
}

/// Moves every VM off a host of the fleet (or, `--dry-run`, prints the plan).
fn drain(args: &DrainArgs, token: Option<&str>, fleet: &Fleet) -> Result<(), String> {
    let ledger = fleet.ledger()?.ok_or("drain needs the fleet: --cluster URLS (or MOVA_CLUSTER)")?;
    let vms = vm_cluster::list(ledger.cluster()).map_err(|e| e.to_string())?;
    let plan = vm_cluster::drain::plan(&vms, &args.host);
    if plan.moves.is_empty() && plan.stay.is_empty() {
        say(format!("nothing to move off {}", args.host));
        return Ok(());
    }
    if args.dry_run {
        plan.lines().into_iter().for_each(say);
        return Ok(());
    }
    plan.stay_lines().for_each(say);
    let options = vm_host::MigrateOptions::default();
    let failed = vm_cluster::drain::run(&plan, &ledger, token, &options, args.parallel as usize, &say);
    match (failed, plan.stay.len()) {
        (0, 0) => Ok(()),
        (failed, stay) => Err(format!(
            "{} is not drained: {failed} of {} migrations failed, {stay} VMs stay (above)",
            args.host,
            plan.moves.len()
        )),
    }
}

/// The fleet's VMs, as `hv ps` lists this host's, with their host.
fn ps_fleet(urls: &str, json: bool) -> Result<(), String> {
    let cluster = vm_cluster::Cluster::connect(urls, vm_host::tls::policy()).map_err(|e| e.to_string())?;
    let vms = vm_cluster::list(&cluster).map_err(|e| e.to_string())?;
    let rows: Vec<Row> =
        vms.iter().map(|r| Row { host: Some(&r.host), vm: &r.vm, state: &r.state, detail: &r.detail }).collect();
    print_rows(&rows, json, true)
}

/// Seconds as `H:MM:SS`.
fn uptime(up: u64) -> String {
    format!("{}:{:02}:{:02}", up / 3600, up / 60 % 60, up % 60)
}

fn ps(json: bool, token: Option<&str>, fleet: &Fleet) -> Result<(), String> {
    if let Some(urls) = &fleet.urls {
        return ps_fleet(urls, json);
    }
    let entries = registry::list().map_err(|e| e.to_string())?;
    let states = states(&entries, token);
    let rows: Vec<Row> =
        entries.iter().zip(&states).map(|(vm, (state, detail))| Row { host: None, vm, state, detail }).collect();
    print_rows(&rows, json, false)
}

/// One VM as `hv ps` shows it: on this host, or in the fleet, with its host.
struct Row<'a> {
    host: Option<&'a str>,
    vm: &'a registry::Entry,
    state: &'a str,
    detail: &'a str,
}

/// `hv ps`'s table (a HOST column first for the `fleet`'s), or its JSON.
fn print_rows(rows: &[Row], json: bool, fleet: bool) -> Result<(), String> {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    if json {
        let rows: Vec<_> = rows
            .iter()
            .map(|r| {
                let e = r.vm;
                let mut row = serde_json::json!({"pid": e.pid, "machine": e.machine, "program": e.program,
                "program_hash": e.program_hash, "state": r.state, "detail": r.detail, "endpoint": e.endpoint,
                "instance": e.instance, "uptime_s": now.saturating_sub(e.started)});
                if let Some(host) = r.host {
                    row["host"] = host.into();
                }
                row
            })
            .collect();
        say(serde_json::to_string_pretty(&rows).map_err(|e| e.to_string())?);
        return Ok(());
    }
    let line = |host: Option<&str>, cells: [&str; 7]| {
        let [pid, machine, state, endpoint, uptime, detail, program] = cells;
        let host = host.map(|h| format!("{h:<12} ")).unwrap_or_default();
        format!("{host}{pid:>7}  {machine:<7} {state:<12} {endpoint:<21} {uptime:>8}  {detail:<30} {program}\n")
    };
    let header = ["PID", "MACHINE", "STATE", "ENDPOINT", "UPTIME", "DETAIL", "PROGRAM"];
    let mut out = line(fleet.then_some("HOST"), header);
    for r in rows {
        let (pid, up) = (r.vm.pid.to_string(), uptime(now.saturating_sub(r.vm.started)));
        out.push_str(&line(r.host, [&pid, &r.vm.machine, r.state, &r.vm.endpoint, &up, r.detail, &r.vm.program]));
    }
    let _ = cli::print_out(&out);
    Ok(())
}
