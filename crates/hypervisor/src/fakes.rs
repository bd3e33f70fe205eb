//! Stand-ins for misbehaving peers, for tests of the exactly-once promise.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;

/// A `kind` VM's control port (on loopback; its address is returned) that
/// answers `status` and `claim` as a waiting VM would, then dies halfway
/// through the `restore` payload, as a target killed mid-restore does.
pub fn dying_target(kind: &'static str) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
    let addr = listener.local_addr().expect("an address").to_string();
    std::thread::spawn(move || {
        let Ok((stream, _)) = listener.accept() else { return };
        let Ok(read_half) = stream.try_clone() else { return };
        let mut reader = BufReader::new(read_half);
        let mut writer = stream;
        let mut line = String::new();
        let _ = reader.read_line(&mut line);
        assert_eq!(line, "status\n");
        let status = format!(
            "OK waiting {kind} pid=1 instance=0123456789abcdef protocol=2 lease=none max-state=99999999 program=fake\n"
        );
        let _ = writer.write_all(status.as_bytes());
        line.clear();
        let _ = reader.read_line(&mut line);
        assert_eq!(line, "claim\n");
        let _ = writer.write_all(b"OK waiting lease=00112233445566778899aabbccddeeff\n");
        line.clear();
        let _ = reader.read_line(&mut line);
        assert!(line.starts_with("restore 00112233445566778899aabbccddeeff "), "{line}");
        let mut some = [0u8; 10];
        let _ = reader.read_exact(&mut some);
        // Dropping both halves closes the connection mid-restore, as a killed process would.
    });
    addr
}
