//! `install` as use cases: apply, status, start, stop, restart, remove of a persistent
//! deployment together with the tool files it routes. The deploy crate supervises the proxy,
//! [`crate::tools`] decides which adapter edits which file; this module orders them and undoes
//! exactly its own run when a step fails. The CLI (`cli/install.rs`) parses and prints.

use std::path::{Path, PathBuf};

use headroom_deploy::lifecycle::{self, Report};
use headroom_deploy::manifest::ProviderMode;
use headroom_deploy::planner::{self, ApplyRequest};
use headroom_deploy::status::{self, Status};
use headroom_deploy::{ProfileName, ProfilePaths};
use headroom_plugins::{AdapterHost, HostOptions};

use crate::tools;

/// What `install apply` was asked for: the deployment's settings as typed (`targets` are the
/// `--target` names, resolved here against the adapters' manifests), and whether to only show
/// the plan.
pub struct Request {
    pub deploy: ApplyRequest,
    pub dry_run: bool,
}

/// What `install apply` did (or, for a dry run, would do), in lines for the user.
pub enum Outcome {
    /// The plan, every file's diff; nothing was changed.
    DryRun { notes: Vec<String>, text: String },
    Applied {
        notes: Vec<String>,
        report: Report,
        /// One line per tool file written or put back.
        files: Vec<String>,
    },
}

/// `install apply`. Refusals that need no guest code come first (arguments, targets matched to
/// the adapters' manifests, an existing manifest, the port, the supervisor); then adapters
/// detect and plan, every file is previewed (a config that cannot be edited stops everything),
/// the deployment is replaced and healthy, and only then are tools pointed at it. The journal
/// then records exactly what this deployment routes: what a previous apply of the profile
/// routed and this one does not is put back in the same transaction. If the tool edits fail,
/// the files are as they were and the previous deployment is back.
pub fn apply(req: Request, opts: &HostOptions) -> anyhow::Result<Outcome> {
    let mode = req.deploy.providers;
    // Adapters are read (manifests only; nothing compiles) only when tools are configured.
    let adapters = (mode != ProviderMode::None).then(|| AdapterHost::load(opts.clone()));
    let scope = tools::scope(req.deploy.scope);
    let deploy_request = |targets: Vec<String>, adapters| ApplyRequest {
        targets,
        adapters,
        ..req.deploy.clone()
    };
    // Manifests only: `auto` cannot know its targets before adapters detect.
    let early = tools::select(adapters.as_ref(), mode, scope, &req.deploy.targets, None)?;
    let preflight = planner::plan(&deploy_request(early.targets.clone(), Default::default()))?;
    if !req.dry_run {
        lifecycle::preflight(&preflight)?;
    }
    let selection = match (&adapters, mode) {
        (Some(host), ProviderMode::Auto) => {
            let found = tools::detected(host, scope);
            tools::select(Some(host), mode, scope, &[], Some(&found))?
        }
        _ => early,
    };
    let port = preflight.deployment.manifest.port;
    let profile = preflight.deployment.manifest.profile.clone();
    let tool_plans = tools::plan(adapters.as_ref(), &selection, scope, port, &profile)?;
    let plan = planner::plan(&deploy_request(
        selection.targets.clone(),
        tool_plans.adapters.clone(),
    ))?;
    let exec = tools::executor(opts);
    let journal = plan.deployment.paths.journal();
    let notes = selection.skipped;
    // Every file's new contents first: a config we cannot edit stops the install here.
    let preview = exec.preview_exclusive(&tool_plans.plans, &journal)?;
    if req.dry_run {
        let mut text = plan.describe();
        for c in preview.changed.iter().chain(&preview.reverted) {
            if !c.is_noop() {
                text.push_str(&c.unified_diff());
            }
        }
        return Ok(Outcome::DryRun { notes, text });
    }
    // The proxy is up and healthy before any tool is pointed at it.
    let applied = lifecycle::apply(plan)?;
    match exec.apply_exclusive(&tool_plans.plans, &journal) {
        Ok(done) => {
            let mut files: Vec<String> = done
                .changed
                .iter()
                .filter(|c| !c.is_noop())
                .map(|c| format!("configured {}", c.logical))
                .collect();
            files.extend(done.reverted.iter().map(|c| {
                format!(
                    "restored {} (this deployment no longer routes it)",
                    c.logical
                )
            }));
            Ok(Outcome::Applied {
                notes,
                report: applied.report,
                files,
            })
        }
        // The executor has put every file and the journal back; undo the deployment too.
        Err(e) => {
            let restored = applied.rollback();
            anyhow::bail!("{e}; no tool file was changed and {restored}")
        }
    }
}

/// `install status`, with each journaled tool file's state.
pub fn status(opts: &HostOptions, profile: &str, exe: &Path) -> anyhow::Result<Status> {
    let name = ProfileName::new(profile)?;
    let d = lifecycle::load(&opts.home, &name, exe)?;
    let mut st = status::status(&d);
    st.edits = tools::edit_states(&tools::executor(opts), &d.paths.journal())?;
    Ok(st)
}

pub fn start(opts: &HostOptions, profile: &str, exe: &Path) -> anyhow::Result<Report> {
    lifecycle::start(&opts.home, &ProfileName::new(profile)?, exe)
}

pub fn stop(opts: &HostOptions, profile: &str, exe: &Path) -> anyhow::Result<Report> {
    lifecycle::stop(&opts.home, &ProfileName::new(profile)?, exe)
}

pub fn restart(opts: &HostOptions, profile: &str, exe: &Path) -> anyhow::Result<Report> {
    lifecycle::restart(&opts.home, &ProfileName::new(profile)?, exe)
}

/// `install remove`: tool files first, from the journal alone (the manifest may be corrupt and
/// the adapters gone); if a file cannot be written back (an I/O error), nothing else is removed
/// either, so the command can be run again. A journal that cannot be trusted (unreadable,
/// changed by hand, an entry that no longer resolves where headroom wrote it) never blocks the
/// rest: nothing is written back from it, it is kept under `~/.headroom/damaged/`, the
/// deployment is removed, and the warnings say which files to restore by hand.
pub fn remove(opts: &HostOptions, profile: &str, exe: &Path) -> anyhow::Result<Removed> {
    let name = ProfileName::new(profile)?;
    let journal = ProfilePaths::new(&opts.home, &name).journal();
    let reverted = tools::revert_salvaging(&tools::executor(opts), &journal)?;
    let mut report = lifecycle::remove(&opts.home, &name, exe)?;
    report.done.splice(0..0, reverted.lines);
    Ok(Removed {
        report,
        unrestored: reverted.unrestored,
    })
}

/// What `install remove` did. The deployment is gone even when `unrestored` is not empty: those
/// are the tool files the user must put back by hand (a damaged journal), one line each.
pub struct Removed {
    pub report: Report,
    pub unrestored: Vec<String>,
}

/// The running executable, resolved (what a supervisor is told to run).
pub fn current_exe() -> anyhow::Result<PathBuf> {
    use anyhow::Context as _;
    let exe = std::env::current_exe().context("cannot find the headroom executable")?;
    Ok(exe.canonicalize().unwrap_or(exe))
}
