//! What the fuzz targets share: reading the fuzzer's bytes as a sequence
//! of choices for the targets that build structured input from them.

/// Reads the fuzzer's bytes as choices, one byte each (zeros once they run
/// out, so every input, even an empty one, makes a whole case).
pub struct Choices<'a>(pub &'a [u8]);

impl Choices<'_> {
    /// The next byte.
    pub fn byte(&mut self) -> u8 {
        let (&first, rest) = self.0.split_first().unwrap_or((&0, &[]));
        self.0 = rest;
        first
    }

    /// The next eight bytes, big-endian.
    pub fn u64(&mut self) -> u64 {
        (0..8).fold(0, |acc, _| acc << 8 | u64::from(self.byte()))
    }

    /// True once every byte has been read.
    pub fn done(&self) -> bool {
        self.0.is_empty()
    }
}
