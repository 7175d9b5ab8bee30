//! Forwarding one client request to its provider and relaying the answer as it arrives.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http::{Request, Response, StatusCode, Uri};
use http_body_util::{BodyExt, Either, Full, Limited};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};

use headroom_usage::ErrorKind;

use crate::body::{Body, Flight, Tapped};
use crate::compression::{self, Stage};
use crate::config::{ProxyConfig, Upstream};
use crate::errors::{Provider, ProxyFault, error_response};
use crate::headers;
use crate::metrics::Metrics;
use crate::upload::{Scan, Seen, Upload};

/// What one request body may be: compression holds a body whole, a streamed one is cut here.
pub const MAX_REQUEST_BODY: usize = 64 * 1024 * 1024;

/// A body that compression will not touch is read this far before going upstream (a typical
/// request whole, so its `stream` flag and model are known and an unreachable upstream costs the
/// client nothing), the rest streamed as it arrives.
pub const PEEK: u64 = 64 * 1024;

/// A body read whole, or streamed upstream as it arrives.
type UpstreamBody = Either<Full<Bytes>, Upload>;
type UpstreamClient = Client<crate::egress::Connector, UpstreamBody>;

/// Upstream connection pools: one that may negotiate HTTP/2, and an HTTP/1.1-only one for
/// WebSocket handshakes (an upgrade cannot happen on an HTTP/2 connection).
pub struct Upstreams {
    client: UpstreamClient,
    upgrade_client: UpstreamClient,
}

impl Upstreams {
    pub fn new(egress: &crate::egress::Egress) -> Self {
        let build = |http2| {
            Client::builder(TokioExecutor::new())
                .pool_idle_timeout(std::time::Duration::from_secs(90))
                // Hidden retries would double-charge the user: clients retry themselves.
                .retry_canceled_requests(false)
                .build(egress.connector(http2))
        };
        Self {
            client: build(true),
            upgrade_client: build(false),
        }
    }
}

/// Which provider serves a `/v1/...` path. Shared paths (`/v1/models`, anything new) go to
/// Anthropic when the request carries Anthropic's headers.
pub fn route(path: &str, headers: &http::HeaderMap) -> Option<Provider> {
    let rest = path.strip_prefix("/v1/")?;
    let first = rest.split('/').next().unwrap_or("");
    Some(match first {
        "messages" | "complete" => Provider::Anthropic,
        "chat" | "responses" | "embeddings" | "completions" => Provider::OpenAi,
        _ if headers.contains_key("anthropic-version") || headers.contains_key("x-api-key") => {
            Provider::Anthropic
        }
        _ => Provider::OpenAi,
    })
}

/// Whether a JSON request body asks for a streamed answer (`"stream": true`), found without
/// parsing the whole body: a malformed body is the upstream's to judge, not ours.
pub fn wants_stream(body: &[u8]) -> bool {
    Scan::of(body).stream()
}

/// The top-level `"model"` of a JSON request body, found without parsing the whole body (it is
/// usually the first key): strings are skipped, so a `"model"` inside messages or tool inputs
/// does not count. `None` for a body that is not a JSON object or has no such string.
pub fn model_of(body: &[u8]) -> Option<String> {
    Scan::of(body).model()
}

