//! The direct stream of a live migration: the source VM sends its state
//! straight to the target VM over a connection of its own, which `hv`
//! authorises (`accept` on the target gives a one-time ticket; `send` on
//! the source names it) but never carries: `hv`'s memory stays flat
//! whatever the machine's size.
//!
//! ```text
//! source → target   stream TICKET PROGRAM-SHA256\n
//!                   frames: kind (1 byte), length (8 bytes, little-endian), payload
//!                     0 keep-alive (empty), 1 pages (a pre-copy chunk),
//!                     2 last (the state over the pages), 3 whole (a whole state),
//!                     4 pages compressed (lz4)
//! target → source   applied N\n  after the Nth pages frame is in place (flow control: the
//!                   source keeps at most a few frames unapplied, so little is left
//!                   on the way when the program stops)
//!                   OK restored POSITION\n  or  ERR reason\n   (after 2 or 3, or at a refusal)
//!
//! post-copy, after OK restored (the pages frames before `last` were the directory of owed pages):
//! source → target   frames 5 owed pages (records: index, 8 bytes little-endian, and 4096 bytes),
//!                     6 done (empty: every owed page was sent), 0 keep-alive
//! target → source   applied N\n  after the Nth owed-pages frame is in place
//!                   want I J …\n  pages the program waits for: sent before any other
//!                   OK complete pages=N\n  once every page arrived, or ERR reason\n
//! ```
//!
//! The source's side is [`Outgoing`] (a thread that writes frames from a
//! short queue, so the VM thread never blocks on the network while the
//! program runs) and [`Precopy`] (when to start another round, slow the
//! program down, stop, or give up); the target's is [`receive`], a thread
//! that reads the frames into the machine's [`vm_core::Receiver`] and hands
//! the result to the VM thread, which restores it. In a post-copy the
//! source's thread then serves the owed pages ([`Serving`]), and the
//! target's [`receive_owed`] puts them in place while the program runs.

use crate::exchange::{Envelope, Request, Ticket};
use crate::protocol::Compress;
use std::io::{BufRead, BufReader, Read, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, Sender, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Frame kind: nothing; keeps an idle stream alive.
pub(crate) const KEEP_ALIVE: u8 = 0;
/// Frame kind: a chunk of pages sent ahead (`Machine::precopy_chunk`).
pub(crate) const PAGES: u8 = 1;
/// Frame kind: the state over the pages sent ahead (`Machine::precopy_finish`).
pub(crate) const LAST: u8 = 2;
/// Frame kind: a whole state (`Machine::save`).
pub(crate) const WHOLE: u8 = 3;
/// Frame kind: a chunk of pages, lz4-compressed: its length (8 bytes,
/// little-endian), then the lz4 block.
pub(crate) const PAGES_LZ4: u8 = 4;
/// Frame kind: owed pages' bytes, after a post-copy's `last`.
pub(crate) const OWED_PAGES: u8 = 5;
/// Frame kind: every owed page was sent.
pub(crate) const DONE: u8 = 6;
/// Owed pages in one frame at most (a source sends this many; the target accepts no more).
const OWED_PER_FRAME: usize = 32;
/// Pages sent with one a post-copy's target asks for: it and the ones
/// listed after it (the directory lists a context's pages in address order).
const PREFETCH: u64 = 16;
/// One owed page's record: its index and its bytes.
const OWED_RECORD: usize = 8 + vm_core::PAGE_BYTES;
/// Owed-pages frames a source sends ahead of the target's `applied` at
/// most: a page the program waits for is queued behind no more than these.
const OWED_WINDOW: u64 = 4;
/// The largest chunk of pages a target accepts in one frame.
pub(crate) const MAX_CHUNK: u64 = 64 << 20;
/// The size of the chunks a source makes.
pub(crate) const CHUNK: usize = 256 << 10;
/// Chunks queued for the sending thread at most: what may still be on its
/// way when the program stops.
const QUEUED: usize = 8;
/// Pages frames a source sends ahead of the target's `applied` at most.
const WINDOW: u64 = 4;
/// How long either side waits for the other before giving the stream up,
/// in control timeouts (`--control-timeout`, 10 s by default: 30 s).
pub(crate) const STALL_TIMEOUTS: u32 = 3;

/// A program hash as the `stream` line names it: an empty one (a machine
/// with no program file) is `-`, so that the line keeps its words.
pub(crate) fn program_word(hash: &str) -> &str {
    if hash.is_empty() {
        "-"
    } else {
        hash
    }
}

/// What the sending thread is given.
enum Frame {
    Pages(Vec<u8>),
    /// The state over the pages sent, and a post-copy's owed pages to serve after it.
    Last(vm_core::StateBytes, Option<Box<dyn vm_core::PageSource>>),
    Whole(vm_core::StateBytes),
}

/// Figures the sending thread keeps while it writes.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    /// Bytes written to the target, framing included.
    pub(crate) bytes: AtomicU64,
    /// Time spent compressing, writing and waiting for the target to apply,
    /// in nanoseconds: the stream's speed is `delivered` over it.
    pub(crate) busy_ns: AtomicU64,
    /// Bytes the target received, as they were before any compression.
    pub(crate) delivered: AtomicU64,
    /// Pages bytes that went compressed, before compression.
    pub(crate) lz4_in: AtomicU64,
    /// What they came to.
    pub(crate) lz4_out: AtomicU64,
}

/// When the sending thread compresses a chunk: compressing pays when the
/// link is slower than the compression's speed times what it saves
/// (`link < speed × (1 − ratio)`). Both are measured on the chunks it
/// compresses — the first four, then every 64th in auto mode.
struct Squeeze {
    mode: Compress,
    /// Input bytes a second, and output over input, of the chunks compressed so far.
    speed: f64,
    ratio: f64,
    chunks: u64,
}

