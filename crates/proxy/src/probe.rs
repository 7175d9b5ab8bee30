//! Can this machine reach an upstream the way the proxy would? DNS, TCP connect, the outbound
//! proxy's `CONNECT` when one applies, then the TLS handshake through the proxy's own HTTPS client
//! configuration, each bounded, each failure with its reason (`headroom doctor`,
//! `/health?upstream=1`). Also how a proxy's upstreams are resolved from its arguments
//! and environment, so the doctor probes what the proxy really uses.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Empty;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde::Serialize;

use crate::config::{DEFAULT_ANTHROPIC_URL, DEFAULT_OPENAI_URL, Upstream};
use crate::egress::Egress;
use crate::errors::Provider;

/// Each step's bound.
pub const STEP_TIMEOUT: Duration = Duration::from_secs(3);

/// The variables (and flags) `headroom proxy` reads its upstreams from.
pub const ANTHROPIC_URL_ENV: &str = "ANTHROPIC_TARGET_API_URL";
pub const OPENAI_URL_ENV: &str = "OPENAI_TARGET_API_URL";
pub const ANTHROPIC_URL_FLAG: &str = "--anthropic-api-url";
pub const OPENAI_URL_FLAG: &str = "--openai-api-url";

/// Where a proxy started with `args` and environment `env` sends `provider`'s requests: the
/// flag (last one wins, `--flag value` or `--flag=value`), else the variable, else the default;
/// the same precedence clap gives `headroom proxy`.
pub fn upstream_url(
    provider: Provider,
    args: &[String],
    env: impl Fn(&str) -> Option<String>,
) -> String {
    let (flag, var, default) = match provider {
        Provider::Anthropic => (ANTHROPIC_URL_FLAG, ANTHROPIC_URL_ENV, DEFAULT_ANTHROPIC_URL),
        Provider::OpenAi => (OPENAI_URL_FLAG, OPENAI_URL_ENV, DEFAULT_OPENAI_URL),
    };
    crate::config::flag_values(args, flag)
        .pop()
        .or_else(|| env(var).filter(|v| !v.is_empty()))
        .unwrap_or_else(|| default.to_owned())
}

/// Which step of reaching an upstream failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Step {
    Url,
    Dns,
    Tcp,
    /// The outbound proxy's `CONNECT` to the upstream.
    Proxy,
    Tls,
}

impl Step {
    fn label(self) -> &'static str {
        match self {
            Step::Url => "URL",
            Step::Dns => "DNS",
            Step::Tcp => "TCP",
            Step::Proxy => "CONNECT",
            Step::Tls => "TLS",
        }
    }
}

/// The first step that failed and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{}: {reason}", step.label())]
pub struct ProbeFailure {
    pub step: Step,
    pub reason: String,
    /// The outbound proxy (masked) the failed step went to or through, if one applies: a DNS or
    /// TCP failure is then the proxy's, not the upstream's.
    pub via: Option<String>,
}

/// What a successful probe found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reached {
    /// The address TCP connected to: the outbound proxy's when one applies.
    pub addr: SocketAddr,
    /// Whether a TLS handshake was made (an `http://` upstream has none).
    pub tls: bool,
    /// The outbound proxy the upstream was reached through (masked), if any.
    pub via: Option<String>,
}

/// DNS, TCP, the outbound proxy's `CONNECT` when one applies to `url` (DNS and TCP are then to
/// the proxy), and (for `https://`) TLS, each within [`STEP_TIMEOUT`].
pub async fn probe(url: &str, egress: &Egress) -> Result<Reached, ProbeFailure> {
    let direct = |step, reason: String| ProbeFailure {
        step,
        reason,
        via: None,
    };
    let up = Upstream::parse(url).map_err(|e| direct(Step::Url, format!("{e:#}")))?;
    let https = up.scheme == http::uri::Scheme::HTTPS;
    let dst = up.join("/").map_err(|e| direct(Step::Url, e.to_string()))?;
    let via = egress.outbound.via(&dst);
    let shown = via.as_ref().map(|v| v.shown.clone());
    let fail = |step, reason: String| ProbeFailure {
        step,
        reason,
        via: shown.clone(),
    };
    let (host, port, whose) = match &via {
        Some(v) => (
            v.proxy.host().unwrap_or_default().to_owned(),
            v.proxy.port_u16().unwrap_or(80),
            format!("proxy {}: ", v.shown),
        ),
        None => (
            up.authority.host().to_owned(),
            up.authority
                .port_u16()
                .unwrap_or(if https { 443 } else { 80 }),
            String::new(),
        ),
    };
    let host = host.trim_matches(['[', ']']).to_owned();
    let addrs: Vec<SocketAddr> =
        match tokio::time::timeout(STEP_TIMEOUT, tokio::net::lookup_host((host.as_str(), port)))
            .await
        {
            Err(_) => {
                return Err(fail(
                    Step::Dns,
                    format!("{whose}{host}: no answer in {}s", secs()),
                ));
            }
            Ok(Err(e)) => return Err(fail(Step::Dns, format!("{whose}{}", dns_reason(&host, &e)))),
            Ok(Ok(a)) => a.collect(),
        };
    if addrs.is_empty() {
        return Err(fail(Step::Dns, format!("{whose}no such host {host}")));
    }
    let mut stream = match tokio::time::timeout(
        STEP_TIMEOUT,
        tokio::net::TcpStream::connect(&addrs[..]),
    )
    .await
    {
        Err(_) => {
            return Err(fail(
                Step::Tcp,
                format!("{whose}{host}:{port}: no answer in {}s", secs()),
            ));
        }
        Ok(Err(e)) => return Err(fail(Step::Tcp, format!("{whose}{}", tcp_reason(&e)))),
        Ok(Ok(s)) => s,
    };
    let addr = stream.peer_addr().unwrap_or(addrs[0]);
    if let Some(v) = &via {
        v.open(&mut stream, &dst, STEP_TIMEOUT)
            .await
            .map_err(|e| fail(Step::Proxy, e.to_string()))?;
    }
    drop(stream);
    if https {
        tls_handshake(&up, egress)
            .await
            .map_err(|r| fail(Step::Tls, r))?;
    }
    Ok(Reached {
        addr,
        tls: https,
        via: via.map(|v| v.shown),
    })
}

