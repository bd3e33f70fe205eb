//! Moving a program between VMs so that it runs on exactly once
//! ([`migrate`]), the record a migration keeps while it runs, and
//! [`recover`], which settles every migration whose controller died.
//!
//! ## The record
//!
//! While `hv migrate` runs, it keeps a [`Record`] in the runtime directory
//! (`migration-SOURCE_INSTANCE`, mode 0600): both VMs, both leases, and how
//! far it got ([`Step`]). The record is written before each step a crash
//! could leave half done and removed once the migration is committed or
//! undone. The migrating process holds an exclusive `flock` on it, which
//! the kernel releases however the process ends: a record nobody has locked
//! is what a crashed controller left behind, and [`recover`] takes the lock
//! before it settles one, so two recoveries (or a recovery and a live
//! migration) never act on one record.
//!
//! ## Settling
//!
//! The commit point is the target's `resume`. A restored state is
//! provisional in the target until then (it never runs by a takeover, and is
//! dropped when its lease lapses), so the target's answer to `outcome LEASE`
//! decides: `ran` — commit the source; `held` — drop it from the target and
//! give the program back to the source; `dropped` — give it back. When the
//! target cannot be asked, a record from before the `resume` is given back
//! too (nothing can run the provisional copy), and one from after it is left
//! undecided for a later `hv recover`: never a guess toward two.

use crate::client::{refused, Client, HvError};
use crate::protocol::{Command, Fate, ProtocolError, Response, SendOrder};
use crate::registry::{self, RegistryError, MAX_ENTRY};
use serde::{Deserialize, Serialize};
use std::io::{Read, Seek};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How far a migration got.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Step {
    /// The target is claimed and accepts a stream; the source sends its
    /// state while it runs (it has no lease yet, and gives its program back
    /// by itself if this `hv` goes away).
    Sending,
    /// Both leases are taken: the source is stopped, the target claimed;
    /// the state may be restored (provisionally) in the target.
    Taken,
    /// The source is `moving`: it runs the program again only if aborted.
    /// No longer written (settling asks the source whether it is `moving`,
    /// and the next step follows at once); read in records of earlier `hv`s.
    HandedOff,
    /// The target is being resumed: from here on it may run the program.
    /// (Where the target's `resume` is the commit point: the runtime directory.)
    Resuming,
    /// Committed by the ledger's own commit point (one etcd transaction),
    /// before the target is resumed: the program is the target's from here
    /// on, and settling it resumes the target, never the source.
    Committed,
}

/// One VM of a migration, as the record names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Party {
    /// As the user named it: a PID or `HOST:PORT`.
    pub name: String,
    /// Its control address.
    pub endpoint: String,
    /// Its instance id: another VM at the same address is not it.
    pub instance: String,
    /// The lease this migration holds on it.
    pub lease: String,
}

/// A migration in progress, as kept in the runtime directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// The VM whose program moves.
    pub source: Party,
    /// The VM it moves to.
    pub target: Party,
    /// The source ran before the migration stopped it: given back, it runs again.
    pub source_was_running: bool,
    /// How far it got.
    pub step: Step,
}

impl Record {
    /// Whether its ids are hex, and its names and endpoints of a sane length
    /// with no control characters (`hv recover` prints them): a record read
    /// back is untrusted.
    pub fn check(&self) -> bool {
        let hex = registry::is_hex_id;
        let lease_ok = |p: &Party| hex(&p.lease) || (p.lease.is_empty() && self.step == Step::Sending);
        let text_ok = |t: &str| t.len() <= 300 && !t.chars().any(char::is_control);
        [&self.source, &self.target]
            .iter()
            .all(|p| hex(&p.instance) && lease_ok(p) && text_ok(&p.endpoint) && text_ok(&p.name))
    }
}

/// Where migrations are recorded while they run, and found again after a
/// crash: the runtime directory of this host ([`RuntimeDir`], the default),
/// or a fleet's etcd (the `vm-cluster` crate).
pub trait Ledger: Sync {
    /// Takes the record of a migration of the VM whose instance id is
    /// `source`: the lock that keeps every other controller off that VM
    /// until the record is dropped (settled: removed) or kept.
    fn begin(&self, source: &str) -> Result<Box<dyn Recorded>, Begin>;

    /// Every record whose controller is gone, each taken for settling, and
    /// a line for each that cannot be (held by a live controller, unreadable).
    fn unfinished(&self) -> Result<Vec<Found>, HvError>;

    /// Whether the ledger has a commit point of its own, recorded before the
    /// target is resumed ([`Step::Committed`]); else the target's `resume` is it.
    fn commits(&self) -> bool;
}

/// Why [`Ledger::begin`] did not take a record.
pub enum Begin {
    /// A live controller holds a record of this VM; why, for the user.
    Busy(String),
    /// A record of this VM that a gone controller left: settle it first.
    Unfinished,
    /// The ledger failed (the runtime directory, the cluster).
    Failed(HvError),
}

/// A record of a migration, taken by this process: written as the migration
/// advances; removed when dropped unless [`keep`](Recorded::keep) was called.
pub trait Recorded: Send {
    /// Writes `record` (its step advanced) in place of the last one.
    fn write(&mut self, record: &Record) -> Result<(), HvError>;

    /// Records the commit point ([`Ledger::commits`]), or the step before
    /// the target's resume where the resume is the commit point.
    fn commit(&mut self, record: &Record) -> Result<(), Uncommitted>;

