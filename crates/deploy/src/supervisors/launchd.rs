//! launchd (macOS): `~/Library/LaunchAgents/com.headroom.<profile>.plist` (system scope:
//! `/Library/LaunchDaemons/`). A service keeps the agent alive (KeepAlive); a task runs
//! `agent ensure` at load and every five minutes (StartInterval).

use std::path::PathBuf;

use super::{Rendered, RenderedFile, Supervisor, SupervisorState, Unusable};
use crate::command;
use crate::deployment::Deployment;
use crate::fsutil;
use crate::manifest::SupervisorKind;
use crate::quote::xml;

pub struct Launchd {
    pub system: bool,
    pub keep_alive: bool,
}

impl Launchd {
    pub fn label(d: &Deployment) -> String {
        format!("com.headroom.{}", d.profile())
    }

    pub fn plist_path(&self, d: &Deployment) -> PathBuf {
        let name = format!("{}.plist", Self::label(d));
        if self.system {
            PathBuf::from("/Library/LaunchDaemons").join(name)
        } else {
            d.paths.home.join("Library/LaunchAgents").join(name)
        }
    }

    fn domain(&self) -> String {
        if self.system {
            "system".to_owned()
        } else {
            format!("gui/{}", crate::platform::uid())
        }
    }

    pub fn render_plist(&self, d: &Deployment) -> anyhow::Result<String> {
        let crate::deployment::DefinitionPaths { home, exe, .. } = d.definition_paths()?;
        let entry = if self.keep_alive { "run" } else { "ensure" };
        let mut args = format!("    <string>{}</string>\n", xml(&exe));
        for a in d.agent_args(entry) {
            args.push_str(&format!("    <string>{}</string>\n", xml(&a)));
        }
        let schedule = if self.keep_alive {
            "  <key>KeepAlive</key>\n  <dict>\n    <key>SuccessfulExit</key>\n    <false/>\n  </dict>\n  <key>ThrottleInterval</key>\n  <integer>1</integer>\n".to_owned()
        } else {
            "  <key>StartInterval</key>\n  <integer>300</integer>\n".to_owned()
        };
        let log = xml(&d.paths.startup_log().to_string_lossy());
        Ok(format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
<!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" \"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n\
<plist version=\"1.0\">\n<dict>\n\
  <key>Label</key>\n  <string>{label}</string>\n\
  <key>ProgramArguments</key>\n  <array>\n{args}  </array>\n\
  <key>EnvironmentVariables</key>\n  <dict>\n    <key>HOME</key>\n    <string>{home}</string>\n  </dict>\n\
  <key>RunAtLoad</key>\n  <true/>\n\
{schedule}\
  <key>StandardOutPath</key>\n  <string>{log}</string>\n\
  <key>StandardErrorPath</key>\n  <string>{log}</string>\n\
</dict>\n</plist>\n",
            label = xml(&Self::label(d)),
            home = xml(&home),
        ))
    }

    fn launchctl(args: &[&str]) -> anyhow::Result<command::Output> {
        command::run("launchctl", args, &[], None)
    }
}

impl Supervisor for Launchd {
    fn kind(&self) -> SupervisorKind {
        SupervisorKind::Launchd
    }

    fn probe(&self, _d: &Deployment) -> Result<(), Unusable> {
        if cfg!(target_os = "macos") && command::on_path("launchctl") {
            Ok(())
        } else {
            Err(Unusable {
                supervisor: "launchd".to_owned(),
                missing: "launchctl is only available on macOS".to_owned(),
                hint: None,
            })
        }
    }

    fn render(&self, d: &Deployment) -> anyhow::Result<Rendered> {
        let path = self.plist_path(d);
        Ok(Rendered {
            files: vec![RenderedFile {
                content: self.render_plist(d)?,
                path: path.clone(),
                mode: 0o644,
            }],
            crontab_block: None,
            commands: vec![vec![
                "launchctl".into(),
                "bootstrap".into(),
                self.domain(),
                path.to_string_lossy().into_owned(),
            ]],
        })
    }

    fn install(&self, d: &Deployment) -> anyhow::Result<()> {
        fsutil::write_atomic(&self.plist_path(d), self.render_plist(d)?.as_bytes(), 0o644)
    }

    fn start(&self, d: &Deployment) -> anyhow::Result<String> {
        let path = self.plist_path(d);
        let target = format!("{}/{}", self.domain(), Self::label(d));
        // bootstrap loads (and, with RunAtLoad, starts); an already loaded job is kickstarted.
        if Self::launchctl(&["bootstrap", &self.domain(), &path.to_string_lossy()]).is_err() {
            Self::launchctl(&["kickstart", &target])?;
        }
        Ok(format!("loaded {target}"))
    }

    fn stop(&self, d: &Deployment) -> anyhow::Result<String> {
        let target = format!("{}/{}", self.domain(), Self::label(d));
        Self::launchctl(&["bootout", &target])?;
        Ok(format!("unloaded {target} (it loads again at login)"))
    }

    fn uninstall(&self, d: &Deployment) -> anyhow::Result<()> {
        let target = format!("{}/{}", self.domain(), Self::label(d));
        if command::on_path("launchctl") {
            let _ = command::capture("launchctl", &["bootout", &target], &[], None);
        }
        fsutil::remove_file_if_exists(&self.plist_path(d))?;
        Ok(())
    }

    fn state(&self, d: &Deployment) -> SupervisorState {
        let target = format!("{}/{}", self.domain(), Self::label(d));
        let out = command::capture("launchctl", &["print", &target], &[], None)
            .ok()
            .filter(|o| o.ok);
        let pid = out.as_ref().and_then(|o| {
            o.stdout
                .lines()
                .find_map(|l| l.trim().strip_prefix("pid = "))
                .and_then(|p| p.trim().parse().ok())
        });
        SupervisorState {
            crash_looping: false,
            registered: self.plist_path(d).exists(),
            running: pid.is_some(),
            state: if out.is_some() {
                "loaded"
            } else {
                "not loaded"
            }
            .to_owned(),
            pid,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deployment::test_deployment;
    use crate::manifest::{Preset, Scope};

    #[test]
    fn service_plist_keeps_alive_and_escapes_xml() {
        let d = test_deployment(Preset::Service, Scope::User);
        let l = Launchd {
            system: false,
            keep_alive: true,
        };
        let plist = l.render_plist(&d).unwrap();
        assert_eq!(
            l.plist_path(&d),
            PathBuf::from("/home/a b/Library/LaunchAgents/com.headroom.dev.1.plist")
        );
        assert!(
            plist.contains("<string>/opt/it&apos;s here/headroom</string>"),
            "{plist}"
        );
        assert!(plist.contains("<key>KeepAlive</key>"), "{plist}");
        assert!(plist.contains("<string>run</string>"), "{plist}");
        assert!(!plist.contains("StartInterval"));
        assert!(plist.contains("<string>/home/a b</string>"));
    }

    #[test]
    fn task_plist_runs_ensure_every_five_minutes() {
        let d = test_deployment(Preset::Task, Scope::System);
        let l = Launchd {
            system: true,
            keep_alive: false,
        };
        let plist = l.render_plist(&d).unwrap();
        assert!(l.plist_path(&d).starts_with("/Library/LaunchDaemons"));
        assert!(
            plist.contains("<key>StartInterval</key>\n  <integer>300</integer>"),
            "{plist}"
        );
        assert!(plist.contains("<string>ensure</string>"), "{plist}");
        assert!(!plist.contains("KeepAlive"));
    }
}
