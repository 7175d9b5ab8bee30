//! What a proxy process is told at start: where to listen, where each provider lives, who may call.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use http::Uri;
use serde::Serialize;

pub const DEFAULT_ANTHROPIC_URL: &str = "https://api.anthropic.com";
pub const DEFAULT_OPENAI_URL: &str = "https://api.openai.com";

/// Everything `serve` needs. Built by the CLI from flags and environment.
#[derive(Debug, Clone)]
pub struct ProxyConfig {
    pub listen: SocketAddr,
    pub anthropic: Upstream,
    pub openai: Upstream,
    /// Required from non-loopback callers when set (`HEADROOM_PROXY_TOKEN`).
    pub token: Option<String>,
    /// Time allowed for an upstream to send response headers (an LLM may think for minutes).
    pub upstream_timeout: Duration,
    /// How long in-flight requests may keep running after SIGTERM/SIGINT.
    pub drain_timeout: Duration,
    /// Set when a persistent deployment launched this process (`HEADROOM_DEPLOYMENT_*`).
    pub deployment: Option<DeploymentInfo>,
    /// How much tool outputs may be changed on the way upstream (`--compress`).
    pub compress: headroom_compress::Mode,
    /// Where the `full` tier keeps what it cut (`--retrieve-dir`, by default the state dir's
    /// `retrieve/`); `None` when there is none.
    pub retrieve_dir: Option<PathBuf>,
    /// How upstreams are reached: outbound proxy and trusted CAs (`--upstream-proxy`,
    /// `--ca-file`, the `*_PROXY` and `SSL_CERT_*` variables).
    pub egress: crate::egress::Egress,
    /// Upstreams a loopback caller may pick per request with [`UPSTREAM_HEADER`]
    /// (`--allow-upstream`); empty (the default) refuses the header.
    pub allowed_upstreams: Vec<AllowedUpstream>,
    /// The per-request usage history (`--usage-db`, `--usage-retention`, `--no-usage-history`).
    pub usage: UsageSettings,
}

/// Where the usage history is kept and for how long.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageSettings {
    /// The SQLite file; `None` keeps no history.
    pub db: Option<PathBuf>,
    /// Rows older than this are deleted.
    pub retention: Duration,
}

impl Default for UsageSettings {
    /// No history (tests and embedders opt in); 90 days once a path is given.
    fn default() -> Self {
        Self {
            db: None,
            retention: Duration::from_secs(90 * 24 * 3600),
        }
    }
}

/// One `--allow-upstream URL`, read as each provider's clients read a base URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedUpstream {
    pub anthropic: Upstream,
    pub openai: Upstream,
}

impl AllowedUpstream {
    pub fn parse(url: &str) -> anyhow::Result<Self> {
        Ok(Self {
            anthropic: Upstream::parse(url)?,
            openai: Upstream::parse_openai(url)?,
        })
    }

    fn for_provider(&self, provider: crate::errors::Provider) -> &Upstream {
        match provider {
            crate::errors::Provider::Anthropic => &self.anthropic,
            crate::errors::Provider::OpenAi => &self.openai,
        }
    }
}

/// The per-request upstream override header (advanced setups: one proxy, several gateways).
pub const UPSTREAM_HEADER: &str = "x-headroom-upstream";

impl ProxyConfig {
    /// Loopback defaults for tests and embedding: both upstreams at `upstream`.
    pub fn loopback(port: u16, upstream: &str) -> anyhow::Result<Self> {
        Ok(Self {
            listen: SocketAddr::from(([127, 0, 0, 1], port)),
            anthropic: Upstream::parse(upstream)?,
            openai: Upstream::parse_openai(upstream)?,
            token: None,
            upstream_timeout: Duration::from_secs(600),
            drain_timeout: Duration::from_secs(10),
            deployment: None,
            compress: headroom_compress::Mode::Lossless,
            retrieve_dir: None,
            egress: crate::egress::Egress::direct(),
            allowed_upstreams: Vec::new(),
            usage: UsageSettings::default(),
        })
    }

    /// Refuse to listen beyond loopback without a token, unless the caller explicitly accepted it.
    pub fn check_exposure(&self, allow_unauthenticated: bool) -> anyhow::Result<()> {
        if !self.listen.ip().is_loopback() && self.token.is_none() && !allow_unauthenticated {
            bail!(
                "refusing to listen on {} without HEADROOM_PROXY_TOKEN: anyone who can reach it could spend your API credits (set the token, or pass --allow-unauthenticated-remote)",
                self.listen
            );
        }
        Ok(())
    }
}

