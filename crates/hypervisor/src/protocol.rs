//! The control protocol: line-based text commands, length-prefixed binary
//! payloads, `OK …` / `ERR reason` replies (see `docs/protocol.md`).
//!
//! ```text
//! > auth TOKEN            (first, only when the listener requires a token)
//! > status                < OK interrupted mova 4242 ip=3 examples/counter.mv
//! > interrupt             < OK interrupted ip=3
//! > save                  < OK 72\n<72 bytes of state>
//! > restore 72\n<bytes>   < OK restored
//! > resume                < OK running
//! > kill                  < OK killed
//! ```

use std::io::{self, BufRead, Read, Write};
use thiserror::Error;

/// Longest command or reply line, newline included.
pub const MAX_LINE: usize = 1024;
/// Largest payload accepted (a Mova state is at most 524,354 bytes).
pub const MAX_PAYLOAD: usize = 1 << 20;

/// Why a protocol exchange failed.
#[derive(Debug, Error)]
pub enum ProtocolError {
    /// The connection failed.
    #[error("{0}")]
    Io(#[from] io::Error),
    /// The peer closed the connection.
    #[error("the connection was closed")]
    Closed,
    /// A line longer than [`MAX_LINE`].
    #[error("line longer than {MAX_LINE} bytes")]
    LineTooLong,
    /// A line that is not UTF-8 text.
    #[error("line is not UTF-8 text")]
    NotText,
    /// A payload length over [`MAX_PAYLOAD`] or not a number.
    #[error("bad payload length `{0}` (at most {MAX_PAYLOAD} bytes)")]
    BadLength(String),
    /// The peer answered `ERR reason`.
    #[error("{0}")]
    Refused(String),
    /// The peer answered something that is not `OK`/`ERR`.
    #[error("unexpected reply `{0}`")]
    Unexpected(String),
}

/// Reads one `\n`-terminated line of at most [`MAX_LINE`] bytes, without the newline.
pub fn read_line(reader: &mut impl BufRead) -> Result<String, ProtocolError> {
    let mut line = Vec::new();
    let read = reader.take(MAX_LINE as u64).read_until(b'\n', &mut line)?;
    if read == 0 {
        return Err(ProtocolError::Closed);
    }
    if line.last() != Some(&b'\n') {
        return Err(if read >= MAX_LINE { ProtocolError::LineTooLong } else { ProtocolError::Closed });
    }
    line.pop();
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    String::from_utf8(line).map_err(|_| ProtocolError::NotText)
}

/// Parses a payload length, refusing anything over [`MAX_PAYLOAD`].
pub fn parse_length(text: &str) -> Result<usize, ProtocolError> {
    match text.trim().parse::<usize>() {
        Ok(n) if n <= MAX_PAYLOAD => Ok(n),
        _ => Err(ProtocolError::BadLength(text.trim().chars().take(40).collect())),
    }
}

/// Reads exactly `len` payload bytes.
pub fn read_payload(reader: &mut impl Read, len: usize) -> Result<Vec<u8>, ProtocolError> {
    let mut payload = vec![0; len];
    reader.read_exact(&mut payload).map_err(|e| match e.kind() {
        io::ErrorKind::UnexpectedEof => ProtocolError::Closed,
        _ => ProtocolError::Io(e),
    })?;
    Ok(payload)
}

/// Writes a line (a newline is appended) and an optional payload, then flushes.
pub fn write_message(writer: &mut impl Write, line: &str, payload: Option<&[u8]>) -> io::Result<()> {
    let mut message = Vec::with_capacity(line.len() + 1 + payload.map_or(0, <[u8]>::len));
    message.extend_from_slice(line.as_bytes());
    message.push(b'\n');
    if let Some(p) = payload {
        message.extend_from_slice(p);
    }
    writer.write_all(&message)?;
    writer.flush()
}

/// Splits a reply into its `OK` text, or the `ERR` reason as an error.
pub fn parse_reply(line: &str) -> Result<&str, ProtocolError> {
    if let Some(rest) = line.strip_prefix("OK") {
        Ok(rest.trim_start())
    } else if let Some(reason) = line.strip_prefix("ERR") {
        Err(ProtocolError::Refused(reason.trim_start().to_string()))
    } else {
        Err(ProtocolError::Unexpected(line.chars().take(80).collect()))
    }
}
