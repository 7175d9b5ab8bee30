//! Request bodies compression will not touch go upstream as they arrive (not held whole), with
//! the usage history's model and the errors' stream shape still read from them; an oversized
//! declared body is refused before anything goes upstream.

use std::time::Duration;

use headroom_proxy::stub::Stub;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

mod support;
use support::Proxy;

/// Read from `s` until `want` bytes arrived in total (or the 5 s bound passes).
async fn read_at_least(s: &mut TcpStream, got: &mut Vec<u8>, want: usize) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let mut buf = vec![0u8; 64 * 1024];
    while got.len() < want {
        let n = tokio::time::timeout_at(deadline, s.read(&mut buf))
            .await
            .expect("the upstream saw too little of the body in time")
            .unwrap();
        assert!(n > 0, "connection closed");
        got.extend_from_slice(&buf[..n]);
    }
}

#[tokio::test]
async fn a_body_compression_will_not_touch_reaches_the_upstream_before_the_client_finished_it() {
    // A raw upstream: it sees bytes exactly as the proxy sends them.
    let upstream = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", upstream.local_addr().unwrap());
    let proxy = Proxy::start(&url, |c| c.compress = headroom_compress::Mode::Off).await;

    let text = "x".repeat(300 * 1024);
    let body = format!(
        r#"{{"messages":[{{"role":"user","content":"{text}"}}],"model":"gpt-late","stream":true}}"#
    );
    let mut client = TcpStream::connect(proxy.addr).await.unwrap();
    let head = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nauthorization: Bearer k\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    client.write_all(head.as_bytes()).await.unwrap();
    let half = 200 * 1024;
    client.write_all(&body.as_bytes()[..half]).await.unwrap();

    // With only two thirds of the body sent, the upstream already has its headers and most of it.
    let (mut up, _) = tokio::time::timeout(Duration::from_secs(5), upstream.accept())
        .await
        .expect("the proxy waited for the whole body before going upstream")
        .unwrap();
    let mut got = Vec::new();
    read_at_least(&mut up, &mut got, 150 * 1024).await;
    let text_so_far = String::from_utf8_lossy(&got).to_lowercase();
    assert!(
        text_so_far.starts_with("post /v1/chat/completions http/1.1\r\n"),
        "{text_so_far:.200}"
    );
    assert!(text_so_far.contains(&format!("content-length: {}\r\n", body.len())));

    // The rest arrives; the upstream answers; the client gets the answer.
    client.write_all(&body.as_bytes()[half..]).await.unwrap();
    let head_end = got.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    read_at_least(&mut up, &mut got, head_end + body.len()).await;
    assert_eq!(&got[head_end..], body.as_bytes(), "relayed byte for byte");
    let answer = "data: {\"choices\":[]}\n\ndata: [DONE]\n\n";
    up.write_all(
        format!(
            "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncontent-length: {}\r\n\r\n{answer}",
            answer.len()
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let mut reply = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&reply).ends_with("[DONE]\n\n") {
        let n = tokio::time::timeout(Duration::from_secs(5), client.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert!(n > 0);
        reply.extend_from_slice(&buf[..n]);
    }
    assert!(String::from_utf8_lossy(&reply).starts_with("HTTP/1.1 200 OK\r\n"));
    proxy.shutdown().await;
}

#[tokio::test]
async fn a_streamed_body_keeps_its_stream_flag_and_model_read_after_the_peeked_head() {
    // A 1 MB request whose `"model"` and `"stream": true` come after the part read before going
    // upstream, to an upstream that reads it all and never answers: the 504 is still an SSE
    // event, and the history's row still names the model.
    let upstream = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", upstream.local_addr().unwrap());
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("usage.db");
    let proxy = Proxy::start(&url, |c| {
        c.compress = headroom_compress::Mode::Off;
        c.upstream_timeout = Duration::from_millis(1500);
        c.usage.db = Some(db.clone());
    })
    .await;
    let stall = tokio::spawn(async move {
        let (mut up, _) = upstream.accept().await.unwrap();
        let mut sink = vec![0u8; 64 * 1024];
        while up.read(&mut sink).await.is_ok_and(|n| n > 0) {}
    });
    let text = "y".repeat(1024 * 1024);
    let body = format!(
        r#"{{"messages":[{{"role":"user","content":"{text}"}}],"model":"gpt-late","stream":true}}"#
    );
    let c = support::client();
    let (status, headers, reply) = support::send(
        &c,
        "POST",
        &proxy.url("/v1/chat/completions"),
        &[("authorization", "Bearer k")],
        body,
    )
    .await;
    assert_eq!(status, 504);
    assert_eq!(headers["content-type"], "text/event-stream");
    assert!(String::from_utf8_lossy(&reply).starts_with("data: {\"error\""));
    proxy.shutdown().await;
    stall.abort();
    let rows = headroom_usage::query::Reader::open(&db)
        .unwrap()
        .recent(10)
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].model.as_deref(), Some("gpt-late"));
    assert_eq!(rows[0].status, 504);
}

#[tokio::test]
async fn a_declared_body_over_the_limit_is_refused_before_going_upstream() {
    let stub = Stub::start().unwrap();
    for mode in [
        headroom_compress::Mode::Off,
        headroom_compress::Mode::Lossless,
    ] {
        let proxy = Proxy::start(&stub.url(), |c| c.compress = mode).await;
        let mut client = TcpStream::connect(proxy.addr).await.unwrap();
        let head = format!(
            "POST /v1/messages HTTP/1.1\r\nhost: x\r\nx-api-key: k\r\ncontent-length: {}\r\n\r\n",
            headroom_proxy::forward::MAX_REQUEST_BODY + 1
        );
        client.write_all(head.as_bytes()).await.unwrap();
        let mut reply = Vec::new();
        let mut buf = [0u8; 4096];
        while !reply.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = tokio::time::timeout(Duration::from_secs(5), client.read(&mut buf))
                .await
                .expect("answered without waiting for the body")
                .unwrap();
            assert!(n > 0);
            reply.extend_from_slice(&buf[..n]);
        }
        let text = String::from_utf8_lossy(&reply);
        assert!(text.starts_with("HTTP/1.1 413"), "{mode}: {text}");
        proxy.shutdown().await;
    }
    assert!(stub.requests().is_empty());
}
