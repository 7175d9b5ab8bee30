//! Codex's `/v1/responses` WebSocket through a proxy whose client→upstream text messages are
//! rewritten by a transform, and through one without a transform (untouched splice).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use headroom_proxy::ProxyConfig;
use headroom_proxy::compression::Stage;
use headroom_proxy::errors::Provider;
use headroom_proxy::forward::{Forward, Upstreams};
use headroom_proxy::metrics::Metrics;
use headroom_proxy::stub::{Stub, read_frame};
use headroom_proxy::ws::{MessageTransform, Rewrite, encode_frame};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

mod support;
use support::{Proxy, ws_handshake};

const DEFLATE: &str = "sec-websocket-extensions: permessage-deflate; client_max_window_bits\r\n";

/// `response.create` messages get `MARKER` replaced; everything else is left alone.
fn marker_transform() -> MessageTransform {
    Arc::new(|payload: &[u8]| {
        let text = std::str::from_utf8(payload).ok()?;
        let msg: Value = serde_json::from_str(text).ok()?;
        (msg["type"] == "response.create")
            .then(|| Rewrite::payload(text.replace("MARKER", "REWRITTEN").into_bytes()))
    })
}

/// The real forwarding path (`Forward::handle`) behind a minimal HTTP/1.1 server, with an injected
/// WebSocket transform (the production server's comes from its compression stage).
async fn transforming_proxy(upstream: &str, transform: MessageTransform) -> SocketAddr {
    let config = Arc::new(ProxyConfig::loopback(0, upstream).unwrap());
    let upstreams = Arc::new(Upstreams::new(&headroom_proxy::egress::Egress::direct()));
    let metrics = Arc::new(Metrics::default());
    let compression = Arc::new(Stage::new(&config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (config, upstreams, metrics, compression, transform) = (
                config.clone(),
                upstreams.clone(),
                metrics.clone(),
                compression.clone(),
                transform.clone(),
            );
            let service = service_fn(move |req| {
                let (config, upstreams, metrics, compression, transform) = (
                    config.clone(),
                    upstreams.clone(),
                    metrics.clone(),
                    compression.clone(),
                    transform.clone(),
                );
                async move {
                    let forward = Forward {
                        config: &config,
                        upstreams: &upstreams,
                        metrics: &metrics,
                        compression: &compression,
                        local: true,
                        ws_transform: Some(transform),
                    };
                    Ok::<_, Infallible>(forward.handle(Provider::OpenAi, req).await)
                }
            });
            tokio::spawn(
                hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .with_upgrades(),
            );
        }
    });
    addr
}

fn create(content: &str) -> String {
    json!({
        "type": "response.create",
        "model": "gpt-stub",
        "input": [{ "type": "message", "role": "user", "content": [{ "type": "input_text", "text": content }] }],
        "tools": [],
    })
    .to_string()
}

async fn send_frames(tcp: &mut TcpStream, frames: &[(bool, u8, &[u8])]) {
    let mut wire = Vec::new();
    for (i, (fin, opcode, payload)) in frames.iter().enumerate() {
        encode_frame(
            *fin,
            *opcode,
            payload,
            Some([i as u8, 0x5A, 0xC3, 0x11]),
            &mut wire,
        );
    }
    tcp.write_all(&wire).await.unwrap();
}

/// Send `message` split in three fragments with a ping between the first two.
async fn send_fragmented_with_ping(tcp: &mut TcpStream, message: &str) {
    let b = message.as_bytes();
    let (one, rest) = b.split_at(b.len() / 3);
    let (two, three) = rest.split_at(rest.len() / 2);
    send_frames(
        tcp,
        &[
            (false, 0x1, one),
            (true, 0x9, b"heartbeat"),
            (false, 0x0, two),
            (true, 0x0, three),
        ],
    )
    .await;
}

async fn frame(tcp: &mut TcpStream) -> (u8, Vec<u8>) {
    tokio::time::timeout(std::time::Duration::from_secs(10), read_frame(tcp))
        .await
        .expect("a frame in time")
        .unwrap()
        .expect("a frame, not end of stream")
}