impl Squeeze {
    fn wanted(&self, link: Option<f64>) -> bool {
        match self.mode {
            Compress::On => true,
            Compress::Off => false,
            Compress::Auto if self.chunks < 4 || self.chunks % 64 == 0 => true,
            Compress::Auto => link.is_some_and(|link| link < self.speed * (1.0 - self.ratio)),
        }
    }

    /// Compresses `chunk` into a `PAGES_LZ4` payload, measuring how it went.
    fn compress(&mut self, chunk: &[u8]) -> Vec<u8> {
        let started = Instant::now();
        let mut out = vec![0u8; 8 + lz4_flex::block::get_maximum_output_size(chunk.len())];
        out[..8].copy_from_slice(&(chunk.len() as u64).to_le_bytes());
        let n = lz4_flex::block::compress_into(chunk, &mut out[8..]).expect("room for the worst case");
        out.truncate(8 + n);
        let (speed, ratio) = (
            chunk.len() as f64 / started.elapsed().as_secs_f64().max(1e-9),
            out.len() as f64 / chunk.len().max(1) as f64,
        );
        // A running average that follows the data as it changes.
        let w = if self.chunks == 0 { 1.0 } else { 0.25 };
        self.speed += w * (speed - self.speed);
        self.ratio += w * (ratio - self.ratio);
        out
    }
}

impl Counters {
    /// Bytes per second the link has carried while busy (`None` before any).
    pub(crate) fn rate(&self) -> Option<f64> {
        let busy = self.busy_ns.load(Ordering::Relaxed);
        (busy > 0).then(|| self.delivered.load(Ordering::Relaxed) as f64 * 1e9 / busy as f64)
    }

    /// The link's own speed: bytes on the wire over the time spent.
    fn link_rate(&self) -> Option<f64> {
        let busy = self.busy_ns.load(Ordering::Relaxed);
        (busy > 0).then(|| self.bytes.load(Ordering::Relaxed) as f64 * 1e9 / busy as f64)
    }
}

/// The source's connection to the target, written by a thread of its own.
pub(crate) struct Outgoing {
    frames: Option<SyncSender<Frame>>,
    pub(crate) counters: Arc<Counters>,
    failed: Arc<Mutex<Option<String>>>,
    /// The target's answer to the last frame.
    answer: Receiver<Result<String, String>>,
    /// A post-copy's end: every owed page delivered, or why not.
    served: Receiver<Result<String, String>>,
    /// Raised to stop serving owed pages (the migration was aborted).
    cancel: Arc<AtomicBool>,
}

/// A post-copy's owed pages being served after the target took the state.
pub(crate) struct Serving {
    served: Receiver<Result<String, String>>,
    cancel: Arc<AtomicBool>,
}

impl Serving {
    /// Waits until every owed page is delivered (a report), or the stream failed (why).
    pub(crate) fn wait(self) -> Result<String, String> {
        self.served.recv().unwrap_or_else(|_| Err("the sending thread ended without a word".into()))
    }
}

impl Drop for Serving {
    /// A migration aborted before its commit: the target drops what it has.
    fn drop(&mut self) {
        self.cancel.store(true, Ordering::Release);
    }
}

/// Why a frame was not queued.
pub(crate) enum NotQueued {
    /// The queue is full: try again later.
    Full(Vec<u8>),
    /// The stream failed: why.
    Failed(String),
}

impl Outgoing {
    /// Starts the thread: it connects to `endpoint`, presents `ticket`, then writes the frames queued.
    pub(crate) fn start(
        endpoint: &str,
        ticket: &str,
        program: &str,
        compress: Compress,
        stall: Duration,
    ) -> std::io::Result<Outgoing> {
        let (frames, queue) = mpsc::sync_channel(QUEUED);
        let (answered, answer) = mpsc::channel();
        let (done, served) = mpsc::channel();
        let cancel = Arc::new(AtomicBool::new(false));
        let cancelled = cancel.clone();
        let counters = Arc::new(Counters::default());
        let failed = Arc::new(Mutex::new(None));
        let hello = format!("stream {ticket} {}\n", program_word(program));
        let endpoint = endpoint.to_string();
        let (c, f) = (counters.clone(), failed.clone());
        std::thread::Builder::new().name("send".into()).spawn(move || {
            let mut squeeze = Squeeze { mode: compress, speed: 0.0, ratio: 1.0, chunks: 0 };
            let outcome = write_stream(&endpoint, &hello, &queue, &c, &mut squeeze, stall);
            let owing = match outcome {
                Ok((said, owing)) => {
                    let _ = answered.send(Ok(said));
                    owing
                }
                Err(why) => {
                    *f.lock().unwrap_or_else(PoisonError::into_inner) = Some(why.clone());
                    let _ = answered.send(Err(why));
                    None
                }
            };
            if let Some((mut reader, pages)) = owing {
                let _ = done.send(serve_owed(&mut reader, &*pages, &c, stall, &cancelled));
            }
        })?;
        Ok(Outgoing { frames: Some(frames), counters, failed, answer, served, cancel })
    }

