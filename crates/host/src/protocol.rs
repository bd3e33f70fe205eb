//! The control protocol, version 5: line-based text commands, length-prefixed
//! binary payloads, `OK …` / `ERR reason` replies. `docs/protocol.md` is the
//! specification, with the lease state machine; this module is its one
//! source for command names, the status line and the limits.
//!
//! ```text
//! > auth TOKEN                 (first, only when the VM requires a token)
//! > status                     < OK running mova pid=4242 instance=… protocol=5 lease=none max-state=524344 program=…
//! > interrupt                  < OK interrupted lease=LEASE ip=3 top=17
//! > save LEASE                 < OK 72\n<72 bytes of state>
//! > restore LEASE 72\n<bytes>  < OK restored ip=3 top=17
//! > resume LEASE               < OK running
//! ```

use std::io::{self, BufRead, Read, Write};
use thiserror::Error;

/// The protocol version `status` reports.
pub const PROTOCOL_VERSION: u32 = 5;
/// Longest command or reply line, newline included.
pub const MAX_LINE: usize = 1024;
/// The most a client accepts as one payload, whatever a VM announces (a
/// Manda machine with gigabytes of written memory saves that much); the
/// bytes are committed as they arrive, so a lying peer costs what it sends.
pub const CLIENT_MAX_PAYLOAD: usize = 4 << 30;

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
    /// A payload length over the limit, or not a number.
    #[error("bad payload length `{text}` (at most {max} bytes)")]
    BadLength {
        /// The length as sent, shortened.
        text: String,
        /// The limit.
        max: usize,
    },
    /// The peer answered `ERR reason`.
    #[error("{0}")]
    Refused(String),
    /// The peer answered something that is not `OK`/`ERR`.
    #[error("unexpected reply `{0}`")]
    Unexpected(String),
}

impl ProtocolError {
    /// True if the VM answered (`ERR …` or a malformed reply) rather than the
    /// connection failing: the VM is certainly alive and did not do what was asked.
    pub fn is_answer(&self) -> bool {
        matches!(self, ProtocolError::Refused(_) | ProtocolError::Unexpected(_) | ProtocolError::BadLength { .. })
    }
}

/// A request, as the VM parses it from one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `auth TOKEN`.
    Auth(String),
    /// `status`.
    Status,
    /// `interrupt [LEASE]`: stop a running VM and take its lease; on a
    /// stopped, free VM just take the lease; with the holder's lease, renew it.
    Interrupt(Option<String>),
    /// `claim [LEASE]`: as `interrupt`, but refused on a running VM.
    Claim(Option<String>),
    /// `save LEASE`.
    Save(String),
    /// `restore LEASE LEN` and LEN payload bytes.
    Restore(String, usize),
    /// `resume LEASE`: run again (from `moving`: abort the hand-off).
    Resume(String),
    /// `release LEASE`: give the lease up and stay stopped (from `moving`: abort).
    Release(String),
    /// `handoff LEASE INSTANCE`: the state now lives in VM INSTANCE; never run
    /// it here again unless the holder aborts.
    Handoff(String, String),
    /// `abort LEASE`: from `moving`, back to `interrupted`, still held.
    Abort(String),
    /// `commit LEASE`: the target runs the program; exit.
    Commit(String),
    /// `kill [LEASE]`: end the process.
    Kill(Option<String>),
    /// `outcome LEASE`: what became of the state restored under LEASE here:
    /// still `held` (provisional), `ran` (its holder resumed it) or `dropped`.
    Outcome(String),
    /// `accept LEASE`: the holder of a waiting VM lets one source stream a
    /// state to it; the answer names the one-time ticket for `stream`.
    Accept(String),
    /// `stream TICKET PROGRAM`: a source's connection carrying a state of
    /// the program whose SHA-256 is PROGRAM (the first line, with no
    /// `auth`: the ticket is the credential); frames follow.
    Stream {
        /// The ticket `accept` gave.
        ticket: String,
        /// The source's program hash (hex): a target of another program refuses at once.
        program: String,
    },
    /// `send …`: stream this VM's state to a target that accepted it.
    Send(SendOrder),
}

