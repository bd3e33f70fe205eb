//! Every function of WASI preview 1: argument decoding, rights, and what
//! it does on the host.

use crate::abi::{self, clock, fdflags, filetype, fstflags, oflags, rights, size, Call, Errno, SYMLINK_FOLLOW};
use crate::fds::{Fd, Handle, Wasi};
use crate::{BadCall, Done, Guest};
use cap_fs_ext::{DirExt, FollowSymlinks, OpenOptionsFollowExt, OpenOptionsMaybeDirExt, SystemTimeSpec};
use cap_std::fs::{Dir, OpenOptions};
use std::ffi::OsStr;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

type Result<T> = std::result::Result<T, Errno>;

/// The longest path a program may pass (Linux's `PATH_MAX`): `nametoolong` past it.
pub const MAX_PATH: u32 = 4096;
/// A read or write goes through a host buffer of at most this many bytes at a time.
const CHUNK: usize = 1 << 16;

/// Bounds-checked access to the program's memory: every pointer is a
/// 32-bit offset, every miss `fault`.
struct Mem<'g>(&'g mut dyn Guest);

impl Mem<'_> {
    fn check(&self, ptr: u32, len: u64) -> Result<()> {
        match u64::from(ptr) + len <= self.0.memory_size() {
            true => Ok(()),
            false => Err(Errno::FAULT),
        }
    }
    fn read(&mut self, ptr: u32, buf: &mut [u8]) -> Result<()> {
        match self.0.read_memory(u64::from(ptr), buf) {
            true => Ok(()),
            false => Err(Errno::FAULT),
        }
    }
    fn write(&mut self, ptr: u32, bytes: &[u8]) -> Result<()> {
        match self.0.write_memory(u64::from(ptr), bytes) {
            true => Ok(()),
            false => Err(Errno::FAULT),
        }
    }
    fn u32(&mut self, ptr: u32) -> Result<u32> {
        let mut b = [0; 4];
        self.read(ptr, &mut b)?;
        Ok(u32::from_le_bytes(b))
    }
    fn put_u32(&mut self, ptr: u32, v: u32) -> Result<()> {
        self.write(ptr, &v.to_le_bytes())
    }
    fn put_u64(&mut self, ptr: u32, v: u64) -> Result<()> {
        self.write(ptr, &v.to_le_bytes())
    }
    /// A path argument: at most [`MAX_PATH`] bytes, no NUL.
    fn path(&mut self, ptr: u32, len: u32) -> Result<std::path::PathBuf> {
        if len > MAX_PATH {
            return Err(Errno::NAMETOOLONG);
        }
        self.check(ptr, u64::from(len))?;
        let mut bytes = vec![0; len as usize];
        self.read(ptr, &mut bytes)?;
        if bytes.contains(&0) {
            return Err(Errno::ILSEQ);
        }
        Ok(OsStr::from_bytes(&bytes).into())
    }
    /// The `(buf, len)` pairs of an iovec array, each checked to lie in the memory.
    fn iovecs(&mut self, iovs: u32, count: u32) -> Result<Vec<(u32, u32)>> {
        self.check(iovs, u64::from(count) * abi::size::IOVEC)?;
        let mut out = Vec::with_capacity(count as usize);
        for i in 0..count {
            let at = iovs + i * 8;
            let (buf, len) = (self.u32(at)?, self.u32(at + 4)?);
            self.check(buf, u64::from(len))?;
            out.push((buf, len));
        }
        Ok(out)
    }
}

/// The wire value of a host file type.
pub(crate) fn filetype_of(t: &impl FileTypeLike) -> u8 {
    if t.is_dir() {
        filetype::DIRECTORY
    } else if t.is_file() {
        filetype::REGULAR_FILE
    } else if t.is_symlink() {
        filetype::SYMBOLIC_LINK
    } else if t.is_char_device() {
        filetype::CHARACTER_DEVICE
    } else if t.is_block_device() {
        filetype::BLOCK_DEVICE
    } else if t.is_socket() {
        filetype::SOCKET_STREAM
    } else {
        filetype::UNKNOWN
    }
}

/// std's and cap-std's file types alike.
pub(crate) trait FileTypeLike {
    fn is_dir(&self) -> bool;
    fn is_file(&self) -> bool;
    fn is_symlink(&self) -> bool;
    fn is_char_device(&self) -> bool;
    fn is_block_device(&self) -> bool;
    fn is_socket(&self) -> bool;
}

macro_rules! file_type_like {
    ($t:ty, $ext:path) => {
        impl FileTypeLike for $t {
            fn is_dir(&self) -> bool {
                <$t>::is_dir(self)
            }
            fn is_file(&self) -> bool {
                <$t>::is_file(self)
            }
            fn is_symlink(&self) -> bool {
                <$t>::is_symlink(self)
            }
            fn is_char_device(&self) -> bool {
                <$t as $ext>::is_char_device(self)
            }
            fn is_block_device(&self) -> bool {
                <$t as $ext>::is_block_device(self)
            }
            fn is_socket(&self) -> bool {
                <$t as $ext>::is_socket(self)
            }
        }
    };
}
file_type_like!(std::fs::FileType, std::os::unix::fs::FileTypeExt);
file_type_like!(cap_std::fs::FileType, cap_std::fs::FileTypeExt);

