//! Post-copy migration for a Manda machine: the target runs before its
//! pages have all arrived (`docs/hypervisor.md`, "Post-copy").
//!
//! **The source** stops and sends, instead of its pages, a directory: a
//! record per page the target lacks — `OWED` (its bytes come later), or
//! `SAME` as in a pre-copy chunk (`transfer.rs`) for a page forked contexts
//! share — then its final snapshot, which leaves those pages out. No
//! page's bytes are read while the program waits. The owed pages' bytes
//! ([`OwedPages`], the stopped machine's own pages, shared: nothing is
//! copied) are then sent in the background, a page the target asks for
//! first.
//!
//! **The target** puts each owed page in place as a [`Page`] without bytes
//! (charged, shared between contexts as on the source: `Page::owed`). A
//! memory that touches one waits in [`Pager::wait`] until its bytes come
//! (asking for it if nobody has), so the program sees exactly the bytes it
//! would have seen at the source. Arriving bytes are checked as a
//! snapshot's page is. If they can no longer come — the source or the link
//! went away — every wait ends in the trap `TrapKind::PageLost` and the
//! host ends the program as lost: never a page read as zeros.

use super::memory::{Memory, Page, PAGE};
use super::snapshot::SnapshotError;
use super::transfer::{Tracker, HEADER};
use super::Machine;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Condvar, Mutex, PoisonError, Weak};

/// Record kind: the page at that context and number is owed (its bytes come later).
pub(super) const OWED: u8 = 4;
/// Record kind: the owed page of index PAGE (CONTEXT 0) will not come: the
/// source no longer has it, and every place that held it holds another.
pub(super) const VOID: u8 = 5;

/// A post-copy's stop, the source's side: what goes before the target runs, and what after.
pub struct Postcopy {
    /// The rest of the directory, in chunks of records for the target's `Received::apply`.
    pub directory: Vec<Vec<u8>>,
    /// The final snapshot: the contexts, ports and WASI state, without the pages.
    pub state: vm_core::StateBytes,
    /// The owed pages, by index.
    pub pages: OwedPages,
}

/// The pages a post-copy's source owes its target, by index: the stopped
/// machine's own pages, held weakly (nothing is copied; a machine that
/// runs again after an aborted migration gives a page it writes a new
/// identity, so a page it wrote is never sent). `None`: voided.
pub struct OwedPages {
    pages: Vec<Option<Weak<Page>>>,
}

impl OwedPages {
    /// How many indices there are (voided ones included).
    pub fn count(&self) -> u64 {
        self.pages.len() as u64
    }

    /// How many pages are owed (the indices not voided).
    pub fn owed(&self) -> u64 {
        self.pages.iter().filter(|p| p.is_some()).count() as u64
    }

    /// Appends the bytes of owed page `index` to `out`: `Ok(false)` if it
    /// is not owed (voided, or no such index); `Err` if the machine wrote
    /// it since it stopped (it ran again: the migration was aborted).
    pub fn append(&self, index: u64, out: &mut Vec<u8>) -> Result<bool, String> {
        let Some(Some(weak)) = usize::try_from(index).ok().and_then(|i| self.pages.get(i)) else { return Ok(false) };
        match weak.upgrade() {
            Some(page) => {
                out.extend_from_slice(page.bytes());
                Ok(true)
            }
            None => Err(format!("owed page #{index} was written here after the stop: the program ran on here")),
        }
    }
}

impl Machine {
    /// The next records of a post-copy's round (the program runs between
    /// chunks): each page the target lacks listed as owed, or as the page
    /// another context's place holds (forked contexts' sharing), without
    /// reading any page's bytes; about `budget` bytes, `None` when the
    /// round is all listed.
    pub(super) fn owing_chunk(&mut self, budget: usize) -> Option<Vec<u8>> {
        let forks = self.code.forks;
        let tracker = self.tracker.as_mut()?;
        if tracker.pending.is_empty() {
            return None;
        }
        let mut out = Vec::with_capacity(budget.min(64 << 20) + 2 * HEADER);
        while out.len() < budget {
            let Some((ctx, number, weak)) = tracker.pending.pop_front() else { break };
            if weak.strong_count() > 0 {
                owe(tracker, forks, ctx, number, weak, &mut out);
            }
        }
        Some(out)
    }

