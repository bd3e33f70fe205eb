//! A context's memory: the executable image, the stack and the heap in one
//! byte-addressed space, with the seed's permissions, copied on write
//! between forked contexts.
//!
//! ```text
//! 0 ............ L   the file image: each section's contents at its file offset
//!                    (data RW, rodata R, code and section headers: no access)
//! L ............ G   guard (G = align4096(L) + 4096)
//! G ............ T   stack, `stack_size` bytes; sp starts at T and grows down
//! T ..... T+4096     guard
//! H = T+4096 ...     heap, grown by `grow`
//! ```
//!
//! **Pages.** The space is cut into 4 KiB [`PAGE`]s held in a radix tree of
//! 64-way tables, every node behind an `Arc`. A page nobody has written is
//! absent and reads as zeros, so untouched stack and heap cost nothing.
//! [`Memory::fork`] clones the root pointer: O(1) whatever the size. A
//! write to a node or page that another memory also holds copies it first
//! (and the tables on its path), so each side sees only its own writes.
//!
//! **Metering.** Every page and table is charged to the machine-wide
//! [`Meter`] when it is created and refunded when the last holder drops it;
//! a write that would create one past the limit traps *out of memory*.
//! The address space itself (`end`) never passes the limit either.
//!
//! **Fast path.** The interpreter keeps a [`Tlb`]: a few direct-mapped
//! entries, one set for reads and one for writes, each a range of bytes
//! inside one page that the access may touch (a write entry only for a
//! page this memory alone holds): a stack or heap page up to its region's
//! end, or the part of an image page that one section covers. A hit is a
//! subtraction, one compare and an unaligned load or store; a miss checks
//! the permissions and walks the tree.
//!
//! **Flat heap.** While a memory holds every heap page alone, its heap
//! pages live in one host reservation at their heap offsets (`arena.rs`),
//! and heap loads and stores skip the translation: a bounds check (and for
//! a store, a byte saying the page exists). The tree stays the record of
//! which pages exist; whatever would share a heap page ends flatness first.

use super::arena::{Arena, Flat};
use super::postcopy::Pager;
use super::trap::{Access, Place, TrapKind};
use crate::exe::{Executable, SectionKind};
use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

/// Permission bit: loads may read the byte.
const READ: u8 = 1;
/// Permission bit: stores may write the byte.
const WRITE: u8 = 2;
/// Marks a code byte (executable; never read or written as data).
const CODE: u8 = 4;

/// Bytes between the image and the stack (at least), and between the stack and the heap.
pub const GUARD: u64 = 4096;
/// The unit of copy-on-write and of memory accounting.
pub const PAGE: u64 = 4096;
/// log2 of [`PAGE`].
pub(super) const PAGE_BITS: u32 = 12;
const FANOUT_BITS: u32 = 6;
const FANOUT: usize = 1 << FANOUT_BITS;
/// What one page table costs against the memory limit: its allocation (64
/// slots, a mask, the meter, the reference counts) as the allocator rounds it.
pub const TABLE_BYTES: u64 = (std::mem::size_of::<Table>() + 16).next_multiple_of(128) as u64;
/// The largest address space a context may have (256 TiB), whatever the
/// memory limit: the layout, `grow` and address arithmetic stay far from
/// 2^64, where they would wrap.
pub const MAX_SPACE: u64 = 1 << 48;

/// The bytes a machine holds, against its memory limit. Shared by every
/// context's memory and by the ports.
#[derive(Debug)]
pub struct Meter {
    used: AtomicU64,
    limit: AtomicU64,
}

impl Meter {
    /// A meter with nothing used.
    pub fn new(limit: u64) -> Meter {
        Meter { used: AtomicU64::new(0), limit: AtomicU64::new(limit) }
    }

    /// Takes `bytes`, or traps *out of memory* if they would pass the limit.
    pub fn charge(&self, bytes: u64) -> Result<(), TrapKind> {
        let limit = self.limit();
        let oom = || TrapKind::OutOfMemory { requested: bytes, limit };
        let mut used = self.used.load(Ordering::Relaxed);
        loop {
            let new = used.checked_add(bytes).filter(|&n| n <= limit).ok_or_else(oom)?;
            match self.used.compare_exchange_weak(used, new, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return Ok(()),
                Err(now) => used = now,
            }
        }
    }

    /// Gives back `bytes` taken by [`charge`](Self::charge).
    pub fn release(&self, bytes: u64) {
        self.used.fetch_sub(bytes, Ordering::Relaxed);
    }

    /// Bytes held now.
    pub fn used(&self) -> u64 {
        self.used.load(Ordering::Relaxed)
    }

    /// The limit.
    pub fn limit(&self) -> u64 {
        self.limit.load(Ordering::Relaxed)
    }

    /// Sets the limit to `limit`; `false` (and unchanged) if more is held already.
    pub(super) fn set_limit(&self, limit: u64) -> bool {
        let fits = self.used() <= limit;
        if fits {
            self.limit.store(limit, Ordering::Relaxed);
        }
        fits
    }
}

/// A page's bytes handed out in a saved state ([`Memory::share_pages`]
/// first): while this lives the page is shared, so no memory writes it in
/// place.
pub(super) struct SharedPage(pub(super) Arc<Page>);

impl AsRef<[u8]> for SharedPage {
    fn as_ref(&self) -> &[u8] {
        self.0.bytes()
    }
}

/// One page of bytes. Written only through a memory that holds the sole
/// reference to it (see `Memory::page_for_write`). The bytes are an
/// allocation of their own, exactly 4096 bytes: inline beside the reference
/// counts they would make an allocation the allocator rounds up by a
/// quarter, and the host would hold 25 % more than the meter counts.
///
/// A page a post-copy migration's source still owes (`postcopy.rs`) has no
/// bytes yet: it is charged and placed like any other, and its bytes are
/// set once, when they arrive. Nobody reads it before: a memory waits for
/// it ([`Memory::arrive`]) before it touches the page, and a machine with
/// pages owed neither saves nor sends its state.
pub(super) struct Page {
    bytes: OnceLock<Bytes>,
    meter: Arc<Meter>,
    /// For a page owed by a post-copy's source: its place in the source's
    /// list of owed pages ([`NOT_OWED`] for any other page).
    owed: u64,
}

/// Where a page's bytes are.
enum Bytes {
    /// An allocation of the page's own.
    Own(Box<UnsafeCell<[u8; PAGE as usize]>>),
    /// A memory's flat heap (`arena.rs`), `offset` bytes into it.
    InArena { arena: Arc<Arena>, offset: u64 },
}

/// [`Page::owed`] of a page that was never owed.
const NOT_OWED: u64 = u64::MAX;

// SAFETY: a page's bytes are written only by the one memory that holds the
// only `Arc` to it (checked with `Arc::get_mut` on every node of its path
// under `&mut Memory`), or set once, through the `OnceLock`, when a page
// that was owed arrives — before which nobody reads them; shared pages are
// only read.
unsafe impl Sync for Page {}

impl Page {
    fn new(meter: &Arc<Meter>, from: Option<&Page>) -> Result<Arc<Page>, TrapKind> {
        meter.charge(PAGE)?;
        let bytes = match from {
            // SAFETY: `from` is held by the caller, so no one writes it now.
            Some(page) => unsafe { *page.cell().get() },
            None => [0; PAGE as usize],
        };
        Ok(Page::holding(meter, bytes))
    }

    fn holding(meter: &Arc<Meter>, bytes: [u8; PAGE as usize]) -> Arc<Page> {
        let bytes = OnceLock::from(Bytes::Own(Box::new(UnsafeCell::new(bytes))));
        Arc::new(Page { bytes, meter: meter.clone(), owed: NOT_OWED })
    }

    /// A zeroed page in `arena` at `offset`, charged to `meter`.
    ///
    /// # Safety
    /// The arena's bytes at `offset..offset + PAGE` are inside it, zero,
    /// and no other page's (see `arena.rs`).
    unsafe fn in_arena(meter: &Arc<Meter>, arena: &Arc<Arena>, offset: u64) -> Result<Arc<Page>, TrapKind> {
        meter.charge(PAGE)?;
        let bytes = OnceLock::from(Bytes::InArena { arena: arena.clone(), offset });
        Ok(Arc::new(Page { bytes, meter: meter.clone(), owed: NOT_OWED }))
    }

    /// A page a post-copy's source owes, the `index`th of its list:
    /// charged now, its bytes set by [`arrive`](Self::arrive).
    pub(super) fn owed(meter: &Arc<Meter>, index: u64) -> Result<Arc<Page>, TrapKind> {
        meter.charge(PAGE)?;
        Ok(Arc::new(Page { bytes: OnceLock::new(), meter: meter.clone(), owed: index }))
    }

    /// Sets the bytes of a page that was owed; `false` if it had them already.
    pub(super) fn arrive(&self, bytes: &[u8; PAGE as usize]) -> bool {
        self.bytes.set(Bytes::Own(Box::new(UnsafeCell::new(*bytes)))).is_ok()
    }

