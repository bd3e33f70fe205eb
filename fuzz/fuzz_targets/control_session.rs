//! The control port's state machine against a fake peer: each input is a
//! VM (a counter under `vm_host::host::serve`, on a real loopback port,
//! with or without a token, running or waiting) and a session of up to
//! three clients sending commands in any order, with leases right, stale,
//! missing or forged, payloads valid, corrupt or too long, and raw bytes.
//! A model of the lease state machine (docs/protocol.md) predicts every
//! reply, `OK` or `ERR`, and whether the VM closes the connection; the
//! checks: every command is answered within 5 s (no hang), the reply and
//! the VM's mode are the model's, only the lease holder's commands take
//! effect, a saved state restores and saves to the same bytes, and the VM
//! ends as the session says (killed, or moved after `commit`). With
//! `FUZZ_TRACE` set, each request and its reply is printed.
#![no_main]
use vm_core::counter::Counter;
use vm_host::host::{serve, Limits, Options, Ended};
use libfuzzer_sys::fuzz_target;
use mova_manda_fuzz::Choices;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

const TOKEN: &str = "fuzz-token";
const REPLY_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Running,
    Interrupted,
    Waiting,
    Moving,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Running => "running",
            Mode::Interrupted => "interrupted",
            Mode::Waiting => "waiting",
            Mode::Moving => "moving",
        }
    }
}

/// What the model expects of one request.
#[derive(Debug, PartialEq, Eq)]
enum Expect {
    /// `OK …`; the connection stays open unless `closes`.
    Ok { closes: bool },
    /// `ERR …`; the connection stays open unless `closes`.
    Err { closes: bool },
}

struct Conn {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    authenticated: bool,
}

impl Conn {
    fn open(addr: SocketAddr, token: bool) -> Conn {
        let stream = TcpStream::connect(addr).expect("the VM accepts a connection");
        stream.set_read_timeout(Some(REPLY_TIMEOUT)).unwrap();
        Conn { reader: BufReader::new(stream.try_clone().unwrap()), writer: stream, authenticated: !token }
    }

    /// Sends `line` (and `payload`) and reads the reply line; `None` if the
    /// VM closed the connection first. A reply that never comes is a hang.
    fn call(&mut self, line: &str, payload: &[u8]) -> Option<String> {
        let mut message = format!("{line}\n").into_bytes();
        message.extend_from_slice(payload);
        // A write may fail if the VM already closed; the read then says so.
        let _ = self.writer.write_all(&message);
        let mut reply = String::new();
        match self.reader.read_line(&mut reply) {
            Ok(0) => None,
            Ok(_) => Some(reply.trim_end_matches('\n').to_string()),
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                panic!("no reply to `{line}` within {REPLY_TIMEOUT:?}")
            }
            Err(_) => None, // reset by the VM
        }
    }

    /// The payload of `OK LEN`, the reply to a `save`: LEN bytes of state.
    fn payload(&mut self, reply: &str) -> Vec<u8> {
        let len: usize = reply.strip_prefix("OK ").and_then(|n| n.parse().ok()).unwrap_or_else(|| panic!("{reply}"));
        let mut state = vec![0; len];
        self.reader.read_exact(&mut state).expect("the saved state");
        state
    }

    /// True once the VM has closed this connection (within the timeout).
    fn closed(&mut self) -> bool {
        let mut rest = Vec::new();
        matches!(self.reader.read_to_end(&mut rest), Ok(_)) && rest.is_empty()
    }
}

/// The model of one VM's lease state machine.
struct Model {
    mode: Mode,
    lease: Option<String>,
    /// Leases this VM granted before the current one.
    stale: Vec<String>,
    instance: String,
    saved: Option<Vec<u8>>,
    /// A restored state its holder has not resumed yet.
    provisional: bool,
}

impl Model {
    /// May `given` act on the lease? (`Ok` for the holder.)
    fn holder(&self, given: Option<&str>) -> Result<(), &'static str> {
        match &self.lease {
            None => Err("free"),
            Some(lease) if given == Some(lease.as_str()) => Ok(()),
            Some(_) => Err("other"),
        }
    }
}

