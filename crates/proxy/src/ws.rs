//! A frame-aware WebSocket relay (RFC 6455): the client→upstream direction can rewrite whole text
//! messages (Codex's `response.create`) on the way out, and, with the usage history on, the
//! upstream→client direction is read as frames too, to see each response end and its `usage`.
//!
//! Everything else stays a byte-exact, low-latency relay: control and binary frames are passed
//! through as their bytes arrive, text messages are held only until complete, and an untouched
//! message goes out as its original frames (same fragmentation, same masks). Server frames are
//! never held at all: their bytes go out as read and are only peeked at. Anything this relay
//! does not understand switches that direction to plain byte copying for good: a proxy that
//! guesses wrong must degrade to the splice it replaced, never break a session.

use std::collections::VecDeque;
use std::hash::{BuildHasher, Hasher};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use headroom_usage::ErrorKind;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::task::JoinHandle;

use crate::body::{SessionRows, WsResponse};
use crate::compression::Counted;
use crate::metrics::Usage;

/// What a transform made of one message.
pub struct Rewrite {
    pub payload: Vec<u8>,
    /// Counts what the rewrite saved. Blocking and slow (BPE): the relay runs it on a blocking
    /// thread after the message went out, so the upstream never waits for it.
    pub count: Option<Box<dyn FnOnce() -> Counted + Send>>,
}

impl Rewrite {
    /// A new payload with nothing to count.
    pub fn payload(payload: Vec<u8>) -> Self {
        Self {
            payload,
            count: None,
        }
    }
}

/// Given a complete text message's payload (unmasked, reassembled), `Some` replaces it; `None`
/// forwards the original frames byte for byte.
pub type MessageTransform = Arc<dyn Fn(&[u8]) -> Option<Rewrite> + Send + Sync>;

/// Text messages are held in memory only up to this size; a larger one (declared or
/// accumulated) switches the connection to plain copying.
pub const MAX_MESSAGE: usize = 16 * 1024 * 1024;

const OP_CONTINUATION: u8 = 0x0;
const OP_TEXT: u8 = 0x1;
const OP_BINARY: u8 = 0x2;
const OP_CLOSE: u8 = 0x8;
const OP_PING: u8 = 0x9;
const OP_PONG: u8 = 0xA;

/// A parsed frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub fin: bool,
    /// The three RSV bits (non-zero only with a negotiated extension).
    pub rsv: u8,
    pub opcode: u8,
    pub mask: Option<[u8; 4]>,
    pub len: u64,
    /// Bytes the header occupies on the wire (2 to 14).
    pub header_len: usize,
}

/// A frame length no conforming peer sends (64-bit form with the top bit set).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadLength;

/// Parse a frame header from the start of `b`: `Ok(None)` when more bytes are needed.
pub fn parse_header(b: &[u8]) -> Result<Option<Header>, BadLength> {
    if b.len() < 2 {
        return Ok(None);
    }
    let masked = b[1] & 0x80 != 0;
    let (len, mut at) = match b[1] & 0x7F {
        126 => match b.get(2..4) {
            Some(n) => (u16::from_be_bytes([n[0], n[1]]) as u64, 4),
            None => return Ok(None),
        },
        127 => match b.get(2..10).and_then(|n| <[u8; 8]>::try_from(n).ok()) {
            Some(n) => (u64::from_be_bytes(n), 10),
            None => return Ok(None),
        },
        n => (n as u64, 2),
    };
    if len >> 63 != 0 {
        return Err(BadLength);
    }
    let mask = if masked {
        match b.get(at..at + 4).and_then(|m| <[u8; 4]>::try_from(m).ok()) {
            Some(m) => {
                at += 4;
                Some(m)
            }
            None => return Ok(None),
        }
    } else {
        None
    };
    Ok(Some(Header {
        fin: b[0] & 0x80 != 0,
        rsv: (b[0] >> 4) & 0x7,
        opcode: b[0] & 0x0F,
        mask,
        len,
        header_len: at,
    }))
}

