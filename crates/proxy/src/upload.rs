//! The request body on its way upstream: read incrementally for the two top-level fields the
//! proxy needs (`"model"` for the usage history, `"stream"` for the shape of its own errors),
//! and, when compression will not touch it, streamed upstream as it arrives instead of being
//! held whole.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use hyper::body::{Body as HttpBody, Frame, Incoming, SizeHint};

use crate::body::BoxError;

/// Longest `"model"` value read (raw, escapes included); a longer one is not recorded.
const MODEL_CAP: usize = 1024;
/// Longest key compared (`"stream"`); longer ones cannot match.
const KEY_CAP: usize = 6;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Key {
    Model,
    Stream,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Str {
    /// A string directly inside the top-level object: maybe one of the keys.
    Candidate,
    /// The value of the first top-level `"model"`.
    Model,
    /// Any other string (skipped at memchr speed: most of a body is message text).
    Other,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Next {
    Nothing,
    Colon(Key),
    Value(Key),
    /// Matched this many bytes of `true` after `"stream":`.
    True(u8),
}

/// A resumable scan of a JSON object's top level. Fed chunk by chunk (split anywhere), it finds
/// what [`wants_stream`](crate::forward::wants_stream) and [`model_of`](crate::forward::model_of)
/// find in a whole body, in one pass and without holding the body.
#[derive(Debug)]
pub struct Scan {
    depth: usize,
    string: Option<Str>,
    escaped: bool,
    buf: Vec<u8>,
    overflow: bool,
    next: Next,
    /// `Some` once the first top-level `"model"` was read (`Some(None)`: not a string).
    model: Option<Option<String>>,
    stream: bool,
    bytes: u64,
}

impl Default for Scan {
    fn default() -> Self {
        Self {
            depth: 0,
            string: None,
            escaped: false,
            buf: Vec::new(),
            overflow: false,
            next: Next::Nothing,
            model: None,
            stream: false,
            bytes: 0,
        }
    }
}

impl Scan {
    /// Scan a whole body.
    pub fn of(body: &[u8]) -> Self {
        let mut s = Self::default();
        s.feed(body);
        s
    }

    /// `"stream": true` at the top level in what was fed so far.
    pub fn stream(&self) -> bool {
        self.stream
    }

    /// The top-level `"model"` string, once its value was read whole.
    pub fn model(&self) -> Option<String> {
        self.model.clone().flatten()
    }

    /// Bytes fed so far.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    pub fn feed(&mut self, chunk: &[u8]) {
        self.bytes += chunk.len() as u64;
        let mut i = 0;
        while i < chunk.len() {
            if let Some(kind) = self.string {
                if self.escaped {
                    self.escaped = false;
                    self.collect(kind, &chunk[i..=i]);
                    i += 1;
                    continue;
                }
                match memchr::memchr2(b'"', b'\\', &chunk[i..]) {
                    None => {
                        self.collect(kind, &chunk[i..]);
                        return;
                    }
                    Some(off) => {
                        let at = i + off;
                        self.collect(kind, &chunk[i..at]);
                        i = at + 1;
                        if chunk[at] == b'\\' {
                            self.collect(kind, b"\\");
                            self.escaped = true;
                        } else {
                            self.string = None;
                            self.end_string(kind);
                        }
                    }
                }
                continue;
            }
            let b = chunk[i];
            i += 1;
            if let Next::True(n) = self.next {
                if b == b"true"[n as usize] {
                    self.next = if n == 3 {
                        self.stream = true;
                        Next::Nothing
                    } else {
                        Next::True(n + 1)
                    };
                    continue;
                }
                self.next = Next::Nothing;
            }
            if b.is_ascii_whitespace() {
                continue;
            }
            match self.next {
                Next::Colon(key) => {
                    self.next = Next::Nothing;
                    if b == b':' {
                        self.next = Next::Value(key);
                        continue;
                    }
                }
                Next::Value(Key::Model) => {
                    self.next = Next::Nothing;
                    if b == b'"' {
                        self.open(Str::Model);
                        continue;
                    }
                    self.model = Some(None);
                }
                Next::Value(Key::Stream) => {
                    self.next = Next::Nothing;
                    if b == b't' {
                        self.next = Next::True(1);
                        continue;
                    }
                }
                Next::True(_) | Next::Nothing => {}
            }
            match b {
                b'"' => self.open(if self.depth == 1 {
                    Str::Candidate
                } else {
                    Str::Other
                }),
                b'{' | b'[' => self.depth += 1,
                b'}' | b']' => self.depth = self.depth.saturating_sub(1),
                _ => {}
            }
        }
    }

    fn open(&mut self, kind: Str) {
        self.string = Some(kind);
        self.buf.clear();
        self.overflow = false;
    }

    fn collect(&mut self, kind: Str, bytes: &[u8]) {
        let cap = match kind {
            Str::Other => return,
            Str::Candidate => KEY_CAP,
            Str::Model => MODEL_CAP,
        };
        if self.overflow || self.buf.len() + bytes.len() > cap {
            self.overflow = true;
        } else {
            self.buf.extend_from_slice(bytes);
        }
    }

    fn end_string(&mut self, kind: Str) {
        match kind {
            Str::Other => {}
            Str::Candidate if self.overflow => {}
            Str::Candidate => {
                self.next = match self.buf.as_slice() {
                    b"model" if self.model.is_none() => Next::Colon(Key::Model),
                    b"stream" => Next::Colon(Key::Stream),
                    _ => Next::Nothing,
                }
            }
            Str::Model => {
                let value = (!self.overflow)
                    .then(|| {
                        // The raw string with its quotes: JSON decodes the escapes.
                        let mut quoted = Vec::with_capacity(self.buf.len() + 2);
                        quoted.push(b'"');
                        quoted.extend_from_slice(&self.buf);
                        quoted.push(b'"');
                        serde_json::from_slice::<String>(&quoted).ok()
                    })
                    .flatten();
                self.model = Some(value);
            }
        }
    }
}

/// What a streamed upload saw, read by the forwarder once the upstream answered (or failed).
#[derive(Default)]
pub struct Seen {
    pub scan: Scan,
    /// The body went over the limit (the upload was cut).
    pub too_large: bool,
    /// Reading the client's body failed (the client went away mid-upload).
    pub client_error: Option<String>,
}

/// A request body streamed upstream: the frames already read (peeked), then the rest of the
/// client's body as it arrives, each chunk scanned on its way through.
pub struct Upload {
    head: VecDeque<Bytes>,
    rest: Option<Incoming>,
    seen: Arc<Mutex<Seen>>,
    limit: u64,
    /// Bytes still to come, when the client declared a length.
    remaining: Option<u64>,
}

impl Upload {
    /// `head` was already fed to `scan`; `rest` (if any) is the client's body after it;
    /// `declared` the whole body's length when the client sent one.
    pub fn new(
        head: VecDeque<Bytes>,
        rest: Option<Incoming>,
        scan: Scan,
        limit: u64,
        declared: Option<u64>,
    ) -> (Self, Arc<Mutex<Seen>>) {
        let seen = Arc::new(Mutex::new(Seen {
            scan,
            ..Seen::default()
        }));
        (
            Self {
                head,
                rest,
                seen: seen.clone(),
                limit,
                remaining: declared,
            },
            seen,
        )
    }
}

impl HttpBody for Upload {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        if let Some(chunk) = this.head.pop_front() {
            this.remaining = this.remaining.map(|r| r.saturating_sub(chunk.len() as u64));
            return Poll::Ready(Some(Ok(Frame::data(chunk))));
        }
        let Some(rest) = this.rest.as_mut() else {
            return Poll::Ready(None);
        };
        loop {
            return match Pin::new(&mut *rest).poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => {
                    // Trailers are not forwarded (as when the body was read whole).
                    let Ok(data) = frame.into_data() else {
                        continue;
                    };
                    let mut seen = this.seen.lock().unwrap_or_else(|e| e.into_inner());
                    seen.scan.feed(&data);
                    if seen.scan.bytes() > this.limit {
                        seen.too_large = true;
                        drop(seen);
                        this.rest = None;
                        return Poll::Ready(Some(Err("request body over the limit".into())));
                    }
                    drop(seen);
                    this.remaining = this.remaining.map(|r| r.saturating_sub(data.len() as u64));
                    Poll::Ready(Some(Ok(Frame::data(data))))
                }
                Poll::Ready(Some(Err(e))) => {
                    let text = e.to_string();
                    this.seen
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .client_error = Some(text);
                    this.rest = None;
                    Poll::Ready(Some(Err(e.into())))
                }
                Poll::Ready(None) => {
                    this.rest = None;
                    Poll::Ready(None)
                }
                Poll::Pending => Poll::Pending,
            };
        }
    }

    fn is_end_stream(&self) -> bool {
        self.head.is_empty() && self.rest.as_ref().is_none_or(|r| r.is_end_stream())
    }

    fn size_hint(&self) -> SizeHint {
        match self.remaining {
            Some(r) => SizeHint::with_exact(r),
            None => {
                let head: u64 = self.head.iter().map(|b| b.len() as u64).sum();
                let mut hint = self
                    .rest
                    .as_ref()
                    .map_or_else(SizeHint::default, |r| r.size_hint());
                hint.set_lower(hint.lower() + head);
                if let Some(upper) = hint.upper() {
                    hint.set_upper(upper + head);
                }
                hint
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every split of `body` in two finds what the whole does.
    fn split_everywhere(body: &[u8]) -> (bool, Option<String>) {
        let whole = Scan::of(body);
        for at in 0..=body.len() {
            let mut s = Scan::default();
            s.feed(&body[..at]);
            s.feed(&body[at..]);
            assert_eq!(
                (s.stream(), s.model()),
                (whole.stream(), whole.model()),
                "split at {at} of {}",
                String::from_utf8_lossy(body)
            );
        }
        (whole.stream(), whole.model())
    }

    #[test]
    fn top_level_model_and_stream_survive_any_split() {
        assert_eq!(
            split_everywhere(br#"{"model":"claude-sonnet-4-5","stream":true}"#),
            (true, Some("claude-sonnet-4-5".into()))
        );
        assert_eq!(
            split_everywhere(
                br#"{"messages":[{"content":"say \"model\": \"x\" \\","model":"nested","stream":true}], "model" : "gpt-5\u002dmini", "stream" :
 true}"#
            ),
            (true, Some("gpt-5-mini".into()))
        );
        assert_eq!(
            split_everywhere(br#"{"stream":false,"metadata":{"model":"nested"}}"#),
            (false, None)
        );
        assert_eq!(
            split_everywhere(br#"{"model":7,"model":"later"}"#),
            (false, None)
        );
        assert_eq!(
            split_everywhere(br#"{"model":"unterminated"#),
            (false, None)
        );
        assert_eq!(
            split_everywhere(br#"{"content":"\"stream\" is a word"}"#),
            (false, None)
        );
        assert_eq!(
            split_everywhere(b"not json at all \"stream\""),
            (false, None)
        );
        assert_eq!(split_everywhere(b""), (false, None));
    }

    #[test]
    fn a_huge_model_value_is_not_recorded() {
        let body = format!(
            r#"{{"model":"{}","stream":true}}"#,
            "m".repeat(MODEL_CAP + 1)
        );
        assert_eq!(split_everywhere(body.as_bytes()), (true, None));
    }
}
