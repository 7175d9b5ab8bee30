//! `headroom install …`: persistent deployments (see `docs/install.md`).
use std::process::ExitCode;

use headroom_compress::Mode;

use headroom_deploy::manifest::{Preset, ProviderMode, Runtime, Scope};
use headroom_deploy::planner::ApplyRequest;
use headroom_deploy::profile::ProfileName;
use headroom_deploy::{agent, lifecycle};
use headroom_plugins::HostOptions;

use crate::{install, tools};

#[derive(Debug, clap::Subcommand)]
pub enum InstallCommand {
    /// Install (or replace) a persistent deployment and start it.
    Apply(Box<ApplyArgs>),
    /// Show supervisor state, PID, health, port owner; exits 1 when stopped or unhealthy.
    Status {
        #[command(flatten)]
        profile: ProfileArg,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Start a stopped deployment, wait until it is healthy, then point its tools at it again.
    Start(ProfileArg),
    /// Stop the proxy, keep it down, and put its tools' files back as they were before
    /// headroom (so none is left pointing at a dead port); `start` routes them again.
    Stop(ProfileArg),
    /// Stop (un-routing the tools), then start (routing them again), on this headroom binary.
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
    /// Route the tools again once the proxy is healthy, when a supervisor's failure hook
    /// un-routed them (`agent run` starts it beside the proxy).
    #[command(hide = true)]
    Reroute(ProfileArg),
    /// Put the tools back as they were before headroom because the supervisor gave up on the
    /// proxy (systemd's `OnFailure=` unit runs it).
    #[command(hide = true)]
    Unroute {
        #[command(flatten)]
        profile: ProfileArg,
        #[arg(long, value_enum)]
        reason: UnrouteReason,
    },
}

/// Who gave up on the proxy.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum UnrouteReason {
    /// systemd stopped restarting it (`StartLimitBurst` failures within `StartLimitIntervalSec`).
    SystemdStartLimit,
}

#[derive(Debug, clap::Args)]
pub struct ApplyArgs {
    #[arg(long, default_value = "default")]
    profile: String,
    /// persistent-service (systemd/launchd/Windows service), persistent-task (cron/scheduled
    /// task) or persistent-docker. Default: persistent-service.
    #[arg(long, value_parser = super::values::one_of::<Preset>())]
    preset: Option<Preset>,
    /// native or docker (`python` is accepted as native).
    #[arg(long, value_parser = super::values::one_of::<Runtime>())]
    runtime: Option<Runtime>,
    /// provider, user or system.
    #[arg(long, default_value = "user", value_parser = super::values::one_of::<Scope>())]
    scope: Scope,
    /// Which tools to configure: auto, all, manual (with --target) or none.
    #[arg(long, default_value = "auto", value_parser = super::values::one_of::<ProviderMode>())]
    providers: ProviderMode,
    /// A tool to configure with --providers manual (repeatable): one the built-in adapters
    /// configure, or one an installed adapter adds (`headroom plugins list`).
    #[arg(long = "target", value_name = "TOOL", value_parser = super::values::tool())]
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
    /// Extra environment of the proxy, KEY=VALUE (repeatable). The outbound-proxy and trust
    /// variables of this shell (HTTPS_PROXY, NO_PROXY, SSL_CERT_FILE, …) are recorded unless
    /// set here.
    #[arg(long = "env")]
    env: Vec<String>,
    /// Where the proxy forwards Anthropic requests (default: the gateway a tool used until
    /// now, else https://api.anthropic.com).
    #[arg(long, value_name = "URL")]
    anthropic_api_url: Option<String>,
    /// Where the proxy forwards OpenAI requests (default: the gateway a tool used until now,
    /// else https://api.openai.com).
    #[arg(long, value_name = "URL")]
    openai_api_url: Option<String>,
    /// The outbound HTTP(S) proxy of the upstream connections (beats HTTPS_PROXY & co.).
    #[arg(long, value_name = "URL")]
    upstream_proxy: Option<String>,
    /// A CA certificate (PEM, absolute path) trusted upstream besides the system's (repeatable).
    #[arg(long = "ca-file", value_name = "PEM")]
    ca_files: Vec<std::path::PathBuf>,
    /// The proxy's compression: off, lossless or full (see `headroom proxy --help`).
    #[arg(
        long,
        value_name = "MODE",
        default_value_t = Mode::Lossless,
        value_parser = super::values::one_of::<Mode>()
    )]
    compress: Mode,
    /// Print the plan (files, unit/crontab text, commands) and change nothing.
    #[arg(long)]
    dry_run: bool,
    /// With --dry-run: the plan as one JSON object.
    #[arg(long, requires = "dry_run")]
    json: bool,
    /// Never prompt (apply never prompts; accepted for scripts).
    #[arg(long, short = 'y')]
    yes: bool,
    /// Arguments after `--` are passed to `headroom proxy`.
    #[arg(last = true)]
    proxy_args: Vec<String>,
}

