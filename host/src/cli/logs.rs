//! `headroom logs`: a deployment's proxy log, wherever its supervisor keeps it.
use std::process::ExitCode;

use crate::logs::{self, Options, Since};

#[derive(Debug, clap::Args)]
pub struct LogsArgs {
    /// Deployment profile [default: `default`, or the only one installed].
    #[arg(long)]
    profile: Option<String>,
    /// Keep printing what is written next (Ctrl-C stops).
    #[arg(short, long)]
    follow: bool,
    /// Only the last N lines [default: all; 10 with --follow].
    #[arg(short = 'n', long = "lines", value_name = "N")]
    lines: Option<usize>,
    /// Only lines written since: 30s, 10m, 2h, 7d, or a UTC time (2026-12-02T18:00:00Z).
    #[arg(long, value_name = "T", value_parser = Since::parse)]
    since: Option<Since>,
}

pub fn run(args: LogsArgs) -> anyhow::Result<ExitCode> {
    let home = headroom_core::home_dir()?;
    let exe = crate::install::current_exe()?;
    let opts = Options {
        follow: args.follow,
        lines: args.lines,
        since: args.since,
    };
    logs::show(
        &home,
        args.profile.as_deref(),
        &exe,
        &opts,
        &mut std::io::stdout().lock(),
    )
}
