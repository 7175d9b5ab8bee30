//! `headroom`: the command-line entry point. Each subcommand lives in `cli/<name>.rs` and drives
//! one of the library crates (`headroom-proxy`, `headroom-deploy`, `headroom-plugins`,
//! `headroom-edits`).

mod cli;
mod doctor;
mod install;
mod logs;
mod plugins;
mod routing;
mod tools;
mod uninstall;
// Process groups and signal forwarding are POSIX; Windows gets a clear refusal (cli/wrap.rs).
#[cfg(unix)]
mod wrap;

fn main() -> std::process::ExitCode {
    cli::main()
}