pub fn run(cmd: InstallCommand) -> anyhow::Result<ExitCode> {
    let opts = tools::host_options()?;
    let exe = install::current_exe()?;
    match cmd {
        InstallCommand::Apply(a) => {
            let a = *a;
            // Apply never prompts; --yes is accepted for scripts.
            let _ = a.yes;
            let profile_name = a.profile.clone();
            let a_json = a.json;
            let req = install::Request {
                deploy: ApplyRequest {
                    profile: a.profile,
                    preset: a.preset,
                    runtime: a.runtime,
                    scope: a.scope,
                    providers: a.providers,
                    targets: a.targets,
                    adapters: Default::default(),
                    port: a.port,
                    host: a.host,
                    backend: a.backend,
                    image: a.image,
                    env: a.env,
                    compress: a.compress,
                    proxy_args: a.proxy_args,
                    home: opts.home.clone(),
                    exe: exe.clone(),
                },
                dry_run: a.dry_run,
                anthropic_api_url: a.anthropic_api_url,
                openai_api_url: a.openai_api_url,
                upstream_proxy: a.upstream_proxy,
                ca_files: a.ca_files,
            };
            let outcome = install::apply(req, &opts)?;
            let unrouted = outcome.unrouted();
            match outcome {
                install::Outcome::DryRun { json, .. } if a_json => {
                    println!("{}", serde_json::to_string_pretty(&json)?);
                }
                install::Outcome::DryRun {
                    notes,
                    network,
                    text,
                    ..
                } => {
                    print_notes(&notes);
                    for line in network {
                        println!("{line}");
                    }
                    print!("{text}");
                    println!("\ndry run: nothing was changed");
                }
                install::Outcome::Applied {
                    notes,
                    network,
                    report,
                    files,
                    routes,
                } => {
                    print_report(report);
                    for line in network {
                        println!("{line}");
                    }
                    for f in files {
                        println!("{f}");
                    }
                    for r in routes {
                        println!("{}", r.line);
                    }
                    print_notes(&notes);
                }
            }
            if unrouted > 0 {
                // The files stay written (journaled; `remove` restores them): doctor says why.
                anyhow::bail!(
                    "{unrouted} selected tool(s) are not routed through this deployment (see above); `headroom doctor --profile {profile}` explains",
                    profile = profile_name
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        InstallCommand::Status { profile, json } => {
            let Some(st) = install::status(&opts, &profile.profile, &exe)? else {
                // Nothing installed under that name: still an answer, in JSON when asked.
                let none = install::not_installed(&opts, &profile.profile);
                if json {
                    println!("{}", serde_json::to_string_pretty(&none.json())?);
                    return Ok(ExitCode::FAILURE);
                }
                anyhow::bail!("{}", none.problems.join("; "));
            };
            if json {
                let mut v = serde_json::to_value(&st)?;
                v["installed"] = true.into();
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                print!("{}", st.table());
            }
            Ok(if st.ok() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        InstallCommand::Start(p) => report(install::start(&opts, &p.profile, &exe)),
        InstallCommand::Stop(p) => {
            let done = install::stop(&opts, &p.profile, &exe)?;
            finish(done.report, &done.unrestored, "the proxy was stopped")
        }
        InstallCommand::Restart(p) => {
            let done = install::restart(&opts, &p.profile, &exe)?;
            finish(done.report, &done.unrestored, "the proxy was restarted")
        }
        InstallCommand::Remove(p) => {
            let removed = install::remove(&opts, &p.profile, &exe)?;
            finish(
                removed.report,
                &removed.unrestored,
                "the deployment was removed",
            )
        }
        InstallCommand::Agent(AgentCommand::Run(p)) => {
            let d = agent_deployment(&opts, &p.profile, exe)?;
            install::reroute_in_background(&d);
            Err(agent::run(&d))
        }
        InstallCommand::Agent(AgentCommand::Service(p)) => {
            let d = agent_deployment(&opts, &p.profile, exe)?;
            headroom_deploy::windows_scm::run_service(d)?;
            Ok(ExitCode::SUCCESS)
        }
        InstallCommand::Agent(AgentCommand::Ensure(p)) => {
            let d = agent_deployment(&opts, &p.profile, exe)?;
            let line = install::agent_ensure(&opts, &d)?;
            // Stamped like the proxy's own lines: `headroom logs` merges and filters by time.
            println!(
                "{} headroom {}: {line}",
                headroom_core::time::now_rfc3339(),
                d.profile()
            );
            Ok(ExitCode::SUCCESS)
        }
        InstallCommand::Agent(AgentCommand::Reroute(p)) => {
            let d = agent_deployment(&opts, &p.profile, exe)?;
            let line = install::agent_reroute(&opts, &d)?;
            if !line.is_empty() {
                println!("headroom {}: {line}", d.profile());
            }
            Ok(ExitCode::SUCCESS)
        }
        InstallCommand::Agent(AgentCommand::Unroute { profile, reason }) => {
            let d = agent_deployment(&opts, &profile.profile, exe)?;
            let (supervisor, detail) = match reason {
                UnrouteReason::SystemdStartLimit => (
                    "systemd",
                    format!(
                        "it stopped restarting the proxy after {} failed starts within {} s",
                        headroom_deploy::supervisors::systemd::START_LIMIT_BURST,
                        headroom_deploy::supervisors::systemd::START_LIMIT_INTERVAL_SEC
                    ),
                ),
            };
            let line = install::agent_unroute(&opts, &d, supervisor, &detail)?;
            println!("headroom {}: {line}", d.profile());
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The deployment a supervisor asks to run, executed by the binary running now: it is the one
/// the supervisor was told to run.
fn agent_deployment(
    opts: &HostOptions,
    profile: &str,
    exe: std::path::PathBuf,
) -> anyhow::Result<headroom_deploy::Deployment> {
    let mut d = lifecycle::load(&opts.home, &ProfileName::new(profile)?, &exe)?;
    d.exe = exe;
    Ok(d)
}

fn print_notes(notes: &[String]) {
    for note in notes {
        println!("note: {note}");
    }
}

fn report(r: anyhow::Result<lifecycle::Report>) -> anyhow::Result<ExitCode> {
    print_report(r?);
    Ok(ExitCode::SUCCESS)
}

/// Print what a command did; tool files it could not restore are warnings and fail the
/// command (scripts must not take a half-restored machine for a clean run).
fn finish(
    report: lifecycle::Report,
    unrestored: &[String],
    what: &str,
) -> anyhow::Result<ExitCode> {
    print_report(report);
    if unrestored.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    for line in unrestored {
        eprintln!("headroom: warning: {line}");
    }
    anyhow::bail!(
        "{what}, but {} tool file(s) could not be restored (see above)",
        unrestored.len()
    )
}

fn print_report(report: lifecycle::Report) {
    for line in report.done {
        println!("{line}");
    }
    for w in report.warnings {
        eprintln!("headroom: warning: {w}");
    }
}
