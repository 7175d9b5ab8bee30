//! `persistent-docker`: a container `headroom-<profile>` with `--restart unless-stopped`, on the
//! host network (the proxy binds loopback; no bridge, no NAT), driven through the `docker` CLI.
//! When cron can run it, the same crontab block as `persistent-task` is registered as a
//! watchdog: its `agent ensure` never starts anything for a container, it judges whether the
//! container serves (the host un-routes the tools after repeated failures, and routes them
//! again once it serves).

use super::cron::Cron;
use super::{Rendered, Supervisor, SupervisorState, Unusable};
use crate::command;
use crate::deployment::Deployment;
use crate::health;
use crate::manifest::{Preset, Scope, SupervisorKind};

/// The image `--image` defaults to.
pub const DEFAULT_IMAGE: &str = "headroom:local";

pub struct Docker;

impl Docker {
    pub fn image(d: &Deployment) -> &str {
        d.manifest.image.as_deref().unwrap_or(DEFAULT_IMAGE)
    }

    /// `docker create …` argv: the image's entrypoint is `headroom`, so the command is the
    /// proxy subcommand and its arguments.
    pub fn create_argv(d: &Deployment) -> Vec<String> {
        let mut argv: Vec<String> = [
            "create",
            "--name",
            &d.service_name(),
            "--restart",
            "unless-stopped",
            // The proxy drains for up to 10 s on SIGTERM; some engines (podman's Docker API)
            // default to killing at once.
            "--stop-timeout",
            "15",
            "--label",
            &format!("io.headroom.profile={}", d.profile()),
            // docker/headroom (the Docker-native wrapper) finds deployments by these.
            "--label",
            &format!("io.headroom.port={}", d.manifest.port),
            "--label",
            "io.headroom.preset=persistent-docker",
            // The engine keeps the proxy's log (`headroom logs`): bounded, like headroom's own
            // files (json-file keeps one such file by default; podman's k8s-file the same).
            "--log-opt",
            "max-size=10m",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        if cfg!(target_os = "linux") {
            argv.extend(["--network".to_owned(), "host".to_owned()]);
            argv.extend(Self::state_mount(d));
        } else {
            // Docker Desktop has no host network: publish the port on loopback only.
            let port = d.manifest.port;
            argv.extend(["--publish".to_owned(), format!("127.0.0.1:{port}:{port}")]);
        }
        // HEADROOM_PORT lets the image's HEALTHCHECK (`headroom health`) find the proxy.
        let port = (
            headroom_core::env::PORT.to_owned(),
            d.manifest.port.to_string(),
        );
        for (k, v) in std::iter::once(port).chain(d.proxy_env()) {
            argv.push("--env".to_owned());
            argv.push(format!("{k}={v}"));
        }
        argv.push(Self::image(d).to_owned());
        argv.extend(d.proxy_args());
        argv
    }

    /// The host's state dir at the same path inside, and the container running as its owner:
    /// `proxy_args` gives the proxy the host paths of the usage history and the retrieve dir, so
    /// `headroom stats` on the host reads what the container records and the agent reads back
    /// what `--compress full` dropped. It is the same access a native deployment's proxy has (it
    /// runs as the user). A path `--volume` cannot carry (`:` or `,`) is not mounted: the history
    /// is then "unavailable" in `/health`, as before.
    fn state_mount(d: &Deployment) -> Vec<String> {
        let root = d.paths.state.root();
        let Some(text) = root.to_str().filter(|t| !t.contains([':', ','])) else {
            return Vec::new();
        };
        let mut argv = vec!["--volume".to_owned(), format!("{text}:{text}")];
        argv.extend(Self::owner(root));
        argv
    }

    /// `--user uid:gid` of the state dir's owner, so the container writes files the user owns
    /// (Unix only: Docker Desktop on Windows maps ownership itself).
    fn owner(root: &std::path::Path) -> Vec<String> {
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            if let Ok(meta) = std::fs::metadata(root) {
                return vec![
                    "--user".to_owned(),
                    format!("{}:{}", meta.uid(), meta.gid()),
                ];
            }
        }
        #[cfg(not(unix))]
        let _ = root;
        Vec::new()
    }

