//! System and port instructions: what the interpreter hands over for the
//! ops of [`Op::is_system`](super::code::Op::is_system), and the ports themselves.
//!
//! A port is a queue of byte messages, machine-wide, behind its own lock.
//! A context whose `precv` finds its port empty parks *in the port*
//! (`waiters`), owning nothing else; a `psend` takes one waiter out and
//! hands it to the sender's worker to run next, a `pclose` all of them.
//! The woken context runs its `precv` again, so a message is taken by
//! exactly one receiver whichever wakes first.

use super::memory::Memory;
use super::ports::Port;
use super::trap::TrapKind;
use super::workers::{Local, Workers};
use super::{Context, MESSAGE_OVERHEAD};
use crate::isa::{Instr, Reg};
use std::io::Write;
use std::sync::atomic::Ordering;
use std::sync::PoisonError;
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

/// Calls `f(chunk, offset)` over `len` bytes in chunks of one buffer of at
/// most 64 KiB (a large copy or write allocates no copy of itself), from
/// the start, or from the end when `backwards` (an overlapping copy to a
/// higher address). The chunk holds zeros, or what the previous call left.
fn in_chunks(
    len: u64,
    backwards: bool,
    mut f: impl FnMut(&mut [u8], u64) -> Result<(), TrapKind>,
) -> Result<(), TrapKind> {
    let mut buf = vec![0; len.min(1 << 16) as usize];
    let mut done = 0;
    while done < len {
        let n = (len - done).min(buf.len() as u64);
        let at = if backwards { len - done - n } else { done };
        f(&mut buf[..n as usize], at)?;
        done += n;
    }
    Ok(())
}

/// Counts `cost` bytes of messages against `--max-port-bytes` and the memory limit.
fn charge(run: &Workers, cost: u64) -> Result<(), TrapKind> {
    let limit = run.config.max_port_bytes;
    let queued = &run.ports.queued;
    if queued.fetch_add(cost, Ordering::Relaxed).saturating_add(cost) > limit {
        queued.fetch_sub(cost, Ordering::Relaxed);
        return Err(TrapKind::PortsFull { requested: cost, limit });
    }
    if let Err(oom) = run.meter.charge(cost) {
        queued.fetch_sub(cost, Ordering::Relaxed);
        return Err(oom);
    }
    Ok(())
}

/// Gives back what [`charge`] took.
fn uncharge(run: &Workers, cost: u64) {
    run.ports.queued.fetch_sub(cost, Ordering::Relaxed);
    run.meter.release(cost);
}

/// Queues `message` on a port, counted against both limits (unless
/// `counted` already).
fn enqueue(run: &Workers, port: &mut Port, message: Vec<u8>, counted: bool) -> Result<(), TrapKind> {
    if !counted {
        charge(run, message.len() as u64 + MESSAGE_OVERHEAD)?;
    }
    port.queue.push_back(message);
    Ok(())
}

/// Completes the `precv` a parked receiver waits in with `message`, as if
/// it had run it: the first bytes in its buffer, the length in its rd, its
/// program counter past it. `Err` (the receiver untouched) if its buffer
/// faults: then it must run the `precv` itself, to trap.
fn hand_off(run: &Workers, mut waiter: Box<Context>, message: &[u8]) -> Result<Box<Context>, Box<Context>> {
    let Some(Instr::Precv { rd, addr, cap, .. }) = run.code.instr(waiter.pc as usize) else { return Err(waiter) };
    let (addr, cap) = (waiter.regs[usize::from(addr.0)], waiter.regs[usize::from(cap.0)]);
    let n = (message.len() as u64).min(cap) as usize;
    let Context { mem, .. } = &mut *waiter;
    if mem.write_from(addr, &message[..n]).is_err() {
        return Err(waiter);
    }
    waiter.regs[usize::from(rd.0)] = message.len() as u64;
    waiter.pc += 1;
    Ok(waiter)
}

/// The heap's first address, if `len` bytes at heap offset `offset` are in the heap.
fn heap_range(mem: &Memory, offset: u64, len: u64) -> Result<u64, TrapKind> {
    let size = mem.end() - mem.heap_base();
    match offset + len <= size {
        true => Ok(mem.heap_base()),
        false => Err(TrapKind::OutOfBounds { offset, len, size }),
    }
}

/// What a WASI call sees of the machine: the heap of the calling
/// context, the machine's standard streams and its clock.
struct WasiGuest<'a, 'm> {
    run: &'a Workers<'m>,
    /// Given up (to let the next context run elsewhere) before the first wait for input.
    local: Option<&'a mut Local>,
    mem: &'a mut Memory,
}

impl manda_wasi::Guest for WasiGuest<'_, '_> {
    fn memory_size(&self) -> u64 {
        self.mem.end() - self.mem.heap_base()
    }

    fn read_memory(&mut self, offset: u64, buf: &mut [u8]) -> bool {
        offset + buf.len() as u64 <= self.memory_size()
            && self.mem.read_into(self.mem.heap_base() + offset, buf).is_ok()
    }

