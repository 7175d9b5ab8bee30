//! Adapter runtime benchmark: cold (compile) vs warm (cached) adapter calls through the CLI, and
//! the binary's size. Prints numbers; asserts nothing.
//!
//!   cargo test --release -p headroom --test plugins_bench -- --ignored --nocapture

mod support;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use support::{headroom, median};

fn run(home: &Path, args: &[&str]) -> Duration {
    let start = Instant::now();
    let out = Command::new(headroom())
        .args(args)
        .env("HOME", home)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    start.elapsed()
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

#[test]
#[ignore = "benchmark: run with --ignored --nocapture (release build recommended)"]
fn adapter_calls_cold_and_warm() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path();
    std::fs::create_dir_all(home.join(".claude")).unwrap();
    std::fs::write(
        home.join(".claude/settings.json"),
        "{\"model\": \"opus\"}\n",
    )
    .unwrap();
    let cache = home.join(".headroom/cache");

    let mut cold_list = Vec::new();
    let mut cold_apply = Vec::new();
    for _ in 0..3 {
        let _ = std::fs::remove_dir_all(&cache);
        cold_list.push(run(home, &["plugins", "list"]));
        let _ = std::fs::remove_dir_all(&cache);
        cold_apply.push(run(home, &["plugins", "apply", "claude", "--dry-run"]));
    }
    let warm_list: Vec<_> = (0..10).map(|_| run(home, &["plugins", "list"])).collect();
    let warm_apply: Vec<_> = (0..10)
        .map(|_| run(home, &["plugins", "apply", "claude", "--dry-run"]))
        .collect();
    let version: Vec<_> = (0..10).map(|_| run(home, &["--version"])).collect();
    let size = std::fs::metadata(headroom()).unwrap().len();

    println!("\nadapter runtime (whole CLI processes, median):");
    println!(
        "  headroom --version                       {}",
        ms(median(version))
    );
    println!(
        "  plugins list (detect), cold: compile      {}",
        ms(median(cold_list))
    );
    println!(
        "  plugins list (detect), warm: cached       {}",
        ms(median(warm_list))
    );
    println!(
        "  plugins apply claude --dry-run, cold      {}",
        ms(median(cold_apply))
    );
    println!(
        "  plugins apply claude --dry-run, warm      {}",
        ms(median(warm_apply))
    );
    println!(
        "  binary size                               {:.1} MiB",
        size as f64 / (1 << 20) as f64
    );
}
