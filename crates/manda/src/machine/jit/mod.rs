//! The compiling tier: Manda code translated to native code by Cranelift.
//!
//! **What is compiled, when.** A *region* is the code reachable from one
//! instruction index (its *root*) by falling through, branching and
//! jumping — a function body, or the rest of one when the root is a loop
//! head or a return site — without following calls, up to 20,000
//! instructions (`region.rs`). Control arriving at an index with no region
//! to enter there (a call's target, a branch's, a return's) is counted;
//! at the [`HOT`]th arrival the region rooted there is queued, and a
//! thread of the machine's own compiles it (`translate.rs`) while the
//! interpreter runs on; from then on every arrival at one of its leaders
//! enters it, and a `call` enters its callee's region the same way.
//! ([`Tier::CompileAll`] compiles each region at its first arrival, where
//! it arrives, for tests.) Regions are compiled once per machine and shared
//! by its contexts.
//!
//! **Registers.** Compiled code stores every register (and stack pointer)
//! it writes to the context at once, and reads one from there once per
//! line of code (`translate.rs`), so a context's registers and program counter
//! are the interpreter's at every way out of compiled code — a return, a
//! call, a helper, an exit to the interpreter — and whenever compiled code
//! is not running: that is where snapshots, forks, traps and migrations
//! look at them.
//!
//! **Calls and returns** keep the interpreter's call stack: `call` pushes
//! its return index there and calls the callee's region natively; the
//! callee's `ret` pops an index and returns it. The caller continues if it
//! is its own return site, and otherwise returns it in turn, so any
//! unusual return ends at the runner ([`Context::exec_compiled`]), which
//! continues at that index. Native recursion is bounded by a stack budget
//! checked at each region's entry: past it the native frames unwind (the
//! program's call stack keeps every frame) and the runner starts afresh.
//!
//! **Anything unusual goes back to the interpreter, at an instruction
//! boundary.** A trap's condition (a division by zero, a memory fault, a
//! full call stack) leaves compiled code with the registers as they were
//! before the instruction, and the interpreter runs that one instruction
//! again: the trap it raises names the same instruction, address and
//! label as in an interpreted run. System, port and vector instructions
//! are run by the interpreter in place (a single step through a helper),
//! and the flows they end in (a block, a sleep, an exit) are the
//! interpreter's own.
//!
//! **The interrupt line** is read where the interpreter reads it: when the
//! time slice ends. Compiled code counts the slice in instructions, by
//! weight (a helper's costs more than an inline one), at every region
//! entry (the region's whole weight) and every backward branch or jump
//! (the weight from its target to itself): between two counts control only
//! moves forward, so the count bounds what runs, whatever a loop's body
//! holds. So a loop sees an interrupt within a fraction of a millisecond,
//! at an instruction boundary (`cargo bench -p manda --bench interrupt`).
//!
//! **Step limits, single steps and tracing** run in the interpreter: a
//! metered run (`--max-steps`) counts steps exactly there, and costs no
//! counting in compiled code.
//!
//! **W^X.** Cranelift's JIT memory is written while a region is defined
//! and made read-and-execute (never writable again) before it runs.

mod helpers;
mod region;
mod translate;

use super::arena::Flat;
use super::interp::Flow;
use super::memory::Meter;
use super::workers::{Local, Workers};
use super::Context;
use cranelift_codegen::settings::{self, Configurable};
use cranelift_jit::{JITBuilder, JITModule};
use cranelift_module::{default_libcall_names, Module};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

/// Which engine runs a machine's code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Tier {
    /// Compiled to native code (the default), where Cranelift has a
    /// backend for this host; the interpreter elsewhere, and for metered
    /// runs, single steps and tracing.
    #[default]
    Compiled,
    /// As [`Compiled`](Tier::Compiled), but every region is compiled the
    /// first time control arrives at it, not once it is hot: for tests
    /// that compare the tiers on short programs.
    CompileAll,
    /// The interpreter only.
    Interpreted,
}

/// Bytes of native stack compiled code may use below the runner's frame
/// before its frames unwind (see the module doc). Worker threads have 2 MiB.
const NATIVE_STACK: u64 = 512 << 10;