fn lease_word(model: &Model, choice: u8) -> Option<String> {
    match choice % 4 {
        0 => None,
        1 => model.lease.clone().or_else(|| Some("00000000000000000000000000000000".into())),
        2 => model.stale.last().cloned().or_else(|| Some("ffffffffffffffffffffffffffffffff".into())),
        _ => Some("forged".into()),
    }
}

fn counter_state(count: u64, owed_micros: u64) -> Vec<u8> {
    let mut state = b"CNT1".to_vec();
    state.extend_from_slice(&count.to_le_bytes());
    state.extend_from_slice(&owed_micros.to_le_bytes());
    state
}

fuzz_target!(|data: &[u8]| {
    static RUNTIME: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    let runtime = RUNTIME.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("control-session-{}", std::process::id()));
        std::env::set_var("MOVA_RUNTIME_DIR", &dir);
        dir
    });
    let mut choose = Choices(data);
    let setup = choose.byte();
    let token = setup & 1 == 1;
    let wait = setup & 2 == 2;
    let options = Options {
        // An ephemeral port the VM binds itself (and registers). Picking a free
        // port here and connecting until it answers can connect a socket to itself.
        listen: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
        token: token.then(|| TOKEN.to_string()),
        tls: None,
        insecure: false,
        wait,
        program: "fuzz".into(),
        program_hash: String::new(),
        limits: Limits { lease_timeout: Duration::from_secs(3600), ..Limits::default() },
        handle_signals: false,
        fleet: None,
    };
    let vm = std::thread::spawn(move || {
        let mut counter = Counter::new(0, Duration::from_millis(1), None, 0, std::io::sink());
        serve(&mut counter, options).expect("the VM serves")
    });
    // Listening once registered (the previous input's VM removed its entry as it ended).
    let entry = runtime.join(format!("{}.json", std::process::id()));
    let addr: SocketAddr = (0..2000)
        .find_map(|_| {
            vm_host::registry::read_entry(&entry).map(|e| e.endpoint.parse().expect("an address")).or_else(|| {
                std::thread::sleep(Duration::from_millis(1));
                None
            })
        })
        .expect("the VM registers");
    let mut status_conn = TcpStream::connect(addr).expect("the VM listens");
    status_conn.set_read_timeout(Some(REPLY_TIMEOUT)).unwrap();
    let mut status_reader = BufReader::new(status_conn.try_clone().unwrap());
    if token {
        status_conn.write_all(format!("auth {TOKEN}\n").as_bytes()).unwrap();
        let mut line = String::new();
        status_reader.read_line(&mut line).unwrap();
        assert_eq!(line, "OK authenticated\n");
    }
    let mut status = || {
        status_conn.write_all(b"status\n").unwrap();
        let mut line = String::new();
        status_reader.read_line(&mut line).expect("a status reply");
        line
    };
    let first = status();
    let instance = vm_host::protocol::field(&first, "instance")
        .unwrap_or_else(|| panic!("no instance in the status: {first}"))
        .to_string();
    let mut model = Model {
        mode: if wait { Mode::Waiting } else { Mode::Running },
        lease: None,
        stale: Vec::new(),
        instance,
        saved: None,
        provisional: false,
    };
    let mut conns: [Option<Conn>; 3] = [None, None, None];
    let mut ended: Option<Ended> = None;
    let mut steps = 0;
    while !choose.done() && ended.is_none() && steps < 64 {
        steps += 1;
        let op = choose.byte();
        let slot = usize::from(op % 3);
        let conn = conns[slot].get_or_insert_with(|| Conn::open(addr, token));
        let running = model.mode == Mode::Running;
        let moving = model.mode == Mode::Moving;
        let (line, payload, expect): (String, Vec<u8>, Expect) = match (op / 3) % 15 {
            0 => ("status".into(), vec![], Expect::Ok { closes: false }),
            1 => (format!("auth {TOKEN}"), vec![], Expect::Ok { closes: false }),
            2 => ("auth wrong".into(), vec![], Expect::Ok { closes: false }),
            kind @ (3 | 4) => {
                let given = lease_word(&model, choose.byte());
                let name = if kind == 3 { "interrupt" } else { "claim" };
                let line = format!("{name} {}", given.as_deref().unwrap_or("")).trim_end().to_string();
                // The holder of a moving VM may renew its lease (to decide it after a lost migration).
                let expect = if kind == 4 && running || moving && model.holder(given.as_deref()).is_err() {
                    Expect::Err { closes: false }
                } else {
                    match model.holder(given.as_deref()) {
                        Ok(()) | Err("free") => Expect::Ok { closes: false },
                        Err(_) => Expect::Err { closes: false },
                    }
                };
                (line, vec![], expect)
            }
            kind @ (5..=11) => {
                let given = lease_word(&model, choose.byte()).unwrap_or_else(|| "missing".into());
                let held = model.holder(Some(&given)).is_ok();
                let (line, payload, allowed) = match kind {
                    5 => (format!("save {given}"), vec![], model.mode == Mode::Interrupted),
                    6 => {
                        let (payload, valid) = match choose.byte() % 4 {
                            0 => (model.saved.clone().unwrap_or_else(|| counter_state(7, 0)), true),
                            1 => (counter_state(1, 0)[..usize::from(choose.byte() % 20)].to_vec(), false),
                            2 => (b"CNT2\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0".to_vec(), false),
                            // Longer than the largest state: refused, and the connection closed.
                            _ => (vec![b'x'; 21 + usize::from(choose.byte() % 64)], false),
                        };
                        (format!("restore {given} {}", payload.len()), payload, !moving && valid)
                    }
                    7 => (format!("resume {given}"), vec![], model.mode != Mode::Waiting),
                    8 => (format!("release {given}"), vec![], true),
                    9 => {
                        let to =
                            if choose.byte() % 4 == 0 { model.instance.clone() } else { "0123456789abcdef".into() };
                        // A restored state that has not run is never handed on.
                        let allowed = model.mode == Mode::Interrupted && to != model.instance && !model.provisional;
                        (format!("handoff {given} {to}"), vec![], allowed)
                    }
                    10 => (format!("abort {given}"), vec![], moving),
                    _ => (format!("commit {given}"), vec![], moving),
                };
                let expect = match !running && held && allowed {
                    true => Expect::Ok { closes: kind == 11 },
                    false => Expect::Err { closes: false },
                };
                (line, payload, expect)
            }
            12 => {
                let given = lease_word(&model, choose.byte());
                let line = format!("kill {}", given.as_deref().unwrap_or("")).trim_end().to_string();
                let expect = match model.holder(given.as_deref()) {
                    Ok(()) => Expect::Ok { closes: true },
                    Err("free") if !moving => Expect::Ok { closes: true },
                    Err(_) => Expect::Err { closes: false },
                };
                (line, vec![], expect)
            }
            13 => {
                // Raw bytes: whatever the VM makes of them, the connection is then given up.
                let n = usize::from(choose.byte() % 32);
                let raw: Vec<u8> = (0..n).map(|_| choose.byte()).collect();
                let _ = conn.writer.write_all(&raw);
                conns[slot] = None;
                continue;
            }
            _ => {
                conns[slot] = None;
                continue;
            }
        };
        let too_long = line.starts_with("restore ") && payload.len() > 20;
        // Unauthenticated, anything but the right `auth` is refused and closed.
        let expect = match (conn.authenticated, line.as_str()) {
            (true, _) if too_long => Expect::Err { closes: true },
            (false, l) if l == format!("auth {TOKEN}") => Expect::Ok { closes: false },
            (false, _) => Expect::Err { closes: true },
            (true, "auth wrong") => Expect::Ok { closes: false },
            (true, _) => expect,
        };
        let reply = conn.call(&line, &payload);
        let Some(reply) = reply else {
            panic!("the VM closed the connection instead of answering `{line}` (expected {expect:?})");
        };
        if std::env::var_os("FUZZ_TRACE").is_some() {
            eprintln!("[{slot}] {line} → {reply}");
        }
        let ok = reply.starts_with("OK");
        let closes = match expect {
            Expect::Ok { closes } => {
                assert!(ok, "`{line}` in mode {:?}: expected OK, got `{reply}`", model.mode);
                closes
            }
            Expect::Err { closes } => {
                assert!(reply.starts_with("ERR "), "`{line}` in mode {:?}: expected ERR, got `{reply}`", model.mode);
                closes
            }
        };
        if !conn.authenticated && ok {
            conn.authenticated = true;
        }
        if ok && line.starts_with("save ") {
            let state = conn.payload(&reply);
            assert!(state.len() == 20 && state.starts_with(b"CNT1"), "a counter state: {state:?}");
            model.saved = Some(state);
        }
        if closes {
            assert!(conn.closed(), "`{line}` → `{reply}`: the VM keeps the connection open");
            conns[slot] = None;
        }
        if !ok {
            continue;
        }
        // The model follows an accepted command.
        let word = line.split(' ').next().unwrap_or("");
        match word {
            "interrupt" | "claim" => {
                let granted = vm_host::protocol::field(&reply, "lease").expect("a lease").to_string();
                if let Some(old) = model.lease.replace(granted.clone()).filter(|old| *old != granted) {
                    panic!("`{line}` granted lease {granted} while {old} was held");
                }
                if model.mode == Mode::Running {
                    model.mode = Mode::Interrupted;
                }
                assert!(reply.starts_with(&format!("OK {} lease=", model.mode.name())), "{reply}");
            }
            "restore" => {
                model.mode = Mode::Interrupted;
                model.provisional = true;
                // The restored state is what a save now returns.
                model.saved = Some(payload.clone());
                // On the connection that restored it, open and authenticated.
                let conn = conns[slot].as_mut().expect("a restore keeps its connection");
                let lease = model.lease.as_deref().expect("a restore is made by the holder");
                let reply = conn.call(&format!("save {lease}"), &[]).expect("a reply to save");
                let again = conn.payload(&reply);
                assert_eq!(again, payload, "a restored state saves as the same bytes");
            }
            "resume" => {
                model.stale.extend(model.lease.take());
                model.mode = Mode::Running;
                model.provisional = false;
            }
            "release" => {
                model.stale.extend(model.lease.take());
                if moving {
                    model.mode = Mode::Interrupted;
                }
                if std::mem::take(&mut model.provisional) {
                    // Given up before it ran: dropped, the VM waits again.
                    model.mode = Mode::Waiting;
                }
                assert_eq!(reply, format!("OK released {}", model.mode.name()));
            }
            "handoff" => model.mode = Mode::Moving,
            "abort" => model.mode = Mode::Interrupted,
            "commit" => ended = Some(Ended::Moved),
            "kill" => ended = Some(Ended::Killed),
            _ => {}
        }
        if ended.is_none() {
            let now = status();
            assert!(now.starts_with(&format!("OK {} ", model.mode.name())), "after `{line}`: {now}");
            let lease = if model.lease.is_some() { "lease=held" } else { "lease=none" };
            assert!(now.contains(lease), "after `{line}`: {now}");
        }
    }
    // End the VM: `kill` with the lease if one is held.
    if ended.is_none() {
        let line = match &model.lease {
            Some(lease) => format!("kill {lease}"),
            None => "kill".to_string(),
        };
        status_conn.write_all(format!("{line}\n").as_bytes()).unwrap();
        let mut reply = String::new();
        status_reader.read_line(&mut reply).unwrap();
        assert_eq!(reply, "OK killed\n", "{line} in mode {:?}", model.mode);
        ended = Some(Ended::Killed);
    }
    drop(conns);
    assert_eq!(vm.join().expect("the VM thread"), ended.unwrap());
});
