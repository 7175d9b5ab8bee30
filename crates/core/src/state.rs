//! `~/.headroom`: every path headroom keeps state at, defined here and nowhere else.
//!
//! ```text
//! ~/.headroom/deploy/<profile>/manifest.json   a persistent deployment
//! ~/.headroom/deploy/<profile>/journal.json    the edit journal of that deployment
//! ~/.headroom/deploy/<profile>/headroom.log    the proxy's own log (size-bounded, rotated to .1, .2 …)
//! ~/.headroom/deploy/<profile>/startup.log     what the process printed before its logger was up
//! ~/.headroom/deploy/<profile>/agent.pid       the proxy `agent ensure` started last
//! ~/.headroom/deploy/<profile>/routing.json    whether its tools are routed now (and why not)
//! ~/.headroom/deploy/<profile>/failures.json   consecutive failed `agent ensure` runs
//! ~/.headroom/plugins/<id>/adapter.wasm        an installed third-party adapter (as approved)
//! ~/.headroom/plugins/<id>/consent.json        what the user approved for it
//! ~/.headroom/runs/<id>.json                   an adapter's last call and its denial count
//! ~/.headroom/journal/plugin-<id>.json         journal of a direct `plugins apply <id>`
//! ~/.headroom/cache/                           precompiled adapters
//! ~/.headroom/retrieve/                        what the proxy's `full` compression cut, to retrieve
//! ~/.headroom/locks/                           advisory locks
//! ~/.headroom/bin/headroom                     the binary deployments run (a copy, replaced by apply/restart)
//! ~/.headroom/damaged/                         journals found damaged, kept aside by a revert
//! ```

use std::path::{Path, PathBuf};

use thiserror::Error;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum HomeError {
    #[error("HOME is not set")]
    Unset,
    #[error("HOME must be an absolute path, got {0}")]
    Relative(String),
}

/// The home directory every path is derived from: `$HOME`, set and absolute (an empty or
/// relative HOME would put headroom's state under whatever directory a command runs in).
pub fn home_dir() -> Result<PathBuf, HomeError> {
    let home = std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .ok_or(HomeError::Unset)?;
    let home = PathBuf::from(home);
    if !home.is_absolute() {
        return Err(HomeError::Relative(home.display().to_string()));
    }
    Ok(home)
}

/// `~/.headroom` of one home directory. Names passed in (profiles, plugin ids) are validated by
/// their owners (`ProfileName`, the manifest's id rule) before they get here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateDir {
    home: PathBuf,
    root: PathBuf,
}

impl StateDir {
    pub fn new(home: &Path) -> Self {
        Self {
            home: home.to_path_buf(),
            root: home.join(".headroom"),
        }
    }

    /// The home directory this state belongs to.
    pub fn home(&self) -> &Path {
        &self.home
    }

    /// `~/.headroom` itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `~/.headroom/deploy`: one directory per deployment profile.
    pub fn deploy_dir(&self) -> PathBuf {
        self.root.join("deploy")
    }
    pub fn profile_dir(&self, profile: &str) -> PathBuf {
        self.deploy_dir().join(profile)
    }
    pub fn manifest(&self, profile: &str) -> PathBuf {
        self.profile_dir(profile).join("manifest.json")
    }
    pub fn journal(&self, profile: &str) -> PathBuf {
        self.profile_dir(profile).join("journal.json")
    }
    /// The supervised proxy's own log file (`headroom proxy --log-file`), rotated by size.
    pub fn proxy_log(&self, profile: &str) -> PathBuf {
        self.profile_dir(profile).join("headroom.log")
    }
    /// What the supervised process wrote to stdout/stderr (output before the logger is up, a
    /// panic, `agent ensure`'s lines): kept small, rotated once to `.1`.
    pub fn startup_log(&self, profile: &str) -> PathBuf {
        self.profile_dir(profile).join("startup.log")
    }
    /// PID of the proxy `agent ensure` started last.
    pub fn agent_pid(&self, profile: &str) -> PathBuf {
        self.profile_dir(profile).join("agent.pid")
    }
    /// Whether the deployment's tools point at its proxy now, and if not why and since when
    /// (absent: routed, as every deployment older than this file is).
    pub fn routing(&self, profile: &str) -> PathBuf {
        self.profile_dir(profile).join("routing.json")
    }
    /// How many `agent ensure` runs in a row failed to bring the proxy up, and the last error.
    pub fn ensure_failures(&self, profile: &str) -> PathBuf {
        self.profile_dir(profile).join("failures.json")
    }

    /// `~/.headroom/bin`: the stable copy of the binary every deployment runs.
    pub fn bin_dir(&self) -> PathBuf {
        self.root.join("bin")
    }
    /// `~/.headroom/bin/headroom`: what units, crontab lines and plists name, so moving or
    /// deleting the file `apply` ran from never stops a service; `apply`/`restart` replace it
    /// (a rename over it: a running proxy keeps its own inode).
    pub fn stable_exe(&self) -> PathBuf {
        self.bin_dir()
            .join(format!("headroom{}", std::env::consts::EXE_SUFFIX))
    }

    pub fn locks_dir(&self) -> PathBuf {
        self.root.join("locks")
    }
    /// Serialises apply/start/stop/remove of one profile.
    pub fn profile_lock(&self, profile: &str) -> PathBuf {
        self.locks_dir().join(format!("deploy-{profile}.lock"))
    }
    /// Held (non-blocking) by the one `agent ensure` that is starting the proxy.
    pub fn start_lock(&self, profile: &str) -> PathBuf {
        self.locks_dir().join(format!("agent-{profile}.lock"))
    }
    /// One headroom process edits users' files at a time.
    pub fn edits_lock(&self) -> PathBuf {
        self.locks_dir().join("edits.lock")
    }

