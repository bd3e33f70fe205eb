//! System and port instructions: what the interpreter hands over for
//! [`Op::Slow`](super::code::Op::Slow), and the ports themselves.
//!
//! A port is a queue of byte messages, machine-wide, behind its own lock.
//! A context whose `precv` finds its port empty parks *in the port*
//! (`waiters`), owning nothing else; a `psend` takes one waiter out and
//! hands it to the sender's worker to run next, a `pclose` all of them.
//! The woken context runs its `precv` again, so a message is taken by
//! exactly one receiver whichever wakes first.

use super::memory::Memory;
use super::sched::{Local, Run};
use super::trap::TrapKind;
use super::{Context, MESSAGE_OVERHEAD};
use crate::isa::{Instr, Reg};
use std::collections::VecDeque;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError, RwLock};
use std::time::Duration;

/// What a system instruction did, when it did not trap.
pub(super) enum Effect {
    /// Go on with the next instruction.
    Next,
    /// `exit`: the machine ends with this status.
    Exit(u8),
    /// `sleep`: park this context for so long; the program counter moves past it.
    Sleep(Duration),
    /// `precv` on an empty open port: park this context on it; the program
    /// counter stays on the `precv`, which runs again when woken.
    Block(u64),
}

/// A message port.
#[derive(Default)]
struct Port {
    queue: VecDeque<Vec<u8>>,
    closed: bool,
    waiters: VecDeque<Context>,
}

/// Every port of a machine, and the bytes queued in them.
#[derive(Default)]
pub(super) struct Ports {
    list: RwLock<Vec<Mutex<Port>>>,
    /// Bytes queued, [`MESSAGE_OVERHEAD`] more for each message, against `max_port_bytes`.
    queued: AtomicU64,
}

impl Ports {
    /// Runs `f` on port `id` under its lock.
    fn with<T>(&self, id: u64, f: impl FnOnce(&mut Port) -> T) -> Result<T, TrapKind> {
        let list = self.list.read().unwrap_or_else(PoisonError::into_inner);
        let port = usize::try_from(id).ok().and_then(|i| list.get(i)).ok_or(TrapKind::BadPort(id as i64))?;
        let mut port = port.lock().unwrap_or_else(PoisonError::into_inner);
        Ok(f(&mut port))
    }

    /// Parks `ctx` on port `id`, unless a message or the close arrived
    /// since its `precv` looked: then it comes back, to run the `precv` again.
    pub(super) fn park(&self, id: u64, mut ctx: Context) -> Option<Context> {
        let list = self.list.read().unwrap_or_else(PoisonError::into_inner);
        let Some(port) = usize::try_from(id).ok().and_then(|i| list.get(i)) else { return Some(ctx) };
        let mut port = port.lock().unwrap_or_else(PoisonError::into_inner);
        if !port.queue.is_empty() || port.closed {
            return Some(ctx);
        }
        ctx.waiting_on = Some(id);
        port.waiters.push_back(ctx);
        None
    }

    /// Takes every parked context out (for a stop or a deadlock report).
    pub(super) fn take_waiters(&self) -> Vec<Context> {
        let list = self.list.read().unwrap_or_else(PoisonError::into_inner);
        let mut all = Vec::new();
        for port in list.iter() {
            all.extend(port.lock().unwrap_or_else(PoisonError::into_inner).waiters.drain(..));
        }
        all
    }
}

