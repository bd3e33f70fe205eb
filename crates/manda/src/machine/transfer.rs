//! Live migration's two ends for a Manda machine: the source's tracker,
//! which finds the pages written since they were last sent while the
//! program runs (pre-copy), and the target's [`Received`] pages, which a
//! final snapshot then completes (`docs/manda/snapshot.md`, "Pages sent
//! ahead").
//!
//! **What was written.** A page the target has is remembered by a `Weak`
//! reference: its identity, without holding its bytes. A write to a page
//! that has weak references gives it a new `Arc` (the bytes stay in place:
//! `memory.rs`, `rewrapped`), so a page is unchanged since it was sent
//! exactly when the context still holds the very `Arc` the tracker
//! remembers. Each round first clears the pages' "held alone" marks
//! (`share_pages`), so the first write to any page after it takes the slow
//! path that does this. Weak references are upgraded only on the thread
//! that owns the machine while it is stopped, so a write never finds a
//! page held by the tracker and never copies one for it: a migration costs
//! the program no memory.
//!
//! **On the wire.** A chunk of pages is a run of records, each naming a
//! context and a page: the page's bytes (`PAGE`), "all zeros" (`ZERO`), or
//! "the page the target already holds at that other place" (`SAME`), so
//! pages forked contexts share stay shared. The target builds each
//! context's memory as the records arrive, checking every page as a
//! snapshot's, and charging it to the meter the restored machine keeps.

use super::memory::{Memory, Meter, Page, PAGE};
use super::snapshot::SnapshotError;
use super::{Machine, CONTEXT_BYTES};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Weak};

/// Record kind: a page's 4096 bytes follow.
const PAGE_BYTES: u8 = 1;
/// Record kind: the page is all zeros.
pub(super) const ZERO: u8 = 2;
/// Record kind: the page is the one already sent for another context and page.
pub(super) const SAME: u8 = 3;

/// A record's header: kind, context, page.
pub(super) const HEADER: usize = 1 + 8 + 8;

/// Slots per leaf of a [`Sent`] map: one page table's worth.
const LEAF: usize = 64;

/// What the target holds at [`LEAF`] consecutive page numbers.
type Leaf = [Option<Weak<Page>>; LEAF];

/// Per context, the page the target holds at each page number, as last sent.
#[derive(Default)]
pub(super) struct Sent {
    leaves: Vec<Option<Box<Leaf>>>,
}

impl Sent {
    pub(super) fn get(&self, page: u64) -> Option<&Weak<Page>> {
        let leaf = self.leaves.get((page / LEAF as u64) as usize)?.as_ref()?;
        leaf[(page % LEAF as u64) as usize].as_ref()
    }

    pub(super) fn set(&mut self, page: u64, sent: Weak<Page>) {
        let at = (page / LEAF as u64) as usize;
        if self.leaves.len() <= at {
            self.leaves.resize_with(at + 1, || None);
        }
        let leaf = self.leaves[at].get_or_insert_with(|| Box::new(std::array::from_fn(|_| None)));
        leaf[(page % LEAF as u64) as usize] = Some(sent);
    }

    /// True if the target holds `page` as it is now.
    pub(super) fn holds(&self, number: u64, page: *const Page) -> bool {
        self.get(number).is_some_and(|w| std::ptr::eq(w.as_ptr(), page))
    }
}

/// The source's side of a pre-copy: what the target has, and what this round still has to send.
#[derive(Default)]
pub(super) struct Tracker {
    pub(super) sent: HashMap<u64, Sent>,
    /// This round's pages to send: context, page number, the page as the round found it.
    pub(super) pending: VecDeque<(u64, u64, Weak<Page>)>,
    /// Where each page sent so far went first (context, page number), by
    /// its address: a page forked contexts share is sent once. Kept only
    /// for a program that forks.
    pub(super) first_sent: HashMap<usize, (u64, u64)>,
    /// The machine has not run since the round began: `pending` still
    /// holds every page the target lacks.
    pub(super) fresh: bool,
    /// Post-copy: the rounds list pages as owed (`OWED` records, no bytes)
    /// instead of sending them (`postcopy.rs`).
    pub(super) owing: bool,
    /// The pages listed as owed, by index: the page as listed (a page
    /// written since no longer upgrades, and is owed again under a new index).
    pub(super) owed: Vec<Weak<Page>>,
}

