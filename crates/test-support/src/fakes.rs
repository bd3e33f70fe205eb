//! Stand-ins for misbehaving peers, for tests of the exactly-once promise.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;

/// Listens on a loopback port (its address is returned) and hands the first
/// connection, as a line reader and a writer, to `serve` on a thread of its own.
fn serve_one(serve: impl FnOnce(BufReader<std::net::TcpStream>, std::net::TcpStream) + Send + 'static) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
    let addr = listener.local_addr().expect("an address").to_string();
    std::thread::spawn(move || {
        let Ok((stream, _)) = listener.accept() else { return };
        // One connection only: a new one is refused, as by a dead process once this one ends.
        drop(listener);
        let Ok(read_half) = stream.try_clone() else { return };
        serve(BufReader::new(read_half), stream);
    });
    addr
}

/// A `kind` VM's control port (on loopback; its address is returned) that
/// answers `status` and `claim` as a waiting VM would, then dies halfway
/// through the `restore` payload, as a target killed mid-restore does.
pub fn dying_target(kind: &'static str) -> String {
    serve_one(move |mut reader, mut writer| {
        let mut line = String::new();
        let _ = reader.read_line(&mut line);
        assert_eq!(line, "status\n");
        let status = format!(
            "OK waiting {kind} pid=1 instance=0123456789abcdef protocol=4 lease=none max-state=99999999 program=fake\n"
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
    })
}

/// A `kind` VM's control port (on loopback; its address is returned) that
/// plays a waiting VM — `status`, `claim`, `restore` (taking the whole
/// payload) — and vanishes at `resume`: it closes the connection and stops
/// listening without answering, as a target killed at that moment does.
pub fn target_vanishing_at_resume(kind: &'static str) -> String {
    serve_one(move |mut reader, mut writer| {
        let lease = "00112233445566778899aabbccddeeff";
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let words: Vec<&str> = line.split_whitespace().collect();
            let reply = match words.first().copied() {
                Some("status") => format!(
                    "OK waiting {kind} pid=1 instance=0123456789abcdef protocol=4 lease=none max-state=99999999 \
                     program=fake"
                ),
                Some("claim") => format!("OK waiting lease={lease}"),
                Some("restore") => {
                    let len: usize = words.get(2).and_then(|n| n.parse().ok()).unwrap_or(0);
                    let mut state = vec![0u8; len];
                    if reader.read_exact(&mut state).is_err() {
                        return;
                    }
                    "OK restored".to_string()
                }
                // Gone: the listener and the connection close together (both dropped on return).
                Some("resume") => return,
                _ => "ERR the fake does not know that".to_string(),
            };
            if writer.write_all(format!("{reply}\n").as_bytes()).is_err() {
                return;
            }
        }
    })
}

/// A proxy to the control port at `upstream` (its own loopback address is
/// returned): it forwards every connection both ways, except that on the
/// first connection it holds back the first reply line that starts with
/// `prefix` — and everything after it — and tells the receiver, so a test
/// can kill the client at exactly that point of a protocol. Later
/// connections are forwarded whole.
pub fn proxy_holding_reply(upstream: String, prefix: &'static str) -> (String, std::sync::mpsc::Receiver<()>) {
    use std::net::{Shutdown, TcpStream};
    let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
    let addr = listener.local_addr().expect("an address").to_string();
    let (held, told) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut hold = Some(held);
        for client in listener.incoming() {
            let Ok(client) = client else { return };
            let Ok(server) = TcpStream::connect(&upstream) else { return };
            let (Ok(mut client_in), Ok(mut server_out)) = (client.try_clone(), server.try_clone()) else { return };
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut client_in, &mut server_out);
                let _ = server_out.shutdown(Shutdown::Write);
            });
            let hold_here = hold.take();
            std::thread::spawn(move || {
                let mut replies = BufReader::new(server);
                let mut client_out = client;
                let mut line = Vec::new();
                loop {
                    line.clear();
                    match replies.read_until(b'\n', &mut line) {
                        Ok(0) | Err(_) => break,
                        Ok(_) => {}
                    }
                    if let Some(held) = &hold_here {
                        if line.starts_with(prefix.as_bytes()) {
                            let _ = held.send(());
                            // Hold it (and the rest) until the client goes away.
                            let _ = std::io::copy(&mut replies, &mut std::io::sink());
                            return;
                        }
                    }
                    // Payloads (after `OK LEN`) pass through as lines of bytes too.
                    if client_out.write_all(&line).is_err() {
                        break;
                    }
                }
                let _ = client_out.shutdown(Shutdown::Write);
            });
        }
    });
    (addr, told)
}
