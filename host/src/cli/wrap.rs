//! `headroom wrap <tool>` / `headroom unwrap <tool>`
use std::process::ExitCode;

#[cfg(unix)]
use anyhow::Context;

#[cfg(unix)]
use headroom_plugins::AdapterHost;

#[cfg(unix)]
use crate::{tools, wrap};

#[derive(Debug, clap::Args)]
pub struct WrapArgs {
    /// A tool an adapter knows: a built-in adapter's (the values below), or one an installed
    /// adapter adds (`headroom plugins list`).
    #[arg(value_parser = super::values::tool())]
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
    /// The tool `wrap` routed persistently (openclaw, or one a third-party adapter persists).
    #[arg(value_parser = super::values::tool())]
    tool: String,
}

#[cfg(not(unix))]
pub fn run_wrap(_a: WrapArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("headroom wrap is not available on this platform yet; use headroom install apply")
}

#[cfg(unix)]
pub fn run_wrap(a: WrapArgs) -> anyhow::Result<ExitCode> {
    let opts = tools::host_options()?;
    let host = AdapterHost::load(opts.clone());
    let routing = match wrap::plan(&host, &a.tool, a.port, &opts.home)? {
        wrap::Plan::Session(r) => r,
        wrap::Plan::Persistent { adapter } => {
            let exe = std::env::current_exe().context("locating the headroom executable")?;
            let done = wrap::route_persistently(&opts, &host, &exe, &a.tool, &adapter, a.port)?;
            eprintln!("headroom: {}", done.proxy);
            for note in &done.notes {
                println!("note: {note}");
            }
            for file in &done.routed {
                println!("routed {file} through http://127.0.0.1:{}", a.port);
            }
            return Ok(ExitCode::SUCCESS);
        }
    };
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
    let path = headroom_core::which::find(routing.binary).with_context(|| {
        format!(
            "{} is not on PATH; install {} first",
            routing.binary, a.tool
        )
    })?;
    let exe = std::env::current_exe().context("locating the headroom executable")?;
    let proxy = wrap::ensure_proxy(&opts, &exe, a.port)?;
    match &proxy {
        wrap::Proxy::Existing(how) => eprintln!("headroom: {how}"),
        wrap::Proxy::Ephemeral(_) => {
            eprintln!(
                "headroom: started a proxy on port {} for this {} session",
                a.port, a.tool
            )
        }
    }
    if let Some(w) = wrap::session_warning(&a.tool) {
        eprintln!("headroom: note: {w}");
    }
    let status = wrap::run_tool(&path, &routing, &a.args);
    wrap::stop(proxy);
    Ok(ExitCode::from(wrap::exit_code(status?)))
}

#[cfg(not(unix))]
pub fn run_unwrap(_a: UnwrapArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!(
        "headroom unwrap is not available on this platform yet; use headroom install remove"
    )
}

#[cfg(unix)]
pub fn run_unwrap(a: UnwrapArgs) -> anyhow::Result<ExitCode> {
    let opts = tools::host_options()?;
    let host = AdapterHost::load(opts.clone());
    for line in wrap::unroute(&opts, &host, &a.tool)? {
        println!("{line}");
    }
    Ok(ExitCode::SUCCESS)
}