/// What a pre-copy round found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Round {
    /// Pages to send this round (written since last sent, or never sent).
    pub pages: u64,
    /// What they come to on the wire: their bytes, or (listed as owed) their records.
    pub bytes: u64,
}

impl Machine {
    /// Starts a new pre-copy round (the machine stopped): every page the
    /// target does not hold as it is now is queued for
    /// [`precopy_chunk`](Self::precopy_chunk). The first round queues every
    /// page that differs from the loaded image.
    pub fn precopy_round(&mut self) -> Round {
        let tracker = self.tracker.get_or_insert_with(Box::default);
        for ctx in &mut self.contexts {
            // The first write to each page from now on takes the path that re-identifies it.
            ctx.mem.share_pages();
        }
        tracker.pending.clear();
        tracker.fresh = true;
        tracker.sent.retain(|id, _| self.contexts.iter().any(|c| c.id == *id));
        let image_pages = self.base.image_len().div_ceil(PAGE);
        for ctx in &self.contexts {
            let sent = tracker.sent.entry(ctx.id).or_default();
            let pending = &mut tracker.pending;
            ctx.mem.for_each_page(|number, page| {
                if sent.holds(number, Arc::as_ptr(page)) {
                    return;
                }
                let never_sent = sent.get(number).is_none();
                if never_sent && number < image_pages && self.base.page(number).is_some_and(|b| Arc::ptr_eq(b, page)) {
                    return; // the target's image has it
                }
                pending.push_back((ctx.id, number, Arc::downgrade(page)));
            });
        }
        let pages = tracker.pending.len() as u64;
        let each = if tracker.owing { HEADER as u64 } else { PAGE };
        Round { pages, bytes: pages * each }
    }

    /// The next records of this round's pages (the machine stopped), about
    /// `budget` bytes; `None` when the round has sent them all. A page
    /// written since the round began is skipped: the next round sends it.
    pub fn precopy_chunk(&mut self, budget: usize) -> Option<Vec<u8>> {
        let forks = self.code.forks;
        if self.tracker.as_ref().is_some_and(|t| t.owing) {
            return self.owing_chunk(budget);
        }
        let tracker = self.tracker.as_mut()?;
        if tracker.pending.is_empty() {
            return None;
        }
        let mut out = Vec::with_capacity(budget.min(64 << 20) + HEADER + PAGE as usize);
        // The pending pages come context by context: the last one's map is looked up once.
        let mut sent_to: Option<(u64, Sent)> = None;
        while out.len() < budget {
            let Some((ctx, number, weak)) = tracker.pending.pop_front() else { break };
            let Some(page) = weak.upgrade() else { continue };
            if sent_to.as_ref().is_none_or(|(c, _)| *c != ctx) {
                if let Some((c, sent)) = sent_to.take() {
                    tracker.sent.insert(c, sent);
                }
                sent_to = Some((ctx, tracker.sent.remove(&ctx).unwrap_or_default()));
            }
            let mut record = |kind: u8| {
                out.push(kind);
                out.extend_from_slice(&ctx.to_le_bytes());
                out.extend_from_slice(&number.to_le_bytes());
            };
            let at = Arc::as_ptr(&page) as usize;
            let (_, sent) = sent_to.as_mut().expect("just set");
            let shared = match forks {
                true => tracker.first_sent.get(&at).copied().filter(|&(c, n)| match c == ctx {
                    true => sent.holds(n, Arc::as_ptr(&page)),
                    false => tracker.sent.get(&c).is_some_and(|s| s.holds(n, Arc::as_ptr(&page))),
                }),
                false => None,
            };
            match shared {
                Some((from_ctx, from_page)) => {
                    record(SAME);
                    out.extend_from_slice(&from_ctx.to_le_bytes());
                    out.extend_from_slice(&from_page.to_le_bytes());
                }
                None if page.is_zero() => record(ZERO),
                None => {
                    record(PAGE_BYTES);
                    out.extend_from_slice(page.bytes());
                    if forks {
                        tracker.first_sent.insert(at, (ctx, number));
                    }
                }
            }
            sent.set(number, weak);
        }
        if let Some((c, sent)) = sent_to {
            tracker.sent.insert(c, sent);
        }
        Some(out)
    }

