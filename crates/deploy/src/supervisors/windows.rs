//! Windows: a service (`sc.exe create headroom-<profile>`, restart on failure) for
//! administrators, or a per-user logon scheduled task (`schtasks /Create /XML`) otherwise.
//! Rendered and unit-tested everywhere; driven only on Windows.

use super::{Rendered, RenderedFile, Supervisor, SupervisorState, Unusable};
use crate::command;
use crate::deployment::Deployment;
use crate::manifest::SupervisorKind;
use crate::quote::{self, xml};

pub struct Windows {
    pub kind: SupervisorKind,
}

/// A Windows command-line argument, quoted per the MSVC runtime's rules.
pub fn win_arg(arg: &str) -> String {
    if !arg.is_empty() && !arg.contains([' ', '\t', '"']) {
        return arg.to_owned();
    }
    let mut out = String::from("\"");
    let mut backslashes = 0;
    for c in arg.chars() {
        match c {
            '\\' => backslashes += 1,
            '"' => {
                out.push_str(&"\\".repeat(backslashes * 2 + 1));
                out.push('"');
                backslashes = 0;
            }
            c => {
                out.push_str(&"\\".repeat(backslashes));
                out.push(c);
                backslashes = 0;
            }
        }
    }
    out.push_str(&"\\".repeat(backslashes * 2));
    out.push('"');
    out
}

impl Windows {
    fn command_line(d: &Deployment, entry: &str) -> String {
        let mut line = win_arg(&d.exe.to_string_lossy());
        for a in d.agent_args(entry) {
            line.push(' ');
            line.push_str(&win_arg(&a));
        }
        line
    }

    /// `sc.exe` argv creating the service (auto start, restart after 1 s on failure).
    pub fn service_commands(d: &Deployment) -> Vec<Vec<String>> {
        let name = d.service_name();
        vec![
            vec![
                "sc.exe".into(),
                "create".into(),
                name.clone(),
                "binPath=".into(),
                Self::command_line(d, "service"),
                "start=".into(),
                "auto".into(),
                "DisplayName=".into(),
                format!("headroom LLM proxy ({})", d.profile()),
            ],
            vec![
                "sc.exe".into(),
                "failure".into(),
                name.clone(),
                "reset=".into(),
                "60".into(),
                "actions=".into(),
                "restart/1000/restart/1000/restart/5000".into(),
            ],
            // Also treat "stopped with a non-zero exit code" (the proxy died) as a failure.
            vec![
                "sc.exe".into(),
                "failureflag".into(),
                name.clone(),
                "1".into(),
            ],
            vec!["sc.exe".into(), "start".into(), name],
        ]
    }

    /// Task Scheduler XML: at logon and every five minutes, run `agent ensure`.
    pub fn task_xml(d: &Deployment) -> anyhow::Result<String> {
        let exe = d.exe.to_string_lossy();
        quote::reject_control("the headroom executable path", &exe)?;
        let args = d
            .agent_args("ensure")
            .iter()
            .map(|a| win_arg(a))
            .collect::<Vec<_>>()
            .join(" ");
        Ok(format!(
            "<?xml version=\"1.0\" encoding=\"UTF-16\"?>\n\
<Task version=\"1.2\" xmlns=\"http://schemas.microsoft.com/windows/2004/02/mit/task\">\n\
  <RegistrationInfo><Description>headroom LLM proxy ({profile})</Description></RegistrationInfo>\n\
  <Triggers>\n\
    <LogonTrigger><Enabled>true</Enabled><Repetition><Interval>PT5M</Interval></Repetition></LogonTrigger>\n\
  </Triggers>\n\
  <Principals><Principal id=\"Author\"><LogonType>InteractiveToken</LogonType><RunLevel>LeastPrivilege</RunLevel></Principal></Principals>\n\
  <Settings>\n\
    <MultipleInstancesPolicy>IgnoreNew</MultipleInstancesPolicy>\n\
    <DisallowStartIfOnBatteries>false</DisallowStartIfOnBatteries>\n\
    <StopIfGoingOnBatteries>false</StopIfGoingOnBatteries>\n\
    <ExecutionTimeLimit>PT0S</ExecutionTimeLimit>\n\
  </Settings>\n\
  <Actions Context=\"Author\">\n\
    <Exec><Command>{exe}</Command><Arguments>{args}</Arguments></Exec>\n\
  </Actions>\n\
</Task>\n",
            profile = xml(d.profile().as_str()),
            exe = xml(&exe),
            args = xml(&args),
        ))
    }

