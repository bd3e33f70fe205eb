//! Reading a file an outsider may have made: never more than a bound.

use std::io;

/// Why [`read_bounded`] gave no bytes.
#[derive(Debug)]
pub enum ReadError {
    /// The file could not be opened or read.
    Io(io::Error),
    /// It holds more than the limit.
    TooLarge,
}

/// Reads `path` whole if it holds at most `max` bytes, reading no more than
/// one byte past that (so `/dev/zero` or a huge file costs `max`, not all of
/// memory). Each caller words the errors for what it reads.
pub fn read_bounded(path: &std::path::Path, max: u64) -> Result<Vec<u8>, ReadError> {
    use std::io::Read;
    let file = std::fs::File::open(path).map_err(ReadError::Io)?;
    // A regular file's size, when within the limit, is the buffer's: read once, never regrown and copied.
    let size = file.metadata().ok().filter(|m| m.is_file()).map_or(0, |m| m.len());
    let mut bytes = Vec::with_capacity(usize::try_from(size.min(max).saturating_add(1)).unwrap_or(0));
    file.take(max.saturating_add(1)).read_to_end(&mut bytes).map_err(ReadError::Io)?;
    match bytes.len() as u64 > max {
        true => Err(ReadError::TooLarge),
        false => Ok(bytes),
    }
}
