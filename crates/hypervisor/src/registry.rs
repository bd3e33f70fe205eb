//! The runtime directory where each VM process registers itself, so that
//! `hv` finds a VM by its PID.
//!
//! The directory is `$MOVA_RUNTIME_DIR`, else `$XDG_RUNTIME_DIR/mova`, else
//! `mova-UID` in the system temp dir. Each VM writes `PID.json`; it removes
//! it on exit, and [`list`] prunes entries whose process is gone.

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// One registered VM process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// OS process id.
    pub pid: u32,
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

/// The runtime directory (not created).
pub fn runtime_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("MOVA_RUNTIME_DIR") {
        return PathBuf::from(dir);
    }
    if let Some(dir) = std::env::var_os("XDG_RUNTIME_DIR") {
        return PathBuf::from(dir).join("mova");
    }
    let uid = std::fs::metadata("/proc/self").map(|m| std::os::unix::fs::MetadataExt::uid(&m)).unwrap_or(0);
    std::env::temp_dir().join(format!("mova-{uid}"))
}

/// True if a process with this PID exists.
pub fn process_alive(pid: u32) -> bool {
    Path::new("/proc").join(pid.to_string()).exists()
}

/// A registration that removes itself when dropped.
#[derive(Debug)]
pub struct Registration {
    path: PathBuf,
}

impl Drop for Registration {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Registers `entry` in the runtime directory (atomically: temp file, rename).
pub fn register(entry: &Entry) -> std::io::Result<Registration> {
    let dir = runtime_dir();
    std::fs::create_dir_all(&dir)?;
    let path = dir.join(format!("{}.json", entry.pid));
    let tmp = dir.join(format!(".{}.json.tmp", entry.pid));
    std::fs::write(&tmp, serde_json::to_vec_pretty(entry).map_err(std::io::Error::other)?)?;
    std::fs::rename(&tmp, &path)?;
    Ok(Registration { path })
}

/// Reads one registry file; `None` if it is missing or not an entry.
pub fn read_entry(path: &Path) -> Option<Entry> {
    serde_json::from_slice(&std::fs::read(path).ok()?).ok()
}

/// The registered VMs whose process is alive, by PID; stale entries are removed.
pub fn list() -> Vec<Entry> {
    let Ok(dir) = std::fs::read_dir(runtime_dir()) else { return Vec::new() };
    let mut entries: Vec<Entry> = dir
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".json"))
        .filter_map(|e| {
            let entry = read_entry(&e.path())?;
            if process_alive(entry.pid) {
                Some(entry)
            } else {
                let _ = std::fs::remove_file(e.path());
                None
            }
        })
        .collect();
    entries.sort_by_key(|e| e.pid);
    entries
}

/// The entry of a live VM with this PID.
pub fn find(pid: u32) -> Option<Entry> {
    list().into_iter().find(|e| e.pid == pid)
}
