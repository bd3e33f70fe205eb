//! A context's memory: the executable image, the stack and the heap in one
//! flat byte-addressed space, with the seed's permissions.
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
//! All of it is one `Vec<u8>`, so a checked access is a few compares and a
//! slice index. Stack and heap are wholly read-write and checked by range;
//! the image carries a permission byte per address. Two image sections are
//! always at least 9 header bytes apart, so an access of at most 8 bytes
//! whose first and last bytes are both permitted lies in one section: the
//! fast check looks at those two bytes only.

use super::trap::{Access, Place, TrapKind};
use crate::exe::{Executable, SectionKind};

/// Permission bit: loads may read the byte.
const READ: u8 = 1;
/// Permission bit: stores may write the byte.
const WRITE: u8 = 2;
/// Marks a code byte (executable; never read or written as data).
const CODE: u8 = 4;

/// Bytes between the image and the stack (at least), and between the stack and the heap.
pub const GUARD: u64 = 4096;

/// The address space of one context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Memory {
    bytes: Vec<u8>,
    /// Per image byte: READ | WRITE for data, READ for rodata, CODE for code, 0 for headers.
    perm: Vec<u8>,
    image_len: u64,
    stack_base: u64,
    stack_top: u64,
    heap_base: u64,
    limit: u64,
}

fn align_up(n: u64, to: u64) -> u64 {
    n.div_ceil(to) * to
}

