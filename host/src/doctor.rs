//! `headroom doctor`: is this deployment healthy, and does every tool it selects really go
//! through it? One verdict per check, each with what it found and the command that fixes it.
//! It changes none of the user's files: adapters run only their read-only exports (`detect`,
//! `routing`); headroom's own compile cache and run records are all it may write.
//! The CLI (`cli/doctor.rs`) prints the report.

use std::path::Path;

use headroom_deploy::health::{self, PortOwner};
use headroom_deploy::manifest::{
    ManifestError, ProviderMode, Scope as DeployScope, SupervisorKind,
};
use headroom_deploy::routing_state::{OffReason, Routing};
use headroom_deploy::status::FileState;
use headroom_deploy::supervisors::systemd::Systemd;
use headroom_deploy::{Deployment, ProfileName, ProfilePaths, lifecycle};
use headroom_plugins::{AdapterHost, HostOptions, RouteSource};
use headroom_proxy::config::Upstream;
use headroom_proxy::egress::{Egress, EgressOptions};
use headroom_proxy::errors::Provider;
use headroom_proxy::probe::Step;

use crate::{routing, tools};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Ok,
    Warn,
    Fail,
}

impl Verdict {
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Ok => "ok",
            Verdict::Warn => "warn",
            Verdict::Fail => "FAIL",
        }
    }
}

/// One line of the report.
#[derive(Debug, Clone)]
pub struct Check {
    /// Stable: `manifest`, `supervisor`, `port`, `tool.codex.routed`, `upstream.openai`, …
    pub id: String,
    pub status: Verdict,
    pub message: String,
    /// The exact command (or action) that fixes it; none when there is nothing to fix.
    pub fix: Option<String>,
}

/// What was found about one selected tool.
#[derive(Debug, Clone)]
pub struct ToolReport {
    pub target: String,
    pub adapter: Option<String>,
    /// The adapter detects the tool on this machine (none when detection failed).
    pub installed: Option<bool>,
    pub routed: bool,
    pub url: Option<String>,
    pub source: Option<RouteSource>,
    pub via: Option<String>,
    pub notes: Vec<String>,
    /// The URL the tool uses answers `/readyz` as this deployment's proxy.
    pub reaches_proxy: bool,
}

#[derive(Debug, Clone)]
pub struct Report {
    pub profile: String,
    pub checks: Vec<Check>,
    pub tools: Vec<ToolReport>,
}

impl Report {
    /// The stable `--json` shape: `{ profile, checks: [{ id, status, message, fix }], tools }`
    /// (status `ok`, `warn` or `fail`).
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::json;
        json!({
            "profile": self.profile,
            "ok": self.ok(),
            "checks": self.checks.iter().map(|c| json!({
                "id": c.id,
                "status": c.status.label().to_ascii_lowercase(),
                "message": c.message,
                "fix": c.fix,
            })).collect::<Vec<_>>(),
            "tools": self.tools.iter().map(|t| json!({
                "target": t.target,
                "adapter": t.adapter,
                "installed": t.installed,
                "routed": t.routed,
                "url": t.url,
                "source": t.source.map(|s| serde_json::to_value(s).unwrap_or_default()),
                "via": t.via,
                "notes": t.notes,
                "reaches_proxy": t.reaches_proxy,
            })).collect::<Vec<_>>(),
        })
    }

    /// Everything selected is routed and healthy (warnings do not count).
    pub fn ok(&self) -> bool {
        self.checks.iter().all(|c| c.status != Verdict::Fail)
    }

    fn push(
        &mut self,
        id: impl Into<String>,
        status: Verdict,
        message: String,
        fix: Option<String>,
    ) {
        self.checks.push(Check {
            id: id.into(),
            status,
            message,
            fix,
        });
    }
}

