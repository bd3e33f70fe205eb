//! A flat heap: the heap's pages at one host address plus their offset,
//! so that a load from the heap is a bounds check and an access.
//!
//! A memory's pages are a copy-on-write tree (`memory.rs`), each page an
//! allocation of its own: an access translates its address (the TLB). A
//! memory that holds every heap page alone needs none of that. While it
//! does, it creates its heap pages in an [`Arena`] — one reservation of
//! host address space as long as the heap may grow, each page at the
//! heap offset of its own bytes — and publishes a [`Flat`]: where the heap
//! begins in the host, and how many of its bytes may be read there
//! directly. The pages are still the tree's, charged and saved as any
//! other; only where their bytes live changes.
//!
//! **When it holds.** `Flat::len` is the heap's length while every heap
//! page present is in this memory's arena and held by it alone (an absent
//! page's bytes there are zeros, as it reads); 0 otherwise. Whatever
//! shares pages — a fork after the heap was written, a snapshot being
//! taken or sent, a restored page put in place, pages owed by a post-copy
//! — sets it to 0 first, for good: the memory's accesses go through the
//! translations from then on, and pages it copies are allocations of
//! their own. A fork before the heap holds a page leaves the forking side
//! flat, so the fork that starts every machine costs nothing; the copy is
//! not flat (forked contexts share pages, and a map page each would add
//! up), unless it is a restored program's single context, which owns
//! every page it is given (`Memory::own_heap`).
//!
//! **Stores** need one more check: a store may create a page, which is
//! charged to the memory limit and put in the tree, so only a page that
//! exists may be written in place. Past the heap's pages the arena keeps
//! one byte per page, set when the page is created: a store checks the
//! bounds, then that byte; the first store to a page takes the general
//! path, which creates it. The bytes cost a page of host memory per 16 MiB
//! of heap, charged to the memory limit as each is first touched.
//!
//! **Host memory.** The reservation costs no memory until written. Pages
//! die only once their memory is no longer flat (they were shared) or
//! with it: when the memory goes, the whole reservation goes with its last
//! page; else dropped pages are given back to the host in batches of
//! [`SWEEP_PAGES`] (`MADV_DONTNEED` over each run of dead pages, found in
//! the map), so the host holds at most that much more than the meter
//! counts. Where the host cannot reserve the space (a memory limit larger
//! than the address space, a strict overcommit policy), the memory simply
//! stays unflat.

use super::memory::{Meter, PAGE, PAGE_BITS};
use super::trap::TrapKind;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;

/// What compiled code and the interpreter read to load from the heap:
/// `repr(C)`, read at fixed offsets by compiled code.
#[repr(C)]
#[derive(Debug)]
pub(super) struct Flat {
    /// The host address of the heap's first byte (when `len` > 0).
    pub(super) base: *mut u8,
    /// Bytes from the heap's start that may be read at `base` plus their
    /// offset: the heap's length while the memory is flat, else 0.
    pub(super) len: u64,
    /// Where the byte that says a page exists is, for the host address
    /// `a` of one of its bytes: at `present + (a >> 12)` (an address, not
    /// a pointer: only ever offset by the page of an address in `len`).
    pub(super) present: u64,
}

impl Flat {
    /// Nothing may be read flat.
    pub(super) const OFF: Flat = Flat { base: std::ptr::null_mut(), len: 0, present: 0 };

    /// The host address of the byte at heap offset `offset` if a load of
    /// `n` bytes may read it in place: inside the flat heap (a page not
    /// there reads as the zeros it holds).
    #[inline(always)]
    pub(super) fn readable(&self, offset: u64, n: u64) -> Option<*mut u8> {
        (offset.saturating_add(n) <= self.len).then(|| self.base.wrapping_add(offset as usize))
    }

    /// The host address of the byte at heap offset `offset` if a store of
    /// `n` bytes may write it in place: inside the flat heap, within one
    /// page, and that page exists.
    #[inline(always)]
    pub(super) fn writable(&self, offset: u64, n: u64) -> Option<*mut u8> {
        let at = self.readable(offset, n)?;
        let page = at as u64 >> PAGE_BITS;
        // SAFETY: `at` is in the flat heap, so its page's byte is in the arena's map.
        let exists = unsafe { *(self.present.wrapping_add(page) as *const u8) } != 0;
        (exists && (at as u64 + n - 1) >> PAGE_BITS == page).then_some(at)
    }
}

