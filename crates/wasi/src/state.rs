//! A program's WASI state as bytes, and back under the target's grants.
//! The layout is specified in `docs/manda/snapshot.md` (the WASI section).

use crate::calls::stat_std;
use crate::fds::{open_preopen, Fd, Handle, Origin, Wasi, MAX_FDS};
use cap_fs_ext::{FollowSymlinks, OpenOptionsFollowExt};
use cap_std::fs::{Dir, OpenOptions};
use std::collections::{BTreeMap, HashMap};
use std::ffi::OsStr;
use std::io::{Seek, SeekFrom};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

const STDIN: u8 = 0;
const STDOUT: u8 = 1;
const STDERR: u8 = 2;
const PREOPEN: u8 = 3;
const DIR: u8 = 4;
const FILE: u8 = 5;

/// Why a saved WASI state cannot be taken up here, and where (an offset in the WASI section).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct RestoreError {
    /// Offset of the field at fault in the WASI section.
    pub offset: usize,
    /// What is wrong.
    pub reason: String,
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(&(b.len() as u32).to_le_bytes());
    out.extend_from_slice(b);
}

/// Fields of a saved WASI state, each checked against what is left.
type Reader<'a> = vm_core::untrusted::ByteReader<'a, RestoreError>;

impl From<vm_core::untrusted::Malformed> for RestoreError {
    fn from(m: vm_core::untrusted::Malformed) -> Self {
        RestoreError { offset: m.offset, reason: m.reason }
    }
}

/// A UTF-8 text field: a u32 length, then its bytes.
fn text(r: &mut Reader, what: &str) -> Result<String, RestoreError> {
    let at = r.at;
    match std::str::from_utf8(r.bytes(what)?) {
        Ok(s) => Ok(s.to_string()),
        Err(_) => r.fail(at, format!("{what} is not UTF-8")),
    }
}

/// What a restore checks a file against: it must be the same file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Identity {
    size: u64,
    mtime: u64,
}

impl Wasi {
    /// The state as bytes: arguments, environment and every descriptor
    /// (for a file: where it was opened, its offset and its identity —
    /// size and modification time).
    pub fn save(&self) -> std::io::Result<Vec<u8>> {
        let mut out = Vec::new();
        for list in [&self.args, &self.env] {
            out.extend_from_slice(&(list.len() as u32).to_le_bytes());
            for s in list {
                put_bytes(&mut out, s);
            }
        }
        out.extend_from_slice(&(self.fds.len() as u32).to_le_bytes());
        for (&n, fd) in &self.fds {
            out.extend_from_slice(&n.to_le_bytes());
            let kind = match (&fd.handle, &fd.origin) {
                (Handle::Stdin, _) => STDIN,
                (Handle::Stdout, _) => STDOUT,
                (Handle::Stderr, _) => STDERR,
                (Handle::Dir(_), Origin::Preopen(_)) => PREOPEN,
                (Handle::Dir(_), _) => DIR,
                (Handle::File(_), _) => FILE,
            };
            out.push(kind);
            out.extend_from_slice(&fd.rights.to_le_bytes());
            out.extend_from_slice(&fd.inheriting.to_le_bytes());
            out.extend_from_slice(&fd.flags.to_le_bytes());
            match &fd.origin {
                Origin::Stdio => {}
                Origin::Preopen(guest) => put_bytes(&mut out, guest.as_bytes()),
                Origin::Path { preopen, path } => {
                    put_bytes(&mut out, preopen.as_bytes());
                    put_bytes(&mut out, path.as_os_str().as_bytes());
                }
            }
            if let Handle::File(f) = &fd.handle {
                out.push(u8::from(fd.read) | u8::from(fd.write) << 1);
                out.extend_from_slice(&(&*f).stream_position()?.to_le_bytes());
                let stat = stat_std(&f.metadata()?);
                out.extend_from_slice(&stat.size.to_le_bytes());
                out.extend_from_slice(&stat.mtim.to_le_bytes());
            }
        }
        Ok(out)
    }

