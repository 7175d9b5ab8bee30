//! `headroom proxy --log-file` (size-bounded, rotated, never a request's content), `headroom
//! logs` on bad input, and the JSON answers of `install status` / `install apply --dry-run`
//! when nothing is installed. The supervised paths (cron, systemd --user) are tested in
//! `install_cron` and `install_systemd_user`.

mod support;

use std::io::Read;
use std::path::Path;
use std::time::Duration;

use support::*;

/// Every file in `dir` whose name starts with `stem`, with its bytes.
fn files_named(dir: &Path, stem: &str) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            name.starts_with(stem)
                .then(|| (name, std::fs::read(e.path()).unwrap()))
        })
        .collect();
    out.sort();
    out
}

pub fn assert_no_secret(files: &[(String, Vec<u8>)]) {
    for (name, bytes) in files {
        let text = String::from_utf8_lossy(bytes);
        for secret in ["SECRETKEY", "SECRETBEARER", "TOPSECRETBODY"] {
            assert!(!text.contains(secret), "{name} holds {secret}: {text}");
        }
    }
}

#[test]
fn the_proxy_log_file_starts_with_a_start_line_rotates_by_size_and_holds_no_request_content() {
    let home = Home::new();
    let dir = home.path().join("logs");
    let log = dir.join("headroom.log");
    // Upstream: a closed port, so every request fails and is logged as a warning.
    let dead = format!("http://127.0.0.1:{}", free_port());
    let log_s = log.to_string_lossy().into_owned();
    let mut cmd = proxy_command(
        home.path(),
        free_port(),
        &dead,
        &[
            "--log-file",
            &log_s,
            "--log-max-size",
            "2KB",
            "--log-keep",
            "2",
        ],
    );
    let port: u16 = cmd
        .get_args()
        .skip_while(|a| *a != "--port")
        .nth(1)
        .unwrap()
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    cmd.stderr(std::process::Stdio::piped());
    let mut proxy = ProxyChild::spawn(cmd, port);

    // Without -v: the start line, at info, names the version, address, upstreams, mode, history.
    let first = std::fs::read_to_string(&log).unwrap();
    let start = first.lines().next().unwrap_or_default().to_owned();
    assert!(start.contains(" INFO "), "{start}");
    for part in [
        format!(
            "headroom {} proxy listening on http://127.0.0.1:{port}",
            env!("CARGO_PKG_VERSION")
        ),
        " worker threads); ".to_owned(),
        format!("upstreams anthropic {dead}"),
        "compression lossless".to_owned(),
        "usage history ".to_owned(),
    ] {
        assert!(start.contains(&part), "{part:?} not in {start}");
    }
    // Stamped the way `headroom logs --since` reads it.
    assert!(
        start.starts_with("20") && start.as_bytes()[10] == b'T',
        "{start}"
    );

    for n in 0..60 {
        assert_eq!(post_secret(port, n), 502, "request {n}");
    }
    wait_until(Duration::from_secs(5), || {
        files_named(&dir, "headroom.log").len() == 3
    });
    let files = files_named(&dir, "headroom.log");
    let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["headroom.log", "headroom.log.1", "headroom.log.2"]);
    for (name, bytes) in &files {
        assert!(bytes.len() <= 2000, "{name}: {} bytes", bytes.len());
        // Whole lines, each stamped.
        let text = String::from_utf8_lossy(bytes);
        assert!(text.ends_with('\n'), "{name}");
        assert!(text.lines().all(|l| l.starts_with("20")), "{name}: {text}");
    }
    assert_no_secret(&files);
    // Warnings are there, and nothing went to stderr instead of the file.
    assert!(
        String::from_utf8_lossy(&files[0].1).contains(" WARN "),
        "{:?}",
        String::from_utf8_lossy(&files[0].1)
    );
    unsafe { libc::kill(proxy.child.id() as i32, libc::SIGTERM) };
    let out = proxy.child.stderr.take();
    let mut err = String::new();
    out.unwrap().read_to_string(&mut err).unwrap();
    assert_eq!(err, "", "stderr with --log-file");
}

#[test]
fn a_log_file_that_cannot_be_opened_or_a_bad_size_is_one_line() {
    let home = Home::new();
    std::fs::write(home.path().join("file"), "x").unwrap();
    let bad = home.path().join("file/headroom.log");
    let out = run_in(
        home.path(),
        &[
            "proxy",
            "--port",
            &free_port().to_string(),
            "--log-file",
            &bad.to_string_lossy(),
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = err_line(&out);
    assert!(
        err.starts_with("--log-file: cannot create directory"),
        "{err}"
    );
    let out = run_in(home.path(), &["proxy", "--log-max-size", "5 parsecs"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        err_line(&out).contains("unknown size unit"),
        "{}",
        err_line(&out)
    );
}

#[test]
fn logs_and_status_of_a_profile_that_does_not_exist_answer_in_one_line_or_json() {
    let home = Home::new();
    let out = run_in(home.path(), &["logs", "--profile", "nope"], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        err_line(&out),
        "no deployment named \"nope\"; nothing is installed (`headroom install apply`)"
    );
    let out = run_in(home.path(), &["logs", "--since", "yesterday"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        err_line(&out).contains("invalid --since"),
        "{}",
        err_line(&out)
    );

    // `install status --json` answers in JSON with nothing installed (exit 1).
    let out = run_in(home.path(), &["install", "status", "--json"], &[]);
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["installed"], false);
    assert_eq!(v["profile"], "default");
    assert_eq!(v["profiles"], serde_json::json!([]));
    let out = run_in(home.path(), &["install", "status"], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(err_line(&out).contains("no deployment named \"default\""));
    // Nothing was created by asking.
    assert!(!home.path().join(".headroom").exists());
}

#[test]
fn a_dry_run_answers_in_json_naming_the_stable_binary_and_the_log() {
    let home = Home::new();
    let port = free_port().to_string();
    let out = run_in(
        home.path(),
        &[
            "install",
            "apply",
            "--profile",
            "p",
            "--port",
            &port,
            "--preset",
            "persistent-task",
            "--providers",
            "none",
            "--dry-run",
            "--json",
        ],
        &[],
    );
    let text = ok(&out);
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["dry_run"], true);
    assert_eq!(v["preset"], "persistent-task");
    let home_s = home.path().to_string_lossy();
    assert_eq!(v["executable"], format!("{home_s}/.headroom/bin/headroom"));
    assert_eq!(v["logs"]["kind"], "files");
    assert_eq!(
        v["logs"]["log"],
        format!("{home_s}/.headroom/deploy/p/headroom.log")
    );
    let args: Vec<&str> = v["proxy_args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert!(args.windows(2).any(|w| w[0] == "--log-file"), "{args:?}");
    assert!(
        v["crontab_block"].as_str().unwrap().contains("startup.log"),
        "{v}"
    );
    assert!(!home.path().join(".headroom").exists());
    // --json is for the plan only.
    let out = run_in(home.path(), &["install", "apply", "--json"], &[]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn the_proxy_in_a_terminal_says_where_it_listens_on_stderr() {
    let home = Home::new();
    let port = free_port();
    let mut cmd = proxy_command(home.path(), port, "http://127.0.0.1:9", &[]);
    cmd.stderr(std::process::Stdio::piped());
    let mut proxy = ProxyChild::spawn(cmd, port);
    proxy.sigterm();
    let mut err = String::new();
    proxy
        .child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(
        err.contains(&format!("proxy listening on http://127.0.0.1:{port}")),
        "{err}"
    );
    assert!(err.contains("shutting down"), "{err}");
}
