//! The proxy between real HTTP clients and the loopback upstream stand-in: forwarding, streaming,
//! header hygiene, faults, health and shutdown.

use std::time::Duration;

use headroom_proxy::DeploymentInfo;
use headroom_proxy::stub::{Stub, read_frame, write_frame_with};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

mod support;
use support::{ANTHROPIC, Proxy, client, json, send, ws_handshake};

#[tokio::test]
async fn anthropic_json_and_stream_reach_the_upstream_with_query_and_key() {
    let stub = Stub::start().unwrap();
    let proxy = Proxy::start(&stub.url(), |_| {}).await;
    let c = client();

    let (status, headers, body) = send(
        &c,
        "POST",
        &proxy.url("/v1/messages?beta=true"),
        ANTHROPIC,
        r#"{"model":"claude-x","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}"#,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(headers["request-id"], "req_stub_json");
    assert_eq!(
        json(&body)["content"][0]["text"],
        headroom_proxy::stub::TEXT
    );

    let (status, headers, body) = send(
        &c,
        "POST",
        &proxy.url("/v1/messages?beta=true"),
        ANTHROPIC,
        r#"{"model":"claude-x","stream":true,"messages":[]}"#,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "text/event-stream");
    assert_eq!(
        headers["request-id"], "req_stub_stream",
        "stream keeps upstream headers"
    );
    let text = String::from_utf8(body.to_vec()).unwrap();
    assert!(text.starts_with("event: message_start\n"), "{text}");
    assert!(text.ends_with("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"));

    let seen = stub.requests();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0]["path"], "/v1/messages");
    assert_eq!(seen[0]["query"], "beta=true");
    assert_eq!(seen[0]["headers"]["x-api-key"], "sk-ant-test");
    assert_eq!(seen[1]["stream"], true);

    let (_, _, metrics) = send(&c, "GET", &proxy.url("/metrics"), &[], "").await;
    let metrics = String::from_utf8(metrics.to_vec()).unwrap();
    assert!(
        metrics.contains("headroom_requests_total{provider=\"anthropic\"} 2"),
        "{metrics}"
    );
    assert!(
        metrics.contains("headroom_tokens_total{kind=\"input\"} 24"),
        "{metrics}"
    );
    assert!(
        metrics.contains("headroom_tokens_total{kind=\"output\"} 18"),
        "{metrics}"
    );
    proxy.shutdown().await;
}

