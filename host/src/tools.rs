//! Tool configuration: which adapter serves each target at a scope (decided from the adapters'
//! manifests, built-in and approved third-party alike), their plans, and the executor that
//! writes (and later reverts) them. The deploy crate owns the proxy's supervision and treats
//! targets as opaque names; this module owns the users' files.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use headroom_deploy::manifest::{ProviderMode, Scope as DeployScope};
use headroom_deploy::status::{FileState, ManagedFile};
use headroom_edits::{Authorized, Executor, Roots};
use headroom_plugins::{AdapterContext, AdapterHost, EntryStatus, HostOptions, Scope};
use thiserror::Error;

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
    Ok(HostOptions::for_home(headroom_core::home_dir()?))
}

/// The executor, knowing every journal under `~/.headroom` (one owner per setting) and where a
/// damaged journal is kept aside.
pub fn executor(opts: &HostOptions) -> Executor {
    Executor::new(
        Roots {
            home: opts.home.clone(),
            system: opts.system_root.clone(),
        },
        opts.state_dir.edits_lock(),
    )
    .with_state(opts.state_dir.clone())
}

/// The journal of a direct `plugins apply <id>` (and of `wrap` for config-only tools).
pub fn plugin_journal(opts: &HostOptions, id: &str) -> PathBuf {
    opts.state_dir.plugin_journal(id)
}

/// Every target a usable adapter configures, with the scopes it is configured at, in the
/// adapters' order (built-ins first).
pub fn catalogue(host: &AdapterHost) -> Vec<(String, Vec<String>)> {
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for e in host
        .entries()
        .iter()
        .filter(|e| e.status == EntryStatus::Ok)
    {
        let Some(m) = &e.manifest else { continue };
        for t in &m.targets {
            let at = match out.iter_mut().find(|(name, _)| name == t) {
                Some((_, scopes)) => scopes,
                None => {
                    out.push((t.clone(), Vec::new()));
                    &mut out.last_mut().expect("just pushed").1
                }
            };
            for s in &m.scopes {
                if !at.contains(s) {
                    at.push(s.clone());
                }
            }
        }
    }
    out
}

/// Targets whose tool is on this machine (`--providers auto`) and that an adapter configures at
/// `scope`. Any adapter's detection counts, whatever scopes it serves: the tool's own adapter
/// (claude, provider scope) is the one that can tell it is installed, even when another one
/// (shell-env, at user scope) writes its routing.
pub fn detected(host: &AdapterHost, scope: Scope) -> Vec<String> {
    let mut out = Vec::new();
    for e in host.entries() {
        let Some(m) = &e.manifest else { continue };
        if host.detect(&e.id).is_ok_and(|d| d.detected) {
            for t in &m.targets {
                if !out.contains(t) && host.for_target(t, scope).is_some() {
                    out.push(t.clone());
                }
            }
        }
    }
    out
}

/// Why `--providers`/`--target` cannot be honoured; each is one line.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum TargetError {
    #[error("--providers manual needs at least one --target")]
    ManualWithoutTargets,
    #[error("--target is only used with --providers manual")]
    TargetsWithoutManual,
    #[error("unknown target {target:?} (known: {known}; see `headroom plugins list`)")]
    Unknown { target: String, known: String },
    #[error(
        "no adapter configures {target} at scope {scope} (scope {scope} covers {covers}; {target}: scope {served}); choose another --scope or --providers none"
    )]
    NotAtScope {
        target: String,
        scope: &'static str,
        covers: String,
        served: String,
    },
}

/// The targets an install configures and the adapter that serves each, decided from manifests
/// alone (no guest code runs), so a target nothing serves is refused before anything happens.
#[derive(Debug, Default)]
pub struct Selection {
    /// What the deployment's manifest records.
    pub targets: Vec<String>,
    /// adapter id → the targets it serves here (one shell-env plan covers several tools).
    by_adapter: BTreeMap<String, Vec<String>>,
    /// Targets left out (auto mode only), with the reason.
    pub skipped: Vec<String>,
}

/// The tools `--providers auto` configures when no adapter detects anything.
const AUTO_FALLBACK: &[&str] = &["claude", "codex", "copilot"];

