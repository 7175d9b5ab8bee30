//! `plugins` as use cases: list, inspect, install (check, then commit once the user agreed),
//! remove, grant, revoke, enable/disable, and a direct apply/revert of one adapter. The adapter
//! host decides what a plugin is and may do ([`headroom_plugins`]); this module orders the steps
//! and returns what happened as data. The CLI (`cli/plugins.rs`) parses, asks, renders and
//! prints; nothing here prints or prompts.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use headroom_deploy::Manifest as DeployManifest;
use headroom_deploy::manifest::ManifestError;
use headroom_edits::{FileChange, RevertReport};
use headroom_plugins::candidate::{self, Candidate};
use headroom_plugins::consent::{Capability, Consent, declared};
use headroom_plugins::runtime::sanitize;
use headroom_plugins::store::Store;
use headroom_plugins::{
    AdapterContext, AdapterHost, Detection, EntryStatus, HostOptions, Manifest, PluginEntry, Scope,
    Source,
};

use crate::tools;

/// One row of `plugins list`: the adapter and what its `detect` said.
pub struct Listed {
    pub entry: PluginEntry,
    pub detected: Detected,
}

/// The outcome of an adapter's `detect`, as `plugins list` reports it.
pub enum Detected {
    /// Not asked: the adapter is not usable (needs approval, disabled, broken).
    NotRun,
    Ran {
        detected: bool,
        evidence: Vec<String>,
    },
    /// The call failed; the reason in one line.
    Failed(String),
}

/// `plugins list`: every built-in and installed adapter, verified (compiled, imports checked),
/// and each usable one asked to `detect`.
pub fn list(opts: &HostOptions) -> Vec<Listed> {
    let mut host = AdapterHost::load(opts.clone());
    host.verify();
    host.entries()
        .iter()
        .map(|e| {
            let detected = match e.status {
                EntryStatus::Ok => match host.detect(&e.id) {
                    Ok(Detection { detected, evidence }) => Detected::Ran { detected, evidence },
                    Err(err) => Detected::Failed(format!("{err:#}")),
                },
                _ => Detected::NotRun,
            };
            Listed {
                entry: e.clone(),
                detected,
            }
        })
        .collect()
}

/// What `plugins inspect` read: a `.wasm` file's manifest, or a built-in or installed adapter's.
pub enum Inspected {
    File(Manifest),
    Adapter {
        manifest: Manifest,
        entry: Box<PluginEntry>,
    },
}

