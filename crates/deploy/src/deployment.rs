//! One deployment as the supervisors see it: the manifest, its paths and the binary to run.

use std::path::PathBuf;

use crate::manifest::{Manifest, probe_host};
use headroom_core::env as vars;

use crate::profile::{ProfileName, ProfilePaths};

/// The proxy subcommand the agent `exec`s: `headroom proxy --host H --port P --compress M
/// --retrieve-dir D <proxy_args>`.
pub const PROXY_SUBCOMMAND: &str = "proxy";
/// `headroom proxy`'s flag for where `full` compression keeps what it cut.
pub const RETRIEVE_DIR_FLAG: &str = "--retrieve-dir";
/// `headroom proxy`'s flag for its usage history (`--no-usage-history` turns it off).
pub const USAGE_DB_FLAG: &str = "--usage-db";

#[derive(Debug, Clone)]
pub struct Deployment {
    pub manifest: Manifest,
    pub paths: ProfilePaths,
    /// Absolute path of the `headroom` binary the supervisor runs.
    pub exe: PathBuf,
}

/// The paths a supervisor's definition names, as text, each checked to be writable into a unit,
/// crontab or plist (no control characters).
pub struct DefinitionPaths {
    pub home: String,
    pub exe: String,
    /// Where the process's stdout/stderr go (`startup.log`; the proxy logs to its own file).
    pub log: String,
}

impl Deployment {
    pub fn profile(&self) -> &ProfileName {
        &self.paths.profile
    }

    pub fn definition_paths(&self) -> Result<DefinitionPaths, crate::quote::Unquotable> {
        let paths = DefinitionPaths {
            home: self.paths.home.to_string_lossy().into_owned(),
            exe: self.exe.to_string_lossy().into_owned(),
            log: self.paths.startup_log().to_string_lossy().into_owned(),
        };
        crate::quote::reject_control("HOME", &paths.home)?;
        crate::quote::reject_control("the headroom executable path", &paths.exe)?;
        Ok(paths)
    }

    /// `headroom-<profile>`: the systemd unit stem and docker container name.
    pub fn service_name(&self) -> String {
        format!("headroom-{}", self.profile())
    }

    pub fn probe_host(&self) -> &str {
        probe_host(&self.manifest.host)
    }

    /// argv of an agent entry point (`run` or `ensure`), after the executable.
    pub fn agent_args(&self, entry: &str) -> Vec<String> {
        vec![
            "install".into(),
            "agent".into(),
            entry.into(),
            "--profile".into(),
            self.profile().to_string(),
        ]
    }

    /// argv of the proxy itself, after the executable: every runtime (the agent's `exec` for
    /// systemd, launchd, cron and Windows; the container's command for docker) starts it so.
    /// The retrieve dir and the usage history are this deployment's state dir's (not whatever
    /// `HOME` the process gets), unless the user passed their own after `--`.
    pub fn proxy_args(&self) -> Vec<String> {
        let m = &self.manifest;
        let mut args = vec![
            PROXY_SUBCOMMAND.to_owned(),
            "--host".to_owned(),
            m.host.clone(),
            "--port".to_owned(),
            m.port.to_string(),
            "--compress".to_owned(),
            m.compress.as_str().to_owned(),
        ];
        let given = |flag: &str| {
            m.proxy_args
                .iter()
                .any(|a| a == flag || a.starts_with(&format!("{flag}=")))
        };
        if !given(RETRIEVE_DIR_FLAG) {
            args.push(RETRIEVE_DIR_FLAG.to_owned());
            args.push(
                self.paths
                    .state
                    .retrieve_dir()
                    .to_string_lossy()
                    .into_owned(),
            );
        }
        if !given(USAGE_DB_FLAG) && !given("--no-usage-history") {
            args.push(USAGE_DB_FLAG.to_owned());
            args.push(self.paths.state.usage_db().to_string_lossy().into_owned());
        }
        if let Some(log) = &m.log_file
            && !given(crate::logs::LOG_FILE_FLAG)
        {
            args.push(crate::logs::LOG_FILE_FLAG.to_owned());
            args.push(log.to_string_lossy().into_owned());
        }
        args.extend(m.proxy_args.iter().cloned());
        args
    }

