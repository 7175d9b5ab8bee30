//! `headroom wrap <tool>` / `headroom unwrap <tool>`
use std::process::ExitCode;

use anyhow::Context;

use crate::wrap;

#[derive(Debug, clap::Args)]
pub struct WrapArgs {
    /// claude, codex, copilot, aider, cursor or opencode.
    tool: String,
    #[arg(long, env = "HEADROOM_PORT", default_value_t = 8787)]
    port: u16,
    /// The tool's own arguments, verbatim (after `--`).
    #[arg(last = true)]
    args: Vec<String>,
}

#[derive(Debug, clap::Args)]
pub struct UnwrapArgs {
    tool: String,
}

pub fn run_wrap(a: WrapArgs) -> anyhow::Result<ExitCode> {
    let home = headroom_deploy::profile::home_dir()?;
    let routing = wrap::routing(&a.tool, a.port, &home)?;
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

pub fn run_unwrap(a: UnwrapArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!(
        "{} is not persistently wrapped: `wrap` routes a tool only while it runs (for persistent routing use `headroom install apply`/`remove`)",
        a.tool
    )
}
