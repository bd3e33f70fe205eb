//! A context's call stack: return indices, kept in chunks of 64 Ki frames.
//!
//! One growing array would be reallocated — and for a moment held twice —
//! as a recursion deepens; chunks are never moved, so the host holds what
//! the meter was charged and no more. The interpreter pushes and pops the
//! top chunk directly and comes here only when it is full or empty.

use super::memory::Meter;
use super::trap::TrapKind;
use super::CALL_FRAME_BYTES;

/// Frames in a full chunk.
const CHUNK: usize = 1 << 16;

/// The call stack; see the module doc.
#[derive(Default)]
pub(super) struct CallStack {
    /// The innermost frames, innermost last: what `call` and `ret` touch.
    pub(super) top: Vec<u32>,
    /// Frames `top` may hold before [`grow`](Self::grow) is needed (its charged room).
    pub(super) room: u32,
    /// Full chunks under `top`, outermost first.
    below: Vec<Vec<u32>>,
    /// Bytes charged to the meter for all of them.
    charged: u64,
}

impl CallStack {
    /// Pushes a return index: into the top chunk's charged room, or past
    /// it through [`grow`](Self::grow).
    #[inline(always)]
    pub(super) fn push(&mut self, ret: u32, meter: &Meter, max_depth: u32) -> Result<(), TrapKind> {
        let len = self.top.len();
        if len >= self.room as usize {
            self.grow(meter, max_depth)?;
            self.top.push(ret);
            return Ok(());
        }
        // SAFETY: `len < room`, and `top` always has capacity for `room`
        // frames (`grow` reserves it), so the write is inside the allocation.
        unsafe {
            self.top.as_mut_ptr().add(len).write(ret);
            self.top.set_len(len + 1);
        }
        Ok(())
    }

    /// The top chunk as compiled code pushes and pops it in place:
    /// its frames, how many it holds, and its charged room (it has the
    /// capacity for that many; see [`set_top_len`](Self::set_top_len)).
    pub(super) fn top_raw(&mut self) -> (*mut u32, usize, u32) {
        (self.top.as_mut_ptr(), self.top.len(), self.room)
    }

    /// The top chunk holds `len` frames, written in place through
    /// [`top_raw`](Self::top_raw)'s pointer.
    ///
    /// # Safety
    /// `len <= room`, and every frame below `len` has been written.
    pub(super) unsafe fn set_top_len(&mut self, len: usize) {
        debug_assert!(len <= self.room as usize);
        // SAFETY: the caller's; `top` has capacity for `room` frames.
        unsafe { self.top.set_len(len) }
    }

    /// Pops a return index: from the top chunk, or when it is empty from
    /// the chunk below ([`pop_below`](Self::pop_below)); `None` if the
    /// stack is empty.
    #[inline(always)]
    pub(super) fn pop(&mut self, meter: &Meter) -> Option<u32> {
        match self.top.pop() {
            Some(t) => Some(t),
            None => self.pop_below(meter),
        }
    }

    /// Frames on the stack.
    pub(super) fn depth(&self) -> usize {
        self.below.len() * CHUNK + self.top.len()
    }

    /// Every return index, outermost first.
    pub(super) fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        self.below.iter().flatten().chain(&self.top).copied()
    }

    /// Bytes charged to the meter, to give back when the context ends.
    pub(super) fn charged(&self) -> u64 {
        self.charged
    }

    /// Room for one more frame: the top chunk doubles (up to a whole
    /// chunk), or a new one starts; charged first. The depth trap past
    /// `max_depth`, *out of memory* past the meter.
    #[cold]
    pub(super) fn grow(&mut self, meter: &Meter, max_depth: u32) -> Result<(), TrapKind> {
        let depth = self.depth();
        if depth >= max_depth as usize {
            return Err(TrapKind::CallStackOverflow(max_depth));
        }
        if self.top.len() == CHUNK {
            self.below.push(std::mem::take(&mut self.top));
            self.room = 0;
        }
        let len = self.top.len();
        let want = len.max(16).min(CHUNK - len).min(max_depth as usize - depth) as u64;
        // Near the limit, take what is left rather than fail a doubling.
        let left = meter.limit().saturating_sub(meter.used()) / CALL_FRAME_BYTES;
        let more = [want, want.min(left).max(1)]
            .into_iter()
            .find(|&more| meter.charge(more * CALL_FRAME_BYTES).is_ok())
            .ok_or(TrapKind::OutOfMemory { requested: CALL_FRAME_BYTES, limit: meter.limit() })?;
        self.charged += more * CALL_FRAME_BYTES;
        self.room += more as u32;
        self.top.reserve_exact(self.room as usize - len);
        Ok(())
    }

    /// `ret` found the top chunk empty: the frame from the chunk under it,
    /// which becomes the top (the empty one is given back); `None` if there
    /// is none.
    #[cold]
    fn pop_below(&mut self, meter: &Meter) -> Option<u32> {
        let chunk = self.below.pop()?;
        let freed = u64::from(self.room) * CALL_FRAME_BYTES;
        meter.release(freed);
        self.charged -= freed;
        self.top = chunk;
        self.room = CHUNK as u32;
        self.top.pop()
    }
}