/// Arrivals at an index (a call's target, a branch's, a return's) after
/// which the region rooted there is compiled. Code run fewer times — most
/// of a large program's, at start-up — is interpreted: compiling costs
/// some 20 µs an instruction, running it in the interpreter a few ns.
const HOT: u32 = 8;

/// A region whose loops (or, with none, the region) would have more than
/// one instruction in this many as interpreter steps (vector, system and
/// port instructions), and two at least, is left to the interpreter (but
/// in [`Tier::CompileAll`], for the tests that compare the tiers): a step
/// from compiled code costs a helper call and the interpreter's entry and
/// exit, several times what the interpreter's own loop pays for it (argon2id, SIMD code: 8.4 s interpreted, 45 s with its
/// vector instructions stepped from compiled code, 8.6 s under this rule).
const STEPPED_SHARE: usize = 8;

/// A [`Shared::entries`] slot whose region is not compiled (too large, or
/// no room in the memory limit): the interpreter runs from there.
const INTERPRETED: usize = 1;

/// A [`Shared::entries`] slot whose region is queued to be compiled in the
/// background: the interpreter runs from there meanwhile.
const QUEUED: usize = 2;

/// What the interpreter's time slice (counted in transfers) is worth in
/// compiled code, which counts instructions by weight (one for an inline
/// instruction, see `translate.rs`): the interpreter's 2,048 transfers
/// become 262,144, some 0.1–0.3 ms of compiled code.
const TRANSFER_WEIGHT: u64 = 128;

/// A compiled region: `extern "C" fn(env, entry index) -> status`.
type RegionFn = unsafe extern "C" fn(*mut Env, u32) -> u64;

/// How compiled code left: the kind in the high half, an index in the low.
mod status {
    /// Continue at the index (a return popped it, or an indirect jump or
    /// an unwinding left the region).
    pub const AT: u64 = 0;
    /// The interpreter runs the instruction at the index (a trap's condition).
    pub const STEP: u64 = 1 << 32;
    /// The time slice ended on the way to the index.
    pub const YIELD: u64 = 2 << 32;
    /// A helper's step ended in a flow other than a step (in `Env::flow`);
    /// the context's program counter is set.
    pub const FLOW: u64 = 3 << 32;
    /// The kind bits.
    pub const KIND: u64 = !0xffff_ffff;
}

/// What compiled code and its helpers share while a context runs: read at
/// fixed offsets by compiled code (`translate.rs`).
#[repr(C)]
pub(super) struct Env {
    /// The context's 256 registers.
    regs: *mut u64,
    /// The context's stack pointer.
    sp: *mut u64,
    /// A region that can be entered at each index, or 0 (`Jit::entries`).
    entries: *const AtomicUsize,
    /// The memory's read translations (`Memory::translations`).
    read_ways: *const u64,
    /// The memory's write translations.
    write_ways: *const u64,
    heap_base: u64,
    /// The memory's flat heap (`Memory::flat`).
    flat: *const Flat,
    stack_base: u64,
    stack_top: u64,
    /// Weight left in the time slice (see [`TRANSFER_WEIGHT`]).
    slice: u64,
    /// The call stack's top chunk, pushed and popped in place by compiled
    /// code ([`CallStack::top_raw`]): while compiled code runs, `depth` is
    /// its length, not the chunk's own (see [`Env::calls_in`]).
    frames: *mut u32,
    depth: u64,
    room: u64,
    /// The lowest native stack address compiled code may enter a region at.
    stack_limit: u64,
    /// A helper's second result (a loaded value).
    scratch: u64,
    /// For the helpers: the running context, its workers, its worker's own
    /// data and the compiler.
    ctx: *mut Context,
    run: *const (),
    local: *mut Local,
    jit: *const Jit,
    /// What a helper's step ended in, if not a step.
    flow: Option<Flow>,
}