    /// The state `bytes` describes, taken up under this state's grants:
    /// each saved preopen must be granted here by the same guest name, and
    /// each file re-opens under it as the same file (same size and
    /// modification time) at its offset. Nothing of `self` changes.
    pub fn restore(&self, bytes: &[u8]) -> Result<Wasi, RestoreError> {
        let r = &mut Reader::new(bytes, 0);
        let mut lists = [Vec::new(), Vec::new()];
        for (list, what) in lists.iter_mut().zip(["arguments", "environment variables"]) {
            let n = r.count(what, 4, u64::MAX)?;
            for _ in 0..n {
                list.push(r.bytes(what)?.to_vec());
            }
        }
        let [args, env] = lists;
        let n = r.count("descriptors", 23, MAX_FDS as u64)?;
        let mut fds = BTreeMap::new();
        // Each granted directory is opened once, however many descriptors are under it.
        let mut roots = HashMap::new();
        for _ in 0..n {
            let at = r.at;
            let number = r.u32("descriptor number")?;
            let kind = r.u8("descriptor kind")?;
            let rights = r.u64("rights")?;
            let inheriting = r.u64("inheriting rights")?;
            let flags_at = r.at;
            let flags = r.u16("flags")?;
            if flags & !crate::abi::fdflags::ALL != 0 {
                return r.fail(flags_at, format!("descriptor {number}: flags {flags:#x}"));
            }
            // The handle, where it came from, and whether it reads and writes.
            let (handle, origin, read, write) = match kind {
                STDIN => (Handle::Stdin, Origin::Stdio, true, false),
                STDOUT => (Handle::Stdout, Origin::Stdio, false, true),
                STDERR => (Handle::Stderr, Origin::Stdio, false, true),
                PREOPEN => {
                    let guest = text(r, "preopen name")?;
                    let (_, root) = self.root(&mut roots, r, at, number, &guest)?;
                    let dir = root.try_clone().or_else(|e| r.fail(at, format!("descriptor {number}: {e}")))?;
                    (Handle::Dir(dir), Origin::Preopen(guest), true, false)
                }
                DIR | FILE => {
                    let guest = text(r, "preopen name")?;
                    let path = PathBuf::from(OsStr::from_bytes(r.bytes("path")?));
                    let (preopen, root) = self.root(&mut roots, r, at, number, &guest)?;
                    let shown = format!("descriptor {number} (`{}` under `{guest}`)", path.display());
                    let missing = |e: std::io::Error| RestoreError {
                        offset: at,
                        reason: format!(
                            "{shown}: cannot be re-opened here under --dir {}: {e}",
                            preopen.host.display()
                        ),
                    };
                    let (handle, read, write) = if kind == DIR {
                        (Handle::Dir(root.open_dir(&path).map_err(missing)?), true, false)
                    } else {
                        let mode_at = r.at;
                        let mode = r.u8("open mode")?;
                        if mode > 3 {
                            return r.fail(mode_at, format!("descriptor {number}: open mode {mode}"));
                        }
                        let offset = r.u64("offset")?;
                        let saved = Identity { size: r.u64("size")?, mtime: r.u64("modification time")? };
                        let mut options = OpenOptions::new();
                        options.read(mode & 1 != 0 || mode == 0).write(mode & 2 != 0).follow(FollowSymlinks::Yes);
                        let mut file = root.open_with(&path, &options).map_err(missing)?.into_std();
                        let stat = stat_std(&file.metadata().map_err(missing)?);
                        let here = Identity { size: stat.size, mtime: stat.mtim };
                        if here != saved {
                            return r.fail(
                                at,
                                format!(
                                    "{shown}: is not the same file here (size {} and modified at {} ns; saved: size {} and modified at {} ns)",
                                    here.size, here.mtime, saved.size, saved.mtime
                                ),
                            );
                        }
                        file.seek(SeekFrom::Start(offset)).map_err(missing)?;
                        (Handle::File(file), mode & 1 != 0, mode & 2 != 0)
                    };
                    (handle, Origin::Path { preopen: guest, path }, read, write)
                }
                other => return r.fail(at + 4, format!("descriptor {number}: kind {other} (0–5)")),
            };
            if fds.insert(number, Fd { handle, rights, inheriting, flags, origin, read, write }).is_some() {
                return r.fail(at, format!("descriptor {number} appears twice"));
            }
        }
        if r.at != bytes.len() {
            return r.fail(r.at, format!("{} bytes after the last descriptor", bytes.len() - r.at));
        }
        Ok(Wasi { args, env, fds, dirs: self.dirs.clone() })
    }

    /// The granted directory `guest` and its handle, opened the first time
    /// a descriptor under it is restored.
    fn root<'d>(
        &self,
        roots: &'d mut HashMap<String, Dir>,
        r: &Reader,
        at: usize,
        number: u32,
        guest: &str,
    ) -> Result<(&crate::Preopen, &'d Dir), RestoreError> {
        let preopen = self.granted(r, at, number, guest)?;
        if !roots.contains_key(guest) {
            let dir = open_preopen(preopen).or_else(|e| r.fail(at, format!("descriptor {number}: {e}")))?;
            roots.insert(guest.to_string(), dir);
        }
        Ok((preopen, &roots[guest]))
    }

    fn granted(&self, r: &Reader, at: usize, number: u32, guest: &str) -> Result<&crate::Preopen, RestoreError> {
        match self.dirs.iter().find(|d| d.guest == guest) {
            Some(p) => Ok(p),
            None => r.fail(
                at,
                format!("descriptor {number} is under the directory `{guest}`, which is not granted here (--dir HOST::{guest})"),
            ),
        }
    }
}