/// What `send` asks of a source: `send TICKET ENDPOINT MAX-DOWNTIME-MS
/// MAX-ROUNDS THROTTLE COMPRESS POSTCOPY [LEASE]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendOrder {
    /// The ticket the target's `accept` gave.
    pub ticket: String,
    /// The target's control address, as this VM can reach it.
    pub endpoint: String,
    /// The longest the program may be stopped for the last pages, in milliseconds: pre-copy
    /// rounds go on until the pages left fit it.
    pub max_downtime_ms: u64,
    /// Pre-copy rounds at most before the migration gives up; 0 leaves pre-copy out (the
    /// program stops and its state goes whole: stop and copy).
    pub max_rounds: u32,
    /// Whether the program may be slowed down when it writes faster than the link (auto-converge).
    pub throttle: bool,
    /// Whether pages go compressed (lz4).
    pub compress: Compress,
    /// Post-copy: once the rounds are used up (at once with 0 rounds), the
    /// program stops and the target runs before its pages have arrived;
    /// they follow, one the program waits for first.
    pub postcopy: bool,
    /// The lease, when the VM is interrupted and held.
    pub lease: Option<String>,
}

/// Whether a state stream compresses its pages (lz4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compress {
    /// When that is faster than the link: the compression's speed and
    /// ratio, measured on the first chunks and every 64th, against the
    /// link's speed.
    #[default]
    Auto,
    /// Always.
    On,
    /// Never.
    Off,
}

impl Compress {
    /// Its word on the wire and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Compress::Auto => "auto",
            Compress::On => "on",
            Compress::Off => "off",
        }
    }

    /// The setting named `word`.
    pub fn parse(word: &str) -> Option<Compress> {
        [Compress::Auto, Compress::On, Compress::Off].into_iter().find(|c| c.name() == word)
    }
}

/// Every command name, for the `unknown command` reply and the docs.
pub const COMMANDS: &str =
    "auth, status, interrupt, claim, save, restore, resume, release, handoff, abort, commit, kill, outcome, accept, stream, send";

impl Command {
    /// Parses one request line; `max_payload` bounds `restore`'s length.
    pub fn parse(line: &str, max_payload: usize) -> Result<Command, String> {
        let mut words = line.split(' ').filter(|w| !w.is_empty());
        let name = words.next().unwrap_or("");
        let args: Vec<&str> = words.collect();
        let arity = |n: std::ops::RangeInclusive<usize>, usage: &str| match n.contains(&args.len()) {
            true => Ok(()),
            false => Err(format!("usage: {usage}")),
        };
        let lease = |i: usize| args.get(i).map(|s| s.to_string());
        let command = match name {
            "auth" => {
                // The token is the rest of the line, spaces included.
                return Ok(Command::Auth(line.strip_prefix("auth").unwrap_or("").trim_start_matches(' ').to_string()));
            }
            "status" => arity(0..=0, "status").map(|()| Command::Status)?,
            "interrupt" => arity(0..=1, "interrupt [LEASE]").map(|()| Command::Interrupt(lease(0)))?,
            "claim" => arity(0..=1, "claim [LEASE]").map(|()| Command::Claim(lease(0)))?,
            "kill" => arity(0..=1, "kill [LEASE]").map(|()| Command::Kill(lease(0)))?,
            "save" => arity(1..=1, "save LEASE").map(|()| Command::Save(args[0].into()))?,
            "resume" => arity(1..=1, "resume LEASE").map(|()| Command::Resume(args[0].into()))?,
            "release" => arity(1..=1, "release LEASE").map(|()| Command::Release(args[0].into()))?,
            "commit" => arity(1..=1, "commit LEASE").map(|()| Command::Commit(args[0].into()))?,
            "abort" => arity(1..=1, "abort LEASE").map(|()| Command::Abort(args[0].into()))?,
            "outcome" => arity(1..=1, "outcome LEASE").map(|()| Command::Outcome(args[0].into()))?,
            "handoff" => {
                arity(2..=2, "handoff LEASE INSTANCE").map(|()| Command::Handoff(args[0].into(), args[1].into()))?
            }
            "accept" => arity(1..=1, "accept LEASE").map(|()| Command::Accept(args[0].into()))?,
            "stream" => arity(2..=2, "stream TICKET PROGRAM")
                .map(|()| Command::Stream { ticket: args[0].into(), program: args[1].into() })?,
            "send" => {
                let usage = "send TICKET ENDPOINT MAX-DOWNTIME-MS MAX-ROUNDS THROTTLE(0|1) COMPRESS(auto|on|off) \
                             POSTCOPY(0|1) [LEASE]";
                arity(7..=8, usage)?;
                let flag = |i: usize| match args[i] {
                    "0" => Ok(false),
                    "1" => Ok(true),
                    other => Err(format!("usage: {usage} (`{other}` is not 0 or 1)")),
                };
                let number = |i: usize, what: &str| {
                    args[i].parse::<u64>().map_err(|_| format!("usage: {usage} (`{}` is not a {what})", args[i]))
                };
                Command::Send(SendOrder {
                    ticket: args[0].into(),
                    endpoint: args[1].into(),
                    max_downtime_ms: number(2, "number of milliseconds")?,
                    max_rounds: u32::try_from(number(3, "number of rounds")?).map_err(|_| format!("usage: {usage}"))?,
                    throttle: flag(4)?,
                    compress: Compress::parse(args[5])
                        .ok_or_else(|| format!("usage: {usage} (`{}` is not auto, on or off)", args[5]))?,
                    postcopy: flag(6)?,
                    lease: lease(7),
                })
            }
            "restore" => {
                arity(2..=2, "restore LEASE LEN")?;
                let len = parse_length(args[1], max_payload).map_err(|e| e.to_string())?;
                Command::Restore(args[0].into(), len)
            }
            other => {
                let other: String = other.chars().take(40).collect();
                return Err(format!("unknown command `{other}` (commands: {COMMANDS})"));
            }
        };
        Ok(command)
    }
}

