//! Profile names and where a profile's state lives (`~/.headroom/deploy/<profile>/`).

use std::fmt;
use std::path::{Path, PathBuf};

use headroom_core::StateDir;
use thiserror::Error;

#[derive(Debug, Error, PartialEq, Eq)]
#[error("invalid profile name {0:?}: use letters, digits, '.', '_' or '-' (not '.' or '..')")]
pub struct InvalidProfile(pub String);

/// A validated profile name: `^[A-Za-z0-9._-]+$`, never `.` or `..`. Safe to embed in file
/// names, unit names, crontab markers and container names without quoting.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ProfileName(String);

impl ProfileName {
    pub fn new(name: &str) -> Result<Self, InvalidProfile> {
        let ok = !name.is_empty()
            && name.len() <= 64
            && name != "."
            && name != ".."
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        if ok {
            Ok(Self(name.to_owned()))
        } else {
            Err(InvalidProfile(name.to_owned()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ProfileName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for ProfileName {
    type Err = InvalidProfile;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

/// Every path headroom keeps for one profile (spelled in [`headroom_core::StateDir`]).
#[derive(Debug, Clone)]
pub struct ProfilePaths {
    pub home: PathBuf,
    pub profile: ProfileName,
    pub state: StateDir,
    /// `~/.headroom/deploy/<profile>`
    pub dir: PathBuf,
}

impl ProfilePaths {
    pub fn new(home: &Path, profile: &ProfileName) -> Self {
        let state = StateDir::new(home);
        Self {
            home: home.to_path_buf(),
            profile: profile.clone(),
            dir: state.profile_dir(profile.as_str()),
            state,
        }
    }

    pub fn manifest(&self) -> PathBuf {
        self.state.manifest(self.profile.as_str())
    }
    pub fn journal(&self) -> PathBuf {
        self.state.journal(self.profile.as_str())
    }
    /// The proxy's own log file, rotated by size (`headroom proxy --log-file`).
    pub fn log(&self) -> PathBuf {
        self.state.proxy_log(self.profile.as_str())
    }
    /// The supervised process's stdout/stderr: what it printed before its logger was up.
    pub fn startup_log(&self) -> PathBuf {
        self.state.startup_log(self.profile.as_str())
    }
    /// PID of the proxy `agent ensure` started last.
    pub fn pid_file(&self) -> PathBuf {
        self.state.agent_pid(self.profile.as_str())
    }
    /// Whether the tools are routed now ([`crate::routing_state::Routing`]).
    pub fn routing(&self) -> PathBuf {
        self.state.routing(self.profile.as_str())
    }
    /// Consecutive failed `agent ensure` runs ([`crate::routing_state::Failures`]).
    pub fn ensure_failures(&self) -> PathBuf {
        self.state.ensure_failures(self.profile.as_str())
    }
    pub fn locks_dir(&self) -> PathBuf {
        self.state.locks_dir()
    }
    /// Serialises apply/start/stop/remove of one profile.
    pub fn profile_lock(&self) -> PathBuf {
        self.state.profile_lock(self.profile.as_str())
    }
    /// Held (non-blocking) by the one `agent ensure` that is starting the proxy.
    pub fn start_lock(&self) -> PathBuf {
        self.state.start_lock(self.profile.as_str())
    }
    /// What the profile lock is called in "waiting for …" messages.
    pub fn lock_name(&self) -> String {
        format!("deployment {}", self.profile)
    }
}

/// The profiles installed under `state` (a directory with a manifest), sorted.
pub fn installed(state: &StateDir) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(state.deploy_dir()) else {
        return Vec::new();
    };
    let mut out: Vec<String> = entries
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| ProfileName::new(n).is_ok() && state.manifest(n).is_file())
        .collect();
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_documented_alphabet() {
        for ok in ["default", "a", "A.b_c-9", "..x", "x.."] {
            assert_eq!(ProfileName::new(ok).unwrap().as_str(), ok);
        }
    }

    #[test]
    fn rejects_traversal_separators_and_shell_characters() {
        for bad in [
            "", ".", "..", "a/b", "../x", "a b", "a$b", "a'b", "é", "a\nb", "a%b",
        ] {
            assert!(ProfileName::new(bad).is_err(), "{bad:?} accepted");
        }
        assert!(ProfileName::new(&"x".repeat(65)).is_err());
    }

    #[test]
    fn paths_live_under_the_profile_dir() {
        let p = ProfilePaths::new(Path::new("/h o"), &ProfileName::new("p").unwrap());
        assert_eq!(
            p.manifest(),
            PathBuf::from("/h o/.headroom/deploy/p/manifest.json")
        );
        assert_eq!(
            p.profile_lock(),
            PathBuf::from("/h o/.headroom/locks/deploy-p.lock")
        );
    }
}
