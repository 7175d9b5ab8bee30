//! Counters for `/metrics` (Prometheus text format). Lock-free: every request touches them.
//! Beside them, the usage history's recorder when history is on (each request's row goes there).

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use crate::errors::Provider;

/// Upper bounds (seconds) of the time-to-response-headers histogram.
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 30.0,
];

#[derive(Default)]
pub struct Metrics {
    requests: [AtomicU64; 2],
    status_classes: [AtomicU64; 5],
    unreachable: AtomicU64,
    timeouts: AtomicU64,
    unauthorized: AtomicU64,
    stream_errors: AtomicU64,
    aborted: AtomicU64,
    websockets: AtomicU64,
    in_flight: AtomicU64,
    request_bytes: AtomicU64,
    response_bytes: AtomicU64,
    input_tokens: AtomicU64,
    output_tokens: AtomicU64,
    /// Per bucket (not cumulative: one increment per response); summed up when rendered.
    latency_buckets: [AtomicU64; BUCKETS.len()],
    latency_count: AtomicU64,
    latency_sum_micros: AtomicU64,
    compressed_requests: AtomicU64,
    compress_failures: AtomicU64,
    compress_tokens_before: AtomicU64,
    compress_tokens_after: AtomicU64,
    /// Per-encoder counts; touched once per compressed request, not per request.
    transforms: std::sync::Mutex<std::collections::BTreeMap<&'static str, u64>>,
    /// Where each request's usage-history row goes; `None` when history is off.
    history: Option<headroom_usage::Recorder>,
}

fn provider_index(p: Provider) -> usize {
    match p {
        Provider::Anthropic => 0,
        Provider::OpenAi => 1,
    }
}

impl Metrics {
    /// Counters, and a history row per request sent to `recorder`.
    pub fn with_history(recorder: headroom_usage::Recorder) -> Self {
        Self {
            history: Some(recorder),
            ..Self::default()
        }
    }

    pub fn history(&self) -> Option<&headroom_usage::Recorder> {
        self.history.as_ref()
    }

    pub fn request_started(&self, provider: Provider, request_bytes: u64) {
        self.requests[provider_index(provider)].fetch_add(1, Relaxed);
        self.request_bytes.fetch_add(request_bytes, Relaxed);
        self.in_flight.fetch_add(1, Relaxed);
    }

    /// Response headers arrived from the upstream (or the proxy answered with an error).
    pub fn response_started(&self, status: u16, elapsed: Duration) {
        let class = (status / 100).clamp(1, 5) as usize - 1;
        self.status_classes[class].fetch_add(1, Relaxed);
        let secs = elapsed.as_secs_f64();
        // Above the last bound a response counts in `+Inf` (the count) only.
        if let Some(i) = BUCKETS.iter().position(|bound| secs <= *bound) {
            self.latency_buckets[i].fetch_add(1, Relaxed);
        }
        self.latency_count.fetch_add(1, Relaxed);
        self.latency_sum_micros
            .fetch_add(elapsed.as_micros() as u64, Relaxed);
    }

    pub fn response_finished(&self, bytes: u64, usage: Option<(u64, u64)>, complete: bool) {
        self.in_flight.fetch_sub(1, Relaxed);
        self.response_bytes.fetch_add(bytes, Relaxed);
        if let Some((input, output)) = usage {
            self.input_tokens.fetch_add(input, Relaxed);
            self.output_tokens.fetch_add(output, Relaxed);
        }
        if !complete {
            self.aborted.fetch_add(1, Relaxed);
        }
    }

    /// Request body bytes counted after the request started (a streamed body's rest).
    pub fn request_bytes(&self, n: u64) {
        if n > 0 {
            self.request_bytes.fetch_add(n, Relaxed);
        }
    }

    /// A request that ended without an upstream body (proxy error, upgrade).
    pub fn request_ended(&self) {
        self.in_flight.fetch_sub(1, Relaxed);
    }