/// A provider's base URL: scheme + authority (+ an optional path prefix), never ending in `/v1`,
/// because clients always send `/v1/...` paths.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstream {
    pub scheme: http::uri::Scheme,
    pub authority: http::uri::Authority,
    /// Path prefix without a trailing slash ("" for none).
    pub prefix: String,
    /// `prefix` replaces the client's `/v1` instead of preceding it: an OpenAI base URL with a
    /// path is the versioned base itself (`https://gw/openai` → `https://gw/openai/responses`, as
    /// Codex and the OpenAI SDKs send it), while Anthropic clients always append `/v1/...`.
    pub versioned: bool,
}

impl Upstream {
    /// `url` as the base of `provider`'s API, read the way that provider's clients read it
    /// ([`Upstream::parse`] for Anthropic, [`Upstream::parse_openai`] for OpenAI).
    pub fn parse_for(provider: crate::errors::Provider, url: &str) -> anyhow::Result<Self> {
        match provider {
            crate::errors::Provider::Anthropic => Self::parse(url),
            crate::errors::Provider::OpenAi => Self::parse_openai(url),
        }
    }

    /// An OpenAI base URL: no path means the public layout (`/v1/...`); a path ending in `/v1`
    /// is that prefix; any other path is the versioned base clients append `/responses` to.
    pub fn parse_openai(url: &str) -> anyhow::Result<Self> {
        let mut up = Self::parse(url)?;
        let path = url
            .trim()
            .parse::<Uri>()
            .map(|u| u.path().trim_end_matches('/').to_owned())
            .unwrap_or_default();
        if !path.is_empty() && !path.ends_with("/v1") {
            up.versioned = true;
        }
        Ok(up)
    }

    /// A base URL the way Anthropic clients use it: they append `/v1/...`, so a trailing `/v1`
    /// (and `/`) is tolerated and dropped.
    pub fn parse(url: &str) -> anyhow::Result<Self> {
        let uri: Uri = url
            .trim()
            .parse()
            .with_context(|| format!("invalid upstream URL {url:?}"))?;
        let scheme = uri
            .scheme()
            .cloned()
            .with_context(|| format!("invalid upstream URL {url:?}: needs http:// or https://"))?;
        if scheme != http::uri::Scheme::HTTP && scheme != http::uri::Scheme::HTTPS {
            bail!("invalid upstream URL {url:?}: needs http:// or https://");
        }
        let authority = uri
            .authority()
            .cloned()
            .with_context(|| format!("invalid upstream URL {url:?}: no host"))?;
        let mut prefix = uri.path().trim_end_matches('/').to_owned();
        if let Some(stripped) = prefix.strip_suffix("/v1") {
            prefix = stripped.to_owned();
        }
        Ok(Self {
            scheme,
            authority,
            prefix,
            versioned: false,
        })
    }

    /// The upstream URI for a client's path and query (`/v1/messages?beta=true`).
    pub fn join(&self, path_and_query: &str) -> Result<Uri, http::Error> {
        let rest = match path_and_query.strip_prefix("/v1") {
            Some(rest) if self.versioned && (rest.is_empty() || rest.starts_with(['/', '?'])) => {
                rest
            }
            _ => path_and_query,
        };
        Uri::builder()
            .scheme(self.scheme.clone())
            .authority(self.authority.clone())
            .path_and_query(format!("{}{rest}", self.prefix))
            .build()
    }

    pub fn display(&self) -> String {
        format!("{}://{}{}", self.scheme, self.authority, self.prefix)
    }

    /// The same destination: scheme, host (case-insensitively), port, prefix and layout.
    pub fn same_as(&self, other: &Upstream) -> bool {
        self.scheme == other.scheme
            && self
                .authority
                .host()
                .eq_ignore_ascii_case(other.authority.host())
            && self.authority.port_u16() == other.authority.port_u16()
            && self.prefix == other.prefix
            && self.versioned == other.versioned
    }
}

