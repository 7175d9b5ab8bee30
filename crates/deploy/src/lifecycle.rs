//! apply / start / stop / restart / remove. Every command on a profile holds that profile's
//! lock; apply is transactional (a failure removes everything new and restores the previous
//! deployment), and a manifest left in the `applying` state by a crash is repaired by the next
//! apply or remove.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;

use crate::deployment::Deployment;
use crate::fsutil;
use crate::health::{self, PortOwner};
use crate::manifest::{
    Artifact, InstallState, Manifest, ManifestError, Preset, Scope, SupervisorKind, now_rfc3339,
};
use crate::planner::Plan;
use crate::profile::{ProfileName, ProfilePaths};
use crate::supervisors::{self, Supervisor, cron::Cron, docker::Docker, systemd::Systemd};
use headroom_core::FileLock;

/// How long apply/start wait for `/readyz` after the supervisor started the proxy.
pub const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// What a command did and what the user should know, one line each.
#[derive(Debug, Default)]
pub struct Report {
    pub done: Vec<String>,
    pub warnings: Vec<String>,
}

fn supervisor_of(m: &Manifest) -> Box<dyn Supervisor> {
    supervisors::for_kind(m.supervisor_kind, m.scope, m.preset)
}

/// Load an installed deployment. `exe` is used when the manifest does not name one.
pub fn load(home: &Path, profile: &ProfileName, exe: &Path) -> Result<Deployment, ManifestError> {
    let paths = ProfilePaths::new(home, profile);
    let manifest = Manifest::load(&paths.manifest())?;
    let exe = manifest
        .executable
        .clone()
        .unwrap_or_else(|| exe.to_path_buf());
    Ok(Deployment {
        manifest,
        paths,
        exe,
    })
}

fn load_for_command(home: &Path, profile: &ProfileName, exe: &Path) -> anyhow::Result<Deployment> {
    load(home, profile, exe).map_err(|e| match e {
        ManifestError::NotFound(_) => anyhow::anyhow!(
            "no deployment named \"{profile}\"; create it with `headroom install apply --profile {profile}`"
        ),
        other => other.into(),
    })
}

/// Directories between `home` (or `/`) and `file` that do not exist yet, deepest first.
fn missing_dirs(file: &Path, home: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut dir = file.parent();
    while let Some(d) = dir {
        if d == home || d.exists() || d.parent().is_none() {
            break;
        }
        out.push(d.to_path_buf());
        dir = d.parent();
    }
    out
}

fn wait_ready(d: &Deployment, timeout: Duration) -> anyhow::Result<()> {
    let (host, port) = (d.probe_host(), d.manifest.port);
    let sup = supervisor_of(&d.manifest);
    let deadline = std::time::Instant::now() + timeout;
    loop {
        if health::wait_ready(host, port, d.profile().as_str(), Duration::from_millis(500)) {
            return Ok(());
        }
        // A proxy that exits at once is restarted by its manager forever: say so now rather
        // than after the whole timeout.
        let state = sup.state(d);
        if state.crash_looping {
            anyhow::bail!(
                "the proxy exits right after starting ({}); see {} (`headroom logs --profile {}`)",
                state.state,
                crate::logs::source(d).describe(),
                d.profile()
            );
        }
        if std::time::Instant::now() >= deadline {
            break;
        }
    }
    match health::port_owner(host, port) {
        PortOwner::Free => anyhow::bail!(
            "the proxy did not come up on port {port} within {}s; see {} (`headroom logs --profile {}`)",
            timeout.as_secs(),
            crate::logs::source(d).describe(),
            d.profile()
        ),
        PortOwner::Deployment { profile, .. } if profile == d.profile().as_str() => anyhow::bail!(
            "the proxy runs on port {port} but /readyz did not answer 200 within {}s",
            timeout.as_secs()
        ),
        other => anyhow::bail!("port {port} is held by {}", other.describe()),
    }
}

