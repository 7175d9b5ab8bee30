//! How the proxy reaches its upstreams on a real network: through the user's outbound HTTP(S)
//! proxy when one applies ([`outbound`]: `--upstream-proxy`, `HTTPS_PROXY`/`NO_PROXY` …), trusting
//! the system's certificate store plus any extra CA ([`trust`]: `--ca-file`, `SSL_CERT_FILE`/
//! `SSL_CERT_DIR`). One [`Egress`] per proxy process: forwarding, `/health?upstream=1` and
//! `headroom doctor` all connect through it, so they judge a network exactly as forwarding does.

pub mod outbound;
pub mod trust;

use std::path::PathBuf;
use std::sync::Arc;

use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;

/// The connector every upstream client uses: TLS (per [`trust`]) over a TCP stream made directly
/// or through a CONNECT tunnel (per [`outbound`]).
pub type Connector = HttpsConnector<outbound::Connect>;

/// `headroom proxy`'s flags for the outbound proxy and extra CAs.
pub const UPSTREAM_PROXY_FLAG: &str = "--upstream-proxy";
pub const CA_FILE_FLAG: &str = "--ca-file";

/// What the user asked for at start (flags); the environment is read by [`Egress::load`].
#[derive(Debug, Clone, Default)]
pub struct EgressOptions {
    /// `--upstream-proxy URL`: beats the `*_PROXY` variables.
    pub upstream_proxy: Option<String>,
    /// `--ca-file PEM` (repeatable): CAs trusted in addition to the system's.
    pub ca_files: Vec<PathBuf>,
}

impl EgressOptions {
    /// The options a proxy started with `args` has (`--flag value` or `--flag=value`; the last
    /// `--upstream-proxy` wins, every `--ca-file` counts), as clap gives `headroom proxy`: so
    /// `doctor` judges a deployment's recorded arguments exactly as its proxy will.
    pub fn from_args(args: &[String]) -> Self {
        use crate::config::flag_values;
        Self {
            upstream_proxy: flag_values(args, UPSTREAM_PROXY_FLAG).pop(),
            ca_files: flag_values(args, CA_FILE_FLAG)
                .into_iter()
                .map(PathBuf::from)
                .collect(),
        }
    }
}

/// A start-time problem with the network settings: the proxy refuses to start (and `doctor`
/// names it) rather than silently going direct or trusting less than asked.
#[derive(Debug, thiserror::Error)]
pub enum EgressError {
    #[error(transparent)]
    Outbound(#[from] outbound::OutboundError),
    #[error(transparent)]
    Trust(#[from] trust::TrustError),
}

/// The proxy's way out, shared (cheaply cloned) by every client it builds.
#[derive(Debug, Clone)]
pub struct Egress {
    pub outbound: Arc<outbound::Outbound>,
    pub trust: Arc<trust::Trust>,
}

impl Egress {
    /// From the flags and an environment lookup (`std::env::var` in the proxy; a deployment's
    /// recorded environment in `doctor`).
    pub fn load(
        options: &EgressOptions,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, EgressError> {
        Ok(Self {
            outbound: Arc::new(outbound::Outbound::load(
                options.upstream_proxy.as_deref(),
                env,
            )?),
            trust: Arc::new(trust::Trust::load(&options.ca_files, env)?),
        })
    }

    /// No outbound proxy, the system's roots: tests and embedding, independent of the caller's
    /// environment.
    pub fn direct() -> Self {
        Self {
            outbound: Arc::new(outbound::Outbound::none()),
            trust: Arc::new(trust::Trust::system()),
        }
    }

    /// A connector for upstream clients; `http2` offers h2 by ALPN (the WebSocket client must
    /// not: an upgrade cannot happen on an HTTP/2 connection).
    pub fn connector(&self, http2: bool) -> Connector {
        let mut http = HttpConnector::new();
        http.set_nodelay(true);
        http.enforce_http(false);
        http.set_connect_timeout(Some(std::time::Duration::from_secs(10)));
        let tcp = self.outbound.connector(http);
        let builder = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(self.trust.client_config())
            .https_or_http();
        if http2 {
            builder.enable_http1().enable_http2().wrap_connector(tcp)
        } else {
            builder.enable_http1().wrap_connector(tcp)
        }
    }

    /// What `/health` (loopback callers) and `install status` show: the proxy in effect
    /// (credentials masked) and the trust sources.
    pub fn describe(&self) -> serde_json::Value {
        serde_json::json!({
            "proxy": self.outbound.describe(),
            "trust": self.trust.describe(),
        })
    }

    /// [`Egress::describe`] as one line for people (`headroom doctor`).
    pub fn summary(&self) -> String {
        let d = self.describe();
        let text = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_owned();
        let proxy = &d["proxy"];
        let mut out = if proxy.is_null() {
            "no outbound proxy (direct connections)".to_owned()
        } else {
            let mut p = format!(
                "outbound proxy {} (from {}",
                text(&proxy["url"]),
                text(&proxy["source"])
            );
            if let Some(no) = proxy["no_proxy"].as_str() {
                p.push_str(&format!(", NO_PROXY={no}"));
            }
            p.push(')');
            if !proxy["http"].is_null() {
                p.push_str(&format!(
                    ", {} for http:// upstreams (from {})",
                    text(&proxy["http"]["url"]),
                    text(&proxy["http"]["source"])
                ));
            }
            p
        };
        let trust = &d["trust"];
        out.push_str(&format!("; trusting {}", text(&trust["system"])));
        if let Some(extra) = trust["extra"].as_array().filter(|e| !e.is_empty()) {
            let names: Vec<String> = extra.iter().map(text).collect();
            out.push_str(&format!(" and {}", names.join(", ")));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_names_the_proxy_masked_and_the_trust_sources() {
        let env = |n: &str| match n {
            "HTTPS_PROXY" => Some("http://ann:s3cret@127.0.0.1:3128".to_owned()),
            "NO_PROXY" => Some("localhost".to_owned()),
            _ => None,
        };
        let e = Egress::load(&EgressOptions::default(), &env).unwrap();
        let s = e.summary();
        assert!(
            s.starts_with("outbound proxy http://ann:***@127.0.0.1:3128 (from HTTPS_PROXY, NO_PROXY=localhost); trusting "),
            "{s}"
        );
        assert!(!s.contains("s3cret"), "{s}");
        let direct = Egress::load(&EgressOptions::default(), &|_| None).unwrap();
        assert!(
            direct
                .summary()
                .starts_with("no outbound proxy (direct connections); trusting ")
        );
    }

    #[test]
    fn options_are_read_from_recorded_arguments_as_clap_reads_them() {
        let args: Vec<String> = [
            "--port",
            "1",
            "--upstream-proxy",
            "http://a:1",
            "--ca-file=/x.pem",
            "--upstream-proxy=http://b:2",
            "--ca-file",
            "/y.pem",
        ]
        .map(String::from)
        .to_vec();
        let o = EgressOptions::from_args(&args);
        assert_eq!(o.upstream_proxy.as_deref(), Some("http://b:2"));
        assert_eq!(
            o.ca_files,
            [PathBuf::from("/x.pem"), PathBuf::from("/y.pem")]
        );
        assert!(
            EgressOptions::from_args(&["--ca-file".into()])
                .ca_files
                .is_empty()
        );
    }
}
