//! `uninstall`: everything headroom put on this machine, undone. Every deployment profile is
//! removed through `install remove` (its journal reverted, its supervisor entry gone), every
//! direct `plugins apply`/`wrap` journal is reverted, installed plugins, the compile cache and
//! finally `~/.headroom` itself are deleted. What cannot be undone is collected, never skipped
//! silently: the rest is still done, and `~/.headroom` keeps only what a retry needs.
//!
//! [`plan`] reads (what the CLI lists, and all `--dry-run` does); [`run`] acts on it.

use std::path::{Path, PathBuf};

use headroom_core::{JournalOwner, StateDir};
use headroom_deploy::manifest::{Manifest, ManifestError};
use headroom_deploy::routing_state::Routing;
use headroom_deploy::{ProfileName, ProfilePaths};
use headroom_edits::Executor;
use headroom_plugins::HostOptions;
use headroom_plugins::store::Store;

use crate::tools;

/// What `uninstall` will do, read from `~/.headroom` without changing anything.
pub struct Plan {
    state: StateDir,
    /// `~/.headroom` exists at all.
    pub exists: bool,
    pub profiles: Vec<ProfileItem>,
    /// Direct `plugins apply` / `wrap openclaw` journals.
    pub journals: Vec<JournalItem>,
    /// Installed third-party plugins: id and file.
    pub plugins: Vec<(String, PathBuf)>,
    /// `usage.db` and its WAL files, when present.
    pub history: Vec<PathBuf>,
    pub keep_history: bool,
    /// `~/.headroom/damaged` holds journals an earlier revert could not trust (and the originals
    /// they recorded): kept, the user still needs them.
    pub damaged: bool,
}

/// One deployment profile as found.
pub struct ProfileItem {
    pub name: ProfileName,
    /// `persistent-task (cron)`, or why the manifest cannot be read.
    pub manifest: Result<String, String>,
    pub journal: JournalFiles,
    /// The manifest says its tools are routed, yet there is no journal to restore them from.
    pub journal_missing: bool,
}

/// A direct journal as found.
pub struct JournalItem {
    pub owner: JournalOwner,
    pub path: PathBuf,
    pub files: JournalFiles,
}

/// The files a journal records, and which of them the user changed since headroom wrote them
/// (only headroom's keys go back there); or why the journal cannot be read.
pub type JournalFiles = Result<(Vec<String>, Vec<String>), String>;

fn journal_files(exec: &Executor, journal: &Path) -> JournalFiles {
    let files = Executor::journaled_files(journal).map_err(|e| e.to_string())?;
    let drifted = exec
        .drift(journal)
        .map(|d| d.into_iter().map(|d| d.logical).collect())
        .unwrap_or_default();
    Ok((files, drifted))
}

/// Names in `dir`, sorted (none when it cannot be read).
fn entries(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| rd.filter_map(|e| e.ok()).map(|e| e.path()).collect())
        .unwrap_or_default();
    out.sort();
    out
}

/// Read what there is to undo.
pub fn plan(opts: &HostOptions, keep_history: bool) -> Plan {
    let state = opts.state_dir.clone();
    let exec = tools::executor(opts);
    let mut profiles = Vec::new();
    for dir in entries(&state.deploy_dir()) {
        // Only directories named like a profile are deployments; anything else goes with
        // `~/.headroom`.
        let Some(name) = dir
            .file_name()
            .and_then(|n| n.to_str())
            .filter(|_| dir.is_dir())
            .and_then(|n| ProfileName::new(n).ok())
        else {
            continue;
        };
        let paths = ProfilePaths::new(&opts.home, &name);
        let manifest = Manifest::load(&paths.manifest());
        let journal_missing = match &manifest {
            Ok(m) => {
                !m.targets.is_empty()
                    && Routing::load(&paths.routing()).routed
                    && !paths.journal().exists()
            }
            Err(_) => false,
        };
        let manifest = match manifest {
            Ok(m) => Ok(format!("{}, {}", m.preset, m.supervisor_kind)),
            Err(ManifestError::NotFound(_)) => Err("it has no manifest".to_owned()),
            Err(e) => Err(e.to_string()),
        };
        profiles.push(ProfileItem {
            journal: journal_files(&exec, &paths.journal()),
            name,
            manifest,
            journal_missing,
        });
    }
    let journals = state
        .journals()
        .into_iter()
        .filter_map(|path| match state.journal_owner(&path) {
            Some(owner @ JournalOwner::Plugin(_)) => Some(JournalItem {
                files: journal_files(&exec, &path),
                owner,
                path,
            }),
            _ => None,
        })
        .collect();
    let plugins = Store::new(&state)
        .found()
        .into_iter()
        .map(|f| {
            let id = match &f.consent {
                Some(Ok(c)) => c.id.clone(),
                _ => plugin_id(&state, &f.path),
            };
            (id, f.path)
        })
        .collect();
    let history = entries(state.root())
        .into_iter()
        .filter(|p| is_history(&state, p))
        .collect();
    Plan {
        exists: state.root().exists(),
        damaged: !entries(&state.damaged_dir()).is_empty(),
        state,
        profiles,
        journals,
        plugins,
        history,
        keep_history,
    }
}