/// Register and start `d`; on success its manifest is saved as installed.
fn install_and_start(d: &mut Deployment, report: &mut Report) -> anyhow::Result<()> {
    let sup = supervisor_of(&d.manifest);
    let rendered = sup.render(d)?;
    // Directories an earlier deployment of this profile created stay ours to remove.
    let mut created: Vec<PathBuf> = recorded_dirs(&d.manifest);
    d.manifest.artifacts.clear();
    for f in &rendered.files {
        created.extend(missing_dirs(&f.path, &d.paths.home));
        if d.manifest.supervisor_kind == SupervisorKind::Systemd
            && let Some(unit_dir) = f.path.parent()
        {
            // `systemctl enable` creates the `.wants` directory beside the unit.
            let wanted = if d.manifest.scope == Scope::System {
                "multi-user"
            } else {
                "default"
            };
            created.extend(missing_dirs(
                &unit_dir.join(format!("{wanted}.target.wants/x")),
                &d.paths.home,
            ));
        }
    }
    created.sort();
    created.dedup();
    let artifacts = &mut d.manifest.artifacts;
    artifacts.extend(created.into_iter().map(|path| Artifact::Dir { path }));
    artifacts.extend(rendered.files.iter().map(|f| Artifact::File {
        path: f.path.clone(),
    }));
    if rendered.crontab_block.is_some() {
        artifacts.push(Artifact::CrontabBlock {
            profile: d.manifest.profile.clone(),
        });
    }
    if d.manifest.supervisor_kind == SupervisorKind::Docker {
        let name = d.service_name();
        d.manifest.artifacts.push(Artifact::Container { name });
    }
    // Recorded before anything is registered, so a crash leaves a removable profile.
    d.manifest.state = InstallState::Applying;
    d.manifest.save(&d.paths.manifest())?;
    sup.install(d)?;
    let started = sup.start(d)?;
    wait_ready(d, READY_TIMEOUT)?;
    report.done.push(started);
    if d.manifest.supervisor_kind == SupervisorKind::Systemd && d.manifest.scope != Scope::System {
        match Systemd::enable_linger() {
            Ok(by_us) => d.manifest.linger_enabled_by_us |= by_us,
            Err(warning) => report.warnings.push(warning),
        }
    }
    d.manifest.state = InstallState::Installed;
    d.manifest.updated_at = now_rfc3339();
    d.manifest.save(&d.paths.manifest())
}

/// Every setting that ends up in a unit, crontab, container or the proxy's environment.
fn same_settings(a: &Manifest, b: &Manifest) -> bool {
    (
        a.preset,
        a.runtime_kind,
        a.supervisor_kind,
        a.scope,
        a.provider_mode,
        a.port,
    ) == (
        b.preset,
        b.runtime_kind,
        b.supervisor_kind,
        b.scope,
        b.provider_mode,
        b.port,
    ) && (&a.targets, &a.host, &a.backend, &a.image, &a.base_env)
        == (&b.targets, &b.host, &b.backend, &b.image, &b.base_env)
        && (&a.proxy_args, &a.executable, &a.home) == (&b.proxy_args, &b.executable, &b.home)
        && a.compress == b.compress
}

/// What `apply` checks before it changes anything: the profile's current manifest (if any) loads,
/// the port is free (or this profile's), and the supervisor can be used.
fn check(new: &Deployment) -> anyhow::Result<(Option<Deployment>, Box<dyn Supervisor>)> {
    let paths = &new.paths;
    let previous = match load(&paths.home, &paths.profile, &new.exe) {
        Ok(d) => Some(d),
        Err(ManifestError::NotFound(_)) => None,
        Err(e @ ManifestError::Corrupt { .. }) => anyhow::bail!(
            "{e}; it is left untouched: fix it, or run `headroom install remove --profile {}` first",
            paths.profile
        ),
        Err(e) => return Err(e.into()),
    };
    match health::port_owner(new.probe_host(), new.manifest.port) {
        PortOwner::Free => {}
        PortOwner::Deployment { profile, .. } if profile == paths.profile.as_str() => {}
        other => anyhow::bail!(
            "port {} is held by {}; stop it or choose another --port",
            new.manifest.port,
            other.describe()
        ),
    }
    let sup = supervisor_of(&new.manifest);
    sup.probe(new)?;
    Ok((previous, sup))
}

/// `apply`'s refusals, without its lock, for a caller to make before its own work (running
/// adapters); `apply` makes them again under the lock.
pub fn preflight(plan: &Plan) -> anyhow::Result<()> {
    check(&plan.deployment).map(drop)
}

/// A deployment `apply` put in place, and how to put back what was there before it.
#[must_use = "a caller whose own work fails after apply must call rollback"]
pub struct Applied {
    pub report: Report,
    undo: Undo,
}

