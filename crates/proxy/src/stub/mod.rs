//! A loopback stand-in for the Anthropic and OpenAI APIs (feature `stub`): the only mock in the
//! test suites, because the real servers cannot exist offline. It answers the endpoints the real
//! clients use (JSON, SSE, and Codex's WebSocket), records every request it receives, and injects
//! faults on demand through the `x-stub-fault` request header:
//!
//! * `status:<code>`: answer with that status and a provider-shaped error (429 adds `retry-after`);
//! * `reset-mid-stream`: send the first SSE events (on a WebSocket handshake: each response's
//!   first two events), then break the connection;
//! * `stall`: never answer;
//! * `slow-stream:<ms>`: SSE events (a WebSocket's response events) `<ms>` apart;
//! * `echo`: answer with the headers that arrived (header-hygiene tests).
//!
//! With [`StubOptions::tls`] it serves HTTPS (h2 or HTTP/1.1 by ALPN) with the given certificate,
//! as a real provider or a corporate gateway would.

pub mod ca;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures_util::stream::{self, StreamExt};
use http::{HeaderMap, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::body::{Body, BoxError, full};

pub const TEXT: &str = "Hello from the headroom test upstream.";
const INPUT_TOKENS: u64 = 12;
const OUTPUT_TOKENS: u64 = 9;

#[derive(Debug, Clone, Default)]
pub struct StubOptions {
    /// 0 picks a free port.
    pub port: u16,
    /// Append each request as a JSON line here (for tests driving a stub in another process).
    pub record_file: Option<PathBuf>,
    /// Refuse WebSocket upgrades (426), as a server without WebSocket support would.
    pub no_websocket: bool,
    /// Serve HTTPS with this certificate instead of plain HTTP.
    pub tls: Option<StubTls>,
}

/// The stand-in's server certificate, in PEM.
#[derive(Debug, Clone)]
pub struct StubTls {
    /// The leaf first, then any intermediates.
    pub cert_chain_pem: String,
    pub key_pem: String,
}

impl StubTls {
    /// A TLS acceptor for this certificate; a certificate or key that does not load is
    /// `InvalidInput` naming which.
    fn acceptor(&self) -> std::io::Result<tokio_rustls::TlsAcceptor> {
        use rustls::pki_types::pem::PemObject as _;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let invalid = |what: &str, e: &dyn std::fmt::Display| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("stub TLS {what}: {e}"),
            )
        };
        let chain = CertificateDer::pem_slice_iter(self.cert_chain_pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| invalid("certificate", &e))?;
        let key = PrivateKeyDer::from_pem_slice(self.key_pem.as_bytes())
            .map_err(|e| invalid("key", &e))?;
        let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| invalid("protocol versions", &e))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| invalid("certificate", &e))?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
    }
}

#[derive(Clone)]
struct Shared {
    records: Arc<Mutex<Vec<Value>>>,
    ws_messages: Arc<Mutex<Vec<Vec<u8>>>>,
    tls: Option<tokio_rustls::TlsAcceptor>,
    options: StubOptions,
}

impl Shared {
    fn new(options: StubOptions) -> std::io::Result<Self> {
        Ok(Self {
            records: Arc::default(),
            ws_messages: Arc::default(),
            tls: options.tls.as_ref().map(StubTls::acceptor).transpose()?,
            options,
        })
    }
}