/// Append one frame (no RSV bits) to `out`, masking the payload when `mask` is given.
pub fn encode_frame(
    fin: bool,
    opcode: u8,
    payload: &[u8],
    mask: Option<[u8; 4]>,
    out: &mut Vec<u8>,
) {
    out.reserve(payload.len() + 14);
    out.push(if fin { 0x80 } else { 0 } | (opcode & 0x0F));
    let mask_bit = if mask.is_some() { 0x80 } else { 0 };
    match payload.len() {
        n if n < 126 => out.push(mask_bit | n as u8),
        n if n <= u16::MAX as usize => {
            out.push(mask_bit | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(mask_bit | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    match mask {
        Some(m) => {
            out.extend_from_slice(&m);
            out.extend(payload.iter().enumerate().map(|(i, b)| b ^ m[i % 4]));
        }
        None => out.extend_from_slice(payload),
    }
}

/// Where the bytes of the frame being read go.
enum Current {
    /// Forwarded as they arrive (control and binary frames).
    Pass { remaining: u64 },
    /// Held with the text message being assembled; `offset` indexes the mask key.
    Text {
        remaining: u64,
        mask: [u8; 4],
        offset: usize,
        fin: bool,
    },
}

/// A text message being assembled: its original wire bytes and its unmasked payload.
#[derive(Default)]
struct Held {
    wire: Vec<u8>,
    payload: Vec<u8>,
}

/// The client→upstream state machine, free of I/O so it can be tested byte by byte. Feed input
/// with [`Upward::push`], drain output with [`Upward::step`]; a `Some` from `step` is a complete
/// text message awaiting [`Upward::resolve`].
pub struct Upward {
    raw: bool,
    max: usize,
    pending: Vec<u8>,
    current: Option<Current>,
    text: Option<Held>,
    /// A fragmented binary message is open: its continuations pass through.
    binary_open: bool,
    /// The original frames of the message handed out by `step`, until `resolve`.
    awaiting: Option<Vec<u8>>,
    /// The client sent a close frame: it is ending the session.
    closed: bool,
    rng: u64,
}

impl Upward {
    pub fn new(max: usize) -> Self {
        // Masking keys only need to be unpredictable to the peer's payload author (RFC 6455
        // §10.3); a randomly keyed SipHash seed plus xorshift is plenty and costs nothing.
        let seed = std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish();
        Self {
            raw: false,
            max,
            pending: Vec::new(),
            current: None,
            text: None,
            binary_open: false,
            awaiting: None,
            closed: false,
            rng: seed | 1,
        }
    }

    /// Whether the connection has fallen back to plain byte copying.
    pub fn is_raw(&self) -> bool {
        self.raw
    }

    /// Whether a close frame from the client has gone through.
    pub fn saw_close(&self) -> bool {
        self.closed
    }

    pub fn push(&mut self, input: &[u8]) {
        self.pending.extend_from_slice(input);
    }

    /// Move every forwardable byte of the buffered input to `out`. Returns a complete text
    /// message's payload when one is ready; call [`Upward::resolve`] before stepping again.
    pub fn step(&mut self, out: &mut Vec<u8>) -> Option<Vec<u8>> {
        if self.raw {
            out.append(&mut self.pending);
            return None;
        }
        let mut pos = 0;
        let ready = loop {
            if let Some(current) = &mut self.current {
                let avail = (self.pending.len() - pos) as u64;
                let chunk_len = match current {
                    Current::Pass { remaining } | Current::Text { remaining, .. } => {
                        let n = avail.min(*remaining);
                        *remaining -= n;
                        n as usize
                    }
                };
                let chunk = &self.pending[pos..pos + chunk_len];
                pos += chunk_len;
                match current {
                    Current::Pass { remaining } => {
                        out.extend_from_slice(chunk);
                        if *remaining > 0 {
                            break None;
                        }
                        self.current = None;
                    }
                    Current::Text {
                        remaining,
                        mask,
                        offset,
                        fin,
                    } => {
                        // `text` is always Some while a Text frame is current.
                        let held = self.text.get_or_insert_with(Held::default);
                        held.wire.extend_from_slice(chunk);
                        let start = *offset;
                        held.payload.extend(
                            chunk
                                .iter()
                                .enumerate()
                                .map(|(i, b)| b ^ mask[(start + i) % 4]),
                        );
                        *offset += chunk_len;
                        if *remaining > 0 {
                            break None;
                        }
                        let fin = *fin;
                        self.current = None;
                        if fin {
                            let held = self.text.take().unwrap_or_default();
                            self.awaiting = Some(held.wire);
                            break Some(held.payload);
                        }
                    }
                }
                continue;
            }
            let header = match parse_header(&self.pending[pos..]) {
                Ok(Some(h)) => h,
                Ok(None) => break None,
                Err(BadLength) => {
                    self.go_raw(pos, out);
                    return None;
                }
            };
            if !self.accept(&header) {
                self.go_raw(pos, out);
                return None;
            }
            let head = &self.pending[pos..pos + header.header_len];
            pos += header.header_len;
            let is_text = header.opcode == OP_TEXT
                || (header.opcode == OP_CONTINUATION && self.text.is_some());
            if is_text {
                let held = self.text.get_or_insert_with(Held::default);
                held.wire.extend_from_slice(head);
                self.current = Some(Current::Text {
                    remaining: header.len,
                    // `accept` refused unmasked frames.
                    mask: header.mask.unwrap_or_default(),
                    offset: 0,
                    fin: header.fin,
                });
            } else {
                if header.opcode == OP_BINARY || header.opcode == OP_CONTINUATION {
                    self.binary_open = !header.fin;
                }
                self.closed |= header.opcode == OP_CLOSE;
                out.extend_from_slice(head);
                self.current = Some(Current::Pass {
                    remaining: header.len,
                });
            }
        };
        self.pending.drain(..pos);
        ready
    }

    /// Whether a frame header fits what a conforming client sends with no extension negotiated,
    /// and a text message stays within the bound.
    fn accept(&self, h: &Header) -> bool {
        if h.rsv != 0 || h.mask.is_none() {
            return false;
        }
        match h.opcode {
            OP_CLOSE | OP_PING | OP_PONG => h.fin && h.len <= 125,
            OP_TEXT | OP_BINARY => {
                let open = self.text.is_some() || self.binary_open;
                !open && (h.opcode != OP_TEXT || h.len <= self.max as u64)
            }
            OP_CONTINUATION => match &self.text {
                Some(held) => held.payload.len() as u64 + h.len <= self.max as u64,
                None => self.binary_open,
            },
            _ => false,
        }
    }

    /// Fall back to plain copying from input offset `pos`: a held message goes out first, then
    /// everything not yet forwarded, so no byte is lost.
    fn go_raw(&mut self, pos: usize, out: &mut Vec<u8>) {
        tracing::debug!("websocket relay: unexpected frame, switching to plain copying");
        self.raw = true;
        if let Some(held) = self.text.take() {
            out.extend_from_slice(&held.wire);
        }
        out.extend_from_slice(&self.pending[pos..]);
        self.pending = Vec::new();
        self.current = None;
    }

    /// Finish the message `step` returned: `Some` writes one new masked text frame, `None` the
    /// original frames.
    pub fn resolve(&mut self, replacement: Option<Vec<u8>>, out: &mut Vec<u8>) {
        let Some(wire) = self.awaiting.take() else {
            return;
        };
        match replacement {
            Some(payload) => {
                let mask = self.next_mask();
                encode_frame(true, OP_TEXT, &payload, Some(mask), out);
            }
            None => out.extend_from_slice(&wire),
        }
    }

    /// At end of input: whatever is still held or unparsed goes out as is.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        if let Some(wire) = self.awaiting.take() {
            out.extend_from_slice(&wire);
        }
        if let Some(held) = self.text.take() {
            out.extend_from_slice(&held.wire);
        }
        out.append(&mut self.pending);
    }

    fn next_mask(&mut self) -> [u8; 4] {
        // xorshift64*
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        let v = x.wrapping_mul(0x2545_F491_4F6C_DD1D);
        let b = (v >> 32) as u32;
        b.to_be_bytes()
    }
}

/// How a response ended, from the type of the server event that ended it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// `response.completed`, or `response.incomplete` (cut by the token limit, still billed).
    Completed,
    /// `response.failed`.
    Failed,
    /// An `error` event (a refused request: rate limit, bad input).
    Error,
}

/// What the upstream→client reader saw in the bytes it was fed.
pub enum Seen {
    /// A text message began: an event of the response being answered.
    Event,
    /// A response ended: how, its `usage`, and an `error` event's HTTP status.
    End {
        outcome: Outcome,
        usage: Usage,
        status: Option<u16>,
    },
    /// The upstream sent a close frame.
    Closed,
}

/// Server text messages are peeked at through this many first bytes (the `"type"` comes first;
/// an `error` event is read whole when it fits); the rest is only scanned for `usage`.
const PEEK: usize = 4096;

#[derive(Default)]
enum Peeked {
    #[default]
    Undecided,
    Ignored,
    Ends(Outcome),
}

/// One server text message's first bytes and its `usage`, gathered as its bytes pass.
#[derive(Default)]
struct Peek {
    head: Vec<u8>,
    state: Peeked,
    usage: Usage,
}

impl Peek {
    fn feed(&mut self, chunk: &[u8]) {
        if !matches!(self.state, Peeked::Undecided) {
            return self.feed_decided(chunk);
        }
        let n = (PEEK - self.head.len()).min(chunk.len());
        self.head.extend_from_slice(&chunk[..n]);
        self.state = match crate::forward::top_level_str(&self.head, "type").as_deref() {
            Some("response.completed" | "response.incomplete") => Peeked::Ends(Outcome::Completed),
            Some("response.failed") => Peeked::Ends(Outcome::Failed),
            Some("error") => Peeked::Ends(Outcome::Error),
            Some(_) => Peeked::Ignored,
            None if self.head.len() >= PEEK => Peeked::Ignored,
            None => return,
        };
        let head = std::mem::take(&mut self.head);
        self.feed_decided(&head);
        self.feed_decided(&chunk[n..]);
    }

    fn feed_decided(&mut self, bytes: &[u8]) {
        match self.state {
            Peeked::Ends(Outcome::Error) => {
                let n = (PEEK - self.head.len()).min(bytes.len());
                self.head.extend_from_slice(&bytes[..n]);
            }
            Peeked::Ends(_) => self.usage.feed(bytes),
            Peeked::Undecided | Peeked::Ignored => {}
        }
    }

    fn end(self) -> Option<Seen> {
        let Peeked::Ends(outcome) = self.state else {
            return None;
        };
        let status = (outcome == Outcome::Error)
            .then(|| serde_json::from_slice::<serde_json::Value>(&self.head).ok())
            .flatten()
            .and_then(|event| event.get("status")?.as_u64())
            .and_then(|s| u16::try_from(s).ok());
        Some(Seen::End {
            outcome,
            usage: self.usage,
            status,
        })
    }
}

/// The frame being passed through on the upstream→client side.
struct Passing {
    remaining: u64,
    text: bool,
    fin: bool,
}

/// The upstream→client reader, free of I/O: it never holds or changes a byte (the relay writes
/// what it read, then feeds it here), it only follows the frames to report what it sees.
#[derive(Default)]
pub struct Downward {
    raw: bool,
    /// A frame header split across reads (at most 14 bytes).
    header: Vec<u8>,
    current: Option<Passing>,
    peek: Option<Peek>,
    text_open: bool,
    binary_open: bool,
}

impl Downward {
    /// Whether this side has given up on frames (what follows is plain bytes).
    pub fn is_raw(&self) -> bool {
        self.raw
    }

    /// Follow `input`, the next bytes from the upstream, appending what it shows to `seen`.
    pub fn feed(&mut self, mut input: &[u8], seen: &mut Vec<Seen>) {
        while !self.raw {
            if let Some(frame) = &mut self.current {
                let n = (input.len() as u64).min(frame.remaining) as usize;
                let (chunk, rest) = input.split_at(n);
                input = rest;
                frame.remaining -= n as u64;
                if frame.text
                    && let Some(peek) = self.peek.as_mut()
                {
                    peek.feed(chunk);
                }
                if frame.remaining > 0 {
                    return;
                }
                let message_end = frame.text && frame.fin;
                self.current = None;
                if message_end && let Some(s) = self.peek.take().and_then(Peek::end) {
                    seen.push(s);
                }
                continue;
            }
            if input.is_empty() {
                return;
            }
            let before = self.header.len();
            let n = (14 - before).min(input.len());
            self.header.extend_from_slice(&input[..n]);
            let header = match parse_header(&self.header) {
                // Fewer than 14 bytes so far (14 always parse): all of `input` was taken.
                Ok(None) => return,
                Ok(Some(h)) => h,
                Err(BadLength) => return self.go_raw(),
            };
            input = &input[header.header_len - before..];
            self.header.clear();
            if !self.start(&header, seen) {
                return self.go_raw();
            }
        }
    }

    /// Begin a frame; `false` for one a conforming server does not send without an extension.
    fn start(&mut self, h: &Header, seen: &mut Vec<Seen>) -> bool {
        if h.rsv != 0 || h.mask.is_some() {
            return false;
        }
        let text = match h.opcode {
            OP_CLOSE | OP_PING | OP_PONG => {
                if !h.fin || h.len > 125 {
                    return false;
                }
                if h.opcode == OP_CLOSE {
                    seen.push(Seen::Closed);
                }
                false
            }
            OP_TEXT | OP_BINARY if self.text_open || self.binary_open => return false,
            OP_TEXT => {
                self.text_open = !h.fin;
                self.peek = Some(Peek::default());
                seen.push(Seen::Event);
                true
            }
            OP_BINARY => {
                self.binary_open = !h.fin;
                false
            }
            OP_CONTINUATION if self.text_open => {
                self.text_open = !h.fin;
                true
            }
            OP_CONTINUATION if self.binary_open => {
                self.binary_open = !h.fin;
                false
            }
            _ => return false,
        };
        self.current = Some(Passing {
            remaining: h.len,
            text,
            fin: h.fin,
        });
        true
    }

    fn go_raw(&mut self) {
        tracing::debug!("websocket relay: unexpected server frame, switching to plain copying");
        self.raw = true;
        self.header = Vec::new();
        self.current = None;
        self.peek = None;
    }
}

/// The status of a WebSocket session's response rows: the one HTTP status the client got (a
/// response has none of its own), unless an `error` event carries one.
const SESSION_STATUS: u16 = 101;

/// A `response.create` sent upstream and not yet answered.
struct Asked {
    at: SystemTime,
    arrived: Instant,
    model: Option<String>,
    added: Duration,
    ttfb: Option<Duration>,
    counting: Option<JoinHandle<Counted>>,
}

/// A session's open responses, matched to their ends in order (a Responses socket answers one
/// `response.create` at a time), and the rows they become.
struct Tracker {
    rows: Arc<SessionRows>,
    asked: VecDeque<Asked>,
    any: bool,
    /// Why a response still open at the end did not finish: the first side to end says.
    ended: Option<ErrorKind>,
    /// The server side went to plain copying: open responses' ends are unknown.
    blind: bool,
    /// Rows waiting for their message's token count.
    writing: Vec<JoinHandle<()>>,
}

impl Tracker {
    fn new(rows: SessionRows) -> Self {
        Self {
            rows: Arc::new(rows),
            asked: VecDeque::new(),
            any: false,
            ended: None,
            blind: false,
            writing: Vec::new(),
        }
    }

    fn ask(&mut self, asked: Asked) {
        self.any = true;
        self.asked.push_back(asked);
    }

    fn end_by(&mut self, kind: ErrorKind) {
        self.ended.get_or_insert(kind);
    }

    fn seen(&mut self, seen: Seen, now: Instant) {
        match seen {
            Seen::Event => {
                if let Some(a) = self.asked.front_mut() {
                    a.ttfb.get_or_insert(now - a.arrived);
                }
            }
            Seen::Closed => self.end_by(ErrorKind::StreamBroken),
            Seen::End {
                outcome,
                usage,
                status,
            } => {
                let Some(asked) = self.asked.pop_front() else {
                    return;
                };
                let (status, error) = match (outcome, status) {
                    (Outcome::Completed, _) => (SESSION_STATUS, None),
                    (Outcome::Failed, _) => (SESSION_STATUS, Some(ErrorKind::Upstream5xx)),
                    (Outcome::Error, Some(s @ 500..)) => (s, Some(ErrorKind::Upstream5xx)),
                    (Outcome::Error, Some(s @ 400..=499)) => (s, Some(ErrorKind::Upstream4xx)),
                    // Most error events refuse the request (rate limit, invalid input).
                    (Outcome::Error, _) => (SESSION_STATUS, Some(ErrorKind::Upstream4xx)),
                };
                let total = Some(now - asked.arrived);
                self.write(asked, status, error, total, Some(usage));
            }
        }
    }

    fn write(
        &mut self,
        asked: Asked,
        status: u16,
        error: Option<ErrorKind>,
        total: Option<Duration>,
        usage: Option<Usage>,
    ) {
        let mut response = WsResponse {
            at: asked.at,
            model: asked.model,
            added: asked.added,
            ttfb: asked.ttfb,
            total,
            status,
            error,
            usage,
            counted: None,
        };
        match asked.counting {
            None => self.rows.record(response),
            Some(counting) => {
                let rows = self.rows.clone();
                self.writing.retain(|w| !w.is_finished());
                self.writing.push(tokio::spawn(async move {
                    response.counted = counting.await.ok();
                    rows.record(response);
                }));
            }
        }
    }

    /// The session is over: open responses get how it ended, and a session that never asked
    /// for one keeps its handshake row.
    async fn finish(mut self) {
        let error = (!self.blind).then(|| self.ended.unwrap_or(ErrorKind::StreamBroken));
        while let Some(asked) = self.asked.pop_front() {
            let total = (!self.blind).then(|| asked.arrived.elapsed());
            self.write(asked, SESSION_STATUS, error, total, None);
        }
        if !self.any {
            self.rows.handshake();
        }
        for w in self.writing {
            let _ = w.await;
        }
    }
}

fn lock(tracker: &Mutex<Tracker>) -> std::sync::MutexGuard<'_, Tracker> {
    tracker
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn end_by(tracker: Option<&Mutex<Tracker>>, kind: ErrorKind) {
    if let Some(t) = tracker {
        lock(t).end_by(kind);
    }
}

/// `Some(model)` when a client message is a `response.create` (the model capped later).
fn response_create(payload: &[u8]) -> Option<Option<String>> {
    (crate::forward::top_level_str(payload, "type").as_deref() == Some("response.create"))
        .then(|| crate::forward::model_of(payload))
}

/// Relay a WebSocket connection, offering each complete client text message to `transform`,
/// and with `rows` (usage history on) recording one row per `response.create`. Ends as
/// `tokio::io::copy_bidirectional` does: each side's end shuts down the other's write side, and
/// the relay returns once both directions are done (or either fails).
pub async fn relay<C, U>(
    client: C,
    upstream: U,
    transform: Option<MessageTransform>,
    rows: Option<SessionRows>,
) -> std::io::Result<()>
where
    C: AsyncRead + AsyncWrite + Unpin,
    U: AsyncRead + AsyncWrite + Unpin,
{
    let (mut client_rd, mut client_wr) = tokio::io::split(client);
    let (mut upstream_rd, mut upstream_wr) = tokio::io::split(upstream);
    let tracker = rows.map(|rows| Mutex::new(Tracker::new(rows)));
    let relayed = {
        let tracker = tracker.as_ref();
        let up = async {
            client_to_upstream(
                &mut client_rd,
                &mut upstream_wr,
                transform.as_ref(),
                tracker,
            )
            .await?;
            upstream_wr.shutdown().await
        };
        let down = async {
            match tracker {
                Some(t) => upstream_to_client(&mut upstream_rd, &mut client_wr, t).await?,
                // Nobody needs the server's frames: a plain copy.
                None => drop(tokio::io::copy(&mut upstream_rd, &mut client_wr).await?),
            }
            client_wr.shutdown().await
        };
        tokio::try_join!(up, down).map(drop)
    };
    if let Some(t) = tracker {
        t.into_inner()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .finish()
            .await;
    }
    relayed
}

async fn client_to_upstream<R, W>(
    client: &mut R,
    upstream: &mut W,
    transform: Option<&MessageTransform>,
    tracker: Option<&Mutex<Tracker>>,
) -> std::io::Result<()>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut machine = Upward::new(MAX_MESSAGE);
    let mut buf = vec![0u8; 64 * 1024];
    let mut out = Vec::new();
    // A write that fails is the upstream gone.
    let broken = |e| {
        end_by(tracker, ErrorKind::StreamBroken);
        e
    };
    loop {
        let n = match client.read(&mut buf).await {
            Ok(n) => n,
            Err(e) => {
                end_by(tracker, ErrorKind::ClientAborted);
                return Err(e);
            }
        };
        if n == 0 {
            end_by(tracker, ErrorKind::ClientAborted);
            machine.finish(&mut out);
            return write_out(upstream, &mut out).await.map_err(broken);
        }
        machine.push(&buf[..n]);
        while let Some(payload) = machine.step(&mut out) {
            // Frames that came before the message (pings, say) should not wait for the transform.
            write_out(upstream, &mut out).await.map_err(broken)?;
            let (arrived, at) = (Instant::now(), SystemTime::now());
            let create = tracker.and_then(|_| response_create(&payload));
            let rewrite = match transform {
                Some(t) => {
                    let t = t.clone();
                    // Off the I/O threads: a transform may take milliseconds on a large context.
                    // A panicking transform forwards the original rather than killing the session.
                    tokio::task::spawn_blocking(move || t(&payload))
                        .await
                        .unwrap_or_else(|e| {
                            tracing::warn!("websocket message transform failed: {e}");
                            None
                        })
                }
                None => None,
            };
            let (replacement, count) = match rewrite {
                Some(r) => (Some(r.payload), r.count),
                None => (None, None),
            };
            machine.resolve(replacement, &mut out);
            let counting = count.map(tokio::task::spawn_blocking);
            match (tracker, create) {
                // Registered before the message goes, so its first event finds it.
                (Some(t), Some(model)) => lock(t).ask(Asked {
                    at,
                    arrived,
                    model,
                    added: arrived.elapsed(),
                    ttfb: None,
                    counting,
                }),
                // Nobody waits for the count: it still feeds /metrics.
                _ => drop(counting),
            }
        }
        if machine.saw_close() {
            end_by(tracker, ErrorKind::ClientAborted);
        }
        write_out(upstream, &mut out).await.map_err(broken)?;
        if machine.is_raw() {
            tokio::io::copy(client, upstream).await?;
            end_by(tracker, ErrorKind::ClientAborted);
            return Ok(());
        }
    }
}