enum Undo {
    /// The same deployment was already installed and healthy: nothing changed.
    Nothing,
    /// `new` replaced `previous`.
    Restore {
        new: Box<Deployment>,
        previous: Option<Box<Deployment>>,
    },
}

impl Applied {
    /// Undo this apply: the previous deployment (its manifest, registration and a healthy proxy)
    /// is back, or a new one is gone. The profile's edit journal is never touched: the caller
    /// owns the tool files. Says what happened, for the error message.
    pub fn rollback(self) -> String {
        match self.undo {
            Undo::Nothing => "the deployment was left as it was".to_owned(),
            Undo::Restore { new, previous } => {
                let _lock = FileLock::acquire(&new.paths.profile_lock(), &new.paths.lock_name());
                put_back(&new, previous.map(|p| *p))
            }
        }
    }
}

/// Take `new` down and bring `previous` back (or leave nothing of `new`).
fn put_back(new: &Deployment, previous: Option<Deployment>) -> String {
    let _ = supervisor_of(&new.manifest).uninstall(new);
    remove_recorded_dirs(&new.manifest);
    match previous {
        Some(mut prev) if prev.manifest.state == InstallState::Installed => {
            let mut ignored = Report::default();
            match install_and_start(&mut prev, &mut ignored) {
                Ok(()) => "the previous deployment was restored".to_owned(),
                Err(e) => format!("restoring the previous deployment failed too: {e:#}"),
            }
        }
        _ => {
            discard(&new.paths);
            "nothing was left installed".to_owned()
        }
    }
}

/// `install apply`: replace the profile's deployment with `plan`, atomically from the user's
/// point of view: on failure the previous deployment is back. The returned [`Applied`] undoes
/// a success when the caller's own next step (tool edits) fails.
pub fn apply(plan: Plan) -> anyhow::Result<Applied> {
    let paths = plan.deployment.paths.clone();
    let result = apply_locked(plan);
    if result.is_err() && !paths.dir.exists() {
        // Nothing of this profile exists: leave no lock file behind either.
        cleanup_locks(&paths);
    }
    result
}

fn apply_locked(plan: Plan) -> anyhow::Result<Applied> {
    let source = plan.source_exe;
    let mut new = plan.deployment;
    let paths = new.paths.clone();
    let _lock = FileLock::acquire(&paths.profile_lock(), &paths.lock_name())?;
    let mut report = Report::default();

    let (previous, _) = check(&new)?;
    // A newer binary than the stable copy is a change even when every setting is the same.
    let upgrade = crate::binary::needs_update(&new.exe, &source);

    // Re-applying what is installed and healthy changes nothing (and costs no downtime).
    if let Some(prev) = &previous
        && prev.manifest.state == InstallState::Installed
        && same_settings(&prev.manifest, &new.manifest)
        && !upgrade
        && supervisor_of(&prev.manifest).state(prev).registered
        && health::port_owner(prev.probe_host(), prev.manifest.port)
            .is_ready_profile(paths.profile.as_str())
    {
        report.done.push(format!(
            "profile {} is already installed with these settings and healthy: nothing to do",
            paths.profile
        ));
        forget_routing(&paths);
        return Ok(Applied {
            report,
            undo: Undo::Nothing,
        });
    }

    if let Some(prev) = &previous {
        new.manifest.created_at = prev.manifest.created_at.clone();
        new.manifest.linger_enabled_by_us = prev.manifest.linger_enabled_by_us;
        // Keep what newer versions or the user added to the manifest.
        for (k, v) in &prev.manifest.extra {
            new.manifest
                .extra
                .entry(k.clone())
                .or_insert_with(|| v.clone());
        }
        new.manifest.artifacts = prev.manifest.artifacts.clone();
        supervisor_of(&prev.manifest)
            .uninstall(prev)
            .with_context(|| {
                format!("cannot take down the previous deployment {}", paths.profile)
            })?;
        report.done.push(format!(
            "replaced the previous {} deployment",
            prev.manifest.preset
        ));
    }

    if crate::binary::is_stable(&paths.state, &new.exe)
        && crate::binary::install(&new.exe, &source)?
    {
        report.done.push(format!(
            "copied {} to {} (what the supervisor runs)",
            source.display(),
            new.exe.display()
        ));
    }
    match install_and_start(&mut new, &mut report) {
        Ok(()) => {
            report.done.push(format!(
                "profile {} is up: {} ({})",
                paths.profile, new.manifest.health_url, new.manifest.supervisor_kind
            ));
            forget_routing(&paths);
            Ok(Applied {
                report,
                undo: Undo::Restore {
                    new: Box::new(new),
                    previous: previous.map(Box::new),
                },
            })
        }
        Err(err) => {
            let restored = put_back(&new, previous);
            Err(err.context(format!("apply failed and was rolled back ({restored})")))
        }
    }
}

