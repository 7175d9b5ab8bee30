//! Benchmarks, printed and never asserted (noisy shared machines):
//! `cargo test -p headroom --test install_bench -- --ignored --nocapture`.
//! `--version` startup, `apply --dry-run`, and for each preset whose supervisor is up: `apply`
//! (including the wait for `/readyz`), `status` and `remove`.

mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use support::*;

fn time(n: usize, mut f: impl FnMut()) -> Duration {
    median(
        (0..n)
            .map(|_| {
                let t = Instant::now();
                f();
                t.elapsed()
            })
            .collect(),
    )
}

#[test]
#[ignore = "benchmark: run with --ignored --nocapture"]
fn bench_install_commands() {
    let home = Home::new();
    let v = time(20, || {
        assert!(
            Command::new(headroom())
                .arg("--version")
                .output()
                .unwrap()
                .status
                .success()
        )
    });
    println!("BENCH headroom --version: {v:?} (median of 20)");
    let d = time(10, || {
        home.ok(&[
            "install",
            "apply",
            "--dry-run",
            "--providers",
            "none",
            "--port",
            "18001",
        ]);
    });
    println!("BENCH install apply --dry-run (service): {d:?} (median of 10)");

    if let Some(why) = proxy_unavailable() {
        println!("BENCH apply/status/remove skipped: {why}");
        return;
    }
    for preset in ["persistent-service", "persistent-task"] {
        let _lock = lock_supervisor(if preset == "persistent-task" {
            "cron"
        } else {
            "systemd-user"
        });
        let port = free_port().to_string();
        let profile = format!("bench-{}", std::process::id());
        let t = Instant::now();
        let out = home.run(&apply_args(&profile, &port, &["--preset", preset]));
        let apply = t.elapsed();
        if !out.status.success() {
            println!(
                "BENCH {preset}: skipped ({})",
                String::from_utf8_lossy(&out.stderr).trim()
            );
            continue;
        }
        let status = time(5, || {
            home.run(&["install", "status", "--profile", &profile]);
        });
        let t = Instant::now();
        home.ok(&["install", "remove", "--profile", &profile]);
        let remove = t.elapsed();
        println!(
            "BENCH {preset}: apply {apply:?} (incl. the wait for /readyz), status {status:?}, remove {remove:?}"
        );
    }
}