    fn task_xml_path(d: &Deployment) -> std::path::PathBuf {
        d.paths.dir.join("task.xml")
    }

    fn is_service(&self) -> bool {
        self.kind == SupervisorKind::WindowsService
    }

    /// Task Scheduler reads the XML as the UTF-16 its declaration names.
    fn utf16_with_bom(text: &str) -> Vec<u8> {
        let mut out = vec![0xFF, 0xFE];
        for unit in text.encode_utf16() {
            out.extend_from_slice(&unit.to_le_bytes());
        }
        out
    }

    fn run_all(cmds: &[Vec<String>]) -> anyhow::Result<()> {
        for c in cmds {
            command::run(&c[0], &c[1..], &[], None)?;
        }
        Ok(())
    }
}

impl Supervisor for Windows {
    fn kind(&self) -> SupervisorKind {
        self.kind
    }

    fn probe(&self, _d: &Deployment) -> Result<(), Unusable> {
        let tool = if self.is_service() {
            "sc.exe"
        } else {
            "schtasks.exe"
        };
        if cfg!(windows) && command::on_path(tool) {
            Ok(())
        } else {
            Err(Unusable {
                supervisor: self.kind.to_string(),
                missing: format!("{tool} is only available on Windows"),
                hint: None,
            })
        }
    }

    fn render(&self, d: &Deployment) -> anyhow::Result<Rendered> {
        if self.is_service() {
            return Ok(Rendered {
                commands: Self::service_commands(d),
                ..Rendered::default()
            });
        }
        let path = Self::task_xml_path(d);
        Ok(Rendered {
            files: vec![RenderedFile {
                path: path.clone(),
                content: Self::task_xml(d)?,
                mode: 0o600,
            }],
            crontab_block: None,
            commands: vec![
                vec![
                    "schtasks.exe".into(),
                    "/Create".into(),
                    "/TN".into(),
                    d.service_name(),
                    "/XML".into(),
                    path.to_string_lossy().into_owned(),
                    "/F".into(),
                ],
                vec![
                    "schtasks.exe".into(),
                    "/Run".into(),
                    "/TN".into(),
                    d.service_name(),
                ],
            ],
        })
    }

    fn install(&self, d: &Deployment) -> anyhow::Result<()> {
        let rendered = self.render(d)?;
        if self.is_service() {
            // Everything but the final `sc.exe start`.
            let cmds = &rendered.commands[..rendered.commands.len() - 1];
            return Self::run_all(cmds);
        }
        let xml = &rendered.files[0];
        crate::fsutil::write_atomic(&xml.path, &Self::utf16_with_bom(&xml.content), xml.mode)?;
        Self::run_all(&rendered.commands[..1])
    }

    fn start(&self, d: &Deployment) -> anyhow::Result<String> {
        let name = d.service_name();
        if self.is_service() {
            command::run("sc.exe", &["start", &name], &[], None)?;
            return Ok(format!("started service {name}"));
        }
        command::run(
            "schtasks.exe",
            &["/Change", "/TN", &name, "/ENABLE"],
            &[],
            None,
        )?;
        let outcome = crate::agent::ensure(d)?;
        Ok(format!(
            "task {name} enabled (at logon and every 5 minutes); {}",
            outcome.describe()
        ))
    }

    fn stop(&self, d: &Deployment) -> anyhow::Result<String> {
        let name = d.service_name();
        if self.is_service() {
            command::run("sc.exe", &["stop", &name], &[], None)?;
            return Ok(format!("stopped service {name}"));
        }
        // A stopped task must stay stopped: disable the schedule, then stop the process.
        command::run(
            "schtasks.exe",
            &["/Change", "/TN", &name, "/DISABLE"],
            &[],
            None,
        )?;
        crate::agent::stop_started(d)?;
        Ok(format!(
            "disabled task {name} and stopped the proxy; `headroom install start` resumes both"
        ))
    }