fn secs() -> u64 {
    STEP_TIMEOUT.as_secs()
}

fn dns_reason(host: &str, e: &std::io::Error) -> String {
    // The resolver's text ("failed to lookup address information: Name or service not known")
    // says less than the fact it stands for.
    let text = e.to_string();
    if text.contains("not known") || text.contains("No address") || text.contains("nodename") {
        format!("no such host {host}")
    } else {
        format!("{host}: {text}")
    }
}

fn tcp_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::ConnectionRefused => "connection refused".to_owned(),
        _ => e.to_string(),
    }
}

/// A HEAD request through the proxy's own connector ([`Egress`]): any HTTP answer means the
/// handshake (certificate, name, protocol) succeeded; a connect error carries the TLS cause.
async fn tls_handshake(up: &Upstream, egress: &Egress) -> Result<(), String> {
    let client: Client<_, Empty<Bytes>> =
        Client::builder(TokioExecutor::new()).build(egress.connector(false));
    let uri = up.join("/").map_err(|e| e.to_string())?;
    let req = http::Request::head(uri)
        .header(http::header::USER_AGENT, "headroom-doctor")
        .body(Empty::new())
        .map_err(|e| e.to_string())?;
    match tokio::time::timeout(STEP_TIMEOUT, client.request(req)).await {
        Err(_) => Err(format!("no handshake in {}s", secs())),
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) if e.is_connect() => {
            Err(crate::egress::trust::rejection(&e)
                .map_or_else(|| innermost(&e), ToString::to_string))
        }
        // The connection was made (TLS included); the HTTP exchange after it is not our question.
        Ok(Err(_)) => Ok(()),
    }
}

/// The deepest cause of an error chain: the part that names what went wrong.
fn innermost(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    #[test]
    fn upstreams_resolve_flag_then_variable_then_default() {
        let none = |_: &str| None;
        assert_eq!(
            upstream_url(Provider::Anthropic, &[], none),
            DEFAULT_ANTHROPIC_URL
        );
        assert_eq!(
            upstream_url(Provider::OpenAi, &[], none),
            DEFAULT_OPENAI_URL
        );
        let env = |n: &str| (n == OPENAI_URL_ENV).then(|| "http://127.0.0.1:9/v1".to_owned());
        assert_eq!(
            upstream_url(Provider::OpenAi, &[], env),
            "http://127.0.0.1:9/v1"
        );
        let args: Vec<String> = ["--openai-api-url", "http://a", "--openai-api-url=http://b"]
            .map(String::from)
            .to_vec();
        assert_eq!(upstream_url(Provider::OpenAi, &args, env), "http://b");
        // Anthropic's flag is not OpenAI's.
        assert_eq!(
            upstream_url(Provider::Anthropic, &args, env),
            DEFAULT_ANTHROPIC_URL
        );
    }

    #[test]
    fn a_refused_port_is_a_tcp_failure() {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let err = rt()
            .block_on(probe(
                &format!("http://127.0.0.1:{port}"),
                &Egress::direct(),
            ))
            .unwrap_err();
        assert_eq!(err.step, Step::Tcp);
        assert_eq!(err.to_string(), "TCP: connection refused");
    }

    #[test]
    fn an_http_upstream_that_listens_is_reached_without_tls() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/v1", l.local_addr().unwrap());
        let r = rt().block_on(probe(&url, &Egress::direct())).unwrap();
        assert_eq!(r.addr, l.local_addr().unwrap());
        assert!(!r.tls);
    }

    #[test]
    fn a_listener_that_does_not_speak_tls_fails_the_handshake_with_its_cause() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        std::thread::spawn(move || {
            use std::io::{Read, Write};
            for s in l.incoming() {
                let Ok(mut s) = s else { continue };
                let mut buf = [0u8; 512];
                let _ = s.read(&mut buf);
                let _ = s.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
            }
        });
        let err = rt()
            .block_on(probe(&format!("https://{addr}"), &Egress::direct()))
            .unwrap_err();
        assert_eq!(err.step, Step::Tls, "{err}");
        assert!(err.to_string().starts_with("TLS: "), "{err}");
        assert!(err.reason.len() > 3, "{err}");
    }

    #[test]
    fn an_unknown_host_is_a_dns_failure() {
        let err = rt()
            .block_on(probe("https://no-such-host.invalid", &Egress::direct()))
            .unwrap_err();
        assert_eq!(err.step, Step::Dns, "{err}");
        assert!(err.reason.contains("no-such-host.invalid"), "{err}");
    }

    #[test]
    fn a_bad_url_is_named() {
        let err = rt()
            .block_on(probe("ftp://x", &Egress::direct()))
            .unwrap_err();
        assert_eq!(err.step, Step::Url);
    }
}