    /// True once the page has its bytes (always, unless it is owed).
    pub(super) fn has_arrived(&self) -> bool {
        self.bytes.get().is_some()
    }

    /// Its place in a post-copy's list of owed pages, if it was owed.
    pub(super) fn owed_index(&self) -> Option<u64> {
        (self.owed != NOT_OWED).then_some(self.owed)
    }

    fn cell(&self) -> &UnsafeCell<[u8; PAGE as usize]> {
        // An owed page is read only once it arrived: see the type's doc.
        match self.bytes.get().expect("a page is read only once its bytes have arrived") {
            Bytes::Own(cell) => cell,
            // SAFETY: the page's bytes, inside the arena the page holds
            // alive; `UnsafeCell<[u8; N]>` is laid out as `[u8; N]`.
            Bytes::InArena { arena, offset } => unsafe { &*arena.base().add(*offset as usize).cast() },
        }
    }

    fn ptr(&self) -> *mut u8 {
        self.cell().get().cast()
    }

    /// A page holding `bytes`, charged to `meter`.
    pub(super) fn with_bytes(meter: &Arc<Meter>, bytes: &[u8; PAGE as usize]) -> Result<Arc<Page>, TrapKind> {
        meter.charge(PAGE)?;
        Ok(Page::holding(meter, *bytes))
    }

    /// True if the page holds only zeros: word by word, with no early exit,
    /// so that the compiler makes it a vector loop (a page scanned in tens of
    /// nanoseconds rather than byte by byte).
    pub(super) fn is_zero(&self) -> bool {
        let words = self.bytes().chunks_exact(8);
        words.fold(0u64, |acc, w| acc | u64::from_ne_bytes(w.try_into().expect("8 bytes"))) == 0
    }

    /// The page's bytes.
    pub(super) fn bytes(&self) -> &[u8; PAGE as usize] {
        // SAFETY: written only by a memory holding the sole reference, which
        // cannot be the case while `&self` is lent out through a shared `Arc`.
        unsafe { &*self.cell().get() }
    }
}

impl Drop for Page {
    fn drop(&mut self) {
        self.meter.release(PAGE);
        if let Some(Bytes::InArena { arena, offset }) = self.bytes.get() {
            arena.page_gone(*offset);
        }
    }
}

/// A 64-way node of the page tree.
enum Slots {
    Tables([Option<Arc<Table>>; FANOUT]),
    Pages([Option<Arc<Page>>; FANOUT]),
}

struct Table {
    /// Changed only through a memory that holds the sole reference to this
    /// table (see `unique_table`).
    slots: UnsafeCell<Slots>,
    /// In a leaf table: bit i set when page slot i is known to be held by
    /// this table alone — set when the page was created or copied here,
    /// cleared when the table is copied (both copies then share its pages)
    /// or the slot is given a shared page. A write to a page whose bit is
    /// set skips the page's reference count, a cache miss on a page not
    /// touched for a while (the sieve's pattern: every page in turn).
    owned: AtomicU64,
    meter: Arc<Meter>,
}

// SAFETY: as for `Page`: slots are changed only by the one memory that holds
// the only `Arc` to the table; shared tables are only read.
unsafe impl Sync for Table {}

impl Table {
    fn slots(&self) -> &Slots {
        // SAFETY: see `unique_table`: nobody changes a table another may read.
        unsafe { &*self.slots.get() }
    }
}

/// True if `arc` is the only strong reference to its value. With `&mut` to
/// the only `Arc` nobody can clone it meanwhile: a plain load, not the
/// atomic read-modify-write of `Arc::get_mut`, which the write path would
/// pay at every level. Weak references are made of pages only, by a live
/// migration's tracker, on the thread that owns the memory while it is
/// stopped (so none is upgraded while the memory runs): a sole page with
/// weak references is written in place once [`rewrapped`] gives it a new
/// identity, which is how the tracker sees it was written.
fn sole<T>(arc: &mut Arc<T>) -> bool {
    Arc::strong_count(arc) == 1
}

/// The sole page `page` under a new `Arc`: the same bytes (not copied, not
/// charged again), while every weak reference to the old one stops upgrading.
fn rewrapped(page: Arc<Page>) -> Result<Arc<Page>, TrapKind> {
    match Arc::try_unwrap(page) {
        Ok(page) => Ok(Arc::new(page)),
        // Another strong holder appeared meanwhile (the tracker upgrades only while the
        // machine is stopped, so this does not happen): a copy is as correct.
        Err(page) => Page::new(&page.meter, Some(&page)),
    }
}

impl Table {
    fn new(meter: &Arc<Meter>, leaf: bool) -> Result<Table, TrapKind> {
        meter.charge(TABLE_BYTES)?;
        let slots = match leaf {
            true => Slots::Pages(std::array::from_fn(|_| None)),
            false => Slots::Tables(std::array::from_fn(|_| None)),
        };
        Ok(Table { slots: UnsafeCell::new(slots), owned: AtomicU64::new(0), meter: meter.clone() })
    }

    /// A copy sharing every child with this table, which therefore no
    /// longer owns any page alone either.
    fn copy(&self) -> Result<Table, TrapKind> {
        self.meter.charge(TABLE_BYTES)?;
        let slots = match self.slots() {
            Slots::Tables(t) => Slots::Tables(t.clone()),
            Slots::Pages(p) => Slots::Pages(p.clone()),
        };
        self.owned.store(0, Ordering::Relaxed);
        Ok(Table { slots: UnsafeCell::new(slots), owned: AtomicU64::new(0), meter: self.meter.clone() })
    }
}

impl Drop for Table {
    fn drop(&mut self) {
        self.meter.release(TABLE_BYTES);
    }
}

/// Makes `slot` a table this memory alone holds, creating or copying it;
/// its slots, to change.
fn unique_table<'a>(
    slot: &'a mut Option<Arc<Table>>,
    meter: &Arc<Meter>,
    leaf: bool,
) -> Result<(&'a mut Slots, &'a AtomicU64), TrapKind> {
    match slot {
        None => *slot = Some(Arc::new(Table::new(meter, leaf)?)),
        Some(table) => {
            if !sole(table) {
                let copy = table.copy()?;
                *table = Arc::new(copy);
            }
        }
    }
    let table = slot.as_mut().expect("just filled");
    debug_assert!(sole(table));
    // Whoever held it too has let go: see what they did to it (the mask).
    std::sync::atomic::fence(Ordering::Acquire);
    let table: &'a Table = table;
    // SAFETY: this memory holds the only `Arc` to the table, through `&mut`.
    Ok((unsafe { &mut *table.slots.get() }, &table.owned))
}

/// The tables [`Memory::share_tables`] has seen, by their slots.
#[derive(Default)]
pub(super) struct SharedTables {
    tables: std::collections::HashMap<Vec<usize>, Arc<Table>>,
}

/// The zero page: what an absent page reads as.
static ZERO_PAGE: [u8; PAGE as usize] = [0; PAGE as usize];

/// One translation: a range of bytes in one page that an access kind may
/// touch, and where they are.
#[derive(Clone, Copy)]
struct Entry {
    /// The range's first address.
    start: u64,
    /// Its length: at least 8, so that `len - N` never wraps; 0 when empty.
    len: u64,
    /// Host address minus guest address for the range's bytes.
    delta: u64,
}

/// Sets per access kind. A loop reading a table while it walks an array
/// evicts the table's translation whenever the array's page falls in the
/// table's set: with 8 sets that was one page in 8 (crc ran 15% slower).
pub(super) const TLB_SETS: usize = 32;

/// An entry that nothing hits: its range lies in a page of another set,
/// and only addresses of this set are looked up here. (A length of 0 would
/// not do: `len - N` would wrap and match everything.)
fn empty(set: usize) -> Entry {
    Entry { start: (((set + 1) % TLB_SETS) as u64) << PAGE_BITS, len: 8, delta: 0 }
}

/// The set an address's translation lives in.
#[inline(always)]
fn set_of(addr: u64) -> usize {
    (addr >> PAGE_BITS) as usize & (TLB_SETS - 1)
}

/// The entries of one access kind, field by field: a set's field is then
/// one scaled-index load from the interpreter's frame, with no arithmetic
/// for the entry's size. Laid out in this order (`repr(C)`): the compiled
/// tier reads the fields at fixed offsets ([`Memory::translations`]).
#[derive(Clone)]
#[repr(C)]
struct Ways {
    start: [u64; TLB_SETS],
    len: [u64; TLB_SETS],
    delta: [u64; TLB_SETS],
}

impl Ways {
    fn empty() -> Ways {
        let mut ways = Ways { start: [0; TLB_SETS], len: [0; TLB_SETS], delta: [0; TLB_SETS] };
        (0..TLB_SETS).for_each(|set| ways.put(set, empty(set)));
        ways
    }

    #[inline(always)]
    fn get(&self, set: usize) -> Entry {
        Entry { start: self.start[set], len: self.len[set], delta: self.delta[set] }
    }

