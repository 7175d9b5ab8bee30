//! cron for `persistent-task`: `@reboot` and every five minutes, run `agent ensure`, which starts
//! the proxy only when it is not healthy. User scope splices a marked block into the user's
//! crontab (every other byte kept); system scope writes `/etc/cron.d/headroom-<profile>`.

use std::path::PathBuf;

use anyhow::Context as _;

use super::{Rendered, RenderedFile, Supervisor, SupervisorState, Unusable};
use crate::command;
use crate::deployment::Deployment;
use crate::fsutil;
use crate::manifest::{Preset, SupervisorKind};
use crate::{agent, procs, quote};

pub struct Cron {
    pub system: bool,
}

/// The crontab block's marker lines: the same format as every block headroom writes.
fn block_markers(profile: &str) -> (String, String) {
    headroom_core::block::markers(headroom_core::block::Style::Arrows, "#", profile)
}
pub fn begin_marker(profile: &str) -> String {
    block_markers(profile).0
}

impl Cron {
    /// cron ignores `/etc/cron.d` files whose names contain a dot.
    pub fn cron_d_path(d: &Deployment) -> PathBuf {
        PathBuf::from("/etc/cron.d").join(format!(
            "headroom-{}",
            d.profile().as_str().replace('.', "_")
        ))
    }

    /// The shell command both schedule lines run.
    fn ensure_line(d: &Deployment) -> anyhow::Result<String> {
        let crate::deployment::DefinitionPaths { home, exe, log } = d.definition_paths()?;
        let mut line = format!("HOME={} {}", quote::sh(&home), quote::sh(&exe));
        for a in d.agent_args("ensure") {
            line.push(' ');
            line.push_str(&quote::sh(&a));
        }
        line.push_str(&format!(" >>{} 2>&1", quote::sh(&log)));
        Ok(quote::crontab_command(&line))
    }

    pub fn render_block(&self, d: &Deployment) -> anyhow::Result<String> {
        let (begin, end) = block_markers(d.profile().as_str());
        let cmd = Self::ensure_line(d)?;
        let user = if self.system { "root " } else { "" };
        Ok(format!(
            "{begin}\n@reboot {user}{cmd}\n*/5 * * * * {user}{cmd}\n{end}\n"
        ))
    }

    fn read_crontab() -> anyhow::Result<Option<String>> {
        let out = command::capture::<&str>("crontab", &["-l"], &[], None)?;
        if out.ok {
            return Ok(Some(out.stdout));
        }
        if out.stderr.contains("no crontab") {
            return Ok(None);
        }
        anyhow::bail!("`crontab -l` failed: {}", out.reason())
    }

    fn write_crontab(text: &str) -> anyhow::Result<()> {
        if text.is_empty() {
            // Leave no empty crontab behind where there was none.
            let out = command::capture::<&str>("crontab", &["-r"], &[], None)?;
            anyhow::ensure!(
                out.ok || out.stderr.contains("no crontab"),
                "`crontab -r` failed: {}",
                out.reason()
            );
            return Ok(());
        }
        command::run("crontab", &["-"], &[], Some(text.as_bytes())).map(drop)
    }

    fn block_present(&self, d: &Deployment) -> bool {
        let marker = begin_marker(d.profile().as_str());
        if self.system {
            std::fs::read_to_string(Self::cron_d_path(d)).is_ok_and(|t| t.contains(&marker))
        } else {
            Self::read_crontab()
                .ok()
                .flatten()
                .is_some_and(|t| t.lines().any(|l| l == marker))
        }
    }

    pub(crate) fn register(&self, d: &Deployment) -> anyhow::Result<()> {
        let block = self.render_block(d)?;
        if self.system {
            let path = Self::cron_d_path(d);
            if let Some(existing) = fsutil::read_optional(&path)? {
                let ours = String::from_utf8_lossy(&existing)
                    .contains(&begin_marker(d.profile().as_str()));
                anyhow::ensure!(
                    ours,
                    "{} exists and belongs to another profile or program; not overwriting it",
                    path.display()
                );
            }
            return fsutil::write_atomic(&path, block.as_bytes(), 0o644);
        }
        let current = Self::read_crontab()?.unwrap_or_default();
        let updated = splice_block(&current, d.profile().as_str(), Some(&block))
            .context("the user's crontab")?;
        if updated != current {
            Self::write_crontab(&updated)?;
        }
        Ok(())
    }

    pub(crate) fn unregister(&self, d: &Deployment) -> anyhow::Result<()> {
        if self.system {
            fsutil::remove_file_if_exists(&Self::cron_d_path(d))?;
            return Ok(());
        }
        if !command::on_path("crontab") {
            return Ok(());
        }
        let Some(current) = Self::read_crontab()? else {
            return Ok(());
        };
        let updated =
            splice_block(&current, d.profile().as_str(), None).context("the user's crontab")?;
        if updated != current {
            Self::write_crontab(&updated)?;
        }
        Ok(())
    }
}

/// Replace (or with `None`, remove) the profile's marked block; every other byte is kept. A new
/// block goes at the end.
pub fn splice_block(
    crontab: &str,
    profile: &str,
    block: Option<&str>,
) -> Result<String, headroom_core::block::Unbalanced> {
    let (begin, end) = block_markers(profile);
    let block = block.unwrap_or("");
    Ok(match headroom_core::block::find(crontab, &begin, &end)? {
        Some((s, t)) => format!("{}{block}{}", &crontab[..s], &crontab[t..]),
        None if block.is_empty() => crontab.to_owned(),
        None => {
            let sep = if crontab.is_empty() || crontab.ends_with('\n') {
                ""
            } else {
                "\n"
            };
            format!("{crontab}{sep}{block}")
        }
    })
}

