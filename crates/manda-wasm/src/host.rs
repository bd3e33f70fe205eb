//! The host functions a module may import, written as Manda code.
//!
//! Each is a body of [`Item`]s like a translated function's: parameters in
//! window registers 0…, the result in register 0. Supported:
//!
//! - `wasi_snapshot_preview1`: what wasi-libc needs for a program that
//!   uses arguments, standard input and output, clocks and exit (see
//!   `docs/manda/wasm.md` for each function's behaviour);
//! - `manda`: `fork`, ports, the context id and sleep (`include/manda.h`);
//! - `spectest`: the printing functions the spec testsuite imports, only
//!   when [`Options::spectest`](super::Options) is set.

use super::ir::{Item, Label, ZERO};
use manda::isa::{Addr, Instr, Reg, Target};
use wasmparser::ValType::{self, F32, F64, I32, I64};

/// The register `manda.fork` leaves the table index of the child's function in ([`REAL_FORK_FN`]).
pub const FORK_FN: u8 = 240;
/// The register `manda.fork` leaves the child's argument in ([`REAL_FORK_ARG`]).
pub const FORK_ARG: u8 = 241;
/// [`FORK_FN`]'s real register, `a42`: a child context starts with only the
/// a-registers of its parent, and `a1`–`a40` hold globals
/// ([`GLOBALS_IN_REGS`](super::ir::GLOBALS_IN_REGS)).
pub const REAL_FORK_FN: u8 = 42;
/// [`FORK_ARG`]'s real register, `a43`.
pub const REAL_FORK_ARG: u8 = 43;
const _: () = assert!(REAL_FORK_FN > super::ir::GLOBALS_IN_REGS && REAL_FORK_ARG < 64);

/// A host function: its signature and how to build its body.
pub struct Host {
    /// Import module.
    pub module: &'static str,
    /// Import name.
    pub name: &'static str,
    /// Parameter types.
    pub params: &'static [ValType],
    /// Result types.
    pub results: &'static [ValType],
    build: fn(&mut Builder),
}

/// Where the body of a host function may find the module's constants.
pub struct HostEnv {
    /// Address of the program name's bytes (argv[0]).
    pub name_addr: u64,
    /// Its length.
    pub name_len: u64,
}

/// Builds a host body.
pub struct Builder<'e> {
    /// The items.
    pub items: Vec<Item>,
    labels: u32,
    /// Registers used.
    pub size: u8,
    env: &'e HostEnv,
    /// Whether the body forks (needs the child entry).
    pub forks: bool,
}

fn v(x: u8) -> Reg {
    Reg(x)
}

const T: Target = Target(0);

impl Builder<'_> {
    fn label(&mut self) -> Label {
        self.labels += 1;
        self.labels - 1
    }
    fn ins(&mut self, i: Instr) {
        let probe = i;
        probe.map_regs(&mut |r| {
            if r.0 < super::ir::WINDOW {
                self.size = self.size.max(r.0 + 1);
            }
            r
        });
        self.items.push(Item::Ins(i));
    }
    fn jump(&mut self, i: Instr, l: Label) {
        self.items.push(Item::Jump(i, l));
    }
    fn bind(&mut self, l: Label) {
        self.items.push(Item::Bind(l));
    }
    /// `ret` with `value` in register 0.
    fn ret_imm(&mut self, value: i64) {
        self.ins(Instr::Li { rd: v(0), imm: value });
        self.items.push(Item::Return);
    }
    /// Register `rd` = the heap's first address (for the instructions that take addresses).
    fn heap_base(&mut self, rd: u8, tmp: u8) {
        self.ins(Instr::Grow { rd: v(rd), rs: v(ZERO) });
        self.ins(Instr::Hsize { rd: v(tmp) });
        self.ins(Instr::Sub { rd: v(rd), ra: v(rd), rb: v(tmp) });
    }
    /// Traps *out of bounds memory access* unless `ptr + len` ≤ the heap's size.
    fn check_range(&mut self, ptr: u8, len: u8, tmp: u8, tmp2: u8) {
        let ok = self.label();
        self.ins(Instr::Add { rd: v(tmp), ra: v(ptr), rb: v(len) });
        self.ins(Instr::Hsize { rd: v(tmp2) });
        self.jump(Instr::Bgeu { ra: v(tmp2), rb: v(tmp), target: T }, ok);
        self.ins(Instr::Trap { code: 4 });
        self.bind(ok);
    }
}

