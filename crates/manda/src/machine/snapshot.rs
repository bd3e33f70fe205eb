//! Snapshots: a stopped machine — every context, its memory, every port
//! and its messages — as bytes, and back. The format is specified byte by
//! byte in `docs/manda/snapshot.md`.
//!
//! Saving stores only what the executable does not already say: the pages
//! that differ from the freshly loaded image (a page shared by several
//! contexts after a fork is stored once, and each context lists it), the
//! registers, the call stacks, the ports. Restoring treats the bytes as
//! hostile: every length is checked against what is left before anything
//! is allocated, every count against the machine's limits, every program
//! counter and return address against the code (the interpreter reads its
//! ops unchecked), every page against what stores may write; the whole
//! new state is built beside the old one, charged to a meter of its own,
//! and replaces it only when all of it is good.

use super::calls::CallStack;
use super::memory::{Meter, Page, SharedPage, SharedTables, PAGE};
use super::postcopy::Pager;
use super::transfer::Received;
use super::{Code, Context, Machine};
use crate::isa::Instr;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The first 8 bytes of every snapshot.
pub const MAGIC: [u8; 8] = *b"MANDASNP";
/// The format version this build writes and reads.
pub const VERSION: u16 = 3;
/// Bytes before the page pool.
pub const HEADER_LEN: usize = 86;

const RUNNABLE: u8 = 0;
const SLEEPING: u8 = 1;
const WAITING: u8 = 2;

/// Why a snapshot was refused, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("snapshot byte {offset} (0x{offset:x}): {reason}")]
pub struct SnapshotError {
    /// Offset of the field at fault.
    pub offset: usize,
    /// What is wrong with it.
    pub reason: String,
}

/// Fields of a snapshot, each checked against what is left.
type Reader<'a> = vm_core::untrusted::ByteReader<'a, SnapshotError>;

impl From<vm_core::untrusted::Malformed> for SnapshotError {
    fn from(m: vm_core::untrusted::Malformed) -> Self {
        SnapshotError { offset: m.offset, reason: m.reason }
    }
}

fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn put_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_le_bytes());
}

/// The pages a snapshot is to hold, by context id: each context's by page number, ascending.
pub(super) type Chosen = HashMap<u64, Vec<(u64, Arc<Page>)>>;

/// A context as decoded, before it is built.
struct Decoded {
    id: u64,
    pc: u32,
    sp: u64,
    sleep_owed: Duration,
    waiting_on: Option<u64>,
    end: u64,
    regs: Box<[u64; 256]>,
    calls: Vec<u32>,
    pages: Vec<(u64, u32)>,
}

impl Machine {
    /// The SHA-256 of the executable this machine runs: a snapshot's program identity.
    pub fn program_hash(&self) -> [u8; 32] {
        self.program
    }

    /// Writes the stopped machine as a snapshot (`docs/manda/snapshot.md`).
    /// `Err` while it has ended: there is nothing to continue.
    pub fn save(&self) -> Result<Vec<u8>, String> {
        // The shared pages are let go before this returns: nothing needs marking.
        self.encode(None).map(|state| state.to_vec())
    }

    /// [`save`](Self::save) without copying the memory: the snapshot's pages
    /// are the machine's own, shared until the returned bytes are dropped
    /// (the machine may run meanwhile: a page it writes is copied first).
    pub fn save_state(&mut self) -> Result<vm_core::StateBytes, String> {
        for ctx in &mut self.contexts {
            ctx.mem.share_pages();
        }
        self.encode(None)
    }

    /// True if `page` holds what the loaded image has at page `number`
    /// (zeros where it has none): a snapshot leaves it out, as the target's
    /// own image has it.
    pub(super) fn as_loaded(&self, number: u64, page: &Arc<Page>) -> bool {
        match self.base.page(number) {
            Some(b) => Arc::ptr_eq(b, page) || b.bytes() == page.bytes(),
            None => page.is_zero(),
        }
    }