    /// Why the stream failed, if it did.
    pub(crate) fn failure(&self) -> Option<String> {
        self.failed.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Why the stream cannot take more: its failure, or that it has ended.
    fn ended(&self) -> String {
        self.failure().unwrap_or_else(|| "the stream has ended".into())
    }

    /// Queues a chunk of pages without waiting.
    pub(crate) fn offer(&self, chunk: Vec<u8>) -> Result<(), NotQueued> {
        let Some(frames) = &self.frames else { return Err(NotQueued::Failed(self.ended())) };
        match frames.try_send(Frame::Pages(chunk)) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(Frame::Pages(chunk))) => Err(NotQueued::Full(chunk)),
            Err(_) => Err(NotQueued::Failed(self.ended())),
        }
    }

    /// Queues a chunk of pages, waiting for room (the program is stopped: stop and copy).
    pub(crate) fn push(&self, chunk: Vec<u8>) -> Result<(), String> {
        match &self.frames {
            Some(frames) => frames.send(Frame::Pages(chunk)).map_err(|_| self.ended()),
            None => Err(self.ended()),
        }
    }

    /// Sends the last frame (`whole`: a whole state, else the state over
    /// the pages sent) and waits for the target's answer: its `OK …` line,
    /// or why it failed.
    pub(crate) fn finish(self, state: vm_core::StateBytes, whole: bool) -> Result<String, String> {
        let frame = if whole { Frame::Whole(state) } else { Frame::Last(state, None) };
        self.last(frame).map(|(said, _)| said)
    }

    /// A post-copy's last frame: the state over the directory sent, then
    /// `pages` served while the target runs. The target's `OK …`, and the
    /// serving that goes on.
    pub(crate) fn finish_owing(
        self,
        state: vm_core::StateBytes,
        pages: Box<dyn vm_core::PageSource>,
    ) -> Result<(String, Serving), String> {
        self.last(Frame::Last(state, Some(pages)))
    }

    fn last(mut self, frame: Frame) -> Result<(String, Serving), String> {
        let frames = self.frames.take().expect("finished once");
        let sent = frames.send(frame);
        drop(frames);
        let said = match (sent, self.answer.recv()) {
            (_, Ok(outcome)) => outcome?,
            (_, Err(_)) => return Err(self.failure().unwrap_or_else(|| "the stream ended without an answer".into())),
        };
        Ok((said, Serving { served: self.served, cancel: self.cancel }))
    }
}

/// The sending thread: connect, present the ticket, write every frame
/// queued, and after the last read the target's answer.
fn write_stream(
    endpoint: &str,
    hello: &str,
    queue: &Receiver<Frame>,
    counters: &Counters,
    squeeze: &mut Squeeze,
    stall: Duration,
) -> Result<(String, Owing), String> {
    let lost = |e: std::io::Error| format!("the stream to the target {endpoint} failed: {e}");
    // Under TLS when the target is on another host (`tls.rs`).
    let conn = crate::tls::connect(endpoint, Duration::from_secs(5), stall).map_err(|e| match e.kind() {
        std::io::ErrorKind::PermissionDenied => e.to_string(),
        _ => format!("cannot connect to the target {endpoint}: {e}"),
    })?;
    let mut reader = BufReader::new(conn);
    reader.get_mut().write_all(hello.as_bytes()).map_err(lost)?;
    let (mut sent, mut applied) = (0u64, 0u64);
    // The target's next line: `applied N`, or its answer (`OK …` at the end, `ERR …` at a refusal).
    let next_line = |reader: &mut BufReader<Box<dyn crate::tls::Duplex>>| -> Result<String, String> {
        let mut line = String::new();
        reader.take(crate::protocol::MAX_LINE as u64).read_line(&mut line).map_err(lost)?;
        match line.is_empty() {
            true => Err(format!("the target {endpoint} closed the stream without an answer")),
            false => Ok(line.trim_end().to_string()),
        }
    };
    let answer = |line: String| match crate::protocol::parse_reply(&line) {
        Ok(_) => Ok(line),
        Err(crate::protocol::ProtocolError::Refused(why)) => Err(why),
        Err(e) => Err(format!("the target {endpoint} answered: {e}")),
    };
    loop {
        // Waiting for the next frame, the stream is kept alive.
        let frame = match queue.recv_timeout(stall / 4) {
            Ok(frame) => frame,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                write_frame(reader.get_mut(), KEEP_ALIVE, &[], counters).map_err(lost)?;
                reader.get_mut().flush().map_err(lost)?;
                continue;
            }
            // Abandoned: the target drops what it received when the connection closes.
            Err(mpsc::RecvTimeoutError::Disconnected) => return Err("the migration was abandoned".into()),
        };
        let started = Instant::now();
        let compressed = match &frame {
            Frame::Pages(chunk) if squeeze.wanted(counters.link_rate()) => {
                let out = squeeze.compress(chunk);
                counters.lz4_in.fetch_add(chunk.len() as u64, Ordering::Relaxed);
                counters.lz4_out.fetch_add(out.len() as u64, Ordering::Relaxed);
                Some(out)
            }
            _ => None,
        };
        // Kind, bytes on the wire, and bytes delivered (as they were before any compression).
        let (kind, parts, raw): (u8, Vec<&[u8]>, usize) = match (&frame, &compressed) {
            (Frame::Pages(chunk), Some(out)) => (PAGES_LZ4, vec![out], chunk.len()),
            (Frame::Pages(chunk), None) => (PAGES, vec![chunk], chunk.len()),
            (Frame::Last(state, _), _) => (LAST, state.parts().collect(), state.len()),
            (Frame::Whole(state), _) => (WHOLE, state.parts().collect(), state.len()),
        };
        let pages = kind == PAGES || kind == PAGES_LZ4;
        if pages {
            squeeze.chunks += 1;
        }
        if let Err(e) = write_frame(reader.get_mut(), kind, &parts, counters).and_then(|()| reader.get_mut().flush()) {
            // A target that refused the state says why, then closes: its reason beats the broken pipe.
            let _ = reader.get_ref().tcp().set_read_timeout(Some(Duration::from_secs(1)));
            let reason = std::iter::from_fn(|| next_line(&mut reader).ok())
                .find(|line| !line.starts_with("applied "))
                .and_then(|line| line.strip_prefix("ERR ").map(str::to_string));
            return Err(reason.unwrap_or_else(|| lost(e)));
        }
        if pages {
            sent += 1;
        }
        // At the end, wait for every frame; before, for all but a window of them.
        let window = if pages { WINDOW } else { 0 };
        while sent - applied > window {
            let line = next_line(&mut reader)?;
            match line.strip_prefix("applied ").and_then(|n| n.parse::<u64>().ok()) {
                Some(n) if n <= sent => applied = n,
                _ => return answer(line).and_then(|line| Err(format!("the target answered too early: {line}"))),
            }
        }
        counters.busy_ns.fetch_add(started.elapsed().as_nanos() as u64, Ordering::Relaxed);
        counters.delivered.fetch_add(raw as u64, Ordering::Relaxed);
        if !pages {
            let said = answer(next_line(&mut reader)?)?;
            return Ok(match frame {
                Frame::Last(_, Some(owed)) => (said, Some((reader, owed))),
                _ => (said, None),
            });
        }
    }
}