/// The request line, as [`Command::parse`] reads it back (a `restore`'s
/// payload follows the line).
impl std::fmt::Display for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let optional = |name: &str, lease: &Option<String>| match lease {
            Some(lease) => format!("{name} {lease}"),
            None => name.to_string(),
        };
        match self {
            Command::Auth(token) => write!(f, "auth {token}"),
            Command::Status => f.write_str("status"),
            Command::Interrupt(lease) => f.write_str(&optional("interrupt", lease)),
            Command::Claim(lease) => f.write_str(&optional("claim", lease)),
            Command::Kill(lease) => f.write_str(&optional("kill", lease)),
            Command::Save(lease) => write!(f, "save {lease}"),
            Command::Restore(lease, len) => write!(f, "restore {lease} {len}"),
            Command::Resume(lease) => write!(f, "resume {lease}"),
            Command::Release(lease) => write!(f, "release {lease}"),
            Command::Handoff(lease, instance) => write!(f, "handoff {lease} {instance}"),
            Command::Abort(lease) => write!(f, "abort {lease}"),
            Command::Commit(lease) => write!(f, "commit {lease}"),
            Command::Outcome(lease) => write!(f, "outcome {lease}"),
            Command::Accept(lease) => write!(f, "accept {lease}"),
            Command::Stream { ticket, program } => write!(f, "stream {ticket} {program}"),
            Command::Send(o) => {
                write!(
                    f,
                    "send {} {} {} {} {} {} {}",
                    o.ticket,
                    o.endpoint,
                    o.max_downtime_ms,
                    o.max_rounds,
                    u8::from(o.throttle),
                    o.compress.name(),
                    u8::from(o.postcopy)
                )?;
                match &o.lease {
                    Some(lease) => write!(f, " {lease}"),
                    None => Ok(()),
                }
            }
        }
    }
}

/// What became of a state restored under a lease: the answer to `outcome LEASE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    /// Restored and not run yet: provisional, held by the lease.
    Held,
    /// Its holder resumed it: the program ran in that VM.
    Ran,
    /// Released, replaced, or its lease lapsed before it ran: it is gone.
    Dropped,
}

