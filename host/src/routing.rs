//! Whether a tool is routed through headroom: the one place that decides it. The adapters report
//! where each tool sends its requests (its effective base URL, resolved with the tool's own
//! precedence); the host compares that URL with the deployment's proxy origin. `headroom doctor`
//! prints it, `install apply` checks it before writing ([`blocked`]) and after.

use std::collections::BTreeMap;

use headroom_plugins::{AdapterContext, AdapterHost, PluginEntry, Route, RouteSource, Scope};
use headroom_proxy::config::{DEFAULT_ANTHROPIC_URL, DEFAULT_OPENAI_URL, Upstream};
use headroom_proxy::errors::Provider;

/// One selected tool's effective routing.
#[derive(Debug, Clone)]
pub struct ToolRoute {
    pub target: String,
    /// The adapter that reported it.
    pub adapter: String,
    pub route: Route,
    /// `route.url` is the deployment's proxy.
    pub routed: bool,
}

/// A tool whose routing could not be read (its adapter failed or refused, e.g. a config file
/// broken by hand); `message` is the adapter's one line.
#[derive(Debug, Clone)]
pub struct RouteError {
    pub target: String,
    pub adapter: Option<String>,
    pub message: String,
}

/// `http://<probe host>:<port>`: what a tool must send to, as [`normalise`]d.
pub fn proxy_origin(bind_host: &str, port: u16) -> String {
    let host = headroom_deploy::manifest::probe_host(bind_host);
    normalise(&format!("http://{host}:{port}")).unwrap_or_default()
}

/// A base URL reduced to what decides where requests go, read with the proxy's own URL grammar
/// ([`Upstream::parse`]: http(s) only, the path without a trailing slash or `/v1`, since clients
/// append `/v1/...` themselves), the host lower-cased and any userinfo or query left out.
/// `None` for text that is not an absolute http(s) URL.
pub fn normalise(url: &str) -> Option<String> {
    let up = Upstream::parse(url).ok()?;
    let host = up.authority.host().to_ascii_lowercase();
    let port = up
        .authority
        .port()
        .map(|p| format!(":{p}"))
        .unwrap_or_default();
    Some(format!("{}://{host}{port}{}", up.scheme, up.prefix))
}

/// `url` points at `origin` (already [`normalise`]d, e.g. [`proxy_origin`]).
pub fn is_routed(url: Option<&str>, origin: &str) -> bool {
    url.and_then(normalise).is_some_and(|u| u == origin)
}

/// The adapter that knows where `target` really sends its requests: the tool's own one (serving
/// it at provider scope: it knows the tool's precedence, e.g. Claude's settings.json `env` over
/// the environment), else the one serving it at the deployment's scope (shell-env for tools
/// configured only through the environment). With the scope its context is built at.
pub fn reporting_adapter<'h>(
    host: &'h AdapterHost,
    target: &str,
    deploy_scope: Scope,
) -> Option<(&'h PluginEntry, Scope)> {
    host.for_target(target, Scope::Provider)
        .map(|e| (e, Scope::Provider))
        .or_else(|| {
            host.for_target(target, deploy_scope)
                .map(|e| (e, deploy_scope))
        })
}