macro_rules! hosts {
    ($($module:literal . $name:ident ($($p:ident),*) -> ($($r:ident),*) $build:expr;)*) => {
        /// Every host function.
        pub const HOSTS: &[Host] = &[$(Host {
            module: $module,
            name: stringify!($name),
            params: &[$($p),*],
            results: &[$($r),*],
            build: $build,
        }),*];
    };
}

const EBADF: i64 = 8;
const EFAULT: i64 = 21;
const EINVAL: i64 = 28;
const ESPIPE: i64 = 70;

hosts! {
    "wasi_snapshot_preview1".fd_write(I32, I32, I32, I32) -> (I32) |b| io_vectors(b, true);
    "wasi_snapshot_preview1".fd_read(I32, I32, I32, I32) -> (I32) |b| io_vectors(b, false);
    "wasi_snapshot_preview1".proc_exit(I32) -> () |b| b.ins(Instr::Exit { rs: v(0) });
    "wasi_snapshot_preview1".args_sizes_get(I32, I32) -> (I32) args_sizes_get;
    "wasi_snapshot_preview1".args_get(I32, I32) -> (I32) args_get;
    "wasi_snapshot_preview1".environ_sizes_get(I32, I32) -> (I32) |b| {
        b.ins(Instr::Hst32 { rs: v(ZERO), ra: v(0), off: 0 });
        b.ins(Instr::Hst32 { rs: v(ZERO), ra: v(1), off: 0 });
        b.ret_imm(0);
    };
    "wasi_snapshot_preview1".environ_get(I32, I32) -> (I32) |b| b.ret_imm(0);
    "wasi_snapshot_preview1".clock_time_get(I32, I64, I32) -> (I32) clock_time_get;
    "wasi_snapshot_preview1".clock_res_get(I32, I32) -> (I32) |b| {
        let bad = b.label();
        b.ins(Instr::Li { rd: v(3), imm: 4 });
        b.jump(Instr::Bgeu { ra: v(0), rb: v(3), target: T }, bad);
        b.ins(Instr::Li { rd: v(3), imm: 1 });
        b.ins(Instr::Hst64 { rs: v(3), ra: v(1), off: 0 });
        b.ret_imm(0);
        b.bind(bad);
        b.ret_imm(EINVAL);
    };
    "wasi_snapshot_preview1".fd_close(I32) -> (I32) |b| std_fd_or_badf(b, |b| b.ret_imm(0));
    "wasi_snapshot_preview1".fd_seek(I32, I64, I32, I32) -> (I32) |b| std_fd_or_badf(b, |b| b.ret_imm(ESPIPE));
    "wasi_snapshot_preview1".fd_fdstat_get(I32, I32) -> (I32) |b| std_fd_or_badf(b, |b| {
        // A character device that may be read and written but not seeked.
        b.ins(Instr::Li { rd: v(2), imm: 2 });
        b.ins(Instr::Hst8 { rs: v(2), ra: v(1), off: 0 });
        b.ins(Instr::Hst16 { rs: v(ZERO), ra: v(1), off: 2 });
        b.ins(Instr::Hst32 { rs: v(ZERO), ra: v(1), off: 4 });
        b.ins(Instr::Li { rd: v(2), imm: (1 << 1) | (1 << 6) });
        b.ins(Instr::Hst64 { rs: v(2), ra: v(1), off: 8 });
        b.ins(Instr::Hst64 { rs: v(ZERO), ra: v(1), off: 16 });
        b.ret_imm(0);
    });
    "wasi_snapshot_preview1".fd_prestat_get(I32, I32) -> (I32) |b| b.ret_imm(EBADF);
    "wasi_snapshot_preview1".fd_prestat_dir_name(I32, I32, I32) -> (I32) |b| b.ret_imm(EBADF);
    "wasi_snapshot_preview1".sched_yield() -> (I32) |b| b.ret_imm(0);
    "manda".fork(I32, I32) -> (I32) |b| {
        b.ins(Instr::Mov { rd: v(FORK_FN), rs: v(0) });
        b.ins(Instr::Mov { rd: v(FORK_ARG), rs: v(1) });
        b.items.push(Item::Fork(0));
        b.forks = true;
        b.items.push(Item::Return);
    };
    "manda".ctxid() -> (I32) |b| {
        b.ins(Instr::Ctxid { rd: v(0) });
        b.items.push(Item::Return);
    };
    "manda".port_new() -> (I32) |b| {
        b.ins(Instr::Pnew { rd: v(0) });
        b.items.push(Item::Return);
    };
    "manda".port_send(I32, I32, I32) -> () |b| {
        port_buffer(b);
        b.ins(Instr::Psend { port: v(0), addr: v(1), len: v(2) });
        b.items.push(Item::Return);
    };
    "manda".port_recv(I32, I32, I32) -> (I32) |b| {
        port_buffer(b);
        b.ins(Instr::Precv { rd: v(0), port: v(0), addr: v(1), cap: v(2) });
        b.items.push(Item::Return);
    };
    "manda".port_try(I32, I32, I32) -> (I32) |b| {
        port_buffer(b);
        b.ins(Instr::Ptry { rd: v(0), port: v(0), addr: v(1), cap: v(2) });
        b.items.push(Item::Return);
    };
    "manda".port_close(I32) -> () |b| {
        b.ins(Instr::Pclose { port: v(0) });
        b.items.push(Item::Return);
    };
    "manda".sleep_ms(I32) -> () |b| {
        b.ins(Instr::Sleep { rs: v(0) });
        b.items.push(Item::Return);
    };
    "spectest".print() -> () |b| b.items.push(Item::Return);
    "spectest".print_i32(I32) -> () |b| print(b, &[I32]);
    "spectest".print_i64(I64) -> () |b| print(b, &[I64]);
    "spectest".print_f32(F32) -> () |b| print(b, &[F32]);
    "spectest".print_f64(F64) -> () |b| print(b, &[F64]);
    "spectest".print_i32_f32(I32, F32) -> () |b| print(b, &[I32, F32]);
    "spectest".print_f64_f64(F64, F64) -> () |b| print(b, &[F64, F64]);
}