/// A caller's own step run under the profile lock after the proxy started (and is healthy) or
/// stopped: the host routes or un-routes the tools there, so no other command on the profile
/// sees the proxy and the tools disagree.
pub type Then<'a> = &'a mut dyn FnMut(&Deployment, &mut Report) -> anyhow::Result<()>;

/// Start the proxy, wait until it is healthy, then run `then` (still under the profile lock).
pub fn start(
    home: &Path,
    profile: &ProfileName,
    exe: &Path,
    then: Then<'_>,
) -> anyhow::Result<Report> {
    let paths = ProfilePaths::new(home, profile);
    let _lock = FileLock::acquire(&paths.profile_lock(), &paths.lock_name())?;
    let d = load_for_command(home, profile, exe)?;
    start_locked(&d, then)
}

fn start_locked(d: &Deployment, then: Then<'_>) -> anyhow::Result<Report> {
    let sup = supervisor_of(&d.manifest);
    sup.probe(d)?;
    let mut report = Report::default();
    report.done.push(sup.start(d)?);
    wait_ready(d, READY_TIMEOUT)?;
    report
        .done
        .push(format!("healthy at {}", d.manifest.health_url));
    then(d, &mut report)?;
    Ok(report)
}

/// Stop the proxy (only our own), then run `then` (still under the profile lock).
pub fn stop(
    home: &Path,
    profile: &ProfileName,
    exe: &Path,
    then: Then<'_>,
) -> anyhow::Result<Report> {
    let paths = ProfilePaths::new(home, profile);
    let _lock = FileLock::acquire(&paths.profile_lock(), &paths.lock_name())?;
    let d = load_for_command(home, profile, exe)?;
    stop_locked(&d, then)
}

fn stop_locked(d: &Deployment, then: Then<'_>) -> anyhow::Result<Report> {
    let profile = d.profile();
    let sup = supervisor_of(&d.manifest);
    let mut report = Report::default();
    report.done.push(sup.stop(d)?);
    // Only our own proxy was stopped; something else on the port is reported, never killed.
    match health::port_owner(d.probe_host(), d.manifest.port) {
        PortOwner::Free => {}
        PortOwner::Deployment { profile: p, .. } if p == profile.as_str() => {
            if !health::wait_free(d.probe_host(), d.manifest.port, Duration::from_secs(10)) {
                report
                    .warnings
                    .push(format!("port {} still answers after stop", d.manifest.port));
            }
        }
        other => report.warnings.push(format!(
            "port {} is now held by {} (left alone)",
            d.manifest.port,
            other.describe()
        )),
    }
    then(d, &mut report)?;
    Ok(report)
}

/// Stop (then `stopped`), move the supervisor to `exe` when it runs another binary, start
/// (then `started`), all under one hold of the profile lock.
pub fn restart(
    home: &Path,
    profile: &ProfileName,
    exe: &Path,
    stopped: Then<'_>,
    started: Then<'_>,
) -> anyhow::Result<Report> {
    let paths = ProfilePaths::new(home, profile);
    let _lock = FileLock::acquire(&paths.profile_lock(), &paths.lock_name())?;
    let mut d = load_for_command(home, profile, exe)?;
    let mut report = stop_locked(&d, stopped)?;
    if let Some(line) = move_to(&mut d, exe)? {
        report.done.push(line);
    }
    let started = start_locked(&d, started)?;
    if d.manifest.preset == Preset::Task {
        report
            .done
            .push("restarted the proxy and resumed its cron schedule".to_owned());
    }
    report.done.extend(started.done);
    report.warnings.extend(started.warnings);
    Ok(report)
}

