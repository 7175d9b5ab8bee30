//! systemd units: `~/.config/systemd/user/headroom-<profile>.service` (user scope, run by the
//! user's manager) or `/etc/systemd/system/headroom-<profile>.service` (system scope).

use std::path::PathBuf;

use super::{Rendered, RenderedFile, Supervisor, SupervisorState, Unusable};
use crate::command;
use crate::deployment::Deployment;
use crate::fsutil;
use crate::manifest::{Artifact, SupervisorKind};
use crate::quote;

pub struct Systemd {
    pub system: bool,
}

/// systemd gives up on a proxy that fails this many times within the interval (restarts are
/// one second apart), then runs the unroute unit.
pub const START_LIMIT_BURST: u32 = 5;
pub const START_LIMIT_INTERVAL_SEC: u32 = 60;
/// The `--reason` the unroute unit passes to `agent unroute`.
pub const UNROUTE_REASON: &str = "systemd-start-limit";

impl Systemd {
    pub fn unit_name(d: &Deployment) -> String {
        format!("{}.service", d.service_name())
    }

    pub fn unit_path(&self, d: &Deployment) -> PathBuf {
        self.unit_dir(d).join(Self::unit_name(d))
    }

    /// `headroom-<profile>-unroute.service`: the oneshot the proxy's unit names in `OnFailure=`.
    pub fn unroute_unit_name(d: &Deployment) -> String {
        format!("{}-unroute.service", d.service_name())
    }

    pub fn unroute_unit_path(&self, d: &Deployment) -> PathBuf {
        self.unit_dir(d).join(Self::unroute_unit_name(d))
    }

    fn unit_dir(&self, d: &Deployment) -> PathBuf {
        if self.system {
            PathBuf::from("/etc/systemd/system")
        } else {
            self.user_config_dir(d)
        }
    }