    #[inline(always)]
    fn put(&mut self, set: usize, e: Entry) {
        self.start[set] = e.start;
        self.len[set] = e.len;
        self.delta[set] = e.delta;
    }
}

/// A memory's translation cache: where the host holds the bytes of the
/// addresses it read or wrote last. It belongs to one [`Memory`] and is
/// private to it, which keeps its pointers true: the memory forgets a
/// translation whenever what it points at may change (a fork shares the
/// pages, a page is copied or replaced), and the cache is dropped with the
/// memory whose pages it points into.
struct Tlb {
    read: Ways,
    write: Ways,
}

impl Default for Tlb {
    fn default() -> Tlb {
        Tlb { read: Ways::empty(), write: Ways::empty() }
    }
}

impl Tlb {
    /// Forgets every translation.
    fn flush(&mut self) {
        *self = Tlb::default();
    }

    /// Forgets the translations for writing: after a fork, every page is
    /// shared and must be copied before the next write.
    fn forget_writes(&mut self) {
        self.write = Ways::empty();
    }
}

/// A stretch of the image whose bytes have one permission.
#[derive(Debug, Clone, Copy)]
struct Stretch {
    start: u64,
    end: u64,
    perm: u8,
}

/// The image's stretches of equal permission, in address order, covering
/// it from 0 to its end with no empty stretch: READ | WRITE for data, READ
/// for rodata, CODE for code, 0 for section headers. A handful of
/// stretches, however large the sections: not a byte of bookkeeping per
/// image byte.
fn stretches_of(exe: &Executable) -> Vec<Stretch> {
    fn push(stretches: &mut Vec<Stretch>, start: u64, end: u64, perm: u8) {
        match stretches.last_mut() {
            _ if start == end => {}
            Some(run) if run.perm == perm => run.end = end,
            _ => stretches.push(Stretch { start, end, perm }),
        }
    }
    let mut stretches = Vec::new();
    let mut at = 0;
    for section in &exe.sections {
        let perm = match section.kind {
            SectionKind::Data => READ | WRITE,
            SectionKind::Rodata => READ,
            SectionKind::Code => CODE,
        };
        push(&mut stretches, at, section.start, 0);
        push(&mut stretches, section.start, section.end(), perm);
        at = section.end();
    }
    stretches
}

/// The address space of one context.
///
/// Its loads and stores go through a translation cache of its own, which
/// nothing outside can reach: a memory cannot be cloned (only
/// [`fork`](Memory::fork)ed, which forgets the parent's write translations
/// as it shares the pages), and no cache outlives its memory.
///
/// ```compile_fail
/// // A memory is not `Clone`: a copy would share pages behind the parent's cache.
/// fn copy(mem: &manda::machine::Memory) -> manda::machine::Memory {
///     mem.clone()
/// }
/// ```
///
/// ```compile_fail
/// // The cache is the memory's own: there is no `Tlb` to hold on to.
/// let tlb = manda::machine::Tlb::default();
/// ```
pub struct Memory {
    root: Option<Arc<Table>>,
    /// Table levels above the pages.
    levels: u32,
    /// The image's permissions: stretches of equal permission, in address order, covering it.
    stretches: Arc<[Stretch]>,
    image_len: u64,
    stack_base: u64,
    stack_top: u64,
    heap_base: u64,
    end: u64,
    meter: Arc<Meter>,
    /// Translations of this memory's addresses: a read entry names bytes of
    /// a page this memory holds (or the zero page), a write entry bytes of a
    /// page it holds alone. Every method that shares, copies or replaces a
    /// page forgets the entries it falsifies.
    tlb: Tlb,
    /// Where pages a post-copy's source still owes come from, while some
    /// may be in this memory (`postcopy.rs`).
    pager: Option<Arc<Pager>>,
    /// Every heap page present is in `arena` and this memory's alone, so
    /// heap pages it creates go there too (`arena.rs`).
    flat_heap: bool,
    /// The heap's arena, from the first heap page created while flat.
    arena: Option<Arc<Arena>>,
    /// What may be loaded flat, from `arena` (see [`Flat`]).
    flat: Flat,
}

impl std::fmt::Debug for Memory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Memory")
            .field("image_len", &self.image_len)
            .field("stack", &(self.stack_base..self.stack_top))
            .field("heap", &(self.heap_base..self.end))
            .finish_non_exhaustive()
    }
}

/// Drops the translations of `addr`'s page, whose bytes may have moved.
fn forget(tlb: &mut Tlb, addr: u64) {
    let set = set_of(addr);
    tlb.read.put(set, empty(set));
    tlb.write.put(set, empty(set));
}

/// `n` rounded up to a multiple of `to`; `u64::MAX` (more than any limit
/// allows) where that does not fit, as for a stack size of 2^64 - 1.
fn align_up(n: u64, to: u64) -> u64 {
    n.div_ceil(to).saturating_mul(to)
}

impl Memory {
    /// Lays out `exe` with a stack of `stack_size` bytes (rounded up to 16),
    /// charging its image pages to `meter`. `Err(bytes needed)` if the
    /// layout alone passes the meter's limit.
    pub fn new(exe: &Executable, stack_size: u64, meter: Arc<Meter>) -> Result<Memory, u64> {
        let limit = meter.limit();
        let image_len = exe.len();
        let stack_base = align_up(image_len, GUARD) + GUARD;
        let stack_top = stack_base.saturating_add(align_up(stack_size, 16));
        let heap_base = stack_top.saturating_add(GUARD);
        if heap_base > limit.min(MAX_SPACE) {
            return Err(heap_base);
        }
        let mut levels = 1;
        while (FANOUT as u64).saturating_pow(levels) < limit.div_ceil(PAGE) {
            levels += 1;
        }
        let mut mem = Memory {
            root: None,
            levels,
            stretches: stretches_of(exe).into(),
            image_len,
            stack_base,
            stack_top,
            heap_base,
            end: heap_base,
            meter,
            tlb: Tlb::default(),
            pager: None,
            flat_heap: true,
            arena: None,
            flat: Flat::OFF,
        };
        for section in &exe.sections {
            // Pages that would hold only zeros stay absent (an absent page reads
            // as zeros): a large `.zero` costs nothing until the program writes it.
            let (mut at, mut rest) = (section.start, &section.bytes[..]);
            while !rest.is_empty() {
                let (part, tail) = rest.split_at(((PAGE - (at & (PAGE - 1))) as usize).min(rest.len()));
                if part.iter().any(|&b| b != 0) {
                    mem.write_raw(at, part).map_err(|_| heap_base)?;
                }
                (at, rest) = (at + part.len() as u64, tail);
            }
        }
        Ok(mem)
    }

    /// A copy of this memory that shares every page until one side writes it.
    /// Every page is shared now, so this memory forgets its write translations:
    /// its next write to a page copies it. This memory stays flat if its
    /// heap holds no page yet; the copy is not flat (a machine's forked
    /// contexts share pages: a flat heap's map would cost each of them a
    /// page), unless made so for a restored program (`own_heap`).
    pub fn fork(&mut self) -> Memory {
        self.tlb.forget_writes();
        if self.arena.is_some() {
            self.unflatten();
        }
        self.duplicate(self.meter.clone(), self.root.clone())
    }

    /// This memory will hold its heap pages alone (a restored program's):
    /// flat from its first heap page on, if its heap holds none yet.
    pub(super) fn own_heap(&mut self) {
        let heap = self.first_heap_page();
        let mut any = false;
        self.for_each_page(|number, _| any |= number >= heap);
        if !any && self.pager.is_none() {
            self.flat_heap = true;
        }
    }

    /// The heap is no longer flat, for good: its pages may be shared from
    /// now on (see `arena.rs`).
    fn unflatten(&mut self) {
        self.flat_heap = false;
        if let Some(arena) = self.arena.take() {
            arena.disown();
        }
        self.flat = Flat::OFF;
    }

    /// Publishes what may be loaded flat now: the heap up to its end,
    /// within the arena, while the heap is flat.
    fn publish_flat(&mut self) {
        self.flat = match (&self.arena, self.flat_heap) {
            (Some(arena), true) => {
                let skip = self.heap_base & (PAGE - 1);
                Flat {
                    // SAFETY: `skip` < PAGE, inside the reservation (of one page at least).
                    base: unsafe { arena.base().add(skip as usize) },
                    len: (self.end - self.heap_base).min(arena.len() - skip),
                    present: arena.present_bias(),
                }
            }
            _ => Flat::OFF,
        };
    }

    /// True while this memory's heap is flat: it holds its heap pages alone,
    /// in one reservation, so heap loads and stores cost a bounds check,
    /// not a translation (from its first heap page on, which makes the
    /// reservation; see `docs/manda/running.md`). For tests and
    /// diagnostics; the heap holds the same bytes either way.
    pub fn is_flat(&self) -> bool {
        self.flat_heap
    }

