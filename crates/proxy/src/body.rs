//! Response bodies: one boxed type for everything the proxy returns, and the tap that watches an
//! upstream body pass by (bytes, token usage, completion) without ever holding it. A [`Flight`]
//! carries the request's usage-history row to the end of its answer.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::{Body as HttpBody, Frame, SizeHint};

use headroom_usage::{ErrorKind, Record, Recorder, client};

use crate::errors::{Provider, broken_stream_event};
use crate::metrics::{Metrics, Usage};

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
pub type Body = UnsyncBoxBody<Bytes, BoxError>;

pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|e| match e {})
        .boxed_unsync()
}

pub fn empty() -> Body {
    Empty::new().map_err(|e| match e {}).boxed_unsync()
}

/// At most this much of an upstream body is held back to be written with the frames after it.
const GATHER_FRAMES: usize = 16;
const GATHER_BYTES: usize = 256 * 1024;
/// Scheduler turns a gathering body waits, with nothing new, before it sends what it has: the
/// upstream connection's task hands frames over on its own turns, not always the next one.
const GATHER_IDLE_TURNS: u8 = 3;

/// A poll's answer, held until the frames gathered before it are out.
type Polled = Option<Result<Frame<Bytes>, BoxError>>;

/// Relays an upstream body frame by frame (streams stay streams) while counting bytes and picking
/// token counts out of `usage` fields. Dropping it (client went away) drops the upstream body,
/// which closes the upstream connection: the provider stops generating.
///
/// Frames the upstream connection has already received are written to the client together:
/// hyper hands a client-side body over one frame at a time (its connection task and ours take
/// turns), so an SSE answer read in one `recv` went out as one `writev` per event (11 for an
/// 8-event stream). A frame is held for at most a few scheduler turns (`GATHER_IDLE_TURNS` with
/// nothing new), never for data still on the network: then what was gathered goes.
pub struct Tapped<B> {
    inner: B,
    gathered: VecDeque<Frame<Bytes>>,
    gathered_bytes: usize,
    /// Set once gathering stops: the gathered frames, then `after`, are handed out.
    releasing: bool,
    after: Option<Polled>,
    idle_turns: u8,
    metrics: Arc<Metrics>,
    scanner: Option<Usage>,
    bytes: u64,
    finished: bool,
    /// For SSE responses: whose error event is sent in place of a broken upstream stream, so
    /// the client's parser reports an error instead of hanging on a truncated stream.
    sse_error: Option<Provider>,
    /// The usage-history row, sent when the body ends (history on).
    flight: Option<Flight>,
}

/// How an upstream body ended.
#[derive(Clone, Copy, PartialEq, Eq)]
enum End {
    Complete,
    /// The upstream stream failed.
    Broken,
    /// Dropped before its end: the client went away (or the server shut down).
    Dropped,
}

impl<B> Tapped<B> {
    pub fn new(inner: B, metrics: Arc<Metrics>, scan_usage: bool) -> Self {
        Self {
            inner,
            gathered: VecDeque::new(),
            gathered_bytes: 0,
            releasing: false,
            after: None,
            idle_turns: 0,
            metrics,
            scanner: scan_usage.then(Usage::default),
            bytes: 0,
            finished: false,
            sse_error: None,
            flight: None,
        }
    }

    /// Send this request's history row when the body ends.
    pub fn with_flight(mut self, flight: Option<Flight>) -> Self {
        self.flight = flight;
        self
    }

    /// End a broken upstream stream with `provider`'s SSE error event instead of an abrupt close.
    pub fn with_sse_error(mut self, provider: Provider) -> Self {
        self.sse_error = Some(provider);
        self
    }

    fn finish(&mut self, end: End) {
        if self.finished {
            return;
        }
        self.finished = true;
        self.metrics.response_finished(
            self.bytes,
            self.scanner.as_ref().map(Usage::totals),
            end == End::Complete,
        );
        if let Some(flight) = self.flight.take() {
            let error = match end {
                End::Complete => None,
                End::Broken => Some(ErrorKind::StreamBroken),
                End::Dropped => Some(ErrorKind::ClientAborted),
            };
            flight.body_ended(error, self.scanner.as_ref());
        }
    }
}