/// A post-copy's connection and pages, once the target took the state.
type Owing = Option<(BufReader<Box<dyn crate::tls::Duplex>>, Box<dyn vm_core::PageSource>)>;

/// The source's thread after a post-copy's state: sends every owed page,
/// one the target waits for before any other, then `done`, and waits for
/// the target's `OK complete`. The report, or why the pages stopped.
fn serve_owed(
    reader: &mut BufReader<Box<dyn crate::tls::Duplex>>,
    pages: &dyn vm_core::PageSource,
    counters: &Counters,
    stall: Duration,
    cancel: &AtomicBool,
) -> Result<String, String> {
    let started = Instant::now();
    let count = pages.count();
    let lost = |e: std::io::Error| format!("the stream to the target failed: {e}");
    let mut sent = vec![false; usize::try_from(count).unwrap_or(0)];
    let (mut next, mut frames, mut applied, mut asked) = (0u64, 0u64, 0u64, 0u64);
    let mut wanted = std::collections::VecDeque::new();
    let mut done = false;
    let mut line = String::new();
    let (mut heard, mut wrote) = (Instant::now(), Instant::now());
    let mut pages_sent = 0u64;
    loop {
        if cancel.load(Ordering::Acquire) {
            return Err("the migration was aborted".into());
        }
        // Listen without waiting while there is something to send; else until the target speaks.
        let busy = !wanted.is_empty() || (next < count && frames - applied < OWED_WINDOW) || (next >= count && !done);
        let tcp = reader.get_ref().tcp();
        let _ = tcp.set_nonblocking(busy);
        let _ = tcp.set_read_timeout(Some(Duration::from_millis(50)));
        let heard_now = read_bounded_line(reader, &mut line);
        let _ = reader.get_ref().tcp().set_nonblocking(false);
        match heard_now {
            Ok(0) => return Err(format!("the target closed the stream with {pages_sent} of {count} pages sent")),
            Ok(_) if line.ends_with('\n') => {
                heard = Instant::now();
                let said = std::mem::take(&mut line);
                let said = said.trim_end();
                if let Some(n) = said.strip_prefix("applied ").and_then(|n| n.parse::<u64>().ok()) {
                    applied = n.min(frames);
                } else if let Some(list) = said.strip_prefix("want ") {
                    for index in list.split(' ').filter_map(|i| i.parse::<u64>().ok()).filter(|&i| i < count) {
                        asked += 1;
                        // The pages listed after it too: a program that touches a page is likely to
                        // touch its neighbours next, and each would cost it a round trip. Each is
                        // claimed as it is queued, so the queue holds a page once at most.
                        let after = index..(index + PREFETCH).min(count);
                        wanted.extend(after.filter(|&i| !std::mem::replace(&mut sent[i as usize], true)));
                    }
                } else if let Some(last) = last_word(said, asked, started) {
                    return last;
                } else {
                    return Err(format!("the target answered `{said}` while it received pages"));
                }
                continue;
            }
            Ok(_) => continue, // part of a line: the rest comes next
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                if !busy && heard.elapsed() > stall {
                    return Err(format!("the target said nothing for {} s", stall.as_secs()));
                }
            }
            Err(e) => return Err(lost(e)),
        }
        // What the program waits for first, then the rest in order, a window at a time.
        let mut chunk = Vec::with_capacity(OWED_PER_FRAME * OWED_RECORD);
        // Puts a claimed page's record in `chunk`.
        let mut put = |index: u64, chunk: &mut Vec<u8>| -> Result<(), String> {
            let at = chunk.len();
            chunk.extend_from_slice(&index.to_le_bytes());
            match pages.append(index, chunk)? {
                true => pages_sent += 1,
                false => chunk.truncate(at), // voided: not owed after all
            }
            Ok(())
        };
        while chunk.len() < OWED_PER_FRAME * OWED_RECORD {
            let Some(index) = wanted.pop_front() else { break };
            put(index, &mut chunk)?;
        }
        while chunk.len() < OWED_PER_FRAME * OWED_RECORD && next < count && frames - applied < OWED_WINDOW {
            if !std::mem::replace(&mut sent[next as usize], true) {
                put(next, &mut chunk)?;
            }
            next += 1;
        }
        let writer = reader.get_mut();
        let kind = if !chunk.is_empty() {
            frames += 1;
            OWED_PAGES
        } else if next >= count && wanted.is_empty() && !done {
            done = true;
            DONE
        } else if wrote.elapsed() > stall / 4 {
            KEEP_ALIVE
        } else {
            continue;
        };
        if let Err(e) = write_frame(writer, kind, &[&chunk], counters).and_then(|()| writer.flush()) {
            // A target that is done (its program ended) or gave up says so before it closes:
            // its word beats the broken pipe.
            let _ = reader.get_ref().tcp().set_nonblocking(false);
            let _ = reader.get_ref().tcp().set_read_timeout(Some(Duration::from_secs(1)));
            line.clear();
            while read_bounded_line(reader, &mut line).is_ok_and(|n| n > 0) {
                if let Some(last) = last_word(line.trim_end(), asked, started) {
                    return last;
                }
                line.clear();
            }
            return Err(lost(e));
        }
        wrote = Instant::now();
    }
}