/// Host address space reserved for one memory's heap pages, each at its
/// heap offset. Unmapped when the last page in it and its memory are gone.
#[derive(Debug)]
pub(super) struct Arena {
    base: NonNull<u8>,
    /// Bytes for pages; the map of pages that exist follows them.
    len: usize,
    /// Bytes reserved in all.
    reserved: usize,
    /// The map's pages charged to `meter` (a bit each), as first touched.
    charged: Box<[AtomicU64]>,
    meter: Arc<Meter>,
    /// The memory that made it is dropping every page in it: no need to
    /// give each back to the host, the whole reservation goes next.
    retiring: AtomicBool,
    /// A flat memory may still create pages here (and none dies).
    owned: AtomicBool,
    /// Pages dropped since the last sweep, and the lowest and highest of
    /// them (page numbers in the arena): a sweep scans only that stretch
    /// of the map, so that a memory dropped page by page is swept in time
    /// in proportion to its pages, not to its pages times the map.
    dead: AtomicU64,
    dead_from: AtomicU64,
    dead_to: AtomicU64,
    /// A sweep is under way.
    sweeping: AtomicBool,
}

/// Dropped pages that make a sweep: the host memory a disowned arena may
/// hold beyond what the meter counts (2 MiB).
pub(super) const SWEEP_PAGES: u64 = 512;

// SAFETY: the arena is a reservation; which of its bytes are written, and
// by whom, is the pages' business (see `Page`). Its own fields are not
// changed after creation but for the atomic flag.
unsafe impl Send for Arena {}
unsafe impl Sync for Arena {}

impl Arena {
    /// Reserves `len` bytes (a multiple of the page size) of zeroed,
    /// lazily backed host memory, and the map of its pages; `None` if the
    /// host refuses.
    pub(super) fn reserve(len: u64, meter: &Arc<Meter>) -> Option<Arena> {
        let len = usize::try_from(len).ok().filter(|&n| n > 0)?;
        let reserved = len.checked_add((len >> PAGE_BITS).next_multiple_of(PAGE as usize))?;
        // SAFETY: a fresh anonymous private mapping: no existing memory is affected.
        let at = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                reserved,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if at == libc::MAP_FAILED {
            return None;
        }
        let map_pages = (len >> PAGE_BITS).div_ceil(PAGE as usize);
        let charged = (0..map_pages.div_ceil(64)).map(|_| AtomicU64::new(0)).collect();
        let base = NonNull::new(at.cast())?;
        Some(Arena {
            base,
            len,
            reserved,
            charged,
            meter: meter.clone(),
            retiring: AtomicBool::new(false),
            owned: AtomicBool::new(true),
            dead: AtomicU64::new(0),
            dead_from: AtomicU64::new(u64::MAX),
            dead_to: AtomicU64::new(0),
            sweeping: AtomicBool::new(false),
        })
    }

    /// The map's byte for the page at `offset`, as an atomic: pages die on
    /// whichever thread drops them last.
    fn present_byte(&self, offset: u64) -> &AtomicU8 {
        // SAFETY: a byte of the map, inside the reservation, which lives as long as `self`.
        unsafe { AtomicU8::from_ptr(self.present(offset)) }
    }

    /// No page is created here any more: its memory is no longer flat.
    pub(super) fn disown(&self) {
        self.owned.store(false, Ordering::Release);
    }

    /// Marks the page at `offset` as existing, charging the map's page
    /// that says so if it is the first there; the trap if the memory
    /// limit has no room for it.
    pub(super) fn mark(&self, offset: u64) -> Result<(), TrapKind> {
        let map_page = (offset >> PAGE_BITS >> PAGE_BITS) as usize;
        let (word, bit) = (&self.charged[map_page / 64], 1u64 << (map_page % 64));
        if word.load(Ordering::Relaxed) & bit == 0 {
            self.meter.charge(PAGE)?;
            word.fetch_or(bit, Ordering::Relaxed);
        }
        self.present_byte(offset).store(1, Ordering::Relaxed);
        Ok(())
    }

    /// Undoes [`mark`](Self::mark) for a page that could not be created.
    pub(super) fn unmark(&self, offset: u64) {
        self.present_byte(offset).store(0, Ordering::Relaxed);
    }

    /// The map's byte for the page at `offset`, which says it exists.
    pub(super) fn present(&self, offset: u64) -> *mut u8 {
        // SAFETY: the map follows the pages, one byte per page of `len`.
        unsafe { self.base.as_ptr().add(self.len + (offset >> PAGE_BITS) as usize) }
    }

    /// [`Flat::present`] for this arena.
    pub(super) fn present_bias(&self) -> u64 {
        (self.present(0) as u64).wrapping_sub(self.base.as_ptr() as u64 >> PAGE_BITS)
    }

    /// The host address of heap offset 0.
    pub(super) fn base(&self) -> *mut u8 {
        self.base.as_ptr()
    }

    /// Bytes reserved.
    pub(super) fn len(&self) -> u64 {
        self.len as u64
    }

    /// The whole arena goes with its memory: pages dropped from now on
    /// need not give their bytes back one by one.
    pub(super) fn retire(&self) {
        self.retiring.store(true, Ordering::Relaxed);
    }