impl Fate {
    /// The word on the wire: `held`, `ran`, `dropped`.
    pub fn name(self) -> &'static str {
        match self {
            Fate::Held => "held",
            Fate::Ran => "ran",
            Fate::Dropped => "dropped",
        }
    }

    /// The fate named by `word`.
    pub fn parse(word: &str) -> Option<Fate> {
        [Fate::Held, Fate::Ran, Fate::Dropped].into_iter().find(|f| f.name() == word)
    }
}

/// What `status` says about a VM.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Status {
    /// `running`, `interrupted`, `waiting` or `moving`.
    pub mode: String,
    /// `mova`, `manda`, …
    pub machine: String,
    /// The VM's process id.
    pub pid: u32,
    /// Random per VM start: names this VM, not its PID or port.
    pub instance: String,
    /// The protocol version.
    pub protocol: u32,
    /// `none`, `held` or `expired` (held, but idle past the lease timeout: takeable).
    pub lease: String,
    /// The largest state the VM accepts, in bytes.
    pub max_state: usize,
    /// While `moving`: the instance the state was handed to.
    pub moving_to: Option<String>,
    /// Where the machine stopped (`ip=3 top=17`); empty while running.
    pub position: String,
    /// The program's path as the VM was started with it.
    pub program: String,
}

impl Status {
    /// The status line without `OK `.
    pub fn format(&self) -> String {
        let mut line = format!(
            "{} {} pid={} instance={} protocol={} lease={} max-state={}",
            self.mode, self.machine, self.pid, self.instance, self.protocol, self.lease, self.max_state
        );
        if let Some(to) = &self.moving_to {
            line.push_str(&format!(" to={to}"));
        }
        if !self.position.is_empty() {
            line.push(' ');
            line.push_str(&self.position);
        }
        line.push_str(" program=");
        line.push_str(&self.program);
        line
    }

    /// Parses a status line (without `OK `); fields it does not know go to `position`.
    pub fn parse(text: &str) -> Result<Status, ProtocolError> {
        let bad = || ProtocolError::Unexpected(format!("status {}", text.chars().take(80).collect::<String>()));
        let (fields, program) = text.split_once(" program=").ok_or_else(bad)?;
        let mut words = fields.split(' ');
        let mut status = Status {
            mode: words.next().ok_or_else(bad)?.to_string(),
            machine: words.next().ok_or_else(bad)?.to_string(),
            program: program.to_string(),
            ..Status::default()
        };
        let mut position = Vec::new();
        for word in words {
            match word.split_once('=') {
                Some(("pid", v)) => status.pid = v.parse().map_err(|_| bad())?,
                Some(("instance", v)) => status.instance = v.to_string(),
                Some(("protocol", v)) => status.protocol = v.parse().map_err(|_| bad())?,
                Some(("lease", v)) => status.lease = v.to_string(),
                Some(("max-state", v)) => status.max_state = v.parse().map_err(|_| bad())?,
                Some(("to", v)) => status.moving_to = Some(v.to_string()),
                _ => position.push(word),
            }
        }
        if status.instance.is_empty() || status.protocol == 0 {
            return Err(bad());
        }
        status.position = position.join(" ");
        Ok(status)
    }
}

/// A reply to a command, typed: [`Display`](std::fmt::Display) prints its
/// line (`OK …` or `ERR …`), [`Response::parse`] reads one back given the
/// command it answers (`OK 42` is a length after `save`, nothing else).
/// A `save`'s payload follows the line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    /// `OK authenticated`.
    Authenticated,
    /// `OK STATUS-LINE`.
    Status(Status),
    /// `OK MODE lease=L [to=T] POSITION`: `interrupt` or `claim` granted or renewed the lease.
    Granted {
        /// `interrupted`, `waiting` or `moving`.
        mode: String,
        /// The lease.
        lease: String,
        /// While moving: the target's instance.
        to: Option<String>,
        /// Where the machine stopped (may be empty).
        position: String,
    },
    /// `OK LEN`, then LEN bytes of state.
    Saved(usize),
    /// `OK restored POSITION`.
    Restored {
        /// Where the restored machine stands.
        position: String,
    },
    /// `OK running`.
    Running,
    /// `OK released MODE`.
    Released {
        /// The mode it stays in.
        mode: String,
    },
    /// `OK moving to=T`.
    Moving {
        /// The target's instance.
        to: String,
    },
    /// `OK interrupted` (an `abort`).
    Interrupted,
    /// `OK moved`, then the process ends.
    Moved,
    /// `OK killed`, then the process ends.
    Killed,
    /// `OK held`, `OK ran` or `OK dropped`.
    Outcome(Fate),
    /// `OK accepting ticket=T`.
    Accepting {
        /// The one-time ticket a source presents with `stream`.
        ticket: String,
    },
    /// `OK sent lease=L REPORT`: the target holds the state (provisionally);
    /// this VM is stopped and held by lease L.
    Sent {
        /// The lease on this VM, for `handoff`.
        lease: String,
        /// `key=value` figures: rounds, bytes, the time stopped so far.
        report: String,
    },
    /// `ERR WHY`.
    Refused(String),
}