/// Each of `targets`' effective routing, in `targets`' order, compared with the proxy at
/// `bind_host:port`. One adapter call per reporting adapter (a failure is every one of its
/// targets' error).
pub fn routes(
    host: &AdapterHost,
    targets: &[String],
    deploy_scope: Scope,
    bind_host: &str,
    port: u16,
    profile: &str,
) -> Vec<Result<ToolRoute, RouteError>> {
    let origin = proxy_origin(bind_host, port);
    // adapter id → (scope, its targets), so shell-env answers for all its tools at once.
    let mut by_adapter: BTreeMap<String, (Scope, Vec<String>)> = BTreeMap::new();
    let mut unserved = Vec::new();
    for t in targets {
        match reporting_adapter(host, t, deploy_scope) {
            Some((e, scope)) => by_adapter
                .entry(e.id.clone())
                .or_insert_with(|| (scope, Vec::new()))
                .1
                .push(t.clone()),
            None => unserved.push(t.clone()),
        }
    }
    let mut found: BTreeMap<String, Result<ToolRoute, RouteError>> = BTreeMap::new();
    for (id, (scope, served)) in by_adapter {
        let ctx = AdapterContext {
            port,
            scope,
            profile: profile.to_owned(),
            targets: served.clone(),
        };
        match host.routing(&id, &ctx) {
            Ok(list) => {
                for route in list {
                    let routed = is_routed(route.url.as_deref(), &origin);
                    found.insert(
                        route.target.clone(),
                        Ok(ToolRoute {
                            target: route.target.clone(),
                            adapter: id.clone(),
                            route,
                            routed,
                        }),
                    );
                }
            }
            Err(e) => {
                let message = one_line(&e);
                for t in &served {
                    found.insert(
                        t.clone(),
                        Err(RouteError {
                            target: t.clone(),
                            adapter: Some(id.clone()),
                            message: message.clone(),
                        }),
                    );
                }
            }
        }
    }
    targets
        .iter()
        .map(|t| {
            found.remove(t).unwrap_or_else(|| {
                Err(RouteError {
                    target: t.clone(),
                    adapter: None,
                    message: if unserved.contains(t) {
                        format!(
                            "no usable adapter reports {t}'s routing (see `headroom plugins list`)"
                        )
                    } else {
                        format!("its adapter did not report {t}'s routing")
                    },
                })
            })
        })
        .collect()
}

/// An error's whole context chain on one line, control characters removed (adapter text).
fn one_line(e: &anyhow::Error) -> String {
    format!("{e:#}")
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// An edit `install apply` is about to make that would not route the tool: a setting of higher
/// precedence in the tool's own config beats it. `line` names the file and key and the fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blocked {
    pub target: String,
    pub line: String,
}

/// Before writing: for each `(target, writing adapter)` of the selection, the reporting
/// adapter's route (from [`routes`]) blocks the edit when the tool's own config decides its URL
/// (`source` config, not already the proxy) and the writer is another adapter writing the
/// environment, which the tool reads only after its config. `deploy_scope` is the install's.
pub fn blocked(
    writers: &[(String, String)],
    reported: &[ToolRoute],
    deploy_scope: Scope,
    profile: &str,
) -> Vec<Blocked> {
    if deploy_scope == Scope::Provider {
        // The writer is the tool's own adapter: it edits the very key that decides.
        return Vec::new();
    }
    writers
        .iter()
        .filter_map(|(target, writer)| {
            let r = reported.iter().find(|r| &r.target == target)?;
            if r.routed || r.route.source != RouteSource::Config || &r.adapter == writer {
                return None;
            }
            let url = r.route.url.as_deref().unwrap_or("its default endpoint");
            Some(Blocked {
                target: target.clone(),
                line: format!(
                    "{target}: {via} sets {url} and beats the environment variable {writer} would write; \
                     let headroom own that key (restored on remove) with `headroom install apply --profile {profile} --scope provider --providers manual --target {target}`, \
                     or remove it from {via} by hand",
                    via = r.route.via,
                ),
            })
        })
        .collect()
}

/// The API a tool's reported URL serves, for the targets whose URL has one meaning: Claude Code
/// speaks Anthropic's, Codex OpenAI's; aider and Cursor both, by the variable reported (`via`
/// names it). `None` for the others: OpenClaw's providers mix both APIs, OpenCode adds its own
/// provider, and Copilot is switched to Anthropic's API by the export while its own URL may be
/// of either kind.
pub fn provider_of(target: &str, via: &str) -> Option<Provider> {
    match target {
        "claude" => Some(Provider::Anthropic),
        "codex" => Some(Provider::OpenAi),
        "aider" | "cursor" if via.starts_with("ANTHROPIC_BASE_URL") => Some(Provider::Anthropic),
        "aider" | "cursor" => Some(Provider::OpenAi),
        _ => None,
    }
}