/// `plugins inspect`: the manifest of a `.wasm` file or of the adapter with that id, read
/// without running any of it. A path-like argument (a separator, or ending in `.wasm`) is a
/// file; otherwise an adapter id wins over a file of the same name in the current directory
/// (`./claude` names the file).
pub fn inspect(opts: &HostOptions, what: &Path) -> anyhow::Result<Inspected> {
    let id = what
        .to_str()
        .filter(|s| !s.contains(['/', '\\']) && !s.ends_with(".wasm"));
    if let Some(id) = id {
        let host = AdapterHost::load(opts.clone());
        let mut same_id = host.entries().iter().filter(|e| e.id == id);
        let usable = same_id.clone().find(|e| e.status == EntryStatus::Ok);
        if let Some(entry) = usable.or_else(|| same_id.next()) {
            let Some(manifest) = entry.manifest.clone() else {
                let path = entry.path.as_deref().map(Path::display);
                match path {
                    Some(p) => bail!("adapter {id} ({p}): {}", entry.status),
                    None => bail!("adapter {id}: {}", entry.status),
                }
            };
            return Ok(Inspected::Adapter {
                manifest,
                entry: Box::new(entry.clone()),
            });
        }
        if !what.exists() {
            let mut ids: Vec<&str> = Vec::new();
            for e in host.entries() {
                if !ids.contains(&e.id.as_str()) {
                    ids.push(&e.id);
                }
            }
            bail!(
                "{:?} is neither an adapter id nor a file (adapters: {})",
                sanitize(id),
                ids.iter()
                    .map(|i| sanitize(i))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
    }
    let bytes = std::fs::read(what).with_context(|| format!("reading {}", what.display()))?;
    let m = headroom_plugins::inspect(&bytes).with_context(|| what.display().to_string())?;
    Ok(Inspected::File(m))
}

/// A plugin file checked and ready to be written once the user agrees: what the consent
/// screen shows, and what a yes means.
pub struct Prepared {
    candidate: Candidate,
    /// `Some`: the user is asked; this command approves without asking (for scripts, and for
    /// the refusal when there is no terminal). `None`: nothing new is asked for, the existing
    /// approval carries over.
    approve_command: Option<String>,
    purpose: Purpose,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Purpose {
    /// Write the `.wasm` and its record (`plugins install`).
    Install,
    /// Write the record of the file already installed (`plugins grant`).
    Approve,
}

impl Prepared {
    /// The file as checked: its manifest, the record a yes writes, the record before.
    pub fn candidate(&self) -> &Candidate {
        &self.candidate
    }

    pub fn id(&self) -> &str {
        &self.candidate.manifest.id
    }

    /// Whether the user must say yes, and the command that says it for them.
    pub fn approve_command(&self) -> Option<&str> {
        self.approve_command.as_deref()
    }
}

/// What `plugins install` found in the file.
pub enum InstallCheck {
    /// This exact file is installed and every capability it declares is decided: nothing to do.
    AlreadyApproved { id: String, version: String },
    /// Show it, ask when [`Prepared::approve_command`] says so, then [`commit`].
    Review(Box<Prepared>),
}

/// `plugins install`, first half: read and check `file` (manifest, API range, compile and
/// imports, a built-in's id) without running any of it or writing anything, and carry over
/// what the user decided for a previous version.
pub fn prepare_install(
    opts: &HostOptions,
    file: &Path,
    replace_builtin: bool,
) -> anyhow::Result<InstallCheck> {
    let abs = std::path::absolute(file).with_context(|| file.display().to_string())?;
    let bytes = std::fs::read(&abs).with_context(|| format!("reading {}", file.display()))?;
    let shown = abs.display().to_string();
    let cand = candidate::check(opts, bytes, &shown, replace_builtin)
        .with_context(|| file.display().to_string())?;
    if cand.unchanged() {
        return Ok(InstallCheck::AlreadyApproved {
            id: cand.manifest.id.clone(),
            version: cand.manifest.version.clone(),
        });
    }
    let asks = cand.previous.is_none() || !cand.pending().is_empty();
    let approve_command = asks.then(|| install_command(&shown, replace_builtin));
    Ok(InstallCheck::Review(Box::new(Prepared {
        candidate: cand,
        approve_command,
        purpose: Purpose::Install,
    })))
}

/// The command that installs `file` without asking.
fn install_command(file: &str, replace_builtin: bool) -> String {
    let mut cmd = String::from("headroom plugins install --yes ");
    if replace_builtin {
        cmd.push_str("--replace-builtin ");
    }
    cmd.push_str(&headroom_core::quote::sh(file));
    cmd
}

/// What [`commit`] wrote.
#[derive(Debug, PartialEq, Eq)]
pub enum Committed {
    /// `plugins install`: the `.wasm` (at `path`) and its record.
    Installed {
        id: String,
        version: String,
        path: PathBuf,
    },
    /// `plugins grant`: the record of the installed file.
    Approved { id: String, version: String },
}

/// Second half of `plugins install` and of a reviewing `plugins grant`: call it once the user
/// agreed (when [`Prepared::approve_command`] is `Some`, that agreement approves everything the
/// file declares). `install` writes the `.wasm` first and the record second.
pub fn commit(opts: &HostOptions, prepared: Prepared) -> anyhow::Result<Committed> {
    let Prepared {
        mut candidate,
        approve_command,
        purpose,
    } = prepared;
    if approve_command.is_some() {
        candidate.consent.approve_all(&candidate.manifest);
    }
    let store = Store::new(&opts.state_dir);
    let id = candidate.manifest.id.clone();
    let version = candidate.manifest.version.clone();
    Ok(match purpose {
        Purpose::Install => Committed::Installed {
            path: store.install(&candidate.bytes, &candidate.consent)?,
            id,
            version,
        },
        Purpose::Approve => {
            store.write_consent(&candidate.consent)?;
            Committed::Approved { id, version }
        }
    })
}

/// What `plugins grant <id> [capabilities]` does first.
pub enum GrantCheck {
    /// The file is the approved one and capabilities were named: [`grant`] them.
    Direct,
    /// Nothing to review: every capability the file declares is decided.
    NothingPending,
    /// The file changed since it was approved, or no capability was named: show the consent
    /// screen, ask, [`commit`]; then [`grant`] the named ones, if any.
    Review(Box<Prepared>),
}

/// `plugins grant`, first half: whether the installed file needs the consent screen again.
pub fn prepare_grant(opts: &HostOptions, id: &str, specs: &[String]) -> anyhow::Result<GrantCheck> {
    let host = AdapterHost::load(opts.clone());
    let e = installed(&host, id)?;
    let previous = record(e)?;
    if !specs.is_empty() && previous.sha256 == e.sha256 {
        return Ok(GrantCheck::Direct);
    }
    // Review the file as it is now: the consent screen again, for what is new.
    let path = installed_path(e);
    let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    let cand = candidate::check(opts, bytes, &previous.source, previous.replaces_builtin)
        .with_context(|| path.display().to_string())?;
    if cand.unchanged() {
        return Ok(GrantCheck::NothingPending);
    }
    Ok(GrantCheck::Review(Box::new(Prepared {
        candidate: cand,
        approve_command: Some(format!("headroom plugins grant --yes {id}")),
        purpose: Purpose::Approve,
    })))
}

/// `plugins grant <id> <capability>...`: grant single capabilities, by their spec as
/// `plugins list -v` shows it. Returns what was granted, in the order asked.
pub fn grant(opts: &HostOptions, id: &str, specs: &[String]) -> anyhow::Result<Vec<Capability>> {
    edit_record(opts, id, |e, c| {
        let caps = pick(&e.id, &declared_by(e)?, specs)?;
        for cap in &caps {
            c.grant(cap);
        }
        Ok(caps)
    })
}

/// `plugins revoke`: take single capabilities away; the plugin keeps running without them.
pub fn revoke(opts: &HostOptions, id: &str, specs: &[String]) -> anyhow::Result<Vec<Capability>> {
    edit_record(opts, id, |e, c| {
        let caps = pick(&e.id, &declared_by(e)?, specs)?;
        for cap in &caps {
            c.revoke(cap);
        }
        Ok(caps)
    })
}

/// What `plugins enable|disable` changed.
pub struct Toggled {
    /// The plugin still does not run until approved: why (the status's reason).
    pub needs_approval: Option<String>,
}

/// `plugins enable|disable`: keep the plugin and its grants, and let it run or not.
pub fn set_enabled(opts: &HostOptions, id: &str, enabled: bool) -> anyhow::Result<Toggled> {
    edit_record(opts, id, |e, c| {
        c.enabled = enabled;
        Ok(Toggled {
            needs_approval: match &e.status {
                EntryStatus::NeedsApproval(why) => Some(why.clone()),
                _ => None,
            },
        })
    })
}

/// Load the installed plugin `id`'s record, change it, write it back.
fn edit_record<T>(
    opts: &HostOptions,
    id: &str,
    change: impl FnOnce(&PluginEntry, &mut Consent) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    let host = AdapterHost::load(opts.clone());
    let e = installed(&host, id)?;
    let mut c = record(e)?;
    let out = change(e, &mut c)?;
    Store::new(&opts.state_dir).write_consent(&c)?;
    Ok(out)
}

/// `plugins remove`: refused while a deployment uses the plugin; otherwise what it applied
/// directly is reverted from its journal (one line per file), then the plugin and its record
/// are deleted.
pub fn remove(opts: &HostOptions, id: &str) -> anyhow::Result<Vec<String>> {
    let host = AdapterHost::load(opts.clone());
    let e = installed(&host, id)?;
    match deployment_using(opts, id) {
        Some(InUse::By(profile)) => bail!(
            "{id} configured tools for the deployment {profile:?}; run `headroom install remove --profile {profile}` first"
        ),
        Some(InUse::Unreadable { profile, why }) => bail!(
            "the deployment {profile:?} may hold {id}'s edits ({why}); run `headroom install remove --profile {profile}` first"
        ),
        None => {}
    }
    let journal = tools::plugin_journal(opts, id);
    let restored = tools::revert(&tools::executor(opts), &journal)?;
    let _ = std::fs::remove_file(&journal);
    Store::new(&opts.state_dir).remove(id, &installed_path(e))?;
    Ok(restored)
}

/// Why a plugin cannot be removed yet: a deployment may still hold its tool edits.
enum InUse {
    /// Its manifest records `id` among the adapters that wrote its tool files.
    By(String),
    /// Its manifest cannot be read, so nobody can tell (`install remove` still removes it, from
    /// its journal).
    Unreadable { profile: String, why: String },
}

/// The first deployment profile (in name order) that may hold `id`'s tool edits.
fn deployment_using(opts: &HostOptions, id: &str) -> Option<InUse> {
    let rd = std::fs::read_dir(opts.state_dir.deploy_dir()).ok()?;
    let mut names: Vec<String> = rd
        .filter_map(|d| d.ok())
        .filter(|d| d.path().is_dir())
        .map(|d| d.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names.into_iter().find_map(|profile| {
        match DeployManifest::load(&opts.state_dir.manifest(&profile)) {
            Ok(m) => m.adapters.contains_key(id).then_some(InUse::By(profile)),
            Err(ManifestError::NotFound(_)) => None,
            Err(e @ (ManifestError::Corrupt { .. } | ManifestError::Io { .. })) => {
                Some(InUse::Unreadable {
                    profile,
                    why: e.to_string(),
                })
            }
        }
    })
}

/// What `plugins apply <id>` is asked for.
pub struct RunRequest {
    pub id: String,
    pub port: u16,
    pub scope: Scope,
    /// Targets handed to the adapter (the shell-env adapter configures several tools).
    pub targets: Vec<String>,
    /// Only compute every file's new contents; change nothing.
    pub dry_run: bool,
}

/// What `plugins apply` did (or, for a dry run, would do).
pub struct Applied {
    /// The adapter's notes for the user.
    pub notes: Vec<String>,
    /// Every file the plan touches, changed or not.
    pub changes: Vec<FileChange>,
}

/// `plugins apply`: one adapter's plan, authorized by its grants, through the executor,
/// journaled in the plugin's own journal (`revert` undoes it).
pub fn apply(opts: &HostOptions, req: &RunRequest) -> anyhow::Result<Applied> {
    let host = AdapterHost::load(opts.clone());
    let ctx = AdapterContext {
        port: req.port,
        scope: req.scope,
        profile: "plugins".into(),
        targets: req.targets.clone(),
    };
    let plan = host.plan_apply(&req.id, &ctx)?;
    let exec = tools::executor(opts);
    let plans = std::slice::from_ref(&plan);
    let changes = if req.dry_run {
        exec.preview_into(plans, &tools::plugin_journal(opts, &req.id))?
    } else {
        exec.apply(plans, &tools::plugin_journal(opts, &req.id))?
    };
    Ok(Applied {
        notes: plan.plan().notes.clone(),
        changes,
    })
}

/// `plugins revert --dry-run`: what reverting `id`'s journal would write back, file by file.
pub fn preview_revert(opts: &HostOptions, id: &str) -> anyhow::Result<Vec<FileChange>> {
    Ok(tools::executor(opts).preview_revert(&tools::plugin_journal(opts, id))?)
}

/// `plugins revert`: undo what `plugins apply <id>` did, from its journal alone (works after
/// the plugin is gone).
/// Anything it could not restore (an untrusted journal or entry) is an error after the rest was
/// restored, naming each file and where its original is kept.
pub fn revert(opts: &HostOptions, id: &str) -> anyhow::Result<RevertReport> {
    let report = tools::executor(opts).revert(&tools::plugin_journal(opts, id))?;
    if !report.unrestored.is_empty() {
        let mut lines: Vec<String> = report
            .restored
            .iter()
            .map(|f| format!("restored {f}"))
            .collect();
        lines.extend(report.unrestored.iter().map(|u| u.line()));
        if let Some(k) = &report.kept {
            lines.push(format!("the journal is kept at {}", k.display()));
        }
        anyhow::bail!("{}", lines.join("; "));
    }
    Ok(report)
}

/// The installed (not built-in) plugin `id`, whatever its state.
fn installed<'a>(host: &'a AdapterHost, id: &str) -> anyhow::Result<&'a PluginEntry> {
    if let Some(e) = host
        .entries()
        .iter()
        .find(|e| e.id == id && e.source == Source::Installed)
    {
        return Ok(e);
    }
    if host.entries().iter().any(|e| e.id == id) {
        bail!(
            "{id} is a built-in adapter: it cannot be removed and its capabilities are fixed; leave its tools out with `install apply --providers manual --target ...`"
        );
    }
    bail!("no installed plugin {id:?} (see `headroom plugins list`)")
}

fn installed_path(e: &PluginEntry) -> PathBuf {
    e.path.clone().expect("installed entries have a path")
}

/// The consent record of an installed plugin, or the command that creates one.
fn record(e: &PluginEntry) -> anyhow::Result<Consent> {
    match (&e.consent, &e.path) {
        (Some(c), _) => Ok(c.clone()),
        (None, Some(p)) => bail!(
            "{} was not installed with `headroom plugins install`; run: headroom plugins install {}",
            e.id,
            headroom_core::quote::sh(&p.display().to_string())
        ),
        (None, None) => bail!("{} has no consent record", e.id),
    }
}

/// What the plugin's manifest declares, or why it has no readable manifest.
fn declared_by(e: &PluginEntry) -> anyhow::Result<Vec<Capability>> {
    let m = e
        .manifest
        .as_ref()
        .with_context(|| format!("{}: {}", e.id, e.status))?;
    Ok(declared(m))
}

/// Match capability specs as typed (surrounding blanks ignored) against what plugin `id`
/// declares; an unknown spec is refused with the list of declared ones.
fn pick(id: &str, declared: &[Capability], specs: &[String]) -> anyhow::Result<Vec<Capability>> {
    specs
        .iter()
        .map(|s| {
            declared
                .iter()
                .find(|c| c.spec() == s.trim())
                .cloned()
                .with_context(|| {
                    format!(
                        "{id} declares no capability {:?}; it declares: {}",
                        sanitize(s),
                        declared
                            .iter()
                            .map(|c| sanitize(&c.spec()))
                            .collect::<Vec<_>>()
                            .join("; ")
                    )
                })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn declared() -> Vec<Capability> {
        vec![
            Capability::Read {
                path: "~/.crush/**".into(),
            },
            Capability::Edit {
                file: "~/.crush/crush.json".into(),
                format: "json".into(),
                key: "/providers".into(),
            },
            Capability::Locate {
                binary: "crush".into(),
            },
            Capability::Env {
                name: "CRUSH_HOME".into(),
            },
        ]
    }

    fn specs(s: &[&str]) -> Vec<String> {
        s.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn pick_matches_exact_specs_in_the_order_asked() {
        let d = declared();
        let got = pick(
            "crush",
            &d,
            &specs(&["env CRUSH_HOME", "edit ~/.crush/crush.json /providers"]),
        )
        .unwrap();
        assert_eq!(got, vec![d[3].clone(), d[1].clone()]);
        assert!(pick("crush", &d, &[]).unwrap().is_empty());
    }

    #[test]
    fn pick_ignores_surrounding_blanks_only() {
        let d = declared();
        assert_eq!(
            pick("crush", &d, &specs(&["  locate crush\n"])).unwrap(),
            vec![d[2].clone()]
        );
        // Inner blanks are part of the spec.
        assert!(pick("crush", &d, &specs(&["locate  crush"])).is_err());
    }

    #[test]
    fn an_unknown_spec_lists_what_is_declared() {
        let d = declared();
        let err = pick("crush", &d, &specs(&["locate crush", "env HOME"])).unwrap_err();
        assert_eq!(
            format!("{err:#}"),
            "crush declares no capability \"env HOME\"; it declares: read ~/.crush/**; \
             edit ~/.crush/crush.json /providers; locate crush; env CRUSH_HOME"
        );
    }

    #[test]
    fn the_install_command_quotes_the_path_for_a_shell() {
        assert_eq!(
            install_command("/tmp/a.wasm", false),
            "headroom plugins install --yes /tmp/a.wasm"
        );
        assert_eq!(
            install_command("/tmp/it's here.wasm", true),
            "headroom plugins install --yes --replace-builtin '/tmp/it'\\''s here.wasm'"
        );
    }

    fn manifest(profile: &str, adapters: &str) -> String {
        format!(
            r#"{{"profile": "{profile}", "preset": "persistent-service", "runtime_kind": "native",
               "supervisor_kind": "systemd", "scope": "user", "provider_mode": "auto",
               "port": 8787, "adapters": {adapters}}}"#
        )
    }

    #[test]
    fn the_first_deployment_in_name_order_that_records_the_adapter_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let opts = HostOptions::for_home(dir.path().to_path_buf());
        let using = |id: &str| match deployment_using(&opts, id) {
            None => None,
            Some(InUse::By(p)) => Some(p),
            Some(InUse::Unreadable { profile, .. }) => Some(format!("unreadable {profile}")),
        };
        assert_eq!(using("crush"), None, "no deploy directory");
        let state = &opts.state_dir;
        for (profile, adapters) in [
            ("b", r#"{"crush": "0.1.0"}"#),
            ("c", r#"{"crush": "0.1.0"}"#),
            ("a", r#"{"claude": "0.1.0"}"#),
        ] {
            std::fs::create_dir_all(state.profile_dir(profile)).unwrap();
            std::fs::write(state.manifest(profile), manifest(profile, adapters)).unwrap();
        }
        // A profile directory without a manifest, and a stray file, are no deployment.
        std::fs::create_dir_all(state.profile_dir("0-empty")).unwrap();
        std::fs::write(state.deploy_dir().join("0-file"), "x").unwrap();
        assert_eq!(using("crush").as_deref(), Some("b"));
        assert_eq!(using("claude").as_deref(), Some("a"));
        assert_eq!(using("codex"), None);
        // One whose manifest cannot be read may hold anyone's edits.
        std::fs::create_dir_all(state.profile_dir("0-corrupt")).unwrap();
        std::fs::write(state.manifest("0-corrupt"), "{").unwrap();
        assert_eq!(using("codex").as_deref(), Some("unreadable 0-corrupt"));
    }
}