    /// Where the user manager reads persistent units: `~/.config/systemd/user` of the *manager's*
    /// environment. It is ours unless `HOME` was changed for this command (sudo -E, tests), in
    /// which case a unit under our `HOME` would never be seen by the manager.
    fn user_config_dir(&self, d: &Deployment) -> PathBuf {
        let ours = d.paths.home.join(".config/systemd/user");
        let Some(out) = self
            .systemctl_lenient(&["show-environment"])
            .filter(|o| o.ok)
        else {
            return ours;
        };
        let var = |name: &str| {
            out.stdout
                .lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix('='))
                .map(|v| PathBuf::from(unquote_env(v)))
                .filter(|p| p.is_absolute())
        };
        if let Some(config) = var("XDG_CONFIG_HOME") {
            return config.join("systemd/user");
        }
        var("HOME").map_or(ours, |home| home.join(".config/systemd/user"))
    }

    /// systemctl's client-side unit file operations (enable/disable) use its own HOME; point it
    /// at the directory the manager reads, so both agree.
    fn client_envs(&self, d: &Deployment) -> Vec<(&'static str, String)> {
        let mut envs = self.envs();
        if !self.system
            && let Some(config) = self.user_config_dir(d).parent().and_then(|p| p.parent())
        {
            envs.push(("XDG_CONFIG_HOME", config.to_string_lossy().into_owned()));
        }
        envs
    }

    fn scope_args(&self) -> Vec<String> {
        if self.system {
            vec![]
        } else {
            vec!["--user".to_owned()]
        }
    }

    /// `systemctl --user` finds the user manager through `XDG_RUNTIME_DIR`, which cron, `su` and
    /// ssh sessions without logind often lack: default it to `/run/user/<uid>`.
    fn envs(&self) -> Vec<(&'static str, String)> {
        if self.system || std::env::var_os("XDG_RUNTIME_DIR").is_some_and(|v| !v.is_empty()) {
            return vec![];
        }
        let uid = crate::platform::uid();
        vec![("XDG_RUNTIME_DIR", format!("/run/user/{uid}"))]
    }

    fn systemctl(&self, args: &[&str]) -> anyhow::Result<command::Output> {
        let mut all = self.scope_args();
        all.extend(args.iter().map(|a| (*a).to_owned()));
        command::run("systemctl", &all, &self.envs(), None)
    }

    fn systemctl_lenient(&self, args: &[&str]) -> Option<command::Output> {
        let mut all = self.scope_args();
        all.extend(args.iter().map(|a| (*a).to_owned()));
        command::capture("systemctl", &all, &self.envs(), None).ok()
    }

    pub fn render_unit(&self, d: &Deployment) -> anyhow::Result<String> {
        let crate::deployment::DefinitionPaths { home, exe, log } = d.definition_paths()?;
        let mut exec = quote::systemd_word(&exe);
        for arg in d.agent_args("run") {
            exec.push(' ');
            exec.push_str(&quote::systemd_word(&arg));
        }
        let profile = d.profile();
        let (after, wanted_by) = if self.system {
            ("network-online.target", "multi-user.target")
        } else {
            ("default.target", "default.target")
        };
        let wants = if self.system {
            "Wants=network-online.target\n"
        } else {
            ""
        };
        let after_line = if self.system {
            format!("After={after}\n")
        } else {
            String::new()
        };
        Ok(format!(
            "# Managed by headroom; remove with: headroom install remove --profile {profile}\n\
             [Unit]\n\
             Description=headroom LLM proxy (profile {profile})\n\
             {wants}{after_line}\
             OnFailure={unroute}\n\
             StartLimitIntervalSec={START_LIMIT_INTERVAL_SEC}\n\
             StartLimitBurst={START_LIMIT_BURST}\n\
             \n\
             [Service]\n\
             Type=exec\n\
             Environment={env}\n\
             ExecStart={exec}\n\
             Restart=on-failure\n\
             RestartSec=1\n\
             TimeoutStopSec=15\n\
             {output}\
             \n\
             [Install]\n\
             WantedBy={wanted_by}\n",
            env = quote::systemd_env("HOME", &home),
            output = Self::output_lines(d, &log),
            unroute = Self::unroute_unit_name(d),
        ))
    }

    /// The oneshot systemd runs when it gives up on the proxy (its start limit): it un-routes
    /// the deployment's tools, so no session is sent to a port nobody listens on.
    pub fn render_unroute_unit(&self, d: &Deployment) -> anyhow::Result<String> {
        let crate::deployment::DefinitionPaths { home, exe, log } = d.definition_paths()?;
        let mut exec = quote::systemd_word(&exe);
        for arg in d.agent_args("unroute") {
            exec.push(' ');
            exec.push_str(&quote::systemd_word(&arg));
        }
        exec.push_str(" \"--reason\" \"");
        exec.push_str(UNROUTE_REASON);
        exec.push('"');
        let profile = d.profile();
        Ok(format!(
            "# Managed by headroom; remove with: headroom install remove --profile {profile}\n\
             [Unit]\n\
             Description=headroom: un-route the tools of profile {profile} (its proxy keeps failing)\n\
             \n\
             [Service]\n\
             Type=oneshot\n\
             Environment={env}\n\
             ExecStart={exec}\n\
             {output}",
            env = quote::systemd_env("HOME", &home),
            output = Self::output_lines(d, &log),
        ))
    }

    /// Where the unit's stdout/stderr go: the journal when journald runs and the proxy has no
    /// file of its own (it rotates), else the small startup file (the proxy logs to its own
    /// rotated file; this holds only what comes before its logger, and panics).
    fn output_lines(d: &Deployment, startup: &str) -> String {
        match crate::logs::source(d) {
            crate::logs::LogSource::Journal { .. } => {
                "StandardOutput=journal\nStandardError=inherit\n".to_owned()
            }
            _ => format!(
                "StandardOutput=append:{}\nStandardError=inherit\n",
                quote::systemd_path(startup)
            ),
        }
    }

    /// Whether logind keeps this user's manager running after logout (lingering); `None` when
    /// it does not answer (no logind, no loginctl).
    pub fn linger_enabled() -> Option<bool> {
        let uid = crate::platform::uid().to_string();
        let out = command::capture(
            "loginctl",
            &["show-user", &uid, "-p", "Linger", "--value"],
            &[],
            None,
        )
        .ok()?;
        out.ok.then(|| out.stdout.trim() == "yes")
    }

    /// The name `loginctl enable-linger` is shown with: the login name, else the uid.
    pub fn linger_user() -> String {
        std::env::var("USER")
            .or_else(|_| std::env::var("LOGNAME"))
            .ok()
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| crate::platform::uid().to_string())
    }

    /// Keep the user's manager (and so the proxy) running after logout and at boot. Returns
    /// `Ok(true)` when lingering was turned on by this call, `Ok(false)` when already on.
    pub fn enable_linger() -> Result<bool, String> {
        let uid = crate::platform::uid().to_string();
        let manual = format!(
            "run `sudo loginctl enable-linger {}` so it also runs while you are logged out",
            Self::linger_user()
        );
        if !command::on_path("loginctl") {
            return Err(format!("loginctl not found; {manual}"));
        }
        if Self::linger_enabled() == Some(true) {
            return Ok(false);
        }
        match command::capture("loginctl", &["enable-linger", &uid], &[], None) {
            Ok(out) if out.ok => Ok(true),
            Ok(out) => Err(format!(
                "could not enable lingering ({}); {manual}",
                out.reason()
            )),
            Err(e) => Err(format!("could not enable lingering ({e:#}); {manual}")),
        }
    }

    pub fn disable_linger() -> anyhow::Result<()> {
        let uid = crate::platform::uid().to_string();
        command::run("loginctl", &["disable-linger", &uid], &[], None).map(drop)
    }
}

