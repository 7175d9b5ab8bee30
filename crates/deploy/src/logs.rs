//! Where a deployment's proxy log is, for each supervisor (`headroom logs` reads it, `install
//! status` names it), and the bound on what a supervised process prints before its logger is up.
//!
//! * systemd with journald running: the journal (journald rotates it);
//! * docker: the container's log (`docker logs`, size-capped by the engine's `--log-opt`);
//! * everything else (cron, launchd, Windows tasks, systemd without journald): the proxy's own
//!   file, `headroom proxy --log-file ~/.headroom/deploy/<profile>/headroom.log`, rotated by
//!   size, plus `startup.log` for the process's stdout/stderr.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::deployment::Deployment;
use crate::manifest::{Scope, SupervisorKind};
use crate::profile::ProfilePaths;

/// `headroom proxy`'s flags for its own log file.
pub const LOG_FILE_FLAG: &str = "--log-file";
pub const LOG_MAX_SIZE_FLAG: &str = "--log-max-size";
pub const LOG_KEEP_FLAG: &str = "--log-keep";
/// `--log-max-size` and `--log-keep` defaults: at most 10 MB × (1 + 3) on disk.
pub const DEFAULT_MAX_SIZE: u64 = 10 * 1000 * 1000;
pub const DEFAULT_KEEP: usize = 3;
/// `startup.log` is rotated once (to `startup.log.1`) when a start finds it bigger than this.
pub const STARTUP_MAX: u64 = 256 * 1024;

/// Where the proxy's log is kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum LogSource {
    /// journald, read with `journalctl --user-unit U` (or `-u U` for a system unit).
    Journal { unit: String, system: bool },
    /// The proxy's own rotated file and the process's startup output.
    Files { log: PathBuf, startup: PathBuf },
    /// The container's log, read with `docker logs NAME`.
    Container { name: String },
}

impl LogSource {
    /// One line for `install status`: the command or the file.
    pub fn describe(&self) -> String {
        match self {
            LogSource::Journal { .. } | LogSource::Container { .. } => self.command().join(" "),
            LogSource::Files { log, startup } => {
                format!("{} (startup output: {})", log.display(), startup.display())
            }
        }
    }

    /// The supervisor's own reader, as argv (files have none: headroom reads them).
    pub fn command(&self) -> Vec<String> {
        match self {
            LogSource::Journal { unit, system } => vec![
                "journalctl".to_owned(),
                if *system { "-u" } else { "--user-unit" }.to_owned(),
                unit.clone(),
            ],
            LogSource::Container { name } => {
                vec!["docker".to_owned(), "logs".to_owned(), name.clone()]
            }
            LogSource::Files { .. } => vec![],
        }
    }
}

/// journald takes the output of units on this machine (its socket exists).
pub fn journald_running() -> bool {
    Path::new("/run/systemd/journal/socket").exists()
}

/// The log file `apply` gives the proxy: the user's own `-- --log-file F`, else none where the
/// supervisor keeps the log (docker; systemd with journald), else the profile's `headroom.log`.
pub fn planned_log_file(
    paths: &ProfilePaths,
    kind: SupervisorKind,
    _system: bool,
    proxy_args: &[String],
) -> Option<PathBuf> {
    if let Some(given) = flag_value(proxy_args, LOG_FILE_FLAG) {
        return Some(PathBuf::from(given));
    }
    match kind {
        SupervisorKind::Docker => None,
        SupervisorKind::Systemd if journald_running() => None,
        _ => Some(paths.log()),
    }
}

/// The last value of `--flag V` / `--flag=V` in `args`.
pub(crate) fn flag_value(args: &[String], flag: &str) -> Option<String> {
    let mut found = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == flag {
            found = it.next().cloned();
        } else if let Some(v) = a.strip_prefix(flag).and_then(|r| r.strip_prefix('=')) {
            found = Some(v.to_owned());
        }
    }
    found
}