/// The top-level string `key` of a JSON object, found the same way as [`model_of`]; `None` also
/// when `body` is cut before it (a peeked prefix).
pub fn top_level_str(body: &[u8], key: &str) -> Option<String> {
    let mut depth = 0usize;
    let mut i = 0;
    while i < body.len() {
        match body[i] {
            b'"' => {
                let end = string_end(body, i)?;
                if depth == 1 && &body[i + 1..end] == key.as_bytes() {
                    let mut j = end + 1;
                    while body.get(j).is_some_and(u8::is_ascii_whitespace) {
                        j += 1;
                    }
                    if body.get(j) == Some(&b':') {
                        j += 1;
                        while body.get(j).is_some_and(u8::is_ascii_whitespace) {
                            j += 1;
                        }
                        if body.get(j) != Some(&b'"') {
                            return None;
                        }
                        let value_end = string_end(body, j)?;
                        return serde_json::from_slice(&body[j..=value_end]).ok();
                    }
                }
                i = end;
            }
            b'{' | b'[' => depth += 1,
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    None
}

/// The index of the quote closing the JSON string that opens at `start`.
fn string_end(body: &[u8], start: usize) -> Option<usize> {
    let mut i = start + 1;
    while i < body.len() {
        match body[i] {
            b'\\' => i += 2,
            b'"' => return Some(i),
            _ => i += 1,
        }
    }
    None
}

fn fault_kind(fault: ProxyFault) -> ErrorKind {
    match fault {
        ProxyFault::Unreachable => ErrorKind::Unreachable,
        ProxyFault::Timeout => ErrorKind::Timeout,
        ProxyFault::Unauthorized => ErrorKind::Unauthorized,
        ProxyFault::Forbidden => ErrorKind::Forbidden,
        ProxyFault::NotFound => ErrorKind::BadRequest,
    }
}

pub struct Forward<'a> {
    pub config: &'a ProxyConfig,
    pub upstreams: &'a Upstreams,
    pub metrics: &'a Arc<Metrics>,
    pub compression: &'a Arc<Stage>,
    /// The caller is on this machine (it can read the `full` tier's retrieve files).
    pub local: bool,
    /// Rewrites client→upstream WebSocket text messages; `None` splices the sockets untouched.
    pub ws_transform: Option<crate::ws::MessageTransform>,
}

impl Forward<'_> {
    pub async fn handle(&self, provider: Provider, req: Request<Incoming>) -> Response<Body> {
        let started = Instant::now();
        let mut flight = Flight::start(
            self.metrics,
            provider,
            req.uri().path(),
            req.headers(),
            started,
        );
        let upstream = match self
            .config
            .upstream_for(provider, req.headers(), self.local)
        {
            Ok(u) => u,
            Err(refused) => {
                let message = refused.to_string();
                tracing::warn!("{message}");
                return self.refuse(provider, ProxyFault::Forbidden, &message, flight);
            }
        };
        if headers::is_websocket_upgrade(req.headers()) {
            return self
                .websocket(provider, upstream, req, started, flight)
                .await;
        }
        let (mut parts, body) = req.into_parts();
        // An encoded request body is not JSON we can read: it goes as it came.
        let may_compress = !parts.headers.contains_key(http::header::CONTENT_ENCODING)
            && self.compression.may_change(parts.uri.path());
        let declared = parts
            .headers
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
        if declared.is_some_and(|n| n > MAX_REQUEST_BODY as u64) {
            return self.body_error(provider, Box::new(TooLarge), flight);
        }
        let (body, scan, rest) = if may_compress {
            match Limited::new(body, MAX_REQUEST_BODY).collect().await {
                Ok(collected) => {
                    let body = collected.to_bytes();
                    let scan = Scan::of(&body);
                    (Read::Whole(body), scan, None)
                }
                Err(e) => return self.body_error(provider, e, flight),
            }
        } else {
            match peek(body).await {
                Ok(read) => read,
                Err(e) => return self.body_error(provider, e, flight),
            }
        };
        // From here on the time is headroom's own, until the request goes upstream.
        let body_read = Instant::now();
        // A streamed body's flag and model are read as it passes, and known by the answer.
        let mut streaming = scan.stream();
        let counted = scan.bytes();
        if rest.is_none()
            && let Some(f) = flight.as_mut()
        {
            f.model(scan.model());
        }
        self.metrics.request_started(provider, counted);
        let (body, compressed, seen) = match (body, rest) {
            (Read::Whole(body), _) => {
                let (body, compressed) = self.compress(&mut parts, body).await;
                (Either::Left(Full::new(body)), compressed, None)
            }
            (Read::Chunks(mut head), None) if head.len() <= 1 => {
                let one = head.pop_front().unwrap_or_default();
                (Either::Left(Full::new(one)), None, None)
            }
            (Read::Chunks(head), rest) => {
                let (upload, seen) =
                    Upload::new(head, rest, scan, MAX_REQUEST_BODY as u64, declared);
                (Either::Right(upload), None, Some(seen))
            }
        };

        let uri = match upstream_uri(upstream, &parts.uri) {
            Ok(uri) => uri,
            Err(resp) => {
                self.metrics.request_ended();
                return self.answered(resp(provider), flight);
            }
        };
        headers::sanitize_request(&mut parts.headers, false);
        parts.uri = uri;
        parts.version = http::Version::HTTP_11;
        let upstream_req = Request::from_parts(parts, body);
        if let Some(f) = flight.as_mut() {
            f.added(body_read.elapsed());
        }

        let answer = tokio::time::timeout(
            self.config.upstream_timeout,
            self.upstreams.client.request(upstream_req),
        )
        .await;
        if let Some(seen) = &seen {
            let seen = seen.lock().unwrap_or_else(|e| e.into_inner());
            streaming = seen.scan.stream();
            self.metrics
                .request_bytes(seen.scan.bytes().saturating_sub(counted));
            if let Some(f) = flight.as_mut() {
                f.model(seen.scan.model());
            }
            if let Some(resp) = self.upload_failed(provider, &seen, &answer) {
                drop(seen);
                self.metrics.request_ended();
                return self.answered(resp, flight);
            }
        }
        match answer {
            Ok(Ok(mut resp)) => {
                if let Some(counting) = compressed {
                    let waiting = Instant::now();
                    if let Ok((report, saved)) = counting.await {
                        self.metrics.compressed(&report, &saved);
                        compression::headers(&saved, resp.headers_mut());
                        if let Some(f) = flight.as_mut() {
                            f.compressed(&report, &saved);
                        }
                    }
                    if let Some(f) = flight.as_mut() {
                        f.added(waiting.elapsed());
                    }
                }
                self.metrics
                    .response_started(resp.status().as_u16(), started.elapsed());
                if let Some(f) = flight.as_mut() {
                    f.headers(resp.status().as_u16());
                }
                self.relay(provider, resp, streaming, flight)
            }
            Ok(Err(e)) => {
                self.metrics.upstream_unreachable();
                self.fail(
                    provider,
                    ProxyFault::Unreachable,
                    &format!(
                        "headroom could not reach {} at {}: {}",
                        provider.as_str(),
                        upstream.display(),
                        upstream_cause(&e)
                    ),
                    streaming,
                    started,
                    flight,
                )
            }
            Err(_) => {
                self.metrics.upstream_timeout();
                self.fail(
                    provider,
                    ProxyFault::Timeout,
                    &format!(
                        "{} at {} sent no response within {} s",
                        provider.as_str(),
                        upstream.display(),
                        self.config.upstream_timeout.as_secs()
                    ),
                    streaming,
                    started,
                    flight,
                )
            }
        }
    }

    /// Compress a whole body; the report's count runs beside the upstream call (the answer's
    /// headers wait for it).
    async fn compress(
        &self,
        parts: &mut http::request::Parts,
        body: Bytes,
    ) -> (
        Bytes,
        Option<tokio::task::JoinHandle<(headroom_compress::Report, compression::Saved)>>,
    ) {
        let before = body.len();
        let (body, report) = self
            .compression
            .request(parts.uri.path(), body, self.local, self.metrics)
            .await;
        let counting = report.map(|report| {
            let stage = self.compression.clone();
            let after = body.len();
            tokio::task::spawn_blocking(move || {
                let saved = stage.count(&report, before, after);
                (report, saved)
            })
        });
        if counting.is_some() {
            parts.headers.insert(
                http::header::CONTENT_LENGTH,
                http::HeaderValue::from(body.len()),
            );
        }
        (body, counting)
    }

    /// A streamed upload that failed on the client's side: answered as a body read whole
    /// would have been (413, or 400), not as an unreachable upstream.
    fn upload_failed<T, E, X>(
        &self,
        provider: Provider,
        seen: &Seen,
        answer: &Result<Result<T, E>, X>,
    ) -> Option<Response<Body>> {
        if !matches!(answer, Ok(Err(_))) {
            return None;
        }
        let (status, message) = if seen.too_large {
            (
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("request body larger than {MAX_REQUEST_BODY} bytes"),
            )
        } else {
            let e = seen.client_error.as_ref()?;
            (
                StatusCode::BAD_REQUEST,
                format!("could not read the request body: {e}"),
            )
        };
        let mut resp = error_response(provider, ProxyFault::NotFound, &message, false);
        *resp.status_mut() = status;
        Some(resp)
    }

    fn relay(
        &self,
        provider: Provider,
        resp: Response<Incoming>,
        streaming: bool,
        flight: Option<Flight>,
    ) -> Response<Body> {
        let (mut parts, body) = resp.into_parts();
        headers::sanitize_response(&mut parts.headers, false);
        let is_sse = parts
            .headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/event-stream"));
        let mut tapped = Tapped::new(body, self.metrics.clone(), true).with_flight(flight);
        if is_sse || streaming {
            tapped = tapped.with_sse_error(provider);
        }
        Response::from_parts(parts, BodyExt::boxed_unsync(tapped))
    }

    fn fail(
        &self,
        provider: Provider,
        fault: ProxyFault,
        message: &str,
        streaming: bool,
        started: Instant,
        flight: Option<Flight>,
    ) -> Response<Body> {
        tracing::warn!("{message}");
        self.metrics
            .response_started(fault.status().as_u16(), started.elapsed());
        self.metrics.request_ended();
        if let Some(f) = flight {
            f.failed(fault.status().as_u16(), fault_kind(fault));
        }
        error_response(provider, fault, message, streaming)
    }

    /// An error the proxy answers before anything went upstream.
    fn refuse(
        &self,
        provider: Provider,
        fault: ProxyFault,
        message: &str,
        flight: Option<Flight>,
    ) -> Response<Body> {
        self.answered(error_response(provider, fault, message, false), flight)
    }

    /// Record the proxy's own error answer (its status says which) and return it.
    fn answered(&self, resp: Response<Body>, flight: Option<Flight>) -> Response<Body> {
        if let Some(f) = flight {
            let kind = match resp.status() {
                StatusCode::FORBIDDEN => ErrorKind::Forbidden,
                StatusCode::UNAUTHORIZED => ErrorKind::Unauthorized,
                _ => ErrorKind::BadRequest,
            };
            f.failed(resp.status().as_u16(), kind);
        }
        resp
    }

    fn body_error(
        &self,
        provider: Provider,
        e: crate::body::BoxError,
        flight: Option<Flight>,
    ) -> Response<Body> {
        let too_large = e
            .downcast_ref::<http_body_util::LengthLimitError>()
            .is_some()
            || e.downcast_ref::<TooLarge>().is_some();
        let (status, message) = if too_large {
            (
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("request body larger than {MAX_REQUEST_BODY} bytes"),
            )
        } else {
            (
                StatusCode::BAD_REQUEST,
                format!("could not read the request body: {e}"),
            )
        };
        let mut resp = error_response(provider, ProxyFault::NotFound, &message, false);
        *resp.status_mut() = status;
        self.answered(resp, flight)
    }

    /// Relay a WebSocket handshake; on `101` splice the two upgraded connections together.
    async fn websocket(
        &self,
        provider: Provider,
        upstream: &Upstream,
        mut req: Request<Incoming>,
        started: Instant,
        flight: Option<Flight>,
    ) -> Response<Body> {
        self.metrics.request_started(provider, 0);
        let transform = self.ws_transform.clone().or_else(|| {
            self.compression
                .ws_transform(req.uri().path(), self.local, self.metrics)
        });
        // With history on, a Responses socket's events are read for one row per response.
        let tracked = flight.is_some()
            && headroom_compress::Shape::of_path(req.uri().path())
                == Some(headroom_compress::Shape::Responses);
        let client_upgrade = hyper::upgrade::on(&mut req);
        let (mut parts, _body) = req.into_parts();
        let uri = match upstream_uri(upstream, &parts.uri) {
            Ok(uri) => uri,
            Err(resp) => {
                self.metrics.request_ended();
                return self.answered(resp(provider), flight);
            }
        };
        headers::sanitize_request(&mut parts.headers, true);
        if transform.is_some() || tracked {
            // permessage-deflate would compress the frames the relay has to read.
            parts.headers.remove(http::header::SEC_WEBSOCKET_EXTENSIONS);
        }
        parts.uri = uri;
        parts.version = http::Version::HTTP_11;
        let upstream_req = Request::from_parts(parts, Either::Left(Full::new(Bytes::new())));
        let resp = match tokio::time::timeout(
            self.config.upstream_timeout,
            self.upstreams.upgrade_client.request(upstream_req),
        )
        .await
        {
            Ok(Ok(resp)) => resp,
            Ok(Err(e)) => {
                self.metrics.upstream_unreachable();
                let msg = format!(
                    "headroom could not reach {} at {}: {}",
                    provider.as_str(),
                    upstream.display(),
                    upstream_cause(&e)
                );
                return self.fail(
                    provider,
                    ProxyFault::Unreachable,
                    &msg,
                    false,
                    started,
                    flight,
                );
            }
            Err(_) => {
                self.metrics.upstream_timeout();
                let msg = format!("{} sent no WebSocket handshake answer", upstream.display());
                return self.fail(provider, ProxyFault::Timeout, &msg, false, started, flight);
            }
        };
        self.metrics
            .response_started(resp.status().as_u16(), started.elapsed());
        if resp.status() != StatusCode::SWITCHING_PROTOCOLS {
            // Refused upgrade: the upstream's answer goes back as is (the client falls back).
            let mut flight = flight;
            if let Some(f) = flight.as_mut() {
                f.headers(resp.status().as_u16());
            }
            return self.relay(provider, resp, false, flight);
        }
        self.metrics.websocket_opened();
        let status = resp.status().as_u16();
        let rows = match flight {
            Some(f) if tracked => Some(f.session(status)),
            Some(f) => {
                f.upgraded(status);
                None
            }
            None => None,
        };
        let (mut parts, _) = resp.into_parts();
        let upstream_upgrade = hyper::upgrade::on(Response::from_parts(parts.clone(), ()));
        headers::sanitize_response(&mut parts.headers, true);
        let metrics = self.metrics.clone();
        tokio::spawn(async move {
            match tokio::try_join!(client_upgrade, upstream_upgrade) {
                Ok((client, upstream)) => {
                    let mut client = TokioIo::new(client);
                    let mut upstream = TokioIo::new(upstream);
                    let relayed = match (transform, rows) {
                        (None, None) => tokio::io::copy_bidirectional(&mut client, &mut upstream)
                            .await
                            .map(drop),
                        (t, rows) => crate::ws::relay(client, upstream, t, rows).await,
                    };
                    if let Err(e) = relayed {
                        tracing::debug!("websocket relay ended: {e}");
                    }
                }
                Err(e) => {
                    tracing::warn!("websocket upgrade failed: {e}");
                    if let Some(rows) = rows {
                        rows.handshake();
                    }
                }
            }
            metrics.request_ended();
        });
        Response::from_parts(parts, crate::body::empty())
    }
}