    pub fn upstream_unreachable(&self) {
        self.unreachable.fetch_add(1, Relaxed);
    }
    pub fn upstream_timeout(&self) {
        self.timeouts.fetch_add(1, Relaxed);
    }
    pub fn unauthorized(&self) {
        self.unauthorized.fetch_add(1, Relaxed);
    }
    pub fn upstream_stream_error(&self) {
        self.stream_errors.fetch_add(1, Relaxed);
    }
    pub fn websocket_opened(&self) {
        self.websockets.fetch_add(1, Relaxed);
    }

    /// A request whose body compression changed (`saved` counted in cl100k tokens).
    pub fn compressed(
        &self,
        report: &headroom_compress::Report,
        saved: &crate::compression::Saved,
    ) {
        self.compressed_requests.fetch_add(1, Relaxed);
        self.compress_tokens_before.fetch_add(saved.before, Relaxed);
        self.compress_tokens_after.fetch_add(saved.after, Relaxed);
        if let Ok(mut t) = self.transforms.lock() {
            for name in &report.transforms {
                *t.entry(name).or_default() += 1;
            }
        }
    }

    /// Encoders that failed (their blocks went upstream as they came).
    pub fn compress_failed(&self, n: u64) {
        if n > 0 {
            self.compress_failures.fetch_add(n, Relaxed);
        }
    }

    pub fn requests_total(&self) -> u64 {
        self.requests.iter().map(|c| c.load(Relaxed)).sum()
    }

    pub fn in_flight(&self) -> u64 {
        self.in_flight.load(Relaxed)
    }

    pub fn render(&self) -> String {
        let mut out = String::with_capacity(2048);
        let mut counter = |name: &str, help: &str, samples: &[(&str, u64)]| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            for (labels, v) in samples {
                let _ = writeln!(out, "{name}{labels} {v}");
            }
        };
        let l = |c: &AtomicU64| c.load(Relaxed);
        counter(
            "headroom_requests_total",
            "Requests forwarded, by provider.",
            &[
                ("{provider=\"anthropic\"}", l(&self.requests[0])),
                ("{provider=\"openai\"}", l(&self.requests[1])),
            ],
        );
        counter(
            "headroom_responses_total",
            "Responses sent, by status class.",
            &[
                ("{class=\"1xx\"}", l(&self.status_classes[0])),
                ("{class=\"2xx\"}", l(&self.status_classes[1])),
                ("{class=\"3xx\"}", l(&self.status_classes[2])),
                ("{class=\"4xx\"}", l(&self.status_classes[3])),
                ("{class=\"5xx\"}", l(&self.status_classes[4])),
            ],
        );
        counter(
            "headroom_errors_total",
            "Requests the proxy could not complete, by reason.",
            &[
                ("{reason=\"upstream_unreachable\"}", l(&self.unreachable)),
                ("{reason=\"upstream_timeout\"}", l(&self.timeouts)),
                ("{reason=\"upstream_stream\"}", l(&self.stream_errors)),
                ("{reason=\"client_aborted\"}", l(&self.aborted)),
                ("{reason=\"unauthorized\"}", l(&self.unauthorized)),
            ],
        );
        counter(
            "headroom_websocket_upgrades_total",
            "WebSocket connections relayed.",
            &[("", l(&self.websockets))],
        );
        counter(
            "headroom_bytes_total",
            "Body bytes relayed.",
            &[
                ("{direction=\"request\"}", l(&self.request_bytes)),
                ("{direction=\"response\"}", l(&self.response_bytes)),
            ],
        );
        counter(
            "headroom_tokens_total",
            "Tokens reported in upstream usage fields.",
            &[
                ("{kind=\"input\"}", l(&self.input_tokens)),
                ("{kind=\"output\"}", l(&self.output_tokens)),
            ],
        );
        counter(
            "headroom_compressed_requests_total",
            "Requests whose tool outputs compression changed.",
            &[("", l(&self.compressed_requests))],
        );
        counter(
            "headroom_compression_tokens_total",
            "cl100k tokens of compressed requests before and after compression (unchanged parts estimated).",
            &[
                ("{stage=\"before\"}", l(&self.compress_tokens_before)),
                ("{stage=\"after\"}", l(&self.compress_tokens_after)),
            ],
        );
        counter(
            "headroom_compression_failures_total",
            "Tool outputs an encoder failed on (left as they were).",
            &[("", l(&self.compress_failures))],
        );
        let transforms: Vec<(String, u64)> = self
            .transforms
            .lock()
            .map(|t| {
                t.iter()
                    .map(|(k, v)| (format!("{{transform=\"{k}\"}}"), *v))
                    .collect()
            })
            .unwrap_or_default();
        let samples: Vec<(&str, u64)> = transforms.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        counter(
            "headroom_compression_transforms_total",
            "Encodings applied to tool outputs, by encoder.",
            &samples,
        );
        let _ = writeln!(
            out,
            "# HELP headroom_in_flight Requests currently being relayed.\n# TYPE headroom_in_flight gauge\nheadroom_in_flight {}",
            l(&self.in_flight)
        );
        let name = "headroom_upstream_header_seconds";
        let _ = writeln!(
            out,
            "# HELP {name} Time from request to upstream response headers.\n# TYPE {name} histogram"
        );
        let mut cumulative = 0;
        for (i, bound) in BUCKETS.iter().enumerate() {
            cumulative += l(&self.latency_buckets[i]);
            let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {cumulative}");
        }
        let count = l(&self.latency_count);
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {count}");
        let _ = writeln!(
            out,
            "{name}_sum {}",
            l(&self.latency_sum_micros) as f64 / 1e6
        );
        let _ = writeln!(out, "{name}_count {count}");
        out
    }
}