/// The host function `module.name`, if there is one.
pub fn lookup(module: &str, name: &str, spectest: bool) -> Option<&'static Host> {
    HOSTS.iter().find(|h| h.module == module && h.name == name && (spectest || h.module != "spectest"))
}

impl Host {
    /// Builds the body.
    pub fn body(&self, env: &HostEnv) -> (Vec<Item>, u32, u8, bool) {
        let mut b = Builder { items: Vec::new(), labels: 0, size: self.params.len().max(1) as u8, env, forks: false };
        // Pointers and lengths are u32s: their registers hold them sign-extended.
        for (i, p) in self.params.iter().enumerate() {
            if *p == I32 {
                b.ins(Instr::Zext32 { rd: v(i as u8), rs: v(i as u8) });
            }
        }
        (self.build)(&mut b);
        if !matches!(b.items.last(), Some(Item::Return)) {
            b.items.push(Item::Return);
        }
        (b.items, b.labels, b.size, b.forks)
    }
}

fn print(b: &mut Builder, types: &[ValType]) {
    for (i, t) in types.iter().enumerate() {
        let rs = v(i as u8);
        b.ins(match t {
            F32 => Instr::Printf32 { rs },
            F64 => Instr::Printf { rs, digits: 255 },
            _ => Instr::Printi { rs },
        });
    }
}