/// The target's last word on a post-copy's pages, if `said` is one: `OK
/// complete …` (the report), or `ERR …` (why it gave them up).
fn last_word(said: &str, asked: u64, started: Instant) -> Option<Result<String, String>> {
    if let Some(report) = said.strip_prefix("OK complete") {
        return Some(Ok(format!("{} asked={asked} postcopy-ms={}", report.trim(), started.elapsed().as_millis())));
    }
    said.strip_prefix("ERR ").map(|why| Err(format!("the target gave the pages up: {why}")))
}

/// Reads into `line` up to its newline, the whole line held to
/// [`MAX_LINE`](crate::protocol::MAX_LINE) bytes (across calls that each
/// return a part of it): a peer that never ends its line is refused.
fn read_bounded_line(reader: &mut impl BufRead, line: &mut String) -> std::io::Result<usize> {
    let room = crate::protocol::MAX_LINE.saturating_sub(line.len());
    if room == 0 {
        let max = crate::protocol::MAX_LINE;
        return Err(std::io::Error::other(format!("the target sent a line longer than {max} bytes")));
    }
    reader.take(room as u64).read_line(line)
}

fn write_frame(writer: &mut impl Write, kind: u8, parts: &[&[u8]], counters: &Counters) -> std::io::Result<()> {
    let len: usize = parts.iter().map(|p| p.len()).sum();
    let mut head = [0u8; 9];
    head[0] = kind;
    head[1..].copy_from_slice(&(len as u64).to_le_bytes());
    writer.write_all(&head)?;
    for part in parts {
        writer.write_all(part)?;
    }
    counters.bytes.fetch_add(9 + len as u64, Ordering::Relaxed);
    Ok(())
}

/// What the VM thread does next in a pre-copy.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Decision {
    /// Send another round while the program runs.
    Another,
    /// What is left fits the downtime budget (or the program stopped writing): stop and send it.
    Stop,
    /// Neither converged nor allowed to slow down: why, for the report.
    GiveUp(String),
}

/// A pre-copy's rounds: what each sent, and when to stop.
#[derive(Debug)]
pub(crate) struct Precopy {
    pub(crate) max_downtime: Duration,
    pub(crate) max_rounds: u32,
    pub(crate) may_throttle: bool,
    /// Bytes each round had to send, first round first.
    pub(crate) rounds: Vec<u64>,
    /// Percent of the time the program is held back (auto-converge), 0 to 99.
    pub(crate) throttle: u8,
    pub(crate) started: Instant,
}

impl Precopy {
    /// Decides after a round ended, when the next would send `dirty`
    /// bytes and the link carries `rate` bytes a second.
    pub(crate) fn after_round(&mut self, dirty: u64, rate: Option<f64>) -> Decision {
        let previous = self.rounds.last().copied().unwrap_or(u64::MAX);
        self.rounds.push(dirty);
        let rate = rate.unwrap_or(100e6).max(1.0);
        let eta = Duration::from_secs_f64(dirty as f64 / rate);
        // The last pages get a quarter of the budget: the rest is for what is still on its way,
        // the state around the pages, the target's restore and the commit's round trips.
        if dirty == 0 || eta <= self.max_downtime / 4 {
            return Decision::Stop;
        }
        if self.rounds.len() > self.max_rounds as usize {
            let mib = |b: u64| b as f64 / (1 << 20) as f64;
            let why = format!(
                "the program writes memory faster than the link carries it: after {} rounds {:.1} MiB are still \
                 to send, {:.0} ms at {:.0} MB/s; --max-downtime {} ms leaves {} ms for them{}",
                self.max_rounds,
                mib(dirty),
                eta.as_secs_f64() * 1e3,
                rate / 1e6,
                self.max_downtime.as_millis(),
                (self.max_downtime / 4).as_millis(),
                match self.may_throttle {
                    true => format!(" even slowed down to {}% of its speed", 100 - u32::from(self.throttle)),
                    false => " (allow slowing it down: leave out --no-throttle)".into(),
                }
            );
            return Decision::GiveUp(why);
        }
        // Not converging (a round leaves more than half the last to send again): hold the program back more.
        if self.may_throttle && dirty.saturating_mul(2) > previous.min(u64::MAX / 2) {
            self.throttle = (self.throttle + 20).min(99);
        }
        Decision::Another
    }

    /// How long to hold the program back after it ran for `ran`.
    pub(crate) fn pause_after(&self, ran: Duration) -> Duration {
        let t = u32::from(self.throttle);
        ran * t / (100 - t).max(1)
    }
}

/// The target's receiving thread: reads the frames of `socket` (whose
/// first `buffered` bytes were read already) into `receiver`, and hands
/// the state that ends them to the VM thread (`Request::Received`).
/// `cancelled` is raised when the lease the stream was accepted under is
/// given up: what was received is dropped.
pub(crate) struct Incoming {
    pub(crate) socket: Box<dyn crate::tls::Duplex>,
    pub(crate) buffered: Vec<u8>,
    pub(crate) receiver: Option<Box<dyn vm_core::Receiver>>,
    pub(crate) lease: String,
    pub(crate) max_state: usize,
    pub(crate) cancelled: Arc<AtomicBool>,
    /// How long the source may send nothing.
    pub(crate) stall: Duration,
}

/// A stream's bytes: those the control port had read past the `stream`
/// line, then the connection's.
struct Input {
    buffered: std::io::Cursor<Vec<u8>>,
    rest: BufReader<Box<dyn crate::tls::Duplex>>,
}

impl Read for Input {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self.buffered.read(buf)? {
            0 => self.rest.read(buf),
            n => Ok(n),
        }
    }
}