impl Response {
    /// The `Granted` reply without its lease, for showing to a user
    /// (`interrupted ip=3 top=17`, `moving to=… pc=0x20`).
    pub fn shown(&self) -> String {
        without_field(self.to_string().trim_start_matches("OK "), "lease")
    }

    /// Reads `line`, the reply to `command`: `Err` if it is not what such a
    /// reply can be (a refusal is [`Response::Refused`], not an error).
    pub fn parse(command: &Command, line: &str) -> Result<Response, ProtocolError> {
        let text = match parse_reply(line) {
            Ok(text) => text,
            Err(ProtocolError::Refused(why)) => return Ok(Response::Refused(why)),
            Err(e) => return Err(e),
        };
        let unexpected = || ProtocolError::Unexpected(line.chars().take(80).collect());
        let (word, rest) = text.split_once(' ').unwrap_or((text, ""));
        Ok(match command {
            Command::Auth(_) if text == "authenticated" => Response::Authenticated,
            Command::Status => Response::Status(Status::parse(text)?),
            Command::Interrupt(_) | Command::Claim(_) => {
                let lease = field(rest, "lease").ok_or_else(unexpected)?.to_string();
                let to = field(rest, "to").map(str::to_string);
                let position = without_field(&without_field(rest, "lease"), "to");
                Response::Granted { mode: word.to_string(), lease, to, position }
            }
            Command::Save(_) => Response::Saved(parse_length(text, usize::MAX)?),
            Command::Restore(..) if word == "restored" => Response::Restored { position: rest.to_string() },
            Command::Resume(_) if text == "running" => Response::Running,
            Command::Release(_) if word == "released" => Response::Released { mode: rest.to_string() },
            Command::Handoff(..) if word == "moving" => {
                Response::Moving { to: field(rest, "to").ok_or_else(unexpected)?.to_string() }
            }
            Command::Abort(_) if text == "interrupted" => Response::Interrupted,
            Command::Commit(_) if text == "moved" => Response::Moved,
            Command::Kill(_) if text == "killed" => Response::Killed,
            Command::Outcome(_) => Response::Outcome(Fate::parse(text).ok_or_else(unexpected)?),
            Command::Accept(_) if word == "accepting" => {
                Response::Accepting { ticket: field(rest, "ticket").ok_or_else(unexpected)?.to_string() }
            }
            Command::Send(_) if word == "sent" => Response::Sent {
                lease: field(rest, "lease").ok_or_else(unexpected)?.to_string(),
                report: without_field(rest, "lease"),
            },
            _ => return Err(unexpected()),
        })
    }
}

/// The reply line, without its newline.
impl std::fmt::Display for Response {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Response::Authenticated => f.write_str("OK authenticated"),
            Response::Status(status) => write!(f, "OK {}", status.format()),
            Response::Granted { mode, lease, to, position } => {
                let to = to.as_ref().map(|t| format!(" to={t}")).unwrap_or_default();
                write!(f, "{}", format!("OK {mode} lease={lease}{to} {position}").trim_end())
            }
            Response::Saved(len) => write!(f, "OK {len}"),
            Response::Restored { position } => write!(f, "{}", format!("OK restored {position}").trim_end()),
            Response::Running => f.write_str("OK running"),
            Response::Released { mode } => write!(f, "OK released {mode}"),
            Response::Moving { to } => write!(f, "OK moving to={to}"),
            Response::Interrupted => f.write_str("OK interrupted"),
            Response::Moved => f.write_str("OK moved"),
            Response::Killed => f.write_str("OK killed"),
            Response::Outcome(fate) => write!(f, "OK {}", fate.name()),
            Response::Accepting { ticket } => write!(f, "OK accepting ticket={ticket}"),
            Response::Sent { lease, report } => write!(f, "{}", format!("OK sent lease={lease} {report}").trim_end()),
            Response::Refused(why) => write!(f, "ERR {why}"),
        }
    }
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