impl Memory {
    /// Lays out `exe` with a stack of `stack_size` bytes (rounded up to 16).
    /// `Err(bytes needed)` if that alone passes `limit`.
    pub fn new(exe: &Executable, stack_size: u64, limit: u64) -> Result<Memory, u64> {
        let image_len = exe.len();
        let stack_base = align_up(image_len, GUARD) + GUARD;
        let stack_top = stack_base.saturating_add(align_up(stack_size, 16));
        let heap_base = stack_top.saturating_add(GUARD);
        if heap_base > limit {
            return Err(heap_base);
        }
        let mut bytes = Vec::new();
        bytes.try_reserve_exact(heap_base as usize).map_err(|_| heap_base)?;
        bytes.resize(heap_base as usize, 0);
        let mut perm = vec![0u8; image_len as usize];
        for section in &exe.sections {
            let range = section.start as usize..section.end() as usize;
            bytes[range.clone()].copy_from_slice(&section.bytes);
            let p = match section.kind {
                SectionKind::Data => READ | WRITE,
                SectionKind::Rodata => READ,
                SectionKind::Code => CODE,
            };
            perm[range].fill(p);
        }
        Ok(Memory { bytes, perm, image_len, stack_base, stack_top, heap_base, limit })
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

    /// One past the last heap byte: the whole memory's size.
    pub fn end(&self) -> u64 {
        self.bytes.len() as u64
    }

    /// The memory limit in bytes.
    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// The start index of an `N`-byte access at `addr` (N ≤ 8) if every
    /// byte has permission `need`.
    #[inline(always)]
    fn span<const N: u64>(&self, addr: u64, need: u8) -> Option<usize> {
        let last = addr.wrapping_add(N - 1);
        if addr >= self.heap_base {
            (last < self.bytes.len() as u64 && last >= addr).then_some(addr as usize)
        } else if addr >= self.stack_base {
            (last < self.stack_top).then_some(addr as usize)
        } else if last < self.image_len {
            (self.perm[addr as usize] & self.perm[last as usize] & need != 0).then_some(addr as usize)
        } else {
            None
        }
    }

    /// Reads `N` bytes (N ≤ 8) at `addr` as a little-endian integer, zero-extended.
    #[inline(always)]
    pub fn load<const N: u64>(&self, addr: u64) -> Result<u64, TrapKind> {
        match self.span::<N>(addr, READ) {
            Some(at) => {
                let mut le = [0u8; 8];
                le[..N as usize].copy_from_slice(&self.bytes[at..at + N as usize]);
                Ok(u64::from_le_bytes(le))
            }
            None => Err(self.fault(addr, N, Access::Read)),
        }
    }

    /// Writes the low `N` bytes (N ≤ 8) of `value` at `addr`, little-endian.
    #[inline(always)]
    pub fn store<const N: u64>(&mut self, addr: u64, value: u64) -> Result<(), TrapKind> {
        match self.span::<N>(addr, WRITE) {
            Some(at) => {
                self.bytes[at..at + N as usize].copy_from_slice(&value.to_le_bytes()[..N as usize]);
                Ok(())
            }
            None => Err(self.fault(addr, N, Access::Write)),
        }
    }

    /// A stack slot at `sp` that the caller has bounds-checked against the stack.
    #[inline(always)]
    pub fn stack_word(&self, sp: u64) -> u64 {
        let at = sp as usize;
        u64::from_le_bytes(self.bytes[at..at + 8].try_into().expect("8 bytes"))
    }

    /// Sets a stack slot at `sp` that the caller has bounds-checked.
    #[inline(always)]
    pub fn set_stack_word(&mut self, sp: u64, value: u64) {
        let at = sp as usize;
        self.bytes[at..at + 8].copy_from_slice(&value.to_le_bytes());
    }

    /// Checks that `len` bytes at `addr` all allow `access`; the range as indices.
    pub fn range(&self, addr: u64, len: u64, access: Access) -> Result<std::ops::Range<usize>, TrapKind> {
        if len == 0 {
            return Ok(0..0);
        }
        match self.first_forbidden(addr, len, access) {
            None => Ok(addr as usize..(addr + len) as usize),
            Some(_) => Err(self.fault(addr, len, access)),
        }
    }

    /// The bytes at `addr..addr + len`, if readable.
    pub fn read_bytes(&self, addr: u64, len: u64) -> Result<&[u8], TrapKind> {
        let range = self.range(addr, len, Access::Read)?;
        Ok(&self.bytes[range])
    }

    /// The bytes at `addr..addr + len`, if writable.
    pub fn write_bytes(&mut self, addr: u64, len: u64) -> Result<&mut [u8], TrapKind> {
        let range = self.range(addr, len, Access::Write)?;
        Ok(&mut self.bytes[range])
    }

    /// Grows the heap by `n` zeroed bytes within the limit (`extra` bytes
    /// are held elsewhere and count against it); returns the old end.
    pub fn grow(&mut self, n: u64, extra: u64) -> Result<u64, TrapKind> {
        let old = self.end();
        let oom = TrapKind::OutOfMemory { requested: n, limit: self.limit };
        let new = old.checked_add(n).filter(|&e| e.saturating_add(extra) <= self.limit).ok_or(oom.clone())?;
        let new = usize::try_from(new).map_err(|_| oom.clone())?;
        self.bytes.try_reserve(new - self.bytes.len()).map_err(|_| oom)?;
        self.bytes.resize(new, 0);
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
            } else if a < self.image_len && self.perm[a as usize] & need != 0 {
                a + 1
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
            match self.perm[addr as usize] {
                p if p == READ | WRITE => Place::Data,
                READ => Place::Rodata,
                CODE => Place::Code,
                _ => Place::SectionHeader,
            }
        }
    }

    /// Raw bytes `addr..addr + len` regardless of permission (for debuggers
    /// and tests), if inside memory.
    pub fn peek(&self, addr: u64, len: u64) -> Option<&[u8]> {
        let end = addr.checked_add(len)?;
        self.bytes.get(usize::try_from(addr).ok()?..usize::try_from(end).ok()?)
    }

    /// Overwrites raw bytes regardless of permission (for debuggers and tests).
    pub fn poke(&mut self, addr: u64, data: &[u8]) -> Option<()> {
        let end = addr.checked_add(data.len() as u64)?;
        let range = usize::try_from(addr).ok()?..usize::try_from(end).ok()?;
        self.bytes.get_mut(range)?.copy_from_slice(data);
        Some(())
    }
}