#[tokio::test]
async fn openai_endpoints_and_bearer_auth_are_forwarded() {
    let stub = Stub::start().unwrap();
    let proxy = Proxy::start(&format!("{}/v1", stub.url()), |_| {}).await;
    let c = client();
    let auth = &[
        ("authorization", "Bearer sk-test"),
        ("content-type", "application/json"),
    ];
    let (s, _, b) = send(
        &c,
        "POST",
        &proxy.url("/v1/chat/completions"),
        auth,
        r#"{"model":"m","messages":[]}"#,
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(json(&b)["usage"]["completion_tokens"], 9);
    let (s, _, b) = send(
        &c,
        "POST",
        &proxy.url("/v1/chat/completions"),
        auth,
        r#"{"model":"m","stream":true}"#,
    )
    .await;
    assert_eq!(s, 200);
    assert!(String::from_utf8_lossy(&b).ends_with("data: [DONE]\n\n"));
    let (s, _, b) = send(
        &c,
        "POST",
        &proxy.url("/v1/responses"),
        auth,
        r#"{"model":"m","stream":true}"#,
    )
    .await;
    assert_eq!(s, 200);
    assert!(String::from_utf8_lossy(&b).contains("event: response.completed"));
    let (s, _, b) = send(
        &c,
        "POST",
        &proxy.url("/v1/embeddings"),
        auth,
        r#"{"model":"e","input":"x"}"#,
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(json(&b)["object"], "list");
    let (s, _, b) = send(&c, "GET", &proxy.url("/v1/models"), auth, "").await;
    assert_eq!(s, 200);
    assert_eq!(json(&b)["data"][0]["id"], "gpt-stub");
    for r in stub.requests() {
        assert_eq!(r["headers"]["authorization"], "Bearer sk-test");
    }
    proxy.shutdown().await;
}

#[tokio::test]
async fn never_forwards_cookies_proxy_credentials_or_forwarding_claims() {
    let stub = Stub::start().unwrap();
    let proxy = Proxy::start(&stub.url(), |_| {}).await;
    let (s, _, b) = send(
        &client(),
        "POST",
        &proxy.url("/v1/messages"),
        &[
            ("x-stub-fault", "echo"),
            ("x-api-key", "k"),
            ("cookie", "session=secret"),
            ("proxy-authorization", "Basic eA=="),
            ("x-forwarded-for", "6.6.6.6"),
            ("te", "trailers"),
            ("connection", "keep-alive, x-hop"),
            ("x-hop", "1"),
        ],
        "{}",
    )
    .await;
    assert_eq!(s, 200);
    let seen = json(&b)["headers"].clone();
    for gone in [
        "cookie",
        "proxy-authorization",
        "x-forwarded-for",
        "te",
        "x-hop",
    ] {
        assert!(
            seen.get(gone).is_none(),
            "{gone} reached the upstream: {seen}"
        );
    }
    assert_eq!(seen["x-api-key"], "k");
    proxy.shutdown().await;
}

#[tokio::test]
async fn unreachable_upstream_is_a_provider_shaped_502_and_an_sse_error_for_streams() {
    // A port nothing listens on: bind, learn it, close.
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let proxy = Proxy::start(&format!("http://{dead}"), |_| {}).await;
    let c = client();
    let (s, _, b) = send(&c, "POST", &proxy.url("/v1/messages"), ANTHROPIC, "{}").await;
    assert_eq!(s, 502);
    let body = json(&b);
    assert_eq!(body["type"], "error");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("could not reach anthropic")
    );

    let (s, h, b) = send(
        &c,
        "POST",
        &proxy.url("/v1/chat/completions"),
        &[],
        r#"{"stream": true}"#,
    )
    .await;
    assert_eq!(s, 502);
    assert_eq!(h["content-type"], "text/event-stream");
    let text = String::from_utf8_lossy(&b);
    assert!(text.starts_with("data: {\"error\""), "{text}");
    // Still serving.
    let (s, _, _) = send(&c, "GET", &proxy.url("/readyz"), &[], "").await;
    assert_eq!(s, 200);
    proxy.shutdown().await;
}

#[tokio::test]
async fn stalled_upstream_times_out_with_504_while_others_are_served() {
    let stub = Stub::start().unwrap();
    let proxy = Proxy::start(&stub.url(), |c| {
        c.upstream_timeout = Duration::from_millis(300)
    })
    .await;
    let c = client();
    let stalled = {
        let c = c.clone();
        let url = proxy.url("/v1/messages");
        tokio::spawn(async move {
            send(
                &c,
                "POST",
                &url,
                &[("x-stub-fault", "stall"), ("x-api-key", "k")],
                "{}",
            )
            .await
        })
    };
    let (s, _, _) = send(&c, "POST", &proxy.url("/v1/messages"), ANTHROPIC, "{}").await;
    assert_eq!(s, 200, "a stalled request does not block others");
    let (s, _, b) = stalled.await.unwrap();
    assert_eq!(s, 504);
    assert_eq!(json(&b)["error"]["type"], "timeout_error");
    proxy.shutdown().await;
}

#[tokio::test]
async fn upstream_errors_pass_through_once_without_retries() {
    let stub = Stub::start().unwrap();
    let proxy = Proxy::start(&stub.url(), |_| {}).await;
    let c = client();
    for code in ["429", "500", "400"] {
        let fault = format!("status:{code}");
        let (s, h, b) = send(
            &c,
            "POST",
            &proxy.url("/v1/messages"),
            &[("x-stub-fault", &fault), ("x-api-key", "k")],
            "{}",
        )
        .await;
        assert_eq!(s.as_str(), code);
        assert_eq!(json(&b)["error"]["type"], "stub_error");
        if code == "429" {
            assert_eq!(h["retry-after"], "1");
        }
    }
    assert_eq!(
        stub.requests().len(),
        3,
        "exactly one upstream attempt each"
    );
    proxy.shutdown().await;
}

#[tokio::test]
async fn a_stream_broken_mid_way_ends_with_an_error_event() {
    let stub = Stub::start().unwrap();
    let proxy = Proxy::start(&stub.url(), |_| {}).await;
    let c = client();
    let (s, _, b) = send(
        &c,
        "POST",
        &proxy.url("/v1/messages"),
        &[("x-stub-fault", "reset-mid-stream"), ("x-api-key", "k")],
        r#"{"stream":true}"#,
    )
    .await;
    assert_eq!(s, 200);
    let text = String::from_utf8_lossy(&b);
    assert!(text.starts_with("event: message_start"), "{text}");
    assert!(
        text.ends_with("\n\n") && text.contains("event: error\ndata: "),
        "{text}"
    );
    assert!(!text.contains("message_stop"));
    let (s, _, _) = send(&c, "POST", &proxy.url("/v1/messages"), ANTHROPIC, "{}").await;
    assert_eq!(s, 200);
    proxy.shutdown().await;
}

#[tokio::test]
async fn a_client_abort_mid_stream_is_counted_and_harmless() {
    let stub = Stub::start().unwrap();
    let proxy = Proxy::start(&stub.url(), |_| {}).await;
    let mut tcp = TcpStream::connect(proxy.addr).await.unwrap();
    let body = r#"{"stream":true}"#;
    let req = format!(
        "POST /v1/messages HTTP/1.1\r\nhost: x\r\nx-api-key: k\r\nx-stub-fault: slow-stream:200\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    tcp.write_all(req.as_bytes()).await.unwrap();
    let mut first = [0u8; 64];
    let n = tcp.read(&mut first).await.unwrap();
    assert!(String::from_utf8_lossy(&first[..n]).starts_with("HTTP/1.1 200"));
    drop(tcp);
    let c = client();
    let mut aborted = false;
    for _ in 0..50 {
        let (_, _, m) = send(&c, "GET", &proxy.url("/metrics"), &[], "").await;
        let m = String::from_utf8_lossy(&m).into_owned();
        if m.contains("headroom_errors_total{reason=\"client_aborted\"} 1")
            && m.contains("headroom_in_flight 0")
        {
            aborted = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(aborted, "the abort was seen and nothing is left in flight");
    proxy.shutdown().await;
}

#[tokio::test]
async fn large_bodies_and_odd_headers_are_relayed_untouched() {
    let stub = Stub::start().unwrap();
    let proxy = Proxy::start(&stub.url(), |_| {}).await;
    let big = vec![b'x'; 10 * 1024 * 1024];
    let (s, _, _) = send(
        &client(),
        "POST",
        &proxy.url("/v1/messages"),
        &[("x-api-key", "k")],
        big,
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(stub.requests()[0]["body_len"], 10 * 1024 * 1024);

    // Not UTF-8 in a header value, and a body that is not JSON: the upstream judges them.
    let mut tcp = TcpStream::connect(proxy.addr).await.unwrap();
    let req = b"POST /v1/messages HTTP/1.1\r\nhost: x\r\nx-api-key: k\r\nx-odd: caf\xe9\r\ncontent-length: 4\r\nconnection: close\r\n\r\n{not";
    tcp.write_all(req).await.unwrap();
    let mut out = Vec::new();
    tcp.read_to_end(&mut out).await.unwrap();
    assert!(
        out.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&out)
    );
    let seen = stub.requests();
    assert_eq!(seen[1]["body_len"], 4);
    assert_eq!(seen[1]["headers"]["x-odd"], "caf\u{fffd}");
    proxy.shutdown().await;
}

#[tokio::test]
async fn slow_and_idle_clients_do_not_starve_others() {
    let stub = Stub::start().unwrap();
    // The half-sent request is still "in flight" at shutdown: bound the drain.
    let proxy = Proxy::start(&stub.url(), |c| {
        c.drain_timeout = Duration::from_millis(200)
    })
    .await;
    // A slowloris client dribbling headers, and 1,000 idle connections.
    let mut slow = TcpStream::connect(proxy.addr).await.unwrap();
    slow.write_all(b"POST /v1/messages HTTP/1.1\r\nhost: x\r\n")
        .await
        .unwrap();
    let mut idle = Vec::new();
    for _ in 0..1000 {
        idle.push(TcpStream::connect(proxy.addr).await.unwrap());
    }
    let c = client();
    for _ in 0..20 {
        let (s, _, _) = send(&c, "POST", &proxy.url("/v1/messages"), ANTHROPIC, "{}").await;
        assert_eq!(s, 200);
    }
    slow.write_all(b"x-api-key: k\r\n").await.unwrap();
    drop(idle);
    proxy.shutdown().await;
}

#[tokio::test]
async fn websocket_upgrades_are_spliced_through() {
    let stub = Stub::start().unwrap();
    let proxy = Proxy::start(&stub.url(), |_| {}).await;
    let (mut tcp, head) = ws_handshake(proxy.addr, "").await;
    assert!(head.starts_with("http/1.1 101"), "{head}");
    assert!(
        head.contains("sec-websocket-accept: s3pplmbitxaq9kygzzhzrbk+xoo="),
        "{head}"
    );
    write_frame_with(&mut tcp, 0x1, b"ping through headroom", Some([1, 2, 3, 4]))
        .await
        .unwrap();
    let (op, payload) = read_frame(&mut tcp).await.unwrap().unwrap();
    assert_eq!(
        (op, payload.as_slice()),
        (0x1, b"ping through headroom".as_slice())
    );
    let create = json!({ "type": "response.create", "model": "m" }).to_string();
    write_frame_with(&mut tcp, 0x1, create.as_bytes(), Some([9, 9, 9, 9]))
        .await
        .unwrap();
    let mut last = Value::Null;
    for _ in 0..5 {
        let (_, p) = read_frame(&mut tcp).await.unwrap().unwrap();
        last = serde_json::from_slice(&p).unwrap();
    }
    assert_eq!(last["type"], "response.completed");
    assert_eq!(stub.requests()[0]["websocket"], true);
    proxy.shutdown().await;
}

#[tokio::test]
async fn health_endpoints_report_without_needing_the_upstream() {
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let deployment = DeploymentInfo {
        profile: "default".into(),
        preset: "persistent-service".into(),
        runtime: "native".into(),
        supervisor: "systemd".into(),
        scope: "user".into(),
    };
    let proxy = Proxy::start(&format!("http://{dead}"), |c| {
        c.deployment = Some(deployment)
    })
    .await;
    let c = client();
    let (s, _, _) = send(&c, "GET", &proxy.url("/livez"), &[], "").await;
    assert_eq!(s, 200);
    let (s, _, _) = send(&c, "GET", &proxy.url("/readyz"), &[], "").await;
    assert_eq!(s, 200, "ready although the upstream is down");
    let (s, _, b) = send(&c, "GET", &proxy.url("/health?upstream=1"), &[], "").await;
    assert_eq!(s, 200);
    let h = json(&b);
    assert_eq!(h["status"], "ok");
    assert_eq!(h["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(h["deployment"]["profile"], "default");
    assert_eq!(h["deployment"]["supervisor"], "systemd");
    assert_eq!(h["checks"]["upstreams"]["anthropic"]["reachable"], false);
    assert!(
        h["config"]["anthropic_api_url"]
            .as_str()
            .unwrap()
            .contains(&dead.port().to_string())
    );
    let (s, _, _) = send(&c, "GET", &proxy.url("/nope"), &[], "").await;
    assert_eq!(s, 404);
    proxy.shutdown().await;
}

#[tokio::test]
async fn shutdown_lets_an_in_flight_stream_finish() {
    let stub = Stub::start().unwrap();
    let proxy = Proxy::start(&stub.url(), |_| {}).await;
    let c = client();
    let url = proxy.url("/v1/messages");
    let streaming = tokio::spawn(async move {
        send(
            &c,
            "POST",
            &url,
            &[("x-stub-fault", "slow-stream:50"), ("x-api-key", "k")],
            r#"{"stream":true}"#,
        )
        .await
    });
    tokio::time::sleep(Duration::from_millis(120)).await;
    let addr = proxy.addr;
    proxy.shutdown().await;
    let (s, _, b) = streaming.await.unwrap();
    assert_eq!(s, 200);
    assert!(
        String::from_utf8_lossy(&b).contains("message_stop"),
        "drained to the end"
    );
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "no longer accepting"
    );
}

#[tokio::test]
async fn a_busy_port_is_a_typed_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let err = headroom_proxy::bind(taken.local_addr().unwrap())
        .await
        .unwrap_err();
    assert!(
        matches!(err, headroom_proxy::BindError::InUse { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("already in use"));
}

#[tokio::test]
async fn an_upstream_override_reaches_only_an_allowed_gateway_and_never_leaks_the_header() {
    let default = Stub::start().unwrap();
    let gateway = Stub::start().unwrap();
    let allowed = format!("{}/corp/", gateway.url());
    let c = client();
    let body = r#"{"model":"claude-x","max_tokens":5,"messages":[]}"#;
    fn with_header(url: &str) -> Vec<(&str, &str)> {
        let mut h = ANTHROPIC.to_vec();
        h.push(("x-headroom-upstream", url));
        h
    }

    // Never by default: refused, and sent nowhere (not to the default upstream either).
    let proxy = Proxy::start(&default.url(), |_| {}).await;
    let (status, headers, resp) = send(
        &c,
        "POST",
        &proxy.url("/v1/messages"),
        &with_header(&allowed),
        body,
    )
    .await;
    assert_eq!(status, 403);
    assert_eq!(headers["x-headroom-error"], "forbidden");
    let msg = json(&resp)["error"]["message"].as_str().unwrap().to_owned();
    assert!(msg.contains("--allow-upstream"), "{msg}");
    assert!(default.requests().is_empty() && gateway.requests().is_empty());
    proxy.shutdown().await;

    let allow = headroom_proxy::config::AllowedUpstream::parse(&allowed).unwrap();
    let proxy = Proxy::start(&default.url(), |c| c.allowed_upstreams = vec![allow]).await;
    let (status, _, _) = send(
        &c,
        "POST",
        &proxy.url("/v1/messages?beta=true"),
        &with_header(&format!("{}/corp/v1", gateway.url())),
        body,
    )
    .await;
    assert_eq!(status, 200);
    let seen = gateway.requests();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0]["path"], "/corp/v1/messages");
    assert!(
        seen[0]["headers"].get("x-headroom-upstream").is_none(),
        "the override header must not reach the upstream: {:?}",
        seen[0]["headers"]
    );
    // An upstream outside the list is refused; without the header the default is used.
    let (status, _, _) = send(
        &c,
        "POST",
        &proxy.url("/v1/messages"),
        &with_header(&format!("{}/other", gateway.url())),
        body,
    )
    .await;
    assert_eq!(status, 403);
    let (status, _, _) = send(&c, "POST", &proxy.url("/v1/messages"), ANTHROPIC, body).await;
    assert_eq!(status, 200);
    assert_eq!(default.requests().len(), 1);
    assert_eq!(gateway.requests().len(), 1);
    proxy.shutdown().await;
}
