//! Stand-ins for misbehaving peers, for tests of the exactly-once promise.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;

/// When a fake target dies.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Death {
    /// Halfway through the first frame of the state streamed to it.
    MidStream,
    /// At `resume`, after it took the state.
    AtResume,
}

/// A `kind` VM's control port on loopback (its address is returned) that
/// plays a waiting VM — `status`, `claim`, `accept`, `release`, a source's
/// `stream` (taking the state's frames) — until its `death`: then it closes
/// every connection and stops listening without a word, as a killed
/// process does.
fn fake_target(kind: &'static str, death: Death) -> String {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};
    let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
    let addr = listener.local_addr().expect("an address").to_string();
    let gone = Arc::new(AtomicBool::new(false));
    let open: Arc<Mutex<Vec<std::net::TcpStream>>> = Arc::default();
    let die = {
        let (gone, open, addr) = (gone.clone(), open.clone(), addr.clone());
        move || {
            gone.store(true, Ordering::Release);
            for conn in open.lock().unwrap().drain(..) {
                let _ = conn.shutdown(std::net::Shutdown::Both);
            }
            // Wakes the accepting thread, which then drops the listener.
            let _ = std::net::TcpStream::connect(&addr);
        }
    };
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            if gone.load(Ordering::Acquire) {
                return;
            }
            let Ok(conn) = conn else { return };
            let Ok(read_half) = conn.try_clone() else { return };
            open.lock().unwrap().push(read_half.try_clone().unwrap());
            let die = die.clone();
            std::thread::spawn(move || serve_fake(kind, death, BufReader::new(read_half), conn, die));
        }
    });
    addr
}

/// One connection to a fake target.
fn serve_fake(
    kind: &str,
    death: Death,
    mut reader: BufReader<std::net::TcpStream>,
    mut writer: std::net::TcpStream,
    die: impl Fn(),
) {
    let lease = "00112233445566778899aabbccddeeff";
    let ticket = "ffeeddccbbaa99887766554433221100";
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        let reply = match words.first().copied() {
            Some("status") => format!(
                "OK waiting {kind} pid=1 instance=0123456789abcdef protocol=5 lease=none max-state=99999999 \
                 program=fake"
            ),
            Some("claim") => format!("OK waiting lease={lease}"),
            Some("accept") => format!("OK accepting ticket={ticket}"),
            Some("release") => "OK released waiting".to_string(),
            Some("stream") => loop {
                let mut head = [0u8; 9];
                if reader.read_exact(&mut head).is_err() {
                    return;
                }
                let len = u64::from_le_bytes(head[1..].try_into().unwrap()) as usize;
                if death == Death::MidStream {
                    let mut some = vec![0u8; len.min(10)];
                    let _ = reader.read_exact(&mut some);
                    return die();
                }
                let mut payload = vec![0u8; len];
                if reader.read_exact(&mut payload).is_err() {
                    return;
                }
                if head[0] == 2 || head[0] == 3 {
                    break "OK restored".to_string();
                }
            },
            Some("resume") if death == Death::AtResume => return die(),
            _ => "ERR the fake does not know that".to_string(),
        };
        if writer.write_all(format!("{reply}\n").as_bytes()).is_err() {
            return;
        }
    }
}

/// A `kind` VM's control port (on loopback; its address is returned) that
/// plays a waiting VM, then dies halfway through the first frame of the
/// state a source streams to it, as a target killed mid-transfer does.
pub fn dying_target(kind: &'static str) -> String {
    fake_target(kind, Death::MidStream)
}

/// A `kind` VM's control port (on loopback; its address is returned) that
/// plays a waiting VM — `status`, `claim`, `accept`, the source's stream
/// (taking the whole state) — and vanishes at `resume`: it closes every
/// connection and stops listening without answering, as a target killed at
/// that moment does.
pub fn target_vanishing_at_resume(kind: &'static str) -> String {
    fake_target(kind, Death::AtResume)
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