/// A machine's compiled code: the regions, one table slot per index, and
/// (for [`Tier::Compiled`]) the thread that compiles them.
pub(super) struct Jit {
    shared: Arc<Shared>,
    /// The code, for the compiling thread.
    code: Arc<super::Code>,
    /// Roots to compile, to the compiling thread (started at the first);
    /// `None` in it if the thread could not be started (then regions are
    /// compiled where they are found hot).
    queue: OnceLock<Option<mpsc::Sender<u32>>>,
}

/// What running contexts and the compiling thread share.
struct Shared {
    /// A region that has each index among its leaders (its blocks' first
    /// instructions, where it can be entered): a [`RegionFn`] as `usize`,
    /// or 0, [`INTERPRETED`] or [`QUEUED`].
    entries: Box<[AtomicUsize]>,
    /// How often control has arrived at each index with no region to
    /// enter there (see [`HOT`]).
    heat: Box<[AtomicU32]>,
    /// [`Tier::Compiled`] (hot regions, in the background, not those of
    /// mostly steps) or [`Tier::CompileAll`] (every region where it is
    /// found).
    tier: Tier,
    /// The machine's meter, charged for the tables and the compiled code.
    meter: Arc<Meter>,
    charged: AtomicU64,
    compiler: Mutex<Compiler>,
    /// The machine is gone: the compiling thread compiles nothing more.
    stopped: AtomicBool,
    /// [`CompileStats`] as regions, instructions, nanoseconds and code
    /// bytes (not under the compiler's lock: read while it compiles).
    stats: [AtomicU64; 4],
}

/// What compiling needs, one at a time.
struct Compiler {
    /// Always there but while the compiler is dropped.
    module: Option<JITModule>,
    ctx: cranelift_codegen::Context,
    builder: cranelift_frontend::FunctionBuilderContext,
    /// The memory limit had no room for a region's code once: nothing more
    /// is compiled. (A region's code is in the module before its size is
    /// known; one refused stays there uncharged, and without this each
    /// region after it would add its own.)
    full: bool,
}

/// What the compiling tier has compiled so far: regions, their
/// instructions, the time it took, and their native code.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CompileStats {
    /// Regions compiled.
    pub regions: u64,
    /// Their instructions.
    pub instructions: u64,
    /// Time spent compiling them (on whichever thread compiled).
    pub time: Duration,
    /// Bytes of native code they became, charged to the memory limit. (A
    /// region the limit has no room for — the last one compiled — counts
    /// here and above, its compiling done, though its code is not kept.)
    pub code_bytes: u64,
}

// SAFETY: the module is only touched under the mutex; its raw pointers are
// to code and data it owns, which no other thread writes.
unsafe impl Send for Compiler {}

impl Jit {
    /// A compiler for `code`, or `None` where Cranelift has no backend for
    /// this host (the interpreter runs everything then).
    pub(super) fn new(code: &Arc<super::Code>, tier: Tier, meter: &Arc<Meter>) -> Option<Jit> {
        let len = code.ops.len();
        let mut flags = settings::builder();
        for (name, value) in [
            ("use_colocated_libcalls", "false"),
            ("is_pic", "false"),
            ("opt_level", "speed"),
            // What it checks is the translator's own consistency (a value
            // used where it is not defined, say), which the tests check: it
            // doubled a region's compile time, and made the spec testsuite's
            // compiled runs take minutes. Cranelift without it still panics
            // on some invalid IR, which test builds turn into a failure.
            ("enable_verifier", "false"),
        ] {
            flags.set(name, value).ok()?;
        }
        let isa = cranelift_native::builder().ok()?.finish(settings::Flags::new(flags)).ok()?;
        let module = JITModule::new(JITBuilder::with_isa(isa, default_libcall_names()));
        let ctx = module.make_context();
        // Its tables count against the memory limit, as the decoded code's
        // do (charged once there is a backend: no `Jit`, no `Drop` to give
        // them back).
        let tables = (len * (std::mem::size_of::<AtomicUsize>() + std::mem::size_of::<AtomicU32>())) as u64;
        meter.charge(tables).ok()?;
        let shared = Shared {
            entries: (0..len).map(|_| AtomicUsize::new(0)).collect(),
            heat: (0..len).map(|_| AtomicU32::new(0)).collect(),
            meter: meter.clone(),
            charged: AtomicU64::new(tables),
            tier,
            compiler: Mutex::new(Compiler {
                module: Some(module),
                ctx,
                builder: cranelift_frontend::FunctionBuilderContext::new(),
                full: false,
            }),
            stopped: AtomicBool::new(false),
            stats: Default::default(),
        };
        Some(Jit { shared: Arc::new(shared), code: code.clone(), queue: OnceLock::new() })
    }