/// A plugin's id from where it lies: `plugins/<id>/adapter.wasm` or a loose `plugins/<id>.wasm`.
fn plugin_id(state: &StateDir, path: &Path) -> String {
    let named = match path.parent() {
        Some(dir) if dir != state.plugins_dir() => dir.file_name(),
        _ => path.file_stem(),
    };
    named
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// `usage.db`, `usage.db-wal`, `usage.db-shm`.
fn is_history(state: &StateDir, p: &Path) -> bool {
    let db = state.usage_db();
    let (Some(name), Some(base)) = (p.file_name(), db.file_name()) else {
        return false;
    };
    p.parent() == db.parent()
        && name
            .to_string_lossy()
            .strip_prefix(&*base.to_string_lossy())
            .is_some_and(|rest| matches!(rest, "" | "-wal" | "-shm" | "-journal"))
}

fn restore_clause(files: &JournalFiles) -> String {
    match files {
        Ok((files, _)) if files.is_empty() => String::new(),
        Ok((files, drifted)) => {
            let shown: Vec<String> = files
                .iter()
                .map(|f| match drifted.contains(f) {
                    true => format!(
                        "{f} (changed since headroom wrote it: only headroom's keys go back)"
                    ),
                    false => f.clone(),
                })
                .collect();
            format!(" and restore {}", shown.join(", "))
        }
        // The executor's own words say what to do after an apply; here it is set aside.
        Err(_) => " (its journal cannot be trusted: nothing is written back from it, it is kept under ~/.headroom/damaged)".to_owned(),
    }
}

impl Plan {
    /// Nothing of headroom's is here.
    pub fn is_empty(&self) -> bool {
        !self.exists
    }

    /// One line per thing it will do, in the order it does them.
    pub fn lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        let home = |p: &Path| shown(&self.state, p);
        for p in &self.profiles {
            let what = match &p.manifest {
                Ok(kind) => format!("remove the deployment \"{}\" ({kind})", p.name),
                Err(why) => format!(
                    "remove the deployment \"{}\" ({why}: everything named after it)",
                    p.name
                ),
            };
            out.push(format!("{what}{}", restore_clause(&p.journal)));
            if p.journal_missing {
                out.push(format!(
                    "  (\"{}\" routes tools but its journal is missing: headroom cannot restore their files)",
                    p.name
                ));
            }
        }
        for j in &self.journals {
            out.push(format!(
                "revert {}{}",
                j.owner.describe(),
                restore_clause(&j.files)
            ));
        }
        for (id, path) in &self.plugins {
            out.push(format!("remove the plugin {id} ({})", home(path)));
        }
        if !self.history.is_empty() {
            out.push(match self.keep_history {
                true => format!("keep the usage history {}", home(&self.state.usage_db())),
                false => format!(
                    "delete the usage history {} (what `headroom stats` shows; --keep-history keeps it)",
                    home(&self.state.usage_db())
                ),
            });
        }
        if self.damaged {
            out.push(format!(
                "keep {}: journals an earlier revert could not trust, with the originals they recorded (restore those files by hand, then delete it)",
                home(&self.state.damaged_dir())
            ));
        }
        if self.exists {
            out.push(format!(
                "delete {} (compile cache, locks, logs, everything else of headroom's)",
                home(self.state.root())
            ));
        }
        out
    }
}

/// `~/…` for a path under HOME.
fn shown(state: &StateDir, p: &Path) -> String {
    match p.strip_prefix(state.home()) {
        Ok(rel) => format!("~/{}", rel.display()),
        Err(_) => p.display().to_string(),
    }
}

/// What `uninstall` did.
#[derive(Debug, Default)]
pub struct Outcome {
    pub done: Vec<String>,
    pub warnings: Vec<String>,
    /// What it could not undo, one line each (the command fails when this is not empty).
    pub problems: Vec<String>,
    /// What stays under `~/.headroom` for a retry (or the user), when anything does.
    pub kept: Vec<String>,
}