/// Switch the deployment to the binary `exe` (an upgrade): the stable copy gets `exe`'s bytes,
/// and a supervisor that names another file (a deployment from before the stable copy, or a
/// moved binary) gets its definition written again for the stable copy. Containers run their
/// image's binary: only their watchdog's copy is refreshed. Windows runs `exe` itself.
fn move_to(d: &mut Deployment, exe: &Path) -> anyhow::Result<Option<String>> {
    let kind = d.manifest.supervisor_kind;
    let stable = crate::binary::supervised_exe(&d.paths.state, kind, exe);
    let mut lines = Vec::new();
    if crate::binary::is_stable(&d.paths.state, &stable) && crate::binary::install(&stable, exe)? {
        lines.push(format!("copied {} to {}", exe.display(), stable.display()));
    }
    if kind == SupervisorKind::Docker || d.exe == stable {
        return Ok((!lines.is_empty()).then(|| lines.join("; ")));
    }
    let exe = stable.as_path();
    let old = std::mem::replace(&mut d.exe, exe.to_path_buf());
    d.manifest.executable = Some(exe.to_path_buf());
    supervisor_of(&d.manifest)
        .install(d)
        .with_context(|| format!("cannot point the supervisor at {}", exe.display()))?;
    d.manifest.updated_at = now_rfc3339();
    d.manifest.save(&d.paths.manifest())?;
    lines.push(format!(
        "the supervisor now runs {} (was {})",
        exe.display(),
        old.display()
    ));
    Ok(Some(lines.join("; ")))
}

/// `install remove`: stop, unregister, revert, delete. Works on a half-installed profile and on
/// one whose manifest is corrupt (every supervisor's artifacts are named after the profile);
/// removing what is not there succeeds.
pub fn remove(home: &Path, profile: &ProfileName, exe: &Path) -> anyhow::Result<Report> {
    let paths = ProfilePaths::new(home, profile);
    let mut report = Report::default();
    {
        let _lock = FileLock::acquire(&paths.profile_lock(), &paths.lock_name())?;
        match load(home, profile, exe) {
            Ok(d) => {
                supervisor_of(&d.manifest).uninstall(&d)?;
                if d.manifest.linger_enabled_by_us
                    && let Err(e) = Systemd::disable_linger()
                {
                    report.warnings.push(format!("{e:#}"));
                }
                remove_recorded_dirs(&d.manifest);
                report.done.push(format!(
                    "removed the {} deployment {profile}",
                    d.manifest.preset
                ));
            }
            Err(ManifestError::NotFound(_)) if !paths.dir.exists() => {
                report.done.push(format!(
                    "no deployment named \"{profile}\": nothing to remove"
                ));
            }
            Err(e) => {
                report
                    .warnings
                    .push(format!("{e}; removing everything named after the profile"));
                sweep(home, profile, exe)?;
                report
                    .done
                    .push(format!("removed what was left of {profile}"));
            }
        }
        remove_state(&paths)?;
    }
    cleanup_locks(&paths);
    if !paths.state.deploy_dir().exists() {
        leave_only_history(&paths.state);
    }
    Ok(report)
}

/// The last profile is gone: when no plugin is installed or applied directly either, nothing
/// uses headroom's compile cache, run records or locks any more, so they go too and what
/// stays is the usage history (and `retrieve/`, `damaged/` if they hold anything).
fn leave_only_history(state: &headroom_core::StateDir) {
    let plugin_journals = state.root().join("journal");
    let in_use = |dir: &Path| std::fs::read_dir(dir).is_ok_and(|mut rd| rd.next().is_some());
    if in_use(&state.plugins_dir()) || in_use(&plugin_journals) {
        return;
    }
    let _ = std::fs::remove_dir_all(state.cache_dir());
    let _ = std::fs::remove_dir_all(state.runs_dir());
    let _ = fsutil::remove_file_if_exists(&state.edits_lock());
    for dir in [
        state.locks_dir(),
        state.plugins_dir(),
        plugin_journals,
        state.retrieve_dir(),
        state.damaged_dir(),
        state.root().to_path_buf(),
    ] {
        let _ = std::fs::remove_dir(dir);
    }
}