/// A declared `content-length` over [`MAX_REQUEST_BODY`].
#[derive(Debug)]
struct TooLarge;

impl std::fmt::Display for TooLarge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "request body larger than {MAX_REQUEST_BODY} bytes")
    }
}

impl std::error::Error for TooLarge {}

/// A request body as read before forwarding.
enum Read {
    /// Whole and contiguous (compression reads it).
    Whole(Bytes),
    /// The chunks read so far, as they came (the whole body when no rest follows).
    Chunks(VecDeque<Bytes>),
}

/// Read a body until it ends or [`PEEK`] bytes are in; the rest, if any, is returned unread.
async fn peek(mut body: Incoming) -> Result<(Read, Scan, Option<Incoming>), crate::body::BoxError> {
    let mut head = VecDeque::new();
    let mut scan = Scan::default();
    loop {
        if hyper::body::Body::is_end_stream(&body) {
            return Ok((Read::Chunks(head), scan, None));
        }
        if scan.bytes() >= PEEK {
            return Ok((Read::Chunks(head), scan, Some(body)));
        }
        match body.frame().await {
            None => return Ok((Read::Chunks(head), scan, None)),
            Some(Err(e)) => return Err(e.into()),
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    scan.feed(&data);
                    if scan.bytes() > MAX_REQUEST_BODY as u64 {
                        return Err(Box::new(TooLarge));
                    }
                    if !data.is_empty() {
                        head.push_back(data);
                    }
                }
            }
        }
    }
}

