//! `install status`: supervisor state, PID, health, who owns the port, and the edits' drift.

use std::fmt::Write as _;

use serde::Serialize;

use crate::deployment::Deployment;
use crate::health::{self, PortOwner};
use crate::logs::LogSource;
use crate::manifest::InstallState;
use crate::routing_state::Routing;
use crate::supervisors::{self, SupervisorState};

/// A tool file a deployment manages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ManagedFile {
    /// Logical path (`~/.claude/settings.json`).
    pub file: String,
    pub state: FileState,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FileState {
    /// Byte for byte what headroom wrote: `remove` restores the original exactly.
    AsWritten,
    /// Changed since: `remove` puts back only headroom's keys.
    Changed,
    Deleted,
}

impl std::fmt::Display for FileState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            FileState::AsWritten => "as headroom wrote it",
            FileState::Changed => "changed since (remove restores only headroom's keys)",
            FileState::Deleted => "deleted since",
        })
    }
}

/// Where the proxy forwards one provider's requests, and which setting decided it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UpstreamRow {
    /// `anthropic` or `openai`.
    pub provider: String,
    pub url: String,
    /// `default`, a user's option, or `kept from <the tool's file and key>`.
    pub from: String,
}

/// One network setting the proxy is given (an outbound-proxy or trust variable, or
/// `--upstream-proxy`/`--ca-file`), credentials masked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NetworkSetting {
    pub name: String,
    pub value: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Status {
    pub profile: String,
    pub preset: String,
    pub runtime: String,
    pub supervisor: String,
    pub scope: String,
    pub port: u16,
    pub health_url: String,
    pub install_state: InstallState,
    pub supervisor_state: SupervisorState,
    /// `/readyz` of this profile's proxy answers 200.
    pub healthy: bool,
    pub port_owner: PortOwner,
    pub targets: Vec<String>,
    /// The proxy's compression mode (`off`, `lossless`, `full`).
    pub compress: String,
    /// Each tool file the deployment's journal records, and whether it is still what headroom
    /// wrote (filled in by the host, which owns the journal). Empty when it manages none.
    pub edits: Vec<ManagedFile>,
    /// Each provider's upstream (filled in by the host, which resolves them as the proxy does).
    pub upstreams: Vec<UpstreamRow>,
    /// The network settings recorded for the proxy, masked (filled in by the host, which owns
    /// the masking rule). Empty: it connects directly and trusts the defaults.
    pub network: Vec<NetworkSetting>,
    /// The usage history's last 7 days on one line, or why there is none (filled in by the
    /// host, which reads the history).
    pub usage: Option<String>,
    /// Whether the tools point at this proxy now (`None`: the deployment has no targets).
    pub routing: Option<Routing>,
    /// `version` of the running proxy's `/health` (when one answers).
    pub proxy_version: Option<String>,
    /// How long the running proxy has been up (its `/health` `uptime_seconds`).
    pub uptime_seconds: Option<f64>,
    /// Where the proxy's log is (`headroom logs` reads it).
    pub logs: LogSource,
    /// The binary the supervisor runs (`~/.headroom/bin/headroom`, the stable copy).
    pub executable: String,
    /// The version of the headroom that asks (set by [`Status::compare_version`]).
    pub headroom_version: String,
    pub problems: Vec<String>,
}

impl Status {
    /// Record the asking binary's version; a running proxy of another version is a problem
    /// (`install restart` moves the supervisor to this binary).
    pub fn compare_version(&mut self, ours: &str) {
        self.headroom_version = ours.to_owned();
        if let Some(running) = &self.proxy_version
            && running != ours
        {
            self.problems.push(format!(
                "the running proxy is {running}, this headroom is {ours}: `headroom install restart --profile {}`",
                self.profile
            ));
        }
    }

    /// Compare the binary the deployment runs with `ours` (the asking binary): a deployment
    /// whose binary is missing, differs from this one (an upgrade not switched to yet), or was
    /// replaced under the running proxy is a problem naming `install restart`.
    pub fn compare_binary(&mut self, d: &Deployment, ours: &std::path::Path) {
        let restart = format!("`headroom install restart --profile {}`", self.profile);
        if d.manifest.supervisor_kind == crate::manifest::SupervisorKind::Docker {
            return;
        }
        if !d.exe.exists() {
            self.problems.push(format!(
                "the binary the supervisor runs, {}, is missing: {restart} installs this one ({})",
                d.exe.display(),
                ours.display()
            ));
            return;
        }
        if d.exe != ours && !crate::binary::same_bytes(&d.exe, ours) {
            self.problems.push(format!(
                "this headroom ({}, {}) is not the binary the deployment runs ({}): {restart} switches it to this one",
                ours.display(),
                self.headroom_version,
                d.exe.display()
            ));
        } else if let Some(pid) = self.supervisor_state.pid
            && self.healthy
            && crate::binary::replaced_since_start(pid)
        {
            self.problems.push(format!(
                "the running proxy (pid {pid}) is older than {}, which was replaced since it started: {restart}",
                d.exe.display()
            ));
        }
    }