/// Whether a cron daemon runs: a process named like one. A PID file is no proof (a machine image
/// may leave `/run/crond.pid` behind, or name a PID reused since).
pub fn daemon_running() -> bool {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return false;
    };
    entries.flatten().any(|e| {
        std::fs::read_to_string(e.path().join("comm"))
            .is_ok_and(|c| matches!(c.trim(), "cron" | "crond" | "cronie" | "busybox-crond"))
    })
}

impl Supervisor for Cron {
    fn kind(&self) -> SupervisorKind {
        SupervisorKind::Cron
    }

    fn probe(&self, _d: &Deployment) -> Result<(), Unusable> {
        let unusable = |missing: &str| Unusable {
            supervisor: "cron".to_owned(),
            missing: missing.to_owned(),
            hint: Some(super::alternative(Preset::Task).to_owned()),
        };
        if self.system {
            if !std::path::Path::new("/etc/cron.d").is_dir() {
                return Err(unusable("/etc/cron.d does not exist"));
            }
        } else if !command::on_path("crontab") {
            return Err(unusable("the `crontab` command is not installed"));
        }
        if !daemon_running() {
            return Err(unusable("no cron daemon is running"));
        }
        Ok(())
    }

    fn render(&self, d: &Deployment) -> anyhow::Result<Rendered> {
        let block = self.render_block(d)?;
        let mut exe_ensure = vec![d.exe.to_string_lossy().into_owned()];
        exe_ensure.extend(d.agent_args("ensure"));
        if self.system {
            Ok(Rendered {
                files: vec![RenderedFile {
                    path: Self::cron_d_path(d),
                    content: block,
                    mode: 0o644,
                }],
                crontab_block: None,
                commands: vec![exe_ensure],
            })
        } else {
            Ok(Rendered {
                files: vec![],
                crontab_block: Some(block),
                commands: vec![vec!["crontab".into(), "-".into()], exe_ensure],
            })
        }
    }

    fn install(&self, d: &Deployment) -> anyhow::Result<()> {
        self.register(d)
    }

    fn start(&self, d: &Deployment) -> anyhow::Result<String> {
        self.register(d)?;
        let outcome = agent::ensure(d)?;
        Ok(format!(
            "schedule active (@reboot and every 5 minutes); {}",
            outcome.describe()
        ))
    }

    fn stop(&self, d: &Deployment) -> anyhow::Result<String> {
        // A stopped task must stay stopped: pause the schedule, then stop the process.
        self.unregister(d)?;
        let stopped = agent::stop_started(d)?;
        Ok(match stopped {
            Some(pid) => format!(
                "paused the cron schedule and stopped the proxy (pid {pid}); `headroom install start` resumes both"
            ),
            None => "paused the cron schedule (the proxy was not running); `headroom install start` resumes it".to_owned(),
        })
    }

    fn uninstall(&self, d: &Deployment) -> anyhow::Result<()> {
        self.unregister(d)?;
        agent::stop_started(d)?;
        Ok(())
    }

    fn state(&self, d: &Deployment) -> SupervisorState {
        let registered = self.block_present(d);
        let pid = agent::started_pid(d);
        let running = pid.is_some_and(procs::alive);
        SupervisorState {
            crash_looping: false,
            registered,
            running,
            state: match (registered, running) {
                (true, true) => "scheduled, running",
                (true, false) => "scheduled, not running",
                (false, true) => "not scheduled, running",
                (false, false) => "not scheduled",
            }
            .to_owned(),
            pid: pid.filter(|_| running),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BLOCK: &str = "# >>> headroom p >>>\n@reboot x\n# <<< headroom p <<<\n";

    fn splice(crontab: &str, block: Option<&str>) -> String {
        splice_block(crontab, "p", block).unwrap()
    }

    #[test]
    fn splice_appends_replaces_and_removes_byte_exactly() {
        let user = "MAILTO=\"\"\n# keep   spacing\t\n0 1 * * * backup --now\n";
        let with = splice(user, Some(BLOCK));
        assert_eq!(with, format!("{user}{BLOCK}"));
        let replaced = splice(&with, Some(&BLOCK.replace('x', "y")));
        assert_eq!(replaced, format!("{user}{}", BLOCK.replace('x', "y")));
        assert_eq!(splice(&replaced, None), user);
        assert_eq!(splice("", None), "");
        assert_eq!(splice(&splice("", Some(BLOCK)), None), "");
        assert_eq!(
            splice("0 1 * * * x", Some(BLOCK)),
            format!("0 1 * * * x\n{BLOCK}")
        );
    }

    #[test]
    fn other_profiles_blocks_are_untouched() {
        let other = BLOCK.replace("headroom p", "headroom q");
        let both = splice(&other, Some(BLOCK));
        assert_eq!(splice(&both, None), other);
        // A marker of a profile whose name is a prefix is not ours.
        let pp = BLOCK.replace("headroom p", "headroom pp");
        assert_eq!(splice(&pp, None), pp);
    }

    #[test]
    fn an_unbalanced_block_is_refused_rather_than_eating_the_rest_of_the_crontab() {
        let broken = "# >>> headroom p >>>\n@reboot x\n0 1 * * * backup --now\n";
        assert!(splice_block(broken, "p", None).is_err());
        assert!(splice_block(broken, "p", Some(BLOCK)).is_err());
    }
}
