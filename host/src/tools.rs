//! Tool configuration for persistent installs: which adapter serves each target at the install's
//! scope, their plans, and the executor that writes (and later reverts) them. The deploy crate
//! owns the proxy's supervision; this module owns the users' files.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::bail;
use headroom_deploy::manifest::{ProviderMode, Scope as DeployScope};
use headroom_edits::{Authorized, Executor, Roots};
use headroom_plugins::{AdapterContext, AdapterHost, HostOptions, Scope};

pub fn scope(s: DeployScope) -> Scope {
    match s {
        DeployScope::Provider => Scope::Provider,
        DeployScope::User => Scope::User,
        DeployScope::System => Scope::System,
    }
}

/// The adapter host's view of this user: `$HOME` (set and absolute, or a one-line error before
/// anything is read or written) and this process's environment.
pub fn host_options() -> anyhow::Result<HostOptions> {
    Ok(HostOptions::for_home(headroom_deploy::profile::home_dir()?))
}

pub fn executor(opts: &HostOptions) -> Executor {
    Executor::new(
        Roots {
            home: opts.home.clone(),
            system: opts.system_root.clone(),
        },
        opts.state_dir.join("locks"),
    )
}

/// The journal of a direct `plugins apply <id>` (and of `wrap openclaw`).
pub fn plugin_journal(opts: &HostOptions, id: &str) -> std::path::PathBuf {
    opts.state_dir
        .join("journal")
        .join(format!("plugin-{id}.json"))
}

/// Targets whose tool an adapter at `scope` detects on this machine (`--providers auto`).
pub fn detected(host: &AdapterHost, scope: Scope) -> Vec<String> {
    let mut out = Vec::new();
    for e in host.entries() {
        let Some(m) = &e.manifest else { continue };
        if !m.scopes.iter().any(|s| s == scope.as_str()) {
            continue;
        }
        if host.detect(&e.id).is_ok_and(|d| d.detected) {
            for t in &m.targets {
                if !out.contains(t) {
                    out.push(t.clone());
                }
            }
        }
    }
    out
}

/// Which adapter serves each target at an install's scope, decided from manifests alone (no guest
/// code runs), so a target nothing serves is refused before anything else happens.
#[derive(Default)]
pub struct Routes {
    /// adapter id → the targets it serves here (one shell-env plan covers several tools).
    by_adapter: BTreeMap<String, Vec<String>>,
    /// Targets left out (auto mode only), with the reason.
    pub skipped: Vec<String>,
}

/// Route every target. A target no adapter serves at this scope is an error when the user asked
/// for it (`manual`, `all`), and left out with a note for `auto`; `targets` keeps what is served.
pub fn route(
    host: Option<&AdapterHost>,
    targets: &mut Vec<String>,
    mode: ProviderMode,
    scope: Scope,
) -> anyhow::Result<Routes> {
    let mut routes = Routes::default();
    let Some(host) = host else {
        return Ok(routes);
    };
    let mut kept = Vec::new();
    for t in targets.iter() {
        match host.for_target(t, scope) {
            Some(e) => {
                routes
                    .by_adapter
                    .entry(e.id.clone())
                    .or_default()
                    .push(t.clone());
                kept.push(t.clone());
            }
            None if mode == ProviderMode::Auto => routes.skipped.push(format!(
                "{t}: no adapter configures it at scope {} (see `headroom plugins list`)",
                scope.as_str()
            )),
            None => bail!(
                "no adapter configures {t} at scope {} (see `headroom plugins list`); choose another --scope or --providers none",
                scope.as_str()
            ),
        }
    }
    *targets = kept;
    Ok(routes)
}

/// The adapters' plans for the install's targets.
pub struct ToolPlans {
    pub plans: Vec<Authorized>,
    /// adapter id → version, recorded in the manifest.
    pub adapters: BTreeMap<String, String>,
}

/// Run each routed adapter's `apply` (this is where guest code runs).
pub fn plan(
    host: Option<&AdapterHost>,
    routes: &Routes,
    scope: Scope,
    port: u16,
    profile: &str,
) -> anyhow::Result<ToolPlans> {
    let mut plans = Vec::new();
    let mut adapters = BTreeMap::new();
    let Some(host) = host else {
        return Ok(ToolPlans { plans, adapters });
    };
    for (id, served) in &routes.by_adapter {
        let ctx = AdapterContext {
            port,
            scope,
            profile: profile.to_owned(),
            targets: served.clone(),
        };
        plans.push(host.plan_apply(id, &ctx)?);
        if let Ok(e) = host.get(id)
            && let Some(m) = &e.manifest
        {
            adapters.insert(id.clone(), m.version.clone());
        }
    }
    Ok(ToolPlans { plans, adapters })
}

/// Each journaled file and whether it is still what headroom wrote (for `install status`).
pub fn edit_states(exec: &Executor, journal: &Path) -> anyhow::Result<Vec<serde_json::Value>> {
    let drift = exec.drift(journal)?;
    Ok(Executor::journaled_files(journal)?
        .into_iter()
        .map(|file| {
            let state = match drift.iter().find(|d| d.logical == file) {
                None => "as headroom wrote it",
                Some(d) if d.deleted => "deleted since",
                Some(_) => "changed since (remove restores only headroom's keys)",
            };
            serde_json::json!({ "file": file, "state": state })
        })
        .collect())
}

/// Revert everything a profile's journal records; prints what happened.
pub fn revert(exec: &Executor, journal: &Path) -> anyhow::Result<()> {
    let report = exec.revert(journal)?;
    for f in &report.restored {
        println!("restored {f}");
    }
    for f in &report.merged {
        println!("{f} changed since headroom wrote it: only headroom's keys were put back");
    }
    for f in &report.missing {
        println!("{f} was deleted since: nothing to restore");
    }
    Ok(())
}
