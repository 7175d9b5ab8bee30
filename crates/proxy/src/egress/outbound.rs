//! The outbound HTTP proxy for upstream connections: `--upstream-proxy URL`, else
//! `HTTPS_PROXY`/`HTTP_PROXY`/`ALL_PROXY` (either case), minus the `NO_PROXY` exclusions (curl's
//! rules: domains and their subdomains, IPs, CIDRs, `*`). `NO_PROXY` applies to the flag too, as
//! it does to curl's `--proxy`: the flag chooses the proxy, not which hosts bypass it.
//!
//! Only `http://` proxies are supported, through `CONNECT` for `https://` and `http://` upstreams
//! alike (one tunnelled path), so the proxy's refusal is reported with its status line. A proxy
//! URL without a port uses its scheme's (80), as Node, Python and Go clients do.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use http::{HeaderValue, Uri};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::proxy::matcher::Matcher;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::UPSTREAM_PROXY_FLAG;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// How long a proxy may take to answer `CONNECT` when forwarding (the TCP connect to it has the
/// connector's own bound).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The longest `CONNECT` answer head read: a proxy that sends more is not answering `CONNECT`.
const MAX_ANSWER_HEAD: usize = 16 * 1024;

/// A proxy setting that cannot be used: the proxy refuses to start (and `doctor` says so) rather
/// than silently going direct.
#[derive(Debug, thiserror::Error)]
pub enum OutboundError {
    #[error(
        "{source_name}={url} is not a valid proxy URL ({reason}); expected http://[user:password@]host:port"
    )]
    Invalid {
        source_name: &'static str,
        /// Masked ([`masked`]).
        url: String,
        reason: String,
    },
    #[error(
        "{source_name}={url}: {scheme}:// proxies are not supported; headroom speaks to an http:// proxy (CONNECT), e.g. http://host:3128"
    )]
    Unsupported {
        source_name: &'static str,
        /// Masked ([`masked`]).
        url: String,
        scheme: String,
    },
}

/// A failure to open a tunnel through the proxy: its Display is the one line the 502 body,
/// `/health?upstream=1` and `doctor` show.
#[derive(Debug, thiserror::Error)]
pub enum TunnelError {
    #[error("cannot reach proxy {proxy}: {reason}")]
    Unreachable { proxy: String, reason: String },
    /// 407, or 401 (tinyproxy's answer to wrong credentials: on CONNECT only the proxy can ask).
    #[error(
        "proxy {proxy} refused CONNECT to {target}: {status}: proxy authentication required ({hint})"
    )]
    AuthRequired {
        proxy: String,
        target: String,
        code: u16,
        status: String,
        hint: String,
    },
    #[error("proxy {proxy} refused CONNECT to {target}: {status}")]
    Refused {
        proxy: String,
        target: String,
        code: u16,
        status: String,
    },
    #[error("proxy {proxy} gave no valid answer to CONNECT to {target}: {reason}")]
    BadAnswer {
        proxy: String,
        target: String,
        reason: String,
    },
    #[error("proxy {proxy} did not answer CONNECT to {target} within {} s", .after.as_secs())]
    Timeout {
        proxy: String,
        target: String,
        after: Duration,
    },
    #[error("cannot tunnel to {uri} through proxy {proxy}: the URL has no host")]
    NoHost { proxy: String, uri: String },
}

/// One configured proxy value and where it came from.
#[derive(Clone)]
struct Setting {
    source: &'static str,
    value: String,
}

impl Setting {
    fn shown(&self) -> String {
        masked(&self.value)
    }
}

/// The proxy rules in effect: which upstreams go through which proxy.
pub struct Outbound {
    matcher: Matcher,
    /// `NO_PROXY` has a `*` entry: the matcher applies it to host names only, curl to IPs too.
    bypass_all: bool,
    http: Option<Setting>,
    https: Option<Setting>,
    no_proxy: Option<Setting>,
}

impl std::fmt::Debug for Outbound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Masked: a Debug print must not leak the proxy password.
        f.debug_struct("Outbound")
            .field("http", &self.http.as_ref().map(Setting::shown))
            .field("https", &self.https.as_ref().map(Setting::shown))
            .field("no_proxy", &self.no_proxy.as_ref().map(|s| &s.value))
            .finish()
    }
}

