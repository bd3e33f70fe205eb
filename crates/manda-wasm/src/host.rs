//! The host functions a module may import, written as Manda code.
//!
//! Each is a body of [`Item`]s like a translated function's: parameters in
//! window registers 0…, the result in register 0. Supported:
//!
//! - `wasi_snapshot_preview1`: all of it, each function one `wasi`
//!   instruction naming it by its number in `manda_wasi::FUNCTIONS` (the
//!   machine runs it: see `docs/manda/wasm.md` for each one's behaviour);
//! - `manda`: `fork`, ports, the context id and sleep (`include/manda.h`);
//! - `spectest`: the printing functions the spec testsuite imports, only
//!   when [`Options::spectest`](super::Options) is set.

use super::ir::{Item, Label, ZERO};
use manda::isa::{Instr, Reg, Target};
use std::sync::LazyLock;
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
    body: Body,
}

/// How a host function's body is made.
enum Body {
    /// Built by this function.
    Code(fn(&mut Builder)),
    /// One `wasi` instruction calling WASI function number N.
    Wasi(u8),
}

/// Builds a host body.
pub struct Builder {
    /// The items.
    pub items: Vec<Item>,
    labels: u32,
    /// Registers used.
    pub size: u8,
    /// Whether the body forks (needs the child entry).
    pub forks: bool,
}

fn v(x: u8) -> Reg {
    Reg(x)
}

const T: Target = Target(0);

impl Builder {
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
            body: Body::Code($build),
        }),*];
    };
}

hosts! {
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

/// The functions of `wasi_snapshot_preview1`, from the machine's table.
static WASI: LazyLock<Vec<Host>> = LazyLock::new(|| {
    manda_wasi::FUNCTIONS
        .iter()
        .enumerate()
        .map(|(n, f)| {
            let params: Vec<ValType> =
                f.params.iter().map(|p| if *p == manda_wasi::Ty::I64 { I64 } else { I32 }).collect();
            Host {
                module: "wasi_snapshot_preview1",
                name: f.name,
                params: params.leak(),
                results: if f.returns { &[I32] } else { &[] },
                body: Body::Wasi(n as u8),
            }
        })
        .collect()
});

/// The host function `module.name`, if there is one.
pub fn lookup(module: &str, name: &str, spectest: bool) -> Option<&'static Host> {
    HOSTS
        .iter()
        .chain(WASI.iter())
        .find(|h| h.module == module && h.name == name && (spectest || h.module != "spectest"))
}

impl Host {
    /// Builds the body.
    pub fn body(&self) -> (Vec<Item>, u32, u8, bool) {
        let mut b = Builder { items: Vec::new(), labels: 0, size: self.params.len().max(1) as u8, forks: false };
        // Pointers and lengths are u32s: their registers hold them sign-extended.
        for (i, p) in self.params.iter().enumerate() {
            if *p == I32 {
                b.ins(Instr::Zext32 { rd: v(i as u8), rs: v(i as u8) });
            }
        }
        match self.body {
            Body::Code(build) => build(&mut b),
            // The arguments are in window registers 0…, consecutive in real terms too.
            Body::Wasi(call) => b.ins(Instr::Wasi { rd: v(0), call, args: v(0) }),
        }
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

/// Registers 1 (pointer) and 2 (length) of a port call: checked against the heap, 1 made an address.
fn port_buffer(b: &mut Builder) {
    b.check_range(1, 2, 3, 4);
    b.heap_base(5, 6);
    b.ins(Instr::Add { rd: v(1), ra: v(1), rb: v(5) });
}