type ErrorResponder = Box<dyn FnOnce(Provider) -> Response<Body> + Send>;

fn upstream_uri(upstream: &Upstream, client_uri: &Uri) -> Result<Uri, ErrorResponder> {
    let pq = client_uri
        .path_and_query()
        .map(|pq| pq.as_str())
        .unwrap_or("/");
    upstream.join(pq).map_err(|e| {
        let message = format!("cannot forward {pq}: {e}");
        Box::new(move |provider| error_response(provider, ProxyFault::NotFound, &message, false))
            as ErrorResponder
    })
}

/// Why an upstream could not be reached, for the 502 body: a certificate rejection is its own
/// clean line (the issuer and the fix), anything else the whole chain.
fn upstream_cause(e: &(dyn std::error::Error + 'static)) -> String {
    crate::egress::trust::rejection(e)
        .map(ToString::to_string)
        .unwrap_or_else(|| error_chain(e))
}

/// An error and its causes on one line ("client error (Connect): tcp connect error: Connection refused").
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

/// The address a request came from, for the loopback rules.
#[derive(Debug, Clone, Copy)]
pub struct Peer(pub SocketAddr);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_by_path_then_by_headers() {
        let none = http::HeaderMap::new();
        let mut anth = http::HeaderMap::new();
        anth.insert("anthropic-version", "2023-06-01".parse().unwrap());
        assert_eq!(route("/v1/messages", &none), Some(Provider::Anthropic));
        assert_eq!(
            route("/v1/messages/count_tokens", &none),
            Some(Provider::Anthropic)
        );
        assert_eq!(route("/v1/chat/completions", &anth), Some(Provider::OpenAi));
        assert_eq!(route("/v1/responses", &none), Some(Provider::OpenAi));
        assert_eq!(route("/v1/embeddings", &none), Some(Provider::OpenAi));
        assert_eq!(route("/v1/models", &none), Some(Provider::OpenAi));
        assert_eq!(route("/v1/models", &anth), Some(Provider::Anthropic));
        assert_eq!(route("/v2/x", &none), None);
        assert_eq!(route("/", &none), None);
    }

    #[test]
    fn stream_flag_found_without_parsing() {
        assert!(wants_stream(br#"{"model":"m","stream":true}"#));
        assert!(wants_stream(b"{\"stream\" :\n true}"));
        assert!(!wants_stream(br#"{"stream":false}"#));
        assert!(!wants_stream(br#"{"content":"\"stream\" is a word"}"#));
        assert!(!wants_stream(b"not json at all \"stream\""));
        assert!(!wants_stream(b""));
    }

    #[test]
    fn model_is_the_top_level_key_only() {
        let m = |b: &str| model_of(b.as_bytes());
        assert_eq!(
            m(r#"{"model":"claude-sonnet-4-5","stream":true}"#).as_deref(),
            Some("claude-sonnet-4-5")
        );
        assert_eq!(
            m(r#"{"messages":[{"content":"say \"model\": \"x\"","model":"nested"}], "model" : "gpt-5\u002dmini"}"#)
                .as_deref(),
            Some("gpt-5-mini")
        );
        assert_eq!(m(r#"{"metadata":{"model":"nested"}}"#), None);
        assert_eq!(m(r#"{"model":7}"#), None);
        assert_eq!(m(r#"{"model":"unterminated"#), None);
        assert_eq!(m("not json"), None);
    }
}