impl<B> HttpBody for Tapped<B>
where
    B: HttpBody<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        loop {
            if this.releasing {
                if let Some(frame) = this.gathered.pop_front() {
                    this.gathered_bytes -= frame.data_ref().map_or(0, Bytes::len);
                    return Poll::Ready(Some(Ok(frame)));
                }
                this.releasing = false;
                if let Some(polled) = this.after.take() {
                    return Poll::Ready(polled);
                }
            }
            if this.finished {
                // Ended (on an error event, or with its last frame gathered): the upstream is
                // not polled again.
                return Poll::Ready(None);
            }
            let polled = match Pin::new(&mut this.inner).poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => {
                    if let Some(data) = frame.data_ref() {
                        this.bytes += data.len() as u64;
                        if let Some(scanner) = this.scanner.as_mut() {
                            scanner.feed(data);
                        }
                    }
                    // A body of known length is complete with its last byte: hyper then drops
                    // it without polling for the end, which must not read as a client abort.
                    let end = this.inner.is_end_stream();
                    if end {
                        this.finish(End::Complete);
                    }
                    if this.gathered.is_empty() && (end || !frame.is_data()) {
                        // A whole JSON answer in one frame, or trailers: nothing to gather.
                        return Poll::Ready(Some(Ok(frame)));
                    }
                    this.gathered_bytes += frame.data_ref().map_or(0, Bytes::len);
                    this.gathered.push_back(frame);
                    if end
                        || this.gathered.len() >= GATHER_FRAMES
                        || this.gathered_bytes >= GATHER_BYTES
                    {
                        this.idle_turns = 0;
                        this.releasing = true;
                        continue;
                    }
                    // One turn: the upstream connection's task hands over what it has read
                    // meanwhile, and this body is polled again right after it.
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
                Poll::Ready(Some(Err(e))) => {
                    this.metrics.upstream_stream_error();
                    this.finish(End::Broken);
                    Some(match this.sse_error.take() {
                        Some(provider) => Ok(Frame::data(broken_stream_event(provider))),
                        None => Err(e.into()),
                    })
                }
                Poll::Ready(None) => {
                    this.finish(End::Complete);
                    None
                }
                Poll::Pending if this.gathered.is_empty() => return Poll::Pending,
                Poll::Pending if this.idle_turns < GATHER_IDLE_TURNS => {
                    // The connection task may not have had its turn yet.
                    this.idle_turns += 1;
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
                Poll::Pending => {
                    // The upstream has nothing more right now: what was gathered goes.
                    this.idle_turns = 0;
                    this.releasing = true;
                    continue;
                }
            };
            if this.gathered.is_empty() {
                return Poll::Ready(polled);
            }
            this.after = Some(polled);
            this.releasing = true;
        }
    }

    fn is_end_stream(&self) -> bool {
        self.gathered.is_empty() && self.after.is_none() && self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        let held = self.gathered_bytes as u64;
        let inner = self.inner.size_hint();
        let mut hint = SizeHint::new();
        hint.set_lower(inner.lower() + held);
        if let Some(upper) = inner.upper() {
            hint.set_upper(upper + held);
        }
        hint
    }
}

impl<B> Drop for Tapped<B> {
    fn drop(&mut self) {
        // Dropped before the end: the client disconnected (or the server is shutting down).
        self.finish(End::Dropped);
    }
}

/// One request's usage-history row, filled in as the request goes and sent exactly once: when
/// its answer has ended, or, dropped unsent, as a client that went away before any answer.
pub struct Flight {
    recorder: Recorder,
    started: Instant,
    /// Taken when sent.
    record: Option<Record>,
    /// `count_tokens` answers carry an `input_tokens` that nobody was billed for.
    billed: bool,
}

impl Flight {
    /// Start the row of a request that arrived at `started` (`None` when history is off).
    pub fn start(
        metrics: &Metrics,
        provider: Provider,
        path: &str,
        headers: &http::HeaderMap,
        started: Instant,
    ) -> Option<Flight> {
        let recorder = metrics.history()?.clone();
        let text = |name| {
            headers
                .get(name)
                .map(|v: &http::HeaderValue| String::from_utf8_lossy(v.as_bytes()))
        };
        let record = Record {
            at: SystemTime::now(),
            client: text(http::header::USER_AGENT.as_str()).map_or(client::Client::Other, |ua| {
                client::Client::from_user_agent(&ua)
            }),
            provider: match provider {
                Provider::Anthropic => headroom_usage::Provider::Anthropic,
                Provider::OpenAi => headroom_usage::Provider::OpenAi,
            },
            model: None,
            project: text(crate::headers::PROJECT_HEADER)
                .map(|p| client::cap(&p).into_owned())
                .filter(|p| !p.is_empty()),
            status: 0,
            error: None,
            ttfb: None,
            total: None,
            added: Duration::ZERO,
            input_tokens: 0,
            output_tokens: 0,
            cache_read_tokens: 0,
            cache_write_tokens: 0,
            tokens_before: 0,
            tokens_after: 0,
            transforms: Vec::new(),
        };
        Some(Flight {
            recorder,
            started,
            record: Some(record),
            billed: !path.ends_with("/count_tokens"),
        })
    }