/// What the receiving thread hands the VM thread.
pub(crate) struct Received {
    pub(crate) socket: Box<dyn crate::tls::Duplex>,
    pub(crate) receiver: Option<Box<dyn vm_core::Receiver>>,
    pub(crate) state: Vec<u8>,
    pub(crate) lease: String,
}

/// Starts the receiving thread.
pub(crate) fn receive(incoming: Incoming, to_vm: Sender<Envelope>) {
    let spawned = std::thread::Builder::new().name("receive".into()).spawn(move || {
        let Incoming { socket, buffered, mut receiver, lease, max_state, cancelled, stall } = incoming;
        let _ = socket.tcp().set_read_timeout(Some(stall));
        let _ = socket.tcp().set_write_timeout(Some(stall));
        let mut reader =
            Input { buffered: std::io::Cursor::new(buffered), rest: BufReader::with_capacity(1 << 16, socket) };
        let refuse = |reader: &mut Input, why: String| {
            let _ = reader.rest.get_mut().write_all(format!("ERR {why}\n").as_bytes());
        };
        let (mut frame, mut applied) = (0u64, 0u64);
        let mut buffer = Vec::new();
        loop {
            frame += 1;
            let mut head = [0u8; 9];
            if let Err(e) = reader.read_exact(&mut head) {
                // The source went away or stalled: nothing of it is kept.
                return refuse(&mut reader, format!("stream frame {frame}: {e}"));
            }
            if cancelled.load(Ordering::Acquire) {
                return refuse(&mut reader, "the migration was given up here (its lease was released)".into());
            }
            let len = u64::from_le_bytes(head[1..].try_into().expect("8 bytes"));
            let max = match head[0] {
                KEEP_ALIVE => 0,
                PAGES => MAX_CHUNK,
                PAGES_LZ4 => 8 + lz4_flex::block::get_maximum_output_size(MAX_CHUNK as usize) as u64,
                LAST | WHOLE => max_state as u64,
                other => return refuse(&mut reader, format!("stream frame {frame}: kind {other} (0 to 4)")),
            };
            if len > max {
                return refuse(
                    &mut reader,
                    format!("stream frame {frame}: {len} bytes, more than such a frame may have ({max})"),
                );
            }
            // One buffer for every frame: it grows as bytes arrive (never from the length), and
            // a chunk's memory is reused by the next.
            buffer.clear();
            match (&mut reader).take(len).read_to_end(&mut buffer) {
                Ok(n) if n as u64 == len => {}
                Ok(_) => return refuse(&mut reader, format!("stream frame {frame}: the connection was closed")),
                Err(e) => return refuse(&mut reader, format!("stream frame {frame}: {e}")),
            }
            match head[0] {
                KEEP_ALIVE => {}
                PAGES | PAGES_LZ4 => {
                    let unpacked = match head[0] {
                        PAGES_LZ4 => match decompressed(&buffer) {
                            Ok(chunk) => Some(chunk),
                            Err(why) => return refuse(&mut reader, format!("stream frame {frame}: {why}")),
                        },
                        _ => None,
                    };
                    let chunk = unpacked.as_deref().unwrap_or(&buffer);
                    let Some(r) = receiver.as_mut() else {
                        return refuse(
                            &mut reader,
                            "this machine takes whole states only: it cannot receive pages ahead".into(),
                        );
                    };
                    if let Err(e) = r.apply(chunk) {
                        return refuse(&mut reader, format!("stream frame {frame}: {e}"));
                    }
                    applied += 1;
                    if reader.rest.get_mut().write_all(format!("applied {applied}\n").as_bytes()).is_err() {
                        return;
                    }
                }
                kind => {
                    if kind == WHOLE {
                        receiver = None;
                    }
                    let state = std::mem::take(&mut buffer);
                    let received = Received { socket: reader.rest.into_inner(), receiver, state, lease };
                    let envelope = Envelope {
                        conn: usize::MAX,
                        request: Request::Received(Box::new(received)),
                        payload: None,
                        ticket: Ticket::default(),
                    };
                    let _ = to_vm.send(envelope);
                    return;
                }
            }
        }
    });
    drop(spawned);
}

/// What the target's thread receiving a post-copy's owed pages shows:
/// `pages-owed=N` while they come, then how it ended (for `status`).
pub(crate) type Arriving = Arc<Mutex<String>>;

/// Starts the target's thread that receives a post-copy's owed pages on
/// `socket` (the stream, once `OK restored` was written) into `sink` while
/// the program runs, asking first for the pages it waits for. If the pages
/// stop coming (the source or the link went away, or a page is refused),
/// `sink` loses them — a program waiting for one ends as lost — and `line`
/// is raised so that the VM thread sees it at once.
pub(crate) fn receive_owed(
    socket: Box<dyn crate::tls::Duplex>,
    sink: Arc<dyn vm_core::PageSink>,
    line: Arc<vm_core::Interrupt>,
    arriving: Arriving,
    stall: Duration,
) -> Receiving {
    let ended = Arc::new(AtomicBool::new(false));
    let (done, finished) = mpsc::channel::<()>();
    let program_ended = Arc::clone(&ended);
    let spawned = std::thread::Builder::new().name("owed".into()).spawn(move || {
        let _done = done;
        // Shown while the state these pages are for is the VM's: not once it is forgotten (`Receiving`'s drop).
        let show = |what: String| {
            let mut shown = arriving.lock().unwrap_or_else(PoisonError::into_inner);
            if !program_ended.load(Ordering::Acquire) {
                *shown = what;
            }
        };
        let count = sink.left();
        show(format!("pages-owed={count}"));
        let started = Instant::now();
        let mut socket = socket;
        match owed_pages(&mut socket, &*sink, &show, stall, &program_ended) {
            Ok(None) => {
                // The program ended here first: the source need send nothing more. What it
                // still sends is read and dropped until it closes (a second at most), so that
                // closing with bytes unread does not reset the connection under this line.
                let _ = socket.write_all(format!("OK complete pages={count} program-ended\n").as_bytes());
                let _ = socket.flush();
                let _ = socket.tcp().set_read_timeout(Some(Duration::from_secs(1)));
                let (mut dropped, until) = ([0u8; 1 << 14], Instant::now() + Duration::from_secs(1));
                while Instant::now() < until && socket.read(&mut dropped).is_ok_and(|n| n > 0) {}
            }
            Ok(Some(bytes)) => {
                let _ = socket.write_all(format!("OK complete pages={count}\n").as_bytes());
                let _ = socket.flush();
                let ms = started.elapsed().as_millis();
                show(format!("postcopy=complete pages={count} postcopy-ms={ms} postcopy-bytes={bytes}"));
            }
            Err(why) => {
                let _ = socket.write_all(format!("ERR {why}\n").as_bytes());
                let left = sink.left();
                sink.lose(&format!("{why}; {left} of {count} pages had not arrived"));
                show(format!("postcopy=lost pages-owed={left}"));
                line.raise();
            }
        }
    });
    drop(spawned);
    Receiving { ended, finished }
}