impl Outbound {
    /// The rules from `--upstream-proxy` (`flag`) and an environment lookup (`std::env::var` in
    /// the proxy; a deployment's recorded environment in `doctor`). Empty variables count as
    /// unset; the upper-case name wins over the lower-case one.
    pub fn load(
        flag: Option<&str>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, OutboundError> {
        let var = |names: [&'static str; 2]| {
            names.into_iter().find_map(|name| {
                env(name)
                    .map(|v| v.trim().to_owned())
                    .filter(|v| !v.is_empty())
                    .map(|value| Setting {
                        source: name,
                        value,
                    })
            })
        };
        let (http, https) = match flag {
            Some(value) => {
                let s = Setting {
                    source: UPSTREAM_PROXY_FLAG,
                    value: value.trim().to_owned(),
                };
                (Some(s.clone()), Some(s))
            }
            None => {
                let all = var(["ALL_PROXY", "all_proxy"]);
                (
                    var(["HTTP_PROXY", "http_proxy"]).or_else(|| all.clone()),
                    var(["HTTPS_PROXY", "https_proxy"]).or(all),
                )
            }
        };
        for s in [&http, &https].into_iter().flatten() {
            validate(s)?;
        }
        let no_proxy = var(["NO_PROXY", "no_proxy"]);
        let bypass_all = no_proxy
            .as_ref()
            .is_some_and(|s| s.value.split(',').any(|e| e.trim() == "*"));
        // The builder's setters take values, so the matcher never reads the process environment.
        let value = |s: &Option<Setting>| s.as_ref().map_or(String::new(), |s| s.value.clone());
        let matcher = Matcher::builder()
            .http(value(&http))
            .https(value(&https))
            .no(value(&no_proxy))
            .build();
        Ok(Self {
            matcher,
            bypass_all,
            http,
            https,
            no_proxy,
        })
    }

    /// No proxy: every upstream is reached directly.
    pub fn none() -> Self {
        Self {
            matcher: Matcher::builder().build(),
            bypass_all: false,
            http: None,
            https: None,
            no_proxy: None,
        }
    }

    /// The proxy `dst` is reached through, or `None` for a direct connection.
    pub fn via(&self, dst: &Uri) -> Option<Via> {
        if self.bypass_all {
            return None;
        }
        let intercept = self.matcher.intercept(dst)?;
        let setting = match dst.scheme_str() {
            Some("https") => self.https.as_ref(),
            _ => self.http.as_ref(),
        }?;
        Some(Via {
            proxy: intercept.uri().clone(),
            auth: intercept.basic_auth().cloned(),
            shown: setting.shown(),
            source: setting.source,
        })
    }

    /// The TCP connector for upstream clients: `http` directly, or to the proxy then `CONNECT`.
    pub fn connector(self: &std::sync::Arc<Self>, http: HttpConnector) -> Connect {
        Connect {
            http,
            outbound: self.clone(),
        }
    }

    /// `{"url", "source", "applies_to", "no_proxy"}` (the URL masked), an `http` entry when plain
    /// `http://` upstreams use another proxy, or null without a proxy.
    pub fn describe(&self) -> serde_json::Value {
        let no_proxy = self.no_proxy.as_ref().map(|s| s.value.clone());
        let entry = |s: &Setting| serde_json::json!({ "url": s.shown(), "source": s.source });
        let Some(primary) = self.https.as_ref().or(self.http.as_ref()) else {
            return serde_json::Value::Null;
        };
        let other_http = self
            .http
            .as_ref()
            .filter(|h| self.https.is_some() && h.value != primary.value);
        let applies_to = match (&self.https, &self.http) {
            (Some(_), Some(_)) if other_http.is_none() => "all",
            (Some(_), _) => "https",
            (None, _) => "http",
        };
        let mut v = entry(primary);
        v["applies_to"] = applies_to.into();
        v["no_proxy"] = no_proxy.into();
        if let Some(h) = other_http {
            v["http"] = entry(h);
        }
        v
    }
}

fn validate(s: &Setting) -> Result<(), OutboundError> {
    let invalid = |reason: String| OutboundError::Invalid {
        source_name: s.source,
        url: s.shown(),
        reason,
    };
    let uri: Uri = s.value.parse().map_err(|e: http::uri::InvalidUri| {
        // The parser's reason may quote the input; masked, as the URL is.
        invalid(masked(&e.to_string()))
    })?;
    match uri.scheme_str() {
        None | Some("http") => {}
        Some(scheme) => {
            return Err(OutboundError::Unsupported {
                source_name: s.source,
                url: s.shown(),
                scheme: scheme.to_owned(),
            });
        }
    }
    let host = uri.host().unwrap_or("");
    if host.is_empty() || host.contains('@') {
        return Err(invalid("no host".into()));
    }
    // What the matcher accepts is what will be used: a value it would drop must not mean "direct".
    let probe = Uri::from_static("http://example.com/");
    if Matcher::builder()
        .all(s.value.clone())
        .build()
        .intercept(&probe)
        .is_none()
    {
        return Err(invalid("not usable as a proxy".into()));
    }
    Ok(())
}

/// A proxy URL as it may be shown (status, dry run, `/health`, logs): any password replaced by
/// `***`. The one masking rule for proxy URLs; it works on text that does not parse, and treats
/// the last `@` as the end of the credentials (masking too much rather than too little).
pub fn masked(url: &str) -> String {
    let start = url.find("://").map_or(0, |i| i + 3);
    let rest = &url[start..];
    let Some(at) = rest.rfind('@') else {
        return url.to_owned();
    };
    match rest[..at].split_once(':') {
        Some((user, _)) => format!("{}{user}:***{}", &url[..start], &rest[at..]),
        None => url.to_owned(),
    }
}

/// The proxy one upstream connection goes through.
#[derive(Clone)]
pub struct Via {
    /// The proxy's address (no credentials), for the TCP connect.
    pub proxy: Uri,
    /// The proxy URL as configured, masked.
    pub shown: String,
    /// The flag or variable it came from.
    pub source: &'static str,
    auth: Option<HeaderValue>,
}

impl std::fmt::Debug for Via {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Via")
            .field("proxy", &self.shown)
            .field("source", &self.source)
            .finish()
    }
}