/// A `filestat`, from either kind of metadata.
pub(crate) struct Stat {
    dev: u64,
    ino: u64,
    filetype: u8,
    nlink: u64,
    pub size: u64,
    atim: u64,
    pub mtim: u64,
    ctim: u64,
}

fn nanos(secs: i64, nsec: i64) -> u64 {
    (secs as u64).wrapping_mul(1_000_000_000).wrapping_add(nsec as u64)
}

macro_rules! stat_from {
    ($name:ident, $t:ty, $ext:path) => {
        pub(crate) fn $name(m: &$t) -> Stat {
            use $ext as _;
            Stat {
                dev: m.dev(),
                ino: m.ino(),
                filetype: filetype_of(&m.file_type()),
                nlink: m.nlink(),
                size: m.len(),
                atim: nanos(m.atime(), m.atime_nsec()),
                mtim: nanos(m.mtime(), m.mtime_nsec()),
                ctim: nanos(m.ctime(), m.ctime_nsec()),
            }
        }
    };
}
stat_from!(stat_std, std::fs::Metadata, std::os::unix::fs::MetadataExt);
stat_from!(stat_cap, cap_std::fs::Metadata, cap_std::fs::MetadataExt);

impl Stat {
    fn bytes(&self) -> [u8; size::FILESTAT] {
        let mut b = [0; size::FILESTAT];
        b[0..8].copy_from_slice(&self.dev.to_le_bytes());
        b[8..16].copy_from_slice(&self.ino.to_le_bytes());
        b[16] = self.filetype;
        b[24..32].copy_from_slice(&self.nlink.to_le_bytes());
        b[32..40].copy_from_slice(&self.size.to_le_bytes());
        b[40..48].copy_from_slice(&self.atim.to_le_bytes());
        b[48..56].copy_from_slice(&self.mtim.to_le_bytes());
        b[56..64].copy_from_slice(&self.ctim.to_le_bytes());
        b
    }
}

fn io<T>(r: std::io::Result<T>) -> Result<T> {
    r.map_err(|e| Errno::from_io(&e))
}

/// The times a set-times call asks for: each kept, set to a value, or set to now.
fn times(atim: u64, mtim: u64, flags: u16) -> Result<(Option<SystemTimeSpec>, Option<SystemTimeSpec>)> {
    if flags & !(fstflags::ATIM | fstflags::ATIM_NOW | fstflags::MTIM | fstflags::MTIM_NOW) != 0 {
        return Err(Errno::INVAL);
    }
    let one = |value: u64, set: u16, now: u16| match (flags & set != 0, flags & now != 0) {
        (true, true) => Err(Errno::INVAL),
        (true, false) => Ok(Some(SystemTimeSpec::Absolute(cap_std::time::SystemTime::from_std(
            UNIX_EPOCH + Duration::from_nanos(value),
        )))),
        (false, true) => Ok(Some(SystemTimeSpec::SymbolicNow)),
        (false, false) => Ok(None),
    };
    Ok((one(atim, fstflags::ATIM, fstflags::ATIM_NOW)?, one(mtim, fstflags::MTIM, fstflags::MTIM_NOW)?))
}

fn std_time(spec: Option<SystemTimeSpec>) -> Option<SystemTime> {
    spec.map(|s| match s {
        SystemTimeSpec::SymbolicNow => SystemTime::now(),
        SystemTimeSpec::Absolute(t) => t.into_std(),
    })
}

fn follow(lookup: u32) -> FollowSymlinks {
    match lookup & SYMLINK_FOLLOW != 0 {
        true => FollowSymlinks::Yes,
        false => FollowSymlinks::No,
    }
}