/// Files an apply recorded in the manifest's artifacts.
fn recorded_files(d: &Deployment) -> impl Iterator<Item = PathBuf> + '_ {
    d.manifest.artifacts.iter().filter_map(|a| match a {
        Artifact::File { path } => Some(path.clone()),
        _ => None,
    })
}

/// `show-environment` prints values with C-style quoting (`$'…'`) when they need it.
fn unquote_env(v: &str) -> String {
    v.strip_prefix("$'")
        .and_then(|r| r.strip_suffix('\''))
        .map(|r| r.replace("\\\\", "\\"))
        .unwrap_or_else(|| v.to_owned())
}

impl Supervisor for Systemd {
    fn kind(&self) -> SupervisorKind {
        SupervisorKind::Systemd
    }

    fn probe(&self, _d: &Deployment) -> Result<(), Unusable> {
        let which = if self.system {
            "systemd (system)"
        } else {
            "the systemd user manager"
        };
        let unusable = |missing: String| Unusable {
            supervisor: which.to_owned(),
            missing,
            hint: Some(super::alternative(crate::manifest::Preset::Service).to_owned()),
        };
        if !command::on_path("systemctl") {
            return Err(unusable("systemctl is not installed".to_owned()));
        }
        // `is-system-running` prints `offline` for a working user manager without logind;
        // SystemState is reliable.
        match self.systemctl_lenient(&["show", "-p", "SystemState", "--value"]) {
            Some(out) if out.ok => match out.stdout.trim() {
                "running" | "degraded" | "starting" | "initializing" => Ok(()),
                other => Err(unusable(format!("the manager is {other:?}"))),
            },
            Some(out) => Err(unusable(format!(
                "cannot reach the manager ({})",
                out.reason()
            ))),
            None => Err(unusable("cannot run systemctl".to_owned())),
        }
    }

    fn render(&self, d: &Deployment) -> anyhow::Result<Rendered> {
        let unit = Self::unit_name(d);
        let path = self.unit_path(d);
        let sc = |rest: &[&str]| {
            let mut v = vec!["systemctl".to_owned()];
            v.extend(self.scope_args());
            v.extend(rest.iter().map(|s| (*s).to_owned()));
            v
        };
        Ok(Rendered {
            files: vec![
                RenderedFile {
                    content: self.render_unit(d)?,
                    path: path.clone(),
                    mode: 0o644,
                },
                RenderedFile {
                    content: self.render_unroute_unit(d)?,
                    path: self.unroute_unit_path(d),
                    mode: 0o644,
                },
            ],
            crontab_block: None,
            commands: vec![
                sc(&["daemon-reload"]),
                sc(&["enable", &path.to_string_lossy()]),
                sc(&["start", &unit]),
            ],
        })
    }

