//! The runtime directory: where each VM process registers itself, so that
//! `hv` finds a VM by its PID, and where `hv` keeps the leases it holds.
//!
//! The directory is `$MOVA_RUNTIME_DIR`, else `$XDG_RUNTIME_DIR/mova`, else
//! `mova-UID` in the system temp dir. Nothing in it is trusted: it is created
//! mode 0700 and used only if it is a real directory owned by this user and
//! writable by nobody else (the rules ssh and the XDG runtime-dir spec apply);
//! entries are opened without following symlinks, as regular files of at most
//! [`MAX_ENTRY`] bytes, and `hv` checks the VM it reaches against the entry.

use serde::{Deserialize, Serialize};
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The largest registry entry or lease file read.
pub const MAX_ENTRY: u64 = 4096;

/// One registered VM process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// OS process id.
    pub pid: u32,
    /// Random per start; `status` reports it, and `hv` checks that they match.
    pub instance: String,
    /// Which machine: `mova` or `manda`.
    pub machine: String,
    /// The program's path as given on the command line.
    pub program: String,
    /// SHA-256 of the program, hex.
    pub program_hash: String,
    /// Control listener address, `HOST:PORT`.
    pub endpoint: String,
    /// Start time, seconds since the Unix epoch.
    pub started: u64,
}

/// Why the runtime directory or an entry cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The directory could not be created or read.
    #[error("runtime directory {dir}: {source}")]
    Io {
        /// The directory.
        dir: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The directory exists but is not safe to use.
    #[error(
        "runtime directory {dir} is not safe to use: {why} (remove it, or set MOVA_RUNTIME_DIR to a private directory)"
    )]
    Unsafe {
        /// The directory.
        dir: PathBuf,
        /// What is wrong with it.
        why: String,
    },
}

/// The runtime directory's path (not created, not checked).
pub fn runtime_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("MOVA_RUNTIME_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    if let Some(dir) = std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir).join("mova");
    }
    std::env::temp_dir().join(format!("mova-{}", euid()))
}

/// This process's effective user id.
pub fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// The runtime directory, created (mode 0700) if missing, and checked.
pub fn open_dir() -> Result<PathBuf, RegistryError> {
    let dir = runtime_dir();
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        if !parent.exists() {
            std::fs::create_dir_all(parent).map_err(|source| RegistryError::Io { dir: dir.clone(), source })?;
        }
    }
    match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(source) => return Err(RegistryError::Io { dir, source }),
    }
    check_dir(&dir)?;
    Ok(dir)
}

/// The checks of [`open_dir`] on an existing directory.
pub fn check_dir(dir: &Path) -> Result<(), RegistryError> {
    let unsafe_because = |why: String| RegistryError::Unsafe { dir: dir.to_path_buf(), why };
    let meta = std::fs::symlink_metadata(dir).map_err(|source| RegistryError::Io { dir: dir.into(), source })?;
    if meta.file_type().is_symlink() {
        return Err(unsafe_because("it is a symbolic link".into()));
    }
    if !meta.is_dir() {
        return Err(unsafe_because("it is not a directory".into()));
    }
    if meta.uid() != euid() {
        return Err(unsafe_because(format!("it is owned by uid {}, not by you (uid {})", meta.uid(), euid())));
    }
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o022 != 0 {
        return Err(unsafe_because(format!("it is writable by others (mode {mode:04o})")));
    }
    Ok(())
}

/// A registration that removes itself when dropped.
#[derive(Debug)]
pub struct Registration {
    path: PathBuf,
}

impl Registration {
    /// The entry's file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Writes `bytes` to `dir/name` atomically and privately (see [`write_file_atomically`]).
fn write_private(dir: &Path, name: &str, bytes: &[u8]) -> std::io::Result<PathBuf> {
    let path = dir.join(name);
    // Not synced: the runtime directory means nothing after a crash or a reboot.
    write_file_atomically(&path, bytes, false)?;
    Ok(path)
}

/// Writes `bytes` to `path` so that a reader sees the old file or the whole
/// new one, never a part, even after a crash: a fresh temp file beside it
/// (a random name, created new and not through a symlink, so a file planted
/// in a shared directory is never followed or overwritten), readable by
/// this user only, renamed over `path`. With `sync`, the file is synced
/// before the rename and the directory after it, so that the new file
/// survives a crash of the machine too.
pub fn write_file_atomically(path: &Path, bytes: &[u8], sync: bool) -> std::io::Result<()> {
    write_file_atomically_with(path, sync, |file| file.write_all(bytes))
}

/// [`write_file_atomically`], the contents written by `write` into the
/// temp file (so a large file is written as it comes, not held first).
pub fn write_file_atomically_with(
    path: &Path,
    sync: bool,
    write: impl FnOnce(&mut std::fs::File) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let tmp = dir.join(format!(".{name}.{}.tmp", crate::random_hex(8)));
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(&tmp)?;
    let written = write(&mut file).and_then(|()| if sync { file.sync_all() } else { Ok(()) });
    drop(file);
    written.and_then(|()| std::fs::rename(&tmp, path)).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })?;
    match sync {
        true => std::fs::File::open(dir)?.sync_all(),
        false => Ok(()),
    }
}

