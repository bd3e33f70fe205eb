//! The descriptor table: what each number a program holds refers to.

use crate::abi::{filetype, rights, Errno};
use crate::{GrantError, Grants, Preopen};
use cap_std::fs::Dir;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// The most descriptors a program may hold open at once (`mfile` past it).
pub const MAX_FDS: usize = 4096;

/// What a descriptor refers to.
#[derive(Debug)]
pub(crate) enum Handle {
    Stdin,
    Stdout,
    Stderr,
    Dir(Dir),
    File(std::fs::File),
}

/// Where a descriptor came from: what a restore re-opens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Origin {
    /// Descriptors 0–2.
    Stdio,
    /// A preopened directory, by its guest name.
    Preopen(String),
    /// Opened by a path under a preopened directory (its guest name).
    Path { preopen: String, path: PathBuf },
}

/// One open descriptor.
#[derive(Debug)]
pub(crate) struct Fd {
    pub handle: Handle,
    pub rights: u64,
    pub inheriting: u64,
    pub flags: u16,
    pub origin: Origin,
    /// Opened for reading, for writing (a file).
    pub read: bool,
    pub write: bool,
}

impl Fd {
    pub fn stdio(handle: Handle) -> Fd {
        let (read, write) = (matches!(handle, Handle::Stdin), !matches!(handle, Handle::Stdin));
        Fd { handle, rights: rights::STDIO, inheriting: 0, flags: 0, origin: Origin::Stdio, read, write }
    }

    pub fn preopen(dir: Dir, guest: &str) -> Fd {
        Fd {
            handle: Handle::Dir(dir),
            rights: rights::DIRECTORY,
            inheriting: rights::DIRECTORY | rights::FILE,
            flags: 0,
            origin: Origin::Preopen(guest.to_string()),
            read: true,
            write: false,
        }
    }

    /// `Err(notcapable)` unless the descriptor has every right in `needed`.
    pub fn require(&self, needed: u64) -> Result<(), Errno> {
        match self.rights & needed == needed {
            true => Ok(()),
            false => Err(Errno::NOTCAPABLE),
        }
    }

    pub fn filetype(&self) -> u8 {
        match &self.handle {
            Handle::Stdin | Handle::Stdout | Handle::Stderr => filetype::CHARACTER_DEVICE,
            Handle::Dir(_) => filetype::DIRECTORY,
            Handle::File(f) => f.metadata().map_or(filetype::UNKNOWN, |m| crate::calls::filetype_of(&m.file_type())),
        }
    }

    pub fn dir(&self) -> Result<&Dir, Errno> {
        match &self.handle {
            Handle::Dir(d) => Ok(d),
            _ => Err(Errno::NOTDIR),
        }
    }

    /// The origin of what is opened at `path` under this directory.
    pub fn origin_of(&self, path: &std::path::Path) -> Origin {
        match &self.origin {
            Origin::Preopen(guest) => Origin::Path { preopen: guest.clone(), path: path.to_path_buf() },
            Origin::Path { preopen, path: dir } => Origin::Path { preopen: preopen.clone(), path: dir.join(path) },
            Origin::Stdio => Origin::Stdio,
        }
    }
}

/// A program's WASI state: its descriptors, arguments and environment.
#[derive(Debug)]
pub struct Wasi {
    pub(crate) args: Vec<Vec<u8>>,
    pub(crate) env: Vec<Vec<u8>>,
    pub(crate) fds: BTreeMap<u32, Fd>,
    /// The grants this process was given: a restore maps saved preopens through them.
    pub(crate) dirs: Vec<Preopen>,
}

impl Default for Wasi {
    /// Standard streams only, no arguments, no environment, no directory.
    fn default() -> Wasi {
        let mut fds = BTreeMap::new();
        fds.insert(0, Fd::stdio(Handle::Stdin));
        fds.insert(1, Fd::stdio(Handle::Stdout));
        fds.insert(2, Fd::stdio(Handle::Stderr));
        Wasi { args: Vec::new(), env: Vec::new(), fds, dirs: Vec::new() }
    }
}

impl Wasi {
    /// The state a program starts with: `grants`' directories opened as
    /// descriptors 3, 4, …
    pub fn new(grants: &Grants) -> Result<Wasi, GrantError> {
        let mut wasi = Wasi { args: grants.args.clone(), ..Wasi::default() };
        for var in &grants.env {
            if !var.contains(&b'=') {
                return Err(GrantError::Env(String::from_utf8_lossy(var).into_owned()));
            }
        }
        wasi.env = grants.env.clone();
        for (i, preopen) in grants.dirs.iter().enumerate() {
            let dir = open_preopen(preopen)?;
            wasi.fds.insert(3 + i as u32, Fd::preopen(dir, &preopen.guest));
        }
        wasi.dirs = grants.dirs.clone();
        Ok(wasi)
    }

    /// The lowest free descriptor number, or `mfile`.
    pub(crate) fn insert(&mut self, fd: Fd) -> Result<u32, Errno> {
        if self.fds.len() >= MAX_FDS {
            return Err(Errno::MFILE);
        }
        let mut n = 0;
        for &used in self.fds.keys() {
            if used != n {
                break;
            }
            n += 1;
        }
        self.fds.insert(n, fd);
        Ok(n)
    }

    pub(crate) fn get(&self, fd: u32) -> Result<&Fd, Errno> {
        self.fds.get(&fd).ok_or(Errno::BADF)
    }

    pub(crate) fn get_mut(&mut self, fd: u32) -> Result<&mut Fd, Errno> {
        self.fds.get_mut(&fd).ok_or(Errno::BADF)
    }

    /// How many descriptors are open (standard streams included).
    pub fn open_descriptors(&self) -> usize {
        self.fds.len()
    }
}

/// Opens a granted directory with the host's authority: the one place it is used.
pub(crate) fn open_preopen(preopen: &Preopen) -> Result<Dir, GrantError> {
    Dir::open_ambient_dir(&preopen.host, cap_std::ambient_authority())
        .map_err(|source| GrantError::Dir { path: preopen.host.display().to_string(), source })
}
