//! `headroom doctor`: print the checks of [`crate::doctor`], one verdict line each.
use std::process::ExitCode;

use crate::doctor::{self, Report};

#[derive(Debug, clap::Args)]
pub struct DoctorArgs {
    /// Deployment profile name.
    #[arg(long, default_value = "default")]
    profile: String,
    /// Machine-readable output: { profile, checks: [{ id, status, message, fix }], tools }.
    #[arg(long)]
    json: bool,
}

pub fn run(args: DoctorArgs) -> anyhow::Result<ExitCode> {
    let opts = crate::tools::host_options()?;
    let exe = crate::install::current_exe()?;
    let report = doctor::run(&opts, &args.profile, &exe)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report.to_json())?);
    } else {
        print!("{}", text(&report));
    }
    Ok(if report.ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// `ok   message` / `FAIL message; fix: command`, control characters removed (adapter text).
fn text(r: &Report) -> String {
    let clean = |s: &str| -> String {
        s.chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect()
    };
    let mut out = String::new();
    for c in &r.checks {
        out.push_str(&format!("{:<4} {}", c.status.label(), clean(&c.message)));
        if let Some(fix) = &c.fix {
            out.push_str(&format!("; fix: {}", clean(fix)));
        }
        out.push('\n');
    }
    out
}