/// Where `d`'s proxy log is. A systemd deployment recorded without a file (journald ran at
/// `apply`) reads the journal while journald runs; without it, its startup file.
pub fn source(d: &Deployment) -> LogSource {
    let m = &d.manifest;
    match m.supervisor_kind {
        SupervisorKind::Docker => LogSource::Container {
            name: d.service_name(),
        },
        SupervisorKind::Systemd if m.log_file.is_none() && journald_running() => {
            LogSource::Journal {
                unit: crate::supervisors::systemd::Systemd::unit_name(d),
                system: m.scope == Scope::System,
            }
        }
        _ => LogSource::Files {
            log: m.log_file.clone().unwrap_or_else(|| d.paths.log()),
            startup: d.paths.startup_log(),
        },
    }
}

/// `path` and its rotated copies, oldest first (`path.3`, `path.2`, `path.1`, `path`), those
/// that exist.
pub fn rotated_files(path: &Path, keep: usize) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = (1..=keep).rev().map(|i| numbered(path, i)).collect();
    out.push(path.to_path_buf());
    out.retain(|p| p.is_file());
    out
}

/// `path.N`.
pub fn numbered(path: &Path, n: usize) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(format!(".{n}"));
    PathBuf::from(s)
}

/// Keep the startup output small: a start that finds `startup.log` over [`STARTUP_MAX`] moves
/// it to `startup.log.1` (replacing the previous one). A supervisor that already opened the file
/// for this run keeps writing to the moved copy; the next run gets a fresh one.
pub fn bound_startup(path: &Path) {
    if std::fs::metadata(path).is_ok_and(|m| m.len() > STARTUP_MAX) {
        let _ = std::fs::rename(path, numbered(path, 1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deployment::test_deployment;
    use crate::manifest::Preset;

    #[test]
    fn each_supervisor_names_where_its_log_is() {
        let mut d = test_deployment(Preset::Task, Scope::User);
        d.manifest.supervisor_kind = SupervisorKind::Cron;
        d.manifest.log_file = Some(d.paths.log());
        assert_eq!(
            source(&d).describe(),
            "/home/a b/.headroom/deploy/dev.1/headroom.log (startup output: /home/a b/.headroom/deploy/dev.1/startup.log)"
        );
        let d = test_deployment(Preset::Docker, Scope::User);
        assert_eq!(source(&d).describe(), "docker logs headroom-dev.1");
        let j = LogSource::Journal {
            unit: "headroom-p.service".into(),
            system: false,
        };
        assert_eq!(j.describe(), "journalctl --user-unit headroom-p.service");
        let j = LogSource::Journal {
            unit: "headroom-p.service".into(),
            system: true,
        };
        assert_eq!(j.command(), ["journalctl", "-u", "headroom-p.service"]);
    }

    #[test]
    fn the_users_own_log_file_wins_and_docker_keeps_its_own() {
        let d = test_deployment(Preset::Task, Scope::User);
        let given = vec!["--log-file=/var/log/h.log".to_owned()];
        assert_eq!(
            planned_log_file(&d.paths, SupervisorKind::Cron, false, &given),
            Some(PathBuf::from("/var/log/h.log"))
        );
        assert_eq!(
            planned_log_file(&d.paths, SupervisorKind::Cron, false, &[]),
            Some(d.paths.log())
        );
        assert_eq!(
            planned_log_file(&d.paths, SupervisorKind::Docker, false, &[]),
            None
        );
    }

    #[test]
    fn a_big_startup_file_is_moved_aside_once() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("startup.log");
        std::fs::write(&p, "small").unwrap();
        bound_startup(&p);
        assert!(p.exists());
        std::fs::write(&p, vec![b'x'; STARTUP_MAX as usize + 1]).unwrap();
        bound_startup(&p);
        assert!(!p.exists());
        assert_eq!(
            std::fs::metadata(numbered(&p, 1)).unwrap().len(),
            STARTUP_MAX + 1
        );
        assert_eq!(rotated_files(&p, 3), [numbered(&p, 1)]);
    }
}