    /// The final snapshot of a pre-copy (the machine stopped for good): as
    /// [`save_state`](Self::save_state), but leaving out every page the
    /// target already holds as it is now. The tracker ends here.
    pub fn precopy_finish(&mut self) -> Result<vm_core::StateBytes, String> {
        if self.tracker.as_ref().is_some_and(|t| !t.fresh) {
            // The program ran since the last round: what it wrote goes too.
            self.precopy_round();
        }
        let Some(mut tracker) = self.tracker.take() else { return self.save_state() };
        // The last round's pages are exactly what the target lacks: the machine has not run since.
        let mut chosen = super::snapshot::Chosen::new();
        for (ctx, number, weak) in tracker.pending.drain(..) {
            let Some(page) = weak.upgrade() else { continue };
            // Never sent to that place: the target has the image's page there, so one equal to it stays out.
            let never_sent = tracker.sent.get(&ctx).is_none_or(|s| s.get(number).is_none());
            if !(never_sent && self.as_loaded(number, &page)) {
                chosen.entry(ctx).or_default().push((number, page));
            }
        }
        for ctx in &mut self.contexts {
            ctx.mem.share_pages();
        }
        self.encode(Some(chosen))
    }

    /// Post-copy from now on: the next rounds list pages as owed, without
    /// their bytes, and [`postcopy_finish`](Self::postcopy_finish) ends them.
    pub fn precopy_owe(&mut self) {
        self.tracker.get_or_insert_with(Box::default).owing = true;
    }

    /// Ends a pre-copy without its final snapshot: the program runs on as if none had begun.
    pub fn precopy_abandon(&mut self) {
        self.tracker = None;
    }

    /// An empty [`Received`] for pages a source sends ahead of its final
    /// snapshot. While pages arrive it may hold up to twice `--max-memory`:
    /// forked contexts' pages are shared as they come, but the page tables
    /// above them only once all have arrived ([`Machine::restore_received`]
    /// then holds the machine to its limit).
    pub fn receiver(&self) -> Result<Received, SnapshotError> {
        self.receiver_within(self.config.max_memory.saturating_mul(2))
    }

    /// An empty [`Received`] whose meter allows `limit` bytes.
    pub(super) fn receiver_within(&self, limit: u64) -> Result<Received, SnapshotError> {
        let meter = Arc::new(Meter::new(limit));
        let too_big =
            |e| SnapshotError { offset: 0, reason: format!("it needs more memory than this machine's limit: {e}") };
        meter.charge(self.code.heap_bytes()).map_err(too_big)?;
        let base = self.base.recharged(&meter).map_err(too_big)?;
        Ok(Received {
            meter,
            base,
            contexts: HashMap::new(),
            max_contexts: self.config.max_contexts,
            zero: None,
            owed: Vec::new(),
        })
    }
}

/// A context's memory as received so far.
pub(super) struct Staged {
    pub(super) mem: Memory,
    /// One past the highest heap page received.
    pub(super) top: u64,
}

/// Pages received ahead of a final snapshot: each context's memory as the
/// records built it, charged to the meter the restored machine will keep.
pub struct Received {
    pub(super) meter: Arc<Meter>,
    pub(super) base: Memory,
    pub(super) contexts: HashMap<u64, Staged>,
    max_contexts: u32,
    /// One zero page every `ZERO` record shares.
    zero: Option<Arc<Page>>,
    /// A post-copy's owed pages (`OWED` records), by index: number, and the page unless voided.
    pub(super) owed: Vec<(u64, Option<Arc<Page>>)>,
}

impl std::fmt::Debug for Received {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Received").field("contexts", &self.contexts.len()).finish_non_exhaustive()
    }
}

/// A received page, before it is placed.
enum Incoming<'a> {
    /// Its bytes, copied into the context's memory.
    Bytes(&'a [u8; PAGE as usize]),
    /// All zeros.
    Zero,
    /// A page another place holds too.
    Shared(Arc<Page>),
}