/// Undo everything [`plan`] found, each step independent of the others' failures.
pub fn run(opts: &HostOptions, plan: &Plan, exe: &Path) -> Outcome {
    let state = &plan.state;
    let mut out = Outcome::default();
    let mut keep: Vec<PathBuf> = Vec::new();
    for p in &plan.profiles {
        if p.journal_missing {
            out.problems.push(format!(
                "the deployment \"{}\" had no journal: check its tools' files yourself (headroom cannot know what it changed there)",
                p.name
            ));
        }
        match crate::install::remove(opts, p.name.as_str(), exe) {
            Ok(removed) => {
                out.done.extend(removed.report.done);
                // An unreadable manifest was already one line of the listing: what removing
                // it anyway says is the problem to report.
                match p.manifest {
                    Ok(_) => out.warnings.extend(removed.report.warnings),
                    Err(_) => out.problems.extend(removed.report.warnings),
                }
                out.problems.extend(removed.unrestored);
            }
            Err(e) => {
                out.problems.push(format!(
                    "the deployment \"{}\" is left installed: {e:#}",
                    p.name
                ));
                keep.push(state.profile_dir(p.name.as_str()));
                // Its proxy still runs and records into the history.
                keep.extend(plan.history.iter().cloned());
            }
        }
    }
    let exec = tools::executor(opts);
    for j in &plan.journals {
        match tools::revert_salvaging(&exec, &j.path) {
            Ok(r) => {
                out.done.extend(r.lines);
                out.problems.extend(r.unrestored);
            }
            Err(e) => {
                out.problems.push(format!(
                    "could not revert {}: {e:#}; its journal is kept",
                    j.owner.describe()
                ));
                keep.push(j.path.clone());
            }
        }
    }
    let store = Store::new(state);
    for (id, path) in &plan.plugins {
        match store.remove(id, path) {
            Ok(()) => out.done.push(format!("removed the plugin {id}")),
            Err(e) => out.problems.push(format!("{e:#}")),
        }
    }
    if plan.keep_history {
        keep.extend(plan.history.iter().cloned());
    }
    // Whatever the steps above kept aside (damaged journals, their originals) is the user's now.
    if !entries(&state.damaged_dir()).is_empty() {
        keep.push(state.damaged_dir());
    }
    let mut failed = Vec::new();
    prune(state.root(), &keep, &mut failed);
    if !keep.iter().any(|k| k.exists()) {
        match std::fs::remove_dir(state.root()) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => failed.push((state.root().to_path_buf(), e)),
        }
    }
    if let Some((first, e)) = failed.first() {
        out.problems.push(format!(
            "cannot delete {} ({e}){}; make it writable and run `headroom uninstall` again",
            shown(state, first),
            match failed.len() {
                1 => String::new(),
                n => format!(" nor {} other entries of ~/.headroom", n - 1),
            }
        ));
    }
    if plan.damaged {
        out.problems.push(format!(
            "kept {}: journals headroom could not trust and the originals they recorded; restore those files by hand, then delete it",
            shown(state, &state.damaged_dir())
        ));
    }
    if !plan.history.is_empty() {
        out.done.push(match state.usage_db().exists() {
            true => format!("kept the usage history {}", shown(state, &state.usage_db())),
            false => format!(
                "deleted the usage history {}",
                shown(state, &state.usage_db())
            ),
        });
    }
    out.kept = keep
        .iter()
        .filter(|k| k.exists() && !is_history(state, k))
        .map(|k| shown(state, k))
        .collect();
    if state.root().exists() {
        if out.kept.is_empty() && !failed.is_empty() {
            out.kept.push(shown(state, state.root()));
        }
    } else {
        out.done
            .push(format!("deleted {}", shown(state, state.root())));
    }
    out
}

/// Delete everything under `dir` but `keep` (and the directories leading to it).
fn prune(dir: &Path, keep: &[PathBuf], failed: &mut Vec<(PathBuf, std::io::Error)>) {
    for entry in entries(dir) {
        if keep.contains(&entry) {
            continue;
        }
        let is_dir = std::fs::symlink_metadata(&entry).is_ok_and(|m| m.is_dir());
        if is_dir && keep.iter().any(|k| k.starts_with(&entry)) {
            prune(&entry, keep, failed);
            let _ = std::fs::remove_dir(&entry);
            continue;
        }
        let removed = match is_dir {
            true => std::fs::remove_dir_all(&entry),
            false => std::fs::remove_file(&entry),
        };
        if let Err(e) = removed
            && e.kind() != std::io::ErrorKind::NotFound
        {
            failed.push((entry, e));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_usage_history_is_the_database_and_its_side_files_only() {
        let s = StateDir::new(Path::new("/h"));
        for name in ["usage.db", "usage.db-wal", "usage.db-shm"] {
            assert!(is_history(&s, &s.root().join(name)), "{name}");
        }
        for p in [
            s.root().join("usage.db.bak"),
            s.root().join("usagexdb"),
            s.root().join("cache/usage.db"),
        ] {
            assert!(!is_history(&s, &p), "{}", p.display());
        }
    }

    #[test]
    fn prune_keeps_exactly_what_is_kept_and_the_way_to_it() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for f in ["a/b/keep.json", "a/b/drop.json", "a/other", "c/d/e", "top"] {
            let p = root.join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, "x").unwrap();
        }
        let mut failed = Vec::new();
        prune(root, &[root.join("a/b/keep.json")], &mut failed);
        assert!(failed.is_empty());
        let left: Vec<PathBuf> = walk(root);
        assert_eq!(
            left,
            vec![root.join("a"), root.join("a/b"), root.join("a/b/keep.json")]
        );
    }

    fn walk(dir: &Path) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for e in entries(dir) {
            out.push(e.clone());
            if e.is_dir() {
                out.extend(walk(&e));
            }
        }
        out
    }

    #[test]
    fn a_plugin_is_named_after_its_directory_or_its_loose_file() {
        let s = StateDir::new(Path::new("/h"));
        assert_eq!(
            plugin_id(&s, &s.plugin_dir("crush").join("adapter.wasm")),
            "crush"
        );
        assert_eq!(plugin_id(&s, &s.plugins_dir().join("loose.wasm")), "loose");
    }
}
