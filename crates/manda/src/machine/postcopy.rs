//! Post-copy migration for a Manda machine: the target runs before its
//! pages have all arrived (`docs/hypervisor.md`, "Post-copy").
//!
//! **The source** stops and sends, instead of its pages, a directory: a
//! record per page the target lacks — `OWED` (its bytes come later), or
//! `ZERO` and `SAME` as in a pre-copy chunk (`transfer.rs`) — then its
//! final snapshot, which leaves those pages out. The owed pages' bytes
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
use super::Machine;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Condvar, Mutex, PoisonError};

/// Record kind of a directory: the page at that context and number comes later.
pub(super) const OWED: u8 = 4;

/// A post-copy's stop, the source's side: what goes before the target runs, and what after.
pub struct Postcopy {
    /// The directory, in chunks of records for the target's `Received::apply`.
    pub directory: Vec<Vec<u8>>,
    /// The final snapshot: the contexts, ports and WASI state, without the pages.
    pub state: vm_core::StateBytes,
    /// The owed pages' bytes, in the directory's order.
    pub pages: OwedPages,
}

/// The pages a post-copy's source owes its target, in the directory's
/// order: the stopped machine's own pages, shared (a machine that runs on
/// after an aborted migration copies a page before it writes it).
pub struct OwedPages {
    pages: Vec<Arc<Page>>,
}

impl OwedPages {
    /// How many pages are owed.
    pub fn count(&self) -> u64 {
        self.pages.len() as u64
    }

    /// The bytes of the `index`th owed page.
    pub fn bytes(&self, index: u64) -> Option<&[u8; PAGE as usize]> {
        self.pages.get(usize::try_from(index).ok()?).map(|p| p.bytes())
    }
}

impl Machine {
    /// Stops for a post-copy (the machine stopped for good): the directory
    /// of every page the target lacks, in chunks of about `budget` bytes,
    /// the snapshot without those pages, and the pages the directory owes.
    /// Pages a pre-copy already sent (and unchanged since) are neither
    /// listed nor owed. The tracker ends here.
    pub fn postcopy_finish(&mut self, budget: usize) -> Result<Postcopy, String> {
        // Everything the target lacks goes in the directory: the snapshot carries no page.
        let state = self.encode(Some(super::snapshot::Chosen::new()))?;
        if self.tracker.as_ref().is_none_or(|t| !t.fresh) {
            self.precopy_round();
        }
        let mut tracker = self.tracker.take().expect("a round was just started");
        let mut directory = Vec::new();
        let mut chunk: Vec<u8> = Vec::new();
        let mut owed = Vec::new();
        // Where each page went first (context, number), by its address: a
        // page forked contexts share is owed once, and listed as `SAME` after.
        let mut first: HashMap<*const Page, (u64, u64)> = HashMap::new();
        for (ctx, number, weak) in tracker.pending.drain(..) {
            let Some(page) = weak.upgrade() else { continue };
            let never_sent = tracker.sent.get(&ctx).is_none_or(|s| s.get(number).is_none());
            if never_sent && self.as_loaded(number, &page) {
                continue; // the target's image has it
            }
            let mut record = |kind: u8| {
                chunk.push(kind);
                chunk.extend_from_slice(&ctx.to_le_bytes());
                chunk.extend_from_slice(&number.to_le_bytes());
            };
            let at = Arc::as_ptr(&page);
            // Sent ahead to another place and unchanged since: the target holds it there.
            let sent_ahead = tracker.first_sent.get(&(at as usize)).copied().filter(|&(c, n)| {
                tracker.sent.get(&c).is_some_and(|s| s.get(n).is_some_and(|w| std::ptr::eq(w.as_ptr(), at)))
            });
            match first.get(&at).copied().or(sent_ahead) {
                Some((from_ctx, from_page)) => {
                    record(super::transfer::SAME);
                    chunk.extend_from_slice(&from_ctx.to_le_bytes());
                    chunk.extend_from_slice(&from_page.to_le_bytes());
                }
                None if page.is_zero() => record(super::transfer::ZERO),
                None => {
                    record(OWED);
                    first.insert(at, (ctx, number));
                    owed.push(page);
                }
            }
            if chunk.len() >= budget {
                directory.push(std::mem::take(&mut chunk));
            }
        }
        if !chunk.is_empty() {
            directory.push(chunk);
        }
        for ctx in &mut self.contexts {
            ctx.mem.share_pages();
        }
        Ok(Postcopy { directory, state, pages: OwedPages { pages: owed } })
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

/// The pages a post-copy's target is still owed, and the contexts waiting
/// for them. Shared by the memories (which wait) and the host's thread
/// that receives the pages (which fills them and asks for those waited for).
pub struct Pager {
    owed: Mutex<Owed>,
    arrived: Condvar,
}

struct Owed {
    /// By index: the page's number and the page, until its bytes arrive.
    pages: Vec<(u64, Option<Arc<Page>>)>,
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
    /// A pager for the owed pages `pages` (number, page, in the directory's order).
    pub(super) fn new(pages: Vec<(u64, Arc<Page>)>, base: Memory, limit: u64) -> Pager {
        let left = pages.len() as u64;
        let pages = pages.into_iter().map(|(n, p)| (n, Some(p))).collect();
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
                Some((_, None)) => return Ok(()),
                Some((_, Some(_))) => {}
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
                let Some(page) = slot else { return fail(format!("page #{index} arrived twice")) };
                if let Err(why) = owed.base.may_hold(*number, bytes, owed.limit) {
                    return fail(format!("page 0x{number:x} (#{index}): {why}"));
                }
                if let Some(&from) = owed.zero_from.get(&index) {
                    if bytes[from..].iter().any(|&b| b != 0) {
                        return fail(format!("page 0x{number:x} (#{index}): bytes past the end of the heap that are not zero"));
                    }
                }
                page.arrive(bytes);
                owed.pages[index as usize].1 = None;
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
