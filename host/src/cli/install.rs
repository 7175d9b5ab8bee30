//! `headroom install …`
use std::process::ExitCode;

#[derive(Debug, clap::Subcommand)]
pub enum InstallCommand {}

pub fn run(cmd: InstallCommand) -> anyhow::Result<ExitCode> {
    match cmd {}
}