    fn row(&mut self) -> &mut Record {
        self.record
            .as_mut()
            .expect("a flight's row is taken only when it is sent")
    }

    pub fn model(&mut self, model: Option<String>) {
        self.row().model = model.map(capped);
    }

    /// Time headroom itself spent on the request (compression, waiting for its count).
    pub fn added(&mut self, spent: Duration) {
        self.row().added += spent;
    }

    pub fn compressed(
        &mut self,
        report: &headroom_compress::Report,
        saved: &crate::compression::Saved,
    ) {
        let row = self.row();
        row.tokens_before = saved.before;
        row.tokens_after = saved.after;
        row.transforms = report.transforms.iter().map(|t| (*t).to_owned()).collect();
    }

    /// The answer's headers go to the client now.
    pub fn headers(&mut self, status: u16) {
        let ttfb = self.started.elapsed();
        let row = self.row();
        row.status = status;
        row.ttfb = Some(ttfb);
        // The upstream's own refusals (a bad API key too) are its 4xx; `unauthorized` and
        // `forbidden` are this proxy's.
        row.error = match status {
            400..=499 => Some(ErrorKind::Upstream4xx),
            500.. => Some(ErrorKind::Upstream5xx),
            _ => None,
        };
    }

    /// The proxy answered with its own error instead of the upstream's answer.
    pub fn failed(mut self, status: u16, kind: ErrorKind) {
        let row = self.row();
        row.status = status;
        row.error = Some(kind);
        self.send();
    }

    /// A WebSocket handshake answered on a socket the history does not follow per response:
    /// the row is the handshake (the socket's lifetime is not a latency).
    pub fn upgraded(mut self, status: u16) {
        self.headers(status);
        self.send();
    }

    fn body_ended(mut self, error: Option<ErrorKind>, usage: Option<&Usage>) {
        let billed = self.billed;
        let row = self.row();
        // An upstream error status stays the reason; a break or abort after it is secondary.
        if row.error.is_none() {
            row.error = error;
        }
        if let Some(usage) = usage.filter(|_| billed) {
            put_usage(row, usage);
        }
        self.send();
    }

    /// A Responses WebSocket answered `status` (101): the session's rows start from this one.
    pub fn session(mut self, status: u16) -> SessionRows {
        self.headers(status);
        let mut handshake = self
            .record
            .take()
            .expect("a flight's row is taken only when it is sent");
        // The socket's lifetime is not a latency: the handshake's row ends with its answer.
        handshake.total = handshake.ttfb;
        let template = Record {
            status: 0,
            error: None,
            ttfb: None,
            total: None,
            ..handshake.clone()
        };
        SessionRows {
            recorder: self.recorder.clone(),
            template,
            handshake,
        }
    }

    fn send(&mut self) {
        if let Some(mut row) = self.record.take() {
            row.total = Some(self.started.elapsed());
            self.recorder.record(row);
        }
    }
}

/// `s` capped ([`client::cap`]), reusing its allocation when it is already clean.
fn capped(s: String) -> String {
    match client::cap(&s) {
        std::borrow::Cow::Borrowed(_) => s,
        std::borrow::Cow::Owned(c) => c,
    }
}

/// The upstream's `usage` into a row. The history keeps uncached input apart from cache reads, as
/// Anthropic reports it; OpenAI's input count includes its cached tokens.
fn put_usage(row: &mut Record, usage: &Usage) {
    let ((input, output), (cache_read, cache_write)) = (usage.totals(), usage.cache());
    row.input_tokens = match row.provider {
        headroom_usage::Provider::OpenAi => input.saturating_sub(cache_read),
        headroom_usage::Provider::Anthropic => input,
    };
    row.output_tokens = output;
    row.cache_read_tokens = cache_read;
    row.cache_write_tokens = cache_write;
}

/// A WebSocket session's usage rows: one per response, with the handshake's client, provider
/// and project; the handshake's own row only for a session that never asked for a response.
pub struct SessionRows {
    recorder: Recorder,
    template: Record,
    handshake: Record,
}