    /// Leaves the record for [`recover`].
    fn keep(self: Box<Self>);
}

/// Why [`Recorded::commit`] did not commit.
pub enum Uncommitted {
    /// It certainly did not: the migration may be undone.
    Not(HvError),
    /// Nobody can tell yet (the ledger did not answer): the record decides later.
    Unknown(HvError),
}

/// One record [`Ledger::unfinished`] found.
pub struct Found {
    /// The instance id of the VM it moves.
    pub instance: String,
    /// What can be done with it.
    pub what: Unfinished,
}

/// What [`Found`] holds.
pub enum Unfinished {
    /// Taken for settling: the record, or `None` when its controller stopped
    /// before writing one (dropping it removes it).
    Taken(Box<dyn Recorded>, Option<Record>),
    /// Left as it is; the line says why, and whether that is settled.
    Left(Settled),
}

/// The runtime directory as the ledger: one host's migrations, each a file
/// `migration-SOURCE_INSTANCE` locked by the `hv` that runs it.
pub struct RuntimeDir;

impl Ledger for RuntimeDir {
    fn begin(&self, source: &str) -> Result<Box<dyn Recorded>, Begin> {
        let path =
            registry::open_dir().map_err(|e| Begin::Failed(e.into()))?.join(record_name(source).unwrap_or_default());
        match Journal::take(&path) {
            Ok(journal) => Ok(Box::new(journal)),
            Err(Locked::Failed(e)) => Err(Begin::Failed(e.into())),
            Err(Locked::Untrusted) => Err(Begin::Failed(HvError::Ledger(format!(
                "{}: not a migration record this user wrote (a link, not a regular file, or another user's); remove it",
                path.display()
            )))),
            Err(_) => Err(Begin::Busy("busy: another hv is migrating this VM or recovering its migration".into())),
        }
    }

    fn unfinished(&self) -> Result<Vec<Found>, HvError> {
        let dir = registry::runtime_dir();
        if !dir.exists() {
            return Ok(Vec::new());
        }
        registry::check_dir(&dir)?;
        let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
            .map_err(|source| RegistryError::Io { dir: dir.clone(), source })?
            .filter_map(Result::ok)
            .filter(|e| {
                e.file_name()
                    .to_str()
                    .is_some_and(|n| n.strip_prefix("migration-").is_some_and(|i| record_name(i).is_some()))
            })
            .map(|e| e.path())
            .collect();
        paths.sort();
        let mut found = Vec::new();
        for path in paths {
            let instance =
                path.file_name().and_then(|n| n.to_str()).unwrap_or("").trim_start_matches("migration-").to_string();
            let left = |line: String, decided: bool| Unfinished::Left(Settled { line, decided });
            let what = match Journal::lock(&path) {
                Ok(mut journal) => match journal.read() {
                    Ok(Some(record)) if record.source.instance == instance => {
                        Unfinished::Taken(Box::new(journal), Some(record))
                    }
                    Ok(None) => Unfinished::Taken(Box::new(journal), None),
                    _ => {
                        journal.keep = true;
                        left(format!("skipped: {} is not a migration record; remove it", path.display()), false)
                    }
                },
                Err(Locked::Busy) => left(
                    format!("in progress: the migration of instance {instance} is held by a running hv; left alone"),
                    true,
                ),
                Err(Locked::Untrusted | Locked::Absent) => continue,
                Err(Locked::Failed(e)) => return Err(e.into()),
            };
            found.push(Found { instance, what });
        }
        Ok(found)
    }

    fn commits(&self) -> bool {
        false
    }
}

/// The file name of the record of a migration of the VM `instance`.
fn record_name(instance: &str) -> Option<String> {
    registry::is_hex_id(instance).then(|| format!("migration-{instance}"))
}

/// A record file, open and locked by this process; removed when dropped
/// unless [`keep`](Journal::keep) was called (a crash keeps it too).
struct Journal {
    file: std::fs::File,
    path: PathBuf,
    keep: bool,
}