impl Received {
    /// Applies one chunk of records (untrusted): every page is checked as
    /// a snapshot's page is, against the heap's largest possible end (the
    /// final snapshot checks each context's own). On an error nothing of
    /// the chunk's remaining records is applied; the offset is the
    /// record's within the chunk.
    pub fn apply(&mut self, chunk: &[u8]) -> Result<(), SnapshotError> {
        let mut r = vm_core::untrusted::ByteReader::<SnapshotError>::new(chunk, 0);
        let limit = self.meter.limit();
        while r.at < chunk.len() {
            let at = r.at;
            let kind = r.u8("record kind")?;
            let ctx = r.u64("context id")?;
            let number = r.u64("page number")?;
            let fail = |reason: String| Err(SnapshotError { offset: at, reason });
            let page = match kind {
                PAGE_BYTES => {
                    let bytes: &[u8; PAGE as usize] = r.take(PAGE as usize, "page")?.try_into().expect("a page");
                    if let Err(why) = self.base.may_hold(number, bytes, limit) {
                        return fail(format!("page 0x{number:x} of context {ctx}: {why}"));
                    }
                    Incoming::Bytes(bytes)
                }
                ZERO => {
                    if let Err(why) = self.base.may_hold(number, &[0; PAGE as usize], limit) {
                        return fail(format!("page 0x{number:x} of context {ctx}: {why}"));
                    }
                    Incoming::Zero
                }
                super::postcopy::OWED => {
                    if let Err(why) = self.base.may_place(number, limit) {
                        return fail(format!("page 0x{number:x} of context {ctx}: {why}"));
                    }
                    let page = Page::owed(&self.meter, self.owed.len() as u64).map_err(|e| self.too_big(at, e))?;
                    self.owed.push((number, Some(page.clone())));
                    Incoming::Shared(page)
                }
                super::postcopy::VOID => {
                    // Only a page no context holds any more (every place listed again) may be voided.
                    match usize::try_from(number).ok().and_then(|i| self.owed.get_mut(i)) {
                        Some((_, page @ Some(_))) if page.as_ref().is_some_and(|p| Arc::strong_count(p) == 1) => {
                            *page = None
                        }
                        Some((_, Some(_))) => {
                            return fail(format!("a void for owed page #{number}, which a context still holds"))
                        }
                        _ => return fail(format!("a void for owed page #{number}, which is not owed")),
                    }
                    continue;
                }
                SAME => {
                    let from_ctx = r.u64("context id")?;
                    let from_page = r.u64("page number")?;
                    match self.contexts.get_mut(&from_ctx).and_then(|s| s.mem.share_page(from_page)) {
                        Some(page) => Incoming::Shared(page),
                        None => {
                            return fail(format!(
                                "page 0x{number:x} of context {ctx} is said to be page 0x{from_page:x} of context \
                                 {from_ctx}, which was not received"
                            ))
                        }
                    }
                }
                other => {
                    return fail(format!("record kind {other} (1 page, 2 zeros, 3 same as another, 4 owed, 5 void)"))
                }
            };
            if !self.contexts.contains_key(&ctx) {
                if self.contexts.len() >= self.max_contexts as usize {
                    return fail(format!("more than {} contexts (--max-contexts)", self.max_contexts));
                }
                self.meter.charge(CONTEXT_BYTES).map_err(|e| self.too_big(at, e))?;
                let mut mem = self.base.fork();
                if self.contexts.is_empty() {
                    // Flat, as the source's first context is (`arena.rs`), until a
                    // page it holds is shared with another.
                    mem.own_heap();
                }
                self.contexts.insert(ctx, Staged { mem, top: 0 });
            }
            let heap_page = self.base.first_heap_page();
            let staged = self.contexts.get_mut(&ctx).expect("just inserted");
            let placed = match page {
                // The context's own copy: a flat heap stays flat (`arena.rs`).
                Incoming::Bytes(bytes) => staged.mem.fill_page(number, bytes),
                Incoming::Zero if staged.mem.zeroes_in_place(number) => Ok(()),
                Incoming::Zero => match &self.zero {
                    Some(zero) => staged.mem.put_page(number, zero),
                    None => match Page::with_bytes(&self.meter, &[0; PAGE as usize]) {
                        Ok(zero) => staged.mem.put_page(number, self.zero.insert(zero)),
                        Err(e) => Err(e),
                    },
                },
                Incoming::Shared(page) => staged.mem.put_page(number, &page),
            };
            placed.map_err(|e| SnapshotError {
                offset: at,
                reason: format!("it needs more memory than this machine's limit: {e}"),
            })?;
            if number >= heap_page {
                staged.top = staged.top.max(number + 1);
            }
        }
        Ok(())
    }

    fn too_big(&self, at: usize, e: super::TrapKind) -> SnapshotError {
        SnapshotError { offset: at, reason: format!("it needs more memory than this machine's limit: {e}") }
    }

    /// The contexts' charges taken while receiving: the restored contexts are charged their own.
    pub(super) fn release_context_charges(&self) {
        self.meter.release(CONTEXT_BYTES * self.contexts.len() as u64);
    }
}
