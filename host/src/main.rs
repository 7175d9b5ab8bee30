//! `headroom`: the command-line entry point. Each subcommand lives in `cli/<name>.rs` and drives
//! one of the library crates (`headroom-proxy`, `headroom-deploy`, `headroom-plugins`,
//! `headroom-edits`).

mod cli;
mod tools;
mod wrap;

fn main() -> std::process::ExitCode {
    cli::main()
}