/// One response on a WebSocket session, as the relay saw it.
pub struct WsResponse {
    /// When its `response.create` arrived.
    pub at: SystemTime,
    pub model: Option<String>,
    /// The message's time in the proxy (its compression).
    pub added: Duration,
    /// Message → first server event.
    pub ttfb: Option<Duration>,
    /// Message → the event that ended the response.
    pub total: Option<Duration>,
    pub status: u16,
    pub error: Option<ErrorKind>,
    pub usage: Option<Usage>,
    pub counted: Option<crate::compression::Counted>,
}

impl SessionRows {
    pub fn record(&self, r: WsResponse) {
        let mut row = self.template.clone();
        row.at = r.at;
        row.model = r.model.map(capped);
        row.added = r.added;
        row.ttfb = r.ttfb;
        row.total = r.total;
        row.status = r.status;
        row.error = r.error;
        if let Some(usage) = &r.usage {
            put_usage(&mut row, usage);
        }
        if let Some(c) = r.counted {
            row.tokens_before = c.saved.before;
            row.tokens_after = c.saved.after;
            row.transforms = c.transforms.iter().map(|t| (*t).to_owned()).collect();
        }
        self.recorder.record(row);
    }

    /// The session never asked for a response: it is its handshake.
    pub fn handshake(&self) {
        self.recorder.record(self.handshake.clone());
    }
}