impl Drop for Journal {
    fn drop(&mut self) {
        if !self.keep {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Why a record cannot be taken.
enum Locked {
    /// Another process holds it: a migration or a recovery in progress.
    Busy,
    /// It is not a file this user may trust.
    Untrusted,
    /// There is none (any more).
    Absent,
    /// The runtime directory failed.
    Failed(RegistryError),
}

impl Journal {
    /// Takes the record file at `path` for a migration starting: the one a
    /// gone `hv` left there, or a new one. Only a record removed or made by
    /// another process at that moment is tried again, a few times.
    fn take(path: &Path) -> Result<Journal, Locked> {
        for _ in 0..4 {
            match Journal::lock(path) {
                Err(Locked::Absent) => match Journal::create(path)? {
                    Some(journal) => return Ok(journal),
                    // Another process's record appeared first: lock that one.
                    None => continue,
                },
                taken => return taken,
            }
        }
        Err(Locked::Busy)
    }

    /// Creates the record file at `path`, locked before anyone can see it:
    /// made and locked under a temporary name, then linked into
    /// place (a link never replaces a file). A record seen unlocked is one
    /// whose `hv` is gone, which `hv recover` takes and, empty, removes;
    /// created in place, a migration's record would be that for a moment.
    /// `None` when a record appeared at `path` meanwhile.
    fn create(path: &Path) -> Result<Option<Journal>, Locked> {
        let io = |source| Locked::Failed(RegistryError::Io { dir: registry::runtime_dir(), source });
        // Named as `registry::write_file_atomically` names its temp files; not a record's name.
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        let staged = path.with_file_name(format!(".{name}.{}.tmp", crate::random_hex(8)));
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&staged)
            .map_err(io)?;
        // SAFETY: flock on a descriptor this function owns; no memory is involved.
        let locked = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0;
        let linked = if locked { std::fs::hard_link(&staged, path) } else { Err(std::io::Error::last_os_error()) };
        let _ = std::fs::remove_file(&staged);
        match linked {
            Ok(()) => Ok(Some(Journal { file, path: path.to_path_buf(), keep: false })),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(None),
            Err(e) => Err(io(e)),
        }
    }

    /// Opens and locks the record file at `path`.
    fn lock(path: &Path) -> Result<Journal, Locked> {
        let io = |source| Locked::Failed(RegistryError::Io { dir: registry::runtime_dir(), source });
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open(path)
            .map_err(|e| if e.kind() == std::io::ErrorKind::NotFound { Locked::Absent } else { Locked::Untrusted })?;
        let meta = file.metadata().map_err(io)?;
        if !meta.is_file() || meta.uid() != registry::euid() {
            return Err(Locked::Untrusted);
        }
        // SAFETY: flock on a descriptor this function owns; no memory is involved.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            return Err(Locked::Busy);
        }
        // Locked after another process settled and removed it: there is none now.
        if file.metadata().map_err(io)?.nlink() == 0 {
            return Err(Locked::Absent);
        }
        Ok(Journal { file, path: path.to_path_buf(), keep: false })
    }

    /// Writes `record` over the file in one write of [`MAX_ENTRY`] bytes
    /// (padded with spaces), so a process killed at any point leaves the old
    /// record or the new one.
    fn write(&mut self, record: &Record) -> std::io::Result<()> {
        let mut bytes = serde_json::to_vec(record).map_err(std::io::Error::other)?;
        if bytes.len() > MAX_ENTRY as usize {
            return Err(std::io::Error::other("the migration record is too long"));
        }
        bytes.resize(MAX_ENTRY as usize, b' ');
        std::os::unix::fs::FileExt::write_all_at(&self.file, &bytes, 0)
    }

    /// The record; `Ok(None)` for an empty file (its `hv` stopped before writing one).
    fn read(&mut self) -> Result<Option<Record>, ()> {
        let mut bytes = Vec::new();
        self.file.rewind().map_err(drop)?;
        (&self.file).take(MAX_ENTRY + 1).read_to_end(&mut bytes).map_err(drop)?;
        if bytes.is_empty() {
            return Ok(None);
        }
        let record: Record = serde_json::from_slice(&bytes).map_err(drop)?;
        record.check().then_some(Some(record)).ok_or(())
    }
}

impl Recorded for Journal {
    fn write(&mut self, record: &Record) -> Result<(), HvError> {
        Journal::write(self, record)
            .map_err(|source| HvError::Registry(RegistryError::Io { dir: registry::runtime_dir(), source }))
    }

    fn commit(&mut self, record: &Record) -> Result<(), Uncommitted> {
        Recorded::write(self, record).map_err(Uncommitted::Not)
    }

    fn keep(mut self: Box<Self>) {
        self.keep = true;
    }
}

/// How [`migrate_with`] moves a program.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrateOptions {
    /// The longest the program may stop: pre-copy rounds send its memory
    /// while it runs until what is left fits this.
    pub max_downtime: Duration,
    /// Pre-copy rounds at most; past them the migration fails and the
    /// program runs on. Zero sends the state whole at the stop (stop and copy).
    pub max_rounds: u32,
    /// May a program that writes memory faster than the link carries it be
    /// slowed down until it converges (auto-converge)?
    pub throttle: bool,
    /// Whether pages go compressed (lz4): by default when that is faster than the link.
    pub compress: crate::protocol::Compress,
    /// Post-copy: once `max_rounds` are used up (at once with none), the
    /// target runs before its pages have all arrived, and the migration
    /// ends when the last one has.
    pub postcopy: bool,
}

impl Default for MigrateOptions {
    fn default() -> Self {
        MigrateOptions {
            max_downtime: Duration::from_millis(20),
            max_rounds: 30,
            throttle: true,
            compress: crate::protocol::Compress::Auto,
            postcopy: false,
        }
    }
}

/// What a migration did, for `hv migrate --stats`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Moved {
    /// The line for the user: `migrated A -> B`.
    pub said: String,
    /// Bytes each round had to send; the last went with the stop.
    pub rounds: Vec<u64>,
    /// Bytes on the wire from source to target, framing included (a post-copy's pages too).
    pub bytes: u64,
    /// Bytes of the state sent at the stop.
    pub last: u64,
    /// Pages bytes that went compressed, and what they came to.
    pub compressed: (u64, u64),
    /// From the source's stop to the target running the program.
    pub downtime: Duration,
    /// From the start of the migration to its commit (in a post-copy, to its last page's arrival).
    pub total: Duration,
    /// A post-copy's pages sent after the target ran, and how long they took from its resume.
    pub postcopy: Option<(u64, Duration)>,
}

/// Told, while the source sends its state, how far it got (its status's
/// `round=… sent=… to-send=… throttle=…` fields).
pub type Watch = std::sync::Arc<dyn Fn(&str) + Send + Sync>;