/// The provider's public API, as [`normalise`]d.
fn public_api(provider: Provider) -> String {
    let url = match provider {
        Provider::Anthropic => DEFAULT_ANTHROPIC_URL,
        Provider::OpenAi => DEFAULT_OPENAI_URL,
    };
    normalise(url).unwrap_or_default()
}

/// A tool's own base URL that routing it through headroom sets aside: where its provider's
/// requests must keep going, through the proxy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gateway {
    pub target: String,
    pub provider: Provider,
    /// As the tool has it.
    pub url: String,
    /// The file and key, or the variable, it is set in.
    pub via: String,
}

/// What the pre-write `reported` routes set aside: each tool whose URL is set (config or
/// environment), not the proxy and not its provider's public API. Tools whose API is not known
/// ([`provider_of`]) give a note instead: their URL is not carried over.
pub fn gateways(reported: &[ToolRoute]) -> (Vec<Gateway>, Vec<String>) {
    let mut found = Vec::new();
    let mut notes = Vec::new();
    for r in reported {
        let Some(url) = r.route.url.as_deref() else {
            continue;
        };
        if r.routed || r.route.source == RouteSource::Default {
            continue;
        }
        let provider = provider_of(&r.target, &r.route.via);
        if provider.is_some_and(|p| normalise(url).is_some_and(|u| u == public_api(p))) {
            continue;
        }
        match provider {
            Some(provider) => found.push(Gateway {
                target: r.target.clone(),
                provider,
                url: url.to_owned(),
                via: r.route.via.clone(),
            }),
            None => notes.push(format!(
                "{}: its own URL {url} ({}) is not carried over: headroom forwards to each provider's public API unless `--anthropic-api-url`/`--openai-api-url` sets the upstream",
                r.target, r.route.via
            )),
        }
    }
    (found, notes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(target: &str, url: Option<&str>, source: RouteSource, via: &str) -> Route {
        Route {
            target: target.into(),
            url: url.map(Into::into),
            source,
            via: via.into(),
            notes: vec![],
        }
    }

    fn tool(adapter: &str, r: Route, origin: &str) -> ToolRoute {
        ToolRoute {
            target: r.target.clone(),
            adapter: adapter.into(),
            routed: is_routed(r.url.as_deref(), origin),
            route: r,
        }
    }

    #[test]
    fn the_origin_is_the_probe_host_and_port() {
        assert_eq!(proxy_origin("127.0.0.1", 8787), "http://127.0.0.1:8787");
        assert_eq!(proxy_origin("0.0.0.0", 9), "http://127.0.0.1:9");
        assert_eq!(proxy_origin("::", 9), "http://[::1]:9");
    }

    #[test]
    fn urls_are_compared_by_origin_and_path_without_v1_or_slash() {
        let o = proxy_origin("127.0.0.1", 8787);
        for yes in [
            "http://127.0.0.1:8787",
            "http://127.0.0.1:8787/",
            "http://127.0.0.1:8787/v1",
            "http://127.0.0.1:8787/v1/",
            "HTTP://127.0.0.1:8787/v1",
            " http://127.0.0.1:8787/v1?x=1 ",
        ] {
            assert!(is_routed(Some(yes), &o), "{yes}");
        }
        for no in [
            "http://127.0.0.1:8788",
            "https://127.0.0.1:8787",
            "http://localhost:8787",
            "http://127.0.0.1:8787/anthropic",
            "http://127.0.0.1:8787/v1/v2",
            "https://api.anthropic.com",
            "127.0.0.1:8787",
            "",
        ] {
            assert!(!is_routed(Some(no), &o), "{no}");
        }
        assert!(!is_routed(None, &o));
        assert_eq!(
            normalise("HTTPS://Gateway.Corp/Anthropic/").as_deref(),
            Some("https://gateway.corp/Anthropic")
        );
    }

    #[test]
    fn a_config_setting_blocks_an_environment_writer_and_names_the_fix() {
        let o = proxy_origin("127.0.0.1", 8787);
        let claude = tool(
            "claude",
            route(
                "claude",
                Some("https://gateway.corp"),
                RouteSource::Config,
                "~/.claude/settings.json env.ANTHROPIC_BASE_URL",
            ),
            &o,
        );
        let writers = vec![("claude".to_owned(), "shell-env".to_owned())];
        let b = blocked(
            &writers,
            std::slice::from_ref(&claude),
            Scope::User,
            "default",
        );
        assert_eq!(b.len(), 1);
        assert_eq!(b[0].target, "claude");
        let line = &b[0].line;
        assert!(
            line.contains(
                "~/.claude/settings.json env.ANTHROPIC_BASE_URL sets https://gateway.corp"
            ),
            "{line}"
        );
        assert!(
            line.contains("headroom install apply --profile default --scope provider"),
            "{line}"
        );
        assert!(line.contains("by hand"), "{line}");
        // The tool's own adapter writing the key, or a provider-scope install, is not blocked.
        let own = vec![("claude".to_owned(), "claude".to_owned())];
        assert!(blocked(&own, std::slice::from_ref(&claude), Scope::User, "p").is_empty());
        assert!(
            blocked(
                &writers,
                std::slice::from_ref(&claude),
                Scope::Provider,
                "p"
            )
            .is_empty()
        );
    }

    #[test]
    fn environment_default_or_already_routed_settings_do_not_block() {
        let o = proxy_origin("127.0.0.1", 8787);
        let writers = vec![("t".to_owned(), "shell-env".to_owned())];
        for (url, source) in [
            (Some("https://x"), RouteSource::Environment),
            (None, RouteSource::Default),
            (Some("http://127.0.0.1:8787/v1"), RouteSource::Config),
        ] {
            let r = tool("own", route("t", url, source, "v"), &o);
            assert!(
                blocked(&writers, &[r], Scope::User, "p").is_empty(),
                "{url:?} {source:?}"
            );
        }
        // A target nothing reported is not blocked here (the post-apply check catches it).
        assert!(blocked(&writers, &[], Scope::User, "p").is_empty());
    }

    #[test]
    fn a_tools_own_url_is_its_providers_gateway_unless_default_or_the_proxy() {
        let o = proxy_origin("127.0.0.1", 8787);
        let reported = [
            tool(
                "claude",
                route(
                    "claude",
                    Some("https://gw.corp/anthropic/"),
                    RouteSource::Config,
                    "~/.claude/settings.json env.ANTHROPIC_BASE_URL",
                ),
                &o,
            ),
            tool(
                "codex",
                route(
                    "codex",
                    Some("https://api.openai.com/v1/"),
                    RouteSource::Config,
                    "c",
                ),
                &o,
            ),
            tool(
                "shell-env",
                route(
                    "cursor",
                    Some("https://gw.corp/a"),
                    RouteSource::Environment,
                    "ANTHROPIC_BASE_URL (login shell)",
                ),
                &o,
            ),
            tool(
                "shell-env",
                route(
                    "aider",
                    Some("http://127.0.0.1:8787/v1"),
                    RouteSource::Environment,
                    "OPENAI_API_BASE (login shell)",
                ),
                &o,
            ),
            tool(
                "openclaw",
                route(
                    "openclaw",
                    Some("https://mixed.corp"),
                    RouteSource::Config,
                    "openclaw.json",
                ),
                &o,
            ),
        ];
        let (found, notes) = gateways(&reported);
        assert_eq!(
            found
                .iter()
                .map(|g| (g.target.as_str(), g.provider, g.url.as_str()))
                .collect::<Vec<_>>(),
            [
                ("claude", Provider::Anthropic, "https://gw.corp/anthropic/"),
                ("cursor", Provider::Anthropic, "https://gw.corp/a"),
            ]
        );
        assert_eq!(notes.len(), 1, "{notes:?}");
        assert!(
            notes[0].starts_with(
                "openclaw: its own URL https://mixed.corp (openclaw.json) is not carried over"
            ),
            "{notes:?}"
        );
        assert!(notes[0].contains("--anthropic-api-url"), "{notes:?}");
    }
}
