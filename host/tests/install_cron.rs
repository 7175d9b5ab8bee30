//! `persistent-task` against REAL Debian cron (start it with `../shared/ci/cron-up.sh`). The
//! user's crontab is saved first and restored at the end. Skips with a reason when cron or a
//! serving `headroom proxy` is unavailable.

mod support;

use std::process::{Command, Stdio};
use std::time::Duration;

use support::*;

fn proxy_pid(home: &Home, profile: &str) -> Option<u32> {
    home.status_json(profile).1["supervisor_state"]["pid"]
        .as_u64()
        .map(|p| p as u32)
}

/// Run one schedule line's command exactly as cron does: `/bin/sh -c` with cron's sparse
/// environment (PATH=/usr/bin:/bin, no XDG_RUNTIME_DIR), `\%` unescaped.
fn run_like_cron(line: &str) {
    assert!(cron_line_succeeds(line), "{line}");
}

/// [`run_like_cron`], returning whether the command succeeded.
fn cron_line_succeeds(line: &str) -> bool {
    let cmd = line
        .trim_start_matches("@reboot ")
        .trim_start_matches("*/5 * * * * ")
        .replace("\\%", "%");
    Command::new("/bin/sh")
        .arg("-c")
        .arg(&cmd)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("SHELL", "/bin/sh")
        .status()
        .unwrap()
        .success()
}

#[test]
fn task_lifecycle_keeps_the_users_crontab_byte_for_byte() {
    let Some(_lock) = lock_cron() else { return };
    let _restore = RestoreCrontab(crontab_l());
    let users = "MAILTO=\"\"\n# the user's own   comment\t\n17 3 * * * /bin/true  # keep 100%\n";
    crontab_set(Some(users));

    let home = Home::new();
    let before = snapshot(home.path());
    let profile = format!("it.cron-{}", std::process::id());
    let _cleanup = home.remove_on_drop(&profile);
    let port = free_port().to_string();
    let out = home.ok(&apply_args(
        &profile,
        &port,
        &["--preset", "persistent-task"],
    ));
    assert!(out.contains("is up"), "{out}");

    let tab = crontab_l().unwrap();
    assert!(tab.starts_with(users), "{tab}");
    let block: Vec<&str> = tab[users.len()..].lines().collect();
    assert_eq!(block[0], format!("# >>> headroom {profile} >>>"));
    assert!(block[1].starts_with("@reboot "), "{tab}");
    assert!(block[2].starts_with("*/5 * * * * "), "{tab}");
    assert_eq!(block[3], format!("# <<< headroom {profile} <<<"));
    assert!(home.status_json(&profile).0);

    // kill -9, then the five-minute line (run as cron would) brings it back.
    let pid = proxy_pid(&home, &profile).expect("pid");
    kill9(pid);
    assert!(wait_until(Duration::from_secs(5), || !home
        .status_json(&profile)
        .0));
    run_like_cron(block[2]);
    assert!(
        home.status_json(&profile).0,
        "not healthy after the ensure line"
    );
    let pid2 = proxy_pid(&home, &profile).unwrap();
    assert_ne!(pid, pid2);
    let env = environ(pid2);
    assert_eq!(env["HEADROOM_DEPLOYMENT_SUPERVISOR"], "cron");
    assert_eq!(env["HEADROOM_DEPLOYMENT_PRESET"], "persistent-task");

    // Several concurrent ensures on a healthy proxy: all succeed, nobody kills it.
    let children: Vec<_> = (0..4)
        .map(|_| {
            home.cmd(&["install", "agent", "ensure", "--profile", &profile])
                .output()
        })
        .collect();
    for c in children {
        assert!(c.unwrap().status.success());
    }
    assert_eq!(proxy_pid(&home, &profile), Some(pid2));

    // Concurrent ensures on a dead proxy: exactly one proxy ends up serving.
    kill9(pid2);
    assert!(wait_until(Duration::from_secs(5), || !home
        .status_json(&profile)
        .0));
    let spawned: Vec<_> = (0..4)
        .map(|_| {
            home.cmd(&["install", "agent", "ensure", "--profile", &profile])
                .spawn()
                .unwrap()
        })
        .collect();
    for mut c in spawned {
        assert!(c.wait().unwrap().success());
    }
    assert!(wait_until(Duration::from_secs(10), || home
        .status_json(&profile)
        .0));
    let pid3 = proxy_pid(&home, &profile).unwrap();
    let proxies = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter(|e| {
            std::fs::read(e.path().join("cmdline")).is_ok_and(|c| {
                let c = String::from_utf8_lossy(&c);
                c.contains("\0proxy\0") && c.contains(&format!("\0{port}"))
            })
        })
        .count();
    assert_eq!(proxies, 1, "more than one proxy started");

    // A simulated reboot: processes die, cron starts afresh and runs @reboot.
    if let Some(ci) = shared_ci() {
        kill9(pid3);
        assert!(
            Command::new(ci.join("cron-reboot.sh"))
                .stdout(Stdio::null())
                .status()
                .unwrap()
                .success()
        );
        assert!(
            wait_until(Duration::from_secs(30), || home.status_json(&profile).0),
            "not healthy after @reboot"
        );
    } else {
        skip("simulated reboot step: ../shared/ci not found");
    }

    // stop pauses the schedule and stays down; start resumes it.
    let out = home.ok(&["install", "stop", "--profile", &profile]);
    assert!(out.contains("paused the cron schedule"), "{out}");
    assert_eq!(crontab_l().unwrap(), users);
    let (ok, st) = home.status_json(&profile);
    assert!(!ok);
    assert_eq!(st["port_owner"]["kind"], "free");
    home.ok(&["install", "start", "--profile", &profile]);
    assert!(home.status_json(&profile).0);
    let out = home.ok(&["install", "restart", "--profile", &profile]);
    assert!(out.contains("cron schedule"), "{out}");
    assert!(home.status_json(&profile).0);

    // remove: crontab and HOME byte-identical, proxy gone.
    home.ok(&["install", "remove", "--profile", &profile]);
    assert_eq!(crontab_l().unwrap(), users);
    assert_same_tree(&before, &snapshot(home.path()), "HOME after remove");
    assert_eq!(http_status(port.parse().unwrap(), "/livez"), None);
}

