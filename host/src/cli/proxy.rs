//! `headroom proxy`
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct ProxyArgs {}

pub fn run(_args: ProxyArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("proxy: not built yet")
}