impl Wasi {
    /// Runs function number `number` with `args` (one value per parameter,
    /// i32s in their low 32 bits) against `guest`.
    pub fn call(&mut self, number: u8, args: &[u64], guest: &mut dyn Guest) -> std::result::Result<Done, BadCall> {
        let call = Call::from_number(number).ok_or(BadCall::Number(number))?;
        let function = &abi::FUNCTIONS[number as usize];
        if args.len() < function.params.len() {
            return Err(BadCall::Arguments { name: function.name, needs: function.params.len() });
        }
        let a = |i: usize| args[i] as u32;
        let w = |i: usize| args[i];
        let mut m = Mem(guest);
        let m = &mut m;
        let result = match call {
            Call::args_get => strings_get(m, &self.args, a(0), a(1)),
            Call::args_sizes_get => strings_sizes(m, &self.args, a(0), a(1)),
            Call::environ_get => strings_get(m, &self.env, a(0), a(1)),
            Call::environ_sizes_get => strings_sizes(m, &self.env, a(0), a(1)),
            Call::clock_res_get => match a(0) {
                clock::REALTIME | clock::MONOTONIC | clock::PROCESS_CPUTIME | clock::THREAD_CPUTIME => {
                    m.put_u64(a(1), 1)
                }
                _ => Err(Errno::INVAL),
            },
            Call::clock_time_get => match now(a(0), m.0.monotonic_ns()) {
                Some(t) => m.put_u64(a(2), t),
                None => Err(Errno::INVAL),
            },
            Call::fd_advise => self.fd_advise(a(0), w(1), w(2), a(3)),
            Call::fd_allocate => self.fd_allocate(a(0), w(1), w(2)),
            Call::fd_close => self.fd_close(a(0)),
            Call::fd_datasync => self.sync(a(0), rights::FD_DATASYNC, false),
            Call::fd_sync => self.sync(a(0), rights::FD_SYNC, true),
            Call::fd_fdstat_get => self.fd_fdstat_get(m, a(0), a(1)),
            Call::fd_fdstat_set_flags => self.fd_fdstat_set_flags(a(0), a(1)),
            Call::fd_fdstat_set_rights => self.fd_fdstat_set_rights(a(0), w(1), w(2)),
            Call::fd_filestat_get => self.fd_filestat_get(m, a(0), a(1)),
            Call::fd_filestat_set_size => self.fd_filestat_set_size(a(0), w(1)),
            Call::fd_filestat_set_times => self.fd_filestat_set_times(a(0), w(1), w(2), a(3) as u16),
            Call::fd_pread => self.fd_read(m, a(0), a(1), a(2), Some(w(3)), a(4)),
            Call::fd_read => self.fd_read(m, a(0), a(1), a(2), None, a(3)),
            Call::fd_pwrite => self.fd_write(m, a(0), a(1), a(2), Some(w(3)), a(4)),
            Call::fd_write => self.fd_write(m, a(0), a(1), a(2), None, a(3)),
            Call::fd_prestat_get => self.fd_prestat_get(m, a(0), a(1)),
            Call::fd_prestat_dir_name => self.fd_prestat_dir_name(m, a(0), a(1), a(2)),
            Call::fd_readdir => self.fd_readdir(m, a(0), a(1), a(2), w(3), a(4)),
            Call::fd_renumber => self.fd_renumber(a(0), a(1)),
            Call::fd_seek => self.fd_seek(m, a(0), w(1) as i64, a(2), a(3)),
            Call::fd_tell => self.fd_seek(m, a(0), 0, 1, a(1)),
            Call::path_create_directory => self.path_create_directory(m, a(0), a(1), a(2)),
            Call::path_filestat_get => self.path_filestat_get(m, a(0), a(1), a(2), a(3), a(4)),
            Call::path_filestat_set_times => {
                self.path_filestat_set_times(m, a(0), a(1), a(2), a(3), w(4), w(5), a(6) as u16)
            }
            Call::path_link => self.path_link(m, a(0), a(1), a(2), a(3), a(4), a(5), a(6)),
            Call::path_open => self.path_open(m, a(0), a(1), a(2), a(3), a(4) as u16, w(5), w(6), a(7) as u16, a(8)),
            Call::path_readlink => self.path_readlink(m, a(0), a(1), a(2), a(3), a(4), a(5)),
            Call::path_remove_directory => self.path_remove(m, a(0), a(1), a(2), true),
            Call::path_unlink_file => self.path_remove(m, a(0), a(1), a(2), false),
            Call::path_rename => self.path_rename(m, a(0), a(1), a(2), a(3), a(4), a(5)),
            Call::path_symlink => self.path_symlink(m, a(0), a(1), a(2), a(3), a(4)),
            Call::poll_oneoff => return Ok(self.poll_oneoff(m, a(0), a(1), a(2), a(3))),
            Call::proc_exit => return Ok(Done::Exit(a(0))),
            Call::sched_yield => Ok(()),
            Call::random_get => random_get(m, a(0), a(1)),
            Call::proc_raise | Call::sock_accept | Call::sock_recv | Call::sock_send | Call::sock_shutdown => {
                Err(Errno::NOSYS)
            }
        };
        Ok(Done::Return(result.err().unwrap_or(Errno::SUCCESS)))
    }

    fn fd_advise(&mut self, fd: u32, _offset: u64, _len: u64, advice: u32) -> Result<()> {
        let fd = self.get(fd)?;
        fd.require(rights::FD_ADVISE)?;
        if advice > 5 {
            return Err(Errno::INVAL);
        }
        match fd.handle {
            // Advice is advice: the host's page cache manages itself.
            Handle::File(_) => Ok(()),
            Handle::Dir(_) => Err(Errno::BADF),
            _ => Err(Errno::SPIPE),
        }
    }

    fn fd_allocate(&mut self, fd: u32, offset: u64, len: u64) -> Result<()> {
        let fd = self.get(fd)?;
        fd.require(rights::FD_ALLOCATE)?;
        let Handle::File(file) = &fd.handle else { return Err(Errno::BADF) };
        let end = offset.checked_add(len).filter(|&e| e <= i64::MAX as u64).ok_or(Errno::FBIG)?;
        if io(file.metadata())?.len() < end {
            io(file.set_len(end))?;
        }
        Ok(())
    }

    fn fd_close(&mut self, fd: u32) -> Result<()> {
        self.fds.remove(&fd).map(drop).ok_or(Errno::BADF)
    }