    /// The page at `offset` is gone: its bytes go back to the host with
    /// the next sweep, unless the whole arena is about to go.
    pub(super) fn page_gone(&self, offset: u64) {
        if self.retiring.load(Ordering::Relaxed) {
            return;
        }
        self.present_byte(offset).store(0, Ordering::Release);
        self.dead_from.fetch_min(offset >> PAGE_BITS, Ordering::Relaxed);
        self.dead_to.fetch_max(offset >> PAGE_BITS, Ordering::Relaxed);
        if self.dead.fetch_add(1, Ordering::Relaxed) + 1 >= SWEEP_PAGES {
            self.sweep();
        }
    }

    /// Gives every run of pages the map says are not there, between the
    /// lowest and the highest that died since the last sweep, back to the
    /// host (they read as zeros again). Only in a disowned arena, where no
    /// page is created: a page the map says is not there is dead for good.
    fn sweep(&self) {
        if self.owned.load(Ordering::Acquire) || self.sweeping.swap(true, Ordering::Acquire) {
            return;
        }
        self.dead.store(0, Ordering::Relaxed);
        // A page that dies from here on is in the next sweep's stretch.
        let from = self.dead_from.swap(u64::MAX, Ordering::Relaxed);
        let to = self.dead_to.swap(0, Ordering::Relaxed);
        let pages = ((self.len as u64) >> PAGE_BITS).min(to.saturating_add(1));
        let mut page = from;
        while page < pages {
            if self.present_byte(page << PAGE_BITS).load(Ordering::Acquire) != 0 {
                page += 1;
                continue;
            }
            let run = page;
            while page < pages && self.present_byte(page << PAGE_BITS).load(Ordering::Acquire) == 0 {
                page += 1;
            }
            // SAFETY: pages of the reservation that no page holds (dead, or
            // never created), which nobody reads or writes; a failure leaves
            // the bytes held, not wrong.
            unsafe {
                libc::madvise(
                    self.base.as_ptr().add((run << PAGE_BITS) as usize).cast(),
                    ((page - run) << PAGE_BITS) as usize,
                    libc::MADV_DONTNEED,
                )
            };
        }
        self.sweeping.store(false, Ordering::Release);
    }
}

impl Drop for Arena {
    fn drop(&mut self) {
        let pages: u32 = self.charged.iter().map(|w| w.load(Ordering::Relaxed).count_ones()).sum();
        self.meter.release(u64::from(pages) * PAGE);
        // SAFETY: the reservation made in `reserve`; every page in it is
        // gone (each holds the arena).
        unsafe { libc::munmap(self.base.as_ptr().cast(), self.reserved) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pages that die in a disowned arena go back to the host in a sweep
    /// (they read as zeros again); a page still there keeps its bytes; the
    /// map's pages are charged while the arena lives.
    #[test]
    fn dead_pages_are_swept_back_to_the_host() {
        let meter = Arc::new(Meter::new(1 << 30));
        let arena = Arena::reserve((SWEEP_PAGES + 1) * PAGE, &meter).unwrap();
        let byte = |page: u64| arena.base().wrapping_add((page * PAGE + 100) as usize);
        for page in 0..=SWEEP_PAGES {
            arena.mark(page * PAGE).unwrap();
            // SAFETY: a page of the arena, marked.
            unsafe { *byte(page) = 7 };
        }
        assert_eq!(meter.used(), PAGE, "one page of the map");
        for page in 0..SWEEP_PAGES - 1 {
            arena.page_gone(page * PAGE);
        }
        arena.disown();
        // SAFETY (each read below): bytes of the arena, whose pages are dead or marked.
        assert_eq!(unsafe { *byte(0) }, 7, "no sweep before a batch has died");
        arena.page_gone((SWEEP_PAGES - 1) * PAGE);
        assert_eq!(unsafe { (*byte(0), *byte(SWEEP_PAGES - 1), *byte(SWEEP_PAGES)) }, (0, 0, 7));
        drop(arena);
        assert_eq!(meter.used(), 0);
    }

    /// An arena whose memory is dropping every page gives none back one by
    /// one: the reservation goes whole.
    #[test]
    fn a_retiring_arena_does_not_sweep() {
        let meter = Arc::new(Meter::new(1 << 30));
        let arena = Arena::reserve(SWEEP_PAGES * PAGE, &meter).unwrap();
        arena.mark(0).unwrap();
        // SAFETY: the first page of the arena, marked.
        unsafe { *arena.base() = 1 };
        arena.disown();
        arena.retire();
        for page in 0..SWEEP_PAGES {
            arena.page_gone(page * PAGE);
        }
        // SAFETY: the arena's first byte.
        assert_eq!(unsafe { *arena.base() }, 1);
    }
}