    fn install(&self, d: &Deployment) -> anyhow::Result<()> {
        let path = self.unit_path(d);
        fsutil::write_atomic(
            &self.unroute_unit_path(d),
            self.render_unroute_unit(d)?.as_bytes(),
            0o644,
        )?;
        fsutil::write_atomic(&path, self.render_unit(d)?.as_bytes(), 0o644)?;
        self.systemctl(&["daemon-reload"])?;
        let mut args = self.scope_args();
        args.extend(["enable".to_owned(), path.to_string_lossy().into_owned()]);
        command::run("systemctl", &args, &self.client_envs(d), None)?;
        Ok(())
    }

    fn start(&self, d: &Deployment) -> anyhow::Result<String> {
        let unit = Self::unit_name(d);
        // A unit that hit its start limit refuses `start` until its failure is reset.
        let _ = self.systemctl_lenient(&["reset-failed", &unit]);
        self.systemctl(&["start", &unit])?;
        Ok(format!("started {unit}"))
    }

    fn stop(&self, d: &Deployment) -> anyhow::Result<String> {
        let unit = Self::unit_name(d);
        self.systemctl(&["stop", &unit])?;
        Ok(format!(
            "stopped {unit}; it stays down until `headroom install start` (it still starts at boot)"
        ))
    }

    fn uninstall(&self, d: &Deployment) -> anyhow::Result<()> {
        let unit = Self::unit_name(d);
        // Each step tolerates "not loaded": a half-installed profile must always be removable.
        let _ = self.systemctl_lenient(&["stop", &unit]);
        let mut args = self.scope_args();
        args.extend(["disable".to_owned(), unit.clone()]);
        let _ = command::capture("systemctl", &args, &self.client_envs(d), None);
        // Without a reachable manager `disable` did nothing: remove the unit and its `.wants`
        // link ourselves, wherever apply recorded writing it.
        let wanted = if self.system { "multi-user" } else { "default" };
        let mut paths = vec![self.unit_path(d)];
        paths.extend(recorded_files(d).filter(|p| p.ends_with(&unit)));
        for path in paths {
            if let Some(dir) = path.parent() {
                let link = dir.join(format!("{wanted}.target.wants")).join(&unit);
                if link
                    .symlink_metadata()
                    .is_ok_and(|m| m.file_type().is_symlink())
                {
                    fsutil::remove_file_if_exists(&link)?;
                }
            }
            fsutil::remove_file_if_exists(&path)?;
        }
        let unroute = Self::unroute_unit_name(d);
        let _ = self.systemctl_lenient(&["stop", &unroute]);
        let mut unroutes = vec![self.unroute_unit_path(d)];
        unroutes.extend(recorded_files(d).filter(|p| p.ends_with(&unroute)));
        for path in unroutes {
            fsutil::remove_file_if_exists(&path)?;
        }
        let _ = self.systemctl_lenient(&["daemon-reload"]);
        let _ = self.systemctl_lenient(&["reset-failed", &unit]);
        let _ = self.systemctl_lenient(&["reset-failed", &unroute]);
        Ok(())
    }