    /// What the exit code reflects: registered, running and healthy.
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }

    pub fn table(&self) -> String {
        let mut out = String::new();
        let row = |out: &mut String, k: &str, v: &str| {
            let _ = writeln!(out, "{k:<12} {v}");
        };
        row(&mut out, "profile", &self.profile);
        row(
            &mut out,
            "preset",
            &format!(
                "{} ({} runtime, {} scope)",
                self.preset, self.runtime, self.scope
            ),
        );
        let s = &self.supervisor_state;
        row(
            &mut out,
            "supervisor",
            &format!(
                "{}: {}{}",
                self.supervisor,
                s.state,
                if s.registered { "" } else { ", not registered" }
            ),
        );
        row(
            &mut out,
            "pid",
            &s.pid.map_or_else(|| "-".to_owned(), |p| p.to_string()),
        );
        row(
            &mut out,
            "health",
            &format!(
                "{} ({})",
                if self.healthy { "ready" } else { "not ready" },
                self.health_url
            ),
        );
        row(
            &mut out,
            "port",
            &match self.port_owner {
                PortOwner::Free => format!("{} free", self.port),
                ref owner => format!("{} held by {}", self.port, owner.describe()),
            },
        );
        row(
            &mut out,
            "targets",
            &if self.targets.is_empty() {
                "none".to_owned()
            } else {
                self.targets.join(", ")
            },
        );
        row(&mut out, "compression", &self.compress);
        for u in &self.upstreams {
            row(
                &mut out,
                "upstream",
                &format!("{}: {} ({})", u.provider, u.url, u.from),
            );
        }
        for n in &self.network {
            row(&mut out, "network", &format!("{}={}", n.name, n.value));
        }
        if let Some(u) = &self.usage {
            row(&mut out, "usage", u);
        }
        row(
            &mut out,
            "version",
            &match &self.proxy_version {
                Some(v) => format!("proxy {v}, this headroom {}", self.headroom_version),
                None => format!("this headroom {} (no proxy answers)", self.headroom_version),
            },
        );
        if let Some(up) = self.uptime_seconds {
            row(&mut out, "uptime", &human_duration(up));
        }
        row(&mut out, "binary", &self.executable);
        row(&mut out, "logs", &self.logs.describe());
        if let Some(r) = &self.routing {
            row(&mut out, "routing", &r.describe(&self.profile));
        }
        if self.edits.is_empty() {
            row(&mut out, "edits", "none managed");
        }
        for e in &self.edits {
            row(&mut out, "edit", &format!("{}: {}", e.file, e.state));
        }
        for p in &self.problems {
            row(&mut out, "problem", p);
        }
        out
    }
}

/// `3d 4h`, `2h 5m`, `4m 10s`, `12s`.
fn human_duration(secs: f64) -> String {
    let s = secs.max(0.0) as u64;
    let (d, h, m) = (s / 86_400, s / 3600 % 24, s / 60 % 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, _) => format!("{m}m {}s", s % 60),
        (0, _, _) => format!("{h}h {m}m"),
        _ => format!("{d}d {h}h"),
    }
}