    /// Stops for a post-copy (the machine stopped for good): the records
    /// of every page the target lacks that no round listed yet (or that
    /// changed since), voids for owed pages that no longer exist, the
    /// snapshot without any page, and the owed pages. Pages a pre-copy
    /// round sent (and unchanged since) are neither listed nor owed. The
    /// tracker ends here.
    pub fn postcopy_finish(&mut self, budget: usize) -> Result<Postcopy, String> {
        // Everything the target lacks goes in the directory: the snapshot carries no page.
        let state = self.encode(Some(super::snapshot::Chosen::new()))?;
        if self.tracker.as_ref().is_none_or(|t| !t.fresh) {
            self.precopy_owe();
            self.precopy_round();
        }
        self.precopy_owe();
        let forks = self.code.forks;
        let mut tracker = self.tracker.take().expect("a round was just started");
        let mut directory = Vec::new();
        let mut chunk: Vec<u8> = Vec::new();
        while let Some((ctx, number, weak)) = tracker.pending.pop_front() {
            if weak.strong_count() > 0 {
                owe(&mut tracker, forks, ctx, number, weak, &mut chunk);
            }
            if chunk.len() >= budget {
                directory.push(std::mem::take(&mut chunk));
            }
        }
        let mut pages = Vec::with_capacity(tracker.owed.len());
        for (index, weak) in tracker.owed.drain(..).enumerate() {
            match weak.strong_count() {
                // Gone: every place the target holds it at was listed again just now.
                0 => {
                    chunk.push(VOID);
                    chunk.extend_from_slice(&0u64.to_le_bytes());
                    chunk.extend_from_slice(&(index as u64).to_le_bytes());
                    pages.push(None);
                }
                _ => pages.push(Some(weak)),
            }
        }
        if !chunk.is_empty() {
            directory.push(chunk);
        }
        for ctx in &mut self.contexts {
            ctx.mem.share_pages();
        }
        Ok(Postcopy { directory, state, pages: OwedPages { pages } })
    }

    /// The pager of a post-copy whose pages have not all arrived, if any.
    pub fn pages_owed(&self) -> Option<&Arc<Pager>> {
        self.pager.as_ref().filter(|p| p.left() > 0)
    }

    /// Forgets a pager whose pages have all arrived: memories stop looking for owed pages.
    pub(super) fn settle_pager(&mut self) {
        if self.pager.as_ref().is_some_and(|p| p.left() == 0) {
            self.pager = None;
            for ctx in &mut self.contexts {
                ctx.mem.await_pages(None);
            }
        }
    }
}

/// Lists page `number` of context `ctx` (`weak`, alive) for the target: as
/// the page another place already holds there, if a forked context shares
/// it and the target still holds it at that place; else as owed, under the
/// next index.
fn owe(tracker: &mut Tracker, forks: bool, ctx: u64, number: u64, weak: Weak<Page>, out: &mut Vec<u8>) {
    let record = |kind: u8, out: &mut Vec<u8>| {
        out.push(kind);
        out.extend_from_slice(&ctx.to_le_bytes());
        out.extend_from_slice(&number.to_le_bytes());
    };
    let at = weak.as_ptr() as usize;
    let holds = |tracker: &Tracker, (c, n): (u64, u64)| tracker.sent.get(&c).is_some_and(|s| s.holds(n, weak.as_ptr()));
    match forks.then(|| tracker.first_sent.get(&at).copied()).flatten().filter(|&place| holds(tracker, place)) {
        Some((from_ctx, from_page)) => {
            record(super::transfer::SAME, out);
            out.extend_from_slice(&from_ctx.to_le_bytes());
            out.extend_from_slice(&from_page.to_le_bytes());
        }
        None => {
            record(OWED, out);
            if forks {
                tracker.first_sent.insert(at, (ctx, number));
            }
            tracker.owed.push(weak.clone());
        }
    }
    tracker.sent.entry(ctx).or_default().set(number, weak);
}

/// The pages a post-copy's target is still owed, and the contexts waiting
/// for them. Shared by the memories (which wait) and the host's thread
/// that receives the pages (which fills them and asks for those waited for).
pub struct Pager {
    owed: Mutex<Owed>,
    arrived: Condvar,
}

/// An owed page, by index, in the pager.
enum Slot {
    /// Its bytes have not come: the page they go to.
    Owed(Arc<Page>),
    Arrived,
    /// The source voided it (no place holds it).
    Void,
}

struct Owed {
    /// By index: the page's number and what became of it.
    pages: Vec<(u64, Slot)>,
    left: u64,
    /// Pages a context waits for, not yet asked for.
    wanted: Vec<u64>,
    asked: HashSet<u64>,
    /// Why the rest can no longer arrive.
    lost: Option<String>,
    /// Owed pages that end a context's heap: the bytes from this offset on must be zero.
    zero_from: HashMap<u64, usize>,
    /// The memory as loaded, and the largest heap end: what arriving bytes are checked against.
    base: Memory,
    limit: u64,
}