    /// A region that can be entered at `index`: compiled now (rooted
    /// there) if none can be yet and the index is hot — or, compiling in
    /// the background, queued then and entered once it is there.
    fn region(&self, code: &super::Code, index: u32) -> Option<RegionFn> {
        let shared = &*self.shared;
        let slot = shared.entries.get(index as usize)?;
        let f = match slot.load(Ordering::Acquire) {
            INTERPRETED => return None,
            QUEUED => {
                // How hot it has grown while it waits: the compiling thread takes the hottest first.
                shared.heat[index as usize].fetch_add(1, Ordering::Relaxed);
                return None;
            }
            0 => {
                let hot = match shared.tier {
                    Tier::CompileAll => 1,
                    _ => HOT,
                };
                if shared.heat[index as usize].fetch_add(1, Ordering::Relaxed) + 1 < hot {
                    return None;
                }
                match (shared.tier == Tier::Compiled).then(|| self.queue()).flatten() {
                    Some(queue) => {
                        if slot.compare_exchange(0, QUEUED, Ordering::Relaxed, Ordering::Relaxed).is_ok()
                            && queue.send(index).is_err()
                        {
                            slot.store(INTERPRETED, Ordering::Relaxed);
                        }
                        return None;
                    }
                    None => shared.compile(code, index)?,
                }
            }
            f => f,
        };
        // SAFETY: every slot above `QUEUED` holds a finalized region's
        // entry, which has this signature (`Compiler::compile`).
        Some(unsafe { std::mem::transmute::<usize, RegionFn>(f) })
    }

    /// What has been compiled so far.
    pub(super) fn stats(&self) -> CompileStats {
        let [regions, instructions, nanos, code_bytes] =
            self.shared.stats.each_ref().map(|n| n.load(Ordering::Relaxed));
        CompileStats { regions, instructions, time: Duration::from_nanos(nanos), code_bytes }
    }

    /// The compiling thread's queue, the thread started at the first call;
    /// `None` if it cannot be.
    fn queue(&self) -> Option<&mpsc::Sender<u32>> {
        self.queue
            .get_or_init(|| {
                let (queue, roots) = mpsc::channel::<u32>();
                let (shared, code) = (self.shared.clone(), self.code.clone());
                let compiling = move || {
                    // The roots waiting, the hottest compiled first: a short program's
                    // inner loop is not left behind colder code found hot before it.
                    let mut waiting: Vec<u32> = Vec::new();
                    loop {
                        if waiting.is_empty() {
                            match roots.recv() {
                                Ok(root) => waiting.push(root),
                                Err(_) => break,
                            }
                        }
                        waiting.extend(roots.try_iter());
                        if shared.stopped.load(Ordering::Relaxed) {
                            break;
                        }
                        let heat = |root: &u32| shared.heat[*root as usize].load(Ordering::Relaxed);
                        let (hottest, _) =
                            waiting.iter().enumerate().max_by_key(|(_, root)| heat(root)).expect("one waits");
                        let root = waiting.swap_remove(hottest);
                        let _ = shared.compile(&code, root);
                    }
                };
                std::thread::Builder::new().name("manda-jit".into()).spawn(compiling).ok().map(|_| queue)
            })
            .as_ref()
    }
}