/// Reads a file of the runtime directory as untrusted: no symlink, no FIFO
/// or device (opened non-blocking, then checked), owned by this user, at
/// most [`MAX_ENTRY`] bytes.
fn read_private(path: &Path) -> Option<Vec<u8>> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
        .ok()?;
    let meta = file.metadata().ok()?;
    if !meta.is_file() || meta.uid() != euid() || meta.len() > MAX_ENTRY {
        return None;
    }
    let mut bytes = Vec::new();
    file.take(MAX_ENTRY + 1).read_to_end(&mut bytes).ok()?;
    (bytes.len() as u64 <= MAX_ENTRY).then_some(bytes)
}

/// Registers `entry` in the runtime directory.
pub fn register(entry: &Entry) -> Result<Registration, RegistryError> {
    let dir = open_dir()?;
    let json =
        serde_json::to_vec_pretty(entry).map_err(|e| RegistryError::Io { dir: dir.clone(), source: e.into() })?;
    let path = write_private(&dir, &format!("{}.json", entry.pid), &json)
        .map_err(|source| RegistryError::Io { dir: dir.clone(), source })?;
    Ok(Registration { path })
}

/// Reads one registry file; `None` if it is missing, unsafe or not an entry.
pub fn read_entry(path: &Path) -> Option<Entry> {
    serde_json::from_slice(&read_private(path)?).ok()
}

/// Seconds since the Unix epoch: the unit of [`Entry::started`].
pub fn now_secs() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// The entry at `path` once a process started at or after `not_before`
/// ([`now_secs`] taken before spawning it) has written it, waiting up to
/// `timeout`. PIDs are reused — within minutes where `pid_max` is 32768 —
/// so an entry left there by a killed process of the same PID is not it.
pub fn wait_for_entry(path: &Path, not_before: u64, timeout: std::time::Duration) -> Option<Entry> {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        if let Some(entry) = read_entry(path).filter(|e| e.started >= not_before) {
            return Some(entry);
        }
        if std::time::Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
}

/// True if a process with this PID exists.
pub fn process_alive(pid: u32) -> bool {
    Path::new("/proc").join(pid.to_string()).exists()
}

/// The registered VMs whose process is alive, by PID. Entries of dead
/// processes are removed; files that are not entries are left alone.
pub fn list() -> Result<Vec<Entry>, RegistryError> {
    let dir = runtime_dir();
    if !dir.exists() {
        return Ok(Vec::new());
    }
    check_dir(&dir)?;
    let listing = std::fs::read_dir(&dir).map_err(|source| RegistryError::Io { dir: dir.clone(), source })?;
    let mut entries = Vec::new();
    for file in listing.filter_map(Result::ok) {
        let name = file.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.strip_suffix(".json")).and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        let Some(entry) = read_entry(&file.path()).filter(|e| e.pid == pid) else { continue };
        if process_alive(pid) {
            entries.push(entry);
        } else {
            let _ = std::fs::remove_file(file.path());
        }
    }
    entries.sort_by_key(|e| e.pid);
    Ok(entries)
}

/// The entry of a live VM with this PID.
pub fn find(pid: u32) -> Result<Option<Entry>, RegistryError> {
    let dir = runtime_dir();
    if !dir.exists() {
        return Ok(None);
    }
    check_dir(&dir)?;
    Ok(read_entry(&dir.join(format!("{pid}.json"))).filter(|e| e.pid == pid && process_alive(pid)))
}

/// True if `id` can name a VM instance (or a lease) in a file name of the
/// runtime directory: 1 to 64 hex digits, so never a path.
pub fn is_hex_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The leases `hv` holds, one file per VM instance, so that a lease taken by
/// one `hv` process (`hv interrupt`) serves the next (`hv sstate`, `hv resume`).
pub mod leases {
    use super::*;

    fn name(instance: &str) -> Option<String> {
        is_hex_id(instance).then(|| format!("lease-{instance}"))
    }

    /// The lease held on VM `instance`, if this user's `hv` keeps one.
    pub fn load(instance: &str) -> Option<String> {
        let dir = runtime_dir();
        check_dir(&dir).ok()?;
        let bytes = read_private(&dir.join(name(instance)?))?;
        let lease = String::from_utf8(bytes).ok()?.trim().to_string();
        (!lease.is_empty() && lease.bytes().all(|b| b.is_ascii_hexdigit())).then_some(lease)
    }

    /// Keeps `lease` for VM `instance`.
    pub fn store(instance: &str, lease: &str) -> Result<(), RegistryError> {
        let Some(name) = name(instance) else { return Ok(()) };
        let dir = open_dir()?;
        write_private(&dir, &name, lease.as_bytes()).map_err(|source| RegistryError::Io { dir, source })?;
        Ok(())
    }

    /// Forgets the lease of VM `instance`.
    pub fn forget(instance: &str) {
        if let Some(name) = name(instance) {
            let _ = std::fs::remove_file(runtime_dir().join(name));
        }
    }
}