/// Parses a payload length, refusing anything over `max`.
pub fn parse_length(text: &str, max: usize) -> Result<usize, ProtocolError> {
    match text.trim().parse::<usize>() {
        Ok(n) if n <= max => Ok(n),
        _ => Err(ProtocolError::BadLength { text: text.trim().chars().take(40).collect(), max }),
    }
}

/// Reads exactly `len` payload bytes, committing memory only as they arrive.
pub fn read_payload(reader: &mut impl Read, len: usize) -> Result<Vec<u8>, ProtocolError> {
    let mut payload = Vec::with_capacity(len.min(64 * 1024));
    let read = reader.take(len as u64).read_to_end(&mut payload)?;
    if read < len {
        return Err(ProtocolError::Closed);
    }
    Ok(payload)
}

/// Writes a line (a newline is appended) and an optional payload, then flushes.
/// The payload is written as it is, not copied behind the line.
pub fn write_message(writer: &mut impl Write, line: &str, payload: Option<&[u8]>) -> io::Result<()> {
    let mut head = Vec::with_capacity(line.len() + 1);
    head.extend_from_slice(line.as_bytes());
    head.push(b'\n');
    writer.write_all(&head)?;
    if let Some(p) = payload {
        writer.write_all(p)?;
    }
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

/// Compares two secrets (tokens, leases) in time that depends on their lengths only.
pub fn same_secret(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

/// The value of `key=` in a reply such as `interrupted lease=… ip=3`.
pub fn field<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    text.split(' ').find_map(|w| w.strip_prefix(key).and_then(|v| v.strip_prefix('=')))
}

/// A reply with `key=…` removed, for showing to a user.
pub fn without_field(text: &str, key: &str) -> String {
    text.split(' ').filter(|w| field(w, key).is_none()).collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    /// Every reply prints as the line that parses back to it, given the command it answers.
    #[test]
    fn every_response_prints_the_line_that_parses_back_to_it() {
        let lease = || "0123456789abcdef0123456789abcdef".to_string();
        let status = Status {
            mode: "interrupted".into(),
            machine: "manda".into(),
            pid: 42,
            instance: "00112233".into(),
            protocol: PROTOCOL_VERSION,
            lease: "held".into(),
            max_state: 1 << 20,
            moving_to: None,
            position: "pc=0x20 steps=7".into(),
            program: "a b.s".into(),
        };
        let cases = [
            (Command::Auth("t".into()), Response::Authenticated),
            (Command::Status, Response::Status(status)),
            (
                Command::Interrupt(None),
                Response::Granted {
                    mode: "interrupted".into(),
                    lease: lease(),
                    to: None,
                    position: "ip=3 top=17".into(),
                },
            ),
            (
                Command::Claim(Some(lease())),
                Response::Granted {
                    mode: "moving".into(),
                    lease: lease(),
                    to: Some("ab12".into()),
                    position: "".into(),
                },
            ),
            (Command::Save(lease()), Response::Saved(4096)),
            (Command::Restore(lease(), 9), Response::Restored { position: "count=8".into() }),
            (Command::Resume(lease()), Response::Running),
            (Command::Release(lease()), Response::Released { mode: "waiting".into() }),
            (Command::Handoff(lease(), "ab12".into()), Response::Moving { to: "ab12".into() }),
            (Command::Abort(lease()), Response::Interrupted),
            (Command::Commit(lease()), Response::Moved),
            (Command::Kill(None), Response::Killed),
            (Command::Outcome(lease()), Response::Outcome(Fate::Ran)),
            (Command::Resume(lease()), Response::Refused("waiting: restore a state first".into())),
        ];
        for (command, response) in cases {
            let line = response.to_string();
            assert_eq!(Response::parse(&command, &line).unwrap(), response, "{line}");
        }
        assert_eq!(
            Response::Granted { mode: "interrupted".into(), lease: lease(), to: None, position: "ip=3".into() }
                .to_string(),
            format!("OK interrupted lease={} ip=3", lease())
        );
        assert!(Response::parse(&Command::Resume(lease()), "OK moved").is_err(), "not a reply to resume");
        let granted = |to: Option<&str>, position: &str| Response::Granted {
            mode: if to.is_some() { "moving" } else { "interrupted" }.into(),
            lease: lease(),
            to: to.map(str::to_string),
            position: position.into(),
        };
        assert_eq!(granted(None, "ip=3 top=17").shown(), "interrupted ip=3 top=17");
        assert_eq!(granted(Some("ab12"), "pc=0x20").shown(), "moving to=ab12 pc=0x20");
        assert_eq!(granted(None, "").shown(), "interrupted");
    }

    /// Every command prints as the line that parses back to it.
    #[test]
    fn every_command_prints_the_line_that_parses_back_to_it() {
        let lease = || "0123456789abcdef0123456789abcdef".to_string();
        let commands = [
            Command::Auth("a token with spaces".into()),
            Command::Status,
            Command::Interrupt(None),
            Command::Interrupt(Some(lease())),
            Command::Claim(None),
            Command::Claim(Some(lease())),
            Command::Kill(None),
            Command::Kill(Some(lease())),
            Command::Save(lease()),
            Command::Restore(lease(), 4096),
            Command::Resume(lease()),
            Command::Release(lease()),
            Command::Handoff(lease(), "00112233445566778899aabbccddeeff".into()),
            Command::Abort(lease()),
            Command::Commit(lease()),
            Command::Outcome(lease()),
        ];
        for command in commands {
            let line = command.to_string();
            assert_eq!(Command::parse(&line, 1 << 20), Ok(command), "{line}");
        }
    }

    use super::*;

    #[test]
    fn a_status_line_round_trips() {
        let status = Status {
            mode: "moving".into(),
            machine: "mova".into(),
            pid: 42,
            instance: "00ff00ff00ff00ff".into(),
            protocol: PROTOCOL_VERSION,
            lease: "held".into(),
            max_state: 524_344,
            moving_to: Some("1234123412341234".into()),
            position: "ip=3 top=17".into(),
            program: "a dir/counter.mv".into(),
        };
        let line = status.format();
        assert_eq!(
            line,
            "moving mova pid=42 instance=00ff00ff00ff00ff protocol=5 lease=held max-state=524344 \
             to=1234123412341234 ip=3 top=17 program=a dir/counter.mv"
        );
        assert_eq!(Status::parse(&line).unwrap(), status);
        assert!(Status::parse("running mova 42 prog").is_err());
    }

    #[test]
    fn secrets_compare_by_every_byte() {
        assert!(same_secret(b"s3cret", b"s3cret"));
        assert!(!same_secret(b"s3cret", b"s3creT"));
        assert!(!same_secret(b"", b"s3cret"));
        assert!(!same_secret(b"s3cre", b"s3cret"));
    }

    #[test]
    fn commands_parse_with_their_arity_and_limits() {
        assert_eq!(Command::parse("restore ab 72", 100), Ok(Command::Restore("ab".into(), 72)));
        assert_eq!(Command::parse("restore ab 101", 100), Err("bad payload length `101` (at most 100 bytes)".into()));
        assert_eq!(Command::parse("interrupt", 1), Ok(Command::Interrupt(None)));
        assert_eq!(Command::parse("save", 1), Err("usage: save LEASE".into()));
        assert_eq!(Command::parse("auth", 1), Ok(Command::Auth(String::new())));
        assert_eq!(Command::parse("auth a b", 1), Ok(Command::Auth("a b".into())));
        assert!(Command::parse("fly", 1).unwrap_err().starts_with("unknown command `fly` (commands: auth, status"));
        assert_eq!(field("interrupted lease=abc ip=3", "lease"), Some("abc"));
        assert_eq!(without_field("interrupted lease=abc ip=3", "lease"), "interrupted ip=3");
    }
}
