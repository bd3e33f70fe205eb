//! The numbers of `wasi_snapshot_preview1.witx`: errnos, rights, flags,
//! file types and the byte layouts of the structures a call reads and
//! writes in the program's memory, and the table of every function.

/// A WASI errno: what a call returns (0 is success).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Errno(pub u16);

macro_rules! errnos {
    ($($name:ident = $n:literal,)*) => {
        impl Errno {
            $(#[doc = concat!("`", stringify!($name), "`.")] pub const $name: Errno = Errno($n);)*
        }
    };
}

errnos! {
    SUCCESS = 0, TOOBIG = 1, ACCES = 2, AGAIN = 6, BADF = 8, BUSY = 10, EXIST = 20, FAULT = 21,
    FBIG = 22, ILSEQ = 25, INTR = 27, INVAL = 28, IO = 29, ISDIR = 31, LOOP = 32, MFILE = 33,
    MLINK = 34, NAMETOOLONG = 37, NFILE = 41, NODEV = 43, NOENT = 44, NOMEM = 48, NOSPC = 51,
    NOSYS = 52, NOTDIR = 54, NOTEMPTY = 55, NOTSUP = 58, NOTTY = 59, NXIO = 60, OVERFLOW = 61,
    PERM = 63, PIPE = 64, RANGE = 68, ROFS = 69, SPIPE = 70, TXTBSY = 74, XDEV = 75,
    NOTCAPABLE = 76,
}

impl Errno {
    /// The errno for a host I/O error. A path that would lead out of a
    /// granted directory (cap-std's refusal carries no OS code) is
    /// `notcapable`.
    pub fn from_io(e: &std::io::Error) -> Errno {
        let Some(code) = e.raw_os_error() else {
            return match e.kind() {
                std::io::ErrorKind::PermissionDenied => Errno::NOTCAPABLE,
                std::io::ErrorKind::NotFound => Errno::NOENT,
                std::io::ErrorKind::InvalidInput => Errno::INVAL,
                std::io::ErrorKind::AlreadyExists => Errno::EXIST,
                std::io::ErrorKind::OutOfMemory => Errno::NOMEM,
                _ => Errno::IO,
            };
        };
        // Linux's numbers, which every host this runs on shares for these.
        match code {
            1 => Errno::PERM,
            2 => Errno::NOENT,
            5 => Errno::IO,
            6 => Errno::NXIO,
            7 => Errno::TOOBIG,
            9 => Errno::BADF,
            11 => Errno::AGAIN,
            12 => Errno::NOMEM,
            13 => Errno::ACCES,
            14 => Errno::FAULT,
            16 => Errno::BUSY,
            17 => Errno::EXIST,
            18 => Errno::XDEV,
            19 => Errno::NODEV,
            20 => Errno::NOTDIR,
            21 => Errno::ISDIR,
            22 => Errno::INVAL,
            23 => Errno::NFILE,
            24 => Errno::MFILE,
            25 => Errno::NOTTY,
            26 => Errno::TXTBSY,
            27 => Errno::FBIG,
            28 => Errno::NOSPC,
            29 => Errno::SPIPE,
            30 => Errno::ROFS,
            31 => Errno::MLINK,
            32 => Errno::PIPE,
            34 => Errno::RANGE,
            36 => Errno::NAMETOOLONG,
            38 => Errno::NOSYS,
            39 => Errno::NOTEMPTY,
            40 => Errno::LOOP,
            75 => Errno::OVERFLOW,
            84 => Errno::ILSEQ,
            95 => Errno::NOTSUP,
            _ => Errno::IO,
        }
    }
}

/// Rights: what a descriptor may be used for (bit numbers of the witx).
pub mod rights {
    #![allow(missing_docs)]
    pub const FD_DATASYNC: u64 = 1 << 0;
    pub const FD_READ: u64 = 1 << 1;
    pub const FD_SEEK: u64 = 1 << 2;
    pub const FD_FDSTAT_SET_FLAGS: u64 = 1 << 3;
    pub const FD_SYNC: u64 = 1 << 4;
    pub const FD_TELL: u64 = 1 << 5;
    pub const FD_WRITE: u64 = 1 << 6;
    pub const FD_ADVISE: u64 = 1 << 7;
    pub const FD_ALLOCATE: u64 = 1 << 8;
    pub const PATH_CREATE_DIRECTORY: u64 = 1 << 9;
    pub const PATH_CREATE_FILE: u64 = 1 << 10;
    pub const PATH_LINK_SOURCE: u64 = 1 << 11;
    pub const PATH_LINK_TARGET: u64 = 1 << 12;
    pub const PATH_OPEN: u64 = 1 << 13;
    pub const FD_READDIR: u64 = 1 << 14;
    pub const PATH_READLINK: u64 = 1 << 15;
    pub const PATH_RENAME_SOURCE: u64 = 1 << 16;
    pub const PATH_RENAME_TARGET: u64 = 1 << 17;
    pub const PATH_FILESTAT_GET: u64 = 1 << 18;
    pub const PATH_FILESTAT_SET_SIZE: u64 = 1 << 19;
    pub const PATH_FILESTAT_SET_TIMES: u64 = 1 << 20;
    pub const FD_FILESTAT_GET: u64 = 1 << 21;
    pub const FD_FILESTAT_SET_SIZE: u64 = 1 << 22;
    pub const FD_FILESTAT_SET_TIMES: u64 = 1 << 23;
    pub const PATH_SYMLINK: u64 = 1 << 24;
    pub const PATH_REMOVE_DIRECTORY: u64 = 1 << 25;
    pub const PATH_UNLINK_FILE: u64 = 1 << 26;
    pub const POLL_FD_READWRITE: u64 = 1 << 27;
    pub const SOCK_SHUTDOWN: u64 = 1 << 28;
    pub const SOCK_ACCEPT: u64 = 1 << 29;

    /// What a regular file's descriptor may be given.
    pub const FILE: u64 = FD_DATASYNC
        | FD_READ
        | FD_SEEK
        | FD_FDSTAT_SET_FLAGS
        | FD_SYNC
        | FD_TELL
        | FD_WRITE
        | FD_ADVISE
        | FD_ALLOCATE
        | FD_FILESTAT_GET
        | FD_FILESTAT_SET_SIZE
        | FD_FILESTAT_SET_TIMES
        | POLL_FD_READWRITE;
    /// What a directory's descriptor may be given.
    pub const DIRECTORY: u64 = FD_FDSTAT_SET_FLAGS
        | FD_SYNC
        | FD_ADVISE
        | PATH_CREATE_DIRECTORY
        | PATH_CREATE_FILE
        | PATH_LINK_SOURCE
        | PATH_LINK_TARGET
        | PATH_OPEN
        | FD_READDIR
        | PATH_READLINK
        | PATH_RENAME_SOURCE
        | PATH_RENAME_TARGET
        | PATH_FILESTAT_GET
        | PATH_FILESTAT_SET_SIZE
        | PATH_FILESTAT_SET_TIMES
        | FD_FILESTAT_GET
        | FD_FILESTAT_SET_TIMES
        | PATH_SYMLINK
        | PATH_REMOVE_DIRECTORY
        | PATH_UNLINK_FILE
        | POLL_FD_READWRITE;
    /// Standard input, output and error: a character device, read or written, never seeked.
    pub const STDIO: u64 = FD_READ | FD_WRITE | FD_FDSTAT_SET_FLAGS | FD_FILESTAT_GET | POLL_FD_READWRITE;
}

/// File types.
pub mod filetype {
    #![allow(missing_docs)]
    pub const UNKNOWN: u8 = 0;
    pub const BLOCK_DEVICE: u8 = 1;
    pub const CHARACTER_DEVICE: u8 = 2;
    pub const DIRECTORY: u8 = 3;
    pub const REGULAR_FILE: u8 = 4;
    pub const SOCKET_STREAM: u8 = 6;
    pub const SYMBOLIC_LINK: u8 = 7;
}

/// `fdflags`.
pub mod fdflags {
    #![allow(missing_docs)]
    pub const APPEND: u16 = 1;
    pub const DSYNC: u16 = 2;
    pub const NONBLOCK: u16 = 4;
    pub const RSYNC: u16 = 8;
    pub const SYNC: u16 = 16;
    pub const ALL: u16 = 31;
}

/// `oflags` of `path_open`.
pub mod oflags {
    #![allow(missing_docs)]
    pub const CREAT: u16 = 1;
    pub const DIRECTORY: u16 = 2;
    pub const EXCL: u16 = 4;
    pub const TRUNC: u16 = 8;
}

/// `fstflags` of the set-times calls.
pub mod fstflags {
    #![allow(missing_docs)]
    pub const ATIM: u16 = 1;
    pub const ATIM_NOW: u16 = 2;
    pub const MTIM: u16 = 4;
    pub const MTIM_NOW: u16 = 8;
}

/// `lookupflags`: follow a symbolic link in the last component.
pub const SYMLINK_FOLLOW: u32 = 1;

/// The clocks.
pub mod clock {
    #![allow(missing_docs)]
    pub const REALTIME: u32 = 0;
    pub const MONOTONIC: u32 = 1;
    pub const PROCESS_CPUTIME: u32 = 2;
    pub const THREAD_CPUTIME: u32 = 3;
}

/// Byte sizes of the structures.
pub mod size {
    #![allow(missing_docs)]
    pub const IOVEC: u64 = 8;
    pub const FDSTAT: usize = 24;
    pub const FILESTAT: usize = 64;
    pub const PRESTAT: usize = 8;
    pub const DIRENT: usize = 24;
    pub const SUBSCRIPTION: u64 = 48;
    pub const EVENT: usize = 32;
}

/// A value type of a function's signature: WASI uses i32 and i64 only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ty {
    /// i32.
    I32,
    /// i64.
    I64,
}