    /// What may be loaded flat from this memory's heap: a pointer that
    /// stays true as long as this memory is not moved (the compiled tier
    /// reads through it; see [`Flat`]).
    pub(super) fn flat(&self) -> *const Flat {
        &self.flat
    }

    /// A memory with `root`'s pages and this layout, charged to `meter`,
    /// with an empty cache; not flat.
    fn duplicate(&self, meter: Arc<Meter>, root: Option<Arc<Table>>) -> Memory {
        Memory {
            root,
            levels: self.levels,
            stretches: self.stretches.clone(),
            image_len: self.image_len,
            stack_base: self.stack_base,
            stack_top: self.stack_top,
            heap_base: self.heap_base,
            end: self.end,
            meter,
            tlb: Tlb::default(),
            pager: self.pager.clone(),
            flat_heap: false,
            arena: None,
            flat: Flat::OFF,
        }
    }

    /// Calls `visit` with every page present in the tree, in address
    /// order: its number and the page (as [`pages`](Self::pages), without
    /// building a list: a pre-copy round walks a gigabyte's 262,144 pages
    /// while the program waits).
    pub(super) fn for_each_page<'a>(&'a self, mut visit: impl FnMut(u64, &'a Arc<Page>)) {
        fn walk<'a>(table: &'a Table, first: u64, span: u64, visit: &mut impl FnMut(u64, &'a Arc<Page>)) {
            match table.slots() {
                Slots::Tables(t) => {
                    for (i, next) in t.iter().enumerate() {
                        if let Some(next) = next {
                            walk(next, first + i as u64 * span, span / FANOUT as u64, visit);
                        }
                    }
                }
                Slots::Pages(p) => {
                    for (i, page) in p.iter().enumerate() {
                        if let Some(page) = page {
                            visit(first + i as u64, page);
                        }
                    }
                }
            }
        }
        if let Some(root) = &self.root {
            walk(root, 0, (FANOUT as u64).pow(self.levels - 1), &mut visit);
        }
    }

    /// Every page present in the tree (written at some time, here or
    /// before a fork), in address order: its number and the page.
    pub(super) fn pages(&self) -> Vec<(u64, &Arc<Page>)> {
        let mut out = Vec::new();
        self.for_each_page(|number, page| out.push((number, page)));
        out
    }

    /// Lets others hold this memory's pages: no page is any table's alone
    /// any more, so the next write to a page checks its reference count,
    /// and copies it if someone else holds it too (a saved state being
    /// sent). Its write translations are forgotten with it.
    pub(super) fn share_pages(&mut self) {
        self.tlb.forget_writes();
        self.unflatten();
        fn walk(table: &Table) {
            match table.slots() {
                Slots::Tables(t) => t.iter().flatten().for_each(|next| walk(next)),
                Slots::Pages(_) => table.owned.store(0, Ordering::Relaxed),
            }
        }
        if let Some(root) = &self.root {
            walk(root);
        }
    }

    /// Pages from `pager` may be owed in this memory: every access waits
    /// for them to arrive first.
    pub(super) fn await_pages(&mut self, pager: Option<Arc<Pager>>) {
        if pager.is_some() {
            self.unflatten();
        }
        self.pager = pager;
    }

    /// Waits until every page `addr..addr + len` touches has its bytes (a
    /// page a post-copy's source still owes is asked for); the trap if one
    /// can no longer arrive. At once when nothing is owed.
    #[inline]
    fn arrive(&self, addr: u64, len: u64) -> Result<(), TrapKind> {
        let Some(pager) = &self.pager else { return Ok(()) };
        let Some(last) = addr.checked_add(len.max(1) - 1) else { return Ok(()) };
        for number in addr >> PAGE_BITS..=last >> PAGE_BITS {
            if let Some(index) = self.page(number).filter(|p| !p.has_arrived()).and_then(|p| p.owed_index()) {
                pager.wait(index).map_err(|why| TrapKind::PageLost { addr: number << PAGE_BITS, why })?;
            }
        }
        Ok(())
    }

    /// The page `page` holds now, if present.
    pub(super) fn page(&self, page: u64) -> Option<&Arc<Page>> {
        let mut table = self.root.as_ref()?;
        for level in 0..self.levels {
            let i = self.index(page, level);
            match table.slots() {
                Slots::Tables(t) => table = t[i].as_ref()?,
                Slots::Pages(p) => return p[i].as_ref(),
            }
        }
        None
    }

    /// Makes `page` hold `shared` (which other memories may hold too).
    pub(super) fn put_page(&mut self, page: u64, shared: &Arc<Page>) -> Result<(), TrapKind> {
        if page >= self.first_heap_page() {
            self.unflatten();
        }
        let Memory { root, levels, meter, tlb, .. } = self;
        forget(tlb, page << PAGE_BITS);
        let levels = *levels;
        let index = |level: u32| ((page >> (FANOUT_BITS * (levels - 1 - level))) & (FANOUT as u64 - 1)) as usize;
        let (mut slots, mut owned) = unique_table(root, meter, levels == 1)?;
        for level in 0..levels {
            (slots, owned) = match slots {
                Slots::Tables(t) => unique_table(&mut t[index(level)], meter, level + 2 == levels)?,
                Slots::Pages(p) => {
                    p[index(level)] = Some(shared.clone());
                    owned.fetch_and(!(1u64 << index(level)), Ordering::Relaxed);
                    return Ok(());
                }
            };
        }
        unreachable!("the tree has {levels} levels")
    }

    /// The page `page` holds, to be held elsewhere too: this memory's heap
    /// is no longer flat if it was.
    pub(super) fn share_page(&mut self, page: u64) -> Option<Arc<Page>> {
        self.unflatten();
        self.page(page).cloned()
    }

    /// Makes heap page `page` of a flat heap read as zeros, where it is
    /// (its bytes zeroed, or none there: an absent page reads as zeros
    /// and is not saved); false, doing nothing, if the heap is not flat or
    /// the page is not in the heap.
    pub(super) fn zeroes_in_place(&mut self, page: u64) -> bool {
        if !self.flat_heap || page < self.first_heap_page() {
            return false;
        }
        if self.page(page).is_some() {
            // A flat heap's page is this memory's alone: written in place, nothing charged.
            let Ok(at) = self.page_for_write(page) else { return false };
            // SAFETY: a whole page this memory alone holds.
            unsafe { std::ptr::write_bytes(at, 0, PAGE as usize) };
        }
        true
    }

