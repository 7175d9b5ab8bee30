//! `headroom plugins …`
use std::process::ExitCode;

#[derive(Debug, clap::Subcommand)]
pub enum PluginsCommand {}

pub fn run(cmd: PluginsCommand) -> anyhow::Result<ExitCode> {
    match cmd {}
}