impl Shared {
    /// Compiles the region rooted at `root` unless one can be entered
    /// there already, and makes it the entry at each of its leaders where
    /// there is none; its code, or `None` (and the root [`INTERPRETED`])
    /// if it cannot be compiled.
    fn compile(&self, code: &super::Code, root: u32) -> Option<usize> {
        let slot = &self.entries[root as usize];
        let mut compiler = self.compiler.lock().unwrap_or_else(PoisonError::into_inner);
        match slot.load(Ordering::Acquire) {
            0 | QUEUED => {}
            INTERPRETED => return None,
            f => return Some(f),
        }
        let Some((f, entries)) = compiler.compile(code, root, self) else {
            slot.store(INTERPRETED, Ordering::Relaxed);
            return None;
        };
        // A leader queued as a root of its own is entered here too: when the
        // compiling thread comes to it, it finds it compiled (compiling the
        // rest of a large function again from each of its return sites,
        // queued while the function compiled, took ed25519 26 s of compiling).
        for entry in entries {
            let slot = &self.entries[entry as usize];
            for unset in [0, QUEUED] {
                if slot.compare_exchange(unset, f, Ordering::Release, Ordering::Relaxed).is_ok() {
                    break;
                }
            }
        }
        slot.store(f, Ordering::Release);
        Some(f)
    }
}

impl Drop for Jit {
    fn drop(&mut self) {
        // The compiling thread finishes the region it is compiling, if any,
        // and drops its share (and with the last, the code: `Shared`'s drop).
        self.shared.stopped.store(true, Ordering::Relaxed);
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        self.meter.release(*self.charged.get_mut());
        let compiler = self.compiler.get_mut().unwrap_or_else(PoisonError::into_inner);
        if let Some(module) = compiler.module.take() {
            // SAFETY: the last share is dropped: the machine that owned the
            // `Jit` is gone, so no context runs compiled code or will, and
            // the compiling thread has stopped.
            unsafe { module.free_memory() };
        }
    }
}

impl Compiler {
    /// Compiles the region rooted at `root`: its code as `usize`, and the
    /// indices it can be entered at.
    /// Its code is charged to `shared`'s meter (and counted in its
    /// `charged` and `stats`): a region the limit has no room for is not
    /// compiled; nor, but in [`Tier::CompileAll`], is a region of mostly
    /// interpreter steps (see [`STEPPED_SHARE`]).
    fn compile(&mut self, code: &super::Code, root: u32, shared: &Shared) -> Option<(usize, Vec<u32>)> {
        if self.full {
            return None;
        }
        let region = region::Region::discover(code, root)?;
        let module = self.module.as_mut()?;
        module.clear_context(&mut self.ctx);
        let ptr = module.target_config().pointer_type();
        let started = Instant::now();
        let (steps, of) =
            translate::translate(&mut self.ctx.func, &mut self.builder, code, &region, ptr, module.target_config());
        if shared.tier == Tier::Compiled && steps >= 2 && steps * STEPPED_SHARE > of {
            return None;
        }
        let name = format!("r{root}");
        let id = module.declare_function(&name, cranelift_module::Linkage::Local, &self.ctx.func.signature).ok()?;
        if let Err(e) = module.define_function(id, &mut self.ctx) {
            // Invalid IR is the translator's bug: loud in test builds;
            // elsewhere the region is interpreted.
            debug_assert!(false, "region {name} does not compile: {e:?}");
            return None;
        }
        let size = self.ctx.compiled_code().map_or(0, |c| c.code_buffer().len() as u64);
        let figures = [1, region.indices.len() as u64, started.elapsed().as_nanos() as u64, size];
        for (stat, n) in shared.stats.iter().zip(figures) {
            stat.fetch_add(n, Ordering::Relaxed);
        }
        if shared.meter.charge(size).is_err() {
            self.full = true;
            return None;
        }
        shared.charged.fetch_add(size, Ordering::Relaxed);
        module.finalize_definitions().ok()?;
        let f = module.get_finalized_function(id) as usize;
        Some((f, region.leaders.into_iter().filter(|i| region.indices.contains(i)).collect()))
    }
}

impl Env {
    /// Hands the context's call stack to compiled code: its top chunk's
    /// frames, length and room, which compiled code then keeps.
    ///
    /// # Safety
    /// `self.ctx` is the running context; nothing else touches its call
    /// stack until [`calls_out`](Self::calls_out).
    unsafe fn calls_in(&mut self) {
        let (frames, depth, room) = unsafe { (*self.ctx).calls.top_raw() };
        (self.frames, self.depth, self.room) = (frames, depth as u64, u64::from(room));
    }

