//! Compression through the real proxy: what the upstream receives for each API shape, the savings
//! headers and counters, `count_tokens`, `--compress off`, bodies it must not touch, and Codex's
//! WebSocket.

use headroom_compress::Mode;
use headroom_proxy::stub::{Stub, read_frame};
use headroom_proxy::ws::encode_frame;
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;

mod support;
use support::{ANTHROPIC, Proxy, client, json, send, ws_handshake};

/// A pretty-printed registry answer: the kind of tool output compression exists for.
fn api_output() -> String {
    let items: Vec<Value> = (0..80)
        .map(|i| {
            json!({"name": format!("crate-{i}"), "version": format!("0.{i}.1"), "downloads": 1000 * i,
                   "license": "MIT OR Apache-2.0", "yanked": false})
        })
        .collect();
    serde_json::to_string_pretty(&json!({"crates": items, "meta": {"total": 80}})).unwrap()
}

fn anthropic_body() -> String {
    json!({
        "model": "claude-x", "max_tokens": 5,
        "system": [{"type": "text", "text": "You are Claude Code.", "cache_control": {"type": "ephemeral"}}],
        "messages": [
            {"role": "user", "content": "find crates"},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "Bash", "input": {"command": "curl -s registry/crates"}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": api_output()}]}
        ]
    })
    .to_string()
}