    /// Makes `page` hold a copy of `bytes`, this memory's own.
    pub(super) fn fill_page(&mut self, page: u64, bytes: &[u8; PAGE as usize]) -> Result<(), TrapKind> {
        forget(&mut self.tlb, page << PAGE_BITS);
        let at = self.page_for_write(page)?;
        // SAFETY: `page_for_write` returned a whole page this memory alone holds.
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), at, PAGE as usize) };
        Ok(())
    }

    /// Shares this memory's own tables with identical ones `shared` has seen
    /// (every slot the same page or table), as `fork` shares them, and
    /// offers the rest to it: a snapshot's contexts, built one by one, then
    /// cost what they cost in the machine that saved them, not a table path
    /// of their own per page. Children first, so equal subtrees are found
    /// bottom up; a table already shared is left as it is.
    pub(super) fn share_tables(&mut self, shared: &mut SharedTables) {
        self.tlb.forget_writes();
        self.unflatten();
        fn visit(slot: &mut Option<Arc<Table>>, shared: &mut SharedTables) {
            let Some(table) = slot else { return };
            if !sole(table) {
                return;
            }
            // SAFETY: this memory holds the only `Arc` to the table, through `&mut`.
            let slots = unsafe { &mut *table.slots.get() };
            let key: Vec<usize> = match slots {
                Slots::Tables(t) => {
                    for child in t.iter_mut() {
                        visit(child, shared);
                    }
                    t.iter().map(|c| c.as_ref().map_or(0, |c| Arc::as_ptr(c) as usize)).collect()
                }
                Slots::Pages(p) => {
                    let mut key: Vec<usize> =
                        p.iter().map(|c| c.as_ref().map_or(0, |c| Arc::as_ptr(c) as usize)).collect();
                    key.push(1); // A leaf never equals an inner table.
                    key
                }
            };
            match shared.tables.get(&key) {
                Some(same) => *slot = Some(same.clone()),
                None => {
                    // Shared from now on: no page of it is this table's alone.
                    table.owned.store(0, Ordering::Relaxed);
                    shared.tables.insert(key, table.clone());
                }
            }
        }
        visit(&mut self.root, shared);
    }

    /// Sets the heap's end (a restored memory's extent), if within the limit.
    pub(super) fn set_end(&mut self, end: u64) -> bool {
        let ok = (self.heap_base..=self.limit()).contains(&end);
        if ok {
            self.end = end;
            self.tlb.flush();
            self.publish_flat();
        }
        ok
    }

    /// A copy of this memory charged to `meter` instead (its own pages,
    /// none shared with this one).
    pub(super) fn recharged(&self, meter: &Arc<Meter>) -> Result<Memory, TrapKind> {
        let mut copy = self.duplicate(meter.clone(), None);
        copy.flat_heap = self.pager.is_none();
        for (page, data) in self.pages() {
            copy.write_raw(page << PAGE_BITS, data.bytes())?;
        }
        Ok(copy)
    }

    /// May a snapshot put a page at page number `page` of this (freshly
    /// loaded) memory with heap end `end`, whatever its bytes? In the stack,
    /// the heap below `end`, or the image.
    pub(super) fn may_place(&self, page: u64, end: u64) -> Result<(), &'static str> {
        let start = page.checked_mul(PAGE).ok_or("a page past the address space")?;
        if start >= self.heap_base {
            return match start < end {
                true => Ok(()),
                false => Err("a page past the end of the heap"),
            };
        }
        match (start >= self.stack_base && start < self.stack_top) || start < self.image_len {
            true => Ok(()),
            false => Err("a page in a guard gap"),
        }
    }

    /// May a snapshot put `bytes` at page `page` of this (freshly loaded)
    /// memory with heap end `end`? Only into the stack, the heap below
    /// `end`, or data sections, every other byte unchanged (zero beyond the
    /// stack and the heap; the executable's own bytes in the image).
    pub(super) fn may_hold(&self, page: u64, bytes: &[u8; PAGE as usize], end: u64) -> Result<(), &'static str> {
        self.may_place(page, end)?;
        let start = page * PAGE;
        let zero_from = |from: u64| bytes[(from.saturating_sub(start)).min(PAGE) as usize..].iter().all(|&b| b == 0);
        if start >= self.heap_base {
            return match zero_from(end) {
                true => Ok(()),
                false => Err("bytes past the end of the heap that are not zero"),
            };
        }
        if start >= self.stack_base && start < self.stack_top {
            return match zero_from(self.stack_top) {
                true => Ok(()),
                false => Err("bytes in the guard above the stack that are not zero"),
            };
        }
        let base = self.page(page).map_or(&ZERO_PAGE, |p| p.bytes());
        for (i, (&new, &old)) in bytes.iter().zip(base.iter()).enumerate() {
            let at = start + i as u64;
            let writable = at < self.image_len && self.stretch_at(at).perm & WRITE != 0;
            if new != old && !writable {
                return Err("a change to bytes no store may write (code, rodata, a header or a guard)");
            }
        }
        Ok(())
    }

    /// May a memory built from received pages, whose highest heap page is
    /// below `top`, have its heap end at `end`? No page past the end, and
    /// nothing but zeros after it in its last page.
    pub(super) fn fits_below(&self, end: u64, top: u64) -> Result<(), &'static str> {
        if top > end.div_ceil(PAGE) {
            return Err("a page past the end of the heap");
        }
        let last = end / PAGE;
        match self.page(last) {
            // Still owed by a post-copy's source: checked when it arrives (`Pager::zero_from`).
            Some(page) if !page.has_arrived() => Ok(()),
            Some(page) if end % PAGE != 0 && page.bytes()[(end % PAGE) as usize..].iter().any(|&b| b != 0) => {
                Err("bytes past the end of the heap that are not zero")
            }
            _ => Ok(()),
        }
    }

    /// The image's length: the executable's bytes from address 0.
    pub(super) fn image_len(&self) -> u64 {
        self.image_len
    }

    /// The lowest stack address (`sp` may not go below it).
    pub fn stack_base(&self) -> u64 {
        self.stack_base
    }

    /// One past the highest stack address: `sp`'s initial value.
    pub fn stack_top(&self) -> u64 {
        self.stack_top
    }

    /// The heap's first address.
    pub fn heap_base(&self) -> u64 {
        self.heap_base
    }

    /// The number of the page the heap starts in (its first bytes may share
    /// it with the guard below).
    pub(super) fn first_heap_page(&self) -> u64 {
        self.heap_base >> PAGE_BITS
    }

    /// One past the last heap byte: the whole memory's size.
    pub fn end(&self) -> u64 {
        self.end
    }

    /// The memory limit in bytes.
    pub fn limit(&self) -> u64 {
        self.meter.limit()
    }

    /// The machine-wide meter this memory charges.
    pub fn meter(&self) -> &Arc<Meter> {
        &self.meter
    }

    /// Slot index of `page` at tree level `level` (0 is the root).
    fn index(&self, page: u64, level: u32) -> usize {
        ((page >> (FANOUT_BITS * (self.levels - 1 - level))) & (FANOUT as u64 - 1)) as usize
    }

    /// The page's bytes for reading (the zero page when absent).
    fn page_for_read(&self, page: u64) -> *const u8 {
        let mut table = match &self.root {
            Some(t) => t,
            None => return ZERO_PAGE.as_ptr(),
        };
        for level in 0..self.levels {
            let i = self.index(page, level);
            match table.slots() {
                Slots::Tables(t) => match &t[i] {
                    Some(next) => table = next,
                    None => return ZERO_PAGE.as_ptr(),
                },
                Slots::Pages(p) => {
                    return match &p[i] {
                        Some(page) => page.ptr(),
                        None => ZERO_PAGE.as_ptr(),
                    }
                }
            }
        }
        unreachable!("the tree has {} levels", self.levels)
    }

    /// The page's bytes for writing: created, or copied from a page another
    /// memory also holds, so that this memory alone holds it.
    fn page_for_write(&mut self, page: u64) -> Result<*mut u8, TrapKind> {
        let arena = match self.flat_heap && page >= self.first_heap_page() {
            true => self.heap_arena(page),
            false => None,
        };
        let Memory { root, levels, meter, .. } = self;
        let levels = *levels;
        let index = |level: u32| ((page >> (FANOUT_BITS * (levels - 1 - level))) & (FANOUT as u64 - 1)) as usize;
        let (mut slots, mut owned) = unique_table(root, meter, levels == 1)?;
        for level in 0..levels {
            let i = index(level);
            (slots, owned) = match slots {
                Slots::Tables(t) => unique_table(&mut t[i], meter, level + 2 == levels)?,
                Slots::Pages(p) => {
                    let slot = &mut p[i];
                    let bit = 1u64 << i;
                    if owned.load(Ordering::Relaxed) & bit == 0 {
                        match slot {
                            None => match &arena {
                                // Marked first: a page the map says is not there is
                                // dead, and may be swept (`arena.rs`).
                                Some((arena, offset)) => {
                                    arena.mark(*offset)?;
                                    // SAFETY: the page's place in the arena of a flat heap,
                                    // where no page is (the slot is empty): zeros.
                                    match unsafe { Page::in_arena(meter, arena, *offset) } {
                                        Ok(page) => *slot = Some(page),
                                        Err(e) => {
                                            arena.unmark(*offset);
                                            return Err(e);
                                        }
                                    }
                                }
                                None => *slot = Some(Page::new(meter, None)?),
                            },
                            Some(page) => {
                                if !sole(page) {
                                    let copy = Page::new(meter, Some(page))?;
                                    *page = copy;
                                } else if Arc::weak_count(page) > 0 {
                                    // A live migration watches this page (`transfer.rs`): it
                                    // gets a new identity, its bytes stay where they are.
                                    let watched = slot.take().expect("matched a page");
                                    *slot = Some(rewrapped(watched)?);
                                }
                            }
                        }
                        owned.fetch_or(bit, Ordering::Relaxed);
                    }
                    return Ok(slot.as_ref().expect("an owned slot holds a page").ptr());
                }
            };
        }
        unreachable!("the tree has {levels} levels")
    }

    /// The arena and offset a new page `page` of a flat heap takes, the
    /// arena reserved at the first (the heap stays unflat if the host
    /// refuses it); `None` past the arena's end (a limit raised since).
    fn heap_arena(&mut self, page: u64) -> Option<(Arc<Arena>, u64)> {
        let first = self.first_heap_page();
        if self.arena.is_none() {
            let space = self.limit().min(MAX_SPACE).saturating_sub(first << PAGE_BITS);
            match Arena::reserve(space.next_multiple_of(PAGE).max(PAGE), &self.meter) {
                Some(arena) => self.arena = Some(Arc::new(arena)),
                None => {
                    self.unflatten();
                    return None;
                }
            }
            self.publish_flat();
        }
        let arena = self.arena.as_ref()?;
        let offset = (page - first) << PAGE_BITS;
        (offset + PAGE <= arena.len()).then(|| (arena.clone(), offset))
    }

    /// The index of the permission run holding `addr`, an image address.
    fn stretch_index(&self, addr: u64) -> usize {
        self.stretches.partition_point(|r| r.end <= addr)
    }

    /// The permission run holding `addr`, an image address.
    fn stretch_at(&self, addr: u64) -> &Stretch {
        &self.stretches[self.stretch_index(addr)]
    }

    /// The widest range around `addr`, inside its page, whose bytes all
    /// allow `need`; `None` when shorter than 8 bytes (never cached) or
    /// empty. The range starts at or before `addr` but may end before it,
    /// when `addr` itself is not allowed: callers check that it holds theirs.
    #[inline(always)]
    fn permitted_range(&self, addr: u64, need: u8) -> Option<(u64, u64)> {
        let page_start = addr & !(PAGE - 1);
        let page_end = page_start.saturating_add(PAGE);
        let (start, end) = if addr >= self.heap_base {
            (page_start.max(self.heap_base), page_end.min(self.end))
        } else if addr >= self.stack_base {
            (page_start.max(self.stack_base), page_end.min(self.stack_top))
        } else if addr < self.image_len {
            // The run holding `addr`, widened over its neighbours that allow
            // `need` too (data beside rodata, for reads), within the page.
            let stretches = &self.stretches;
            let at = self.stretch_index(addr);
            if stretches[at].perm & need == 0 {
                return None;
            }
            let (mut lo, mut hi) = (at, at);
            while lo > 0 && stretches[lo - 1].perm & need != 0 && stretches[lo - 1].end > page_start {
                lo -= 1;
            }
            while hi + 1 < stretches.len() && stretches[hi + 1].perm & need != 0 && stretches[hi + 1].start < page_end {
                hi += 1;
            }
            (stretches[lo].start.max(page_start), stretches[hi].end.min(page_end))
        } else {
            return None; // a guard gap
        };
        // `addr` may lie past its region's end (a heap address beyond `end`,
        // the guard above the stack): then `end` is below `start`.
        let len = end.saturating_sub(start);
        (len >= 8).then_some((start, len))
    }

    /// The translation for accesses of kind `need` around `addr`, whose
    /// page's bytes are at `page` in the host; `None` when not cacheable.
    #[inline(always)]
    fn entry(&self, addr: u64, need: u8, page: *const u8) -> Option<Entry> {
        let (start, len) = self.permitted_range(addr, need)?;
        Some(Entry { start, len, delta: (page as u64).wrapping_sub(addr & !(PAGE - 1)) })
    }

    /// Reads `N` bytes (N ≤ 8) at `addr` as a little-endian integer, zero-extended.
    #[inline(always)]
    pub fn load<const N: u64>(&mut self, addr: u64) -> Result<u64, TrapKind> {
        let e = self.tlb.read.get(set_of(addr));
        if addr.wrapping_sub(e.start) <= e.len.wrapping_sub(N) {
            let mut le = [0u8; 8];
            // SAFETY: the entry's range is readable bytes of a page this
            // memory holds (or the zero page), `delta` away (see `load_slow`).
            unsafe {
                std::ptr::copy_nonoverlapping(addr.wrapping_add(e.delta) as *const u8, le.as_mut_ptr(), N as usize)
            };
            return Ok(u64::from_le_bytes(le));
        }
        self.load_slow::<N>(addr)
    }

    #[cold]
    #[inline(never)]
    fn load_slow<const N: u64>(&mut self, addr: u64) -> Result<u64, TrapKind> {
        if self.first_forbidden(addr, N, Access::Read).is_some() {
            return Err(self.fault(addr, N, Access::Read));
        }
        self.arrive(addr, N)?;
        let mut le = [0u8; 8];
        match self.entry(addr, READ, self.page_for_read(addr >> PAGE_BITS)) {
            Some(e) if addr - e.start + N <= e.len => {
                self.tlb.read.put(set_of(addr), e);
                // SAFETY: as in `load`: the bytes lie in the range just entered.
                unsafe {
                    std::ptr::copy_nonoverlapping(addr.wrapping_add(e.delta) as *const u8, le.as_mut_ptr(), N as usize)
                };
            }
            _ => self.read_raw(addr, &mut le[..N as usize]),
        }
        Ok(u64::from_le_bytes(le))
    }

    /// Reads `N` bytes (N ≤ 8) at heap offset `offset`, as [`load`](Self::load)
    /// at the heap's base plus `offset`: flat while the heap is (`arena.rs`).
    #[inline(always)]
    pub fn heap_load<const N: u64>(&mut self, offset: u64) -> Result<u64, TrapKind> {
        if let Some(at) = self.flat.readable(offset, N) {
            let mut le = [0u8; 8];
            // SAFETY: within `flat.len` of a flat heap's base: bytes of this
            // memory's own heap pages, or zeros where none is (`arena.rs`).
            unsafe { std::ptr::copy_nonoverlapping(at, le.as_mut_ptr(), N as usize) };
            return Ok(u64::from_le_bytes(le));
        }
        self.load::<N>(self.heap_base.wrapping_add(offset))
    }

    /// Writes the low `N` bytes (N ≤ 8) of `value` at heap offset `offset`,
    /// as [`store`](Self::store) at the heap's base plus `offset`: in place
    /// in a flat heap's page that exists (`arena.rs`).
    #[inline(always)]
    pub fn heap_store<const N: u64>(&mut self, offset: u64, value: u64) -> Result<(), TrapKind> {
        if let Some(at) = self.flat.writable(offset, N) {
            // SAFETY: bytes of a page of this memory's flat heap, which it alone holds.
            unsafe { std::ptr::copy_nonoverlapping(value.to_le_bytes().as_ptr(), at, N as usize) };
            return Ok(());
        }
        self.store::<N>(self.heap_base.wrapping_add(offset), value)
    }

    /// Writes the low `N` bytes (N ≤ 8) of `value` at `addr`, little-endian.
    #[inline(always)]
    pub fn store<const N: u64>(&mut self, addr: u64, value: u64) -> Result<(), TrapKind> {
        let e = self.tlb.write.get(set_of(addr));
        if addr.wrapping_sub(e.start) <= e.len.wrapping_sub(N) {
            // SAFETY: a write entry's page is held by this memory alone (see
            // `store_slow`), so nobody else reads or writes it.
            unsafe {
                std::ptr::copy_nonoverlapping(
                    value.to_le_bytes().as_ptr(),
                    addr.wrapping_add(e.delta) as *mut u8,
                    N as usize,
                )
            };
            return Ok(());
        }
        self.store_slow::<N>(addr, value)
    }

    /// The write translation for an `n`-byte store at `addr` in the stack
    /// or the heap, inside one page that this memory already holds alone
    /// (created or copied here before); `None` for anything else. The
    /// common miss — a loop walking into its next page — without the
    /// general path's checks and copies.
    #[inline(always)]
    fn owned_entry(&self, addr: u64, n: u64) -> Option<Entry> {
        if addr < self.stack_base {
            return None; // the image: the general path
        }
        let (start, len) = self.permitted_range(addr, WRITE)?;
        if addr - start + n > len {
            return None;
        }
        let page = addr >> PAGE_BITS;
        let mut table = self.root.as_ref()?;
        for level in 0..self.levels {
            if Arc::strong_count(table) != 1 {
                return None;
            }
            let i = self.index(page, level);
            match table.slots() {
                Slots::Tables(t) => table = t[i].as_ref()?,
                Slots::Pages(p) => {
                    if table.owned.load(Ordering::Relaxed) & (1 << i) == 0 {
                        return None;
                    }
                    let data = p[i].as_ref()?.ptr();
                    // As in `unique_table`: see what a former co-holder did.
                    std::sync::atomic::fence(Ordering::Acquire);
                    return Some(Entry { start, len, delta: (data as u64).wrapping_sub(page << PAGE_BITS) });
                }
            }
        }
        None
    }

    #[cold]
    #[inline(never)]
    fn store_slow<const N: u64>(&mut self, addr: u64, value: u64) -> Result<(), TrapKind> {
        if let Some(e) = self.owned_entry(addr, N) {
            // The page stays where it was, so a read translation of it stays true.
            self.tlb.write.put(set_of(addr), e);
            // SAFETY: as in `store`: the bytes lie in the range just entered,
            // in a page this memory alone holds.
            unsafe {
                let bytes = value.to_le_bytes();
                std::ptr::copy_nonoverlapping(bytes.as_ptr(), addr.wrapping_add(e.delta) as *mut u8, N as usize)
            };
            return Ok(());
        }
        if self.first_forbidden(addr, N, Access::Write).is_some() {
            return Err(self.fault(addr, N, Access::Write));
        }
        self.arrive(addr, N)?;
        let last = addr + N - 1;
        if addr >> PAGE_BITS != last >> PAGE_BITS {
            // Across two pages: make both writable first, so a failure leaves no partial store.
            self.page_for_write(last >> PAGE_BITS)?;
            forget(&mut self.tlb, last);
        }
        let page = self.page_for_write(addr >> PAGE_BITS)?;
        forget(&mut self.tlb, addr);
        match self.entry(addr, WRITE, page) {
            Some(e) if addr - e.start + N <= e.len => {
                self.tlb.write.put(set_of(addr), e);
                // The page may have just been copied: reads must see the copy.
                self.tlb.read.put(set_of(addr), e);
                // SAFETY: as in `store`: the bytes lie in the range just entered.
                unsafe {
                    let bytes = value.to_le_bytes();
                    std::ptr::copy_nonoverlapping(bytes.as_ptr(), addr.wrapping_add(e.delta) as *mut u8, N as usize)
                };
                Ok(())
            }
            _ => self.write_raw(addr, &value.to_le_bytes()[..N as usize]),
        }
    }

    /// Copies the bytes at `addr..addr + out.len()` into `out`, if readable.
    /// Where the compiled tier looks up this memory's translations: the
    /// read ways and the write ways, each `TLB_SETS` starts, then as many
    /// lengths, then as many deltas (`u64`s, `repr(C)`). A hit is what
    /// [`load`](Self::load) and [`store`](Self::store) test; a miss goes
    /// through them. The pointers stay true as long as this memory is not
    /// moved: the ways are overwritten in place, never reallocated.
    pub(super) fn translations(&self) -> (*const u64, *const u64) {
        (self.tlb.read.start.as_ptr(), self.tlb.write.start.as_ptr())
    }

    /// The interpreter's path for system instructions: through the TLB.
    pub fn read_into(&mut self, addr: u64, out: &mut [u8]) -> Result<(), TrapKind> {
        let len = out.len() as u64;
        let e = self.tlb.read.get(set_of(addr));
        if len <= e.len && addr.wrapping_sub(e.start) <= e.len - len {
            // SAFETY: as in `load`, for `len` bytes inside the entry's range.
            unsafe {
                std::ptr::copy_nonoverlapping(addr.wrapping_add(e.delta) as *const u8, out.as_mut_ptr(), out.len())
            };
            return Ok(());
        }
        self.check(addr, len, Access::Read)?;
        self.arrive(addr, len)?;
        self.read_raw(addr, out);
        if let Some(e) = (len > 0).then(|| self.entry(addr, READ, self.page_for_read(addr >> PAGE_BITS))).flatten() {
            self.tlb.read.put(set_of(addr), e);
        }
        Ok(())
    }

    /// Writes `data` at `addr`, if writable; nothing is written on a trap.
    /// The interpreter's path for system instructions: through the TLB,
    /// which stays true to the pages it copies.
    pub fn write_from(&mut self, addr: u64, data: &[u8]) -> Result<(), TrapKind> {
        let len = data.len() as u64;
        let e = self.tlb.write.get(set_of(addr));
        if len <= e.len && addr.wrapping_sub(e.start) <= e.len - len {
            // SAFETY: as in `store`, for `len` bytes inside the entry's range.
            unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), addr.wrapping_add(e.delta) as *mut u8, data.len()) };
            return Ok(());
        }
        self.check(addr, len, Access::Write)?;
        self.arrive(addr, len)?;
        let Some(last) = addr.checked_add(len).and_then(|end| end.checked_sub(1)).filter(|_| len > 0) else {
            return Ok(());
        };
        // Every page first, so that running out of memory writes nothing.
        for page in addr >> PAGE_BITS..=last >> PAGE_BITS {
            self.page_for_write(page)?;
            forget(&mut self.tlb, page << PAGE_BITS);
        }
        self.write_raw(addr, data)?;
        let page = self.page_for_write(addr >> PAGE_BITS)?;
        if let Some(e) = self.entry(addr, WRITE, page) {
            self.tlb.write.put(set_of(addr), e);
            self.tlb.read.put(set_of(addr), e);
        }
        Ok(())
    }

    /// Copies bytes out regardless of permission; the range must be inside memory.
    fn read_raw(&self, addr: u64, out: &mut [u8]) {
        let mut done = 0;
        while done < out.len() {
            let at = addr + done as u64;
            let off = (at & (PAGE - 1)) as usize;
            let n = (PAGE as usize - off).min(out.len() - done);
            let base = self.page_for_read(at >> PAGE_BITS);
            // SAFETY: `base` is a whole page this memory holds (or the zero
            // page), read while `&self` keeps it alive and unwritten.
            unsafe { std::ptr::copy_nonoverlapping(base.add(off), out[done..].as_mut_ptr(), n) };
            done += n;
        }
    }

    /// Copies bytes in regardless of permission, creating and copying pages as needed.
    fn write_raw(&mut self, addr: u64, data: &[u8]) -> Result<(), TrapKind> {
        let mut done = 0;
        while done < data.len() {
            let at = addr + done as u64;
            let off = (at & (PAGE - 1)) as usize;
            let n = (PAGE as usize - off).min(data.len() - done);
            let base = self.page_for_write(at >> PAGE_BITS)?;
            // SAFETY: `page_for_write` returned a page this memory alone holds.
            unsafe { std::ptr::copy_nonoverlapping(data[done..].as_ptr(), base.add(off), n) };
            done += n;
        }
        Ok(())
    }

    /// Checks that `len` bytes at `addr` all allow `access`.
    pub fn check(&self, addr: u64, len: u64, access: Access) -> Result<(), TrapKind> {
        match len > 0 && self.first_forbidden(addr, len, access).is_some() {
            true => Err(self.fault(addr, len, access)),
            false => Ok(()),
        }
    }

    /// Grows the heap by `n` zeroed bytes within the limit; returns the old
    /// end. The new bytes cost nothing until they are written.
    pub fn grow(&mut self, n: u64) -> Result<u64, TrapKind> {
        let old = self.end;
        let limit = self.limit();
        self.end = old.checked_add(n).filter(|&e| e <= limit).ok_or(TrapKind::OutOfMemory { requested: n, limit })?;
        // The heap's last page may now reach further than its translation says.
        self.tlb.flush();
        self.publish_flat();
        Ok(old)
    }

    /// The first address in `addr..addr + len` that does not allow `access`.
    fn first_forbidden(&self, addr: u64, len: u64, access: Access) -> Option<u64> {
        let need = match access {
            Access::Read => READ,
            Access::Write => WRITE,
        };
        let Some(end) = addr.checked_add(len) else {
            return Some(addr.max(self.end()));
        };
        let mut a = addr;
        while a < end {
            let ok_until = if a >= self.heap_base {
                self.end()
            } else if a >= self.stack_base {
                self.stack_top
            } else if a < self.image_len {
                Some(self.stretch_at(a)).filter(|run| run.perm & need != 0).map_or(a, |run| run.end)
            } else {
                a
            };
            if ok_until <= a {
                return Some(a);
            }
            a = ok_until;
        }
        None
    }

    /// The fault for an access that the fast check refused.
    #[cold]
    fn fault(&self, addr: u64, len: u64, access: Access) -> TrapKind {
        let bad = self.first_forbidden(addr, len, access).unwrap_or(addr);
        TrapKind::MemoryFault { addr, len, access, place: self.place(bad) }
    }

    /// What `addr` is, for messages.
    pub fn place(&self, addr: u64) -> Place {
        if addr >= self.end() {
            Place::Outside
        } else if addr >= self.heap_base {
            Place::Heap
        } else if addr >= self.stack_top {
            Place::Guard
        } else if addr >= self.stack_base {
            Place::Stack
        } else if addr >= self.image_len {
            Place::Guard
        } else {
            match self.stretch_at(addr).perm {
                p if p == READ | WRITE => Place::Data,
                READ => Place::Rodata,
                CODE => Place::Code,
                _ => Place::SectionHeader,
            }
        }
    }

    /// Raw bytes `addr..addr + len` regardless of permission (for debuggers
    /// and tests), if inside memory.
    pub fn peek(&self, addr: u64, len: u64) -> Option<Vec<u8>> {
        let end = addr.checked_add(len)?;
        if end > self.end {
            return None;
        }
        let mut out = vec![0; usize::try_from(len).ok()?];
        self.arrive(addr, len).ok()?;
        self.read_raw(addr, &mut out);
        Some(out)
    }

    /// Overwrites raw bytes regardless of permission (for debuggers and
    /// tests), if inside memory and within the memory limit.
    pub fn poke(&mut self, addr: u64, data: &[u8]) -> Option<()> {
        let end = addr.checked_add(data.len() as u64)?;
        if end > self.end {
            return None;
        }
        self.arrive(addr, data.len() as u64).ok()?;
        // The pages written may be copied: their translations go.
        self.tlb.flush();
        self.write_raw(addr, data).ok()
    }
}

