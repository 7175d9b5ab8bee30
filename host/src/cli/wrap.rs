//! `headroom wrap <tool>` / `headroom unwrap <tool>`
use std::process::ExitCode;

#[cfg(unix)]
use anyhow::Context;

#[cfg(unix)]
use headroom_plugins::{AdapterContext, AdapterHost, Scope};

use crate::tools;
#[cfg(unix)]
use crate::wrap;

#[derive(Debug, clap::Args)]
pub struct WrapArgs {
    /// claude, codex, copilot, aider, cursor or opencode.
    tool: String,
    #[arg(long, env = "HEADROOM_PORT", default_value_t = 8787)]
    port: u16,
    /// Print how the tool would be routed (`bin B`, `env K=V`, `arg A` lines) and run nothing:
    /// what the Docker-native wrapper (docker/headroom) asks the image for.
    #[arg(long)]
    print_routing: bool,
    /// The tool's own arguments, verbatim (after `--`).
    #[arg(last = true)]
    args: Vec<String>,
}

#[derive(Debug, clap::Args)]
pub struct UnwrapArgs {
    tool: String,
}

#[cfg(not(unix))]
pub fn run_wrap(_a: WrapArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("headroom wrap is not available on this platform yet; use headroom install apply")
}

#[cfg(unix)]
pub fn run_wrap(a: WrapArgs) -> anyhow::Result<ExitCode> {
    let home = headroom_deploy::profile::home_dir()?;
    if a.tool == "openclaw" {
        return wrap_openclaw(&home, a.port);
    }
    let routing = wrap::routing(&a.tool, a.port, &home)?;
    if a.print_routing {
        println!("bin {}", routing.binary);
        for (k, v) in &routing.env {
            println!("env {k}={v}");
        }
        for arg in &routing.args {
            println!("arg {arg}");
        }
        return Ok(ExitCode::SUCCESS);
    }
    let path = wrap::find_on_path(routing.binary).with_context(|| {
        format!(
            "{} is not on PATH; install {} first",
            routing.binary, a.tool
        )
    })?;
    let exe = std::env::current_exe().context("locating the headroom executable")?;
    let proxy = wrap::ensure_proxy(&home, &exe, a.port)?;
    match &proxy {
        wrap::Proxy::Existing(how) => eprintln!("headroom: {how}"),
        wrap::Proxy::Ephemeral(_) => {
            eprintln!(
                "headroom: started a proxy on port {} for this {} session",
                a.port, a.tool
            )
        }
    }
    let status = wrap::run_tool(&path, &routing, &a.args);
    wrap::stop(proxy);
    Ok(ExitCode::from(wrap::exit_code(status?)))
}

/// OpenClaw reads its routing from openclaw.json only, so wrapping it is persistent: the
/// adapter's edits are applied (journaled) against a proxy that must outlive this command.
#[cfg(unix)]
fn wrap_openclaw(home: &std::path::Path, port: u16) -> anyhow::Result<ExitCode> {
    let exe = std::env::current_exe().context("locating the headroom executable")?;
    match wrap::ensure_persistent_proxy(home, &exe, port)? {
        Some(how) => eprintln!("headroom: {how}"),
        None => anyhow::bail!(
            "no headroom proxy on port {port}; OpenClaw's routing is persistent, so start one that stays up: `headroom install apply --port {port}`"
        ),
    }
    let opts = tools::host_options()?;
    let host = AdapterHost::load(opts.clone());
    let ctx = AdapterContext {
        port,
        scope: Scope::Provider,
        profile: "wrap".into(),
        targets: vec!["openclaw".into()],
    };
    let plan = host.plan_apply("openclaw", &ctx)?;
    for note in &plan.plan.notes {
        println!("note: {note}");
    }
    let changes = tools::executor(&opts).apply(
        std::slice::from_ref(&plan),
        &tools::plugin_journal(&opts, "openclaw"),
    )?;
    for c in changes.iter().filter(|c| !c.is_noop()) {
        println!("routed {} through http://127.0.0.1:{port}", c.logical);
    }
    Ok(ExitCode::SUCCESS)
}

pub fn run_unwrap(a: UnwrapArgs) -> anyhow::Result<ExitCode> {
    if a.tool == "openclaw" {
        // Only the configuration: a proxy is never stopped here (it may serve other tools).
        let opts = tools::host_options()?;
        tools::revert(
            &tools::executor(&opts),
            &tools::plugin_journal(&opts, "openclaw"),
        )?;
        return Ok(ExitCode::SUCCESS);
    }
    anyhow::bail!(
        "{} is not persistently wrapped: `wrap` routes a tool only while it runs (for persistent routing use `headroom install apply`/`remove`)",
        a.tool
    )
}