/// Run every check for `profile`.
pub fn run(opts: &HostOptions, profile: &str, exe: &Path) -> anyhow::Result<Report> {
    let name = ProfileName::new(profile)?;
    let mut r = Report {
        profile: profile.to_owned(),
        checks: Vec::new(),
        tools: Vec::new(),
    };
    environment(&mut r, opts);
    let paths = ProfilePaths::new(&opts.home, &name);
    match lifecycle::load(&opts.home, &name, exe) {
        Ok(d) => {
            r.push(
                "manifest",
                Verdict::Ok,
                format!(
                    "deployment {profile}: {} on port {}, {} scope, targets {}",
                    d.manifest.preset,
                    d.manifest.port,
                    d.manifest.scope,
                    list(&d.manifest.targets)
                ),
                None,
            );
            deployment(&mut r, opts, &d);
            tools_checks(&mut r, opts, &d);
            upstreams(&mut r, &d.manifest.proxy_args, |n| {
                d.manifest.base_env.get(n).cloned()
            });
        }
        // No deployment selects any tool: only the upstreams a default one would use are checked.
        Err(ManifestError::NotFound(_)) => {
            r.push(
                "manifest",
                Verdict::Fail,
                format!(
                    "no deployment {profile} (nothing at {})",
                    paths.manifest().display()
                ),
                Some(apply_cmd(profile)),
            );
            // What a `headroom proxy` started here would use: this environment's settings.
            upstreams(&mut r, &[], |n| std::env::var(n).ok());
        }
        Err(e) => r.push(
            "manifest",
            Verdict::Fail,
            e.to_string(),
            Some(format!(
                "fix or delete the file, then `headroom install apply --profile {profile}`"
            )),
        ),
    }
    Ok(r)
}

fn apply_cmd(profile: &str) -> String {
    format!("headroom install apply --profile {profile}")
}

fn list(v: &[String]) -> String {
    if v.is_empty() {
        "none".to_owned()
    } else {
        v.join(", ")
    }
}

/// What of the user's environment changes where tools are configured.
fn environment(r: &mut Report, opts: &HostOptions) {
    for (var, tool) in [
        ("CLAUDE_CONFIG_DIR", "Claude Code"),
        ("CODEX_HOME", "Codex"),
    ] {
        if let Some(v) = (opts.env)(var).filter(|v| !v.is_empty()) {
            r.push(
                format!("env.{}", var.to_ascii_lowercase()),
                Verdict::Ok,
                format!("{var}={v}: {tool}'s configuration is read and written there"),
                None,
            );
        }
    }
    let shell = (opts.env)("SHELL").unwrap_or_default();
    let base = shell.rsplit('/').next().unwrap_or("");
    let (status, message, fix) = match base {
        "" => (
            Verdict::Warn,
            "$SHELL is not set: the environment a new terminal gets cannot be checked".to_owned(),
            Some("set SHELL to your login shell".to_owned()),
        ),
        // fish reads neither ~/.profile nor ~/.bashrc: shell-env writes its conf.d for it.
        "fish" => (
            Verdict::Ok,
            format!(
                "$SHELL is {shell}: routing through the environment is read from a new login shell of it (fish reads headroom's block from ~/.config/fish/conf.d/headroom.fish)"
            ),
            None,
        ),
        _ => (
            Verdict::Ok,
            format!(
                "$SHELL is {shell}: routing through the environment is read from a new login shell of it"
            ),
            None,
        ),
    };
    r.push("env.shell", status, message, fix);
}