impl Drop for Memory {
    fn drop(&mut self) {
        if let (Some(arena), true) = (&self.arena, self.flat_heap) {
            // Every page in the arena is this memory's alone and goes now.
            arena.retire();
        }
    }
}

// SAFETY: a `Memory` owns `Arc`s to its tables and pages; the raw pointers
// it hands out live in a `Tlb` or its `Flat`, and point into pages it
// holds. Shared pages are immutable (see `Page`).
unsafe impl Send for Memory {}

#[cfg(test)]
mod tests {
    use super::*;

    fn memory(limit: u64) -> Memory {
        let source = ".data\nd: .zero 16\n.code\nmain:\n    halt\n";
        let exe = Executable::load(&crate::asm::assemble(source).unwrap().0).unwrap();
        Memory::new(&exe, 64 * 1024, Arc::new(Meter::new(limit))).unwrap()
    }

    #[test]
    fn an_image_translation_spans_the_section_within_its_page() {
        let source = ".data\nd: .zero 16\n.rodata\nr: .zero 24\n.code\nmain:\n    halt\n";
        let exe = Executable::load(&crate::asm::assemble(source).unwrap().0).unwrap();
        let mem = Memory::new(&exe, 64 * 1024, Arc::new(Meter::new(1 << 30))).unwrap();
        let data = exe.sections[0].start;
        let rodata = exe.sections[1].start;
        // Each section's contents (section headers lie between them).
        assert_eq!(mem.permitted_range(data + 3, READ), Some((data, 16)));
        assert_eq!(mem.permitted_range(rodata + 20, READ), Some((rodata, 24)));
        assert_eq!(mem.permitted_range(data + 15, WRITE), Some((data, 16)));
        assert_eq!(mem.permitted_range(rodata, WRITE), None);
        // Past the heap's end, and in the guard above the stack: nothing.
        let mut mem = mem;
        let heap = mem.grow(100).unwrap();
        assert_eq!(mem.permitted_range(heap + 50, WRITE), Some((heap, 100)));
        assert_eq!(mem.permitted_range(heap + PAGE + 50, WRITE), None);
        assert_eq!(mem.permitted_range(mem.stack_top() + 8, WRITE), None);
        // Code and section headers allow neither.
        assert_eq!(mem.permitted_range(exe.sections[2].start, READ), None);
        assert_eq!(mem.permitted_range(0, READ), None);
    }