async fn responses_events(tcp: &mut TcpStream) -> Vec<String> {
    let mut types = Vec::new();
    for _ in 0..5 {
        let (op, payload) = frame(tcp).await;
        assert_eq!(op, 0x1);
        let event: Value = serde_json::from_slice(&payload).unwrap();
        types.push(event["type"].as_str().unwrap().to_owned());
    }
    types
}

const EVENTS: [&str; 5] = [
    "response.created",
    "response.output_item.added",
    "response.output_text.delta",
    "response.output_item.done",
    "response.completed",
];

#[tokio::test]
async fn response_create_messages_are_rewritten_on_the_way_upstream() {
    let stub = Stub::start().unwrap();
    let addr = transforming_proxy(&stub.url(), marker_transform()).await;
    let (mut tcp, head) = ws_handshake(addr, DEFLATE).await;
    assert!(head.starts_with("http/1.1 101"), "{head}");
    assert!(!head.contains("sec-websocket-extensions"), "{head}");

    let first = create("MARKER: one frame");
    send_frames(&mut tcp, &[(true, 0x1, first.as_bytes())]).await;
    assert_eq!(responses_events(&mut tcp).await, EVENTS);

    let second = create("fragmented MARKER, with a ping inside");
    send_fragmented_with_ping(&mut tcp, &second).await;
    assert_eq!(frame(&mut tcp).await, (0xA, b"heartbeat".to_vec()));
    assert_eq!(responses_events(&mut tcp).await, EVENTS);

    // Not a response.create: the transform declines and the stub echoes the original.
    let other = r#"{"type":"session.update","note":"MARKER"}"#;
    send_frames(&mut tcp, &[(true, 0x1, other.as_bytes())]).await;
    assert_eq!(frame(&mut tcp).await, (0x1, other.as_bytes().to_vec()));

    // Large enough for the 64-bit length form in both directions of the rewrite.
    let big = create(&format!("MARKER {}", "x".repeat(100_000)));
    send_frames(&mut tcp, &[(true, 0x1, big.as_bytes())]).await;
    assert_eq!(responses_events(&mut tcp).await, EVENTS);

    send_frames(&mut tcp, &[(true, 0x8, &[0x03, 0xE8])]).await;
    assert_eq!(frame(&mut tcp).await, (0x8, vec![0x03, 0xE8]));
    let mut rest = Vec::new();
    tcp.read_to_end(&mut rest).await.unwrap();
    assert!(rest.is_empty(), "the stub's close ends the relay");

    let seen: Vec<String> = stub
        .ws_messages()
        .into_iter()
        .map(|m| String::from_utf8(m).unwrap())
        .collect();
    let rewritten = |s: &str| s.replace("MARKER", "REWRITTEN");
    assert_eq!(
        seen,
        [
            rewritten(&first),
            rewritten(&second),
            other.to_owned(),
            rewritten(&big)
        ]
    );
    let handshake = &stub.requests()[0];
    assert_eq!(handshake["websocket"], true);
    assert!(
        handshake["headers"]
            .get("sec-websocket-extensions")
            .is_none(),
        "no compression negotiated when a transform is in use: {handshake}"
    );
}

#[tokio::test]
async fn without_a_transform_messages_and_extensions_pass_untouched() {
    let stub = Stub::start().unwrap();
    // `--compress off`: no transform, so the sockets are spliced as they are.
    let proxy = Proxy::start(&stub.url(), |c| c.compress = headroom_compress::Mode::Off).await;
    let (mut tcp, head) = ws_handshake(proxy.addr, DEFLATE).await;
    assert!(head.starts_with("http/1.1 101"), "{head}");
    let message = create("fragmented MARKER, with a ping inside");
    send_fragmented_with_ping(&mut tcp, &message).await;
    assert_eq!(frame(&mut tcp).await, (0xA, b"heartbeat".to_vec()));
    assert_eq!(responses_events(&mut tcp).await, EVENTS);
    assert_eq!(stub.ws_messages(), [message.into_bytes()]);
    assert_eq!(
        stub.requests()[0]["headers"]["sec-websocket-extensions"],
        "permessage-deflate; client_max_window_bits"
    );
    drop(tcp);
    proxy.shutdown().await;
}