    /// The snapshot, its pages handed out as they are: every page that
    /// differs from the loaded image, or only `chosen` (each context's pages
    /// by number, ascending: what a pre-copy's target lacks).
    pub(super) fn encode(&self, chosen: Option<Chosen>) -> Result<vm_core::StateBytes, String> {
        if let Some(ended) = &self.ended {
            let how = match ended {
                Ok(status) => format!("ended with status {status}"),
                Err(trap) => format!("stopped by a trap ({})", trap.kind),
            };
            return Err(format!("the program has {how}: there is nothing to save"));
        }
        if let Some(pager) = self.pages_owed() {
            return Err(format!(
                "{} pages of the post-copy migration that brought this program here have not arrived yet: its \
                 state can be saved once they have",
                pager.left()
            ));
        }
        // The pool: every page chosen, once.
        let mut pool: Vec<Arc<Page>> = Vec::new();
        let mut index: HashMap<*const Page, u32> = HashMap::new();
        let mut lists = Vec::with_capacity(self.contexts.len());
        let mut chosen = chosen;
        for ctx in &self.contexts {
            let pages: Vec<(u64, Arc<Page>)> = match &mut chosen {
                Some(chosen) => chosen.remove(&ctx.id).unwrap_or_default(),
                None => {
                    let mut pages = Vec::new();
                    ctx.mem.for_each_page(|number, page| {
                        if !self.as_loaded(number, page) {
                            pages.push((number, page.clone()));
                        }
                    });
                    pages
                }
            };
            let mut list = Vec::with_capacity(pages.len());
            for (page, data) in pages {
                let i = *index.entry(Arc::as_ptr(&data)).or_insert_with(|| {
                    pool.push(data);
                    pool.len() as u32 - 1
                });
                list.push((page, i));
            }
            lists.push(list);
        }
        let ports = self.ports.snapshot();
        let wasi = self
            .wasi
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .save()
            .map_err(|e| format!("the program's open files cannot be saved: {e}"))?;
        // The exact length, so the buffer is allocated once: a guess that falls short doubles it,
        // and a gigabyte heap would cost the host three gigabytes to save.
        let contexts_len: usize = self
            .contexts
            .iter()
            .zip(&lists)
            .map(|(ctx, list)| {
                let registers = ctx.regs.iter().filter(|&&v| v != 0).count();
                8 + 8 + 8 + 1 + 8 + 8 + 8 + 2 + 9 * registers + 4 + 8 * ctx.calls.depth() + 4 + 12 * list.len()
            })
            .sum();
        let ports_len: usize = ports.iter().map(|(_, m)| 1 + 4 + m.iter().map(|m| 4 + m.len()).sum::<usize>()).sum();
        let rest_len = contexts_len + ports_len + 4 + wasi.len() + 4;
        let mut out = Vec::with_capacity(HEADER_LEN);
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&VERSION.to_le_bytes());
        out.extend_from_slice(&self.program);
        put_u64(&mut out, self.config.stack_size);
        put_u64(&mut out, self.fuel);
        put_u64(&mut out, self.started.elapsed().as_nanos() as u64);
        put_u64(&mut out, self.next_id);
        put_u32(&mut out, self.contexts.len() as u32);
        put_u32(&mut out, ports.len() as u32);
        put_u32(&mut out, pool.len() as u32);
        debug_assert_eq!(out.len(), HEADER_LEN);
        let mut crc = crc32fast::Hasher::new();
        crc.update(&out);
        let mut state = vm_core::StateBytes::new();
        state.push(std::mem::take(&mut out));
        for page in pool {
            crc.update(page.bytes());
            state.push(SharedPage(page));
        }
        out.reserve_exact(rest_len);
        for (ctx, list) in self.contexts.iter().zip(&lists) {
            put_u64(&mut out, ctx.id);
            put_u64(&mut out, self.code.addr_of(ctx.pc as usize));
            put_u64(&mut out, ctx.sp);
            let (state, owed, port) = match (ctx.waiting_on, ctx.sleep_owed) {
                (Some(port), _) => (WAITING, 0, port),
                (None, owed) if !owed.is_zero() => (SLEEPING, owed.as_nanos() as u64, 0),
                _ => (RUNNABLE, 0, 0),
            };
            out.push(state);
            put_u64(&mut out, owed);
            put_u64(&mut out, port);
            put_u64(&mut out, ctx.mem.end());
            let nonzero: Vec<(usize, u64)> = ctx.regs.iter().copied().enumerate().filter(|&(_, v)| v != 0).collect();
            out.extend_from_slice(&(nonzero.len() as u16).to_le_bytes());
            for (reg, value) in nonzero {
                out.push(reg as u8);
                put_u64(&mut out, value);
            }
            put_u32(&mut out, ctx.calls.depth() as u32);
            for ret in ctx.calls.iter() {
                put_u64(&mut out, self.code.addr_of(ret as usize));
            }
            put_u32(&mut out, list.len() as u32);
            for &(page, i) in list {
                put_u64(&mut out, page);
                put_u32(&mut out, i);
            }
        }
        for (closed, messages) in &ports {
            out.push(u8::from(*closed));
            put_u32(&mut out, messages.len() as u32);
            for m in messages {
                put_u32(&mut out, m.len() as u32);
                out.extend_from_slice(m);
            }
        }
        put_u32(&mut out, wasi.len() as u32);
        out.extend_from_slice(&wasi);
        crc.update(&out);
        put_u32(&mut out, crc.finalize());
        debug_assert_eq!(out.len(), rest_len, "the snapshot's length was computed ahead");
        state.push(out);
        Ok(state)
    }

    /// Replaces the machine's state with the snapshot `bytes`, which must be
    /// of this executable and fit this machine's limits. Nothing changes
    /// on a refusal.
    pub fn restore(&mut self, bytes: &[u8]) -> Result<(), SnapshotError> {
        self.restore_onto(bytes, None)
    }

    /// Replaces the machine's state with a pre-copy's final snapshot
    /// `bytes` (`precopy_finish`) over the pages `received` ahead of it: a
    /// context's memory is what was received for it, with the snapshot's
    /// pages put over it. Checked as [`restore`](Self::restore) checks, and
    /// each received memory against its context's heap end too.
    pub fn restore_received(&mut self, bytes: &[u8], received: Received) -> Result<(), SnapshotError> {
        self.restore_onto(bytes, Some(received))
    }

    fn restore_onto(&mut self, bytes: &[u8], received: Option<Received>) -> Result<(), SnapshotError> {
        let config = self.config;
        let mut r = Reader::new(bytes, 0);
        if bytes.len() < HEADER_LEN + 4 {
            return r
                .fail(0, format!("{} bytes is too short for a snapshot (at least {})", bytes.len(), HEADER_LEN + 4));
        }
        if r.take(8, "magic")? != MAGIC {
            return r.fail(0, "not a Manda snapshot (the magic is not MANDASNP)");
        }
        let version = u16::from_le_bytes(r.take(2, "version")?.try_into().expect("2 bytes"));
        if version != VERSION {
            return r.fail(8, format!("format version {version}; this build reads version {VERSION}"));
        }
        let body = bytes.len() - 4;
        let stored = u32::from_le_bytes(bytes[body..].try_into().expect("4 bytes"));
        let computed = crc32fast::hash(&bytes[..body]);
        if stored != computed {
            return r.fail(body, format!("checksum {stored:08x} does not match the contents ({computed:08x})"));
        }
        let r = &mut Reader::new(&bytes[..body], 10);
        if r.take(32, "program identity")? != self.program {
            return r.fail(10, "the snapshot is of another executable (its program identity differs)");
        }
        let stack = r.u64("stack size")?;
        if stack != config.stack_size {
            return r.fail(42, format!("saved with a stack of {stack} bytes; this machine's is {}", config.stack_size));
        }
        let fuel = r.u64("steps left")?;
        if fuel != u64::MAX && config.max_steps.is_none_or(|max| fuel > max) {
            return r.fail(50, "steps left, but this machine has no such step limit");
        }
        let clock = Duration::from_nanos(r.u64("clock")?);
        let next_id = r.u64("next context id")?;
        let max_pages = config.max_memory / PAGE;
        let n_contexts = r.count("contexts", 0, u64::from(config.max_contexts))?;
        let n_ports = r.count("ports", 0, u64::from(config.max_ports))?;
        let n_pages = r.count("pages", PAGE as usize, max_pages)?;
        if n_contexts == 0 {
            return r.fail(74, "no context: a machine that ended is never saved");
        }
        let pool_at = r.at;
        let pool = r.take(n_pages * PAGE as usize, "pages")?;
        let pool: Vec<&[u8; PAGE as usize]> =
            pool.chunks_exact(PAGE as usize).map(|c| c.try_into().expect("a page")).collect();
        let mut contexts: Vec<Decoded> = Vec::with_capacity(n_contexts.min(1 << 16));
        for _ in 0..n_contexts {
            contexts.push(self.decode_context(r, &pool, pool_at, next_id)?);
        }
        let mut ports = Vec::with_capacity(n_ports.min(1 << 16));
        let mut queued = 0u64;
        for _ in 0..n_ports {
            let at = r.at;
            let closed = match r.u8("port state")? {
                0 => false,
                1 => true,
                other => return r.fail(at, format!("port state {other} (0 open, 1 closed)")),
            };
            let n = r.count("messages", 4, config.max_port_bytes / super::MESSAGE_OVERHEAD)?;
            let mut messages = Vec::with_capacity(n);
            for _ in 0..n {
                let at = r.at;
                let len = r.u32("message length")? as usize;
                queued += len as u64 + super::MESSAGE_OVERHEAD;
                if queued > config.max_port_bytes {
                    return r.fail(at, format!("the messages pass --max-port-bytes ({})", config.max_port_bytes));
                }
                messages.push(r.take(len, "message")?.to_vec());
            }
            ports.push((closed, messages));
        }
        let wasi_len = r.u32("WASI state length")? as usize;
        let wasi_at = r.at;
        let wasi_bytes = r.take(wasi_len, "WASI state")?;
        if r.at != body {
            return r.fail(r.at, format!("{} bytes after the WASI state", body - r.at));
        }
        // Open files are re-opened under this machine's grants, last: a
        // refusal here still leaves the machine as it was.
        let wasi = self
            .wasi
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .restore(wasi_bytes)
            .map_err(|e| SnapshotError { offset: wasi_at + e.offset, reason: e.reason })?;
        // Every reference between the parts.
        let mut ids = std::collections::HashSet::new();
        for (i, c) in contexts.iter().enumerate() {
            if !ids.insert(c.id) {
                return r.fail(HEADER_LEN, format!("context {} appears twice (context #{i})", c.id));
            }
            if let Some(port) = c.waiting_on {
                if port >= n_ports as u64 {
                    return r.fail(HEADER_LEN, format!("context {} waits on port {port}, which does not exist", c.id));
                }
            }
        }
        // Build the new state beside the old, on a meter of its own (the
        // received pages' meter, which already holds them).
        let received = match received {
            Some(received) => received,
            None => self.receiver_within(config.max_memory)?,
        };
        received.release_context_charges();
        let Received { meter, mut base, contexts: mut staged, owed, .. } = received;
        // A post-copy's pages still to come: checked as they arrive, against the image.
        let pager = (!owed.is_empty()).then(|| Arc::new(Pager::new(owed, base.fork(), config.max_memory)));
        let too_big = |e| SnapshotError {
            offset: pool_at,
            reason: format!("it needs more memory than this machine's limit: {e}"),
        };
        // One context owns every page: its bytes are copied into its memory (a
        // flat heap stays flat, `arena.rs`) rather than shared with the pool.
        let own_pages = contexts.len() == 1 && pager.is_none();
        let pages: Vec<Arc<Page>> = match own_pages {
            true => Vec::new(),
            false => {
                pool.iter().map(|bytes| Page::with_bytes(&meter, bytes)).collect::<Result<_, _>>().map_err(too_big)?
            }
        };
        let mut built = Vec::with_capacity(contexts.len());
        let mut shared = SharedTables::default();
        for d in contexts {
            let mut mem = match staged.remove(&d.id) {
                Some(s) => {
                    if let Err(why) = s.mem.fits_below(d.end, s.top) {
                        return r.fail(HEADER_LEN, format!("the pages received for context {}: {why}", d.id));
                    }
                    s.mem
                }
                None => {
                    let mut mem = base.fork();
                    if own_pages {
                        mem.own_heap();
                    }
                    mem
                }
            };
            mem.set_end(d.end);
            if let Some(pager) = &pager {
                // An owed page that ends the heap must come with zeros past the end.
                let (last, tail) = (d.end / PAGE, (d.end % PAGE) as usize);
                if let Some(index) =
                    mem.page(last).filter(|p| tail > 0 && !p.has_arrived()).and_then(|p| p.owed_index())
                {
                    pager.zero_from(index, tail);
                }
                mem.await_pages(Some(pager.clone()));
            }
            for (page, i) in &d.pages {
                match own_pages {
                    true => mem.fill_page(*page, pool[*i as usize]).map_err(too_big)?,
                    false => mem.put_page(*page, &pages[*i as usize]).map_err(too_big)?,
                }
            }
            if n_contexts > 1 {
                // Alone, a context has nobody to share tables with: a gigabyte's 4096 leaves are
                // not worth hashing while a migrated program waits.
                mem.share_tables(&mut shared);
            }
            let mut ctx = Context::new(d.id, d.regs, d.pc, mem).map_err(too_big)?;
            ctx.sp = d.sp;
            ctx.sleep_owed = d.sleep_owed;
            ctx.waiting_on = d.waiting_on;
            ctx.calls = CallStack::from_frames(&d.calls, &meter).map_err(too_big)?;
            built.push(ctx);
        }
        // Received pages may have held more while they came (`receiver`); the machine may not.
        if !meter.set_limit(config.max_memory) {
            return r.fail(
                pool_at,
                format!(
                    "it needs more memory than this machine's limit: {} bytes, --max-memory is {}",
                    meter.used(),
                    config.max_memory
                ),
            );
        }
        let new_ports = super::ports::Ports::restored(ports, &meter, config.max_ports).map_err(too_big)?;
        built.sort_by_key(|c| c.id);
        // All good: the new state replaces the old.
        self.contexts = built;
        self.ports = new_ports;
        *self.wasi.get_mut().unwrap_or_else(std::sync::PoisonError::into_inner) = wasi;
        self.base = base;
        *self.gauges.meter.lock().unwrap_or_else(|e| e.into_inner()) = meter.clone();
        self.gauges.live.store(self.contexts.len() as u32, std::sync::atomic::Ordering::Relaxed);
        self.meter = meter;
        self.next_id = next_id;
        // A program saved without a step limit starts the target's afresh.
        self.fuel = if fuel == u64::MAX { config.max_steps.unwrap_or(u64::MAX) } else { fuel };
        self.started = Instant::now().checked_sub(clock).unwrap_or_else(Instant::now);
        self.tracker = None;
        self.pager = pager;
        self.ended = None;
        Ok(())
    }

    /// One context of a snapshot, checked against the code and the layout.
    fn decode_context(
        &self,
        r: &mut Reader,
        pool: &[&[u8; PAGE as usize]],
        pool_at: usize,
        next_id: u64,
    ) -> Result<Decoded, SnapshotError> {
        let code: &Code = &self.code;
        let config = &self.config;
        let at = r.at;
        let id = r.u64("context id")?;
        if id >= next_id {
            return r.fail(at, format!("context {id}, but ids so far stop below {next_id}"));
        }
        let pc_at = r.at;
        let pc = r.u64("program counter")?;
        let Some(pc) = code.instr_index(pc) else {
            return r.fail(pc_at, format!("program counter 0x{pc:x} is not an instruction in code"));
        };
        let sp_at = r.at;
        let sp = r.u64("stack pointer")?;
        if !(self.base.stack_base()..=self.base.stack_top()).contains(&sp) {
            return r.fail(sp_at, format!("stack pointer 0x{sp:x} is outside the stack"));
        }
        let state_at = r.at;
        let state = r.u8("state")?;
        let owed = r.u64("sleep owed")?;
        let port = r.u64("port waited on")?;
        let (sleep_owed, waiting_on) = match state {
            RUNNABLE => (Duration::ZERO, None),
            SLEEPING if owed > 0 => (Duration::from_nanos(owed), None),
            WAITING if matches!(code.instr(pc as usize), Some(Instr::Precv { .. })) => (Duration::ZERO, Some(port)),
            SLEEPING => return r.fail(state_at, "sleeping, with no time owed"),
            WAITING => return r.fail(state_at, "waiting on a port, but not at a precv"),
            other => return r.fail(state_at, format!("state {other} (0 runnable, 1 sleeping, 2 waiting)")),
        };
        let end_at = r.at;
        let end = r.u64("heap end")?;
        if end < self.base.heap_base() || end > config.max_memory {
            return r
                .fail(end_at, format!("heap end 0x{end:x} is outside 0x{:x} … --max-memory", self.base.heap_base()));
        }
        let mut regs = Box::new([0u64; 256]);
        let count_at = r.at;
        let count = u16::from_le_bytes(r.take(2, "register count")?.try_into().expect("2 bytes"));
        if count > 256 {
            return r.fail(count_at, format!("{count} registers; there are 256"));
        }
        let mut next_reg = 0usize;
        for _ in 0..count {
            let at = r.at;
            let reg = usize::from(r.u8("register number")?);
            let value = r.u64("register value")?;
            if reg < next_reg || value == 0 {
                return r.fail(at, "registers must be listed once each, ascending, and only when not 0");
            }
            regs[reg] = value;
            next_reg = reg + 1;
        }
        let depth = r.count("call frames", 8, u64::from(config.max_call_depth))?;
        let mut calls = Vec::with_capacity(depth);
        for _ in 0..depth {
            let at = r.at;
            let ret = r.u64("return address")?;
            match code.instr_index(ret) {
                Some(i) => calls.push(i),
                None => return r.fail(at, format!("return address 0x{ret:x} is not an instruction in code")),
            }
        }
        let n = r.count("pages", 12, config.max_memory / PAGE)?;
        let mut pages = Vec::with_capacity(n);
        let mut last = None;
        for _ in 0..n {
            let at = r.at;
            let page = r.u64("page number")?;
            let i = r.u32("pool index")?;
            if last.is_some_and(|l| page <= l) {
                return r.fail(at, "pages out of order (each list is by ascending page number)");
            }
            last = Some(page);
            let Some(bytes) = pool.get(i as usize) else {
                return r.fail(at + 8, format!("pool index {i}, but the pool has {} pages", pool.len()));
            };
            if let Err(why) = self.base.may_hold(page, bytes, end) {
                return r.fail(pool_at + i as usize * PAGE as usize, format!("page 0x{page:x} of context {id}: {why}"));
            }
            pages.push((page, i));
        }
        Ok(Decoded { id, pc, sp, sleep_owed, waiting_on, end, regs, calls, pages })
    }
}

impl CallStack {
    /// A call stack holding `frames`, outermost first, charged to `meter`.
    fn from_frames(frames: &[u32], meter: &Meter) -> Result<CallStack, super::TrapKind> {
        let mut calls = CallStack::default();
        for &f in frames {
            if calls.top.len() >= calls.room as usize {
                calls.grow(meter, u32::MAX)?;
            }
            calls.top.push(f);
        }
        Ok(calls)
    }
}
