//! `headroom install …`: persistent deployments (see `docs/install.md`).
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use headroom_deploy::manifest::{Preset, ProviderMode, Runtime, Scope};
use headroom_deploy::planner::{self, ApplyRequest};
use headroom_deploy::profile::{self, ProfileName};
use headroom_deploy::{agent, lifecycle, status};
use headroom_plugins::{AdapterHost, HostOptions};

use crate::tools;

#[derive(Debug, clap::Subcommand)]
pub enum InstallCommand {
    /// Install (or replace) a persistent deployment and start it.
    Apply(ApplyArgs),
    /// Show supervisor state, PID, health, port owner; exits 1 when stopped or unhealthy.
    Status {
        #[command(flatten)]
        profile: ProfileArg,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Start a stopped deployment (tool configuration is not touched).
    Start(ProfileArg),
    /// Stop the proxy and keep it down (tool configuration is not touched).
    Stop(ProfileArg),
    /// Stop, then start.
    Restart(ProfileArg),
    /// Stop, unregister, revert every edit byte for byte and delete the profile.
    Remove(ProfileArg),
    /// Entry points the supervisors run.
    #[command(subcommand)]
    Agent(AgentCommand),
}

#[derive(Debug, clap::Args)]
pub struct ProfileArg {
    /// Deployment profile name.
    #[arg(long, default_value = "default")]
    profile: String,
}

#[derive(Debug, clap::Subcommand)]
pub enum AgentCommand {
    /// Run the proxy in the foreground with the deployment's settings (systemd, launchd, Windows).
    Run(ProfileArg),
    /// Start the proxy unless it is already healthy (cron, scheduled tasks); safe to run concurrently.
    Ensure(ProfileArg),
    /// The Windows service entry point the Service Control Manager runs.
    #[command(hide = true)]
    Service(ProfileArg),
}

#[derive(Debug, clap::Args)]
pub struct ApplyArgs {
    #[arg(long, default_value = "default")]
    profile: String,
    /// persistent-service (systemd/launchd/Windows service), persistent-task (cron/scheduled
    /// task) or persistent-docker. Default: persistent-service.
    #[arg(long)]
    preset: Option<Preset>,
    /// native or docker (`python` is accepted as native).
    #[arg(long)]
    runtime: Option<Runtime>,
    /// provider, user or system.
    #[arg(long, default_value = "user")]
    scope: Scope,
    /// Which tools to configure: auto, all, manual (with --target) or none.
    #[arg(long, default_value = "auto")]
    providers: ProviderMode,
    /// A tool to configure with --providers manual (repeatable).
    #[arg(long = "target")]
    targets: Vec<String>,
    /// Port of the proxy (1-65535).
    #[arg(long, env = "HEADROOM_PORT")]
    port: Option<String>,
    /// Address the proxy binds.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Upstream backend, passed to the proxy as HEADROOM_BACKEND.
    #[arg(long)]
    backend: Option<String>,
    /// Container image for persistent-docker (default headroom:local).
    #[arg(long)]
    image: Option<String>,
    /// Extra environment of the proxy, KEY=VALUE (repeatable).
    #[arg(long = "env")]
    env: Vec<String>,
    /// Print the plan (files, unit/crontab text, commands) and change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Never prompt (apply never prompts; accepted for scripts).
    #[arg(long, short = 'y')]
    yes: bool,
    /// Arguments after `--` are passed to `headroom proxy`.
    #[arg(last = true)]
    proxy_args: Vec<String>,
}

pub fn run(cmd: InstallCommand) -> anyhow::Result<ExitCode> {
    let home = profile::home_dir()?;
    let exe = current_exe()?;
    // Where the adapters and the edit executor look (cheap: nothing is read until used).
    let opts = HostOptions::for_home(home.clone());
    match cmd {
        InstallCommand::Apply(a) => {
            let _ = a.yes;
            // Adapters are read (manifests only; nothing compiles) only when tools are configured.
            let adapters =
                (a.providers != ProviderMode::None).then(|| AdapterHost::load(opts.clone()));
            let tool_scope = tools::scope(a.scope);
            let req = ApplyRequest {
                profile: a.profile,
                preset: a.preset,
                runtime: a.runtime,
                scope: a.scope,
                providers: a.providers,
                targets: a.targets,
                port: a.port,
                host: a.host,
                backend: a.backend,
                image: a.image,
                env: a.env,
                proxy_args: a.proxy_args,
                home,
                exe,
                detected: vec![],
            };
            // Refusals come before any guest code runs: the arguments, the targets the user
            // named (matched to adapters by their manifests), an existing manifest, the port and
            // the supervisor (except for a dry run, which shows the plan even where it could not
            // be installed). Only then do adapters detect (`auto`) and plan.
            let mut plan = planner::plan(&req)?;
            let mode = a.providers;
            let mut routes = if mode == ProviderMode::Auto {
                tools::Routes::default()
            } else {
                tools::route(
                    adapters.as_ref(),
                    &mut plan.deployment.manifest.targets,
                    mode,
                    tool_scope,
                )?
            };
            if !a.dry_run {
                lifecycle::preflight(&plan)?;
            }
            let m = &mut plan.deployment.manifest;
            if let Some(host) = &adapters
                && mode == ProviderMode::Auto
            {
                let detected = tools::detected(host, tool_scope);
                m.targets = planner::resolve_targets(mode, a.scope, &[], &detected)?;
                routes = tools::route(Some(host), &mut m.targets, mode, tool_scope)?;
            }
            let tool_plans =
                tools::plan(adapters.as_ref(), &routes, tool_scope, m.port, &m.profile)?;
            m.adapters = tool_plans.adapters.clone();
            let exec = tools::executor(&opts);
            let journal = plan.deployment.paths.journal();
            // Computing every file's new contents first means a config we cannot edit stops
            // the install before anything is touched.
            let changes = exec.preview(&tool_plans.plans)?;
            for note in &routes.skipped {
                println!("note: {note}");
            }
            if a.dry_run {
                print!("{}", plan.describe());
                for c in changes.iter().filter(|c| !c.is_noop()) {
                    print!("{}", c.unified_diff());
                }
                println!("\ndry run: nothing was changed");
                return Ok(ExitCode::SUCCESS);
            }
            let profile = plan.deployment.paths.profile.clone();
            let home = plan.deployment.paths.home.clone();
            // The proxy is up and healthy before any tool is pointed at it.
            print_report(lifecycle::apply(plan)?);
            if !tool_plans.plans.is_empty() {
                match exec.apply(&tool_plans.plans, &journal) {
                    Ok(changes) => {
                        for c in changes.iter().filter(|c| !c.is_noop()) {
                            println!("configured {}", c.logical);
                        }
                    }
                    Err(e) => {
                        let _ = lifecycle::remove(&home, &profile, &current_exe()?);
                        anyhow::bail!(
                            "{e}; the deployment was removed again and no file was changed"
                        );
                    }
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        InstallCommand::Status { profile, json } => {
            let name = ProfileName::new(&profile.profile)?;
            let d = lifecycle::load(&home, &name, &exe)?;
            let mut st = status::status(&d);
            st.drift = tools::edit_states(&tools::executor(&opts), &d.paths.journal())?;
            if json {
                println!("{}", serde_json::to_string_pretty(&st)?);
            } else {
                print!("{}", st.table());
            }
            Ok(if st.ok() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        InstallCommand::Start(p) => {
            print_report(lifecycle::start(
                &home,
                &ProfileName::new(&p.profile)?,
                &exe,
            )?);
            Ok(ExitCode::SUCCESS)
        }
        InstallCommand::Stop(p) => {
            print_report(lifecycle::stop(
                &home,
                &ProfileName::new(&p.profile)?,
                &exe,
            )?);
            Ok(ExitCode::SUCCESS)
        }
        InstallCommand::Restart(p) => {
            print_report(lifecycle::restart(
                &home,
                &ProfileName::new(&p.profile)?,
                &exe,
            )?);
            Ok(ExitCode::SUCCESS)
        }
        InstallCommand::Remove(p) => {
            let name = ProfileName::new(&p.profile)?;
            // Tool configuration first, from the journal alone (the manifest may be corrupt and
            // the adapters gone): if a file cannot be restored, nothing else is removed either.
            tools::revert(
                &tools::executor(&opts),
                &headroom_deploy::ProfilePaths::new(&home, &name).journal(),
            )?;
            print_report(lifecycle::remove(&home, &name, &exe)?);
            Ok(ExitCode::SUCCESS)
        }
        InstallCommand::Agent(AgentCommand::Run(p)) => {
            let name = ProfileName::new(&p.profile)?;
            let mut d = lifecycle::load(&home, &name, &exe)?;
            // Exec the binary that is running now: it is the one the supervisor was told to run.
            d.exe = exe;
            Err(agent::run(&d))
        }
        InstallCommand::Agent(AgentCommand::Service(p)) => {
            let name = ProfileName::new(&p.profile)?;
            let mut d = lifecycle::load(&home, &name, &exe)?;
            d.exe = exe;
            headroom_deploy::windows_scm::run_service(d)?;
            Ok(ExitCode::SUCCESS)
        }
        InstallCommand::Agent(AgentCommand::Ensure(p)) => {
            let name = ProfileName::new(&p.profile)?;
            let mut d = lifecycle::load(&home, &name, &exe)?;
            d.exe = exe;
            let outcome = agent::ensure(&d)?;
            println!("headroom {}: {}", d.profile(), outcome.describe());
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn current_exe() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe().context("cannot find the headroom executable")?;
    Ok(exe.canonicalize().unwrap_or(exe))
}

fn print_report(report: lifecycle::Report) {
    for line in report.done {
        println!("{line}");
    }
    for w in report.warnings {
        eprintln!("headroom: warning: {w}");
    }
}