#[test]
fn system_scope_task_uses_cron_d_and_leaves_etc_identical() {
    let Some(_lock) = lock_cron() else { return };
    if !Command::new("id")
        .arg("-u")
        .output()
        .unwrap()
        .stdout
        .starts_with(b"0\n")
    {
        return skip("system scope needs root");
    }
    let home = Home::new();
    let etc_before = snapshot(std::path::Path::new("/etc/cron.d"));
    let home_before = snapshot(home.path());
    let tab_before = crontab_l();
    // A dot in the profile: cron ignores /etc/cron.d files with dots, so the file name avoids it.
    let profile = format!("it.sys-{}", std::process::id());
    let _cleanup = home.remove_on_drop(&profile);
    let port = free_port().to_string();
    home.ok(&apply_args(
        &profile,
        &port,
        &["--scope", "system", "--preset", "persistent-task"],
    ));
    let path = format!("/etc/cron.d/headroom-{}", profile.replace('.', "_"));
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[1].starts_with("@reboot root "), "{text}");
    assert!(lines[2].starts_with("*/5 * * * * root "), "{text}");
    assert_eq!(
        crontab_l(),
        tab_before,
        "system scope must not touch the user crontab"
    );
    assert!(home.status_json(&profile).0);

    // A simulated reboot: kill it; cron re-reads /etc/cron.d and runs @reboot.
    let pid = proxy_pid(&home, &profile).unwrap();
    kill9(pid);
    if let Some(ci) = shared_ci() {
        assert!(
            Command::new(ci.join("cron-reboot.sh"))
                .stdout(Stdio::null())
                .status()
                .unwrap()
                .success()
        );
        assert!(
            wait_until(Duration::from_secs(30), || home.status_json(&profile).0),
            "not healthy after @reboot"
        );
    } else {
        run_like_cron(lines[2].replacen(" root ", " ", 1).as_str());
    }

    home.ok(&["install", "remove", "--profile", &profile]);
    assert_same_tree(
        &etc_before,
        &snapshot(std::path::Path::new("/etc/cron.d")),
        "/etc/cron.d after remove",
    );
    assert_same_tree(&home_before, &snapshot(home.path()), "HOME after remove");
}

/// Needs only cron, not a serving proxy: the failed start is rolled back and the user's
/// crontab is byte-identical.
#[test]
fn a_proxy_that_cannot_start_leaves_the_crontab_untouched() {
    if !cron_running()
        || !Command::new("sh")
            .args(["-c", "command -v crontab"])
            .output()
            .unwrap()
            .status
            .success()
    {
        return skip("cron is not running (run ../shared/ci/cron-up.sh)");
    }
    let _lock = lock_supervisor("cron");
    let _restore = RestoreCrontab(crontab_l());
    let users = "# mine\n@daily /bin/true\n";
    crontab_set(Some(users));
    let home = Home::new();
    let before = snapshot(home.path());
    let port = free_port().to_string();
    let err = home.fails(&[
        "install",
        "apply",
        "--preset",
        "persistent-task",
        "--providers",
        "none",
        "--port",
        &port,
        "--",
        "--no-such-proxy-flag",
    ]);
    assert!(err.contains("rolled back"), "{err}");
    assert_eq!(crontab_l().as_deref(), Some(users));
    assert_same_tree(
        &before,
        &snapshot(home.path()),
        "HOME after a rolled-back apply",
    );
}

