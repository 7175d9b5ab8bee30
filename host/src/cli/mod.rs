//! Command-line parsing and dispatch. Errors leave here as one line: `headroom: error: …`.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod completions;
mod dashboard;
mod doctor;
mod health;
mod install;
mod logs;
mod plugins;
mod proxy;
mod stats;
mod uninstall;
mod values;
mod wrap;

#[derive(Debug, Parser)]
#[command(
    name = "headroom",
    version,
    about = "Local LLM proxy for AI coding tools, with durable installs and sandboxed adapters"
)]
struct Cli {
    /// More log output on stderr (repeat for more).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the proxy in the foreground.
    Proxy(proxy::ProxyArgs),
    /// Persistent deployments: apply, status, start, stop, restart, remove.
    #[command(subcommand)]
    Install(install::InstallCommand),
    /// Provider adapters (WebAssembly plugins): list, inspect, install with consent, grant,
    /// revoke, enable, disable, remove, apply, revert.
    #[command(subcommand)]
    Plugins(plugins::PluginsCommand),
    /// Exit 0 when the proxy on the port is ready (for container health checks).
    Health(health::HealthArgs),
    /// Run a tool routed through headroom (reusing a persistent deployment when there is one).
    Wrap(wrap::WrapArgs),
    /// Undo `wrap` for tools whose routing is persisted in their config (openclaw).
    Unwrap(wrap::UnwrapArgs),
    /// Check a deployment and that every tool it selects really goes through it; each problem
    /// with the command that fixes it.
    Doctor(doctor::DoctorArgs),
    /// What the proxy saved: requests, tokens, money, errors, latency (from its usage history).
    Stats(stats::StatsArgs),
    /// Open the proxy's savings dashboard in the browser (or print its URL).
    Dashboard(dashboard::DashboardArgs),
    /// Show a deployment's proxy log wherever its supervisor keeps it (journald, the container
    /// engine, or headroom's rotated log file), with the same flags everywhere.
    Logs(logs::LogsArgs),
    /// Print the shell completion script for bash, zsh, fish, powershell or elvish
    /// (docs/completions.md says where to put it).
    Completions(completions::CompletionsArgs),
    /// Write the man pages (headroom.1 and one per subcommand), or print headroom.1.
    Man(completions::ManArgs),
    /// Remove everything headroom set up: every deployment, every tool edit (reverted byte for
    /// byte), installed plugins, and `~/.headroom` itself. Lists it first.
    Uninstall(uninstall::UninstallArgs),
}

pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(e),
    };
    // `plugins list -v` means "show the capability detail"; log output starts at -vv there.
    let detail = matches!(cli.command, Command::Plugins(ref c) if c.takes_verbose());
    let verbose = if detail {
        cli.verbose.saturating_sub(1)
    } else {
        cli.verbose
    };
    let log = match &cli.command {
        Command::Proxy(args) => match args.log_target() {
            Ok(log) => Some(log),
            Err(err) => {
                eprintln!("headroom: error: {}", one_line(&err));
                return ExitCode::FAILURE;
            }
        },
        _ => None,
    };
    init_tracing(verbose, log);
    let result = match cli.command {
        Command::Proxy(args) => proxy::run(args),
        Command::Install(cmd) => install::run(cmd),
        Command::Plugins(cmd) => plugins::run(cmd, cli.verbose),
        Command::Health(args) => health::run(args),
        Command::Wrap(args) => wrap::run_wrap(args),
        Command::Unwrap(args) => wrap::run_unwrap(args),
        Command::Doctor(args) => doctor::run(args),
        Command::Stats(args) => stats::run(args),
        Command::Dashboard(args) => dashboard::run(args),
        Command::Logs(args) => logs::run(args),
        Command::Completions(args) => completions::completions(args),
        Command::Man(args) => completions::man(args),
        Command::Uninstall(args) => uninstall::run(args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("headroom: error: {}", one_line(&err));
            ExitCode::FAILURE
        }
    }
}