/// Moves the program of VM `source` to the waiting VM `target`, so that it
/// runs on exactly once ([`migrate_with`] with the default options).
pub fn migrate(source: &str, target: &str, token: Option<&str>) -> Result<String, HvError> {
    migrate_with(source, target, token, &MigrateOptions::default(), None).map(|moved| moved.said)
}

/// Moves the program of VM `source` to the waiting VM `target`, so that it
/// runs on exactly once:
///
/// 1. Both VMs are checked (not the same VM, target waiting) and the
///    target's lease is taken (`claim`); the record is written.
/// 2. The target `accept`s a stream, and the source is told to `send` its
///    state straight to it: while the program runs, round after round of
///    the memory it wrote, until the rest fits `max_downtime`; then it
///    stops and sends the rest. The target restores it, provisionally; the
///    source answers with its lease.
/// 3. The source is told the state now lives in the target (`handoff`): it
///    is `moving` and will not run the program unless aborted.
/// 4. The target is resumed; its `OK running` is the commit point. The
///    source is then told to `commit`, and exits.
///
/// A failure before 4 undoes everything: the target drops the state, the
/// source runs on (or stays interrupted, if it was); if this `hv` dies
/// during 2, the source gives its program back by itself. If the target's
/// answer to 4 is lost, the target is asked what became of the state
/// (`outcome`); if it cannot be asked, the source stays `moving`, the
/// record stays for [`recover`], and the error says so: never both running.
pub fn migrate_with(
    source: &str,
    target: &str,
    token: Option<&str>,
    options: &MigrateOptions,
    watch: Option<Watch>,
) -> Result<Moved, HvError> {
    migrate_in(&RuntimeDir, source, target, token, options, watch)
}

/// [`migrate_with`], recorded in `ledger`: where the ledger has a commit
/// point of its own ([`Ledger::commits`]), it is recorded before the target
/// is resumed, and a target that then fails to confirm is settled from the
/// record ([`recover_in`]), never undone. An unfinished record of the
/// source that a gone controller left is settled first.
pub fn migrate_in(
    ledger: &dyn Ledger,
    source: &str,
    target: &str,
    token: Option<&str>,
    options: &MigrateOptions,
    watch: Option<Watch>,
) -> Result<Moved, HvError> {
    let started = std::time::Instant::now();
    let migration = match Migration::prepare(ledger, source, target, token)? {
        Some(migration) => migration,
        None => {
            // What a gone controller left of this VM's last migration decides where its program is now.
            settle_unfinished(ledger, token)?;
            Migration::prepare(ledger, source, target, token)?.ok_or_else(|| {
                refused(
                    source,
                    "an unfinished migration of this VM is recorded and could not be settled (hv recover says why)",
                )
            })?
        }
    };
    migration.run(options, watch, started)
}

/// A migration under way: its two connections and its record.
struct Migration {
    token: Option<String>,
    record: Record,
    journal: Box<dyn Recorded>,
    /// The ledger's commit point is its own ([`Ledger::commits`]), not the target's `resume`.
    commits: bool,
    src: Client,
    dst: Client,
}

impl Migration {
    /// Checks both VMs, takes the source's record in `ledger` and the
    /// leases: a migration ready to run; `None` when the ledger holds an
    /// unfinished record of the source that must be settled first.
    fn prepare(
        ledger: &dyn Ledger,
        source: &str,
        target: &str,
        token: Option<&str>,
    ) -> Result<Option<Migration>, HvError> {
        // Both at once: each is a connection and a status round trip.
        let (src, dst) = std::thread::scope(|scope| {
            let dst = scope.spawn(|| Client::connect(target, token));
            let src = Client::connect(source, token);
            (src, dst.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)))
        });
        let (mut src, mut dst) = (src?, dst?);
        let (src_status, dst_status) = (src.status.clone(), dst.status.clone());
        if src_status.instance == dst_status.instance {
            return Err(refused(
                target,
                format!("it is the source itself (instance {}): a VM cannot be its own target", dst_status.instance),
            ));
        }
        if dst_status.mode != "waiting" {
            return Err(refused(target, not_waiting(&dst_status.mode)));
        }
        if src_status.mode == "waiting" {
            return Err(refused(source, "waiting: the source has no program state to move"));
        }
        let journal = match ledger.begin(&src_status.instance) {
            Ok(journal) => journal,
            Err(Begin::Failed(e)) => return Err(e),
            Err(Begin::Busy(why)) => return Err(refused(source, why)),
            Err(Begin::Unfinished) => return Ok(None),
        };
        // The leases live in this process and its record only (a concurrent `hv` of the same user
        // must not share them), and the source's while it is `moving`, for `hv resume`/`hv kill`.
        let (dst_lease, dst_mode) = dst.claim(None)?;
        if !dst_mode.starts_with("waiting") {
            // Someone restored a program into it since its status: it is not ours to overwrite.
            release(&mut dst, &dst_lease);
            return Err(refused(target, not_waiting(dst_mode.split(' ').next().unwrap_or(""))));
        }
        let was_running = src_status.mode == "running";
        // A running source is sent without a lease (it grants one when it stops); one this user
        // interrupted by hand is taken with the lease kept for it.
        let src_lease = match was_running {
            true => String::new(),
            false => match src.claim(src.kept_lease().as_deref()) {
                Ok((lease, _)) => lease,
                Err(e) => {
                    release(&mut dst, &dst_lease);
                    return Err(e);
                }
            },
        };
        let party = |name: &str, client: &Client, lease: &str| Party {
            name: name.to_string(),
            endpoint: client.endpoint.clone(),
            instance: client.status.instance.clone(),
            lease: lease.to_string(),
        };
        let migration = Migration {
            token: token.map(str::to_string),
            record: Record {
                source: party(source, &src, &src_lease),
                target: party(target, &dst, &dst_lease),
                source_was_running: was_running,
                step: Step::Sending,
            },
            journal,
            commits: ledger.commits(),
            src,
            dst,
        };
        Ok(Some(migration))
    }
}