    /// `HEADROOM_DEPLOYMENT_*` (what `/health` reports), then the user's `--env` values.
    pub fn proxy_env(&self) -> Vec<(String, String)> {
        let m = &self.manifest;
        let mut env = vec![
            (vars::DEPLOYMENT_PROFILE.to_owned(), m.profile.clone()),
            (vars::DEPLOYMENT_PRESET.to_owned(), m.preset.to_string()),
            (
                vars::DEPLOYMENT_RUNTIME.to_owned(),
                m.runtime_kind.to_string(),
            ),
            (
                vars::DEPLOYMENT_SUPERVISOR.to_owned(),
                m.supervisor_kind.to_string(),
            ),
            (vars::DEPLOYMENT_SCOPE.to_owned(), m.scope.to_string()),
        ];
        if let Some(backend) = &m.backend {
            env.push((vars::BACKEND.to_owned(), backend.clone()));
        }
        env.extend(m.base_env.iter().map(|(k, v)| (k.clone(), v.clone())));
        env
    }
}

/// A deployment for unit tests, built without touching the machine's managers.
#[cfg(test)]
pub(crate) fn test_deployment(
    preset: crate::manifest::Preset,
    scope: crate::manifest::Scope,
) -> Deployment {
    use crate::manifest::*;
    let profile = ProfileName::new("dev.1").unwrap();
    let home = std::path::Path::new("/home/a b");
    let paths = ProfilePaths::new(home, &profile);
    let manifest = Manifest {
        profile: profile.to_string(),
        preset,
        runtime_kind: if preset == Preset::Docker {
            Runtime::Docker
        } else {
            Runtime::Native
        },
        supervisor_kind: crate::supervisors::kind_for(preset),
        scope,
        provider_mode: ProviderMode::None,
        targets: vec![],
        port: 18787,
        host: "127.0.0.1".into(),
        backend: None,
        image: None,
        health_url: Manifest::readyz_url("127.0.0.1", 18787),
        base_env: [("QUOTE".to_owned(), "a\"b $(x)\nc".to_owned())].into(),
        tool_envs: Default::default(),
        proxy_args: vec!["--openai-api-url".into(), "http://127.0.0.1:9/v1".into()],
        mutations: vec![],
        artifacts: vec![],
        created_at: String::new(),
        updated_at: String::new(),
        schema_version: SCHEMA_VERSION,
        state: InstallState::Installed,
        journal: None,
        adapters: Default::default(),
        linger_enabled_by_us: false,
        executable: None,
        home: None,
        compress: headroom_compress::Mode::Full,
        upstreams: Default::default(),
        log_file: None,
        extra: Default::default(),
    };
    Deployment {
        manifest,
        paths,
        exe: std::path::PathBuf::from("/opt/it's here/headroom"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::{Preset, Scope};

    #[test]
    fn the_proxy_is_told_the_mode_and_this_deployments_retrieve_dir() {
        let mut d = test_deployment(Preset::Service, Scope::User);
        let args = d.proxy_args();
        let at = |flag: &str| &args[args.iter().position(|a| a == flag).unwrap() + 1];
        assert_eq!(at("--compress"), "full");
        assert_eq!(at("--retrieve-dir"), "/home/a b/.headroom/retrieve");
        assert_eq!(at("--usage-db"), "/home/a b/.headroom/usage.db");
        // The user's own `-- --retrieve-dir` wins (and is not given twice).
        d.manifest.proxy_args = vec!["--retrieve-dir=/mnt/r".into()];
        let args = d.proxy_args();
        assert!(!args.iter().any(|a| a == "--retrieve-dir"), "{args:?}");
        assert_eq!(args.last().unwrap(), "--retrieve-dir=/mnt/r");
        // History off after `--` stays off: no db is named.
        d.manifest.proxy_args = vec!["--no-usage-history".into()];
        assert!(!d.proxy_args().iter().any(|a| a == "--usage-db"));
    }
}
