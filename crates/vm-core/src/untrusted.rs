//! Reading fields from untrusted bytes (saved states, snapshots): every
//! field checked against what is left before it is read, every count
//! against a limit and against what the bytes left could hold, so no length
//! in the input makes a reader allocate or index past the end.

use std::marker::PhantomData;

/// Why bytes were refused, and where: the offset of the field at fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Malformed {
    /// Offset of the field at fault.
    pub offset: usize,
    /// What is wrong with it.
    pub reason: String,
}

/// Reads little-endian fields from `bytes`, each checked against what is
/// left; every refusal is an `E` made from a [`Malformed`], so that each
/// format keeps its own error type.
pub struct ByteReader<'a, E> {
    bytes: &'a [u8],
    /// The offset of the next field.
    pub at: usize,
    error: PhantomData<fn() -> E>,
}

impl<'a, E: From<Malformed>> ByteReader<'a, E> {
    /// A reader of `bytes` from offset `at`.
    pub fn new(bytes: &'a [u8], at: usize) -> Self {
        ByteReader { bytes, at, error: PhantomData }
    }

    /// How many bytes are left.
    pub fn left(&self) -> usize {
        self.bytes.len() - self.at
    }

    /// A refusal of the field at `at`.
    pub fn fail<T>(&self, at: usize, reason: impl Into<String>) -> Result<T, E> {
        Err(E::from(Malformed { offset: at, reason: reason.into() }))
    }

    /// The next `n` bytes.
    pub fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], E> {
        let left = self.left();
        if n > left {
            return self.fail(self.at, format!("{what} needs {n} bytes, {left} left"));
        }
        self.at += n;
        Ok(&self.bytes[self.at - n..self.at])
    }

    /// A byte.
    pub fn u8(&mut self, what: &str) -> Result<u8, E> {
        Ok(self.take(1, what)?[0])
    }

    /// A little-endian u16.
    pub fn u16(&mut self, what: &str) -> Result<u16, E> {
        Ok(u16::from_le_bytes(self.take(2, what)?.try_into().expect("2 bytes")))
    }

    /// A little-endian u32.
    pub fn u32(&mut self, what: &str) -> Result<u32, E> {
        Ok(u32::from_le_bytes(self.take(4, what)?.try_into().expect("4 bytes")))
    }

    /// A little-endian u64.
    pub fn u64(&mut self, what: &str) -> Result<u64, E> {
        Ok(u64::from_le_bytes(self.take(8, what)?.try_into().expect("8 bytes")))
    }

    /// A u32 count of items of at least `each` bytes, no more than `max`
    /// and no more than the bytes left could hold.
    pub fn count(&mut self, what: &str, each: usize, max: u64) -> Result<usize, E> {
        let at = self.at;
        let n = u64::from(self.u32(what)?);
        if n > max {
            return self.fail(at, format!("{n} {what}, more than the limit of {max}"));
        }
        if n as usize * each > self.left() {
            return self.fail(at, format!("{n} {what} cannot fit in the {} bytes left", self.left()));
        }
        Ok(n as usize)
    }

    /// A u32 length, then that many bytes.
    pub fn bytes(&mut self, what: &str) -> Result<&'a [u8], E> {
        let n = self.u32(what)? as usize;
        self.take(n, what)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_is_checked_against_what_is_left() {
        let mut r = ByteReader::<Malformed>::new(&[1, 0, 2, 0, 0, 0, 9], 0);
        assert_eq!(r.u16("a"), Ok(1));
        assert_eq!(r.u32("b"), Ok(2));
        assert_eq!(r.u32("c"), Err(Malformed { offset: 6, reason: "c needs 4 bytes, 1 left".into() }));
        let mut r = ByteReader::<Malformed>::new(&[5, 0, 0, 0, 1, 2], 0);
        assert_eq!(
            r.count("items", 1, 4),
            Err(Malformed { offset: 0, reason: "5 items, more than the limit of 4".into() })
        );
        let mut r = ByteReader::<Malformed>::new(&[3, 0, 0, 0, 1, 2], 0);
        assert_eq!(
            r.count("items", 1, 9),
            Err(Malformed { offset: 0, reason: "3 items cannot fit in the 2 bytes left".into() })
        );
        let mut r = ByteReader::<Malformed>::new(&[2, 0, 0, 0, 7, 8], 0);
        assert_eq!(r.bytes("name"), Ok(&[7u8, 8][..]));
        assert_eq!(r.left(), 0);
    }
}