/// A running stub on its own thread and runtime, stopped on drop. Usable from sync and async tests.
pub struct Stub {
    pub addr: SocketAddr,
    https: bool,
    records: Arc<Mutex<Vec<Value>>>,
    ws_messages: Arc<Mutex<Vec<Vec<u8>>>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Stub {
    pub fn start() -> std::io::Result<Self> {
        Self::start_with(StubOptions::default())
    }

    pub fn start_with(options: StubOptions) -> std::io::Result<Self> {
        let std_listener = std::net::TcpListener::bind(("127.0.0.1", options.port))?;
        std_listener.set_nonblocking(true)?;
        let addr = std_listener.local_addr()?;
        let shared = Shared::new(options)?;
        let https = shared.tls.is_some();
        let records = shared.records.clone();
        let ws_messages = shared.ws_messages.clone();
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let thread = std::thread::Builder::new()
            .name("upstream-stub".into())
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .expect("stub runtime");
                rt.block_on(async move {
                    let listener = TcpListener::from_std(std_listener).expect("stub listener");
                    tokio::select! {
                        () = serve(listener, shared) => {},
                        _ = stopped => {},
                    }
                });
                rt.shutdown_timeout(Duration::from_millis(100));
            })?;
        Ok(Self {
            addr,
            https,
            records,
            ws_messages,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// `https://` when serving TLS.
    pub fn url(&self) -> String {
        let scheme = if self.https { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// Every request received so far: `{method, path, query, headers, body_len, stream, body}`.
    pub fn requests(&self) -> Vec<Value> {
        self.records.lock().unwrap().clone()
    }

    /// Forget the requests recorded so far (a long benchmark would otherwise hold them all).
    pub fn clear_requests(&self) {
        self.records.lock().unwrap().clear();
    }

    /// Every WebSocket text message received so far (payload unmasked, fragments joined), in
    /// order across all sessions.
    pub fn ws_messages(&self) -> Vec<Vec<u8>> {
        self.ws_messages.lock().unwrap().clone()
    }
}

impl Drop for Stub {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Serve on an already bound listener until the future is dropped.
async fn serve(listener: TcpListener, shared: Shared) {
    let builder = auto::Builder::new(TokioExecutor::new());
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let shared = shared.clone();
        let builder = builder.clone();
        tokio::spawn(async move {
            match shared.tls.clone() {
                // A failed handshake is the client's to report (an untrusted certificate).
                Some(acceptor) => {
                    if let Ok(Ok(tls)) =
                        tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await
                    {
                        serve_connection(tls, shared, builder).await;
                    }
                }
                None => serve_connection(stream, shared, builder).await,
            }
        });
    }
}

const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

async fn serve_connection<I>(io: I, shared: Shared, builder: auto::Builder<TokioExecutor>)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = service_fn(move |req| {
        let shared = shared.clone();
        async move { Ok::<_, Infallible>(handle(shared, req).await) }
    });
    let _ = builder
        .serve_connection_with_upgrades(TokioIo::new(io), service)
        .await;
}

/// The standalone form (`cargo run --example upstream_stub`): serve until the process ends.
pub async fn serve_forever(options: StubOptions) -> std::io::Result<()> {
    let shared = Shared::new(options)?;
    let listener = TcpListener::bind(("127.0.0.1", shared.options.port)).await?;
    println!("listening on {}", listener.local_addr()?);
    use std::io::Write as _;
    let _ = std::io::stdout().flush();
    serve(listener, shared).await;
    Ok(())
}

async fn handle(shared: Shared, mut req: Request<Incoming>) -> Response<Body> {
    let headers = req.headers().clone();
    let path = req.uri().path().to_owned();
    let query = req.uri().query().unwrap_or("").to_owned();
    let method = req.method().clone();
    let upgrade = crate::headers::is_websocket_upgrade(&headers);
    let on_upgrade = upgrade.then(|| hyper::upgrade::on(&mut req));
    let body = req
        .into_body()
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    // A large body (a benchmark's 1 MB history) is not parsed whole: the proxy's own scan finds
    // its `stream` and `model`, so the stand-in is not the bottleneck of what it measures.
    let (body_json, scanned) = if body.len() <= 64 * 1024 {
        (serde_json::from_slice(&body).unwrap_or(Value::Null), None)
    } else {
        (Value::Null, Some(crate::upload::Scan::of(&body)))
    };
    let streaming = match &scanned {
        Some(scan) => scan.stream(),
        None => body_json.get("stream") == Some(&Value::Bool(true)),
    };
    record(
        &shared,
        json!({
            "method": method.as_str(),
            "path": path,
            "query": query,
            "headers": headers_json(&headers),
            "body_len": body.len(),
            "stream": streaming,
            "websocket": upgrade,
            "body": if body.len() <= 64 * 1024 { body_json.clone() } else { Value::Null },
        }),
    );
    // A gateway serves the API under a prefix (`/corp/v1/messages`, or Azure-style with the
    // version in the base: `/corp/responses`): answer as the API would, while the record keeps
    // the full path the proxy sent.
    const ENDPOINTS: &[&str] = &["/responses", "/chat/completions", "/embeddings", "/models"];
    let path = match path.find("/v1/") {
        Some(at) if at > 0 => path[at..].to_owned(),
        Some(_) => path,
        None => ENDPOINTS
            .iter()
            .find(|e| path.ends_with(*e))
            .map_or(path, |e| format!("/v1{e}")),
    };
    let anthropic = path.starts_with("/v1/messages")
        || headers.contains_key("anthropic-version")
        || headers.contains_key("x-api-key");
    let model = match &scanned {
        Some(scan) => scan.model(),
        None => body_json
            .get("model")
            .and_then(|m| m.as_str())
            .map(str::to_owned),
    }
    .unwrap_or_else(|| "stub-model".to_owned());

    let fault = headers
        .get("x-stub-fault")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    if let Some(code) = fault.strip_prefix("status:") {
        let code = code.parse().unwrap_or(500);
        return error(
            anthropic,
            StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        );
    }
    match fault.as_str() {
        "stall" => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
        }
        "echo" => return json_resp(StatusCode::OK, json!({ "headers": headers_json(&headers) })),
        _ => {}
    }
    let delay = fault
        .strip_prefix("slow-stream:")
        .and_then(|ms| ms.parse().ok())
        .map(Duration::from_millis);
    let reset = fault == "reset-mid-stream";

    if let Some(on_upgrade) = on_upgrade {
        return websocket(&shared, &headers, on_upgrade, model, delay, reset);
    }
    match (method.as_str(), path.as_str()) {
        ("POST", "/v1/messages") if streaming => sse(anthropic_events(&model), delay, reset),
        ("POST", "/v1/messages") => json_resp(StatusCode::OK, anthropic_message(&model)),
        ("POST", "/v1/messages/count_tokens") => {
            json_resp(StatusCode::OK, json!({ "input_tokens": INPUT_TOKENS }))
        }
        ("POST", "/v1/chat/completions") if streaming => sse(chat_events(&model), delay, reset),
        ("POST", "/v1/chat/completions") => json_resp(StatusCode::OK, chat_completion(&model)),
        ("POST", "/v1/responses") if streaming => sse(
            responses_events(&model)
                .into_iter()
                .map(|(e, d)| (Some(e), d))
                .collect(),
            delay,
            reset,
        ),
        ("POST", "/v1/responses") => {
            json_resp(StatusCode::OK, response_object(&model, "completed"))
        }
        ("POST", "/v1/embeddings") => json_resp(
            StatusCode::OK,
            json!({
                "object": "list",
                "data": [{ "object": "embedding", "index": 0, "embedding": [0.0, 0.5, 1.0] }],
                "model": model,
                "usage": { "prompt_tokens": 3, "total_tokens": 3 },
            }),
        ),
        ("GET", "/v1/models") if anthropic => json_resp(
            StatusCode::OK,
            json!({
                "data": [{ "type": "model", "id": "claude-stub", "display_name": "Stub", "created_at": "2025-01-01T00:00:00Z" }],
                "has_more": false, "first_id": "claude-stub", "last_id": "claude-stub",
            }),
        ),
        ("GET", "/v1/models") => json_resp(
            StatusCode::OK,
            json!({ "object": "list", "data": [{ "id": "gpt-stub", "object": "model", "created": 0, "owned_by": "stub" }] }),
        ),
        _ => error(anthropic, StatusCode::NOT_FOUND),
    }
}

fn record(shared: &Shared, entry: Value) {
    if let Some(file) = &shared.options.record_file {
        use std::io::Write as _;
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(file)
        {
            let _ = writeln!(f, "{entry}");
        }
    }
    shared.records.lock().unwrap().push(entry);
}

fn headers_json(headers: &HeaderMap) -> Value {
    let mut map = serde_json::Map::new();
    for (k, v) in headers {
        map.insert(
            k.as_str().to_owned(),
            Value::String(String::from_utf8_lossy(v.as_bytes()).into_owned()),
        );
    }
    Value::Object(map)
}

fn json_resp(status: StatusCode, value: Value) -> Response<Body> {
    let mut resp = Response::new(full(value.to_string()));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, "application/json".parse().unwrap());
    h.insert("request-id", "req_stub_json".parse().unwrap());
    h.insert("x-request-id", "req_stub_json".parse().unwrap());
    resp
}

fn error(anthropic: bool, status: StatusCode) -> Response<Body> {
    let body = if anthropic {
        json!({ "type": "error", "error": { "type": "stub_error", "message": format!("stub says {status}") } })
    } else {
        json!({ "error": { "message": format!("stub says {status}"), "type": "stub_error", "param": null, "code": null } })
    };
    let mut resp = json_resp(status, body);
    if status == StatusCode::TOO_MANY_REQUESTS {
        resp.headers_mut()
            .insert("retry-after", "1".parse().unwrap());
    }
    resp
}

type Event = (Option<&'static str>, Value);

/// An SSE response from events, optionally paced, optionally broken after the second event.
fn sse(events: Vec<Event>, delay: Option<Duration>, reset: bool) -> Response<Body> {
    let mut frames: Vec<Result<Bytes, BoxError>> = events
        .into_iter()
        .map(|(name, data)| {
            Ok(Bytes::from(match name {
                Some(n) => format!("event: {n}\ndata: {data}\n\n"),
                None if data == Value::Null => "data: [DONE]\n\n".to_owned(),
                None => format!("data: {data}\n\n"),
            }))
        })
        .collect();
    if reset {
        frames.truncate(2);
        frames.push(Err("stub: connection reset mid-stream".into()));
    }
    let body = stream::iter(frames).then(move |frame| async move {
        // A break only looks like one once the first events are on the wire.
        let pause = if frame.is_err() {
            Some(Duration::from_millis(50))
        } else {
            delay
        };
        if let Some(d) = pause {
            tokio::time::sleep(d).await;
        }
        frame.map(Frame::data)
    });
    let mut resp = Response::new(BodyExt::boxed_unsync(StreamBody::new(body)));
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, "text/event-stream".parse().unwrap());
    h.insert(header::CACHE_CONTROL, "no-cache".parse().unwrap());
    h.insert("request-id", "req_stub_stream".parse().unwrap());
    h.insert("x-request-id", "req_stub_stream".parse().unwrap());
    resp
}

fn anthropic_message(model: &str) -> Value {
    json!({
        "id": "msg_stub", "type": "message", "role": "assistant", "model": model,
        "content": [{ "type": "text", "text": TEXT }],
        "stop_reason": "end_turn", "stop_sequence": null,
        "usage": { "input_tokens": INPUT_TOKENS, "output_tokens": OUTPUT_TOKENS },
    })
}

fn anthropic_events(model: &str) -> Vec<Event> {
    let (first, rest) = TEXT.split_at(6);
    vec![
        (
            Some("message_start"),
            json!({ "type": "message_start", "message": {
                "id": "msg_stub", "type": "message", "role": "assistant", "model": model,
                "content": [], "stop_reason": null, "stop_sequence": null,
                "usage": { "input_tokens": INPUT_TOKENS, "output_tokens": 1 } } }),
        ),
        (
            Some("content_block_start"),
            json!({ "type": "content_block_start", "index": 0, "content_block": { "type": "text", "text": "" } }),
        ),
        (Some("ping"), json!({ "type": "ping" })),
        (
            Some("content_block_delta"),
            json!({ "type": "content_block_delta", "index": 0, "delta": { "type": "text_delta", "text": first } }),
        ),
        (
            Some("content_block_delta"),
            json!({ "type": "content_block_delta", "index": 0, "delta": { "type": "text_delta", "text": rest } }),
        ),
        (
            Some("content_block_stop"),
            json!({ "type": "content_block_stop", "index": 0 }),
        ),
        (
            Some("message_delta"),
            json!({ "type": "message_delta", "delta": { "stop_reason": "end_turn", "stop_sequence": null },
                    "usage": { "output_tokens": OUTPUT_TOKENS } }),
        ),
        (Some("message_stop"), json!({ "type": "message_stop" })),
    ]
}

fn chat_completion(model: &str) -> Value {
    json!({
        "id": "chatcmpl-stub", "object": "chat.completion", "created": 0, "model": model,
        "choices": [{ "index": 0, "message": { "role": "assistant", "content": TEXT }, "finish_reason": "stop" }],
        "usage": { "prompt_tokens": INPUT_TOKENS, "completion_tokens": OUTPUT_TOKENS, "total_tokens": INPUT_TOKENS + OUTPUT_TOKENS },
    })
}

fn chat_events(model: &str) -> Vec<Event> {
    let chunk = |delta: Value, finish: Value| {
        json!({ "id": "chatcmpl-stub", "object": "chat.completion.chunk", "created": 0, "model": model,
                "choices": [{ "index": 0, "delta": delta, "finish_reason": finish }] })
    };
    let (first, rest) = TEXT.split_at(6);
    vec![
        (
            None,
            chunk(json!({ "role": "assistant", "content": "" }), Value::Null),
        ),
        (None, chunk(json!({ "content": first }), Value::Null)),
        (None, chunk(json!({ "content": rest }), Value::Null)),
        (None, chunk(json!({}), json!("stop"))),
        (
            None,
            json!({ "id": "chatcmpl-stub", "object": "chat.completion.chunk", "created": 0, "model": model, "choices": [],
                    "usage": { "prompt_tokens": INPUT_TOKENS, "completion_tokens": OUTPUT_TOKENS, "total_tokens": INPUT_TOKENS + OUTPUT_TOKENS } }),
        ),
        (None, Value::Null),
    ]
}

fn message_item(status: &str) -> Value {
    json!({ "type": "message", "id": "msg_stub", "status": status, "role": "assistant",
            "content": if status == "completed" { json!([{ "type": "output_text", "text": TEXT, "annotations": [] }]) } else { json!([]) } })
}

fn response_object(model: &str, status: &str) -> Value {
    let done = status == "completed";
    json!({
        "id": "resp_stub", "object": "response", "created_at": 0, "status": status, "model": model,
        "output": if done { json!([message_item("completed")]) } else { json!([]) },
        "usage": if done { json!({
            "input_tokens": INPUT_TOKENS, "input_tokens_details": { "cached_tokens": 0 },
            "output_tokens": OUTPUT_TOKENS, "output_tokens_details": { "reasoning_tokens": 0 },
            "total_tokens": INPUT_TOKENS + OUTPUT_TOKENS }) } else { Value::Null },
    })
}

/// The Responses API event sequence Codex expects, as (event name, data).
fn responses_events(model: &str) -> Vec<(&'static str, Value)> {
    vec![
        (
            "response.created",
            json!({ "type": "response.created", "response": response_object(model, "in_progress") }),
        ),
        (
            "response.output_item.added",
            json!({ "type": "response.output_item.added", "output_index": 0, "item": message_item("in_progress") }),
        ),
        (
            "response.output_text.delta",
            json!({ "type": "response.output_text.delta", "item_id": "msg_stub", "output_index": 0, "content_index": 0, "delta": TEXT }),
        ),
        (
            "response.output_item.done",
            json!({ "type": "response.output_item.done", "output_index": 0, "item": message_item("completed") }),
        ),
        (
            "response.completed",
            json!({ "type": "response.completed", "response": response_object(model, "completed") }),
        ),
    ]
}

// --- WebSocket (RFC 6455), just enough for a relay test and Codex's responses socket ----------

fn websocket(
    shared: &Shared,
    headers: &HeaderMap,
    on_upgrade: hyper::upgrade::OnUpgrade,
    model: String,
    delay: Option<Duration>,
    reset: bool,
) -> Response<Body> {
    if shared.options.no_websocket {
        return json_resp(
            StatusCode::UPGRADE_REQUIRED,
            json!({ "error": { "message": "websockets disabled in this stub" } }),
        );
    }
    let Some(key) = headers.get("sec-websocket-key") else {
        return error(false, StatusCode::BAD_REQUEST);
    };
    use base64::Engine as _;
    use sha1::Digest as _;
    let mut sha = sha1::Sha1::new();
    sha.update(key.as_bytes());
    sha.update(b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
    let accept = base64::engine::general_purpose::STANDARD.encode(sha.finalize());
    let messages = shared.ws_messages.clone();
    tokio::spawn(async move {
        if let Ok(upgraded) = on_upgrade.await {
            let faults = WsFaults { delay, reset };
            let _ = ws_session(TokioIo::new(upgraded), &model, &messages, faults).await;
        }
    });
    let mut resp = Response::new(crate::body::empty());
    *resp.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = resp.headers_mut();
    h.insert(header::CONNECTION, "upgrade".parse().unwrap());
    h.insert(header::UPGRADE, "websocket".parse().unwrap());
    h.insert("sec-websocket-accept", accept.parse().unwrap());
    h.insert("request-id", "req_stub_ws".parse().unwrap());
    resp
}

/// The handshake's `x-stub-fault` for a socket's responses: `slow-stream:MS` waits between
/// events, `reset-mid-stream` drops the connection after the second event.
#[derive(Clone, Copy)]
struct WsFaults {
    delay: Option<Duration>,
    reset: bool,
}

/// Echo text messages, except `response.create`, which gets the Responses event sequence.
/// Fragmented messages are joined (control frames may come between fragments).
async fn ws_session<S: AsyncRead + AsyncWrite + Unpin>(
    mut io: S,
    model: &str,
    messages: &Mutex<Vec<Vec<u8>>>,
    faults: WsFaults,
) -> std::io::Result<()> {
    // The opcode and payload so far of a fragmented message.
    let mut partial: Option<(u8, Vec<u8>)> = None;
    loop {
        let Some((fin, opcode, payload)) = read_frame_fin(&mut io).await? else {
            return Ok(());
        };
        let (opcode, payload) = match (opcode, partial.take()) {
            (0x0, Some((first, mut so_far))) => {
                so_far.extend_from_slice(&payload);
                (first, so_far)
            }
            (op, open) if op >= 0x8 => {
                partial = open;
                (op, payload)
            }
            (op, _) => (op, payload),
        };
        if !fin && opcode < 0x8 {
            partial = Some((opcode, payload));
            continue;
        }
        match opcode {
            0x1 => {
                messages.lock().unwrap().push(payload.clone());
                let msg: Value = serde_json::from_slice(&payload).unwrap_or(Value::Null);
                if msg.get("type").and_then(|t| t.as_str()) == Some("response.create") {
                    for (i, (_, event)) in responses_events(model).into_iter().enumerate() {
                        if faults.reset && i == 2 {
                            return Ok(());
                        }
                        if let (Some(d), true) = (faults.delay, i > 0) {
                            tokio::time::sleep(d).await;
                        }
                        write_frame(&mut io, 0x1, event.to_string().as_bytes()).await?;
                    }
                } else {
                    write_frame(&mut io, 0x1, &payload).await?;
                }
            }
            0x2 => write_frame(&mut io, 0x2, &payload).await?,
            0x8 => {
                write_frame(&mut io, 0x8, &payload).await?;
                return Ok(());
            }
            0x9 => write_frame(&mut io, 0xA, &payload).await?,
            _ => {}
        }
    }
}

/// One frame's opcode and unmasked payload (fragments are not joined); `None` at end of stream.
pub async fn read_frame<S: AsyncRead + Unpin>(
    io: &mut S,
) -> std::io::Result<Option<(u8, Vec<u8>)>> {
    Ok(read_frame_fin(io)
        .await?
        .map(|(_, op, payload)| (op, payload)))
}

/// One frame as (FIN, opcode, unmasked payload); `None` at end of stream.
async fn read_frame_fin<S: AsyncRead + Unpin>(
    io: &mut S,
) -> std::io::Result<Option<(bool, u8, Vec<u8>)>> {
    let mut head = [0u8; 2];
    if io.read_exact(&mut head).await.is_err() {
        return Ok(None);
    }
    let fin = head[0] & 0x80 != 0;
    let opcode = head[0] & 0x0F;
    let masked = head[1] & 0x80 != 0;
    let len = match head[1] & 0x7F {
        126 => io.read_u16().await? as u64,
        127 => io.read_u64().await?,
        n => n as u64,
    };
    let mut mask = [0u8; 4];
    if masked {
        io.read_exact(&mut mask).await?;
    }
    let mut payload = vec![0u8; len as usize];
    io.read_exact(&mut payload).await?;
    if masked {
        for (i, b) in payload.iter_mut().enumerate() {
            *b ^= mask[i % 4];
        }
    }
    Ok(Some((fin, opcode, payload)))
}

/// One unfragmented frame; `mask` for the client side (clients must mask, servers must not).
pub async fn write_frame_with<S: AsyncWrite + Unpin>(
    io: &mut S,
    opcode: u8,
    payload: &[u8],
    mask: Option<[u8; 4]>,
) -> std::io::Result<()> {
    let mut out = Vec::new();
    crate::ws::encode_frame(true, opcode, payload, mask, &mut out);
    io.write_all(&out).await?;
    io.flush().await
}

async fn write_frame<S: AsyncWrite + Unpin>(
    io: &mut S,
    opcode: u8,
    payload: &[u8],
) -> std::io::Result<()> {
    write_frame_with(io, opcode, payload, None).await
}
