//! Helpers shared by the proxy integration tests: a proxy on a free loopback port, an HTTP client,
//! and a raw WebSocket handshake.

// Each test crate compiles this module on its own and uses only part of it.
#![allow(dead_code)]

pub mod forward_proxy;

use std::net::SocketAddr;

use bytes::Bytes;
use headroom_proxy::ProxyConfig;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;

pub struct Proxy {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    done: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Proxy {
    pub async fn start(upstream: &str, tweak: impl FnOnce(&mut ProxyConfig)) -> Self {
        let mut config = ProxyConfig::loopback(0, upstream).unwrap();
        tweak(&mut config);
        let listener = headroom_proxy::bind(config.listen).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        // Two per-core workers, as `headroom proxy` serves: every test crosses from the
        // accepting runtime to a worker's.
        let workers = headroom_proxy::Workers::per_core(2).unwrap();
        let done = tokio::spawn(headroom_proxy::serve_on(
            config,
            listener,
            async {
                let _ = stopped.await;
            },
            workers,
        ));
        Self {
            addr,
            stop: Some(stop),
            done,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub async fn shutdown(mut self) {
        let _ = self.stop.take().unwrap().send(());
        self.done.await.unwrap().unwrap();
    }
}

/// Open a WebSocket on `/v1/responses` (RFC 6455's sample key); `extra` holds more header lines,
/// each ending in `\r\n`. Returns the socket and the lowercased response head.
pub async fn ws_handshake(addr: SocketAddr, extra: &str) -> (TcpStream, String) {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    let req = format!(
        "GET /v1/responses HTTP/1.1\r\nhost: x\r\nconnection: Upgrade\r\nupgrade: websocket\r\nsec-websocket-version: 13\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\nauthorization: Bearer sk\r\n{extra}\r\n"
    );
    tcp.write_all(req.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        tcp.read_exact(&mut byte).await.unwrap();
        head.push(byte[0]);
    }
    (tcp, String::from_utf8(head).unwrap().to_lowercase())
}

pub type TestClient = Client<HttpConnector, Full<Bytes>>;

pub fn client() -> TestClient {
    Client::builder(TokioExecutor::new()).build(HttpConnector::new())
}

pub async fn send(
    c: &TestClient,
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: impl Into<Bytes>,
) -> (StatusCode, http::HeaderMap, Bytes) {
    let mut b = Request::builder().method(method).uri(url);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    let resp = c
        .request(b.body(Full::new(body.into())).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (status, headers, body)
}

pub fn json(b: &Bytes) -> Value {
    serde_json::from_slice(b).unwrap_or_else(|e| panic!("not JSON ({e}): {b:?}"))
}

pub const ANTHROPIC: &[(&str, &str)] = &[
    ("x-api-key", "sk-ant-test"),
    ("anthropic-version", "2023-06-01"),
    ("content-type", "application/json"),
];