/// The proxy side: supervisor, lingering, port, readiness, version, edits, log, routing state.
fn deployment(r: &mut Report, opts: &HostOptions, d: &Deployment) {
    let m = &d.manifest;
    let profile = m.profile.clone();
    let st = headroom_deploy::status::status(d);
    let s = &st.supervisor_state;
    let (status, fix) = if !s.registered {
        (Verdict::Fail, Some(apply_cmd(&profile)))
    } else if s.crash_looping || !s.running {
        (
            Verdict::Fail,
            Some(format!("headroom install start --profile {profile}")),
        )
    } else {
        (Verdict::Ok, None)
    };
    r.push(
        "supervisor",
        status,
        format!(
            "{}: {}{}{}",
            m.supervisor_kind,
            s.state,
            if s.registered || s.state.starts_with("not ") {
                ""
            } else {
                ", not registered"
            },
            if s.crash_looping {
                ", the proxy keeps exiting right after it starts"
            } else {
                ""
            }
        ),
        fix,
    );
    if m.supervisor_kind == SupervisorKind::Systemd && m.scope != DeployScope::System {
        linger(r);
    }
    let port = m.port;
    match &st.port_owner {
        PortOwner::Deployment { profile: p, .. } if *p == profile => r.push(
            "port",
            Verdict::Ok,
            format!("port {port} is held by this deployment's proxy"),
            None,
        ),
        PortOwner::Free => r.push(
            "port",
            if s.running { Verdict::Fail } else { Verdict::Warn },
            format!("nothing listens on port {port}"),
            Some(format!("headroom install start --profile {profile}")),
        ),
        other => r.push(
            "port",
            Verdict::Fail,
            format!("port {port} is held by {}", other.describe()),
            Some(format!(
                "stop that program, or move this deployment: `headroom install apply --profile {profile} --port <free port>`"
            )),
        ),
    }
    let host = d.probe_host().to_owned();
    if st.healthy {
        r.push(
            "readyz",
            Verdict::Ok,
            format!("{} answers ready", m.health_url),
            None,
        );
        version(r, &host, port, &profile);
    } else {
        r.push(
            "readyz",
            Verdict::Fail,
            format!("{} does not answer ready for {profile}", m.health_url),
            Some(format!("headroom install restart --profile {profile}")),
        );
    }
    edits(r, opts, d);
    // Where the supervisor keeps it (`headroom logs` reads the same place).
    let log = headroom_deploy::logs::source(d).describe();
    r.push("log", Verdict::Ok, format!("proxy log: {log}"), None);
    let routing = Routing::load(&d.paths.routing());
    match &routing.off {
        None => r.push(
            "routing",
            Verdict::Ok,
            "tools are routed to this proxy (not un-routed by stop or a failing proxy)".to_owned(),
            None,
        ),
        Some(reason) => r.push(
            "routing",
            Verdict::Fail,
            format!(
                "tools are un-routed since {}: {}",
                routing.since,
                match reason {
                    OffReason::Stopped => "stopped by `headroom install stop`".to_owned(),
                    OffReason::ProxyFailing { supervisor, error } =>
                        format!("the proxy kept failing ({supervisor}: {error})"),
                }
            ),
            Some(format!("headroom install start --profile {profile}")),
        ),
    }
}

/// `systemd --user` stops the proxy at logout unless the user lingers.
fn linger(r: &mut Report) {
    let answer = Systemd::linger_enabled().map(|on| if on { "yes" } else { "no" });
    let (status, message, fix) = linger_verdict(&Systemd::linger_user(), answer);
    r.push("linger", status, message, fix);
}

/// The `linger` line for `loginctl`'s answer (none: logind did not answer).
fn linger_verdict(user: &str, answer: Option<&str>) -> (Verdict, String, Option<String>) {
    let fix = Some(format!("loginctl enable-linger {user}"));
    match answer {
        Some("yes") => (
            Verdict::Ok,
            format!("lingering is on for {user}: the proxy keeps running after logout"),
            None,
        ),
        Some(_) => (
            Verdict::Warn,
            format!("lingering is off for {user}: systemd stops the proxy when you log out"),
            fix,
        ),
        None => (
            Verdict::Warn,
            "lingering is unknown (logind did not answer): the proxy may stop at logout".to_owned(),
            fix,
        ),
    }
}