/// Runs a system or port instruction for `ctx`, whose registers are `regs`
/// (the interpreter's working copy) and memory `mem`.
pub(super) fn system(
    run: &Run,
    local: &mut Local,
    id: u32,
    instr: Instr,
    regs: &mut [u64; 256],
    mem: &mut Memory,
) -> Result<Effect, TrapKind> {
    let r = |x: Reg| regs[usize::from(x.0)];
    let out_err = |e: std::io::Error| TrapKind::OutputFailed(e.to_string());
    // The one register written, if any, and its value: set after the match.
    let mut result: Option<(Reg, u64)> = None;
    let mut set = |x: Reg, v: u64| result = Some((x, v));
    match instr {
        Instr::Write { fd, addr, len } => {
            let fd_value = r(fd) as i64;
            let bytes = mem.read_bytes(r(addr), r(len))?;
            let mut io = run.io();
            match fd_value {
                1 => io.out.write_all(&bytes).map_err(out_err)?,
                2 => {
                    let _ = io.out.flush();
                    io.err.write_all(&bytes).and_then(|_| io.err.flush()).map_err(out_err)?
                }
                fd => return Err(TrapKind::BadFileDescriptor(fd)),
            }
        }
        Instr::Read { rd, addr, cap } => {
            mem.check(r(addr), r(cap), super::Access::Write)?;
            // The thread waits for input: let the context it would run next go elsewhere.
            run.release_next(local);
            let mut buf = vec![0; r(cap).min(1 << 16) as usize];
            let mut io = run.io();
            let _ = io.out.flush();
            let n = loop {
                match io.input.read(&mut buf) {
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    other => break other.map_err(|e| TrapKind::InputFailed(e.to_string()))?,
                }
            };
            drop(io);
            mem.write_bytes(r(addr), &buf[..n])?;
            set(rd, n as u64);
        }
        Instr::Argc { rd } => set(rd, run.args.len() as u64),
        Instr::Arg { rd, index, addr, cap } => {
            let i = r(index);
            let arg =
                usize::try_from(i).ok().and_then(|i| run.args.get(i)).ok_or(TrapKind::BadArgumentIndex(i as i64))?;
            let n = (arg.len() as u64).min(r(cap));
            mem.write_bytes(r(addr), &arg[..n as usize])?;
            set(rd, arg.len() as u64);
        }
        Instr::Exit { rs } => return Ok(Effect::Exit(r(rs) as u8)),
        Instr::Clock { rd } => set(rd, run.started.elapsed().as_nanos() as u64),
        Instr::Sleep { rs } => {
            let ms = r(rs) as i64;
            if ms > 0 {
                return Ok(Effect::Sleep(Duration::from_millis(ms as u64)));
            }
        }
        Instr::Grow { rd, rs } => set(rd, mem.grow(r(rs))?),
        Instr::Printi { rs } => {
            let mut buf = itoa::Buffer::new();
            let text = buf.format(r(rs) as i64);
            let mut io = run.io();
            io.out.write_all(text.as_bytes()).and_then(|_| io.out.write_all(b"\n")).map_err(out_err)?;
        }
        Instr::Printf { rs, digits } => {
            let v = f64::from_bits(r(rs));
            let text = match digits {
                0..=17 => format!("{v:.*}\n", usize::from(digits)),
                _ => format!("{v:?}\n"),
            };
            run.io().out.write_all(text.as_bytes()).map_err(out_err)?;
        }
        Instr::Putc { rs } => run.io().out.write_all(&[r(rs) as u8]).map_err(out_err)?,
        Instr::Ctxid { rd } => set(rd, u64::from(id)),
        Instr::Fork { rd, target } => {
            let pc = run.code.index_of(target.0).expect("static targets are checked at load");
            let mut child_regs = Box::new([0u64; 256]);
            child_regs[..64].copy_from_slice(&regs[..64]);
            let child = run.fork(child_regs, pc, mem.fork())?;
            set(rd, u64::from(child));
        }
        Instr::Pnew { rd } => {
            let mut list = run.ports.list.write().unwrap_or_else(PoisonError::into_inner);
            if list.len() >= run.config.max_ports as usize {
                return Err(TrapKind::TooManyPorts(run.config.max_ports));
            }
            list.push(Mutex::default());
            set(rd, list.len() as u64 - 1);
        }
        Instr::Psend { port, addr, len } => {
            let id = r(port);
            run.ports.with(id, |_| ())?;
            let message = mem.read_bytes(r(addr), r(len))?;
            let cost = message.len() as u64 + MESSAGE_OVERHEAD;
            let limit = run.config.max_port_bytes;
            let queued = &run.ports.queued;
            if queued.fetch_add(cost, Ordering::Relaxed).saturating_add(cost) > limit {
                queued.fetch_sub(cost, Ordering::Relaxed);
                return Err(TrapKind::PortsFull { requested: cost, limit });
            }
            let unqueue = || queued.fetch_sub(cost, Ordering::Relaxed);
            if let Err(oom) = run.meter.charge(cost) {
                unqueue();
                return Err(oom);
            }
            let woken = run.ports.with(id, |p| match p.closed {
                true => Err(TrapKind::PortClosed(id as i64)),
                false => {
                    p.queue.push_back(message);
                    Ok(p.waiters.pop_front())
                }
            })?;
            match woken {
                Ok(Some(waiter)) => run.wake(local, waiter),
                Ok(None) => {}
                Err(closed) => {
                    unqueue();
                    run.meter.release(cost);
                    return Err(closed);
                }
            }
        }
        Instr::Precv { rd, port, addr, cap } | Instr::Ptry { rd, port, addr, cap } => {
            let id = r(port);
            let wait = matches!(instr, Instr::Precv { .. });
            let taken = run.ports.with(id, |p| match p.queue.pop_front() {
                Some(message) => {
                    let n = (message.len() as u64).min(r(cap));
                    match mem.write_bytes(r(addr), &message[..n as usize]) {
                        Ok(()) => Ok(Some(message.len() as u64)),
                        Err(fault) => {
                            // The instruction has no effect: the message stays first.
                            p.queue.push_front(message);
                            Err(fault)
                        }
                    }
                }
                None if p.closed => Ok(Some(-1i64 as u64)),
                None if wait => Ok(None),
                None => Ok(Some(-2i64 as u64)),
            })??;
            match taken {
                Some(len) => {
                    if len as i64 >= 0 {
                        run.ports.queued.fetch_sub(len + MESSAGE_OVERHEAD, Ordering::Relaxed);
                        run.meter.release(len + MESSAGE_OVERHEAD);
                    }
                    set(rd, len);
                }
                None => return Ok(Effect::Block(id)),
            }
        }
        Instr::Pclose { port } => {
            let woken = run.ports.with(r(port), |p| {
                p.closed = true;
                std::mem::take(&mut p.waiters)
            })?;
            for waiter in woken {
                run.wake(local, waiter);
            }
        }
        other => unreachable!("`{other}` is not a system instruction"),
    }
    if let Some((x, v)) = result {
        regs[usize::from(x.0)] = v;
    }
    Ok(Effect::Next)
}