    fn sync(&mut self, fd: u32, right: u64, all: bool) -> Result<()> {
        let fd = self.get(fd)?;
        fd.require(right)?;
        match &fd.handle {
            Handle::File(f) if all => io(f.sync_all()),
            Handle::File(f) => io(f.sync_data()),
            Handle::Dir(d) => io(d.open(".").and_then(|f| f.sync_all())).or(Ok(())),
            _ => Err(Errno::INVAL),
        }
    }

    fn fd_fdstat_get(&mut self, m: &mut Mem, fd: u32, out: u32) -> Result<()> {
        let fd = self.get(fd)?;
        let mut b = [0u8; size::FDSTAT];
        b[0] = fd.filetype();
        b[2..4].copy_from_slice(&fd.flags.to_le_bytes());
        b[8..16].copy_from_slice(&fd.rights.to_le_bytes());
        b[16..24].copy_from_slice(&fd.inheriting.to_le_bytes());
        m.write(out, &b)
    }

    fn fd_fdstat_set_flags(&mut self, fd: u32, flags: u32) -> Result<()> {
        let fd = self.get_mut(fd)?;
        fd.require(rights::FD_FDSTAT_SET_FLAGS)?;
        let flags = u16::try_from(flags).ok().filter(|f| f & !fdflags::ALL == 0).ok_or(Errno::INVAL)?;
        fd.flags = flags;
        Ok(())
    }

    fn fd_fdstat_set_rights(&mut self, fd: u32, base: u64, inheriting: u64) -> Result<()> {
        let fd = self.get_mut(fd)?;
        // Rights only shrink.
        if base & !fd.rights != 0 || inheriting & !fd.inheriting != 0 {
            return Err(Errno::NOTCAPABLE);
        }
        fd.rights = base;
        fd.inheriting = inheriting;
        Ok(())
    }

    fn fd_filestat_get(&mut self, m: &mut Mem, fd: u32, out: u32) -> Result<()> {
        let fd = self.get(fd)?;
        fd.require(rights::FD_FILESTAT_GET)?;
        let stat = match &fd.handle {
            Handle::File(f) => stat_std(&io(f.metadata())?),
            Handle::Dir(d) => stat_cap(&io(d.dir_metadata())?),
            _ => Stat {
                dev: 0,
                ino: 0,
                filetype: filetype::CHARACTER_DEVICE,
                nlink: 0,
                size: 0,
                atim: 0,
                mtim: 0,
                ctim: 0,
            },
        };
        m.write(out, &stat.bytes())
    }

    fn fd_filestat_set_size(&mut self, fd: u32, len: u64) -> Result<()> {
        let fd = self.get(fd)?;
        fd.require(rights::FD_FILESTAT_SET_SIZE)?;
        let Handle::File(f) = &fd.handle else { return Err(Errno::BADF) };
        if len > i64::MAX as u64 {
            return Err(Errno::FBIG);
        }
        io(f.set_len(len))
    }

    fn fd_filestat_set_times(&mut self, fd: u32, atim: u64, mtim: u64, flags: u16) -> Result<()> {
        let fd = self.get(fd)?;
        fd.require(rights::FD_FILESTAT_SET_TIMES)?;
        let (a, m) = times(atim, mtim, flags)?;
        match &fd.handle {
            Handle::File(f) => {
                let mut t = std::fs::FileTimes::new();
                if let Some(a) = std_time(a) {
                    t = t.set_accessed(a);
                }
                if let Some(m) = std_time(m) {
                    t = t.set_modified(m);
                }
                io(f.set_times(t))
            }
            Handle::Dir(d) => io(d.set_times(".", a, m)),
            _ => Err(Errno::BADF),
        }
    }

