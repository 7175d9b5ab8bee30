//! The usage history through a real proxy against the upstream stand-in: one row per request,
//! and `headroom stats`' numbers (the Reader's) are the sums of what the requests got.

use std::path::Path;
use std::time::{Duration, SystemTime};

use headroom_proxy::config::AllowedUpstream;
use headroom_proxy::stub::{Stub, read_frame};
use headroom_proxy::ws::encode_frame;
use headroom_usage::query::{By, Reader, Since, Stats};
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

mod support;
use support::{ANTHROPIC, Proxy, TestClient, client, json, send, ws_handshake};

/// What the stand-in reports in every successful answer's `usage`.
const STUB_INPUT: u64 = 12;
const STUB_OUTPUT: u64 = 9;

const CLAUDE_UA: &str = "claude-cli/2.0.14 (external, cli)";
const OPENAI_UA: &str = "OpenAI/JS 5.23.0";

fn stats(db: &Path, by: Option<By>) -> Stats {
    Reader::open(db)
        .unwrap()
        .stats(Since::All, by, SystemTime::now())
        .unwrap()
}

fn anthropic(
    ua: &str,
    project: Option<&str>,
    extra: &[(&'static str, &str)],
) -> Vec<(String, String)> {
    let mut h: Vec<(String, String)> = ANTHROPIC
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    h.push(("user-agent".into(), ua.into()));
    if let Some(p) = project {
        h.push(("x-headroom-project".into(), p.into()));
    }
    h.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    h
}

async fn post(
    c: &TestClient,
    url: &str,
    headers: &[(String, String)],
    body: String,
) -> (u16, http::HeaderMap) {
    let h: Vec<(&str, &str)> = headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let (status, headers, _) = send(c, "POST", url, &h, body).await;
    (status.as_u16(), headers)
}

/// A tool result compression shrinks (the compression suite's registry answer).
fn compressible() -> String {
    let items: Vec<Value> = (0..80)
        .map(|i| {
            json!({"name": format!("crate-{i}"), "version": format!("0.{i}.1"), "downloads": 1000 * i,
                   "license": "MIT OR Apache-2.0", "yanked": false})
        })
        .collect();
    let output = serde_json::to_string_pretty(&json!({"crates": items})).unwrap();
    json!({
        "model": "claude-compressed", "max_tokens": 5,
        "messages": [
            {"role": "user", "content": "find crates"},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "Bash", "input": {"command": "curl registry"}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": output}]}
        ]
    })
    .to_string()
}

/// Wait until the proxy relays nothing (a WebSocket session's rows are written when it ends).
async fn settled(c: &TestClient, proxy: &Proxy) {
    for _ in 0..200 {
        let (_, _, body) = send(c, "GET", &proxy.url("/metrics"), &[], "").await;
        if String::from_utf8_lossy(&body).contains("\nheadroom_in_flight 0\n") {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the proxy still relays something after 10 s");
}

/// A `/metrics` counter's value (`name` includes its labels).
async fn metric(c: &TestClient, proxy: &Proxy, name: &str) -> u64 {
    let (_, _, body) = send(c, "GET", &proxy.url("/metrics"), &[], "").await;
    let text = String::from_utf8_lossy(&body).into_owned();
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {name} in {text}"))
}

/// Codex's message on its socket: a request with one shell call's output.
fn ws_create(model: &str, output: &str) -> String {
    json!({"type": "response.create", "model": model, "input": [
        {"type": "function_call", "call_id": "c1", "name": "shell", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "c1", "output": output}
    ]})
    .to_string()
}

async fn ws_send(tcp: &mut TcpStream, opcode: u8, payload: &[u8]) {
    let mut wire = Vec::new();
    encode_frame(true, opcode, payload, Some([7, 1, 0x5A, 0xC3]), &mut wire);
    tcp.write_all(&wire).await.unwrap();
}

/// The next server message's opcode and payload; `None` at end of stream.
async fn ws_read(tcp: &mut TcpStream) -> Option<(u8, Vec<u8>)> {
    tokio::time::timeout(Duration::from_secs(10), read_frame(tcp))
        .await
        .expect("a frame in time")
        .unwrap()
}

/// Read a response's events up to `response.completed`.
async fn ws_response(tcp: &mut TcpStream) {
    loop {
        let (op, payload) = ws_read(tcp).await.expect("an event");
        assert_eq!(op, 0x1);
        let event: Value = serde_json::from_slice(&payload).unwrap();
        if event["type"] == "response.completed" {
            return;
        }
    }
}

#[tokio::test]
async fn a_codex_websocket_session_is_one_row_per_response() {
    let stub = Stub::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("usage.db");
    let proxy = Proxy::start(&stub.url(), |c| c.usage.db = Some(db.clone())).await;
    let c = client();
    let (mut tcp, head) = ws_handshake(
        proxy.addr,
        "user-agent: codex_cli_rs/0.46.0\r\nx-headroom-project: cli-tool\r\n",
    )
    .await;
    assert!(head.starts_with("http/1.1 101"), "{head}");
    let plain = ws_create("gpt-5-codex", "ok");
    ws_send(&mut tcp, 0x1, plain.as_bytes()).await;
    ws_response(&mut tcp).await;
    // Not a request: no row.
    ws_send(&mut tcp, 0x1, br#"{"type":"session.update"}"#).await;
    assert_eq!(ws_read(&mut tcp).await.unwrap().0, 0x1);
    let items: Vec<Value> = (0..80)
        .map(|i| json!({"name": format!("crate-{i}"), "version": format!("0.{i}.1"), "license": "MIT"}))
        .collect();
    let big = ws_create(
        "gpt-5-mini",
        &serde_json::to_string_pretty(&json!({ "crates": items })).unwrap(),
    );
    ws_send(&mut tcp, 0x1, big.as_bytes()).await;
    ws_response(&mut tcp).await;
    ws_send(&mut tcp, 0x8, &[0x03, 0xE8]).await;
    assert_eq!(ws_read(&mut tcp).await.unwrap().0, 0x8);
    drop(tcp);
    settled(&c, &proxy).await;
    let before = metric(
        &c,
        &proxy,
        "headroom_compression_tokens_total{stage=\"before\"}",
    )
    .await;
    let after = metric(
        &c,
        &proxy,
        "headroom_compression_tokens_total{stage=\"after\"}",
    )
    .await;
    let saved = before - after;
    assert!(saved > 0);
    assert!(
        stub.ws_messages()[2].len() < big.len(),
        "compressed upstream"
    );
    proxy.shutdown().await;

    let mut rows = Reader::open(&db).unwrap().recent(10).unwrap();
    rows.reverse();
    let seen: Vec<_> = rows
        .iter()
        .map(|r| {
            (
                r.model.as_deref(),
                r.input_tokens,
                r.output_tokens,
                r.tokens_saved,
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            (Some("gpt-5-codex"), STUB_INPUT, STUB_OUTPUT, 0),
            (Some("gpt-5-mini"), STUB_INPUT, STUB_OUTPUT, saved)
        ]
    );
    for r in &rows {
        assert_eq!(
            (
                r.client.as_str(),
                r.project.as_deref(),
                r.status,
                r.error.as_deref()
            ),
            ("codex", Some("cli-tool"), 101, None)
        );
        assert!(r.ttfb_ms.unwrap() <= r.total_ms.unwrap(), "{r:?}");
    }
    let s = stats(&db, None);
    assert_eq!(
        (s.requests, s.input_tokens, s.output_tokens, s.tokens_saved),
        (2, 2 * STUB_INPUT, 2 * STUB_OUTPUT, saved)
    );
    let by_model = stats(&db, Some(By::Model));
    let mini = by_model
        .groups
        .iter()
        .find(|g| g.key == "gpt-5-mini")
        .unwrap();
    assert_eq!((mini.requests, mini.tokens_saved), (1, saved));
}

#[tokio::test]
async fn a_websocket_response_cut_short_is_one_row_that_says_why() {
    let stub = Stub::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("usage.db");
    let proxy = Proxy::start(&stub.url(), |c| c.usage.db = Some(db.clone())).await;
    let c = client();
    let create = ws_create("gpt-5-codex", "ok");
    // The upstream breaks the connection after two events.
    let (mut tcp, _) = ws_handshake(proxy.addr, "x-stub-fault: reset-mid-stream\r\n").await;
    ws_send(&mut tcp, 0x1, create.as_bytes()).await;
    for _ in 0..2 {
        assert_eq!(ws_read(&mut tcp).await.unwrap().0, 0x1);
    }
    assert!(
        ws_read(&mut tcp).await.is_none(),
        "the break reaches the client"
    );
    drop(tcp);
    settled(&c, &proxy).await;
    // The client goes away after the first of its slow events.
    let (mut tcp, _) = ws_handshake(proxy.addr, "x-stub-fault: slow-stream:300\r\n").await;
    ws_send(&mut tcp, 0x1, create.as_bytes()).await;
    assert_eq!(ws_read(&mut tcp).await.unwrap().0, 0x1);
    drop(tcp);
    settled(&c, &proxy).await;
    proxy.shutdown().await;

    let mut rows = Reader::open(&db).unwrap().recent(10).unwrap();
    rows.reverse();
    let seen: Vec<_> = rows
        .iter()
        .map(|r| {
            (
                r.error.as_deref(),
                r.model.as_deref(),
                r.input_tokens,
                r.ttfb_ms.is_some(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            (Some("stream_broken"), Some("gpt-5-codex"), 0, true),
            (Some("client_aborted"), Some("gpt-5-codex"), 0, true)
        ]
    );
}

#[tokio::test]
async fn stats_are_the_sums_of_what_went_through_the_proxy() {
    let stub = Stub::start().unwrap();
    // Nothing listens there: the allowed override makes one request's upstream unreachable.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_url = format!("http://{}", dead.local_addr().unwrap());
    drop(dead);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("usage.db");
    let proxy = Proxy::start(&stub.url(), |c| {
        c.usage.db = Some(db.clone());
        c.allowed_upstreams = vec![AllowedUpstream::parse(&dead_url).unwrap()];
    })
    .await;
    let c = client();
    let messages = proxy.url("/v1/messages");
    let chat = proxy.url("/v1/chat/completions");
    let openai = |stream: bool| -> (Vec<(String, String)>, String) {
        (
            vec![
                ("authorization".into(), "Bearer sk".into()),
                ("content-type".into(), "application/json".into()),
                ("user-agent".into(), OPENAI_UA.into()),
            ],
            json!({"model": "gpt-stub", "stream": stream, "messages": [{"role": "user", "content": "hi"}]}).to_string(),
        )
    };
    let small = |model: &str, stream: bool| {
        json!({"model": model, "max_tokens": 5, "stream": stream, "messages": [{"role": "user", "content": "hi"}]})
            .to_string()
    };

    // Five successful answers, each reporting the stand-in's usage.
    for _ in 0..2 {
        let h = anthropic(CLAUDE_UA, Some("web-app"), &[]);
        assert_eq!(
            post(&c, &messages, &h, small("claude-a", false)).await.0,
            200
        );
    }
    let h = anthropic(CLAUDE_UA, Some("web-app"), &[]);
    assert_eq!(
        post(&c, &messages, &h, small("claude-a", true)).await.0,
        200
    );
    for stream in [false, true] {
        let (h, body) = openai(stream);
        assert_eq!(post(&c, &chat, &h, body).await.0, 200);
    }
    // Compressed on the way: the answer says what it saved.
    let h = anthropic(CLAUDE_UA, None, &[]);
    let (status, answer) = post(&c, &messages, &h, compressible()).await;
    assert_eq!(status, 200);
    let saved: u64 = answer["x-headroom-tokens-saved"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(saved > 0);
    // Two failures: the upstream's 429, and an upstream nothing answers at.
    let h = anthropic(CLAUDE_UA, None, &[("x-stub-fault", "status:429")]);
    assert_eq!(
        post(&c, &messages, &h, small("claude-a", false)).await.0,
        429
    );
    let h = anthropic(CLAUDE_UA, None, &[("x-headroom-upstream", &dead_url)]);
    assert_eq!(
        post(&c, &messages, &h, small("claude-a", false)).await.0,
        502
    );
    // A WebSocket session that never asks for a response is its handshake's row (Codex).
    let (tcp, head) = ws_handshake(proxy.addr, "user-agent: codex_cli_rs/0.46.0\r\n").await;
    assert!(head.starts_with("http/1.1 101"), "{head}");
    drop(tcp);
    settled(&c, &proxy).await;

    proxy.shutdown().await;
    let s = stats(&db, None);
    assert_eq!(s.requests, 9);
    assert_eq!(s.input_tokens, 6 * STUB_INPUT);
    assert_eq!(s.output_tokens, 6 * STUB_OUTPUT);
    assert_eq!(s.tokens_saved, saved);
    assert_eq!(
        s.errors.into_iter().collect::<Vec<_>>(),
        [
            ("unreachable".to_owned(), 1),
            ("upstream_4xx".to_owned(), 1)
        ]
    );
    let by_client = stats(&db, Some(By::Client));
    let count = |key: &str| {
        by_client
            .groups
            .iter()
            .find(|g| g.key == key)
            .map_or(0, |g| g.requests)
    };
    assert_eq!(
        (count("claude-code"), count("openai-sdk"), count("codex")),
        (6, 2, 1)
    );
    let by_model = stats(&db, Some(By::Model));
    let model = by_model
        .groups
        .iter()
        .find(|g| g.key == "claude-compressed")
        .expect("the compressed request's model");
    assert_eq!((model.requests, model.tokens_saved), (1, saved));

    // The project is recorded, and never reaches the provider.
    let rows = Reader::open(&db).unwrap().recent(100).unwrap();
    assert_eq!(
        rows.iter()
            .filter(|r| r.project.as_deref() == Some("web-app"))
            .count(),
        3
    );
    let ws = rows.iter().find(|r| r.client == "codex").unwrap();
    assert_eq!((ws.status, ws.provider.as_str()), (101, "openai"));
    let unreachable = rows.iter().find(|r| r.status == 502).unwrap();
    assert_eq!(unreachable.error.as_deref(), Some("unreachable"));
    assert_eq!(unreachable.ttfb_ms, None);
    for r in stub.requests() {
        assert!(r["headers"].get("x-headroom-project").is_none(), "{r}");
    }
}

#[tokio::test]
async fn a_hostile_user_agent_and_project_are_capped() {
    let stub = Stub::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("usage.db");
    let proxy = Proxy::start(&stub.url(), |c| c.usage.db = Some(db.clone())).await;
    let c = client();
    let ua = format!("claude-cli/9 {}", "A".repeat(8000));
    let project = format!("<script>\t{}", "p".repeat(5000));
    let h = anthropic(&ua, Some(&project), &[]);
    let body = json!({"model": format!("m{}", "x".repeat(500)), "max_tokens": 5, "messages": []});
    assert_eq!(
        post(&c, &proxy.url("/v1/messages"), &h, body.to_string())
            .await
            .0,
        200
    );
    proxy.shutdown().await;

    let rows = Reader::open(&db).unwrap().recent(10).unwrap();
    let row = &rows[0];
    assert_eq!(row.client, "claude-code");
    let project = row.project.as_deref().unwrap();
    assert_eq!(project.chars().count(), 100);
    assert!(project.starts_with("<script>"), "{project}");
    assert!(!project.chars().any(char::is_control), "{project:?}");
    assert_eq!(row.model.as_deref().unwrap().chars().count(), 100);
}

#[tokio::test]
async fn history_off_writes_nothing_and_health_says_disabled() {
    let stub = Stub::start().unwrap();
    let proxy = Proxy::start(&stub.url(), |_| {}).await;
    let c = client();
    let h = anthropic(CLAUDE_UA, Some("p"), &[]);
    let body = json!({"model": "m", "max_tokens": 5, "messages": []}).to_string();
    assert_eq!(post(&c, &proxy.url("/v1/messages"), &h, body).await.0, 200);
    let (_, _, health) = send(&c, "GET", &proxy.url("/health"), &[], "").await;
    assert_eq!(json(&health)["usage_history"]["state"], "disabled");
    proxy.shutdown().await;
}

#[tokio::test]
async fn a_corrupt_history_leaves_the_proxy_serving_and_health_says_why() {
    let stub = Stub::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("usage.db");
    std::fs::write(
        &db,
        b"this is not a SQLite database, just bytes that look like one?".repeat(100),
    )
    .unwrap();
    let proxy = Proxy::start(&stub.url(), |c| c.usage.db = Some(db.clone())).await;
    let c = client();
    let h = anthropic(CLAUDE_UA, None, &[]);
    let body = json!({"model": "m", "max_tokens": 5, "messages": []}).to_string();
    assert_eq!(post(&c, &proxy.url("/v1/messages"), &h, body).await.0, 200);

    // The file is checked off the start path: health says `opening` until it is known, and the
    // row recorded meanwhile is counted once the writer knows it cannot keep it.
    let mut history = serde_json::Value::Null;
    for _ in 0..200 {
        let (status, _, health) = send(&c, "GET", &proxy.url("/health"), &[], "").await;
        assert_eq!(status, 200);
        history = json(&health)["usage_history"].clone();
        if history["state"] != "opening" && history["dropped"] == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert_eq!(history["state"], "unavailable", "{history}");
    let reason = history["reason"].as_str().unwrap();
    assert!(
        reason.contains("usage.db") && !reason.contains('\n'),
        "{reason}"
    );
    assert_eq!(history["dropped"], 1, "{history}");
    proxy.shutdown().await;
    // The file is the user's to move away, never overwritten.
    assert!(
        std::fs::read(&db)
            .unwrap()
            .starts_with(b"this is not a SQLite")
    );
}

#[tokio::test]
async fn a_client_gone_before_the_answer_is_one_aborted_row() {
    let stub = Stub::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("usage.db");
    let proxy = Proxy::start(&stub.url(), |c| {
        c.usage.db = Some(db.clone());
        c.drain_timeout = Duration::from_secs(2);
    })
    .await;
    let c = client();
    let h = anthropic(CLAUDE_UA, None, &[("x-stub-fault", "stall")]);
    let body = json!({"model": "m", "max_tokens": 5, "messages": []}).to_string();
    let gave_up = tokio::time::timeout(
        Duration::from_millis(300),
        post(&c, &proxy.url("/v1/messages"), &h, body),
    )
    .await;
    assert!(gave_up.is_err());
    drop(c);
    proxy.shutdown().await;
    let rows = Reader::open(&db).unwrap().recent(10).unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (rows[0].status, rows[0].error.as_deref()),
        (0, Some("client_aborted"))
    );
}

#[tokio::test]
async fn a_broken_stream_and_a_client_gone_mid_answer_keep_their_status_and_say_why() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let stub = Stub::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("usage.db");
    let proxy = Proxy::start(&stub.url(), |c| c.usage.db = Some(db.clone())).await;
    let c = client();
    let h = anthropic(CLAUDE_UA, None, &[("x-stub-fault", "reset-mid-stream")]);
    let body = json!({"model": "m", "max_tokens": 5, "stream": true, "messages": []}).to_string();
    assert_eq!(post(&c, &proxy.url("/v1/messages"), &h, body).await.0, 200);

    let mut tcp = tokio::net::TcpStream::connect(proxy.addr).await.unwrap();
    let body = r#"{"model":"m","stream":true}"#;
    let req = format!(
        "POST /v1/messages HTTP/1.1\r\nhost: x\r\nx-api-key: k\r\nx-stub-fault: slow-stream:200\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    tcp.write_all(req.as_bytes()).await.unwrap();
    let mut head = [0u8; 64];
    let n = tcp.read(&mut head).await.unwrap();
    assert!(String::from_utf8_lossy(&head[..n]).starts_with("HTTP/1.1 200"));
    drop(tcp);
    proxy.shutdown().await;

    let mut rows: Vec<_> = Reader::open(&db)
        .unwrap()
        .recent(10)
        .unwrap()
        .into_iter()
        .map(|r| (r.status, r.error))
        .collect();
    rows.sort();
    assert_eq!(
        rows,
        [
            (200, Some("client_aborted".to_owned())),
            (200, Some("stream_broken".to_owned()))
        ]
    );
}