/// Runs `ok` for fds 0–2, else returns EBADF.
fn std_fd_or_badf(b: &mut Builder, ok: fn(&mut Builder)) {
    let bad = b.label();
    b.ins(Instr::Li { rd: v(7), imm: 3 });
    b.jump(Instr::Bgeu { ra: v(0), rb: v(7), target: T }, bad);
    ok(b);
    b.bind(bad);
    b.ret_imm(EBADF);
}

/// `fd_write` (fds 1, 2) and `fd_read` (fd 0) over an array of iovecs.
fn io_vectors(b: &mut Builder, write: bool) {
    let (lp, done, badf, fault) = (b.label(), b.label(), b.label(), b.label());
    if write {
        b.ins(Instr::Addi { rd: v(4), ra: v(0), imm: -1 });
        b.ins(Instr::Li { rd: v(5), imm: 2 });
        b.jump(Instr::Bgeu { ra: v(4), rb: v(5), target: T }, badf);
    } else {
        b.jump(Instr::Bnez { rs: v(0), target: T }, badf);
    }
    b.heap_base(5, 6);
    b.ins(Instr::Li { rd: v(7), imm: 0 });
    b.bind(lp);
    b.jump(Instr::Beqz { rs: v(2), target: T }, done);
    b.ins(Instr::Hld32u { rd: v(8), ra: v(1), off: 0 });
    b.ins(Instr::Hld32u { rd: v(9), ra: v(1), off: 4 });
    b.ins(Instr::Add { rd: v(10), ra: v(8), rb: v(9) });
    b.jump(Instr::Bltu { ra: v(6), rb: v(10), target: T }, fault);
    b.ins(Instr::Add { rd: v(8), ra: v(8), rb: v(5) });
    if write {
        b.ins(Instr::Write { fd: v(0), addr: v(8), len: v(9) });
        b.ins(Instr::Add { rd: v(7), ra: v(7), rb: v(9) });
    } else {
        b.ins(Instr::Read { rd: v(10), addr: v(8), cap: v(9) });
        b.ins(Instr::Add { rd: v(7), ra: v(7), rb: v(10) });
        // A short read ends the call, as readv does.
        b.jump(Instr::Bltu { ra: v(10), rb: v(9), target: T }, done);
    }
    b.ins(Instr::Addi { rd: v(1), ra: v(1), imm: 8 });
    b.ins(Instr::Addi { rd: v(2), ra: v(2), imm: -1 });
    b.jump(Instr::Jmp { target: T }, lp);
    b.bind(done);
    b.ins(Instr::Hst32 { rs: v(7), ra: v(3), off: 0 });
    b.ret_imm(0);
    b.bind(badf);
    b.ret_imm(EBADF);
    b.bind(fault);
    b.ret_imm(EFAULT);
}

fn args_sizes_get(b: &mut Builder) {
    let (lp, done) = (b.label(), b.label());
    b.ins(Instr::Argc { rd: v(2) });
    b.ins(Instr::Addi { rd: v(3), ra: v(2), imm: 1 });
    b.ins(Instr::Hst32 { rs: v(3), ra: v(0), off: 0 });
    b.ins(Instr::Li { rd: v(4), imm: b.env.name_len as i64 + 1 });
    b.ins(Instr::Li { rd: v(5), imm: 0 });
    b.bind(lp);
    b.jump(Instr::Bgeu { ra: v(5), rb: v(2), target: T }, done);
    b.ins(Instr::Arg { rd: v(6), index: v(5), addr: v(ZERO), cap: v(ZERO) });
    b.ins(Instr::Add { rd: v(4), ra: v(4), rb: v(6) });
    b.ins(Instr::Addi { rd: v(4), ra: v(4), imm: 1 });
    b.ins(Instr::Addi { rd: v(5), ra: v(5), imm: 1 });
    b.jump(Instr::Jmp { target: T }, lp);
    b.bind(done);
    b.ins(Instr::Hst32 { rs: v(4), ra: v(1), off: 0 });
    b.ret_imm(0);
}

