//! `install apply` arguments → a validated deployment plan: which supervisor, which files with
//! which bytes, which commands. `--dry-run` prints exactly this and changes nothing.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;

use thiserror::Error;

use crate::deployment::Deployment;
use crate::manifest::{
    InstallState, Manifest, Preset, ProviderMode, Runtime, SCHEMA_VERSION, Scope, SupervisorKind,
    now_rfc3339,
};
use crate::profile::{ProfileName, ProfilePaths};
use crate::supervisors::{self, Rendered};

pub const DEFAULT_PORT: u16 = 8787;

#[derive(Debug, Clone)]
pub struct ApplyRequest {
    pub profile: String,
    pub preset: Option<Preset>,
    pub runtime: Option<Runtime>,
    pub scope: Scope,
    pub providers: ProviderMode,
    /// The tool targets, opaque names here: the host resolved `--providers`/`--target` against
    /// the adapters' manifests before planning.
    pub targets: Vec<String>,
    /// adapter id → version of the adapters that configure those targets.
    pub adapters: BTreeMap<String, String>,
    /// As typed (`--port` or `HEADROOM_PORT`), validated here so the error is one line.
    pub port: Option<String>,
    pub host: String,
    pub backend: Option<String>,
    pub image: Option<String>,
    /// `KEY=VALUE` as typed.
    pub env: Vec<String>,
    /// The proxy's compression mode (`--compress`).
    pub compress: headroom_compress::Mode,
    pub proxy_args: Vec<String>,
    pub home: PathBuf,
    pub exe: PathBuf,
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum PlanError {
    #[error(transparent)]
    Profile(#[from] crate::profile::InvalidProfile),
    #[error("invalid port {0:?}: expected a number from 1 to 65535")]
    Port(String),
    #[error("invalid --env {0:?}: expected KEY=VALUE with KEY made of letters, digits and '_'")]
    Env(String),
    #[error("--env {0} is reserved: headroom sets it for the proxy")]
    ReservedEnv(String),
    #[error("--runtime docker needs --preset persistent-docker (got {0})")]
    RuntimeMismatch(Preset),
    #[error("invalid --host {0:?}")]
    Host(String),
    #[error("{0:?} after `--` is set by install apply: pass --compress to install apply instead")]
    CompressArg(String),
}

pub fn parse_port(text: &str) -> Result<u16, PlanError> {
    match text.trim().parse::<u16>() {
        Ok(p) if p != 0 => Ok(p),
        _ => Err(PlanError::Port(text.to_owned())),
    }
}

pub fn parse_env(items: &[String]) -> Result<BTreeMap<String, String>, PlanError> {
    let mut env = BTreeMap::new();
    for item in items {
        let Some((k, v)) = item.split_once('=') else {
            return Err(PlanError::Env(item.clone()));
        };
        let key_ok = !k.is_empty()
            && !k.starts_with(|c: char| c.is_ascii_digit())
            && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        // NUL cannot be in an environment; everything else is stored as data and never
        // interpreted by a shell.
        if !key_ok || v.contains('\0') {
            return Err(PlanError::Env(item.clone()));
        }
        if k.starts_with(headroom_core::env::DEPLOYMENT_PREFIX) {
            return Err(PlanError::ReservedEnv(k.to_owned()));
        }
        env.insert(k.to_owned(), v.to_owned());
    }
    Ok(env)
}

/// A validated plan for `apply`.
#[derive(Debug, Clone)]
pub struct Plan {
    pub deployment: Deployment,
    pub rendered: Rendered,
    /// The binary `apply` runs from: copied to the deployment's stable executable
    /// ([`crate::binary`]) when that is what the supervisor runs.
    pub source_exe: PathBuf,
}

pub fn plan(req: &ApplyRequest) -> Result<Plan, anyhow::Error> {
    let profile = ProfileName::new(&req.profile)?;
    let port = match &req.port {
        Some(p) => parse_port(p)?,
        None => DEFAULT_PORT,
    };
    let env = parse_env(&req.env)?;
    if let Some(arg) = req
        .proxy_args
        .iter()
        .find(|a| *a == "--compress" || a.starts_with("--compress="))
    {
        return Err(PlanError::CompressArg(arg.clone()).into());
    }
    if req.host.is_empty()
        || req
            .host
            .contains(|c: char| c.is_whitespace() || c.is_control() || c == '/')
    {
        return Err(PlanError::Host(req.host.clone()).into());
    }
    let preset = match (req.preset, req.runtime) {
        (None, Some(Runtime::Docker)) => Preset::Docker,
        (Some(p), Some(Runtime::Docker)) if p != Preset::Docker => {
            return Err(PlanError::RuntimeMismatch(p).into());
        }
        (p, _) => p.unwrap_or(Preset::Service),
    };
    let runtime = if preset == Preset::Docker {
        Runtime::Docker
    } else {
        Runtime::Native
    };
    let mut targets: Vec<String> = Vec::new();
    for t in &req.targets {
        if !targets.contains(t) {
            targets.push(t.clone());
        }
    }
    let supervisor_kind = supervisors::kind_for(preset);
    let paths = ProfilePaths::new(&req.home, &profile);
    let now = now_rfc3339();
    let exe = crate::binary::supervised_exe(&paths.state, supervisor_kind, &req.exe);
    let log_file = crate::logs::planned_log_file(
        &paths,
        supervisor_kind,
        req.scope == Scope::System,
        &req.proxy_args,
    );
    let manifest = Manifest {
        profile: profile.to_string(),
        preset,
        runtime_kind: runtime,
        supervisor_kind,
        scope: req.scope,
        provider_mode: req.providers,
        targets,
        port,
        host: req.host.clone(),
        backend: req.backend.clone(),
        image: (preset == Preset::Docker).then(|| {
            req.image
                .clone()
                .unwrap_or_else(|| supervisors::docker::DEFAULT_IMAGE.to_owned())
        }),
        health_url: Manifest::readyz_url(&req.host, port),
        base_env: env,
        tool_envs: BTreeMap::new(),
        proxy_args: req.proxy_args.clone(),
        mutations: vec![],
        artifacts: vec![],
        created_at: now.clone(),
        updated_at: now,
        schema_version: SCHEMA_VERSION,
        state: InstallState::Applying,
        journal: Some(paths.journal()),
        adapters: req.adapters.clone(),
        linger_enabled_by_us: false,
        executable: Some(exe.clone()),
        home: Some(req.home.clone()),
        compress: req.compress,
        upstreams: BTreeMap::new(),
        log_file,
        extra: serde_json::Map::new(),
    };
    let deployment = Deployment {
        manifest,
        paths,
        exe,
    };
    let supervisor = supervisors::for_kind(supervisor_kind, req.scope, preset);
    let rendered = supervisor.render(&deployment)?;
    Ok(Plan {
        deployment,
        rendered,
        source_exe: req.exe.clone(),
    })
}

impl Plan {
    pub fn supervisor_kind(&self) -> SupervisorKind {
        self.deployment.manifest.supervisor_kind
    }

    /// The human-readable plan `--dry-run` prints: every file with its diff, the crontab block,
    /// the manifest, and the commands. Proxy URLs (this plan's and the profile's previous
    /// manifest's) are shown as `mask` makes them: the files keep the real values, the screen
    /// gets no password.
    pub fn describe(&self, mask: &dyn Fn(&str) -> String) -> String {
        self.masked(self.describe_raw(), mask)
    }

    /// The same plan as one JSON object (`install apply --dry-run --json`): the deployment,
    /// the supervisor's files and commands, the binary and log it will use, `tool_files` (each
    /// tool file's diff), `notes` and `network`; proxy URLs masked as in [`Plan::describe`].
    pub fn describe_json(
        &self,
        mask: &dyn Fn(&str) -> String,
        tool_files: Vec<serde_json::Value>,
        notes: &[String],
        network: &[String],
    ) -> serde_json::Value {
        let d = &self.deployment;
        let m = &d.manifest;
        let value = serde_json::json!({
            "dry_run": true,
            "profile": m.profile,
            "preset": m.preset.to_string(),
            "runtime": m.runtime_kind.to_string(),
            "supervisor": m.supervisor_kind.to_string(),
            "scope": m.scope.to_string(),
            "health_url": m.health_url,
            "targets": m.targets,
            "compress": m.compress.as_str(),
            "executable": d.exe,
            "copied_from": self.source_exe,
            "logs": crate::logs::source(d),
            "proxy_args": d.proxy_args(),
            "supervisor_files": self.rendered.files,
            "crontab_block": self.rendered.crontab_block,
            "commands": self.rendered.commands,
            "manifest": m,
            "tool_files": tool_files,
            "notes": notes,
            "network": network,
        });
        let text = self.masked(value.to_string(), mask);
        serde_json::from_str(&text).unwrap_or(value)
    }

    /// `text` with every proxy URL of this plan and of the profile's previous manifest masked.
    fn masked(&self, mut text: String, mask: &dyn Fn(&str) -> String) -> String {
        let previous = Manifest::load(&self.deployment.paths.manifest()).ok();
        for m in std::iter::once(&self.deployment.manifest).chain(previous.as_ref()) {
            for secret in proxy_urls(m) {
                let shown = mask(secret);
                if shown != secret {
                    text = text.replace(secret, &shown);
                }
            }
        }
        text
    }

    fn describe_raw(&self) -> String {
        let d = &self.deployment;
        let m = &d.manifest;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "profile {} ({}), preset {}, runtime {}, supervisor {} ({} scope)",
            m.profile,
            d.paths.dir.display(),
            m.preset,
            m.runtime_kind,
            m.supervisor_kind,
            m.scope
        );
        let _ = writeln!(
            out,
            "proxy http://{}:{} (health {})",
            d.probe_host(),
            m.port,
            m.health_url
        );
        let targets = if m.targets.is_empty() {
            "none".to_owned()
        } else {
            m.targets.join(", ")
        };
        let _ = writeln!(out, "tool targets: {targets}");
        let _ = writeln!(
            out,
            "compression: {} (full keeps what it cuts in {})",
            m.compress,
            d.paths.state.retrieve_dir().display()
        );
        if d.exe != self.source_exe {
            let _ = writeln!(
                out,
                "binary: {} (a copy of {}; apply and restart replace it)",
                d.exe.display(),
                self.source_exe.display()
            );
        }
        let _ = writeln!(out, "logs: {}", crate::logs::source(d).describe());
        let mut files = self.rendered.files.clone();
        files.push(supervisors::RenderedFile {
            path: d.paths.manifest(),
            content: m.to_json(),
            mode: 0o600,
        });
        for f in &files {
            let before = std::fs::read_to_string(&f.path).ok();
            let _ = writeln!(
                out,
                "\n--- {} ({})\n+++ {} (mode {:04o})",
                f.path.display(),
                if before.is_some() {
                    "existing"
                } else {
                    "absent"
                },
                f.path.display(),
                f.mode
            );
            out.push_str(&line_diff(before.as_deref().unwrap_or(""), &f.content));
        }
        if let Some(block) = &self.rendered.crontab_block {
            let _ = writeln!(
                out,
                "\ncrontab: add or replace this block (other lines kept byte for byte):"
            );
            for line in block.lines() {
                let _ = writeln!(out, "+{line}");
            }
        }
        let _ = writeln!(out, "\ncommands:");
        for c in &self.rendered.commands {
            let shown: Vec<String> = c.iter().map(|a| crate::quote::sh(a)).collect();
            let _ = writeln!(out, "  $ {}", shown.join(" "));
        }
        out
    }
}

/// The proxy URLs a manifest gives the proxy: its proxy variables and `--upstream-proxy`
/// arguments (`--flag value` or `--flag=value`).
fn proxy_urls(m: &Manifest) -> Vec<&str> {
    const FLAG: &str = "--upstream-proxy";
    let mut out: Vec<&str> = m
        .base_env
        .iter()
        .filter(|(k, v)| crate::manifest::is_proxy_url_var(k) && !v.is_empty())
        .map(|(_, v)| v.as_str())
        .collect();
    let mut args = m.proxy_args.iter();
    while let Some(a) = args.next() {
        if a == FLAG {
            out.extend(args.next().map(String::as_str));
        } else if let Some(v) = a.strip_prefix(FLAG).and_then(|r| r.strip_prefix('=')) {
            out.push(v);
        }
    }
    out
}

/// A whole-file line diff: unchanged lines with ' ', removed '-', added '+' (LCS-free: old
/// lines not in the new text are removed, good enough for small generated files).
fn line_diff(before: &str, after: &str) -> String {
    let mut out = String::new();
    let old: Vec<&str> = before.lines().collect();
    let new: Vec<&str> = after.lines().collect();
    for l in &old {
        if !new.contains(l) {
            let _ = writeln!(out, "-{l}");
        }
    }
    for l in &new {
        let mark = if old.contains(l) { ' ' } else { '+' };
        let _ = writeln!(out, "{mark}{l}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> ApplyRequest {
        ApplyRequest {
            profile: "default".into(),
            preset: None,
            runtime: None,
            scope: Scope::User,
            providers: ProviderMode::None,
            targets: vec![],
            port: None,
            host: "127.0.0.1".into(),
            backend: None,
            image: None,
            env: vec![],
            compress: headroom_compress::Mode::Lossless,
            proxy_args: vec![],
            home: PathBuf::from("/home/a b"),
            exe: PathBuf::from("/opt/head room/headroom"),
            adapters: BTreeMap::new(),
        }
    }

    fn err(req: ApplyRequest) -> String {
        format!("{:#}", plan(&req).unwrap_err())
    }

    #[test]
    fn defaults_are_a_user_systemd_service_on_8787() {
        let p = plan(&request()).unwrap();
        let m = &p.deployment.manifest;
        assert_eq!(
            (m.preset, m.runtime_kind, m.port),
            (Preset::Service, Runtime::Native, 8787)
        );
        assert_eq!(m.health_url, "http://127.0.0.1:8787/readyz");
        if cfg!(target_os = "linux") {
            assert_eq!(m.supervisor_kind, SupervisorKind::Systemd);
            // Under the user manager's config dir (ours, unless a manager with another HOME runs).
            assert!(
                p.rendered.files[0]
                    .path
                    .ends_with(".config/systemd/user/headroom-default.service")
            );
        }
    }

    #[test]
    fn bad_ports_envs_and_profiles_are_one_line_errors() {
        for port in ["0", "70000", "abc", "-1", ""] {
            let e = err(ApplyRequest {
                port: Some(port.into()),
                ..request()
            });
            assert!(e.contains("invalid port"), "{e}");
        }
        let e = err(ApplyRequest {
            env: vec!["NOEQUALS".into()],
            ..request()
        });
        assert!(e.contains("KEY=VALUE"), "{e}");
        let e = err(ApplyRequest {
            env: vec!["HEADROOM_DEPLOYMENT_PROFILE=x".into()],
            ..request()
        });
        assert!(e.contains("reserved"), "{e}");
        for arg in ["--compress", "--compress=full"] {
            let e = err(ApplyRequest {
                proxy_args: vec![arg.into(), "full".into()],
                ..request()
            });
            assert!(e.contains("pass --compress to install apply"), "{e}");
        }
        for name in ["..", "a/b", "a b", ""] {
            let e = err(ApplyRequest {
                profile: name.into(),
                ..request()
            });
            assert!(e.contains("invalid profile name"), "{e}");
        }
    }

    #[test]
    fn env_values_are_kept_verbatim() {
        let env = parse_env(&[
            "A=\"quoted\" 'x'".into(),
            "B=$(touch /tmp/pwned)".into(),
            "C=line1\nline2".into(),
            "D=".into(),
        ])
        .unwrap();
        assert_eq!(env["B"], "$(touch /tmp/pwned)");
        assert_eq!(env["C"], "line1\nline2");
        assert_eq!(env["D"], "");
    }

    #[test]
    fn docker_runtime_implies_the_docker_preset_and_conflicts_otherwise() {
        let p = plan(&ApplyRequest {
            runtime: Some(Runtime::Docker),
            ..request()
        })
        .unwrap();
        assert_eq!(p.deployment.manifest.preset, Preset::Docker);
        assert_eq!(
            p.deployment.manifest.image.as_deref(),
            Some("headroom:local")
        );
        let e = err(ApplyRequest {
            runtime: Some(Runtime::Docker),
            preset: Some(Preset::Task),
            ..request()
        });
        assert!(e.contains("persistent-docker"), "{e}");
    }

    #[test]
    fn targets_are_recorded_as_given_once_each() {
        let p = plan(&ApplyRequest {
            providers: ProviderMode::Manual,
            targets: vec!["crush".into(), "codex".into(), "crush".into()],
            ..request()
        })
        .unwrap();
        assert_eq!(p.deployment.manifest.targets, ["crush", "codex"]);
    }

    #[test]
    fn dry_run_text_shows_the_unit_manifest_and_commands() {
        let text = plan(&request()).unwrap().describe(&|u| u.to_owned());
        if cfg!(target_os = "linux") {
            assert!(
                text.contains("+ExecStart=\"/home/a b/.headroom/bin/headroom\" \"install\""),
                "{text}"
            );
            // The supervisor runs the stable copy of the binary apply runs from.
            assert!(
                text.contains("\nbinary: /home/a b/.headroom/bin/headroom (a copy of /opt/head room/headroom; apply and restart replace it)\n"),
                "{text}"
            );
            assert!(
                text.contains("\nlogs: /home/a b/.headroom/deploy/default/headroom.log (startup output: /home/a b/.headroom/deploy/default/startup.log)\n")
                    || text.contains("\nlogs: journalctl --user-unit headroom-default.service\n"),
                "{text}"
            );
            assert!(text.contains("$ systemctl --user daemon-reload"), "{text}");
        }
        assert!(text.contains("manifest.json (absent)"), "{text}");
        assert!(text.contains("\ncompression: lossless ("), "{text}");
        assert!(text.contains(r#"+  "compress": "lossless""#), "{text}");
        let full = plan(&ApplyRequest {
            compress: headroom_compress::Mode::Full,
            ..request()
        })
        .unwrap()
        .describe(&|u| u.to_owned());
        assert!(
            full.contains(
                "compression: full (full keeps what it cuts in /home/a b/.headroom/retrieve)"
            ),
            "{full}"
        );
    }

    #[test]
    fn dry_run_text_shows_proxy_urls_masked() {
        let p = plan(&ApplyRequest {
            env: vec!["HTTPS_PROXY=http://u:s3cret@127.0.0.1:3128".into()],
            proxy_args: vec!["--upstream-proxy=http://v:t0p@127.0.0.1:3129".into()],
            ..request()
        })
        .unwrap();
        let text = p.describe(&|u| u.replace("s3cret", "***").replace("t0p", "***"));
        assert!(!text.contains("s3cret") && !text.contains("t0p"), "{text}");
        assert!(
            text.contains(r#""HTTPS_PROXY": "http://u:***@127.0.0.1:3128""#),
            "{text}"
        );
        assert!(
            text.contains("--upstream-proxy=http://v:***@127.0.0.1:3129"),
            "{text}"
        );
    }
}