/// Why a request's [`UPSTREAM_HEADER`] was refused (403: the request is not forwarded anywhere,
/// never silently sent to the default upstream instead).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OverrideRefused {
    #[error("{UPSTREAM_HEADER} is accepted only from callers on this machine")]
    NotLocal,
    #[error("{UPSTREAM_HEADER} is not enabled: start headroom proxy with --allow-upstream URL")]
    NotEnabled,
    #[error("{UPSTREAM_HEADER} {0:?} is not an allowed upstream (see --allow-upstream)")]
    NotAllowed(String),
}

impl ProxyConfig {
    /// The upstream for a request to `provider`: the configured one, or the allowed one its
    /// [`UPSTREAM_HEADER`] names.
    pub fn upstream_for(
        &self,
        provider: crate::errors::Provider,
        headers: &http::HeaderMap,
        local: bool,
    ) -> Result<&Upstream, OverrideRefused> {
        let Some(value) = headers.get(UPSTREAM_HEADER) else {
            return Ok(match provider {
                crate::errors::Provider::Anthropic => &self.anthropic,
                crate::errors::Provider::OpenAi => &self.openai,
            });
        };
        if !local {
            return Err(OverrideRefused::NotLocal);
        }
        if self.allowed_upstreams.is_empty() {
            return Err(OverrideRefused::NotEnabled);
        }
        let text = String::from_utf8_lossy(value.as_bytes());
        let shown: String = text.chars().take(200).collect();
        let asked = Upstream::parse_for(provider, &text)
            .map_err(|_| OverrideRefused::NotAllowed(shown.clone()))?;
        self.allowed_upstreams
            .iter()
            .map(|a| a.for_provider(provider))
            .find(|u| u.same_as(&asked))
            .ok_or(OverrideRefused::NotAllowed(shown))
    }
}

/// The `deployment` block of `/health`: which persistent install started this process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeploymentInfo {
    pub profile: String,
    pub preset: String,
    pub runtime: String,
    pub supervisor: String,
    pub scope: String,
}

impl DeploymentInfo {
    /// From `HEADROOM_DEPLOYMENT_*`; `None` unless at least the profile is set.
    pub fn from_env() -> Option<Self> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Option<Self> {
        use headroom_core::env as vars;
        let var = |name: &str| get(name).filter(|v| !v.is_empty()).unwrap_or_default();
        let profile = var(vars::DEPLOYMENT_PROFILE);
        if profile.is_empty() {
            return None;
        }
        Some(Self {
            profile,
            preset: var(vars::DEPLOYMENT_PRESET),
            runtime: var(vars::DEPLOYMENT_RUNTIME),
            supervisor: var(vars::DEPLOYMENT_SUPERVISOR),
            scope: var(vars::DEPLOYMENT_SCOPE),
        })
    }
}

/// `~/.headroom/retrieve` (`StateDir::retrieve_dir`) when `HOME` is usable, else none.
pub fn default_retrieve_dir() -> Option<PathBuf> {
    let home = headroom_core::home_dir().ok()?;
    Some(headroom_core::StateDir::new(&home).retrieve_dir())
}

/// `~/.headroom/usage.db` (`StateDir::usage_db`) when `HOME` is usable, else none.
pub fn default_usage_db() -> Option<PathBuf> {
    let home = headroom_core::home_dir().ok()?;
    Some(headroom_core::StateDir::new(&home).usage_db())
}

/// Every value `flag` is given in `args`, in order, as clap reads `headroom proxy`'s arguments
/// (`--flag value` or `--flag=value`; a trailing `--flag` has none): how a deployment's recorded
/// arguments are judged outside the proxy (`doctor`, `install status`). The last one is what a
/// single-valued flag ends up as.
pub fn flag_values(args: &[String], flag: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == flag {
            out.extend(it.next().cloned());
        } else if let Some(v) = a.strip_prefix(flag).and_then(|r| r.strip_prefix('=')) {
            out.push(v.to_owned());
        }
    }
    out
}