    /// Takes the call stack back from compiled code: the top chunk's
    /// length is what compiled code left in `depth`.
    ///
    /// # Safety
    /// As for [`calls_in`](Self::calls_in), which came before; compiled
    /// code writes a frame below `depth` before it raises it, and keeps
    /// it at most `room`.
    unsafe fn calls_out(&mut self) {
        unsafe { (*self.ctx).calls.set_top_len(self.depth as usize) }
    }
}

impl Context {
    /// Runs from `self.pc` in compiled code; the interpreter's flows. (Not
    /// metered: see the module doc.)
    pub(super) fn exec_compiled(&mut self, run: &Workers, local: &mut Local, jit: &Jit) -> Flow {
        let here = 0u8;
        let stack_limit = (&here as *const u8 as u64).saturating_sub(NATIVE_STACK);
        let ctx: *mut Context = self;
        // SAFETY (for every access through `ctx` below): `ctx` is `self`,
        // used only through this pointer from here on; compiled code and its
        // helpers use it only while `f` runs, on this thread.
        let (read_ways, write_ways) = unsafe { (*ctx).mem.translations() };
        let mut env = unsafe {
            Env {
                regs: (*ctx).regs.as_mut_ptr(),
                sp: &mut (*ctx).sp,
                entries: jit.shared.entries.as_ptr(),
                read_ways,
                write_ways,
                heap_base: (*ctx).mem.heap_base(),
                flat: (*ctx).mem.flat(),
                stack_base: (*ctx).mem.stack_base(),
                stack_top: (*ctx).mem.stack_top(),
                slice: u64::from(local.slice) * TRANSFER_WEIGHT,
                frames: std::ptr::null_mut(),
                depth: 0,
                room: 0,
                stack_limit,
                scratch: 0,
                ctx,
                run: run as *const Workers as *const (),
                local,
                jit,
                flow: None,
            }
        };
        let flow = loop {
            let pc = unsafe { (*ctx).pc };
            let Some(f) = jit.region(run.code, pc) else {
                // Nothing compiled here: interpret up to the first transfer
                // (where compiled code may go on), or for a while where
                // nothing will be compiled.
                let transfers = match jit.shared.entries[pc as usize].load(Ordering::Relaxed) {
                    INTERPRETED | QUEUED => 64,
                    _ => 1,
                };
                let slice = std::mem::replace(unsafe { &mut (*env.local).slice }, transfers);
                let flow = unsafe { (*ctx).exec::<false, false>(run, &mut *env.local) };
                unsafe { (*env.local).slice = slice };
                match flow {
                    Flow::Yield => {
                        env.slice = env.slice.saturating_sub(u64::from(transfers) * TRANSFER_WEIGHT);
                        if env.slice == 0 {
                            break match run.core.attention.load(Ordering::Relaxed) {
                                true => Flow::Interrupted,
                                false => Flow::Yield,
                            };
                        }
                        continue;
                    }
                    other => break other,
                }
            };
            // SAFETY: `env` describes this context, as compiled code
            // expects; the call stack is handed over and back around it.
            let status = unsafe {
                env.calls_in();
                let status = f(&mut env, pc);
                env.calls_out();
                status
            };
            let at = (status & 0xffff_ffff) as u32;
            match status & status::KIND {
                status::AT => unsafe { (*ctx).pc = at },
                status::STEP => {
                    unsafe { (*ctx).pc = at };
                    match unsafe { (*ctx).exec::<true, false>(run, &mut *env.local) } {
                        Flow::Stepped => {}
                        other => break other,
                    }
                }
                status::YIELD => {
                    unsafe { (*ctx).pc = at };
                    break match run.core.attention.load(Ordering::Relaxed) {
                        true => Flow::Interrupted,
                        false => Flow::Yield,
                    };
                }
                _ => break env.flow.take().unwrap_or(Flow::Stepped),
            }
        };
        // SAFETY: as above.
        unsafe { (*env.local).slice = (env.slice / TRANSFER_WEIGHT).max(1) as u32 };
        flow
    }
}