/// Picks token counts out of a JSON or SSE body as it streams by. The last value seen for each
/// field wins (Anthropic's `message_delta` carries the cumulative output count).
#[derive(Default)]
pub struct Usage {
    carry: Vec<u8>,
    input: u64,
    output: u64,
    cache_read: u64,
    cache_write: u64,
}

#[derive(Clone, Copy)]
enum Field {
    Input,
    Output,
    CacheRead,
    CacheWrite,
}

/// Every field ends in `tokens"`: one pass finds those, then the name before it says which.
const SUFFIX: &[u8] = b"tokens\"";
const FIELDS: [(&[u8], Field); 7] = [
    (b"\"input_tokens\"", Field::Input),
    (b"\"prompt_tokens\"", Field::Input),
    (b"\"output_tokens\"", Field::Output),
    (b"\"completion_tokens\"", Field::Output),
    // Anthropic reports cache reads and writes beside (not inside) `input_tokens`.
    (b"\"cache_read_input_tokens\"", Field::CacheRead),
    (b"\"cache_creation_input_tokens\"", Field::CacheWrite),
    // OpenAI's `prompt_tokens_details` / `input_tokens_details`: part of the input count.
    (b"\"cached_tokens\"", Field::CacheRead),
];
const CARRY: usize = 64;

impl Usage {
    pub fn feed(&mut self, chunk: &[u8]) {
        // A field split across chunks is found in the carried tail of the previous chunk joined
        // to this one's head; the chunk itself is scanned where it lies (never copied whole).
        // A field seen in both is the same field: the last value still wins.
        let mut carry = std::mem::take(&mut self.carry);
        if !carry.is_empty() {
            let old = carry.len();
            carry.extend_from_slice(&chunk[..chunk.len().min(CARRY)]);
            self.scan(&carry);
            carry.truncate(old);
        }
        self.scan(chunk);
        // The new tail: the last CARRY bytes of (old tail + chunk), in the same buffer.
        if chunk.len() >= CARRY {
            carry.clear();
            carry.extend_from_slice(&chunk[chunk.len() - CARRY..]);
        } else {
            carry.extend_from_slice(chunk);
            let excess = carry.len().saturating_sub(CARRY);
            carry.drain(..excess);
        }
        self.carry = carry;
    }