/// Resolve `--providers`/`--target` at `scope`. For `auto`, `detected` is what the adapters
/// found (`None` before detection ran: only the arguments are checked).
pub fn select(
    host: Option<&AdapterHost>,
    mode: ProviderMode,
    scope: Scope,
    typed: &[String],
    detected: Option<&[String]>,
) -> Result<Selection, TargetError> {
    if mode != ProviderMode::Manual && !typed.is_empty() {
        return Err(TargetError::TargetsWithoutManual);
    }
    if mode == ProviderMode::Manual && typed.is_empty() {
        return Err(TargetError::ManualWithoutTargets);
    }
    let mut sel = Selection::default();
    let Some(host) = host else {
        return Ok(sel);
    };
    let known = catalogue(host);
    let here: Vec<String> = known
        .iter()
        .filter(|(_, scopes)| scopes.iter().any(|s| s == scope.as_str()))
        .map(|(t, _)| t.clone())
        .collect();
    let wanted: Vec<String> = match (mode, detected) {
        (ProviderMode::None, _) | (ProviderMode::Auto, None) => vec![],
        (ProviderMode::Manual, _) => typed.to_vec(),
        (ProviderMode::All, _) => here.clone(),
        (ProviderMode::Auto, Some(found)) if !found.is_empty() => found.to_vec(),
        (ProviderMode::Auto, Some(_)) => AUTO_FALLBACK
            .iter()
            .filter(|t| scope != Scope::Provider || **t != "copilot")
            .map(|t| (*t).to_owned())
            .collect(),
    };
    for t in wanted {
        if sel.targets.contains(&t) {
            continue;
        }
        match host.for_target(&t, scope) {
            Some(e) => {
                sel.by_adapter
                    .entry(e.id.clone())
                    .or_default()
                    .push(t.clone());
                sel.targets.push(t);
            }
            None if mode == ProviderMode::Auto => sel.skipped.push(format!(
                "{t}: no adapter configures it at scope {} (see `headroom plugins list`)",
                scope.as_str()
            )),
            None => {
                return Err(match known.iter().find(|(name, _)| *name == t) {
                    None => TargetError::Unknown {
                        target: t,
                        known: known
                            .iter()
                            .map(|(n, _)| n.as_str())
                            .collect::<Vec<_>>()
                            .join(", "),
                    },
                    Some((_, scopes)) => TargetError::NotAtScope {
                        scope: scope.as_str(),
                        covers: if here.is_empty() {
                            "nothing".to_owned()
                        } else {
                            here.join(", ")
                        },
                        served: scopes.join(", "),
                        target: t,
                    },
                });
            }
        }
    }
    Ok(sel)
}

/// The adapters' plans for the install's targets.
pub struct ToolPlans {
    pub plans: Vec<Authorized>,
    /// adapter id → version, recorded in the manifest.
    pub adapters: BTreeMap<String, String>,
}

/// Run each selected adapter's `apply` (this is where guest code runs).
pub fn plan(
    host: Option<&AdapterHost>,
    sel: &Selection,
    scope: Scope,
    port: u16,
    profile: &str,
) -> anyhow::Result<ToolPlans> {
    let mut plans = Vec::new();
    let mut adapters = BTreeMap::new();
    let Some(host) = host else {
        return Ok(ToolPlans { plans, adapters });
    };
    for (id, served) in &sel.by_adapter {
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
pub fn edit_states(exec: &Executor, journal: &Path) -> anyhow::Result<Vec<ManagedFile>> {
    let drift = exec.drift(journal)?;
    Ok(Executor::journaled_files(journal)?
        .into_iter()
        .map(|file| {
            let state = match drift.iter().find(|d| d.logical == file) {
                None => FileState::AsWritten,
                Some(d) if d.deleted => FileState::Deleted,
                Some(_) => FileState::Changed,
            };
            ManagedFile { file, state }
        })
        .collect())
}

/// What [`revert`] did: lines for the user, and lines about what it could not restore (the
/// user has to finish those by hand).
#[derive(Debug, Default)]
pub struct Reverted {
    pub lines: Vec<String>,
    pub unrestored: Vec<String>,
}

/// Revert everything a journal records; one line per file for the user. A journal that cannot
/// be trusted (unreadable, changed by hand) writes nothing back; it is kept aside and what the
/// user must restore by hand is in `unrestored`, so a caller can carry on (`install remove`).
pub fn revert_salvaging(exec: &Executor, journal: &Path) -> anyhow::Result<Reverted> {
    match exec.revert(journal) {
        Ok(report) => {
            let unrestored = report
                .unrestored
                .iter()
                .map(|u| u.line())
                .chain(
                    report
                        .kept
                        .iter()
                        .map(|k| format!("the journal is kept at {}", k.display())),
                )
                .collect();
            Ok(Reverted {
                lines: lines_of(&report),
                unrestored,
            })
        }
        Err(e @ headroom_edits::EditError::JournalDamaged { .. }) => Ok(Reverted {
            lines: Vec::new(),
            unrestored: vec![e.to_string()],
        }),
        Err(e) => Err(e.into()),
    }
}

/// Revert everything a journal records; one line per file for the user. Anything it could not
/// restore is an error (after what could be restored was).
pub fn revert(exec: &Executor, journal: &Path) -> anyhow::Result<Vec<String>> {
    let done = revert_salvaging(exec, journal)?;
    if !done.unrestored.is_empty() {
        let mut all = done.lines;
        all.extend(done.unrestored);
        anyhow::bail!("{}", all.join("; "));
    }
    Ok(done.lines)
}

fn lines_of(report: &headroom_edits::RevertReport) -> Vec<String> {
    let mut lines: Vec<String> = report
        .restored
        .iter()
        .map(|f| format!("restored {f}"))
        .collect();
    lines.extend(report.merged.iter().map(|f| {
        format!("{f} changed since headroom wrote it: only headroom's keys were put back")
    }));
    lines.extend(
        report
            .missing
            .iter()
            .map(|f| format!("{f} was deleted since: nothing to restore")),
    );
    lines
}

impl Selection {
    /// `(target, adapter id)`: the adapter that writes each selected target's routing.
    pub fn writers(&self) -> Vec<(String, String)> {
        self.targets
            .iter()
            .filter_map(|t| {
                self.by_adapter
                    .iter()
                    .find(|(_, served)| served.contains(t))
                    .map(|(id, _)| (t.clone(), id.clone()))
            })
            .collect()
    }
}