impl Via {
    /// The failure to connect to the proxy itself, with the cause.
    fn unreachable(&self, e: &(dyn std::error::Error + 'static)) -> TunnelError {
        TunnelError::Unreachable {
            proxy: self.shown.clone(),
            reason: connect_reason(e),
        }
    }

    /// `CONNECT`s `stream` (a connection to the proxy) to `dst`'s host and port within `within`;
    /// on success the stream carries the upstream's bytes.
    pub async fn open(
        &self,
        stream: &mut TcpStream,
        dst: &Uri,
        within: Duration,
    ) -> Result<(), TunnelError> {
        let Some(host) = dst.host() else {
            return Err(TunnelError::NoHost {
                proxy: self.shown.clone(),
                uri: dst.to_string(),
            });
        };
        let port = dst
            .port_u16()
            .unwrap_or(if dst.scheme_str() == Some("https") {
                443
            } else {
                80
            });
        let target = format!("{host}:{port}");
        match tokio::time::timeout(within, self.exchange(stream, &target)).await {
            Ok(r) => r,
            Err(_) => Err(TunnelError::Timeout {
                proxy: self.shown.clone(),
                target,
                after: within,
            }),
        }
    }

    async fn exchange(&self, stream: &mut TcpStream, target: &str) -> Result<(), TunnelError> {
        let bad = |reason: String| TunnelError::BadAnswer {
            proxy: self.shown.clone(),
            target: target.to_owned(),
            reason,
        };
        let mut req = format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n").into_bytes();
        if let Some(auth) = &self.auth {
            req.extend_from_slice(b"Proxy-Authorization: ");
            req.extend_from_slice(auth.as_bytes());
            req.extend_from_slice(b"\r\n");
        }
        req.extend_from_slice(b"\r\n");
        stream
            .write_all(&req)
            .await
            .map_err(|e| bad(format!("sending CONNECT failed: {e}")))?;
        // Byte by byte up to the blank line: whatever follows it belongs to the upstream.
        let mut head = Vec::with_capacity(256);
        while !head.ends_with(b"\r\n\r\n") {
            if head.len() >= MAX_ANSWER_HEAD {
                return Err(bad(format!(
                    "answer head longer than {MAX_ANSWER_HEAD} bytes"
                )));
            }
            let mut byte = [0u8; 1];
            match stream.read(&mut byte).await {
                Ok(0) if head.is_empty() => return Err(bad("closed the connection".into())),
                Ok(0) => return Err(bad("closed the connection mid-answer".into())),
                Ok(_) => head.push(byte[0]),
                Err(e) => return Err(bad(e.to_string())),
            }
        }
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut answer = httparse::Response::new(&mut headers);
        answer
            .parse(&head)
            .map_err(|e| bad(format!("not an HTTP answer ({e})")))?;
        let code = answer.code.unwrap_or(0);
        if (200..300).contains(&code) {
            return Ok(());
        }
        let status = format!("{code} {}", answer.reason.unwrap_or("").trim())
            .trim_end()
            .to_owned();
        let (proxy, target) = (self.shown.clone(), target.to_owned());
        Err(match code {
            401 | 407 => TunnelError::AuthRequired {
                proxy,
                target,
                code,
                status,
                hint: if self.auth.is_some() {
                    format!("check the user and password in {}", self.source)
                } else {
                    format!(
                        "put them in {} as http://user:password@host:port",
                        self.source
                    )
                },
            },
            _ => TunnelError::Refused {
                proxy,
                target,
                code,
                status,
            },
        })
    }
}

/// Why a TCP connect failed, in the words a user searches for.
fn connect_reason(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = Some(e);
    let mut chain = Vec::new();
    while let Some(err) = cur {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            match io.kind() {
                std::io::ErrorKind::ConnectionRefused => return "connection refused".into(),
                std::io::ErrorKind::TimedOut => return "connection timed out".into(),
                _ => {}
            }
        }
        chain.push(err.to_string());
        cur = err.source();
    }
    chain.join(": ")
}