    fn state(&self, d: &Deployment) -> SupervisorState {
        let unit = Self::unit_name(d);
        let out = self.systemctl_lenient(&[
            "show",
            &unit,
            "-p",
            "LoadState,ActiveState,SubState,MainPID,UnitFileState",
        ]);
        let mut props = std::collections::HashMap::new();
        if let Some(out) = out.filter(|o| o.ok) {
            for line in out.stdout.lines() {
                if let Some((k, v)) = line.split_once('=') {
                    props.insert(k.to_owned(), v.to_owned());
                }
            }
        }
        let get = |k: &str| props.get(k).cloned().unwrap_or_default();
        let active = get("ActiveState");
        let sub = get("SubState");
        let pid = get("MainPID").parse::<u32>().ok().filter(|p| *p != 0);
        SupervisorState {
            registered: get("LoadState") == "loaded"
                && matches!(
                    get("UnitFileState").as_str(),
                    "enabled" | "linked" | "enabled-runtime" | "linked-runtime"
                ),
            running: active == "active" || active == "activating" || active == "reloading",
            state: if active.is_empty() {
                "unknown".to_owned()
            } else {
                format!("{active} ({sub})")
            },
            pid,
            crash_looping: sub == "auto-restart" || active == "failed",
        }
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use crate::deployment::test_deployment;
    use crate::manifest::{Preset, Scope};

    #[test]
    fn system_unit_targets_multi_user_and_quotes_paths() {
        let d = test_deployment(Preset::Service, Scope::System);
        let s = Systemd { system: true };
        assert_eq!(
            s.unit_path(&d),
            PathBuf::from("/etc/systemd/system/headroom-dev.1.service")
        );
        let unit = s.render_unit(&d).unwrap();
        assert!(unit.contains("WantedBy=multi-user.target\n"), "{unit}");
        assert!(unit.contains("After=network-online.target\n"), "{unit}");
        assert!(unit.contains("Restart=on-failure\n"), "{unit}");
        assert!(unit.contains("Environment=\"HOME=/home/a b\"\n"), "{unit}");
        assert!(
            unit.contains("ExecStart=\"/opt/it's here/headroom\" \"install\" \"agent\" \"run\" \"--profile\" \"dev.1\"\n"),
            "{unit}"
        );
        // Env values live in the manifest, never in the unit.
        assert!(!unit.contains("QUOTE"));
        // systemd gives up after a burst of failures and runs the unroute oneshot.
        assert!(
            unit.contains("OnFailure=headroom-dev.1-unroute.service\nStartLimitIntervalSec=60\nStartLimitBurst=5\n"),
            "{unit}"
        );
        assert!(unit.contains("RestartSec=1\n"), "{unit}");
        // The start job still completes when the proxy is exec'd (`agent run` re-routes).
        assert!(!unit.contains("ExecStartPost"), "{unit}");
        let unroute = s.render_unroute_unit(&d).unwrap();
        assert!(unroute.contains("Type=oneshot\n"), "{unroute}");
        assert!(
            unroute.contains("ExecStart=\"/opt/it's here/headroom\" \"install\" \"agent\" \"unroute\" \"--profile\" \"dev.1\" \"--reason\" \"systemd-start-limit\"\n"),
            "{unroute}"
        );
        assert_eq!(
            s.unroute_unit_path(&d),
            PathBuf::from("/etc/systemd/system/headroom-dev.1-unroute.service")
        );
    }

    #[test]
    fn user_unit_is_wanted_by_default_target() {
        let d = test_deployment(Preset::Service, Scope::User);
        let unit = Systemd { system: false }.render_unit(&d).unwrap();
        assert!(unit.contains("WantedBy=default.target\n"), "{unit}");
        // The proxy logs to its own rotated file; the unit's output is only the startup file.
        let mut with_file = d.clone();
        with_file.manifest.log_file = Some(d.paths.log());
        let unit = Systemd { system: false }.render_unit(&with_file).unwrap();
        assert!(
            unit.contains("StandardOutput=append:/home/a b/.headroom/deploy/dev.1/startup.log\nStandardError=inherit\n")
                || unit.contains("StandardOutput=append:\"/home/a b/.headroom/deploy/dev.1/startup.log\"\nStandardError=inherit\n"),
            "{unit}"
        );
        assert!(!unit.contains("After="), "{unit}");
    }

    #[test]
    fn uninstall_without_a_manager_removes_the_recorded_unit_and_its_wants_link() {
        let dir = tempfile::tempdir().unwrap();
        let mut d = test_deployment(Preset::Service, Scope::User);
        d.paths.home = dir.path().join("home");
        let units = dir.path().join("manager/systemd/user");
        let unit = units.join("headroom-dev.1.service");
        std::fs::create_dir_all(units.join("default.target.wants")).unwrap();
        std::fs::write(&unit, "x").unwrap();
        std::os::unix::fs::symlink(
            &unit,
            units.join("default.target.wants/headroom-dev.1.service"),
        )
        .unwrap();
        d.manifest.artifacts = vec![Artifact::File { path: unit.clone() }];
        // Whether or not a user manager runs here, it knows nothing of this unit.
        Systemd { system: false }.uninstall(&d).unwrap();
        assert!(!unit.exists());
        assert!(
            std::fs::read_dir(units.join("default.target.wants"))
                .unwrap()
                .next()
                .is_none()
        );
    }

    #[test]
    fn a_home_with_a_newline_is_refused() {
        let mut d = test_deployment(Preset::Service, Scope::User);
        d.paths.home = PathBuf::from("/home/a\nb");
        let err = Systemd { system: false }.render_unit(&d).unwrap_err();
        assert!(format!("{err}").contains("control character"), "{err}");
    }
}
