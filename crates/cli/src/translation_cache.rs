//! Translated WebAssembly modules kept between runs, so that a module is
//! translated once, not on every start.
//!
//! An entry is the executable a module translates to, named by the SHA-256
//! of the module's bytes, its `--preload` modules (names and bytes, so a hit
//! needs no linking), `--invoke` and its arguments, and of the `manda`
//! binary's identity (its size and modification time: a rebuilt translator
//! never reads an older one's entries). The directory is `$MANDA_CACHE_DIR`
//! (empty: no cache), else `$XDG_CACHE_HOME/manda`, else `~/.cache/manda`.
//!
//! An entry is an executable like any other, decoded and checked as one,
//! but whoever can write it chooses the program that runs: the cache is
//! used only in a directory owned by this user that nobody else may write
//! (created so, mode 0700), entries are written whole (a temporary file
//! renamed) with mode 0600, and one that cannot be decoded is translated
//! again and replaced.

use crate::MAX_INPUT_FILE;
use sha2::{Digest, Sha256};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The cache directory, if caching is on and the directory is safe to use.
pub fn dir() -> Option<PathBuf> {
    let dir = match std::env::var_os("MANDA_CACHE_DIR") {
        Some(d) if d.is_empty() => return None,
        Some(d) => PathBuf::from(d),
        None => match std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
            Some(d) => PathBuf::from(d).join("manda"),
            None => PathBuf::from(std::env::var_os("HOME")?).join(".cache/manda"),
        },
    };
    let _ = std::fs::DirBuilder::new().recursive(true).mode(0o700).create(&dir);
    let meta = std::fs::symlink_metadata(&dir).ok()?;
    let mine = meta.is_dir() && meta.uid() == current_uid() && meta.permissions().mode() & 0o022 == 0;
    mine.then_some(dir)
}

/// This process's user id, read from `/proc` (no libc call needed).
fn current_uid() -> u32 {
    std::fs::metadata("/proc/self").map_or(u32::MAX, |m| m.uid())
}

/// One part of what decides a translation.
#[derive(Debug, Clone, Copy)]
pub enum Part<'a> {
    /// Bytes in hand.
    Bytes(&'a [u8]),
    /// A file's contents, hashed as they are read (a large module is not
    /// read into memory only to find that its translation is cached).
    File(&'a Path),
}

/// The entry's name for a translation of `parts` (the module, then what
/// else decides the executable): the SHA-256 of this binary's identity and
/// of each part, its length first so that no two lists hash alike. `None`
/// if a file is not a regular file that can be read whole (larger than
/// [`MAX_INPUT_FILE`], or changed while it was read): the run reads it and
/// looks up what it read, or says why it cannot.
pub fn key(parts: &[Part]) -> Option<String> {
    let mut hash = Sha256::new();
    if let Some(meta) = std::env::current_exe().ok().and_then(|exe| std::fs::metadata(exe).ok()) {
        hash.update(meta.len().to_le_bytes());
        hash.update(meta.mtime().to_le_bytes());
        hash.update(meta.mtime_nsec().to_le_bytes());
    }
    for part in parts {
        match part {
            Part::Bytes(bytes) => {
                hash.update((bytes.len() as u64).to_le_bytes());
                hash.update(bytes);
            }
            Part::File(path) => {
                // A pipe or device is read once, by the run: not opened here
                // (opening a FIFO would take its writer's one connection).
                if !std::fs::metadata(path).ok()?.is_file() {
                    return None;
                }
                // Opened without waiting, in case it was replaced by a FIFO since.
                let file = std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK).open(path).ok()?;
                let meta = file.metadata().ok()?;
                if !meta.is_file() || meta.len() > MAX_INPUT_FILE {
                    return None;
                }
                let len = meta.len();
                hash.update(len.to_le_bytes());
                let copied = std::io::copy(&mut std::io::Read::take(&file, len + 1), &mut hash).ok()?;
                if copied != len {
                    return None;
                }
            }
        }
    }
    Some(format!("{}.mx", vm_core::hex(&hash.finalize())))
}

/// Stores `exe` under `name`; a failure only means the next run translates again.
pub fn store(dir: &std::path::Path, name: &str, exe: &[u8]) {
    let tmp = dir.join(format!(".{name}.{}", std::process::id()));
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .and_then(|mut f| std::io::Write::write_all(&mut f, exe));
    if written.is_err() || std::fs::rename(&tmp, dir.join(name)).is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
}