/// The server's bytes go to the client as they are read; only then are they followed as frames.
async fn upstream_to_client<R, W>(
    upstream: &mut R,
    client: &mut W,
    tracker: &Mutex<Tracker>,
) -> std::io::Result<()>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut machine = Downward::default();
    let mut buf = vec![0u8; 64 * 1024];
    let mut seen = Vec::new();
    loop {
        let n = match upstream.read(&mut buf).await {
            Ok(0) => {
                lock(tracker).end_by(ErrorKind::StreamBroken);
                return Ok(());
            }
            Ok(n) => n,
            Err(e) => {
                lock(tracker).end_by(ErrorKind::StreamBroken);
                return Err(e);
            }
        };
        let now = Instant::now();
        let written = async {
            client.write_all(&buf[..n]).await?;
            client.flush().await
        };
        if let Err(e) = written.await {
            lock(tracker).end_by(ErrorKind::ClientAborted);
            return Err(e);
        }
        machine.feed(&buf[..n], &mut seen);
        if !seen.is_empty() {
            let mut t = lock(tracker);
            for s in seen.drain(..) {
                t.seen(s, now);
            }
        }
        if machine.is_raw() {
            lock(tracker).blind = true;
            tokio::io::copy(upstream, client).await?;
            lock(tracker).end_by(ErrorKind::StreamBroken);
            return Ok(());
        }
    }
}