    fn uninstall(&self, d: &Deployment) -> anyhow::Result<()> {
        if !cfg!(windows) {
            return Ok(());
        }
        let name = d.service_name();
        if self.is_service() {
            let _ = command::capture("sc.exe", &["stop", &name], &[], None);
            let _ = command::capture("sc.exe", &["delete", &name], &[], None);
        } else {
            let _ = command::capture("schtasks.exe", &["/Delete", "/TN", &name, "/F"], &[], None);
            crate::agent::stop_started(d)?;
            crate::fsutil::remove_file_if_exists(&Self::task_xml_path(d))?;
        }
        Ok(())
    }

    fn state(&self, d: &Deployment) -> SupervisorState {
        let name = d.service_name();
        if !cfg!(windows) {
            return SupervisorState {
                crash_looping: false,
                registered: false,
                state: "unsupported on this OS".to_owned(),
                running: false,
                pid: None,
            };
        }
        if self.is_service() {
            let out = command::capture("sc.exe", &["queryex", &name], &[], None)
                .ok()
                .filter(|o| o.ok);
            let field = |key: &str| {
                out.as_ref().and_then(|o| {
                    o.stdout.lines().find_map(|l| {
                        let (k, v) = l.split_once(':')?;
                        (k.trim() == key).then(|| v.trim().to_owned())
                    })
                })
            };
            let state = field("STATE").unwrap_or_else(|| "not installed".to_owned());
            let pid = field("PID")
                .and_then(|p| p.parse().ok())
                .filter(|p| *p != 0);
            return SupervisorState {
                crash_looping: false,
                registered: out.is_some(),
                running: state.contains("RUNNING"),
                state,
                pid,
            };
        }
        let registered = command::capture("schtasks.exe", &["/Query", "/TN", &name], &[], None)
            .is_ok_and(|o| o.ok);
        let pid = crate::agent::started_pid(d);
        SupervisorState {
            crash_looping: false,
            registered,
            running: pid.is_some(),
            state: if registered {
                "scheduled"
            } else {
                "not scheduled"
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
    fn service_is_created_auto_start_with_restart_actions() {
        let d = test_deployment(Preset::Service, Scope::System);
        let cmds = Windows::service_commands(&d);
        assert_eq!(cmds[0][..3], ["sc.exe", "create", "headroom-dev.1"]);
        assert_eq!(
            cmds[0][4],
            r#""/opt/it's here/headroom" install agent service --profile dev.1"#
        );
        assert!(cmds[1].iter().any(|a| a.starts_with("restart/1000")));
        assert_eq!(cmds[2][1..], ["failureflag", "headroom-dev.1", "1"]);
    }

    #[test]
    fn task_xml_is_written_as_the_utf16_it_declares() {
        let bytes = Windows::utf16_with_bom("<a>é</a>");
        assert_eq!(bytes[..2], [0xFF, 0xFE]);
        let units: Vec<u16> = bytes[2..]
            .chunks(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect();
        assert_eq!(String::from_utf16(&units).unwrap(), "<a>é</a>");
    }

    #[test]
    fn logon_task_runs_ensure_every_five_minutes() {
        let d = test_deployment(Preset::Task, Scope::User);
        let xml = Windows::task_xml(&d).unwrap();
        assert!(xml.contains("<LogonTrigger>"), "{xml}");
        assert!(xml.contains("<Interval>PT5M</Interval>"), "{xml}");
        assert!(
            xml.contains("<Command>/opt/it&apos;s here/headroom</Command>"),
            "{xml}"
        );
        assert!(
            xml.contains("<Arguments>install agent ensure --profile dev.1</Arguments>"),
            "{xml}"
        );
        assert!(xml.contains("IgnoreNew"));
    }

    #[test]
    fn windows_arguments_follow_msvc_quoting() {
        assert_eq!(win_arg("plain"), "plain");
        assert_eq!(
            win_arg(r"C:\Program Files\h.exe"),
            r#""C:\Program Files\h.exe""#
        );
        assert_eq!(win_arg(r#"a"b"#), r#""a\"b""#);
        assert_eq!(win_arg(r"dir\ x\"), r#""dir\ x\\""#);
        assert_eq!(win_arg(""), "\"\"");
    }
}