/// Without a manifest, uninstall every supervisor's artifact named after the profile.
fn sweep(home: &Path, profile: &ProfileName, exe: &Path) -> anyhow::Result<()> {
    let paths = ProfilePaths::new(home, profile);
    let template = crate::planner::plan(&crate::planner::ApplyRequest {
        profile: profile.to_string(),
        preset: None,
        runtime: None,
        scope: Scope::User,
        providers: crate::manifest::ProviderMode::None,
        targets: vec![],
        port: None,
        host: "127.0.0.1".to_owned(),
        backend: None,
        image: None,
        env: vec![],
        compress: Default::default(),
        proxy_args: vec![],
        home: home.to_path_buf(),
        exe: exe.to_path_buf(),
        adapters: Default::default(),
    })?;
    let d = Deployment {
        paths,
        ..template.deployment
    };
    let root = crate::platform::is_root();
    let mut sups: Vec<Box<dyn Supervisor>> = vec![Box::new(Systemd { system: false })];
    if crate::command::on_path("crontab") {
        sups.push(Box::new(Cron { system: false }));
    }
    if root {
        sups.push(Box::new(Systemd { system: true }));
        sups.push(Box::new(Cron { system: true }));
    }
    if cfg!(target_os = "macos") {
        // The plist path and label do not depend on KeepAlive.
        sups.push(Box::new(supervisors::launchd::Launchd {
            system: false,
            keep_alive: true,
        }));
    }
    // Without an answering daemon there is no container to remove.
    if crate::command::on_path("docker")
        && crate::command::capture("docker", &["version"], &[], None).is_ok_and(|o| o.ok)
    {
        sups.push(Box::new(Docker));
    }
    for s in sups {
        s.uninstall(&d)
            .with_context(|| format!("cannot remove the {} registration", s.kind()))?;
    }
    Ok(())
}

/// Delete the profile directory, then headroom's own parents if that left them empty.
fn remove_state(paths: &ProfilePaths) -> anyhow::Result<()> {
    if paths.dir.exists() {
        std::fs::remove_dir_all(&paths.dir)
            .with_context(|| format!("cannot delete {}", paths.dir.display()))?;
    }
    let _ = std::fs::remove_dir(paths.state.deploy_dir());
    remove_stable_exe_if_unused(paths);
    Ok(())
}

/// The last profile is gone: so is the binary copy the deployments ran.
fn remove_stable_exe_if_unused(paths: &ProfilePaths) {
    if !paths.state.deploy_dir().exists() {
        let _ = std::fs::remove_dir_all(paths.state.bin_dir());
    }
}

/// An apply routes every tool it selects: an earlier un-routed state (and the failures that
/// led to it) no longer holds. Missing means routed.
fn forget_routing(paths: &ProfilePaths) {
    let _ = fsutil::remove_file_if_exists(&paths.routing());
    let _ = fsutil::remove_file_if_exists(&paths.ensure_failures());
}

/// Remove what a deployment wrote into its profile directory, but never the edit journal (the
/// tool files it describes are its owner's to restore); the directories go once empty.
fn discard(paths: &ProfilePaths) {
    let mut files = vec![
        paths.manifest(),
        paths.pid_file(),
        paths.routing(),
        paths.ensure_failures(),
    ];
    for log in [paths.log(), paths.startup_log()] {
        files.extend((1..=crate::logs::DEFAULT_KEEP).map(|n| crate::logs::numbered(&log, n)));
        files.push(log);
    }
    for f in files {
        let _ = fsutil::remove_file_if_exists(&f);
    }
    let _ = std::fs::remove_dir(&paths.dir);
    let _ = std::fs::remove_dir(paths.state.deploy_dir());
    remove_stable_exe_if_unused(paths);
}

fn cleanup_locks(paths: &ProfilePaths) {
    let _ = fsutil::remove_file_if_exists(&paths.profile_lock());
    let _ = fsutil::remove_file_if_exists(&paths.start_lock());
    let _ = std::fs::remove_dir(paths.locks_dir());
    let _ = std::fs::remove_dir(paths.state.root());
}

/// Directories an apply created for its files (e.g. `~/.config/systemd/user`).
fn recorded_dirs(m: &Manifest) -> Vec<PathBuf> {
    m.artifacts
        .iter()
        .filter_map(|a| match a {
            Artifact::Dir { path } => Some(path.clone()),
            _ => None,
        })
        .collect()
}

/// Remove the recorded directories that are empty now, deepest first.
fn remove_recorded_dirs(m: &Manifest) {
    let mut dirs = recorded_dirs(m);
    dirs.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    for dir in dirs {
        let _ = std::fs::remove_dir(dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_changed_compression_mode_is_a_changed_setting() {
        let d = crate::deployment::test_deployment(Preset::Service, Scope::User);
        let mut other = d.manifest.clone();
        assert!(same_settings(&d.manifest, &other));
        other.compress = headroom_compress::Mode::Off;
        assert!(!same_settings(&d.manifest, &other));
    }
}
