//! The control protocol's parsers on arbitrary text: request lines, status
//! replies, lengths and replies: never a panic.
#![no_main]
use vm_host::protocol::{parse_length, parse_reply, Command, Status};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(line) = std::str::from_utf8(data) else { return };
    let _ = Command::parse(line, 1 << 20);
    let _ = Status::parse(line);
    let _ = parse_length(line, 1 << 20);
    let _ = parse_reply(line);
});