/// A TCP stream to an upstream, direct or through the proxy's CONNECT tunnel.
#[derive(Clone)]
pub struct Connect {
    http: HttpConnector,
    outbound: std::sync::Arc<Outbound>,
}

impl tower_service::Service<Uri> for Connect {
    type Response = TokioIo<TcpStream>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.http.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, dst: Uri) -> Self::Future {
        let Some(via) = self.outbound.via(&dst) else {
            let fut = self.http.call(dst);
            return Box::pin(async move { fut.await.map_err(Into::into) });
        };
        let fut = self.http.call(via.proxy.clone());
        Box::pin(async move {
            let mut io = fut.await.map_err(|e| via.unreachable(&e))?;
            via.open(io.inner_mut(), &dst, CONNECT_TIMEOUT).await?;
            Ok(io)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |n| {
            pairs
                .iter()
                .find(|(k, _)| *k == n)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    fn via(o: &Outbound, url: &str) -> Option<(String, &'static str)> {
        o.via(&url.parse().unwrap()).map(|v| (v.shown, v.source))
    }

    #[test]
    fn each_scheme_takes_its_variable_and_all_proxy_fills_in() {
        let o = Outbound::load(
            None,
            &env(&[
                ("https_proxy", "http://s:1"),
                ("ALL_PROXY", "http://a:2"),
                ("no_proxy", ""),
            ]),
        )
        .unwrap();
        assert_eq!(
            via(&o, "https://api.anthropic.com"),
            Some(("http://s:1".into(), "https_proxy"))
        );
        assert_eq!(
            via(&o, "http://gw.corp:8080/v1"),
            Some(("http://a:2".into(), "ALL_PROXY"))
        );
        // Upper case wins; an empty variable is unset.
        let o = Outbound::load(
            None,
            &env(&[
                ("HTTP_PROXY", ""),
                ("http_proxy", "http://l:1"),
                ("HTTPS_PROXY", "http://U:1"),
                ("https_proxy", "http://l:1"),
            ]),
        )
        .unwrap();
        assert_eq!(via(&o, "https://x").unwrap().1, "HTTPS_PROXY");
        assert_eq!(via(&o, "http://x").unwrap().1, "http_proxy");
        assert!(via(&Outbound::load(None, &env(&[])).unwrap(), "https://x").is_none());
    }

    #[test]
    fn the_flag_beats_the_environment_but_no_proxy_still_applies() {
        let e = env(&[
            ("HTTPS_PROXY", "socks5://ignored:1"),
            ("NO_PROXY", "internal.corp,10.0.0.0/8"),
        ]);
        let o = Outbound::load(Some("http://f:3128"), &e).unwrap();
        assert_eq!(
            via(&o, "https://api.openai.com"),
            Some(("http://f:3128".into(), UPSTREAM_PROXY_FLAG))
        );
        assert_eq!(via(&o, "http://plain").unwrap().1, UPSTREAM_PROXY_FLAG);
        assert!(via(&o, "https://gw.internal.corp").is_none());
        assert!(via(&o, "https://10.2.3.4:8443").is_none());
    }

    #[test]
    fn no_proxy_follows_curl_rules() {
        let o = Outbound::load(
            None,
            &env(&[
                ("ALL_PROXY", "proxy.corp:3128"),
                ("no_proxy", "corp.example, .lan,192.168.1.7,fd00::/8"),
            ]),
        )
        .unwrap();
        for bypassed in [
            "https://corp.example",
            "https://api.corp.example",
            "http://host.lan",
            "http://192.168.1.7:80",
            "https://[fd00::1]:443",
        ] {
            assert!(via(&o, bypassed).is_none(), "{bypassed}");
        }
        for proxied in [
            "https://notcorp.example",
            "http://192.168.1.8",
            "https://[::1]",
        ] {
            assert!(via(&o, proxied).is_some(), "{proxied}");
        }
        let star = Outbound::load(
            None,
            &env(&[("ALL_PROXY", "http://p:1"), ("NO_PROXY", "*")]),
        )
        .unwrap();
        assert!(via(&star, "https://anything.example").is_none());
        assert!(via(&star, "https://10.1.2.3").is_none());
    }

    #[test]
    fn credentials_become_basic_auth_and_are_masked_when_shown() {
        let o = Outbound::load(
            Some("http://us%40er:p%3Ass@127.0.0.1:3128"),
            &env(&[("NO_PROXY", "localhost")]),
        )
        .unwrap();
        let v = o.via(&"https://x".parse().unwrap()).unwrap();
        assert_eq!(v.shown, "http://us%40er:***@127.0.0.1:3128");
        assert_eq!(v.proxy, "http://127.0.0.1:3128/");
        // base64("us@er:p:ss")
        assert_eq!(v.auth.unwrap(), "Basic dXNAZXI6cDpzcw==");
        assert_eq!(
            o.describe(),
            serde_json::json!({
                "url": "http://us%40er:***@127.0.0.1:3128",
                "source": "--upstream-proxy",
                "applies_to": "all",
                "no_proxy": "localhost",
            })
        );
        assert!(!format!("{o:?}").contains("p%3Ass"));
        assert_eq!(Outbound::none().describe(), serde_json::Value::Null);
    }

    #[test]
    fn describe_names_a_separate_http_proxy() {
        let o = Outbound::load(
            None,
            &env(&[("HTTPS_PROXY", "http://s:1"), ("HTTP_PROXY", "http://h:2")]),
        )
        .unwrap();
        let d = o.describe();
        assert_eq!(d["url"], "http://s:1");
        assert_eq!(d["applies_to"], "https");
        assert_eq!(d["http"]["source"], "HTTP_PROXY");
        assert_eq!(d["no_proxy"], serde_json::Value::Null);
        let o = Outbound::load(None, &env(&[("http_proxy", "http://h:2")])).unwrap();
        assert_eq!(o.describe()["applies_to"], "http");
    }

    #[test]
    fn masking_keeps_the_user_and_hides_the_password() {
        assert_eq!(masked("http://u:secret@h:1"), "http://u:***@h:1");
        assert_eq!(masked("http://u@h:1"), "http://u@h:1");
        assert_eq!(masked("http://h:1/p"), "http://h:1/p");
        assert_eq!(masked("u:se@cret@h:1"), "u:***@h:1");
        assert_eq!(masked("http://[bad:pw@x"), "http://[bad:***@x");
    }

    #[test]
    fn unusable_proxy_urls_are_one_line_errors_naming_their_source() {
        fn load(flag: Option<&str>, pairs: &'static [(&'static str, &'static str)]) -> String {
            Outbound::load(flag, &env(pairs)).unwrap_err().to_string()
        }
        let msg = load(None, &[("HTTPS_PROXY", "http://user:hunter2@[bad")]);
        assert!(
            msg.starts_with("HTTPS_PROXY=http://user:***@[bad is not a valid proxy URL"),
            "{msg}"
        );
        assert!(!msg.contains("hunter2") && !msg.contains('\n'), "{msg}");

        let msg = load(Some("socks5://127.0.0.1:1080"), &[]);
        assert!(
            msg.starts_with(
                "--upstream-proxy=socks5://127.0.0.1:1080: socks5:// proxies are not supported"
            ),
            "{msg}"
        );
        let msg = load(None, &[("all_proxy", "https://u:pw@p:443")]);
        assert!(
            msg.starts_with("all_proxy=https://u:***@p:443: https:// proxies are not supported"),
            "{msg}"
        );
        let msg = load(Some(""), &[]);
        assert!(
            msg.starts_with("--upstream-proxy= is not a valid proxy URL"),
            "{msg}"
        );
        // A variable that is not used (the flag wins) is not judged.
        assert!(
            Outbound::load(Some("http://p:1"), &env(&[("HTTPS_PROXY", "http://[bad")])).is_ok()
        );
    }
}