    fn fd_read(&mut self, m: &mut Mem, fd: u32, iovs: u32, count: u32, at: Option<u64>, out: u32) -> Result<()> {
        let fd = self.get_mut(fd)?;
        fd.require(rights::FD_READ | if at.is_some() { rights::FD_SEEK } else { 0 })?;
        let vecs = m.iovecs(iovs, count)?;
        let mut total: u64 = 0;
        let mut buf = vec![0; vecs.iter().map(|v| v.1 as usize).sum::<usize>().min(CHUNK)];
        'vecs: for (ptr, len) in vecs {
            let mut done = 0u32;
            while done < len {
                let want = ((len - done) as usize).min(buf.len());
                let n = match (&mut fd.handle, at) {
                    (Handle::File(f), Some(offset)) => io(f.read_at(&mut buf[..want], offset + total))?,
                    (Handle::File(f), None) => io(f.read(&mut buf[..want]))?,
                    (Handle::Stdin, None) => io(m.0.read_input(&mut buf[..want]))?,
                    (Handle::Stdin, Some(_)) => return Err(Errno::SPIPE),
                    (Handle::Dir(_), _) => return Err(Errno::ISDIR),
                    _ => return Err(Errno::BADF),
                };
                m.write(ptr + done, &buf[..n])?;
                total += n as u64;
                done += n as u32;
                // A short read ends the call, as readv's does.
                if n < want {
                    break 'vecs;
                }
            }
        }
        m.put_u32(out, total as u32)
    }

    fn fd_write(&mut self, m: &mut Mem, fd: u32, iovs: u32, count: u32, at: Option<u64>, out: u32) -> Result<()> {
        let fd = self.get_mut(fd)?;
        fd.require(rights::FD_WRITE | if at.is_some() { rights::FD_SEEK } else { 0 })?;
        let vecs = m.iovecs(iovs, count)?;
        let mut buf = vec![0; vecs.iter().map(|v| v.1 as usize).sum::<usize>().min(CHUNK)];
        let mut total: u64 = 0;
        if let (Handle::File(f), None) = (&mut fd.handle, at) {
            if fd.flags & fdflags::APPEND != 0 {
                io(f.seek(SeekFrom::End(0)))?;
            }
        }
        for (ptr, len) in vecs {
            let mut done = 0u32;
            while done < len {
                let n = ((len - done) as usize).min(buf.len());
                m.read(ptr + done, &mut buf[..n])?;
                match (&mut fd.handle, at) {
                    (Handle::File(f), Some(offset)) => io(f.write_all_at(&buf[..n], offset + total))?,
                    (Handle::File(f), None) => io(f.write_all(&buf[..n]))?,
                    (Handle::Stdout, None) => io(m.0.write_output(1, &buf[..n]))?,
                    (Handle::Stderr, None) => io(m.0.write_output(2, &buf[..n]))?,
                    (Handle::Stdout | Handle::Stderr, Some(_)) => return Err(Errno::SPIPE),
                    (Handle::Dir(_), _) => return Err(Errno::ISDIR),
                    _ => return Err(Errno::BADF),
                }
                total += n as u64;
                done += n as u32;
            }
        }
        if let Handle::File(f) = &fd.handle {
            if fd.flags & (fdflags::SYNC | fdflags::RSYNC) != 0 {
                io(f.sync_all())?;
            } else if fd.flags & fdflags::DSYNC != 0 {
                io(f.sync_data())?;
            }
        }
        m.put_u32(out, total as u32)
    }

    fn preopen_name(&self, fd: u32) -> Result<&str> {
        match &self.get(fd)?.origin {
            crate::fds::Origin::Preopen(name) => Ok(name),
            _ => Err(Errno::BADF),
        }
    }

    fn fd_prestat_get(&mut self, m: &mut Mem, fd: u32, out: u32) -> Result<()> {
        let len = self.preopen_name(fd)?.len() as u32;
        let mut b = [0u8; size::PRESTAT];
        b[4..8].copy_from_slice(&len.to_le_bytes());
        m.write(out, &b)
    }

    fn fd_prestat_dir_name(&mut self, m: &mut Mem, fd: u32, ptr: u32, len: u32) -> Result<()> {
        let name = self.preopen_name(fd)?.as_bytes();
        if (len as usize) < name.len() {
            return Err(Errno::NAMETOOLONG);
        }
        m.write(ptr, name)
    }

    fn fd_readdir(&mut self, m: &mut Mem, fd: u32, buf: u32, len: u32, cookie: u64, out: u32) -> Result<()> {
        let fd = self.get(fd)?;
        fd.require(rights::FD_READDIR)?;
        let dir = fd.dir()?;
        m.check(buf, u64::from(len))?;
        // `.` and `..`, then the entries by name: the same order on every
        // call and every host, so that a cookie means the same after a move.
        let this = io(dir.dir_metadata())?;
        let mut entries: Vec<(Vec<u8>, u64, u8)> = vec![
            (b".".to_vec(), cap_std::fs::MetadataExt::ino(&this), filetype::DIRECTORY),
            (b"..".to_vec(), 0, filetype::DIRECTORY),
        ];
        let mut rest = Vec::new();
        for entry in io(dir.entries())? {
            let entry = io(entry)?;
            let kind = entry.file_type().map_or(filetype::UNKNOWN, |t| filetype_of(&t));
            rest.push((entry.file_name().as_bytes().to_vec(), std::os::unix::fs::DirEntryExt::ino(&entry), kind));
        }
        rest.sort();
        entries.extend(rest);
        let mut used = 0u32;
        for (i, (name, ino, kind)) in entries.iter().enumerate().skip(usize::try_from(cookie).unwrap_or(usize::MAX)) {
            let mut record = Vec::with_capacity(size::DIRENT + name.len());
            record.extend_from_slice(&(i as u64 + 1).to_le_bytes());
            record.extend_from_slice(&ino.to_le_bytes());
            record.extend_from_slice(&(name.len() as u32).to_le_bytes());
            record.extend_from_slice(&[*kind, 0, 0, 0]);
            record.extend_from_slice(name);
            // The last record may be cut short: the buffer is full, and the caller asks again.
            let n = record.len().min((len - used) as usize);
            m.write(buf + used, &record[..n])?;
            used += n as u32;
            if used == len {
                break;
            }
        }
        m.put_u32(out, used)
    }

    fn fd_renumber(&mut self, from: u32, to: u32) -> Result<()> {
        self.get(to)?;
        let fd = self.fds.remove(&from).ok_or(Errno::BADF)?;
        self.fds.insert(to, fd);
        Ok(())
    }

    fn fd_seek(&mut self, m: &mut Mem, fd: u32, offset: i64, whence: u32, out: u32) -> Result<()> {
        let fd = self.get_mut(fd)?;
        let tell = offset == 0 && whence == 1;
        fd.require(if tell { rights::FD_TELL } else { rights::FD_SEEK })?;
        let Handle::File(f) = &mut fd.handle else {
            return Err(if matches!(fd.handle, Handle::Dir(_)) { Errno::BADF } else { Errno::SPIPE });
        };
        let pos = match whence {
            0 => SeekFrom::Start(u64::try_from(offset).map_err(|_| Errno::INVAL)?),
            1 => SeekFrom::Current(offset),
            2 => SeekFrom::End(offset),
            _ => return Err(Errno::INVAL),
        };
        let at = io(f.seek(pos))?;
        m.put_u64(out, at)
    }

    /// The directory `fd` names for a path call needing `needed`, and the path.
    fn at(&self, m: &mut Mem, fd: u32, needed: u64, ptr: u32, len: u32) -> Result<(&Fd, std::path::PathBuf)> {
        let fd = self.get(fd)?;
        fd.require(needed)?;
        fd.dir()?;
        let path = m.path(ptr, len)?;
        Ok((fd, path))
    }

    fn path_create_directory(&mut self, m: &mut Mem, fd: u32, ptr: u32, len: u32) -> Result<()> {
        let (fd, path) = self.at(m, fd, rights::PATH_CREATE_DIRECTORY, ptr, len)?;
        io(fd.dir()?.create_dir(path))
    }

    fn path_filestat_get(&mut self, m: &mut Mem, fd: u32, lookup: u32, ptr: u32, len: u32, out: u32) -> Result<()> {
        let (fd, path) = self.at(m, fd, rights::PATH_FILESTAT_GET, ptr, len)?;
        let dir = fd.dir()?;
        let meta = match follow(lookup) {
            FollowSymlinks::Yes => io(dir.metadata(&path))?,
            FollowSymlinks::No => io(dir.symlink_metadata(&path))?,
        };
        m.write(out, &stat_cap(&meta).bytes())
    }

    #[allow(clippy::too_many_arguments)]
    fn path_filestat_set_times(
        &mut self,
        m: &mut Mem,
        fd: u32,
        lookup: u32,
        ptr: u32,
        len: u32,
        atim: u64,
        mtim: u64,
        flags: u16,
    ) -> Result<()> {
        let (fd, path) = self.at(m, fd, rights::PATH_FILESTAT_SET_TIMES, ptr, len)?;
        let (a, t) = times(atim, mtim, flags)?;
        match follow(lookup) {
            FollowSymlinks::Yes => io(fd.dir()?.set_times(&path, a, t)),
            FollowSymlinks::No => io(fd.dir()?.set_symlink_times(&path, a, t)),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn path_link(
        &mut self,
        m: &mut Mem,
        old_fd: u32,
        lookup: u32,
        old_ptr: u32,
        old_len: u32,
        new_fd: u32,
        new_ptr: u32,
        new_len: u32,
    ) -> Result<()> {
        if lookup & SYMLINK_FOLLOW != 0 {
            // A hard link to what a symbolic link names: not offered, as in wasmtime.
            return Err(Errno::INVAL);
        }
        let (old, old_path) = self.at(m, old_fd, rights::PATH_LINK_SOURCE, old_ptr, old_len)?;
        let (new, new_path) = self.at(m, new_fd, rights::PATH_LINK_TARGET, new_ptr, new_len)?;
        io(old.dir()?.hard_link(old_path, new.dir()?, new_path))
    }

    #[allow(clippy::too_many_arguments)]
    fn path_open(
        &mut self,
        m: &mut Mem,
        dirfd: u32,
        lookup: u32,
        ptr: u32,
        len: u32,
        oflags: u16,
        base: u64,
        inheriting: u64,
        flags: u16,
        out: u32,
    ) -> Result<()> {
        let mut needed = rights::PATH_OPEN;
        if oflags & oflags::CREAT != 0 {
            needed |= rights::PATH_CREATE_FILE;
        }
        if oflags & oflags::TRUNC != 0 {
            needed |= rights::PATH_FILESTAT_SET_SIZE;
        }
        let (parent, path) = self.at(m, dirfd, needed, ptr, len)?;
        if flags & !fdflags::ALL != 0
            || oflags & !(oflags::CREAT | oflags::DIRECTORY | oflags::EXCL | oflags::TRUNC) != 0
        {
            return Err(Errno::INVAL);
        }
        // The new descriptor gets what is asked and the directory passes on,
        // no more (programs ask for every right, as wasi-libc and Rust's std do).
        let (base, inheriting) = (base & parent.inheriting, inheriting & parent.inheriting);
        m.check(out, 4)?;
        let dir = parent.dir()?;
        let origin = parent.origin_of(&path);
        let follow = follow(lookup);
        let want_dir = oflags & oflags::DIRECTORY != 0;
        let fd = if want_dir {
            if oflags & (oflags::CREAT | oflags::TRUNC) != 0 {
                return Err(Errno::INVAL);
            }
            let opened = match follow {
                FollowSymlinks::Yes => dir.open_dir(&path),
                FollowSymlinks::No => dir.open_dir_nofollow(&path),
            };
            Fd {
                handle: Handle::Dir(io(opened)?),
                rights: base & rights::DIRECTORY,
                inheriting: inheriting & (rights::DIRECTORY | rights::FILE),
                flags,
                origin,
                read: true,
                write: false,
            }
        } else {
            let read = base & (rights::FD_READ | rights::FD_READDIR) != 0;
            let mut write = base & (rights::FD_WRITE | rights::FD_ALLOCATE | rights::FD_FILESTAT_SET_SIZE) != 0
                || flags & fdflags::APPEND != 0;
            if oflags & (oflags::TRUNC | oflags::CREAT) != 0 {
                write = true;
            }
            let file = open_file(dir, &path, follow, read, write, oflags)?;
            match file {
                Opened::File(file) => Fd {
                    handle: Handle::File(file),
                    rights: base & rights::FILE,
                    inheriting: inheriting & (rights::DIRECTORY | rights::FILE),
                    flags,
                    origin,
                    read,
                    write,
                },
                Opened::Dir(d) => Fd {
                    handle: Handle::Dir(d),
                    rights: base & rights::DIRECTORY,
                    inheriting: inheriting & (rights::DIRECTORY | rights::FILE),
                    flags,
                    origin,
                    read: true,
                    write: false,
                },
            }
        };
        let n = self.insert(fd)?;
        m.put_u32(out, n)
    }

    #[allow(clippy::too_many_arguments)]
    fn path_readlink(&mut self, m: &mut Mem, fd: u32, ptr: u32, len: u32, buf: u32, cap: u32, out: u32) -> Result<()> {
        let (fd, path) = self.at(m, fd, rights::PATH_READLINK, ptr, len)?;
        let target = io(fd.dir()?.read_link_contents(path))?;
        let bytes = target.as_os_str().as_bytes();
        let n = bytes.len().min(cap as usize);
        m.check(buf, u64::from(cap))?;
        m.write(buf, &bytes[..n])?;
        m.put_u32(out, n as u32)
    }

    fn path_remove(&mut self, m: &mut Mem, fd: u32, ptr: u32, len: u32, directory: bool) -> Result<()> {
        let right = if directory { rights::PATH_REMOVE_DIRECTORY } else { rights::PATH_UNLINK_FILE };
        let (fd, path) = self.at(m, fd, right, ptr, len)?;
        let dir = fd.dir()?;
        match directory {
            true => io(dir.remove_dir(path)),
            // A trailing slash names a directory: unlink refuses it as the host would.
            false if path.as_os_str().as_bytes().ends_with(b"/") => Err(Errno::ISDIR),
            false => io(dir.remove_file_or_symlink(path)),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn path_rename(
        &mut self,
        m: &mut Mem,
        fd: u32,
        old_ptr: u32,
        old_len: u32,
        new_fd: u32,
        new_ptr: u32,
        new_len: u32,
    ) -> Result<()> {
        let (old, old_path) = self.at(m, fd, rights::PATH_RENAME_SOURCE, old_ptr, old_len)?;
        let (new, new_path) = self.at(m, new_fd, rights::PATH_RENAME_TARGET, new_ptr, new_len)?;
        io(old.dir()?.rename(old_path, new.dir()?, new_path))
    }

    fn path_symlink(
        &mut self,
        m: &mut Mem,
        old_ptr: u32,
        old_len: u32,
        fd: u32,
        new_ptr: u32,
        new_len: u32,
    ) -> Result<()> {
        let target = m.path(old_ptr, old_len)?;
        let (fd, link) = self.at(m, fd, rights::PATH_SYMLINK, new_ptr, new_len)?;
        // The link's text is stored as given; following it later is resolved
        // under the directory like any other path, so one that points out is refused then.
        io(fd.dir()?.symlink_contents(target, link))
    }

    fn poll_oneoff(&mut self, m: &mut Mem, subs: u32, events: u32, count: u32, out: u32) -> Done {
        match self.poll(m, subs, events, count, out) {
            Ok(Some(wait)) => Done::Sleep(wait),
            Ok(None) => Done::Return(Errno::SUCCESS),
            Err(e) => Done::Return(e),
        }
    }

    /// Writes the events that are ready; if none but clocks, those that
    /// fire first and how long until they do.
    fn poll(&mut self, m: &mut Mem, subs: u32, events: u32, count: u32, out: u32) -> Result<Option<Duration>> {
        if count == 0 {
            return Err(Errno::INVAL);
        }
        m.check(subs, u64::from(count) * size::SUBSCRIPTION)?;
        m.check(events, u64::from(count) * size::EVENT as u64)?;
        let mut ready: Vec<[u8; size::EVENT]> = Vec::new();
        let mut clocks: Vec<(u64, u64)> = Vec::new(); // (userdata, nanoseconds from now)
        for i in 0..count {
            let mut s = [0u8; size::SUBSCRIPTION as usize];
            m.read(subs + i * size::SUBSCRIPTION as u32, &mut s)?;
            let userdata = u64::from_le_bytes(s[0..8].try_into().expect("8"));
            let tag = s[8];
            let event = |error: Errno, nbytes: u64| {
                let mut e = [0u8; size::EVENT];
                e[0..8].copy_from_slice(&userdata.to_le_bytes());
                e[8..10].copy_from_slice(&error.0.to_le_bytes());
                e[10] = tag;
                e[16..24].copy_from_slice(&nbytes.to_le_bytes());
                e
            };
            match tag {
                0 => {
                    let id = u32::from_le_bytes(s[16..20].try_into().expect("4"));
                    let timeout = u64::from_le_bytes(s[24..32].try_into().expect("8"));
                    let absolute = u16::from_le_bytes(s[40..42].try_into().expect("2")) & 1 != 0;
                    let Some(now) = now(id, m.0.monotonic_ns()) else {
                        ready.push(event(Errno::INVAL, 0));
                        continue;
                    };
                    let wait = if absolute { timeout.saturating_sub(now) } else { timeout };
                    clocks.push((userdata, wait));
                }
                1 | 2 => {
                    let fd = u32::from_le_bytes(s[16..20].try_into().expect("4"));
                    let e = match self.get(fd) {
                        Err(e) => event(e, 0),
                        Ok(fd) if fd.rights & rights::POLL_FD_READWRITE == 0 => event(Errno::NOTCAPABLE, 0),
                        // A regular file is always ready: for reading, with what is left of it.
                        Ok(Fd { handle: Handle::File(f), .. }) if tag == 1 => {
                            let left = f.metadata().map(|md| md.len()).unwrap_or(0);
                            let at = (&*f).stream_position().unwrap_or(0);
                            event(Errno::SUCCESS, left.saturating_sub(at))
                        }
                        // Standard streams and everything else: ready (a read of standard input may then wait).
                        Ok(_) => event(Errno::SUCCESS, 0),
                    };
                    ready.push(e);
                }
                _ => ready.push(event(Errno::INVAL, 0)),
            }
        }
        let mut wait = None;
        if ready.is_empty() {
            let first = clocks.iter().map(|c| c.1).min().expect("count > 0 and none ready: clocks");
            for &(userdata, after) in clocks.iter().filter(|c| c.1 == first) {
                let mut e = [0u8; size::EVENT];
                e[0..8].copy_from_slice(&userdata.to_le_bytes());
                ready.push(e);
                let _ = after;
            }
            wait = Some(Duration::from_nanos(first));
        }
        for (i, e) in ready.iter().enumerate() {
            m.write(events + i as u32 * size::EVENT as u32, e)?;
        }
        m.put_u32(out, ready.len() as u32)?;
        Ok(wait.filter(|w| !w.is_zero()))
    }
}

enum Opened {
    File(std::fs::File),
    Dir(Dir),
}

/// Opens a file (or, when nothing says it must be a file, a directory) under `dir`.
fn open_file(dir: &Dir, path: &Path, follow: FollowSymlinks, read: bool, write: bool, oflags: u16) -> Result<Opened> {
    let mut options = OpenOptions::new();
    options.read(read || !write).write(write).follow(follow);
    if oflags & oflags::CREAT != 0 {
        match oflags & oflags::EXCL != 0 {
            true => options.create_new(true),
            false => options.create(true),
        };
    }
    if oflags & oflags::TRUNC != 0 {
        options.truncate(true);
    }
    // Opening a directory read-only is how a program lists it.
    options.maybe_dir(!write);
    let file = io(dir.open_with(path, &options))?.into_std();
    if io(file.metadata())?.is_dir() {
        return Ok(Opened::Dir(Dir::from_std_file(file)));
    }
    Ok(Opened::File(file))
}

/// The clock `id`'s time, or `None` for an unknown clock. Realtime is the
/// host's wall clock; the monotonic and CPU-time clocks are the machine's
/// monotonic clock.
fn now(id: u32, monotonic: u64) -> Option<u64> {
    match id {
        clock::REALTIME => Some(SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64)),
        clock::MONOTONIC | clock::PROCESS_CPUTIME | clock::THREAD_CPUTIME => Some(monotonic),
        _ => None,
    }
}

fn strings_sizes(m: &mut Mem, strings: &[Vec<u8>], count: u32, bytes: u32) -> Result<()> {
    let total: usize = strings.iter().map(|s| s.len() + 1).sum();
    m.put_u32(count, strings.len() as u32)?;
    m.put_u32(bytes, total as u32)
}

fn strings_get(m: &mut Mem, strings: &[Vec<u8>], pointers: u32, buf: u32) -> Result<()> {
    let total: usize = strings.iter().map(|s| s.len() + 1).sum();
    m.check(pointers, strings.len() as u64 * 4)?;
    m.check(buf, total as u64)?;
    let mut at = buf;
    for (i, s) in strings.iter().enumerate() {
        m.put_u32(pointers + 4 * i as u32, at)?;
        m.write(at, s)?;
        m.write(at + s.len() as u32, &[0])?;
        at += s.len() as u32 + 1;
    }
    Ok(())
}

fn random_get(m: &mut Mem, ptr: u32, len: u32) -> Result<()> {
    m.check(ptr, u64::from(len))?;
    let mut buf = vec![0; (len as usize).min(CHUNK)];
    let mut done = 0;
    while done < len {
        let n = ((len - done) as usize).min(buf.len());
        getrandom::fill(&mut buf[..n]).map_err(|_| Errno::IO)?;
        m.write(ptr + done, &buf[..n])?;
        done += n as u32;
    }
    Ok(())
}