    #[test]
    fn forks_share_pages_until_one_side_writes() {
        let mut parent = memory(1 << 30);
        let heap = parent.grow(3 * PAGE).unwrap();
        // A write on the last byte of a page, and one spanning two pages.
        parent.store::<1>(heap + PAGE - 1, 0xaa).unwrap();
        parent.store::<8>(heap + 2 * PAGE - 4, u64::MAX).unwrap();
        let used = parent.meter().used();
        let mut child = parent.fork();
        assert_eq!(parent.meter().used(), used, "a fork copies no page");
        child.store::<1>(heap + PAGE - 1, 0xbb).unwrap();
        assert_eq!(parent.load::<1>(heap + PAGE - 1), Ok(0xaa));
        assert_eq!(child.load::<1>(heap + PAGE - 1), Ok(0xbb));
        parent.store::<8>(heap + 2 * PAGE - 4, 7).unwrap();
        assert_eq!(child.load::<8>(heap + 2 * PAGE - 4), Ok(u64::MAX));
        assert_eq!(parent.load::<8>(heap + 2 * PAGE - 4), Ok(7));
        drop(child);
        assert!(parent.meter().used() <= used + 2 * PAGE, "the child's copies are given back");
    }

    /// Once the unsound sequence of a public cache: store, fork, store again.
    /// The memory forgets its own write translations as it forks, so the
    /// second store copies the page the child now shares.
    #[test]
    fn a_page_written_alone_is_copied_when_the_side_that_wrote_it_writes_first_after_a_fork() {
        let mut parent = memory(1 << 30);
        let heap = parent.grow(PAGE).unwrap();
        parent.store::<8>(heap, 1).unwrap(); // the leaf table now knows it holds the page alone
        let mut child = parent.fork();
        parent.store::<8>(heap, 2).unwrap();
        assert_eq!(child.load::<8>(heap), Ok(1));
        child.store::<8>(heap, 3).unwrap();
        assert_eq!(parent.load::<8>(heap), Ok(2));
        assert_eq!(child.load::<8>(heap), Ok(3));
        // And a fork of a fork, written on the far side first.
        let mut grandchild = child.fork();
        grandchild.store::<8>(heap, 4).unwrap();
        assert_eq!(child.load::<8>(heap), Ok(3));
        child.store::<8>(heap, 5).unwrap();
        assert_eq!(grandchild.load::<8>(heap), Ok(4));
        assert_eq!(parent.load::<8>(heap), Ok(2));
    }