async fn write_out<W: AsyncWrite + Unpin>(w: &mut W, out: &mut Vec<u8>) -> std::io::Result<()> {
    if out.is_empty() {
        return Ok(());
    }
    w.write_all(out).await?;
    w.flush().await?;
    out.clear();
    // Do not keep a 16 MiB buffer around for an idle session.
    if out.capacity() > 1024 * 1024 {
        *out = Vec::new();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(fin: bool, opcode: u8, payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
        let mut out = Vec::new();
        encode_frame(fin, opcode, payload, mask, &mut out);
        out
    }

    fn unmask(h: &Header, wire: &[u8]) -> Vec<u8> {
        let body = &wire[h.header_len..];
        match h.mask {
            Some(m) => body.iter().enumerate().map(|(i, b)| b ^ m[i % 4]).collect(),
            None => body.to_vec(),
        }
    }

    /// Feed `input` in chunks of `chunk` bytes, resolving each message with `transform`.
    fn run(
        input: &[u8],
        chunk: usize,
        transform: impl Fn(&[u8]) -> Option<Vec<u8>>,
    ) -> (Vec<u8>, Vec<Vec<u8>>, bool) {
        let mut m = Upward::new(1024);
        let mut out = Vec::new();
        let mut seen = Vec::new();
        for piece in input.chunks(chunk.max(1)) {
            m.push(piece);
            while let Some(p) = m.step(&mut out) {
                let r = transform(&p);
                seen.push(p);
                m.resolve(r, &mut out);
            }
        }
        m.finish(&mut out);
        (out, seen, m.is_raw())
    }

    #[test]
    fn frames_round_trip_in_all_three_length_encodings() {
        for len in [0usize, 5, 125, 126, 1000, 65535, 65536, 70000] {
            let payload: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
            for mask in [None, Some([0xA1, 0x02, 0xFF, 0x40])] {
                let wire = frame(len % 2 == 0, OP_TEXT, &payload, mask);
                let h = parse_header(&wire).unwrap().unwrap();
                let expect_header = match len {
                    0..=125 => 2,
                    126..=65535 => 4,
                    _ => 10,
                } + if mask.is_some() { 4 } else { 0 };
                assert_eq!(h.header_len, expect_header, "len {len}");
                assert_eq!(
                    (h.fin, h.rsv, h.opcode, h.mask),
                    (len % 2 == 0, 0, OP_TEXT, mask)
                );
                assert_eq!(h.len, len as u64);
                assert_eq!(wire.len(), h.header_len + len);
                assert_eq!(unmask(&h, &wire), payload);
                // Every proper prefix of the header asks for more bytes.
                for cut in 0..h.header_len {
                    assert_eq!(parse_header(&wire[..cut]), Ok(None));
                }
            }
        }
        let mut huge = vec![0x82, 0xFF];
        huge.extend_from_slice(&u64::MAX.to_be_bytes());
        assert_eq!(parse_header(&huge), Err(BadLength));
    }

    #[test]
    fn fragmented_text_with_a_ping_inside_is_reassembled_and_transformed() {
        let mut input = frame(false, OP_TEXT, b"{\"type\":\"resp", Some([1, 2, 3, 4]));
        let ping = frame(true, OP_PING, b"hb", Some([5, 6, 7, 8]));
        input.extend_from_slice(&ping);
        input.extend(frame(
            false,
            OP_CONTINUATION,
            b"onse.create\",",
            Some([9, 9, 9, 9]),
        ));
        input.extend(frame(
            true,
            OP_CONTINUATION,
            b"\"x\":1}",
            Some([0, 0, 1, 0]),
        ));
        let after = frame(true, OP_BINARY, b"\x00\x01", Some([3, 3, 3, 3]));
        input.extend_from_slice(&after);
        for chunk in [1, 3, 7, input.len()] {
            let (out, seen, raw) = run(&input, chunk, |p| {
                Some(
                    String::from_utf8_lossy(p)
                        .replace("\"x\":1", "\"x\":2")
                        .into_bytes(),
                )
            });
            assert!(!raw);
            assert_eq!(seen, [b"{\"type\":\"response.create\",\"x\":1}".to_vec()]);
            // The ping goes out at once, then the one rewritten frame, then the binary frame.
            assert_eq!(&out[..ping.len()], ping.as_slice(), "chunk {chunk}");
            let rest = &out[ping.len()..];
            let h = parse_header(rest).unwrap().unwrap();
            assert!(h.fin && h.opcode == OP_TEXT && h.mask.is_some());
            let new = &rest[..h.header_len + h.len as usize];
            assert_eq!(unmask(&h, new), b"{\"type\":\"response.create\",\"x\":2}");
            assert_eq!(&rest[new.len()..], after.as_slice());
        }
    }

    #[test]
    fn untransformed_messages_are_forwarded_byte_for_byte() {
        let mut input = frame(true, OP_TEXT, b"hello", Some([1, 2, 3, 4]));
        input.extend(frame(false, OP_TEXT, b"frag", Some([4, 3, 2, 1])));
        input.extend(frame(true, OP_CONTINUATION, b"mented", Some([7, 7, 7, 7])));
        input.extend(frame(true, OP_BINARY, &[0u8; 300], Some([1, 1, 1, 1])));
        input.extend(frame(true, OP_PONG, b"", Some([2, 2, 2, 2])));
        input.extend(frame(true, OP_CLOSE, &[0x03, 0xE8], Some([8, 8, 8, 8])));
        for chunk in [1, 2, 5, 64, input.len()] {
            let (out, seen, raw) = run(&input, chunk, |_| None);
            assert!(!raw);
            assert_eq!(out, input, "chunk {chunk}");
            assert_eq!(seen, [b"hello".to_vec(), b"fragmented".to_vec()]);
        }
    }

    #[test]
    fn a_replacement_uses_the_right_length_encoding_and_a_fresh_mask() {
        let input = frame(true, OP_TEXT, b"x", Some([1, 2, 3, 4]));
        for len in [10usize, 300, 70_000] {
            let (out, _, _) = run(&input, input.len(), |_| Some(vec![b'y'; len]));
            let h = parse_header(&out).unwrap().unwrap();
            assert_eq!(h.len, len as u64);
            assert_eq!(out.len(), h.header_len + len);
            assert_eq!(unmask(&h, &out), vec![b'y'; len]);
        }
        let mut m = Upward::new(16);
        assert_ne!(m.next_mask(), m.next_mask());
    }

    #[test]
    fn a_malformed_frame_switches_to_plain_copying_without_losing_bytes() {
        let good = frame(true, OP_TEXT, b"ok", Some([1, 2, 3, 4]));
        let held = frame(false, OP_TEXT, b"part", Some([1, 2, 3, 4]));
        let unmasked = frame(true, OP_TEXT, b"bad", None);
        let mut rsv = frame(true, OP_TEXT, b"bad", Some([1, 2, 3, 4]));
        rsv[0] |= 0x40;
        let unknown = frame(true, 0x3, b"bad", Some([1, 2, 3, 4]));
        let long_ping = frame(true, OP_PING, &[0u8; 126], Some([1, 2, 3, 4]));
        let stray_continuation = frame(true, OP_CONTINUATION, b"c", Some([1, 2, 3, 4]));
        let interleaved = frame(true, OP_BINARY, b"b", Some([1, 2, 3, 4]));
        let trailing = frame(true, OP_TEXT, b"after", Some([5, 5, 5, 5]));
        for (name, prefix, odd) in [
            ("unmasked", &good, &unmasked),
            ("rsv", &good, &rsv),
            ("opcode", &good, &unknown),
            ("control length", &good, &long_ping),
            ("continuation", &good, &stray_continuation),
            ("interleaved", &held, &interleaved),
        ] {
            let input = [prefix.as_slice(), odd, &trailing, b"\x81"].concat();
            for chunk in [1, 4, input.len()] {
                let (out, seen, raw) = run(&input, chunk, |_| Some(b"rewritten".to_vec()));
                assert!(raw, "{name}");
                if prefix == &good {
                    // The first message was complete before the odd frame: rewritten.
                    assert_eq!(seen.len(), 1, "{name}");
                    let h = parse_header(&out).unwrap().unwrap();
                    let first = h.header_len + h.len as usize;
                    assert_eq!(unmask(&h, &out[..first]), b"rewritten");
                    assert_eq!(&out[first..], &input[good.len()..], "{name} chunk {chunk}");
                } else {
                    assert!(seen.is_empty());
                    assert_eq!(out, input, "{name} chunk {chunk}");
                }
            }
        }
    }

    #[test]
    fn an_oversized_message_passes_through_unchanged() {
        // Over the 1 KiB bound of `run`: declared in one frame, or accumulated over fragments.
        let big = frame(true, OP_TEXT, &[b'a'; 2000], Some([1, 2, 3, 4]));
        let mut fragments = frame(false, OP_TEXT, &[b'b'; 600], Some([1, 2, 3, 4]));
        fragments.extend(frame(
            true,
            OP_CONTINUATION,
            &[b'c'; 600],
            Some([4, 3, 2, 1]),
        ));
        for input in [big, fragments] {
            let input = [
                input.as_slice(),
                &frame(true, OP_TEXT, b"later", Some([0; 4])),
            ]
            .concat();
            for chunk in [1, 100, input.len()] {
                let (out, seen, raw) = run(&input, chunk, |_| Some(b"never".to_vec()));
                assert!(raw && seen.is_empty());
                assert_eq!(out, input);
            }
        }
    }

    /// What `Downward` reports for `input` fed in chunks of `chunk` bytes, as short strings.
    fn follow(input: &[u8], chunk: usize) -> (Vec<String>, bool) {
        let mut d = Downward::default();
        let mut seen = Vec::new();
        for piece in input.chunks(chunk.max(1)) {
            d.feed(piece, &mut seen);
        }
        let described = seen
            .into_iter()
            .map(|s| match s {
                Seen::Event => "event".to_owned(),
                Seen::Closed => "closed".to_owned(),
                Seen::End {
                    outcome,
                    usage,
                    status,
                } => format!(
                    "{outcome:?} {:?} {:?} {status:?}",
                    usage.totals(),
                    usage.cache()
                ),
            })
            .collect();
        (described, d.is_raw())
    }

    #[test]
    fn server_events_are_followed_across_any_split() {
        let created = br#"{"type":"response.created","response":{"usage":null}}"#;
        // The answer's text mentions usage fields: only the real `usage` object counts.
        let completed = br#"{"type":"response.completed","response":{"output":[{"text":""input_tokens": 999"}],"usage":{"input_tokens":40,"input_tokens_details":{"cached_tokens":8},"output_tokens":5}}}"#;
        let (one, two) = completed.split_at(30);
        let error = br#"{"type":"error","status":429,"error":{"message":"slow down"}}"#;
        let mut input = frame(true, OP_TEXT, created, None);
        input.extend(frame(true, OP_PING, b"", None));
        input.extend(frame(false, OP_TEXT, one, None));
        input.extend(frame(true, OP_PONG, b"p", None));
        input.extend(frame(true, OP_CONTINUATION, two, None));
        input.extend(frame(true, OP_BINARY, &[0u8; 70_000], None));
        input.extend(frame(true, OP_TEXT, b"", None));
        input.extend(frame(true, OP_TEXT, error, None));
        input.extend(frame(true, OP_CLOSE, &[0x03, 0xE8], None));
        for chunk in [1, 2, 5, 13, input.len()] {
            let (seen, raw) = follow(&input, chunk);
            assert!(!raw, "chunk {chunk}");
            assert_eq!(
                seen,
                [
                    "event",
                    "event",
                    "Completed (40, 5) (8, 0) None",
                    "event",
                    "event",
                    "Error (0, 0) (0, 0) Some(429)",
                    "closed"
                ],
                "chunk {chunk}"
            );
        }
    }

    #[test]
    fn an_unexpected_server_frame_stops_the_reading_for_good() {
        let completed =
            br#"{"type":"response.completed","response":{"usage":{"output_tokens":5}}}"#;
        let masked = frame(true, OP_TEXT, b"{}", Some([1, 2, 3, 4]));
        let mut deflated = frame(true, OP_TEXT, b"\x00", None);
        deflated[0] |= 0x40;
        let unknown = frame(true, 0x3, b"", None);
        for odd in [masked, deflated, unknown] {
            let input = [odd.as_slice(), &frame(true, OP_TEXT, completed, None)].concat();
            for chunk in [1, input.len()] {
                let (seen, raw) = follow(&input, chunk);
                assert!(raw);
                assert!(seen.is_empty(), "{seen:?}");
            }
        }
    }

    #[tokio::test]
    async fn with_history_the_server_bytes_pass_untouched_and_a_response_is_a_row() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("usage.db");
        let recorder = headroom_usage::Recorder::open(&db, headroom_usage::Options::default());
        let metrics = crate::metrics::Metrics::with_history(recorder.clone());
        let headers = http::HeaderMap::new();
        let openai = crate::errors::Provider::OpenAi;
        let flight =
            crate::body::Flight::start(&metrics, openai, "/v1/responses", &headers, Instant::now());
        let rows = flight.unwrap().session(101);
        let (client, mut client_peer) = tokio::io::duplex(1 << 20);
        let (upstream, mut upstream_peer) = tokio::io::duplex(1 << 20);
        let task = tokio::spawn(relay(client, upstream, None, Some(rows)));

        let create = frame(
            true,
            OP_TEXT,
            br#"{"type":"response.create","model":"gpt-x"}"#,
            Some([1, 2, 3, 4]),
        );
        client_peer.write_all(&create).await.unwrap();
        let mut got = vec![0; create.len()];
        upstream_peer.read_exact(&mut got).await.unwrap();
        assert_eq!(got, create);
        let completed = br#"{"type":"response.completed","response":{"usage":{"input_tokens":40,"input_tokens_details":{"cached_tokens":8},"output_tokens":5}}}"#;
        let (one, two) = completed.split_at(50);
        let mut server = frame(true, OP_TEXT, br#"{"type":"response.created"}"#, None);
        server.extend(frame(false, OP_TEXT, one, None));
        server.extend(frame(true, OP_PING, b"hb", None));
        server.extend(frame(true, OP_CONTINUATION, two, None));
        server.extend(frame(true, OP_BINARY, &[9u8; 300], None));
        // Not a server frame: the rest is copied as it comes.
        server.extend(frame(true, OP_TEXT, b"odd", Some([1, 1, 1, 1])));
        server.extend_from_slice(b"\x81\x7Fnot a frame");
        for piece in server.chunks(7) {
            upstream_peer.write_all(piece).await.unwrap();
        }
        upstream_peer.shutdown().await.unwrap();
        let mut back = Vec::new();
        client_peer.read_to_end(&mut back).await.unwrap();
        assert_eq!(back, server);
        client_peer.shutdown().await.unwrap();
        task.await.unwrap().unwrap();

        recorder.flush(Duration::from_secs(5));
        let rows = headroom_usage::query::Reader::open(&db)
            .unwrap()
            .recent(10)
            .unwrap();
        assert_eq!(rows.len(), 1, "no handshake row beside the response's");
        let r = &rows[0];
        assert_eq!(
            (
                r.model.as_deref(),
                r.input_tokens,
                r.output_tokens,
                r.status,
                r.error.as_deref()
            ),
            (Some("gpt-x"), 32, 5, 101, None)
        );
    }

    #[tokio::test]
    async fn relay_rewrites_text_and_copies_the_rest_both_ways() {
        let (client, mut client_peer) = tokio::io::duplex(1024);
        let (upstream, mut upstream_peer) = tokio::io::duplex(1024);
        let transform: MessageTransform = Arc::new(|p: &[u8]| {
            p.starts_with(b"rewrite")
                .then(|| Rewrite::payload(b"done".to_vec()))
        });
        let task = tokio::spawn(relay(client, upstream, Some(transform), None));
        let keep = frame(true, OP_TEXT, b"keep", Some([1, 2, 3, 4]));
        let input = [
            keep.as_slice(),
            &frame(true, OP_TEXT, b"rewrite me", Some([1, 2, 3, 4])),
        ]
        .concat();
        client_peer.write_all(&input).await.unwrap();
        client_peer.shutdown().await.unwrap();
        let mut got = Vec::new();
        upstream_peer.read_to_end(&mut got).await.unwrap();
        assert_eq!(&got[..keep.len()], keep.as_slice());
        let h = parse_header(&got[keep.len()..]).unwrap().unwrap();
        assert_eq!(unmask(&h, &got[keep.len()..]), b"done");
        // The other direction is a plain copy, and its end ends the relay.
        upstream_peer.write_all(b"\x81\x02hi").await.unwrap();
        upstream_peer.shutdown().await.unwrap();
        let mut back = Vec::new();
        client_peer.read_to_end(&mut back).await.unwrap();
        assert_eq!(back, b"\x81\x02hi");
        task.await.unwrap().unwrap();
    }
}