#[test]
fn a_task_with_a_corrupt_manifest_is_still_removed_completely() {
    let Some(_lock) = lock_cron() else { return };
    let _restore = RestoreCrontab(crontab_l());
    let users = "# mine\n";
    crontab_set(Some(users));
    let home = Home::new();
    let before = snapshot(home.path());
    let profile = format!("it-corrupt-{}", std::process::id());
    let _cleanup = home.remove_on_drop(&profile);
    let port = free_port().to_string();
    home.ok(&apply_args(
        &profile,
        &port,
        &["--preset", "persistent-task"],
    ));
    let manifest = home
        .path()
        .join(format!(".headroom/deploy/{profile}/manifest.json"));
    std::fs::write(&manifest, "[]").unwrap();
    let out = home.run(&["install", "remove", "--profile", &profile]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(crontab_l().as_deref(), Some(users));
    assert!(
        wait_until(Duration::from_secs(5), || http_status(
            port.parse().unwrap(),
            "/livez"
        )
        .is_none()),
        "the proxy outlived remove"
    );
    assert_same_tree(&before, &snapshot(home.path()), "HOME after remove");
}

#[test]
fn three_failed_ensures_unroute_the_tools_and_the_next_success_routes_them_again() {
    let Some(_lock) = lock_cron() else { return };
    let _restore = RestoreCrontab(crontab_l());
    let users = "# mine\n";
    crontab_set(Some(users));
    let home = Home::new();
    let rc = home.path().join(".bashrc");
    let original = "# ~/.bashrc — ünïcode\n\texport EDITOR=vim\nalias ll='ls -l'";
    std::fs::write(&rc, original).unwrap();
    let before = user_files(home.path());
    let profile = format!("it-loop-{}", std::process::id());
    let _cleanup = home.remove_on_drop(&profile);
    let port = free_port();
    let port_s = port.to_string();
    home.ok(&install_apply(
        &profile,
        &port_s,
        &[
            "--preset",
            "persistent-task",
            "--providers",
            "manual",
            "--target",
            "claude",
            "--target",
            "codex",
        ],
    ));
    let routed = std::fs::read(&rc).unwrap();
    assert_ne!(routed, original.as_bytes());
    let tab = crontab_l().unwrap();
    let line = tab
        .lines()
        .find(|l| l.starts_with("*/5 * * * * "))
        .unwrap()
        .to_owned();
    let log = home
        .path()
        .join(format!(".headroom/deploy/{profile}/startup.log"));

    // The proxy dies and another program takes its port: each ensure fails.
    kill9(proxy_pid(&home, &profile).expect("pid"));
    let squatter = wait_for_bind(port);
    for run in 1..=2 {
        assert!(!cron_line_succeeds(&line), "ensure {run} succeeded");
        assert_eq!(
            std::fs::read(&rc).unwrap(),
            routed,
            "un-routed after {run} failures"
        );
        assert_eq!(home.status_json(&profile).1["routing"]["routed"], true);
    }
    assert!(!cron_line_succeeds(&line));
    assert_same_tree(
        &before,
        &user_files(home.path()),
        "HOME after 3 failed ensures",
    );
    let (ok, st) = home.status_json(&profile);
    assert!(!ok);
    assert_eq!(st["routing"]["reason"], "proxy-failing", "{st}");
    assert_eq!(st["routing"]["supervisor"], "cron", "{st}");
    let error = st["routing"]["error"].as_str().unwrap();
    assert!(
        error.starts_with("3 failed `agent ensure` runs in a row: ")
            && error.contains(&format!("port {port} is held by another program")),
        "{error}"
    );
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(
        logged.contains("un-routed the tools after 3 failed runs in a row"),
        "{logged}"
    );

    // The port is free again: the next ensure starts the proxy and routes the tools back.
    drop(squatter);
    run_like_cron(&line);
    assert_eq!(std::fs::read(&rc).unwrap(), routed);
    let (ok, st) = home.status_json(&profile);
    assert!(ok, "{st}");
    assert_eq!(st["routing"]["routed"], true);

    // Stopped by the user: ensure neither starts the proxy nor routes the tools.
    home.ok(&["install", "stop", "--profile", &profile]);
    assert_same_tree(&before, &user_files(home.path()), "HOME after stop");
    run_like_cron(&line);
    assert_eq!(
        http_status(port, "/livez"),
        None,
        "ensure started a stopped deployment"
    );
    assert_same_tree(
        &before,
        &user_files(home.path()),
        "HOME after ensure on a stopped deployment",
    );
    assert_eq!(home.status_json(&profile).1["routing"]["reason"], "stopped");

    home.ok(&["install", "remove", "--profile", &profile]);
    assert_eq!(crontab_l().as_deref(), Some(users));
    assert_same_tree(&before, &user_files(home.path()), "HOME after remove");
}

/// Hold `port` as soon as it is free.
fn wait_for_bind(port: u16) -> std::net::TcpListener {
    let mut held = None;
    assert!(wait_until(Duration::from_secs(5), || {
        held = std::net::TcpListener::bind(("127.0.0.1", port)).ok();
        held.is_some()
    }));
    held.unwrap()
}

/// `/proc/PID/exe` of the proxy.
fn exe_of(pid: u32) -> String {
    std::fs::read_link(format!("/proc/{pid}/exe"))
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

#[test]
fn a_task_logs_to_its_own_file_survives_its_deleted_binary_and_upgrades_on_restart() {
    let Some(_lock) = lock_cron() else { return };
    let _restore = RestoreCrontab(crontab_l());
    let home = Home::new();
    // `apply` runs from a downloaded copy that is deleted afterwards.
    let download = home.path().join("download dir");
    std::fs::create_dir_all(&download).unwrap();
    let src = download.join("headroom");
    std::fs::copy(headroom(), &src).unwrap();
    let profile = format!("it.cronlog-{}", std::process::id());
    let _cleanup = home.remove_on_drop(&profile);
    let port = free_port();
    let port_s = port.to_string();
    let dead = format!("http://127.0.0.1:{}", free_port());
    let apply = apply_args(
        &profile,
        &port_s,
        &[
            "--preset",
            "persistent-task",
            "--",
            "--anthropic-api-url",
            &dead,
        ],
    );
    let out = Command::new(&src)
        .args(&apply)
        .env("HOME", home.path())
        .env_remove("HEADROOM_PORT")
        .output()
        .unwrap();
    let text = ok(&out);
    let stable = home.path().join(".headroom/bin/headroom");
    assert!(
        text.contains(&format!("copied {} to {}", src.display(), stable.display())),
        "{text}"
    );
    let tab = crontab_l().unwrap();
    let line = tab
        .lines()
        .find(|l| l.starts_with("*/5 * * * * ") && l.contains(&profile))
        .unwrap()
        .to_owned();
    assert!(line.contains(&*stable.to_string_lossy()), "{line}");
    assert!(line.contains("startup.log"), "{line}");
    let pid = proxy_pid(&home, &profile).expect("pid");
    assert_eq!(exe_of(pid), stable.to_string_lossy());

    // `logs`: the start line, whatever the request carried never, same flags as everywhere.
    let dir = home.path().join(format!(".headroom/deploy/{profile}"));
    let table = home.ok(&["install", "status", "--profile", &profile]);
    assert!(
        table.contains(&format!(
            "\nlogs         {}/headroom.log (startup output: {}/startup.log)\n",
            dir.display(),
            dir.display()
        )),
        "{table}"
    );
    assert!(
        table.contains(&format!("\nbinary       {}\n", stable.display())),
        "{table}"
    );
    assert!(table.contains("\nuptime       "), "{table}");
    assert_eq!(post_secret(port, 0), 502);
    let logs = home.ok(&["logs", "--profile", &profile]);
    assert!(
        logs.contains(&format!("proxy listening on http://127.0.0.1:{port}")),
        "{logs}"
    );
    assert!(logs.contains(" WARN "), "{logs}");
    for f in std::fs::read_dir(&dir).unwrap().flatten() {
        let text = String::from_utf8_lossy(&std::fs::read(f.path()).unwrap()).into_owned();
        for secret in ["SECRETKEY", "TOPSECRETBODY"] {
            assert!(!text.contains(secret), "{:?} holds {secret}", f.path());
        }
    }
    let last = home.ok(&["logs", "--profile", &profile, "-n", "1"]);
    assert_eq!(last.lines().count(), 1, "{last}");
    assert!(
        home.ok(&["logs", "--profile", &profile, "--since", "1h"])
            .contains("proxy listening")
    );
    let future = "2999-01-01T00:00:00Z";
    assert_eq!(
        home.ok(&["logs", "--profile", &profile, "--since", future]),
        ""
    );
    // -f prints what the next ensure (run as cron runs it) writes to the startup output.
    let mut follow = home
        .cmd(&["logs", "--profile", &profile, "-f", "-n", "0"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = follow.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        use std::io::Read;
        let mut seen = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(n) = stdout.read(&mut buf) {
            if n == 0 {
                break;
            }
            seen.extend_from_slice(&buf[..n]);
            if String::from_utf8_lossy(&seen).contains("already healthy") {
                break;
            }
        }
        String::from_utf8_lossy(&seen).into_owned()
    });
    std::thread::sleep(Duration::from_millis(500));
    run_like_cron(&line);
    assert!(wait_until(Duration::from_secs(10), || reader.is_finished()));
    let followed = reader.join().unwrap();
    assert!(
        followed.contains(&format!("headroom {profile}: the proxy is already healthy")),
        "{followed}"
    );
    let _ = follow.kill();
    let _ = follow.wait();

    // The file apply ran from is gone: cron brings a killed proxy back from the stable copy.
    std::fs::remove_dir_all(&download).unwrap();
    kill9(pid);
    assert!(wait_until(Duration::from_secs(5), || !home
        .status_json(&profile)
        .0));
    run_like_cron(&line);
    let (healthy, st) = home.status_json(&profile);
    assert!(healthy, "{st}");
    let pid = proxy_pid(&home, &profile).unwrap();
    assert_eq!(exe_of(pid), stable.to_string_lossy());

    // Its supervisor gone (the block removed by hand): `logs` says so and still shows the file.
    let (begin, end) = (
        format!("# >>> headroom {profile} >>>"),
        format!("# <<< headroom {profile} <<<"),
    );
    let mut inside = false;
    let without: String = tab
        .lines()
        .filter(|l| {
            let marker = *l == begin || *l == end;
            if marker {
                inside = *l == begin;
            }
            !marker && !inside
        })
        .map(|l| format!("{l}\n"))
        .collect();
    crontab_set(Some(&without));
    let out = home.run(&["logs", "--profile", &profile, "-n", "3"]);
    assert!(out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("is not registered with cron (its supervisor is gone)"),
        "{out:?}"
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 3);
    crontab_set(Some(&tab));

    // An upgrade: a newer binary (other bytes) is named by status, and restart switches to it.
    let newer_dir = home.path().join("newer");
    std::fs::create_dir_all(&newer_dir).unwrap();
    let newer = newer_dir.join("headroom");
    let mut bytes = std::fs::read(headroom()).unwrap();
    bytes.extend_from_slice(b"\0a newer build");
    write_executable_bytes(&newer, &bytes);
    let run_newer = |args: &[&str]| {
        Command::new(&newer)
            .args(args)
            .env("HOME", home.path())
            .env_remove("HEADROOM_PORT")
            .output()
            .unwrap()
    };
    let out = run_newer(&["install", "status", "--profile", &profile, "--json"]);
    assert!(!out.status.success());
    let st: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let want = format!(
        "this headroom ({}, {}) is not the binary the deployment runs ({}): `headroom install restart --profile {profile}` switches it to this one",
        newer.display(),
        env!("CARGO_PKG_VERSION"),
        stable.display()
    );
    assert!(
        st["problems"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p == want.as_str()),
        "{st}"
    );
    let out = run_newer(&["install", "restart", "--profile", &profile]);
    let text = ok(&out);
    assert!(
        text.contains(&format!(
            "copied {} to {}",
            newer.display(),
            stable.display()
        )),
        "{text}"
    );
    assert_eq!(std::fs::read(&stable).unwrap(), bytes);
    let out = run_newer(&["install", "status", "--profile", &profile, "--json"]);
    let st: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(out.status.success(), "{st}");
    let pid = proxy_pid(&home, &profile).unwrap();
    assert_eq!(
        exe_of(pid),
        stable.to_string_lossy(),
        "runs the new copy, not a deleted one"
    );
    assert_eq!(
        crontab_l().unwrap(),
        tab,
        "the schedule names the same stable path"
    );

    home.ok(&["install", "remove", "--profile", &profile]);
    assert!(!home.path().join(".headroom/bin").exists());
}

fn write_executable_bytes(path: &std::path::Path, bytes: &[u8]) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, bytes).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}