    /// The cron watchdog of this deployment, when it routes tools (keeping them honest is its
    /// only job) and cron can run it here.
    fn watchdog(d: &Deployment) -> Option<Cron> {
        if d.manifest.targets.is_empty() {
            return None;
        }
        let cron = Cron {
            system: d.manifest.scope == Scope::System,
        };
        cron.probe(d).is_ok().then_some(cron)
    }

    /// `Ok` when the container's proxy serves this profile; otherwise what the engine says about
    /// the container (its state, how often it restarted, its last output), for the watchdog.
    pub fn judge(d: &Deployment) -> anyhow::Result<()> {
        if health::port_owner(d.probe_host(), d.manifest.port)
            .is_ready_profile(d.profile().as_str())
        {
            return Ok(());
        }
        let name = d.service_name();
        let port = d.manifest.port;
        if !command::on_path("docker") {
            anyhow::bail!(
                "container {name} does not serve port {port} (the docker CLI is not on PATH to ask why)"
            );
        }
        let state = Self::docker_lenient(&[
            "inspect",
            "--format",
            "{{.State.Status}} {{.RestartCount}}",
            &name,
        ])
        .filter(|o| o.ok)
        .map(|o| o.stdout.trim().to_owned());
        let Some(state) = state else {
            anyhow::bail!("container {name} does not exist");
        };
        let (status, restarts) = state.split_once(' ').unwrap_or((state.as_str(), "?"));
        let last = Self::docker_lenient(&["logs", "--tail", "1", &name])
            .map(|o| format!("{}{}", o.stdout, o.stderr).trim().to_owned())
            .filter(|l| !l.is_empty());
        anyhow::bail!(
            "container {name} does not serve port {port} ({status}, restarted {restarts} times){}",
            last.map(|l| format!("; its last output: {l}"))
                .unwrap_or_default()
        )
    }

    fn docker(args: &[String]) -> anyhow::Result<command::Output> {
        command::run("docker", args, &[], None)
    }

    fn docker_lenient(args: &[&str]) -> Option<command::Output> {
        command::capture("docker", args, &[], None).ok()
    }
}

impl Supervisor for Docker {
    fn kind(&self) -> SupervisorKind {
        SupervisorKind::Docker
    }

    fn probe(&self, d: &Deployment) -> Result<(), Unusable> {
        let unusable = |missing: String, hint: Option<String>| Unusable {
            supervisor: "docker".to_owned(),
            missing,
            hint,
        };
        let alt = Some(super::alternative(Preset::Docker).to_owned());
        if !command::on_path("docker") {
            return Err(unusable(
                "the `docker` CLI is not installed".to_owned(),
                alt,
            ));
        }
        match Self::docker_lenient(&["version", "--format", "{{.Server.Version}}"]) {
            Some(out) if out.ok => {}
            Some(out) => {
                return Err(unusable(
                    format!("the docker daemon does not answer ({})", out.reason()),
                    alt,
                ));
            }
            None => return Err(unusable("cannot run docker".to_owned(), alt)),
        }
        let image = Self::image(d);
        match Self::docker_lenient(&["image", "inspect", "--format", "{{.Id}}", image]) {
            Some(out) if out.ok => Ok(()),
            _ => Err(unusable(
                format!("image {image} not found"),
                Some("build or pull it, or pass --image".to_owned()),
            )),
        }
    }

    fn render(&self, d: &Deployment) -> anyhow::Result<Rendered> {
        let mut create = vec!["docker".to_owned()];
        create.extend(Self::create_argv(d));
        let watchdog = Self::watchdog(d).map(|c| c.render(d)).transpose()?;
        let (files, crontab_block) = match watchdog {
            Some(r) => (r.files, r.crontab_block),
            None => (vec![], None),
        };
        Ok(Rendered {
            files,
            crontab_block,
            commands: vec![
                create,
                vec!["docker".into(), "start".into(), d.service_name()],
            ],
        })
    }

    fn install(&self, d: &Deployment) -> anyhow::Result<()> {
        // A leftover container of this profile (crash during an earlier apply) is replaced.
        let _ = Self::docker_lenient(&["rm", "--force", &d.service_name()]);
        Self::docker(&Self::create_argv(d))?;
        if let Some(cron) = Self::watchdog(d) {
            cron.register(d)?;
        }
        Ok(())
    }