/// Polls the source's status on a connection of its own while it sends,
/// telling `watch` its progress fields.
struct Watcher {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Watcher {
    fn start(endpoint: &str, token: Option<&str>, watch: Watch) -> Watcher {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (endpoint, token, halt) = (endpoint.to_string(), token.map(str::to_string), stop.clone());
        let thread = std::thread::spawn(move || {
            let timeout = Duration::from_secs(2);
            let Ok(mut client) = Client::connect_within(&endpoint, token.as_deref(), timeout, timeout) else { return };
            while !halt.load(std::sync::atomic::Ordering::Acquire) {
                if let Ok(status) = client.fresh_status() {
                    if status.mode == "migrating" {
                        watch(&status.position);
                    }
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        Watcher { stop, thread: Some(thread) }
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Release);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The `key=value` field of a `send` report, as a number.
fn figure(report: &str, key: &str) -> u64 {
    crate::protocol::field(report, key).and_then(|v| v.parse().ok()).unwrap_or(0)
}

impl Migration {
    fn run(
        mut self,
        options: &MigrateOptions,
        watch: Option<Watch>,
        started: std::time::Instant,
    ) -> Result<Moved, HvError> {
        let dst_lease = self.record.target.lease.clone();
        if let Err(e) = self.advance(Step::Sending) {
            return Err(self.undo_send(e));
        }
        let ticket = match self.dst.request(&Command::Accept(dst_lease.to_string())) {
            Ok(Response::Accepting { ticket }) => ticket,
            Ok(other) => {
                let e = refused(&self.record.target.name, format!("unexpected answer to accept: {other}"));
                return Err(self.undo_send(e));
            }
            Err(e) => return Err(self.undo_send(e)),
        };
        let order = SendOrder {
            ticket,
            endpoint: self.record.target.endpoint.clone(),
            max_downtime_ms: options.max_downtime.as_millis().min(u128::from(u64::MAX)) as u64,
            max_rounds: options.max_rounds,
            throttle: options.throttle,
            compress: options.compress,
            postcopy: options.postcopy,
            lease: Some(self.record.source.lease.clone()).filter(|l| !l.is_empty()),
        };
        let token = self.token.clone();
        let watch_pages = watch.clone();
        let watcher = watch.map(|w| Watcher::start(&self.record.source.endpoint, token.as_deref(), w));
        // The source answers when the target holds the state: however long its rounds take.
        self.src.set_reply_timeout(None);
        let sent = self.src.request(&Command::Send(order));
        drop(watcher);
        self.src.set_reply_timeout(Some(crate::client::REPLY_TIMEOUT));
        let replied = std::time::Instant::now();
        let (src_lease, report) = match sent {
            Ok(Response::Sent { lease, report }) => (lease, report),
            Ok(other) => {
                let e = refused(&self.record.source.name, format!("unexpected answer to send: {other}"));
                return Err(self.undo_send(e));
            }
            Err(e) => return Err(self.undo_send(e)),
        };
        self.record.source.lease = src_lease.clone();
        if let Err(e) = self.advance(Step::Taken) {
            return Err(self.undo(false, e));
        }
        let target_instance = self.record.target.instance.clone();
        let prepared = self.src.call(&Command::Handoff(src_lease.to_string(), target_instance.to_string()));
        if let Err(e) = prepared {
            return Err(self.undo(false, e));
        }
        // Kept while `moving`, beside the record: `hv resume`/`hv kill` of this user can decide too.
        let _ = self.src.keep_lease(&src_lease);
        let (source, target) = (self.record.source.name.clone(), self.record.target.name.clone());
        self.record.step = if self.commits { Step::Committed } else { Step::Resuming };
        match self.journal.commit(&self.record) {
            Ok(()) => {}
            Err(Uncommitted::Not(e)) => return Err(self.undo(true, e)),
            Err(Uncommitted::Unknown(e)) => {
                self.journal.keep();
                return Err(refused(
                    &source,
                    format!(
                        "migration outcome unknown: the ledger did not confirm the commit ({}); the source keeps the \
                         program but will not run it (status `moving`); `hv recover` settles it from the record once \
                         the ledger answers",
                        reason(e)
                    ),
                ));
            }
        }
        let mut resumed_at = std::time::Instant::now();
        let confirmed = match self.dst.call(&Command::Resume(dst_lease.to_string())) {
            Ok(_) => {
                resumed_at = std::time::Instant::now();
                Ok(())
            }
            // Committed already: the record decides, and the program is the target's.
            Err(e) if self.commits => {
                let settled = settle(&self.record, token.as_deref());
                if !settled.decided {
                    self.journal.keep();
                }
                return Err(refused(
                    &source,
                    format!(
                        "the migration committed, but {target} did not confirm its resume ({}): {}",
                        reason(e),
                        settled.line
                    ),
                ));
            }
            // The target answered: it did not run the program.
            Err(e) if e.is_answer() => Err(e),
            Err(e) => match fate_of(&self.record.target, token.as_deref()) {
                Ok(Fate::Ran) => Ok(()),
                // Still held (the `resume` never reached it; `undo` drops it) or dropped.
                Ok(_) => Err(e),
                Err(why) => {
                    self.journal.keep();
                    return Err(refused(
                        &source,
                        format!(
                            "migration outcome unknown: {target} did not confirm ({e}) and cannot be asked ({why}); \
                             the source keeps the program but will not run it (status `moving`). `hv recover` \
                             settles it once {target} answers; if {target} is gone for good: `hv resume {source}` \
                             if it never ran the program, else `hv kill {source}`"
                        ),
                    ));
                }
            },
        };
        if let Err(e) = confirmed {
            return Err(self.undo(true, e));
        }
        self.dst.forget_lease();
        let said = match self.src.call(&Command::Commit(src_lease.to_string())) {
            Ok(_) => format!("migrated {source} -> {target}"),
            Err(e) => format!(
                "migrated {source} -> {target} (the source did not confirm its exit: {e}; it is `moving` and will \
                 never run the program again)"
            ),
        };
        self.src.forget_lease();
        let owed = figure(&report, "owed-pages");
        let (postcopy, postcopy_bytes) = match figure(&report, "postcopy") == 1 && owed > 0 {
            true => {
                let (arrived, bytes) = self.await_pages(&said, watch_pages)?;
                (Some((owed, arrived.saturating_duration_since(resumed_at))), bytes)
            }
            false => (None, 0),
        };
        let stopped = Duration::from_micros(figure(&report, "stopped-us"));
        Ok(Moved {
            said,
            rounds: crate::protocol::field(&report, "round-bytes")
                .map(|r| r.split(',').filter_map(|n| n.parse().ok()).collect())
                .unwrap_or_default(),
            bytes: figure(&report, "bytes") + postcopy_bytes,
            last: figure(&report, "last"),
            compressed: (figure(&report, "lz4-in"), figure(&report, "lz4-out")),
            downtime: stopped + resumed_at.saturating_duration_since(replied),
            total: started.elapsed(),
            postcopy,
        })
    }

    /// After a post-copy's commit: waits until the target has every page
    /// (its status says `postcopy=complete`), showing `pages-owed=N` to
    /// `watch`; when, and the bytes they came to (or why the program was lost).
    fn await_pages(&mut self, said: &str, watch: Option<Watch>) -> Result<(std::time::Instant, u64), HvError> {
        let target = self.record.target.name.clone();
        let lost = |why: String| refused(&target, format!("{said}, but the program was lost: {why}"));
        let (mut left, mut moved) = (String::new(), std::time::Instant::now());
        loop {
            let status = match self.dst.fresh_status() {
                Ok(status) => status,
                Err(e) => return Err(lost(format!("the target stopped answering before its pages arrived ({e})"))),
            };
            let position = status.position;
            match crate::protocol::field(&position, "postcopy") {
                Some("complete") => return Ok((std::time::Instant::now(), figure(&position, "postcopy-bytes"))),
                Some("lost") => return Err(lost("its pages stopped coming (the target says `postcopy=lost`)".into())),
                _ => {}
            }
            let owed = crate::protocol::field(&position, "pages-owed").unwrap_or_default().to_string();
            if owed != left {
                (left, moved) = (owed, std::time::Instant::now());
                if let Some(watch) = &watch {
                    watch(&format!("pages-owed={left}"));
                }
            } else if moved.elapsed() > 3 * crate::client::REPLY_TIMEOUT {
                // The target gives the stream up itself after its stall timeout: this one is stuck.
                return Err(lost(format!("no page arrived for {} s", moved.elapsed().as_secs())));
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// Undoes a migration whose `send` did not end with the target holding
    /// the state: the target drops whatever it received; the source gave its
    /// program back by itself (it runs on, or stays interrupted and held).
    fn undo_send(mut self, error: HvError) -> HvError {
        release(&mut self.dst, &self.record.target.lease);
        // A source that no longer answers as itself has ended (its program ended, or it was killed).
        let gone = self.src.fresh_status().is_err() && reach(&self.record.source, self.token.as_deref()).is_err();
        let status = match self.record.source_was_running {
            _ if gone => "the source has ended",
            true => "the source runs on",
            false => {
                let lease = self.record.source.lease.clone();
                let _ = self.src.keep_lease(&lease);
                "the source stays interrupted, as it was"
            }
        };
        refused(&format!("migration failed ({status})"), reason(error))
    }

    /// Records that the migration reached `step`, before taking it.
    fn advance(&mut self, step: Step) -> Result<(), HvError> {
        self.record.step = step;
        self.journal.write(&self.record)
    }

    /// Undoes a migration that did not reach its commit point: the target
    /// drops the state, the source gets the program back.
    fn undo(mut self, handed_off: bool, error: HvError) -> HvError {
        release(&mut self.dst, &self.record.target.lease);
        let src_lease = self.record.source.lease.clone();
        let aborted = match handed_off {
            true => self.src.call(&Command::Abort(src_lease.to_string())).map(|_| ()),
            false => Ok(()),
        };
        let status = match aborted {
            Err(e) => {
                // The source may still be `moving`: the record stays, for `hv recover`.
                self.journal.keep();
                return refused(
                    &format!(
                        "migration failed (and taking the program back to the source failed too: {e}; `hv recover` \
                         settles it)"
                    ),
                    reason(error),
                );
            }
            Ok(()) if self.record.source_was_running => match self.src.call(&Command::Resume(src_lease.to_string())) {
                Ok(_) => {
                    self.src.forget_lease();
                    "the source was resumed".to_string()
                }
                Err(e) => format!("and resuming the source failed too: {e}"),
            },
            Ok(()) => {
                // It stays this user's, as `hv interrupt` leaves a VM: `hv resume` continues it.
                let _ = self.src.keep_lease(&src_lease);
                "the source stays interrupted, as it was".to_string()
            }
        };
        refused(&format!("migration failed ({status})"), reason(error))
    }
}

/// Gives up `lease` on `client`'s VM (a provisional state there is dropped), best effort:
/// a VM that does not answer within 5 s keeps it until it lapses.
fn release(client: &mut Client, lease: &str) {
    client.set_reply_timeout(Some(Duration::from_secs(5)));
    let _ = client.call(&Command::Release(lease.to_string()));
    client.forget_lease();
}

fn reason(error: HvError) -> String {
    match error {
        HvError::Protocol { target, source } => format!("{target}: {source}"),
        other => other.to_string(),
    }
}

fn not_waiting(mode: &str) -> String {
    match mode {
        "running" => "the target is running; start it with --wait".into(),
        mode => format!("the target is {mode}: it holds a program of its own; migrate moves only into a waiting VM (start it with --wait)"),
    }
}

/// Connects to `party` on a new connection, checking it is the same instance.
fn reach(party: &Party, token: Option<&str>) -> Result<Client, String> {
    let client = Client::connect_within(&party.endpoint, token, Duration::from_secs(5), Duration::from_secs(30))
        .map_err(|e| e.to_string())?;
    if client.status.instance != party.instance {
        return Err(format!(
            "another VM (instance {}) answers at {}; instance {} is gone",
            client.status.instance, party.endpoint, party.instance
        ));
    }
    Ok(client)
}

/// What became of the state restored in `target` under its lease, asked on
/// a new connection; `Err` when that cannot be known.
fn fate_of(target: &Party, token: Option<&str>) -> Result<Fate, String> {
    let mut client = reach(target, token)?;
    match client.request(&Command::Outcome(target.lease.to_string())).map_err(|e| e.to_string())? {
        Response::Outcome(fate) => Ok(fate),
        other => Err(format!("unexpected answer to outcome: {other}")),
    }
}

/// What [`recover`] did about one migration or VM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settled {
    /// One line for the user: `committed …`, `aborted …`, `in progress …`, `undecided …`.
    pub line: String,
    /// False when it is left for a later `hv recover` or a person.
    pub decided: bool,
}

/// Settles every migration a crashed controller of this user left behind
/// (the records in the runtime directory that no process holds): commits
/// the ones whose target ran the program, aborts the rest. Also names the
/// registered VMs left `moving` with no record. The runtime directory's
/// own failure is the only error.
pub fn recover(token: Option<&str>) -> Result<Vec<Settled>, HvError> {
    recover_in(&[&RuntimeDir], token)
}

/// Settles every migration in `ledgers` whose controller is gone —
/// completes the committed ones, aborts the rest — a line each; then names
/// this host's registered VMs left `moving` that no ledger has a record of.
pub fn recover_in(ledgers: &[&dyn Ledger], token: Option<&str>) -> Result<Vec<Settled>, HvError> {
    let mut settled = Vec::new();
    let mut recorded = Vec::new();
    for ledger in ledgers {
        let (lines, instances) = settle_unfinished(*ledger, token)?;
        settled.extend(lines);
        recorded.extend(instances);
    }
    for entry in registry::list()? {
        if recorded.contains(&entry.instance) {
            continue;
        }
        let timeout = Duration::from_secs(1);
        let Ok(client) = Client::connect_within(&entry.pid.to_string(), token, timeout, timeout) else { continue };
        if client.status.mode == "moving" {
            let to = client.status.moving_to.clone().unwrap_or_default();
            let pid = entry.pid;
            settled.push(Settled {
                line: format!(
                    "undecided: {pid} is moving to instance {to} and no record of that migration is here; \
                     `hv resume {pid}` if that VM never ran the program, else `hv kill {pid}`"
                ),
                decided: false,
            });
        }
    }
    Ok(settled)
}

/// Settles every migration in `ledger` whose controller is gone, a line
/// each, and the instance ids of the VMs the records named.
fn settle_unfinished(ledger: &dyn Ledger, token: Option<&str>) -> Result<(Vec<Settled>, Vec<String>), HvError> {
    let mut settled = Vec::new();
    let mut recorded = Vec::new();
    for found in ledger.unfinished()? {
        recorded.push(found.instance.clone());
        match found.what {
            Unfinished::Left(line) => settled.push(line),
            Unfinished::Taken(_, None) => settled.push(Settled {
                line: format!(
                    "removed: an empty record of instance {} (its hv stopped before it took a lease)",
                    found.instance
                ),
                decided: true,
            }),
            Unfinished::Taken(journal, Some(record)) => {
                let outcome = settle(&record, token);
                if !outcome.decided {
                    journal.keep();
                }
                settled.push(outcome);
            }
        }
    }
    Ok((settled, recorded))
}

/// Settles one recorded migration.
fn settle(record: &Record, token: Option<&str>) -> Settled {
    let (source, target) = (&record.source.name, &record.target.name);
    let arrow = format!("{source} -> {target}");
    let decided = |line: String| Settled { line, decided: true };
    let undecided = |line: String| Settled { line, decided: false };
    let committed = match fate_of(&record.target, token) {
        Ok(Fate::Ran) => true,
        // Committed by the ledger: the program is the target's, which has not run it yet.
        Ok(Fate::Held) if record.step == Step::Committed => {
            let resumed = reach(&record.target, token)
                .and_then(|mut c| c.call(&Command::Resume(record.target.lease.to_string())).map_err(|e| e.to_string()));
            if let Err(why) = resumed {
                return undecided(format!(
                    "committed, not finished: {arrow}: the target holds the state but did not resume it ({why}); \
                     `hv recover` again finishes it"
                ));
            }
            true
        }
        Ok(Fate::Held) => {
            // Provisional and still held by the record's lease: drop it, so it can never run.
            let dropped = reach(&record.target, token).and_then(|mut c| {
                c.call(&Command::Release(record.target.lease.to_string())).map_err(|e| e.to_string())
            });
            if let Err(why) = dropped {
                return undecided(format!(
                    "undecided: {arrow}: the target holds the state but did not drop it ({why})"
                ));
            }
            false
        }
        Ok(Fate::Dropped) => false,
        // The target may have run it (it was being resumed), or must (committed): only it can tell.
        Err(why) if matches!(record.step, Step::Committed | Step::Resuming) => {
            if let Some(mode) = reach(&record.source, token).ok().map(|c| c.status.mode).filter(|m| m != "moving") {
                // Someone decided with `hv resume` or `hv release` since: nothing is left to settle.
                return decided(format!("settled by hand: {arrow}: the source is {mode}"));
            }
            return undecided(match record.step {
                Step::Committed => format!(
                    "committed, not finished: {arrow}: the target cannot be asked ({why}); the source keeps the \
                     program without running it; `hv recover` again finishes it once the target answers"
                ),
                _ => format!(
                    "undecided: {arrow}: the target was being resumed and cannot be asked ({why}); `hv recover` \
                     again once it answers; if it is gone for good: `hv resume {source}` if it never ran the \
                     program, else `hv kill {source}`"
                ),
            });
        }
        // Never resumed: a restored state runs only by its holder's `resume`, so it cannot run there.
        Err(_) => false,
    };
    let lease = &record.source.lease;
    let mut src = match reach(&record.source, token) {
        Ok(src) => src,
        Err(why) if committed => return decided(format!("committed: {arrow} (the target runs it; the source: {why})")),
        Err(why) => {
            return undecided(format!(
                "undecided: {arrow}: the target does not have the program, and the source cannot be reached ({why}); \
                 `hv recover` again once it answers"
            ))
        }
    };
    if committed {
        return match src.call(&Command::Commit(lease.to_string())) {
            Ok(_) => {
                src.forget_lease();
                decided(format!("committed: {arrow} (the target runs it; the source exited)"))
            }
            Err(e) => decided(format!("committed: {arrow} (the target runs it; the source said: {e})")),
        };
    }
    if record.step == Step::Sending && lease.is_empty() {
        // The target's lease (it accepted a stream) is given up: nothing it received may stay.
        if let Ok(mut dst) = reach(&record.target, token) {
            let _ = dst.call(&Command::Release(record.target.lease.to_string()));
        }
        // A running source sends without a lease and takes its program back by itself when its
        // controller's connection closes: give it a moment to notice.
        let mut mode = src.status.mode.clone();
        for _ in 0..30 {
            if mode != "migrating" && mode != "interrupted" {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
            mode = src.fresh_status().map(|s| s.mode).unwrap_or_default();
        }
        return match mode.as_str() {
            "running" => {
                decided(format!("aborted: {arrow} (the target never ran it; the source keeps the program and runs on)"))
            }
            mode => undecided(format!("undecided: {arrow}: the target never ran it, and the source is {mode}")),
        };
    }
    let aborted = match src.status.mode.as_str() {
        "moving" => src.call(&Command::Abort(lease.to_string())).map(|_| ()),
        "interrupted" => Ok(()),
        "running" => {
            return decided(format!(
                "aborted: {arrow} (the target never ran it; the source runs the program: it took it back, or someone \
                 resumed it)"
            ))
        }
        mode => return decided(format!("aborted: {arrow} (the source is {mode})")),
    };
    let given_back = aborted.and_then(|()| match record.source_was_running {
        true => src.call(&Command::Resume(lease.to_string())).map(|_| {
            src.forget_lease();
            "and runs on".to_string()
        }),
        false => {
            let _ = src.keep_lease(lease);
            Ok(format!("interrupted, as it was (`hv resume {source}` continues it)"))
        }
    });
    match given_back {
        Ok(how) => decided(format!("aborted: {arrow} (the target never ran it; the source keeps the program {how})")),
        Err(HvError::Protocol { source: ProtocolError::Refused(why), .. }) => {
            decided(format!("aborted: {arrow} (the target never ran it; the source refused to take it back: {why})"))
        }
        Err(e) => undecided(format!("undecided: {arrow}: the source did not take the program back ({e})")),
    }
}
