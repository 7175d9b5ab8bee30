//! Command-line parsing and dispatch. Errors leave here as one line: `headroom: error: …`.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod health;
mod install;
mod plugins;
mod proxy;
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
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    // `plugins list -v` means "show the capability detail"; log output starts at -vv there.
    let detail = matches!(cli.command, Command::Plugins(ref c) if c.takes_verbose());
    init_tracing(if detail {
        cli.verbose.saturating_sub(1)
    } else {
        cli.verbose
    });
    let result = match cli.command {
        Command::Proxy(args) => proxy::run(args),
        Command::Install(cmd) => install::run(cmd),
        Command::Plugins(cmd) => plugins::run(cmd, cli.verbose),
        Command::Health(args) => health::run(args),
        Command::Wrap(args) => wrap::run_wrap(args),
        Command::Unwrap(args) => wrap::run_unwrap(args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("headroom: error: {}", one_line(&err));
            ExitCode::FAILURE
        }
    }
}

/// The whole context chain of an error on one line, control characters removed, so a hostile
/// file name or plugin message cannot draw on the terminal.
fn one_line(err: &anyhow::Error) -> String {
    format!("{err:#}")
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

fn init_tracing(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("HEADROOM_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .try_init();
}