    fn write_memory(&mut self, offset: u64, bytes: &[u8]) -> bool {
        offset + bytes.len() as u64 <= self.memory_size()
            && self.mem.write_from(self.mem.heap_base() + offset, bytes).is_ok()
    }

    fn write_output(&mut self, fd: u32, bytes: &[u8]) -> std::io::Result<()> {
        let mut io = self.run.io();
        let stream = io.output(u64::from(fd));
        stream.write_all(bytes)?;
        // A write, as in every runtime: its bytes reach the reader now.
        stream.flush()
    }

    fn read_input(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if let Some(local) = self.local.take() {
            // The thread waits for input: let the context it would run next go elsewhere.
            self.run.release_next(local);
        }
        self.run.io().read_input(buf)
    }

    fn monotonic_ns(&self) -> u64 {
        self.run.started.elapsed().as_nanos() as u64
    }
}

/// Runs a system or port instruction for context `id`, whose registers
/// are `regs` (the interpreter's working copy, current for every register
/// the program names) and `saved` (the context's own, current for the
/// others; `None` when `regs` is the context's own), and memory `mem`.
pub(super) fn system(
    run: &Workers,
    local: &mut Local,
    id: u64,
    instr: Instr,
    regs: &mut [u64; 256],
    saved: Option<&[u64; 256]>,
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
            if fd_value != 1 && fd_value != 2 {
                return Err(TrapKind::BadFileDescriptor(fd_value));
            }
            mem.check(r(addr), r(len), super::Access::Read)?;
            let mut io = run.io();
            let stream = io.output(fd_value as u64);
            in_chunks(r(len), false, |chunk, at| {
                mem.read_into(r(addr) + at, chunk)?;
                stream.write_all(chunk).map_err(out_err)
            })?;
            // `write` is a write, as `fd_write` is in every runtime: its bytes
            // reach the reader now, not when a buffer fills.
            stream.flush().map_err(out_err)?;
        }
        Instr::Read { rd, addr, cap } => {
            mem.check(r(addr), r(cap), super::Access::Write)?;
            // The thread waits for input: let the context it would run next go elsewhere.
            run.release_next(local);
            let mut buf = vec![0; r(cap).min(1 << 16) as usize];
            let n = run.io().read_input(&mut buf).map_err(|e| TrapKind::InputFailed(e.to_string()))?;
            mem.write_from(r(addr), &buf[..n])?;
            set(rd, n as u64);
        }
        Instr::Argc { rd } => set(rd, run.args.len() as u64),
        Instr::Arg { rd, index, addr, cap } => {
            let i = r(index);
            let arg =
                usize::try_from(i).ok().and_then(|i| run.args.get(i)).ok_or(TrapKind::BadArgumentIndex(i as i64))?;
            let n = (arg.len() as u64).min(r(cap));
            mem.write_from(r(addr), &arg[..n as usize])?;
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
        Instr::Grow { rd, rs } => {
            set(rd, mem.grow(r(rs))?);
        }
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
        Instr::Ctxid { rd } => set(rd, id),
        Instr::Fork { rd, target } => {
            let pc = run.code.index_of(target.0).expect("static targets are checked at load");
            let mut child_regs = Box::new([0u64; 256]);
            child_regs[..64].copy_from_slice(&saved.unwrap_or(&*regs)[..64]);
            for span in &run.code.used_regs {
                let a = span.start.min(64)..span.end.min(64);
                child_regs[a.clone()].copy_from_slice(&regs[a]);
            }
            let child = run.fork(local, child_regs, pc, mem.fork())?;
            set(rd, child);
        }
        Instr::Pnew { rd } => set(rd, run.ports.push(run.config.max_ports, run.meter)?),
        Instr::Psend { port, addr, len } => {
            let id = r(port);
            let port = run.ports.get(id)?;
            mem.check(r(addr), r(len), super::Access::Read)?;
            // Small messages are read onto the stack: one handed straight
            // to a waiting receiver is never allocated. A larger one is
            // counted against the limits before it is (and given back if
            // it is handed over rather than queued).
            let n = r(len);
            let counted = n > 64;
            let mut small = [0u8; 64];
            let mut large = Vec::new();
            let cost = n + MESSAGE_OVERHEAD;
            if counted {
                charge(run, cost)?;
                large.resize(n as usize, 0);
            }
            let uncount = || {
                if counted {
                    uncharge(run, cost);
                }
            };
            let read = match counted {
                true => mem.read_into(r(addr), &mut large),
                false => mem.read_into(r(addr), &mut small[..n as usize]),
            };
            if let Err(fault) = read {
                uncount();
                return Err(fault);
            }
            // The message, owned for the queue: the large buffer itself, or a copy of the small one.
            let owned = |large: &mut Vec<u8>| match counted {
                true => std::mem::take(large),
                false => small[..n as usize].to_vec(),
            };
            let mut p = port.lock().unwrap_or_else(PoisonError::into_inner);
            if p.closed {
                uncount();
                return Err(TrapKind::PortClosed(id as i64));
            }
            if p.queue.is_empty() && run.hand_off {
                if let Some(waiter) = p.waiters.pop_front() {
                    drop(p);
                    let message = if counted { &large[..] } else { &small[..n as usize] };
                    match hand_off(run, waiter, message) {
                        Ok(waiter) => {
                            uncount();
                            run.wake(local, waiter);
                        }
                        // Its buffer faults: it takes the message itself, and traps.
                        Err(waiter) => {
                            let queued = enqueue(
                                run,
                                &mut port.lock().unwrap_or_else(PoisonError::into_inner),
                                owned(&mut large),
                                counted,
                            );
                            // Woken even if the message could not be queued: the machine keeps it.
                            run.wake(local, waiter);
                            queued?;
                        }
                    }
                    return Ok(Effect::Next);
                }
            }
            enqueue(run, &mut p, owned(&mut large), counted)?;
            let woken = p.waiters.pop_front();
            drop(p);
            if let Some(waiter) = woken {
                run.wake(local, waiter);
            }
        }
        Instr::Precv { rd, port, addr, cap } | Instr::Ptry { rd, port, addr, cap } => {
            let id = r(port);
            let wait = matches!(instr, Instr::Precv { .. });
            let taken = run.ports.with(id, |p| match p.queue.pop_front() {
                Some(message) => {
                    let n = (message.len() as u64).min(r(cap));
                    match mem.write_from(r(addr), &message[..n as usize]) {
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
                        uncharge(run, len + MESSAGE_OVERHEAD);
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
        Instr::Printf32 { rs } => {
            let text = format!("{:?}\n", f32::from_bits(r(rs) as u32));
            run.io().out.write_all(text.as_bytes()).map_err(out_err)?;
        }
        Instr::Now { rd } => {
            let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
            set(rd, since.map_or(0, |d| d.as_nanos() as u64));
        }
        Instr::Hsize { rd } => set(rd, mem.end() - mem.heap_base()),
        Instr::Hgrow { rd, rs } => {
            let size = mem.end() - mem.heap_base();
            set(rd, mem.grow(r(rs)).map_or(u64::MAX, |_| size));
        }
        Instr::Hcopy { dst, src, len } => {
            let (dst, src, len) = (u64::from(r(dst) as u32), u64::from(r(src) as u32), u64::from(r(len) as u32));
            let base = heap_range(mem, dst, len).and(heap_range(mem, src, len))?;
            // In the direction that never overwrites bytes not yet read.
            in_chunks(len, dst > src, |chunk, at| {
                mem.read_into(base + src + at, chunk)?;
                mem.write_from(base + dst + at, chunk)
            })?;
        }
        Instr::Hfill { dst, val, len } => {
            let (dst, len) = (u64::from(r(dst) as u32), u64::from(r(len) as u32));
            let base = heap_range(mem, dst, len)?;
            in_chunks(len, false, |chunk, at| {
                chunk.fill(r(val) as u8);
                mem.write_from(base + dst + at, chunk)
            })?;
        }
        Instr::Hput { dst, src, len } => {
            let (dst, src, len) = (u64::from(r(dst) as u32), r(src), u64::from(r(len) as u32));
            let base = heap_range(mem, dst, len)?;
            mem.check(src, len, super::Access::Read)?;
            in_chunks(len, false, |chunk, at| {
                mem.read_into(src + at, chunk)?;
                mem.write_from(base + dst + at, chunk)
            })?;
        }
        Instr::Wasi { rd, call, args } => {
            let n = manda_wasi::FUNCTIONS.get(usize::from(call)).map_or(0, |f| f.params.len());
            let first = usize::from(args.0);
            let Some(values) = regs.get(first..first + n) else {
                return Err(TrapKind::BadSystemCall(format!("WASI function {call} takes {n} registers from {args}")));
            };
            let values: [u64; manda_wasi::MAX_PARAMS] = std::array::from_fn(|i| values.get(i).copied().unwrap_or(0));
            let mut guest = WasiGuest { run, local: Some(local), mem };
            let done = run
                .wasi
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .call(call, &values[..n], &mut guest)
                .map_err(|e| TrapKind::BadSystemCall(e.to_string()))?;
            match done {
                manda_wasi::Done::Return(errno) => set(rd, u64::from(errno.0)),
                manda_wasi::Done::Exit(status) => return Ok(Effect::Exit(status as u8)),
                manda_wasi::Done::Sleep(wait) => {
                    regs[usize::from(rd.0)] = 0;
                    return Ok(Effect::Sleep(wait));
                }
            }
        }
        other => unreachable!("`{other}` is not a system instruction"),
    }
    if let Some((x, v)) = result {
        regs[usize::from(x.0)] = v;
    }
    Ok(Effect::Next)
}
