//! `headroom uninstall`: list what will be undone, ask (or take `--yes`), do it, print.

use std::process::ExitCode;

use anyhow::bail;

use crate::{install, tools, uninstall};

#[derive(Debug, clap::Args)]
pub struct UninstallArgs {
    /// Only list what would be removed and restored; change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Do it without asking (needed when there is no terminal to ask on).
    #[arg(long, short = 'y')]
    yes: bool,
    /// Keep the usage history (`~/.headroom/usage.db`, what `headroom stats` shows).
    #[arg(long)]
    keep_history: bool,
}

pub fn run(args: UninstallArgs) -> anyhow::Result<ExitCode> {
    let opts = tools::host_options()?;
    let plan = uninstall::plan(&opts, args.keep_history);
    if plan.is_empty() {
        println!(
            "nothing to uninstall: {} does not exist",
            opts.state_dir.root().display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    println!("headroom uninstall will:");
    for line in plan.lines() {
        println!("  {line}");
    }
    if args.dry_run {
        println!("dry run: nothing was changed");
        return Ok(ExitCode::SUCCESS);
    }
    confirm(args.yes)?;
    let exe = install::current_exe()?;
    let out = uninstall::run(&opts, &plan, &exe);
    for line in &out.done {
        println!("{line}");
    }
    for w in &out.warnings {
        eprintln!("headroom: warning: {w}");
    }
    if out.problems.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    eprintln!("headroom: could not undo:");
    for p in &out.problems {
        eprintln!("  {p}");
    }
    let kept = match out.kept.is_empty() {
        true => String::new(),
        false => format!(
            "; ~/.headroom keeps only what that needs: {}",
            out.kept.join(", ")
        ),
    };
    bail!(
        "uninstall did everything else, but {} thing(s) could not be undone (listed above); fix them and run `headroom uninstall` again{kept}",
        out.problems.len()
    )
}

/// `--yes`, or a yes typed on the terminal; no terminal and no `--yes` is a refusal.
fn confirm(yes: bool) -> anyhow::Result<()> {
    match super::ask("Proceed?", yes)? {
        super::Answer::Yes => Ok(()),
        super::Answer::NoTerminal => bail!(
            "not uninstalled: no terminal to ask on; run `headroom uninstall --yes` to proceed"
        ),
        super::Answer::No => bail!("not uninstalled; nothing was changed"),
    }
}