pub fn status(d: &Deployment) -> Status {
    let m = &d.manifest;
    let sup = supervisors::for_kind(m.supervisor_kind, m.scope, m.preset);
    let supervisor_state = sup.state(d);
    let port_owner = health::port_owner(d.probe_host(), m.port);
    let healthy = port_owner.is_ready_profile(d.profile().as_str());
    let mut problems = Vec::new();
    if m.state == InstallState::Applying {
        problems.push(format!(
            "an apply was interrupted; run `headroom install apply --profile {0}` again or `headroom install remove --profile {0}`",
            m.profile
        ));
    }
    if !supervisor_state.registered {
        problems.push(format!("not registered with {}", m.supervisor_kind));
    } else if !supervisor_state.running {
        problems.push("stopped".to_owned());
    }
    match &port_owner {
        PortOwner::Free => {}
        PortOwner::Deployment { profile, .. } if profile == &m.profile => {}
        other => problems.push(format!("port {} is held by {}", m.port, other.describe())),
    }
    if supervisor_state.running && !healthy {
        problems.push("running but not ready".to_owned());
    }
    let routing = (!m.targets.is_empty()).then(|| Routing::load(&d.paths.routing()));
    if healthy && routing.as_ref().is_some_and(|r| !r.routed) {
        problems.push(format!(
            "the proxy is healthy but the tools do not point at it: `headroom install start --profile {}`",
            m.profile
        ));
    }
    let info = healthy
        .then(|| health::proxy_info(d.probe_host(), m.port))
        .flatten()
        .unwrap_or_default();
    Status {
        profile: m.profile.clone(),
        preset: m.preset.to_string(),
        runtime: m.runtime_kind.to_string(),
        supervisor: m.supervisor_kind.to_string(),
        scope: m.scope.to_string(),
        port: m.port,
        health_url: m.health_url.clone(),
        install_state: m.state,
        supervisor_state,
        healthy,
        port_owner,
        targets: m.targets.clone(),
        compress: m.compress.to_string(),
        edits: vec![],
        upstreams: vec![],
        network: vec![],
        usage: None,
        routing,
        proxy_version: info.version,
        uptime_seconds: info.uptime_seconds,
        logs: crate::logs::source(d),
        executable: d.exe.display().to_string(),
        headroom_version: String::new(),
        problems,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn test_status() -> Status {
        Status {
            profile: "p".into(),
            preset: "persistent-service".into(),
            runtime: "native".into(),
            supervisor: "systemd".into(),
            scope: "user".into(),
            port: 1,
            health_url: String::new(),
            install_state: InstallState::Installed,
            supervisor_state: SupervisorState {
                registered: true,
                state: "active".into(),
                running: true,
                pid: Some(2),
                crash_looping: false,
            },
            healthy: true,
            port_owner: PortOwner::Free,
            targets: vec![],
            compress: "full".into(),
            edits: vec![],
            upstreams: vec![],
            network: vec![],
            usage: None,
            routing: None,
            proxy_version: Some("0.1.0".into()),
            uptime_seconds: Some(3725.0),
            logs: LogSource::Journal {
                unit: "headroom-p.service".into(),
                system: false,
            },
            executable: "/h/.headroom/bin/headroom".into(),
            headroom_version: String::new(),
            problems: vec![],
        }
    }

    #[test]
    fn the_table_names_the_compression_mode() {
        let st = test_status();
        assert!(
            st.table().contains("\ncompression  full\n"),
            "{}",
            st.table()
        );
        assert_eq!(serde_json::to_value(&st).unwrap()["compress"], "full");
        assert!(
            st.table().contains("\nuptime       1h 2m\n"),
            "{}",
            st.table()
        );
        assert!(
            st.table()
                .contains("\nlogs         journalctl --user-unit headroom-p.service\n"),
            "{}",
            st.table()
        );
        assert_eq!(
            serde_json::to_value(&st).unwrap()["logs"]["kind"],
            "journal"
        );
        assert_eq!(human_duration(12.4), "12s");
        assert_eq!(human_duration(3.0 * 86_400.0 + 7200.0), "3d 2h");
        // No targets: no routing row; no upstream or network rows until the host fills them.
        assert!(!st.table().contains("upstream"), "{}", st.table());
        assert!(!st.table().contains("routing"), "{}", st.table());
    }

    #[test]
    fn a_proxy_of_another_version_is_a_problem_naming_restart() {
        let mut st = test_status();
        st.proxy_version = Some("0.1.0".into());
        st.compare_version("0.1.0");
        assert!(st.ok(), "{:?}", st.problems);
        assert!(
            st.table()
                .contains("\nversion      proxy 0.1.0, this headroom 0.1.0\n")
        );
        st.compare_version("0.2.0");
        assert_eq!(
            st.problems,
            [
                "the running proxy is 0.1.0, this headroom is 0.2.0: `headroom install restart --profile p`"
            ]
        );
        st.routing = Some(Routing::on());
        assert!(
            st.table()
                .contains("\nrouting      on (tools point at this proxy)\n")
        );
        assert_eq!(
            serde_json::to_value(&st).unwrap()["routing"]["routed"],
            true
        );
    }

    #[test]
    fn upstreams_and_network_settings_have_a_row_each() {
        let mut st = test_status();
        st.upstreams = vec![UpstreamRow {
            provider: "anthropic".into(),
            url: "https://gw.corp/anthropic/".into(),
            from: "kept from ~/.claude/settings.json env.ANTHROPIC_BASE_URL".into(),
        }];
        st.network = vec![NetworkSetting {
            name: "HTTPS_PROXY".into(),
            value: "http://u:***@127.0.0.1:3128".into(),
        }];
        let t = st.table();
        assert!(
            t.contains("\nupstream     anthropic: https://gw.corp/anthropic/ (kept from ~/.claude/settings.json env.ANTHROPIC_BASE_URL)\n"),
            "{t}"
        );
        assert!(
            t.contains("\nnetwork      HTTPS_PROXY=http://u:***@127.0.0.1:3128\n"),
            "{t}"
        );
        let v = serde_json::to_value(&st).unwrap();
        assert_eq!(
            v["upstreams"][0]["from"],
            "kept from ~/.claude/settings.json env.ANTHROPIC_BASE_URL"
        );
        assert_eq!(v["network"][0]["name"], "HTTPS_PROXY");
    }
}