/// One function of `wasi_snapshot_preview1`: its number is its index in [`FUNCTIONS`].
#[derive(Debug)]
pub struct Function {
    /// Its import name.
    pub name: &'static str,
    /// Its parameters.
    pub params: &'static [Ty],
    /// Whether it returns an errno (every one does but `proc_exit`).
    pub returns: bool,
}

use Ty::{I32, I64};

macro_rules! functions {
    ($($name:ident ($($p:ident),*) $(-> $r:ident)?;)*) => {
        /// Every function of `wasi_snapshot_preview1`, in the order of the
        /// witx: a function's index is the number Manda's `wasi` instruction names it by.
        pub const FUNCTIONS: &[Function] = &[$(Function {
            name: stringify!($name),
            params: &[$($p),*],
            returns: functions!(@returns $($r)?),
        }),*];
        /// The functions' numbers, by name.
        #[allow(non_camel_case_types, missing_docs)]
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        #[repr(u8)]
        pub enum Call { $($name),* }
        impl Call {
            /// The function numbered `n`.
            pub fn from_number(n: u8) -> Option<Call> {
                const ALL: &[Call] = &[$(Call::$name),*];
                ALL.get(usize::from(n)).copied()
            }
        }
    };
    (@returns errno) => { true };
    (@returns) => { false };
}