    /// Loads from a flat heap read its arena in place; a fork after the
    /// heap was written ends that on both sides, and each then reads its
    /// own writes through the translations.
    #[test]
    fn a_heap_is_flat_until_a_fork_shares_its_pages() {
        let mut parent = memory(1 << 30);
        let heap = parent.grow(2 * PAGE).unwrap();
        let offset = heap - parent.heap_base();
        assert_eq!(parent.flat.len, 0, "no arena before the first heap page");
        assert!(parent.is_flat(), "but flat: its first heap page will be in one");
        parent.store::<8>(heap + 8, 0x1122_3344_5566_7788).unwrap();
        assert_eq!(parent.flat.len, offset + 2 * PAGE);
        assert_eq!(parent.heap_load::<8>(offset + 8), Ok(0x1122_3344_5566_7788));
        assert_eq!(parent.heap_load::<2>(offset + PAGE + 100), Ok(0), "a page never written reads as zeros");
        // Stores in place only to a page that exists, and within it.
        assert!(parent.flat.writable(offset + 16, 8).is_some());
        assert!(parent.flat.writable(offset + PAGE + 16, 8).is_none(), "not created yet");
        let page_end = PAGE - (parent.heap_base() & (PAGE - 1));
        assert!(parent.flat.writable(page_end - 4, 8).is_none(), "across two pages");
        parent.heap_store::<4>(offset + 16, 0xdead_beef).unwrap();
        let used = parent.meter().used();
        parent.heap_store::<8>(offset + PAGE + 16, 9).unwrap();
        assert_eq!(parent.meter().used(), used + PAGE, "the first store to a page creates it");
        assert_eq!(
            (parent.heap_load::<4>(offset + 16), parent.heap_load::<8>(offset + PAGE + 16)),
            (Ok(0xdead_beef), Ok(9))
        );
        assert_eq!(parent.load::<4>(heap + 16), Ok(0xdead_beef), "the translations see the same bytes");
        // The arena holds the page's bytes: the tree's page is the same memory.
        let flat_at = unsafe { parent.flat.base.add((offset + 8) as usize) } as u64;
        assert_eq!(parent.page_for_read((heap + 8) >> PAGE_BITS) as u64 + ((heap + 8) & (PAGE - 1)), flat_at);
        let mut child = parent.fork();
        assert_eq!((parent.flat.len, child.flat.len), (0, 0));
        parent.store::<8>(heap + 8, 1).unwrap();
        child.store::<8>(heap + 8, 2).unwrap();
        assert_eq!(parent.heap_load::<8>(offset + 8), Ok(1));
        assert_eq!(child.heap_load::<8>(offset + 8), Ok(2));
        // Growing a heap that is no longer flat publishes nothing flat.
        parent.grow(PAGE).unwrap();
        assert_eq!(parent.flat.len, 0);
    }

    /// A fork before the heap holds a page (as every machine starts) keeps
    /// the parent flat; the copy is flat only once it owns its heap (a
    /// restored program), with an arena of its own.
    #[test]
    fn a_fork_before_the_heap_is_written_leaves_the_parent_flat() {
        let mut parent = memory(1 << 30);
        let heap = parent.grow(PAGE).unwrap();
        let offset = heap - parent.heap_base();
        let mut child = parent.fork();
        let mut restored = parent.fork();
        restored.own_heap();
        for (mem, value) in [(&mut parent, 5), (&mut child, 6), (&mut restored, 7)] {
            mem.store::<4>(heap, value).unwrap();
        }
        assert!(parent.flat.len > 0 && restored.flat.len > 0);
        assert_eq!(child.flat.len, 0);
        assert_ne!(parent.flat.base, restored.flat.base);
        let loads = [&mut parent, &mut child, &mut restored].map(|mem| mem.heap_load::<4>(offset));
        assert_eq!(loads, [Ok(5), Ok(6), Ok(7)]);
        // A heap that holds a page cannot be owned afresh.
        child.own_heap();
        assert!(!child.flat_heap);
        // Saving the state (its pages shared with a snapshot) ends it.
        parent.share_pages();
        assert_eq!(parent.flat.len, 0);
        assert_eq!(parent.heap_load::<4>(offset), Ok(5));
    }

    #[test]
    fn untouched_memory_costs_nothing_and_copies_count_against_the_limit() {
        let mut mem = memory(1 << 20);
        let before = mem.meter().used();
        let heap = mem.grow(512 * 1024).unwrap();
        assert_eq!(mem.meter().used(), before);
        assert_eq!(mem.load::<8>(heap + 1000), Ok(0));
        for page in 0..128 {
            mem.store::<1>(heap + page * PAGE, 1).unwrap();
        }
        // A fork that writes every page too needs another 512 KiB: past the limit.
        let mut child = mem.fork();
        let result = (0..128).try_for_each(|page| child.store::<1>(heap + page * PAGE, 2));
        assert!(matches!(result, Err(TrapKind::OutOfMemory { .. })), "{result:?}");
        assert!(mem.meter().used() <= 1 << 20);
        assert_eq!(mem.load::<1>(heap + 127 * PAGE), Ok(1));
    }
}