fn args_get(b: &mut Builder) {
    let (lp, done) = (b.label(), b.label());
    b.heap_base(5, 6);
    b.ins(Instr::Hst32 { rs: v(1), ra: v(0), off: 0 });
    b.ins(Instr::La { rd: v(6), addr: Addr(b.env.name_addr) });
    b.ins(Instr::Li { rd: v(7), imm: b.env.name_len as i64 });
    b.ins(Instr::Hput { dst: v(1), src: v(6), len: v(7) });
    b.ins(Instr::Add { rd: v(1), ra: v(1), rb: v(7) });
    b.ins(Instr::Hst8 { rs: v(ZERO), ra: v(1), off: 0 });
    b.ins(Instr::Addi { rd: v(1), ra: v(1), imm: 1 });
    b.ins(Instr::Argc { rd: v(2) });
    b.ins(Instr::Li { rd: v(3), imm: 0 });
    b.bind(lp);
    b.jump(Instr::Bgeu { ra: v(3), rb: v(2), target: T }, done);
    b.ins(Instr::Addi { rd: v(0), ra: v(0), imm: 4 });
    b.ins(Instr::Hst32 { rs: v(1), ra: v(0), off: 0 });
    // The argument's length first, so that its bytes are checked to lie in the heap.
    b.ins(Instr::Arg { rd: v(10), index: v(3), addr: v(ZERO), cap: v(ZERO) });
    b.check_range(1, 10, 11, 12);
    b.ins(Instr::Add { rd: v(8), ra: v(1), rb: v(5) });
    b.ins(Instr::Arg { rd: v(10), index: v(3), addr: v(8), cap: v(10) });
    b.ins(Instr::Add { rd: v(1), ra: v(1), rb: v(10) });
    b.ins(Instr::Hst8 { rs: v(ZERO), ra: v(1), off: 0 });
    b.ins(Instr::Addi { rd: v(1), ra: v(1), imm: 1 });
    b.ins(Instr::Addi { rd: v(3), ra: v(3), imm: 1 });
    b.jump(Instr::Jmp { target: T }, lp);
    b.bind(done);
    b.ret_imm(0);
}

/// Realtime (0) is the host's wall clock; the monotonic (1) and the CPU
/// time clocks (2, 3) are the machine's monotonic clock.
fn clock_time_get(b: &mut Builder) {
    let (store, not_realtime, bad) = (b.label(), b.label(), b.label());
    b.jump(Instr::Bnez { rs: v(0), target: T }, not_realtime);
    b.ins(Instr::Now { rd: v(3) });
    b.jump(Instr::Jmp { target: T }, store);
    b.bind(not_realtime);
    b.ins(Instr::Li { rd: v(4), imm: 4 });
    b.jump(Instr::Bgeu { ra: v(0), rb: v(4), target: T }, bad);
    b.ins(Instr::Clock { rd: v(3) });
    b.bind(store);
    b.ins(Instr::Hst64 { rs: v(3), ra: v(2), off: 0 });
    b.ret_imm(0);
    b.bind(bad);
    b.ret_imm(EINVAL);
}

/// Registers 1 (pointer) and 2 (length) of a port call: checked against the heap, 1 made an address.
fn port_buffer(b: &mut Builder) {
    b.check_range(1, 2, 3, 4);
    b.heap_base(5, 6);
    b.ins(Instr::Add { rd: v(1), ra: v(1), rb: v(5) });
}
