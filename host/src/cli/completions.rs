//! `headroom completions <shell>` and `headroom man [--out DIR]`: shell completion scripts and
//! man pages generated from the clap definitions the parser itself uses, so neither can drift
//! from the commands (docs/completions.md says how to install them).
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::CommandFactory;

#[derive(Debug, clap::Args)]
pub struct CompletionsArgs {
    /// The shell to print the completion script for.
    #[arg(value_enum)]
    shell: clap_complete::Shell,
}

#[derive(Debug, clap::Args)]
pub struct ManArgs {
    /// Write headroom.1 and one page per subcommand (headroom-install.1,
    /// headroom-install-apply.1, …) into this directory, created if missing. Without it,
    /// headroom.1 is printed.
    #[arg(long, value_name = "DIR", value_hint = clap::ValueHint::DirPath)]
    out: Option<PathBuf>,
}

pub fn completions(args: CompletionsArgs) -> anyhow::Result<ExitCode> {
    let mut cmd = super::Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "headroom", &mut script);
    print(&script)
}

pub fn man(args: ManArgs) -> anyhow::Result<ExitCode> {
    let pages = pages(super::Cli::command())?;
    let Some(dir) = args.out else {
        return print(&pages[0].1);
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    for (name, text) in &pages {
        let path = dir.join(name);
        headroom_core::fs::write_atomic(&path, text, 0o644)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    println!(
        "wrote {} man pages to {} (headroom.1 and one per subcommand)",
        pages.len(),
        dir.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// Every man page as (file name, roff): `headroom.1` first, then one per visible subcommand,
/// named by its path (`headroom-install-apply.1`), depth first. Hidden commands (the Windows
/// service entry point, the supervisors' failure hooks) get none.
fn pages(cmd: clap::Command) -> anyhow::Result<Vec<(String, Vec<u8>)>> {
    fn walk(cmd: &clap::Command, out: &mut Vec<(String, Vec<u8>)>) -> anyhow::Result<()> {
        let man = clap_mangen::Man::new(cmd.clone());
        let mut text = Vec::new();
        man.render(&mut text).context("rendering a man page")?;
        out.push((man.get_filename(), text));
        for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
            walk(sub, out)?;
        }
        Ok(())
    }
    // Built once at the top so every subcommand knows its full name (`headroom-install-apply`);
    // `help` is clap's, not a page of its own.
    let mut cmd = cmd.disable_help_subcommand(true);
    cmd.build();
    let mut out = Vec::new();
    walk(&cmd, &mut out)?;
    Ok(out)
}

/// To stdout; a closed pipe (`| head`) is not an error worth a line.
fn print(bytes: &[u8]) -> anyhow::Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e).context("writing stdout"),
        _ => Ok(ExitCode::SUCCESS),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_page_per_visible_command_named_by_its_path() {
        let pages = pages(super::super::Cli::command()).unwrap();
        let names: Vec<&str> = pages.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names[0], "headroom.1");
        for page in [
            "headroom-install.1",
            "headroom-install-apply.1",
            "headroom-install-agent-ensure.1",
            "headroom-plugins-inspect.1",
            "headroom-completions.1",
            "headroom-man.1",
        ] {
            assert!(names.contains(&page), "{page} missing from {names:?}");
        }
        // Hidden entry points and clap's own `help` get no page.
        for page in [
            "headroom-install-agent-service.1",
            "headroom-install-agent-unroute.1",
            "headroom-help.1",
        ] {
            assert!(!names.contains(&page), "{page} in {names:?}");
        }
        let mut unique = names.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), names.len());
    }

    #[test]
    fn the_install_apply_page_lists_the_allowed_values() {
        let pages = pages(super::super::Cli::command()).unwrap();
        let (_, text) = pages
            .iter()
            .find(|(n, _)| n == "headroom-install-apply.1")
            .unwrap();
        let text = String::from_utf8_lossy(text);
        for v in [
            "persistent\\-task",
            "provider",
            "system",
            "lossless",
            "manual",
        ] {
            assert!(text.contains(v), "{v} not in the page");
        }
    }
}