/// The target's thread receiving a post-copy's owed pages.
pub(crate) struct Receiving {
    ended: Arc<AtomicBool>,
    finished: Receiver<()>,
}

impl Receiving {
    /// The program ended here (or was killed) before every page came: the
    /// source is told it need send no more, so that it ends as moved, not
    /// as having lost the program. Waits a little for that to be said.
    pub(crate) fn program_ended(self) {
        self.ended.store(true, Ordering::Release);
        let _ = self.finished.recv_timeout(Duration::from_secs(2));
    }
}

impl Drop for Receiving {
    /// The state these pages were for is dropped or replaced: the thread
    /// stops (telling the source it needs no more) and shows nothing more.
    fn drop(&mut self) {
        self.ended.store(true, Ordering::Release);
    }
}

/// Reads owed-pages frames into `sink` until `done` and every page is in
/// (the bytes read), or until the program `ended` (`None`); answers
/// `applied N` per frame and asks for the pages the program waits for.
fn owed_pages(
    socket: &mut Box<dyn crate::tls::Duplex>,
    sink: &dyn vm_core::PageSink,
    show: &dyn Fn(String),
    stall: Duration,
    ended: &AtomicBool,
) -> Result<Option<u64>, String> {
    let lost = |e: std::io::Error| format!("the stream from the source failed: {e}");
    let _ = socket.tcp().set_write_timeout(Some(stall));
    let mut buffer: Vec<u8> = Vec::with_capacity(2 * OWED_PER_FRAME * OWED_RECORD);
    let mut scratch = vec![0u8; 1 << 16];
    let (mut applied, mut heard, mut received) = (0u64, Instant::now(), 0u64);
    loop {
        if ended.load(Ordering::Acquire) {
            return Ok(None);
        }
        let wanted = sink.wanted();
        for some in wanted.chunks(32) {
            let list: Vec<String> = some.iter().map(u64::to_string).collect();
            socket.write_all(format!("want {}\n", list.join(" ")).as_bytes()).map_err(lost)?;
        }
        if !wanted.is_empty() {
            socket.flush().map_err(lost)?;
        }
        // What has come, without waiting (a TLS record's bytes, all of them); then, if nothing
        // did, a millisecond at most for more: a page the program waits for is asked for soon.
        let _ = socket.tcp().set_nonblocking(true);
        let read = socket.read(&mut scratch);
        let _ = socket.tcp().set_nonblocking(false);
        match read {
            Ok(0) => return Err("the stream from the source failed: the source closed it".into()),
            Ok(n) => {
                heard = Instant::now();
                received += n as u64;
                buffer.extend_from_slice(&scratch[..n]);
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if heard.elapsed() > stall {
                    return Err(format!("the source sent nothing for {} s", stall.as_secs()));
                }
                readable_within(socket.tcp(), Duration::from_millis(1));
                continue;
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(lost(e)),
        }
        // Every whole frame in the buffer.
        let mut at = 0;
        while let Some(head) = buffer.get(at..at + 9) {
            let len = u64::from_le_bytes(head[1..].try_into().expect("8 bytes"));
            let max = match head[0] {
                KEEP_ALIVE | DONE => 0,
                OWED_PAGES => (OWED_PER_FRAME * OWED_RECORD) as u64,
                other => return Err(format!("an owed-pages stream frame of kind {other} (0, 5 or 6)")),
            };
            if len > max {
                return Err(format!("an owed-pages frame of {len} bytes, more than such a frame may have ({max})"));
            }
            let Some(payload) = buffer.get(at + 9..at + 9 + len as usize) else { break };
            match head[0] {
                OWED_PAGES => {
                    sink.fill(payload).map_err(|e| e.to_string())?;
                    applied += 1;
                    socket.write_all(format!("applied {applied}\n").as_bytes()).map_err(lost)?;
                    show(format!("pages-owed={}", sink.left()));
                }
                DONE => {
                    return match sink.left() {
                        0 => Ok(Some(received)),
                        left => Err(format!("the source said every page was sent, but {left} had not arrived")),
                    }
                }
                _ => {}
            }
            at += 9 + len as usize;
        }
        buffer.drain(..at);
        socket.flush().map_err(lost)?;
    }
}

/// Waits until `tcp` has bytes to read, `timeout` at most.
fn readable_within(tcp: &std::net::TcpStream, timeout: Duration) {
    use std::os::fd::AsRawFd;
    let mut fd = libc::pollfd { fd: tcp.as_raw_fd(), events: libc::POLLIN, revents: 0 };
    let ms = libc::c_int::try_from(timeout.as_millis()).unwrap_or(libc::c_int::MAX);
    // SAFETY: one valid `pollfd`, for a descriptor `tcp` keeps open during the call.
    unsafe { libc::poll(&mut fd, 1, ms) };
}

/// A `PAGES_LZ4` payload's chunk: its length checked against the largest
/// chunk before anything is allocated, and the block against that length.
fn decompressed(payload: &[u8]) -> Result<Vec<u8>, String> {
    let (len, block) = payload.split_at_checked(8).ok_or("a compressed chunk shorter than its length")?;
    let len = u64::from_le_bytes(len.try_into().expect("8 bytes"));
    if len > MAX_CHUNK {
        return Err(format!("a compressed chunk of {len} bytes, more than a chunk may have ({MAX_CHUNK})"));
    }
    let mut chunk = vec![0u8; len as usize];
    match lz4_flex::block::decompress_into(block, &mut chunk) {
        Ok(n) if n as u64 == len => Ok(chunk),
        Ok(n) => Err(format!("a compressed chunk of {n} bytes, said to be {len}")),
        Err(e) => Err(format!("a compressed chunk that does not decompress: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn precopy(max_rounds: u32, may_throttle: bool) -> Precopy {
        Precopy {
            max_downtime: Duration::from_millis(20),
            max_rounds,
            may_throttle,
            rounds: Vec::new(),
            throttle: 0,
            started: Instant::now(),
        }
    }

    #[test]
    fn a_target_line_that_never_ends_is_refused_past_the_longest_line() {
        let max = crate::protocol::MAX_LINE;
        let mut endless = std::io::Cursor::new(vec![b'7'; 3 * max]);
        let mut line = String::new();
        assert_eq!(read_bounded_line(&mut endless, &mut line).unwrap(), max);
        let refused = read_bounded_line(&mut endless, &mut line).unwrap_err();
        assert_eq!(refused.to_string(), format!("the target sent a line longer than {max} bytes"));
        // A line that ends within the bound, read in parts, is whole.
        let mut parts = std::io::Cursor::new(b"applied 3\nwant 1".to_vec());
        line.clear();
        read_bounded_line(&mut parts, &mut line).unwrap();
        assert_eq!(line, "applied 3\n");
    }

    #[test]
    fn a_compressed_chunk_is_checked_before_and_after_it_is_decompressed() {
        let chunk: Vec<u8> = (0..100_000u32).map(|i| (i % 7) as u8).collect();
        let mut squeeze = Squeeze { mode: Compress::On, speed: 0.0, ratio: 1.0, chunks: 0 };
        let payload = squeeze.compress(&chunk);
        assert!(payload.len() < chunk.len() / 10, "{} bytes", payload.len());
        assert_eq!(decompressed(&payload).unwrap(), chunk);
        let lying = [&(200_000u64).to_le_bytes()[..], &payload[8..]].concat();
        assert_eq!(decompressed(&lying).unwrap_err(), "a compressed chunk of 100000 bytes, said to be 200000");
        let huge = [&(1u64 << 40).to_le_bytes()[..], &payload[8..]].concat();
        assert_eq!(
            decompressed(&huge).unwrap_err(),
            "a compressed chunk of 1099511627776 bytes, more than a chunk may have (67108864)"
        );
        assert_eq!(decompressed(&[1, 2]).unwrap_err(), "a compressed chunk shorter than its length");
        let garbage = [&(100u64).to_le_bytes()[..], &[0xff; 20]].concat();
        assert!(decompressed(&garbage).unwrap_err().starts_with("a compressed chunk that does not decompress: "));
    }

    #[test]
    fn auto_compresses_only_when_the_link_is_slower_than_what_compression_saves() {
        let mut squeeze = Squeeze { mode: Compress::Auto, speed: 1e9, ratio: 0.25, chunks: 10 };
        // 1 GB/s of compression that keeps a quarter: worth it below 750 MB/s of link.
        assert!(squeeze.wanted(Some(500e6)));
        assert!(!squeeze.wanted(Some(2e9)));
        squeeze.chunks = 64;
        assert!(squeeze.wanted(Some(2e9)), "every 64th chunk measures again");
        assert!(!Squeeze { mode: Compress::Off, ..squeeze }.wanted(Some(1.0)));
    }

    #[test]
    fn rounds_stop_when_the_rest_fits_the_downtime_and_slow_a_program_that_does_not_converge() {
        let mut p = precopy(5, true);
        let rate = Some(1e9); // 1 GB/s: 20 ms is 20 MB
        assert_eq!(p.after_round(1 << 30, rate), Decision::Another);
        assert_eq!(p.after_round(400 << 20, rate), Decision::Another);
        assert_eq!(p.throttle, 0, "converging: not slowed");
        assert_eq!(p.after_round(300 << 20, rate), Decision::Another);
        assert_eq!(p.throttle, 20, "less than halved: slowed down");
        assert_eq!(p.pause_after(Duration::from_millis(8)), Duration::from_millis(2));
        assert_eq!(p.after_round(10 << 20, rate), Decision::Another, "10 ms of pages: more than a quarter of 20");
        assert_eq!(p.after_round(4 << 20, rate), Decision::Stop);
        let mut q = precopy(2, false);
        assert_eq!(q.after_round(1 << 30, rate), Decision::Another);
        assert_eq!(q.after_round(1 << 30, rate), Decision::Another);
        let Decision::GiveUp(why) = q.after_round(1 << 30, rate) else { panic!("gave up") };
        assert_eq!(
            why,
            "the program writes memory faster than the link carries it: after 2 rounds 1024.0 MiB are still to \
             send, 1074 ms at 1000 MB/s; --max-downtime 20 ms leaves 5 ms for them (allow slowing it down: leave \
             out --no-throttle)"
        );
        assert_eq!(precopy(0, false).after_round(0, None), Decision::Stop, "nothing written: stop at once");
    }
}
