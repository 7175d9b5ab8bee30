//! `headroom wrap <tool>` / `headroom unwrap <tool>`
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct WrapArgs {}

#[derive(Debug, clap::Args)]
pub struct UnwrapArgs {}

pub fn run_wrap(_args: WrapArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("wrap: not built yet")
}

pub fn run_unwrap(_args: UnwrapArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("unwrap: not built yet")
}