    pub fn plugins_dir(&self) -> PathBuf {
        self.root.join("plugins")
    }
    pub fn plugin_dir(&self, id: &str) -> PathBuf {
        self.plugins_dir().join(id)
    }
    pub fn runs_dir(&self) -> PathBuf {
        self.root.join("runs")
    }
    pub fn last_run(&self, id: &str) -> PathBuf {
        self.runs_dir().join(format!("{id}.json"))
    }
    /// The journal of a direct `plugins apply <id>` (and of `wrap` for config-only tools).
    pub fn plugin_journal(&self, id: &str) -> PathBuf {
        self.root.join("journal").join(format!("plugin-{id}.json"))
    }
    /// Precompiled adapters (key: wasm sha256 + engine hash).
    pub fn cache_dir(&self) -> PathBuf {
        self.root.join("cache")
    }
    /// `~/.headroom/retrieve`: where the proxy keeps what the `full` compression tier cut from
    /// tool outputs, so every dropped line can be retrieved (`headroom proxy --retrieve-dir`).
    pub fn retrieve_dir(&self) -> PathBuf {
        self.root.join("retrieve")
    }
    /// `~/.headroom/usage.db`: the proxy's per-request usage history (metadata only; `headroom stats`).
    pub fn usage_db(&self) -> PathBuf {
        self.root.join("usage.db")
    }
    /// Where a revert keeps a journal it could not trust (and the original bytes it recorded),
    /// so the user can finish by hand after the profile directory is gone.
    pub fn damaged_dir(&self) -> PathBuf {
        self.root.join("damaged")
    }

    /// Every edit journal that exists now: each deployment's and each direct plugin apply's.
    /// Together they say who owns which key of which file (one owner per setting).
    pub fn journals(&self) -> Vec<PathBuf> {
        let mut out = Vec::new();
        if let Ok(rd) = std::fs::read_dir(self.deploy_dir()) {
            let mut dirs: Vec<PathBuf> = rd.filter_map(|e| e.ok()).map(|e| e.path()).collect();
            dirs.sort();
            out.extend(
                dirs.into_iter()
                    .map(|d| d.join("journal.json"))
                    .filter(|j| j.is_file()),
            );
        }
        if let Ok(rd) = std::fs::read_dir(self.root.join("journal")) {
            let mut files: Vec<PathBuf> = rd
                .filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| self.journal_owner(p).is_some())
                .collect();
            files.sort();
            out.extend(files);
        }
        out
    }

    /// Who writes a journal, from where it lives (`None` for a path that is not one of ours).
    pub fn journal_owner(&self, journal: &Path) -> Option<JournalOwner> {
        let name = journal.file_name()?.to_str()?;
        let dir = journal.parent()?;
        if name == "journal.json" && dir.parent()? == self.deploy_dir() {
            return Some(JournalOwner::Deployment(
                dir.file_name()?.to_str()?.to_owned(),
            ));
        }
        if dir == self.root.join("journal") {
            let id = name.strip_prefix("plugin-")?.strip_suffix(".json")?;
            return (!id.is_empty()).then(|| JournalOwner::Plugin(id.to_owned()));
        }
        None
    }
}

/// The owner of an edit journal: a deployment profile, or a direct `plugins apply`/`wrap` of
/// one adapter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JournalOwner {
    Deployment(String),
    Plugin(String),
}

impl JournalOwner {
    /// `the deployment "default"` / `` `headroom plugins apply claude` ``
    pub fn describe(&self) -> String {
        match self {
            JournalOwner::Deployment(p) => format!("the deployment {p:?}"),
            JournalOwner::Plugin(id) => format!("`headroom plugins apply {id}` (or `wrap`)"),
        }
    }

    /// The command that releases what this owner set.
    pub fn release(&self) -> String {
        match self {
            JournalOwner::Deployment(p) => format!("headroom install remove --profile {p}"),
            JournalOwner::Plugin(id) => format!("headroom plugins revert {id}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_path_is_under_dot_headroom() {
        let s = StateDir::new(Path::new("/h o"));
        assert_eq!(
            s.manifest("p"),
            PathBuf::from("/h o/.headroom/deploy/p/manifest.json")
        );
        assert_eq!(
            s.profile_lock("p"),
            PathBuf::from("/h o/.headroom/locks/deploy-p.lock")
        );
        assert_eq!(
            s.plugin_journal("x"),
            PathBuf::from("/h o/.headroom/journal/plugin-x.json")
        );
        assert_eq!(
            s.journal_owner(&s.journal("p")),
            Some(JournalOwner::Deployment("p".into()))
        );
        assert_eq!(
            s.journal_owner(&s.plugin_journal("x")),
            Some(JournalOwner::Plugin("x".into()))
        );
        assert_eq!(s.journal_owner(Path::new("/h o/elsewhere.json")), None);
        assert_eq!(s.retrieve_dir(), PathBuf::from("/h o/.headroom/retrieve"));
        assert_eq!(
            s.routing("p"),
            PathBuf::from("/h o/.headroom/deploy/p/routing.json")
        );
        for p in [
            s.ensure_failures("p"),
            s.damaged_dir(),
            s.cache_dir(),
            s.last_run("x"),
            s.edits_lock(),
            s.plugin_dir("x"),
            s.retrieve_dir(),
        ] {
            assert!(p.starts_with("/h o/.headroom/"), "{}", p.display());
        }
    }
}