    fn scan(&mut self, window: &[u8]) {
        let mut from = 0;
        while let Some(pos) = memchr::memmem::find(&window[from..], SUFFIX) {
            let end = from + pos + SUFFIX.len();
            let named = FIELDS
                .iter()
                .find(|(name, _)| end >= name.len() && &window[end - name.len()..end] == *name);
            if let Some((_, field)) = named
                && let Some(v) = number_after_colon(&window[end..])
            {
                *match field {
                    Field::Input => &mut self.input,
                    Field::Output => &mut self.output,
                    Field::CacheRead => &mut self.cache_read,
                    Field::CacheWrite => &mut self.cache_write,
                } = v;
            }
            from = end;
        }
    }

    /// `(input, output)` as the upstream reported them (the Prometheus counters).
    pub fn totals(&self) -> (u64, u64) {
        (self.input, self.output)
    }

    /// `(cache read, cache write)` tokens; for OpenAI the cached tokens are also inside the
    /// input count, for Anthropic they are not.
    pub fn cache(&self) -> (u64, u64) {
        (self.cache_read, self.cache_write)
    }
}

/// `: 123` → 123; `None` when the number is not complete in this window (seen again later).
fn number_after_colon(rest: &[u8]) -> Option<u64> {
    let mut i = 0;
    while i < rest.len() && rest[i].is_ascii_whitespace() {
        i += 1;
    }
    if rest.get(i) != Some(&b':') {
        return None;
    }
    i += 1;
    while i < rest.len() && rest[i].is_ascii_whitespace() {
        i += 1;
    }
    let start = i;
    while i < rest.len() && rest[i].is_ascii_digit() {
        i += 1;
    }
    if i == start || i == rest.len() {
        return None;
    }
    std::str::from_utf8(&rest[start..i]).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_from_anthropic_sse_split_across_chunks() {
        let body = b"event: message_start\ndata: {\"message\":{\"usage\":{\"input_tokens\":25,\"output_tokens\":1}}}\n\nevent: message_delta\ndata: {\"usage\":{\"output_tokens\":15}}\n\n";
        for split in 1..body.len() {
            let mut u = Usage::default();
            u.feed(&body[..split]);
            u.feed(&body[split..]);
            assert_eq!(u.totals(), (25, 15), "split at {split}");
        }
    }

    #[test]
    fn usage_from_openai_json() {
        let mut u = Usage::default();
        u.feed(br#"{"usage": {"prompt_tokens": 9, "completion_tokens": 12, "total_tokens": 21}}"#);
        assert_eq!(u.totals(), (9, 12));
    }

    #[test]
    fn cache_tokens_from_both_providers_split_across_chunks() {
        let anthropic = br#"data: {"message":{"usage":{"input_tokens":3,"cache_creation_input_tokens":120,"cache_read_input_tokens":4000,"output_tokens":1}}}"#;
        let openai = br#"{"usage":{"prompt_tokens":900,"completion_tokens":5,"prompt_tokens_details":{"cached_tokens":768,"audio_tokens":0}}}"#;
        for split in 1..anthropic.len() {
            let mut u = Usage::default();
            u.feed(&anthropic[..split]);
            u.feed(&anthropic[split..]);
            assert_eq!(
                (u.totals(), u.cache()),
                ((3, 1), (4000, 120)),
                "split at {split}"
            );
        }
        for split in 1..openai.len() {
            let mut u = Usage::default();
            u.feed(&openai[..split]);
            u.feed(&openai[split..]);
            assert_eq!(
                (u.totals(), u.cache()),
                ((900, 5), (768, 0)),
                "split at {split}"
            );
        }
    }

    #[test]
    fn render_is_prometheus_text() {
        let m = Metrics::default();
        m.request_started(Provider::Anthropic, 10);
        m.response_started(200, Duration::from_millis(3));
        m.response_finished(100, Some((5, 7)), true);
        let text = m.render();
        assert!(text.contains("headroom_requests_total{provider=\"anthropic\"} 1"));
        assert!(text.contains("headroom_tokens_total{kind=\"output\"} 7"));
        assert!(text.contains("headroom_upstream_header_seconds_bucket{le=\"0.005\"} 1"));
        assert!(text.contains("headroom_upstream_header_seconds_count 1"));
        assert!(text.contains("headroom_in_flight 0"));
    }
}