functions! {
    args_get(I32, I32) -> errno;
    args_sizes_get(I32, I32) -> errno;
    environ_get(I32, I32) -> errno;
    environ_sizes_get(I32, I32) -> errno;
    clock_res_get(I32, I32) -> errno;
    clock_time_get(I32, I64, I32) -> errno;
    fd_advise(I32, I64, I64, I32) -> errno;
    fd_allocate(I32, I64, I64) -> errno;
    fd_close(I32) -> errno;
    fd_datasync(I32) -> errno;
    fd_fdstat_get(I32, I32) -> errno;
    fd_fdstat_set_flags(I32, I32) -> errno;
    fd_fdstat_set_rights(I32, I64, I64) -> errno;
    fd_filestat_get(I32, I32) -> errno;
    fd_filestat_set_size(I32, I64) -> errno;
    fd_filestat_set_times(I32, I64, I64, I32) -> errno;
    fd_pread(I32, I32, I32, I64, I32) -> errno;
    fd_prestat_get(I32, I32) -> errno;
    fd_prestat_dir_name(I32, I32, I32) -> errno;
    fd_pwrite(I32, I32, I32, I64, I32) -> errno;
    fd_read(I32, I32, I32, I32) -> errno;
    fd_readdir(I32, I32, I32, I64, I32) -> errno;
    fd_renumber(I32, I32) -> errno;
    fd_seek(I32, I64, I32, I32) -> errno;
    fd_sync(I32) -> errno;
    fd_tell(I32, I32) -> errno;
    fd_write(I32, I32, I32, I32) -> errno;
    path_create_directory(I32, I32, I32) -> errno;
    path_filestat_get(I32, I32, I32, I32, I32) -> errno;
    path_filestat_set_times(I32, I32, I32, I32, I64, I64, I32) -> errno;
    path_link(I32, I32, I32, I32, I32, I32, I32) -> errno;
    path_open(I32, I32, I32, I32, I32, I64, I64, I32, I32) -> errno;
    path_readlink(I32, I32, I32, I32, I32, I32) -> errno;
    path_remove_directory(I32, I32, I32) -> errno;
    path_rename(I32, I32, I32, I32, I32, I32) -> errno;
    path_symlink(I32, I32, I32, I32, I32) -> errno;
    path_unlink_file(I32, I32, I32) -> errno;
    poll_oneoff(I32, I32, I32, I32) -> errno;
    proc_exit(I32);
    proc_raise(I32) -> errno;
    sched_yield() -> errno;
    random_get(I32, I32) -> errno;
    sock_accept(I32, I32, I32) -> errno;
    sock_recv(I32, I32, I32, I32, I32, I32) -> errno;
    sock_send(I32, I32, I32, I32, I32) -> errno;
    sock_shutdown(I32, I32) -> errno;
}

/// The most parameters a function takes (`path_open`'s nine).
pub const MAX_PARAMS: usize = 9;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_has_the_46_functions_of_the_witx_in_order() {
        assert_eq!(FUNCTIONS.len(), 46);
        assert_eq!(FUNCTIONS.iter().map(|f| f.params.len()).max(), Some(MAX_PARAMS));
        assert_eq!(Call::from_number(31), Some(Call::path_open));
        assert_eq!(FUNCTIONS[31].name, "path_open");
        assert_eq!(Call::from_number(46), None);
        assert!(FUNCTIONS.iter().all(|f| f.returns == (f.name != "proc_exit")));
    }
}