    fn start(&self, d: &Deployment) -> anyhow::Result<String> {
        Self::docker(&["start".to_owned(), d.service_name()])?;
        Ok(format!("started container {}", d.service_name()))
    }

    fn stop(&self, d: &Deployment) -> anyhow::Result<String> {
        Self::docker(&["stop".to_owned(), d.service_name()])?;
        Ok(format!(
            "stopped container {} (unless-stopped keeps it down)",
            d.service_name()
        ))
    }

    fn uninstall(&self, d: &Deployment) -> anyhow::Result<()> {
        Cron {
            system: d.manifest.scope == Scope::System,
        }
        .unregister(d)?;
        if !command::on_path("docker") {
            return Ok(());
        }
        let name = d.service_name();
        let out = command::capture("docker", &["rm", "--force", &name], &[], None)?;
        let gone = out.ok
            || out
                .stderr
                .to_ascii_lowercase()
                .contains("no such container")
            || out
                .stderr
                .to_ascii_lowercase()
                .contains("no container with name");
        anyhow::ensure!(gone, "`docker rm --force {name}` failed: {}", out.reason());
        Ok(())
    }

    fn state(&self, d: &Deployment) -> SupervisorState {
        let out = Self::docker_lenient(&[
            "inspect",
            "--format",
            "{{.State.Status}} {{.State.Pid}}",
            &d.service_name(),
        ])
        .filter(|o| o.ok);
        let Some(out) = out else {
            return SupervisorState {
                crash_looping: false,
                registered: false,
                state: "no container".to_owned(),
                running: false,
                pid: None,
            };
        };
        let mut parts = out.stdout.split_whitespace();
        let status = parts.next().unwrap_or("unknown").to_owned();
        let pid = parts
            .next()
            .and_then(|p| p.parse().ok())
            .filter(|p| *p != 0);
        SupervisorState {
            crash_looping: status == "restarting",
            registered: true,
            running: status == "running",
            state: status,
            pid,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deployment::test_deployment;
    use crate::manifest::Scope;

    #[test]
    fn create_argv_restarts_unless_stopped_on_the_host_network() {
        let d = test_deployment(Preset::Docker, Scope::User);
        let argv = Docker::create_argv(&d);
        let joined = argv.join(" ");
        assert!(
            joined.starts_with("create --name headroom-dev.1 --restart unless-stopped"),
            "{joined}"
        );
        if cfg!(target_os = "linux") {
            assert!(
                argv.windows(2).any(|w| w == ["--network", "host"]),
                "{joined}"
            );
            // The state dir, at the same path: the history and retrieve paths below are its.
            assert!(
                argv.windows(2)
                    .any(|w| w == ["--volume", "/home/a b/.headroom:/home/a b/.headroom"]),
                "{joined}"
            );
        }
        // Each env value is one argv element: nothing is interpreted by a shell.
        assert!(argv.contains(&"QUOTE=a\"b $(x)\nc".to_owned()));
        assert!(argv.contains(&"HEADROOM_DEPLOYMENT_RUNTIME=docker".to_owned()));
        let image = argv.iter().position(|a| a == DEFAULT_IMAGE).unwrap();
        assert_eq!(
            &argv[image + 1..],
            [
                "proxy",
                "--host",
                "127.0.0.1",
                "--port",
                "18787",
                "--compress",
                "full",
                "--retrieve-dir",
                "/home/a b/.headroom/retrieve",
                "--usage-db",
                "/home/a b/.headroom/usage.db",
                "--openai-api-url",
                "http://127.0.0.1:9/v1"
            ]
        );
    }

    #[test]
    fn the_image_and_the_compose_file_default_to_lossless() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docker");
        for (file, line) in [
            ("Dockerfile", "    HEADROOM_COMPRESS=lossless\n"),
            ("Dockerfile.offline", "    HEADROOM_COMPRESS=lossless\n"),
            (
                "docker-compose.native.yml",
                "      HEADROOM_COMPRESS: ${HEADROOM_COMPRESS:-lossless}\n",
            ),
        ] {
            let text = std::fs::read_to_string(root.join(file)).unwrap();
            assert!(text.contains(line), "docker/{file} lacks {line:?}");
        }
    }
}