/// clap's own report (help, version, usage errors), except that a value its parser refused
/// (`--compress bogus`, `HEADROOM_COMPRESS=bogus`, `--preset x`) is one line: clap's first line
/// names the flag, the value and the parser's reason, and the usage hint after it adds nothing.
fn usage_error(e: clap::Error) -> ExitCode {
    match value_error_line(&e) {
        Some(line) => {
            eprintln!("headroom: {line}");
            ExitCode::from(2)
        }
        None => e.exit(),
    }
}

/// `error: invalid value 'bogus' for '--compress <MODE>': …` for a refused value, else `None`.
fn value_error_line(e: &clap::Error) -> Option<String> {
    if e.kind() != clap::error::ErrorKind::ValueValidation {
        return None;
    }
    let text = e.to_string();
    let first = text.lines().next()?;
    Some(
        first
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect(),
    )
}

/// A path flag's value made absolute (against the current directory), so a supervised or
/// re-launched process means the same directory; empty is refused.
fn absolute_path(text: &str) -> Result<std::path::PathBuf, String> {
    if text.is_empty() {
        return Err("expected a directory path".to_owned());
    }
    std::path::absolute(text).map_err(|e| e.to_string())
}

/// How a yes/no question was answered.
enum Answer {
    Yes,
    No,
    /// No terminal to ask on (and no `--yes`): the caller refuses and names the flag.
    NoTerminal,
}

/// `--yes`, else what is typed on the terminal after `question [y/N]`; never a guess.
fn ask(question: &str, yes: bool) -> std::io::Result<Answer> {
    use std::io::{BufRead, IsTerminal, Write};
    if yes {
        return Ok(Answer::Yes);
    }
    if !std::io::stdin().is_terminal() {
        return Ok(Answer::NoTerminal);
    }
    eprint!("{question} [y/N] ");
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(match answer.trim().to_ascii_lowercase().as_str() {
        "y" | "yes" => Answer::Yes,
        _ => Answer::No,
    })
}

/// The whole context chain of an error on one line, control characters removed, so a hostile
/// file name or plugin message cannot draw on the terminal.
fn one_line(err: &anyhow::Error) -> String {
    format!("{err:#}")
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// Log output: stderr, or for `headroom proxy` (`log` is `Some`) its `--log-file` when given.
/// The proxy logs at info by default (its start line, draining, housekeeping; never a request's
/// content), so a healthy service's log is never empty; other commands only warn.
fn init_tracing(verbose: u8, log: Option<Option<crate::logs::RotatingFile>>) {
    let default = match verbose {
        0 if log.is_some() => "warn,headroom=info,headroom_proxy=info,headroom_usage=info",
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("HEADROOM_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false);
    let _ = match log.flatten() {
        Some(file) => builder.with_writer(file).with_ansi(false).try_init(),
        None => builder
            .with_writer(std::io::stderr)
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .try_init(),
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(args: &[&str]) -> String {
        let e = Cli::try_parse_from(args).unwrap_err();
        value_error_line(&e).unwrap_or_else(|| panic!("not a value error: {e}"))
    }

    #[test]
    fn a_bad_compression_mode_is_one_line_naming_the_modes() {
        for args in [
            &["headroom", "proxy", "--compress", "bogus"][..],
            &["headroom", "install", "apply", "--compress=max"],
        ] {
            let line = refused(args);
            assert!(
                line.starts_with("error: invalid value '") && line.contains("'--compress <MODE>'"),
                "{line}"
            );
            assert!(line.contains("(use off, lossless or full)"), "{line}");
        }
        for mode in ["off", "lossless", "full"] {
            assert!(Cli::try_parse_from(["headroom", "proxy", "--compress", mode]).is_ok());
        }
        // Other usage errors keep clap's own report (with its hints).
        let e = Cli::try_parse_from(["headroom", "proxy", "--bogus"]).unwrap_err();
        assert!(value_error_line(&e).is_none());
    }

    #[test]
    fn the_retrieve_dir_is_made_absolute_and_never_empty() {
        assert!(absolute_path("").is_err());
        let p = absolute_path("r").unwrap();
        assert!(p.is_absolute() && p.ends_with("r"), "{}", p.display());
        assert!(
            refused(&["headroom", "proxy", "--retrieve-dir", ""])
                .contains("expected a directory path")
        );
    }
}