impl Pager {
    /// A pager for the owed pages `pages` (by index: number, and the page
    /// unless voided).
    pub(super) fn new(pages: Vec<(u64, Option<Arc<Page>>)>, base: Memory, limit: u64) -> Pager {
        let left = pages.iter().filter(|(_, p)| p.is_some()).count() as u64;
        let pages = pages.into_iter().map(|(n, p)| (n, p.map_or(Slot::Void, Slot::Owed))).collect();
        let owed = Owed {
            pages,
            left,
            wanted: Vec::new(),
            asked: HashSet::new(),
            lost: None,
            zero_from: HashMap::new(),
            base,
            limit,
        };
        Pager { owed: Mutex::new(owed), arrived: Condvar::new() }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Owed> {
        self.owed.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Owed pages whose bytes have not arrived.
    pub fn left(&self) -> u64 {
        self.lock().left
    }

    /// The owed page `index` ends a context's heap: its bytes from `offset` on must be zero.
    pub(super) fn zero_from(&self, index: u64, offset: usize) {
        let mut owed = self.lock();
        let at = owed.zero_from.entry(index).or_insert(offset);
        *at = (*at).min(offset);
    }

    /// Waits until the owed page `index` has arrived, asking for it first;
    /// why not, if it cannot any more.
    pub(super) fn wait(&self, index: u64) -> Result<(), String> {
        let mut owed = self.lock();
        loop {
            match owed.pages.get(index as usize) {
                Some((_, Slot::Arrived)) => return Ok(()),
                Some((_, Slot::Owed(_))) => {}
                Some((_, Slot::Void)) => return Err(format!("the source voided page #{index}, which is in use")),
                None => return Err(format!("page #{index} was never owed")),
            }
            if let Some(why) = &owed.lost {
                return Err(why.clone());
            }
            if owed.asked.insert(index) {
                owed.wanted.push(index);
            }
            owed = self.arrived.wait(owed).unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// The pages contexts wait for that were not asked for yet: to ask the source for now.
    pub fn wanted(&self) -> Vec<u64> {
        std::mem::take(&mut self.lock().wanted)
    }

    /// Puts arriving pages in place: records of an index (8 bytes,
    /// little-endian) and the page's 4096 bytes (untrusted: each checked as
    /// a snapshot's page is). On an error the pages before it stay; the
    /// offset is the record's within the chunk.
    pub fn fill(&self, chunk: &[u8]) -> Result<(), SnapshotError> {
        let mut r = vm_core::untrusted::ByteReader::<SnapshotError>::new(chunk, 0);
        let mut owed = self.lock();
        let filled = (|| {
            while r.at < chunk.len() {
                let at = r.at;
                let index = r.u64("owed page index")?;
                let bytes: &[u8; PAGE as usize] = r.take(PAGE as usize, "page")?.try_into().expect("a page");
                let fail = |reason: String| Err(SnapshotError { offset: at, reason });
                let Some((number, slot)) = usize::try_from(index).ok().and_then(|i| owed.pages.get(i)) else {
                    return fail(format!("page #{index}, but only {} are owed", owed.pages.len()));
                };
                let page = match slot {
                    Slot::Owed(page) => page,
                    Slot::Arrived => return fail(format!("page #{index} arrived twice")),
                    Slot::Void => return fail(format!("page #{index} was voided")),
                };
                if let Err(why) = owed.base.may_hold(*number, bytes, owed.limit) {
                    return fail(format!("page 0x{number:x} (#{index}): {why}"));
                }
                if let Some(&from) = owed.zero_from.get(&index) {
                    if bytes[from..].iter().any(|&b| b != 0) {
                        return fail(format!(
                            "page 0x{number:x} (#{index}): bytes past the end of the heap that are not zero"
                        ));
                    }
                }
                page.arrive(bytes);
                owed.pages[index as usize].1 = Slot::Arrived;
                owed.left -= 1;
            }
            Ok(())
        })();
        drop(owed);
        self.arrived.notify_all();
        filled
    }

    /// The rest of the pages can no longer arrive, for `why`: every wait,
    /// now and later, ends in the trap `TrapKind::PageLost`.
    pub fn lose(&self, why: &str) {
        let mut owed = self.lock();
        if owed.left > 0 && owed.lost.is_none() {
            owed.lost = Some(why.to_string());
        }
        drop(owed);
        self.arrived.notify_all();
    }

    /// Why the rest of the pages can no longer arrive, if so.
    pub fn lost(&self) -> Option<String> {
        self.lock().lost.clone()
    }
}

impl std::fmt::Debug for Pager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pager").field("left", &self.left()).finish_non_exhaustive()
    }
}