/// Whether a caller's address counts as local (no token needed, `config` shown in `/health`).
pub fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_tolerates_trailing_v1_and_slashes() {
        for url in [
            "http://127.0.0.1:9000",
            "http://127.0.0.1:9000/",
            "http://127.0.0.1:9000/v1",
            "http://127.0.0.1:9000/v1/",
        ] {
            let u = Upstream::parse(url).unwrap();
            assert_eq!(
                u.join("/v1/messages?beta=true").unwrap().to_string(),
                "http://127.0.0.1:9000/v1/messages?beta=true",
                "{url}"
            );
        }
        let gw = Upstream::parse("https://gw.example/openai/v1").unwrap();
        assert_eq!(
            gw.join("/v1/models").unwrap().to_string(),
            "https://gw.example/openai/v1/models"
        );
    }

    #[test]
    fn an_openai_base_with_a_path_is_the_versioned_base_as_its_clients_read_it() {
        let join = |url: &str, pq: &str| {
            Upstream::parse_openai(url)
                .unwrap()
                .join(pq)
                .unwrap()
                .to_string()
        };
        // What Codex / the OpenAI SDK send for each base_url, headroom sends upstream.
        assert_eq!(
            join("https://api.openai.com", "/v1/responses"),
            "https://api.openai.com/v1/responses"
        );
        assert_eq!(
            join("https://gw.example/openai/v1/", "/v1/responses"),
            "https://gw.example/openai/v1/responses"
        );
        assert_eq!(
            join("https://az.example/openai/", "/v1/responses?api-version=1"),
            "https://az.example/openai/responses?api-version=1"
        );
        assert_eq!(
            join("https://az.example/openai", "/v1/chat/completions"),
            "https://az.example/openai/chat/completions"
        );
        // Anthropic clients always append /v1/...: the same URL keeps it there.
        assert_eq!(
            Upstream::parse("https://gw.example/anthropic/")
                .unwrap()
                .join("/v1/messages")
                .unwrap()
                .to_string(),
            "https://gw.example/anthropic/v1/messages"
        );
    }

    #[test]
    fn upstream_rejects_what_cannot_be_forwarded_to() {
        for bad in ["127.0.0.1:9000", "ftp://x", "not a url", "/v1"] {
            assert!(Upstream::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_upstream_header_picks_only_an_allowed_upstream_and_only_for_local_callers() {
        use crate::errors::Provider;
        let mut c = ProxyConfig::loopback(1, "http://127.0.0.1:2").unwrap();
        let none = http::HeaderMap::new();
        assert_eq!(
            c.upstream_for(Provider::OpenAi, &none, false).unwrap(),
            &c.openai
        );
        let mut h = http::HeaderMap::new();
        h.insert(
            UPSTREAM_HEADER,
            "https://GW.example/corp/v1/".parse().unwrap(),
        );
        // Never by default.
        assert_eq!(
            c.upstream_for(Provider::OpenAi, &h, true),
            Err(OverrideRefused::NotEnabled)
        );
        c.allowed_upstreams = vec![AllowedUpstream::parse("https://gw.example/corp").unwrap()];
        let picked = c.upstream_for(Provider::Anthropic, &h, true).unwrap();
        assert_eq!(picked.display(), "https://gw.example/corp");
        assert_eq!(
            c.upstream_for(Provider::Anthropic, &h, false),
            Err(OverrideRefused::NotLocal)
        );
        for other in [
            "https://gw.example/other",
            "http://gw.example/corp",
            "https://gw.example:444/corp",
            "not a url",
        ] {
            h.insert(UPSTREAM_HEADER, other.parse().unwrap());
            assert!(
                matches!(
                    c.upstream_for(Provider::OpenAi, &h, true),
                    Err(OverrideRefused::NotAllowed(_))
                ),
                "{other}"
            );
        }
    }

    #[test]
    fn deployment_block_needs_a_profile() {
        assert_eq!(DeploymentInfo::from_lookup(|_| None), None);
        let d = DeploymentInfo::from_lookup(|n| {
            Some(n.trim_start_matches("HEADROOM_DEPLOYMENT_").to_lowercase())
        })
        .unwrap();
        assert_eq!(d.profile, "profile");
        assert_eq!(d.scope, "scope");
    }

    #[test]
    fn exposure_needs_a_token_or_an_explicit_yes() {
        let mut c = ProxyConfig::loopback(1, "http://127.0.0.1:2").unwrap();
        assert!(c.check_exposure(false).is_ok());
        c.listen = "0.0.0.0:1".parse().unwrap();
        assert!(c.check_exposure(false).is_err());
        assert!(c.check_exposure(true).is_ok());
        c.token = Some("t".into());
        assert!(c.check_exposure(false).is_ok());
        assert!(is_loopback("::ffff:127.0.0.1".parse().unwrap()));
        assert!(!is_loopback("10.0.0.1".parse().unwrap()));
    }
}