/// The running proxy's `/health` version against this binary's.
fn version(r: &mut Report, host: &str, port: u16, profile: &str) {
    let mine = env!("CARGO_PKG_VERSION");
    let theirs = health::http_get(host, port, "/health")
        .ok()
        .and_then(|h| serde_json::from_str::<serde_json::Value>(&h.body).ok())
        .and_then(|v| v.get("version").and_then(|s| s.as_str()).map(str::to_owned));
    match theirs {
        Some(v) if v == mine => r.push(
            "version",
            Verdict::Ok,
            format!("the proxy runs headroom {v}, like this binary"),
            None,
        ),
        Some(v) => r.push(
            "version",
            Verdict::Warn,
            format!("the proxy runs headroom {v}; this binary is {mine}"),
            Some(format!("headroom install restart --profile {profile}")),
        ),
        None => r.push(
            "version",
            Verdict::Warn,
            "the proxy's /health names no version".to_owned(),
            Some(format!("headroom install restart --profile {profile}")),
        ),
    }
}

/// Drift of the files the deployment's journal records.
fn edits(r: &mut Report, opts: &HostOptions, d: &Deployment) {
    let profile = &d.manifest.profile;
    match tools::edit_states(&tools::executor(opts), &d.paths.journal()) {
        Err(e) => r.push(
            "edits",
            Verdict::Fail,
            format!("the edit journal cannot be read: {e:#}"),
            Some(format!(
                "headroom install remove --profile {profile}, then apply again"
            )),
        ),
        Ok(files) if files.is_empty() => r.push(
            "edits",
            Verdict::Ok,
            "no tool file is managed by this deployment".to_owned(),
            None,
        ),
        Ok(files) if files.iter().all(|f| f.state == FileState::AsWritten) => r.push(
            "edits",
            Verdict::Ok,
            format!(
                "{} managed file(s) as headroom wrote them: {}",
                files.len(),
                files
                    .iter()
                    .map(|f| f.file.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            None,
        ),
        Ok(files) => {
            for f in files.iter().filter(|f| f.state != FileState::AsWritten) {
                r.push(
                    format!("edits.{}", f.file),
                    Verdict::Warn,
                    format!("{}: {}", f.file, f.state),
                    Some(apply_cmd(profile)),
                );
            }
        }
    }
}

/// Per selected tool: installed, routed (to which URL, through what), its notes, and whether
/// that URL answers as this deployment's proxy.
fn tools_checks(r: &mut Report, opts: &HostOptions, d: &Deployment) {
    let m = &d.manifest;
    let host = AdapterHost::load(opts.clone());
    unselected(r, &host, d);
    if m.targets.is_empty() {
        return;
    }
    let profile = m.profile.clone();
    let scope = tools::scope(m.scope);
    let found = routing::routes(&host, &m.targets, scope, &m.host, m.port, &profile);
    // Who `install apply` would have write each tool's routing (to explain a setting beating it).
    let writers = tools::select(Some(&host), ProviderMode::Manual, scope, &m.targets, None)
        .map(|s| s.writers())
        .unwrap_or_default();
    let mut seen_notes: Vec<String> = Vec::new();
    for (target, found) in m.targets.iter().zip(found) {
        let adapter = match &found {
            Ok(t) => Some(t.adapter.clone()),
            Err(e) => e.adapter.clone(),
        };
        // An adapter's detection speaks for a tool only when the tool is all it serves
        // (shell-env's says nothing about whether copilot or aider is installed).
        let installed = adapter
            .as_deref()
            .filter(|id| {
                host.get(id)
                    .ok()
                    .and_then(|e| e.manifest.as_ref())
                    .is_some_and(|m| m.targets.len() == 1 && m.targets[0] == *target)
            })
            .and_then(|id| host.detect(id).ok())
            .map(|det| det.detected);
        let mut tool = ToolReport {
            target: target.clone(),
            adapter: adapter.clone(),
            installed,
            routed: false,
            url: None,
            source: None,
            via: None,
            notes: Vec::new(),
            reaches_proxy: false,
        };
        match installed {
            Some(true) => r.push(
                format!("tool.{target}.installed"),
                Verdict::Ok,
                format!("{target} is installed"),
                None,
            ),
            Some(false) => r.push(
                format!("tool.{target}.installed"),
                Verdict::Warn,
                format!("{target} is not found on this machine"),
                Some(format!("install {target}, or leave it out: `headroom install apply --profile {profile} --providers manual --target <tools>`")),
            ),
            None => {}
        }
        let t = match found {
            Err(e) => {
                let links: Vec<String> = e
                    .message
                    .split(|c: char| c.is_whitespace() || c == ':' || c == ',')
                    .filter_map(|w| link_note(&opts.home, w))
                    .collect();
                let mut message = format!("{}: {}", e.target, e.message);
                for l in &links {
                    message.push_str(&format!(" ({l})"));
                }
                r.push(
                    format!("tool.{}.routed", e.target),
                    Verdict::Fail,
                    message,
                    Some(if links.is_empty() {
                        format!("fix what it names, then `headroom doctor --profile {profile}`")
                    } else {
                        "replace the link with a regular file inside your home (or point it there)"
                            .to_owned()
                    }),
                );
                r.tools.push(tool);
                continue;
            }
            Ok(t) => t,
        };
        let shown = t.route.url.as_deref().unwrap_or("its built-in endpoint");
        let origin = routing::proxy_origin(&m.host, m.port);
        if t.routed {
            r.push(
                format!("tool.{target}.routed"),
                Verdict::Ok,
                format!("{target} is routed to {shown} through {}", t.route.via),
                None,
            );
        } else {
            r.push(
                format!("tool.{target}.routed"),
                Verdict::Fail,
                format!(
                    "{target} is not routed: it uses {shown} ({} {}), not {origin}",
                    source_word(t.route.source),
                    t.route.via
                ),
                Some(
                    routing::blocked(&writers, std::slice::from_ref(&t), scope, &profile)
                        .into_iter()
                        .next()
                        .map_or_else(|| apply_cmd(&profile), |b| b.line),
                ),
            );
        }
        if let Some(l) = t
            .route
            .via
            .split_whitespace()
            .next()
            .and_then(|f| link_note(&opts.home, f))
        {
            r.push(
                format!("tool.{target}.link"),
                Verdict::Ok,
                format!("{l}: headroom reads and edits the target"),
                None,
            );
        }
        for n in &t.route.notes {
            if !seen_notes.contains(n) {
                seen_notes.push(n.clone());
                r.push(
                    format!("tool.{target}.note"),
                    Verdict::Warn,
                    format!("{target}: {n}"),
                    None,
                );
            }
        }
        if t.routed {
            let reaches = t
                .route
                .url
                .as_deref()
                .and_then(host_port)
                .is_some_and(|(h, p)| health::port_owner(&h, p).is_ready_profile(&profile));
            tool.reaches_proxy = reaches;
            if reaches {
                r.push(
                    format!("tool.{target}.reaches"),
                    Verdict::Ok,
                    format!("{shown} answers ready as deployment {profile}"),
                    None,
                );
            } else {
                r.push(
                    format!("tool.{target}.reaches"),
                    Verdict::Fail,
                    format!("{shown} does not answer ready as deployment {profile}"),
                    Some(format!("headroom install restart --profile {profile}")),
                );
            }
        }
        tool.routed = t.routed;
        tool.url = t.route.url.clone();
        tool.source = Some(t.route.source);
        tool.via = Some(t.route.via.clone());
        tool.notes = t.route.notes.clone();
        r.tools.push(tool);
    }
}

/// Tools on this machine the deployment does not select (found by their own adapter's
/// `detect`) and whose requests do not go through it: a warning each, with the apply command
/// that adds them, and the route's notes (e.g. "OPENAI_BASE_URL is exported but Codex ignores
/// it": the shell routes nothing for Codex). Warnings only: the user chose the targets.
fn unselected(r: &mut Report, host: &AdapterHost, d: &Deployment) {
    let m = &d.manifest;
    let scope = tools::scope(m.scope);
    let others: Vec<String> = tools::detected(host, scope)
        .into_iter()
        .filter(|t| !m.targets.contains(t))
        .collect();
    if others.is_empty() {
        return;
    }
    let found = routing::routes(host, &others, scope, &m.host, m.port, &m.profile);
    for (target, found) in others.iter().zip(found) {
        let Ok(t) = found else { continue };
        if t.routed {
            continue;
        }
        let mut all = m.targets.clone();
        all.push(target.clone());
        let targets: String = all.iter().map(|t| format!(" --target {t}")).collect();
        r.push(
            format!("tool.{target}.unselected"),
            Verdict::Warn,
            format!(
                "{target} is installed but not routed (this deployment does not select it): it uses {} ({} {})",
                t.route.url.as_deref().unwrap_or("its built-in endpoint"),
                source_word(t.route.source),
                t.route.via
            ),
            Some(format!(
                "headroom install apply --profile {} --scope {} --providers manual{targets}",
                m.profile, m.scope
            )),
        );
        for n in &t.route.notes {
            r.push(
                format!("tool.{target}.note"),
                Verdict::Warn,
                format!("{target}: {n}"),
                None,
            );
        }
    }
}

/// `~/…` that is a symbolic link: "~/x is a link to <target>".
fn link_note(home: &Path, logical: &str) -> Option<String> {
    let rel = logical.strip_prefix("~/")?;
    let path = home.join(rel);
    let meta = std::fs::symlink_metadata(&path).ok()?;
    if !meta.file_type().is_symlink() {
        return None;
    }
    let to = std::fs::read_link(&path).ok()?;
    let joined = if to.is_absolute() {
        to
    } else {
        path.parent()?.join(to)
    };
    // Lexically, as the link reads (`..` included); the target need not exist.
    let mut to = std::path::PathBuf::new();
    for c in joined.components() {
        match c {
            std::path::Component::ParentDir => {
                to.pop();
            }
            std::path::Component::CurDir => {}
            other => to.push(other),
        }
    }
    let shown = match to.strip_prefix(home) {
        Ok(inside) => format!("~/{}", inside.display()),
        Err(_) => format!("{} outside HOME", to.display()),
    };
    Some(format!("{logical} is a link to {shown}"))
}

fn source_word(s: RouteSource) -> &'static str {
    match s {
        RouteSource::Config => "set by",
        RouteSource::Environment => "from",
        RouteSource::Default => "nothing set;",
    }
}

/// `http://host:port/...` → (host, port), read with the proxy's URL grammar; other schemes (a
/// TLS endpoint is not ours) → none.
fn host_port(url: &str) -> Option<(String, u16)> {
    let up = Upstream::parse(url).ok()?;
    (up.scheme.as_str() == "http").then(|| {
        (
            up.authority.host().to_owned(),
            up.authority.port_u16().unwrap_or(80),
        )
    })
}

/// DNS, TCP and TLS to each upstream the deployment's proxy uses (its `--*-api-url` flags, its
/// recorded environment, else the defaults).
fn upstreams(r: &mut Report, proxy_args: &[String], env: impl Fn(&str) -> Option<String>) {
    let Ok(rt) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        r.push(
            "upstream",
            Verdict::Fail,
            "cannot start the async runtime to probe the upstreams".to_owned(),
            None,
        );
        return;
    };
    let options = EgressOptions::from_args(proxy_args);
    let egress = match Egress::load(&options, &|n| env(n)) {
        Ok(e) => {
            r.push("network", Verdict::Ok, e.summary(), None);
            e
        }
        // The proxy would refuse to start with these: nothing to probe.
        Err(e) => {
            r.push(
                "network",
                Verdict::Fail,
                format!("the proxy cannot start with these network settings: {e}"),
                Some(
                    "fix the variable or file named (`headroom install apply` records HTTPS_PROXY, NO_PROXY, SSL_CERT_FILE/SSL_CERT_DIR and takes --upstream-proxy/--ca-file), then `headroom install restart`"
                        .to_owned(),
                ),
            );
            return;
        }
    };
    for (provider, name, var) in [
        (
            Provider::Anthropic,
            "anthropic",
            headroom_proxy::probe::ANTHROPIC_URL_ENV,
        ),
        (
            Provider::OpenAi,
            "openai",
            headroom_proxy::probe::OPENAI_URL_ENV,
        ),
    ] {
        let url = headroom_proxy::probe::upstream_url(provider, proxy_args, &env);
        match rt.block_on(headroom_proxy::probe::probe(&url, &egress)) {
            Ok(reached) => r.push(
                format!("upstream.{name}"),
                Verdict::Ok,
                format!(
                    "{name} upstream {url} is reachable ({}{}{})",
                    reached.addr,
                    reached
                        .via
                        .as_ref()
                        .map(|v| format!(" via proxy {v}"))
                        .unwrap_or_default(),
                    if reached.tls { ", TLS ok" } else { "" }
                ),
                None,
            ),
            Err(e) => {
                // A DNS or TCP failure on the way to the outbound proxy is the proxy's.
                let proxy_failed = e.step == Step::Proxy
                    || (e.via.is_some() && matches!(e.step, Step::Dns | Step::Tcp));
                let fix = if proxy_failed {
                    "check the outbound proxy (HTTPS_PROXY or --upstream-proxy): its address, the user and password in its URL, and whether it allows this host; or add the host to NO_PROXY".to_owned()
                } else if e.step == Step::Tls {
                    "if a TLS-inspecting proxy or gateway signs this certificate, trust its CA: `headroom install apply --ca-file <pem>` (or SSL_CERT_FILE)".to_owned()
                } else {
                    format!(
                        "check the network, DNS or proxy settings; or point {var} at a reachable endpoint (`headroom install apply --env {var}=<url>`)"
                    )
                };
                r.push(
                    format!("upstream.{name}"),
                    Verdict::Fail,
                    format!("{name} upstream {url} is unreachable: {e}"),
                    Some(fix),
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_and_port_come_from_http_urls_only() {
        assert_eq!(
            host_port("http://127.0.0.1:8787/v1"),
            Some(("127.0.0.1".into(), 8787))
        );
        assert_eq!(host_port("http://[::1]:9"), Some(("[::1]".into(), 9)));
        assert_eq!(
            host_port("http://localhost"),
            Some(("localhost".into(), 80))
        );
        assert_eq!(host_port("https://api.anthropic.com"), None);
    }

    #[test]
    fn lingering_off_or_unknown_is_a_warning_with_the_command() {
        let (v, m, fix) = linger_verdict("ann", Some("yes"));
        assert_eq!(v, Verdict::Ok, "{m}");
        assert!(fix.is_none());
        let (v, m, fix) = linger_verdict("ann", Some("no"));
        assert_eq!(v, Verdict::Warn);
        assert!(
            m.contains("systemd stops the proxy when you log out"),
            "{m}"
        );
        assert_eq!(fix.as_deref(), Some("loginctl enable-linger ann"));
        let (v, m, _) = linger_verdict("ann", None);
        assert_eq!(v, Verdict::Warn);
        assert!(m.starts_with("lingering is unknown"), "{m}");
    }

    #[test]
    fn a_report_fails_only_on_a_fail() {
        let mut r = Report {
            profile: "p".into(),
            checks: vec![],
            tools: vec![],
        };
        r.push("a", Verdict::Ok, String::new(), None);
        r.push("b", Verdict::Warn, String::new(), None);
        assert!(r.ok());
        r.push("c", Verdict::Fail, String::new(), None);
        assert!(!r.ok());
    }
}