impl Drop for Flight {
    fn drop(&mut self) {
        // Unsent: the request future was dropped before any answer (the client went away).
        if let Some(row) = self.record.as_mut() {
            row.error = Some(ErrorKind::ClientAborted);
            self.send();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The rows `answers` (provider, path, upstream body) leave in a real history.
    fn recorded(
        answers: &[(Provider, &str, &[u8])],
    ) -> (Vec<headroom_usage::query::RecentRow>, u64) {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("usage.db");
        let recorder = Recorder::open(&db, headroom_usage::Options::default());
        let metrics = Metrics::with_history(recorder.clone());
        for (provider, path, body) in answers {
            let mut flight = Flight::start(
                &metrics,
                *provider,
                path,
                &http::HeaderMap::new(),
                Instant::now(),
            )
            .unwrap();
            flight.headers(200);
            let mut usage = Usage::default();
            usage.feed(body);
            flight.body_ended(None, Some(&usage));
        }
        recorder.flush(Duration::from_secs(5));
        let reader = headroom_usage::query::Reader::open(&db).unwrap();
        let mut rows = reader.recent(10).unwrap();
        rows.reverse();
        let all = headroom_usage::query::Since::All;
        let stats = reader.stats(all, None, SystemTime::now()).unwrap();
        (rows, stats.cache_read_tokens)
    }

    #[test]
    fn cached_input_is_kept_apart_for_both_providers_and_count_tokens_is_not_usage() {
        let (rows, cache_read) = recorded(&[
            (
                Provider::OpenAi,
                "/v1/chat/completions",
                br#"{"usage":{"prompt_tokens":900,"completion_tokens":5,"prompt_tokens_details":{"cached_tokens":768}}}"#,
            ),
            (
                Provider::Anthropic,
                "/v1/messages",
                br#"{"usage":{"input_tokens":3,"cache_read_input_tokens":4000,"output_tokens":7}}"#,
            ),
            (
                Provider::Anthropic,
                "/v1/messages/count_tokens",
                br#"{"input_tokens":5000}"#,
            ),
        ]);
        let tokens: Vec<_> = rows
            .iter()
            .map(|r| (r.input_tokens, r.output_tokens))
            .collect();
        // Uncached input only: OpenAI's 900 included its 768 cache reads.
        assert_eq!(tokens, [(132, 5), (3, 7), (0, 0)]);
        assert_eq!(cache_read, 768 + 4000);
        assert!(rows.iter().all(|r| r.status == 200 && r.error.is_none()));
    }

    #[test]
    fn no_row_is_started_when_history_is_off() {
        let metrics = Metrics::default();
        let headers = http::HeaderMap::new();
        let started = Instant::now();
        assert!(Flight::start(&metrics, Provider::OpenAi, "/v1/x", &headers, started).is_none());
    }
}

#[cfg(test)]
mod gather_tests {
    use std::collections::VecDeque;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::{Wake, Waker};

    use super::*;

    /// One poll of a scripted upstream body: a frame is ready, nothing is yet, or it broke.
    #[derive(Clone, Copy)]
    enum Step {
        Sends(&'static str),
        NotYet,
        Breaks,
    }
    use Step::{Breaks, NotYet, Sends};

    /// An upstream body scripted poll by poll.
    struct Scripted {
        polls: VecDeque<Step>,
        end_after_last: bool,
    }

    impl HttpBody for Scripted {
        type Data = Bytes;
        type Error = BoxError;
        fn poll_frame(
            mut self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
            match self.polls.pop_front() {
                Some(Sends(text)) => Poll::Ready(Some(Ok(Frame::data(Bytes::from(text))))),
                Some(NotYet) => Poll::Pending,
                Some(Breaks) => Poll::Ready(Some(Err("reset".into()))),
                None if self.end_after_last => Poll::Ready(None),
                None => Poll::Pending,
            }
        }
        fn is_end_stream(&self) -> bool {
            false
        }
    }

    #[derive(Default)]
    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// Poll `body` `n` times; each answer as "pending", a frame's text, or "end".
    fn polls(body: &mut Tapped<Scripted>, n: usize, wakes: &Arc<Count>) -> Vec<String> {
        let waker = Waker::from(wakes.clone());
        let mut cx = Context::from_waker(&waker);
        (0..n)
            .map(|_| match Pin::new(&mut *body).poll_frame(&mut cx) {
                Poll::Pending => "pending".to_owned(),
                Poll::Ready(Some(Ok(f))) => {
                    String::from_utf8(f.into_data().unwrap().to_vec()).unwrap()
                }
                Poll::Ready(Some(Err(e))) => format!("error {e}"),
                Poll::Ready(None) => "end".to_owned(),
            })
            .collect()
    }

    fn tapped(polls: &[Step], end_after_last: bool) -> Tapped<Scripted> {
        let inner = Scripted {
            polls: polls.iter().copied().collect(),
            end_after_last,
        };
        Tapped::new(inner, Arc::new(Metrics::default()), true)
    }

    #[test]
    fn frames_already_received_go_out_together_in_order() {
        let wakes = Arc::new(Count::default());
        // Two frames, a turn with nothing, a third, then the end.
        let mut body = tapped(&[Sends("a"), Sends("b"), NotYet, Sends("c")], true);
        // Gathering yields to the scheduler (waking itself, so it is polled again) while the
        // upstream connection's task hands frames over; they go out back to back.
        let got = polls(&mut body, 9, &wakes);
        assert_eq!(
            got,
            [
                "pending", "pending", "pending", "pending", "a", "b", "c", "end", "end"
            ]
        );
        assert_eq!(
            wakes.0.load(Ordering::SeqCst),
            4,
            "every held turn re-polls"
        );
    }

    #[test]
    fn a_frame_is_never_held_for_data_still_on_the_network() {
        let wakes = Arc::new(Count::default());
        // The upstream sends one event and then nothing for a while.
        let mut body = tapped(&[Sends("event")], false);
        let turns = GATHER_IDLE_TURNS as usize;
        let mut want = vec!["pending"; 1 + turns];
        want.extend(["event", "pending"]);
        assert_eq!(polls(&mut body, 3 + turns, &wakes), want);
        // Its turns were wake-ups; then it waits for the upstream, which wakes it.
        assert_eq!(wakes.0.load(Ordering::SeqCst), 1 + turns);
    }

    #[test]
    fn gathering_stops_at_its_frame_bound() {
        let wakes = Arc::new(Count::default());
        let frames = vec![Sends("x"); GATHER_FRAMES + 2];
        let mut body = tapped(&frames, true);
        let got = polls(&mut body, 2 * GATHER_FRAMES + 4, &wakes);
        let first_out = got.iter().position(|g| g == "x").unwrap();
        assert_eq!(
            first_out,
            GATHER_FRAMES - 1,
            "released at the bound: {got:?}"
        );
        assert_eq!(got.iter().filter(|g| *g == "x").count(), GATHER_FRAMES + 2);
        assert_eq!(got.last().unwrap(), "end");
    }

    #[test]
    fn a_broken_stream_after_gathered_frames_sends_them_then_the_error_event() {
        let wakes = Arc::new(Count::default());
        let mut body =
            tapped(&[Sends("data: 1\n\n"), Breaks], true).with_sse_error(Provider::Anthropic);
        let got = polls(&mut body, 4, &wakes);
        assert_eq!(got[..2], ["pending", "data: 1\n\n"], "{got:?}");
        assert!(got[2].contains("error"), "the error event: {got:?}");
        assert_eq!(got[3], "end");
    }
}