fn header(h: &http::HeaderMap, name: &str) -> u64 {
    h.get(name)
        .unwrap_or_else(|| panic!("no {name} header"))
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

fn upstream_body(stub: &Stub, i: usize) -> Value {
    stub.requests()[i]["body"].clone()
}

#[tokio::test]
async fn anthropic_tool_output_is_compressed_and_the_answer_says_by_how_much() {
    let stub = Stub::start().unwrap();
    let proxy = Proxy::start(&stub.url(), |_| {}).await;
    let c = client();
    let body = anthropic_body();
    let (status, headers, answer) = send(
        &c,
        "POST",
        &proxy.url("/v1/messages?beta=true"),
        ANTHROPIC,
        body.clone(),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        json(&answer)["content"][0]["text"],
        headroom_proxy::stub::TEXT
    );
    let (before, after) = (
        header(&headers, "x-headroom-tokens-before"),
        header(&headers, "x-headroom-tokens-after"),
    );
    assert!(after < before, "{after} < {before}");
    assert_eq!(header(&headers, "x-headroom-tokens-saved"), before - after);
    assert_eq!(headers["x-headroom-tokens-estimated"], "true");

    let rec = &stub.requests()[0];
    assert!(rec["body_len"].as_u64().unwrap() < body.len() as u64);
    let sent: Value = serde_json::from_str(&body).unwrap();
    let got = upstream_body(&stub, 0);
    assert_eq!(got["system"], sent["system"]);
    assert_eq!(got["messages"][1], sent["messages"][1]);
    let text = got["messages"][2]["content"][0]["content"]
        .as_str()
        .unwrap();
    assert_eq!(
        headroom_compress::restore(text).unwrap(),
        headroom_compress::restore(
            &serde_json::to_string(&serde_json::from_str::<Value>(&api_output()).unwrap()).unwrap()
        )
        .unwrap(),
        "the upstream's text decodes to the original JSON"
    );

    // count_tokens sees the same transform as the request it stands for.
    let (status, _, _) = send(
        &c,
        "POST",
        &proxy.url("/v1/messages/count_tokens"),
        ANTHROPIC,
        body.clone(),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(upstream_body(&stub, 1)["messages"], got["messages"]);

    // The same body again: byte-identical upstream bytes (the prompt cache's key).
    send(&c, "POST", &proxy.url("/v1/messages"), ANTHROPIC, body).await;
    assert_eq!(upstream_body(&stub, 2), got);

    let (_, _, metrics) = send(&c, "GET", &proxy.url("/metrics"), &[], "").await;
    let metrics = String::from_utf8(metrics.to_vec()).unwrap();
    assert!(
        metrics.contains("headroom_compressed_requests_total 3"),
        "{metrics}"
    );
    assert!(
        metrics.contains("headroom_compression_transforms_total{transform=\"json-table\"}"),
        "{metrics}"
    );
    proxy.shutdown().await;
}

#[tokio::test]
async fn off_passes_bytes_through_and_bad_bodies_are_never_a_5xx() {
    let stub = Stub::start().unwrap();
    let off = Proxy::start(&stub.url(), |c| c.compress = Mode::Off).await;
    let c = client();
    let body = anthropic_body();
    let (status, headers, _) = send(
        &c,
        "POST",
        &off.url("/v1/messages"),
        ANTHROPIC,
        body.clone(),
    )
    .await;
    assert_eq!(status, 200);
    assert!(headers.get("x-headroom-tokens-before").is_none());
    assert_eq!(stub.requests()[0]["body_len"], body.len());
    off.shutdown().await;

    let on = Proxy::start(&stub.url(), |_| {}).await;
    let not_json = format!("{{\"messages\": [ {}", api_output());
    // A second `messages`: which one counts is the upstream's parser's choice, so neither is touched.
    let dup = anthropic_body().replacen("\"messages\":", "\"messages\":[],\"messages\":", 1);
    for (i, bad) in [not_json, dup].into_iter().enumerate() {
        let (status, headers, _) =
            send(&c, "POST", &on.url("/v1/messages"), ANTHROPIC, bad.clone()).await;
        assert_eq!(status, 200, "the stub judges the body, not us");
        assert!(headers.get("x-headroom-tokens-before").is_none());
        assert_eq!(
            stub.requests()[1 + i]["body_len"],
            bad.len(),
            "forwarded as it came"
        );
    }
    on.shutdown().await;
}

#[tokio::test]
async fn a_50_mb_body_is_compressed_off_the_async_workers_and_its_image_is_untouched() {
    let stub = Stub::start().unwrap();
    let proxy = Proxy::start(&stub.url(), |_| {}).await;
    let image = "A".repeat(50 * 1024 * 1024);
    let body = json!({
        "model": "claude-x", "max_tokens": 5,
        "messages": [
            {"role": "user", "content": [{"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": image}}]},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "t", "name": "Bash", "input": {}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t", "content": api_output()}]}
        ]
    })
    .to_string();
    let (status, headers, _) = send(
        &client(),
        "POST",
        &proxy.url("/v1/messages"),
        ANTHROPIC,
        body.clone(),
    )
    .await;
    assert_eq!(status, 200);
    assert!(header(&headers, "x-headroom-tokens-saved") > 0);
    let got = stub.requests()[0]["body_len"].as_u64().unwrap() as usize;
    let saved = body.len() - got;
    // Only the tool output shrank: the 50 MB image went through whole.
    assert!(saved > 0 && saved < api_output().len(), "{saved}");
    proxy.shutdown().await;
}

#[tokio::test]
async fn chat_completions_and_responses_tool_outputs_are_compressed() {
    let stub = Stub::start().unwrap();
    let proxy = Proxy::start(&stub.url(), |_| {}).await;
    let c = client();
    let openai = &[
        ("authorization", "Bearer sk-test"),
        ("content-type", "application/json"),
    ];
    let chat = json!({"model": "gpt-x", "messages": [
        {"role": "assistant", "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "search", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": api_output()}
    ]})
    .to_string();
    let (status, headers, _) = send(
        &c,
        "POST",
        &proxy.url("/v1/chat/completions"),
        openai,
        chat.clone(),
    )
    .await;
    assert_eq!(status, 200);
    assert!(header(&headers, "x-headroom-tokens-saved") > 0);
    assert!(stub.requests()[0]["body_len"].as_u64().unwrap() < chat.len() as u64);

    let responses = json!({"model": "gpt-x", "stream": true, "input": [
        {"type": "function_call", "call_id": "c1", "name": "shell", "arguments": "{\"command\":[\"curl\",\"x\"]}"},
        {"type": "function_call_output", "call_id": "c1", "output": api_output()}
    ]})
    .to_string();
    let (status, headers, events) = send(
        &c,
        "POST",
        &proxy.url("/v1/responses"),
        openai,
        responses.clone(),
    )
    .await;
    assert_eq!(status, 200);
    assert!(
        header(&headers, "x-headroom-tokens-saved") > 0,
        "headers on a stream too"
    );
    assert!(String::from_utf8_lossy(&events).contains("response.completed"));
    assert!(stub.requests()[1]["body_len"].as_u64().unwrap() < responses.len() as u64);
    proxy.shutdown().await;
}

#[tokio::test]
async fn codex_websocket_response_create_is_compressed() {
    let stub = Stub::start().unwrap();
    let proxy = Proxy::start(&stub.url(), |_| {}).await;
    let (mut tcp, head) = ws_handshake(proxy.addr, "").await;
    assert!(head.starts_with("http/1.1 101"), "{head}");
    let create = json!({"type": "response.create", "model": "gpt-x", "input": [
        {"type": "function_call", "call_id": "c1", "name": "shell", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "c1", "output": api_output()}
    ]})
    .to_string();
    let mut wire = Vec::new();
    encode_frame(true, 0x1, create.as_bytes(), Some([1, 2, 3, 4]), &mut wire);
    tcp.write_all(&wire).await.unwrap();
    let (op, _) = tokio::time::timeout(std::time::Duration::from_secs(10), read_frame(&mut tcp))
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(op, 0x1, "the Responses events come back");
    let seen = stub.ws_messages();
    assert_eq!(seen.len(), 1);
    assert!(
        seen[0].len() < create.len(),
        "{} < {}",
        seen[0].len(),
        create.len()
    );
    let got: Value = serde_json::from_slice(&seen[0]).unwrap();
    let sent: Value = serde_json::from_str(&create).unwrap();
    assert_eq!(got["input"][0], sent["input"][0]);
    assert_eq!(got["type"], "response.create");
    drop(tcp);
    proxy.shutdown().await;
}
