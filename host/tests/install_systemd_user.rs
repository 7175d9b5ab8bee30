//! `persistent-service` against a REAL `systemd --user` (start it with
//! `../shared/ci/systemd-user-up.sh`; `XDG_RUNTIME_DIR=/run/user/0`). Skips with a reason when
//! there is no user manager or `headroom proxy` cannot serve yet.

mod support;

use std::process::Command;
use std::time::Duration;

use support::*;

/// The user manager's `~/.config` (where user units are linked), with its contents.
fn manager_config() -> (std::path::PathBuf, bool) {
    let env = systemctl(&["show-environment"]);
    let home = env
        .lines()
        .find_map(|l| l.strip_prefix("HOME="))
        .unwrap_or("/root")
        .to_owned();
    let dir = std::path::Path::new(&home).join(".config");
    let exists = dir.exists();
    (dir, exists)
}

fn main_pid(unit: &str) -> Option<u32> {
    systemctl(&["show", "-p", "MainPID", "--value", unit])
        .parse()
        .ok()
        .filter(|p| *p != 0)
}

#[test]
fn service_lifecycle_survives_kill_and_manager_restart_and_removes_cleanly() {
    let Some(_lock) = lock_systemd_user() else {
        return;
    };
    let home = Home::new();
    let before = snapshot(home.path());
    let profile = format!("it-user-{}", std::process::id());
    let _cleanup = home.remove_on_drop(&profile);
    let unit = format!("headroom-{profile}.service");
    let port = free_port().to_string();
    let hostile = "a\"b 'c' $(touch /tmp/headroom-pwned) `id` 50% \\ end\nsecond line";
    let env_arg = format!("HEADROOM_TEST_VALUE={hostile}");

    let out = home.ok(&apply_args(&profile, &port, &["--env", &env_arg]));
    assert!(out.contains("is up"), "{out}");

    // The unit validates statically: exit 0 and not a single warning.
    let unit_path = systemctl(&["show", "-p", "FragmentPath", "--value", &unit]);
    assert!(unit_path.ends_with(&unit), "{unit_path}");
    let verify = Command::new("systemd-analyze")
        .args(["--user", "verify", &unit_path])
        .env("XDG_RUNTIME_DIR", runtime_dir())
        .output()
        .unwrap();
    assert!(verify.status.success(), "{verify:?}");
    assert_eq!(
        String::from_utf8_lossy(&verify.stderr),
        "",
        "systemd-analyze warnings"
    );

    // Healthy, the proxy is the unit's main process, and it got the deployment environment.
    let (ok, st) = home.status_json(&profile);
    assert!(ok, "{st}");
    assert_eq!(st["healthy"], true);
    let pid = main_pid(&unit).expect("main pid");
    assert_eq!(st["supervisor_state"]["pid"], pid);
    let env = environ(pid);
    assert_eq!(env["HEADROOM_DEPLOYMENT_PROFILE"], profile);
    assert_eq!(env["HEADROOM_DEPLOYMENT_PRESET"], "persistent-service");
    assert_eq!(env["HEADROOM_DEPLOYMENT_SUPERVISOR"], "systemd");
    assert_eq!(env["HEADROOM_DEPLOYMENT_SCOPE"], "user");
    assert_eq!(env["HEADROOM_TEST_VALUE"], hostile);
    assert!(!std::path::Path::new("/tmp/headroom-pwned").exists());

    // kill -9 → systemd brings it back.
    kill9(pid);
    assert!(
        wait_until(Duration::from_secs(20), || {
            main_pid(&unit).is_some_and(|p| p != pid) && home.status_json(&profile).0
        }),
        "not healthy again after kill -9"
    );

    // A simulated reboot: the manager goes away with its processes and comes back.
    if let Some(ci) = shared_ci() {
        assert!(
            Command::new(ci.join("systemd-user-down.sh"))
                .status()
                .unwrap()
                .success()
        );
        assert!(
            Command::new(ci.join("systemd-user-up.sh"))
                .status()
                .unwrap()
                .success()
        );
        assert!(
            wait_until(Duration::from_secs(20), || home.status_json(&profile).0),
            "not healthy after the manager restarted"
        );
    } else {
        skip("manager-restart step: ../shared/ci not found");
    }

    // stop → stays down, and status says so with a non-zero exit.
    let out = home.ok(&["install", "stop", "--profile", &profile]);
    assert!(out.contains("stopped"), "{out}");
    std::thread::sleep(Duration::from_secs(3));
    let (ok, st) = home.status_json(&profile);
    assert!(!ok);
    assert_eq!(st["healthy"], false);
    assert_eq!(st["port_owner"]["kind"], "free");

    home.ok(&["install", "start", "--profile", &profile]);
    assert!(home.status_json(&profile).0);
    home.ok(&["install", "restart", "--profile", &profile]);
    assert!(home.status_json(&profile).0);

    // A failing re-apply is rolled back and the previous deployment is restored.
    let err = home.fails(&apply_args(
        &profile,
        &port,
        &["--", "--no-such-proxy-flag"],
    ));
    assert!(
        err.contains("rolled back") && err.contains("previous deployment was restored"),
        "{err}"
    );
    assert!(
        home.status_json(&profile).0,
        "previous deployment not healthy again"
    );

    // remove → HOME byte-identical, nothing registered, idempotent.
    home.ok(&["install", "remove", "--profile", &profile]);
    assert_same_tree(&before, &snapshot(home.path()), "HOME after remove");
    assert_eq!(
        systemctl(&["show", "-p", "LoadState", "--value", &unit]),
        "not-found"
    );
    assert!(!std::path::Path::new(&unit_path).exists());
    assert_eq!(http_status(port.parse().unwrap(), "/livez"), None);
    let again = home.ok(&["install", "remove", "--profile", &profile]);
    assert!(again.contains("nothing to remove"), "{again}");
}

#[test]
fn a_port_held_by_another_deployment_is_named_and_not_claimed() {
    let Some(_lock) = lock_systemd_user() else {
        return;
    };
    let home = Home::new();
    let port = free_port().to_string();
    let a = format!("it-a-{}", std::process::id());
    let b = format!("it-b-{}", std::process::id());
    let _cleanup_a = home.remove_on_drop(&a);
    home.ok(&apply_args(&a, &port, &[]));
    let before = snapshot(home.path());
    let err = home.fails(&apply_args(&b, &port, &[]));
    assert!(
        err.contains(&format!("held by the headroom deployment \"{a}\"")),
        "{err}"
    );
    assert_same_tree(
        &before,
        &snapshot(home.path()),
        "HOME after a refused apply",
    );
    // The other deployment keeps running.
    assert!(home.status_json(&a).0);
    home.ok(&["install", "remove", "--profile", &a]);
}

/// Needs only the manager, not a serving proxy: a proxy that exits at once makes apply fail
/// fast, name the log, and leave nothing registered or written.
#[test]
fn a_proxy_that_cannot_start_is_rolled_back_without_a_trace() {
    if !systemd_user_running() {
        return skip("no systemd user manager (run ../shared/ci/systemd-user-up.sh)");
    }
    let _lock = lock_supervisor("systemd-user");
    let home = Home::new();
    let before = snapshot(home.path());
    let profile = format!("it-rollback-{}", std::process::id());
    let _cleanup = home.remove_on_drop(&profile);
    let unit = format!("headroom-{profile}.service");
    let port = free_port().to_string();
    let err = home.fails(&apply_args(
        &profile,
        &port,
        &["--", "--no-such-proxy-flag"],
    ));
    assert!(
        err.contains("rolled back (nothing was left installed)"),
        "{err}"
    );
    assert!(
        err.contains("headroom.log") || err.contains("did not come up"),
        "{err}"
    );
    assert_eq!(
        systemctl(&["show", "-p", "LoadState", "--value", &unit]),
        "not-found"
    );
    assert_same_tree(
        &before,
        &snapshot(home.path()),
        "HOME after a rolled-back apply",
    );
}

#[test]
fn provider_scope_runs_under_the_users_manager_and_reports_its_scope() {
    let Some(_lock) = lock_systemd_user() else {
        return;
    };
    let home = Home::new();
    let before = snapshot(home.path());
    let profile = format!("it-provider-{}", std::process::id());
    let _cleanup = home.remove_on_drop(&profile);
    let port = free_port().to_string();
    home.ok(&apply_args(&profile, &port, &["--scope", "provider"]));
    let (ok, st) = home.status_json(&profile);
    assert!(ok, "{st}");
    assert_eq!(st["scope"], "provider");
    let pid = st["supervisor_state"]["pid"].as_u64().unwrap() as u32;
    assert_eq!(environ(pid)["HEADROOM_DEPLOYMENT_SCOPE"], "provider");
    home.ok(&["install", "remove", "--profile", &profile]);
    assert_same_tree(&before, &snapshot(home.path()), "HOME after remove");
}

#[test]
fn concurrent_applies_serialise_and_interrupted_or_corrupt_installs_are_repaired() {
    let Some(_lock) = lock_systemd_user() else {
        return;
    };
    let home = Home::new();
    let before = snapshot(home.path());
    let profile = format!("it-crash-{}", std::process::id());
    let (config, existed) = manager_config();
    let config_before = snapshot(&config);
    let _cleanup = home.remove_on_drop(&profile);
    let unit = format!("headroom-{profile}.service");
    let port = free_port().to_string();

    // Two applies of one profile at once: the profile lock serialises them; both succeed.
    let args = apply_args(&profile, &port, &[]);
    let first = home.cmd(&args).spawn().unwrap();
    let second = home.cmd(&args).spawn().unwrap();
    for child in [first, second] {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert!(home.status_json(&profile).0);
    // Re-applying the same settings is a no-op that keeps the same process.
    let pid = home.status_json(&profile).1["supervisor_state"]["pid"].clone();
    let out = home.ok(&args);
    assert!(out.contains("nothing to do"), "{out}");
    assert_eq!(home.status_json(&profile).1["supervisor_state"]["pid"], pid);

    // A crash between "manifest written" and "installed" leaves state `applying`.
    let manifest = home
        .path()
        .join(format!(".headroom/deploy/{profile}/manifest.json"));
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(&manifest, text.replace("\"installed\"", "\"applying\"")).unwrap();
    let (ok, st) = home.status_json(&profile);
    assert!(!ok);
    assert!(
        st["problems"][0].as_str().unwrap().contains("interrupted"),
        "{st}"
    );
    home.ok(&apply_args(&profile, &port, &[]));
    assert!(home.status_json(&profile).0);

    // After several replacements, remove still deletes the directories the first apply created.
    home.ok(&["install", "remove", "--profile", &profile]);
    assert_eq!(config.exists(), existed, "{}", config.display());
    assert_same_tree(
        &config_before,
        &snapshot(&config),
        "the manager's ~/.config",
    );

    // A corrupt manifest with the unit still registered: remove still cleans everything
    // (except directories it can no longer know it created).
    home.ok(&apply_args(&profile, &port, &[]));
    std::fs::write(&manifest, "{").unwrap();
    let out = home.run(&["install", "remove", "--profile", &profile]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("corrupt deployment manifest"));
    assert_eq!(
        systemctl(&["show", "-p", "LoadState", "--value", &unit]),
        "not-found"
    );
    assert_eq!(http_status(port.parse().unwrap(), "/livez"), None);
    assert_same_tree(&before, &snapshot(home.path()), "HOME after remove");
    if !existed {
        // Test hygiene: the empty directories the corrupt-manifest case had to leave.
        for sub in [
            "systemd/user/default.target.wants",
            "systemd/user",
            "systemd",
            "",
        ] {
            let _ = std::fs::remove_dir(config.join(sub));
        }
    }
}

#[test]
fn claude_is_routed_while_installed_unrouted_while_stopped_and_restored_on_remove() {
    let Some(_lock) = lock_systemd_user() else {
        return;
    };
    let home = Home::new();
    let settings = home.path().join(".claude/settings.json");
    std::fs::create_dir_all(settings.parent().unwrap()).unwrap();
    // Non-ASCII, odd indentation, no final newline: only a byte-for-byte revert keeps these.
    let original = "{\n   \"statusLine\": \"café ☕\",\n\t\"env\": {\n        \"ANTHROPIC_BASE_URL\": \"https://gw.example\"\n }\n}";
    std::fs::write(&settings, original).unwrap();
    // headroom's own state (compile cache, edit lock) is not the user's configuration.
    let before = user_files(home.path());
    let profile = format!("it-claude-{}", std::process::id());
    let _cleanup = home.remove_on_drop(&profile);
    let port = free_port().to_string();
    let args = install_apply(&profile, &port, CLAUDE_AT_PROVIDER);
    let dry = home.ok(&[&args[..], &["--dry-run"]].concat());
    assert!(dry.contains("+++ b/~/.claude/settings.json"), "{dry}");
    assert_same_tree(&before, &user_files(home.path()), "HOME after --dry-run");

    let out = home.ok(&args);
    assert!(out.contains("configured ~/.claude/settings.json"), "{out}");
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&settings).unwrap()).unwrap();
    assert_eq!(
        v["env"]["ANTHROPIC_BASE_URL"],
        format!("http://127.0.0.1:{port}")
    );
    let (ok, st) = home.status_json(&profile);
    assert!(ok, "{st}");
    assert_eq!(st["routing"]["routed"], true, "{st}");
    let table = home.run(&["install", "status", "--profile", &profile]);
    assert!(
        String::from_utf8_lossy(&table.stdout)
            .contains("\nrouting      on (tools point at this proxy)\n"),
        "{table:?}"
    );
    let routed = std::fs::read(&settings).unwrap();

    // stop: the proxy is down and the tool is back to the user's own settings, byte for byte.
    let out = home.ok(&["install", "stop", "--profile", &profile]);
    assert!(out.contains("restored ~/.claude/settings.json"), "{out}");
    assert!(
        out.contains("the tools (claude) no longer point at this proxy"),
        "{out}"
    );
    assert_same_tree(&before, &user_files(home.path()), "HOME after stop");
    let (ok, st) = home.status_json(&profile);
    assert!(!ok, "{st}");
    assert_eq!(st["routing"]["routed"], false, "{st}");
    assert_eq!(st["routing"]["reason"], "stopped", "{st}");
    let table = home.run(&["install", "status", "--profile", &profile]);
    let table = String::from_utf8_lossy(&table.stdout);
    let since = st["routing"]["since"].as_str().unwrap();
    assert!(
        table.contains(&format!(
            "\nrouting      off since {since}: stopped by `headroom install stop`; `headroom install start --profile {profile}` routes them again\n"
        )),
        "{table}"
    );
    // A second stop is harmless (and the tools are off since the first; `since` has seconds).
    std::thread::sleep(Duration::from_millis(1100));
    home.ok(&["install", "stop", "--profile", &profile]);
    assert_eq!(home.status_json(&profile).1["routing"]["since"], since);
    assert_same_tree(
        &before,
        &user_files(home.path()),
        "HOME after a second stop",
    );
    // The re-route a supervised start runs (a boot after stop) leaves tools the user
    // un-routed alone.
    let out = home.ok(&["install", "agent", "reroute", "--profile", &profile]);
    assert!(out.contains("stopped by `headroom install stop`"), "{out}");
    assert_same_tree(
        &before,
        &user_files(home.path()),
        "HOME after agent reroute",
    );
    // The unit started behind headroom's back (a boot after stop): healthy, yet the tools stay
    // un-routed, and status says what routes them.
    let unit = format!("headroom-{profile}.service");
    systemctl(&["start", &unit]);
    assert!(wait_until(Duration::from_secs(20), || proxy_ready(
        port.parse().unwrap()
    )));
    assert_same_tree(&before, &user_files(home.path()), "HOME after a bare start");
    let (ok, st) = home.status_json(&profile);
    assert!(!ok, "{st}");
    let want = format!(
        "the proxy is healthy but the tools do not point at it: `headroom install start --profile {profile}`"
    );
    assert!(
        st["problems"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p == want.as_str()),
        "{st}"
    );

    // start: healthy, then routed again with the same bytes as the original apply wrote.
    let out = home.ok(&["install", "start", "--profile", &profile]);
    assert!(out.contains("configured ~/.claude/settings.json"), "{out}");
    assert!(
        out.contains(&format!(
            "routed claude: ~/.claude/settings.json env.ANTHROPIC_BASE_URL = http://127.0.0.1:{port}\n"
        )),
        "{out}"
    );
    assert_eq!(std::fs::read(&settings).unwrap(), routed);
    let (ok, st) = home.status_json(&profile);
    assert!(ok, "{st}");
    assert_eq!(st["routing"]["routed"], true, "{st}");

    // restart = stop + start: routed at the end.
    home.ok(&["install", "restart", "--profile", &profile]);
    assert_eq!(std::fs::read(&settings).unwrap(), routed);
    assert!(home.status_json(&profile).0);

    // An apply after stop routes the tools, and the recorded state follows.
    home.ok(&["install", "stop", "--profile", &profile]);
    home.ok(&args);
    assert_eq!(std::fs::read(&settings).unwrap(), routed);
    let (ok, st) = home.status_json(&profile);
    assert!(ok, "{st}");
    assert_eq!(st["routing"]["routed"], true, "{st}");

    // remove after stop: everything byte-identical.
    home.ok(&["install", "stop", "--profile", &profile]);
    home.ok(&["install", "remove", "--profile", &profile]);
    assert_eq!(std::fs::read_to_string(&settings).unwrap(), original);
    assert_same_tree(&before, &user_files(home.path()), "HOME after remove");
    assert!(!home.path().join(".headroom/deploy").join(&profile).exists());
}

#[test]
fn a_stop_that_cannot_restore_a_tool_file_says_which_and_fails() {
    let Some(_lock) = lock_systemd_user() else {
        return;
    };
    let home = Home::new();
    let settings = home.path().join(".claude/settings.json");
    std::fs::create_dir_all(settings.parent().unwrap()).unwrap();
    std::fs::write(&settings, "{\"model\": \"x\"}\n").unwrap();
    let profile = format!("it-damaged-{}", std::process::id());
    let _cleanup = home.remove_on_drop(&profile);
    let port = free_port().to_string();
    home.ok(&install_apply(&profile, &port, CLAUDE_AT_PROVIDER));
    let journal = home
        .path()
        .join(format!(".headroom/deploy/{profile}/journal.json"));
    std::fs::write(&journal, "{").unwrap();
    let out = home.run(&["install", "stop", "--profile", &profile]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    let last = err.lines().last().unwrap_or_default();
    assert!(
        last.contains(
            "the proxy was stopped, but 1 tool file(s) could not be restored (see above)"
        ),
        "{err}"
    );
    assert!(err.contains("headroom: warning: "), "{err}");
    // The proxy is down all the same.
    assert_eq!(http_status(port.parse().unwrap(), "/readyz"), None);
}

/// Hold `port` as soon as it is free (the proxy was just killed): systemd's restarts then fail.
fn occupy(port: u16) -> std::net::TcpListener {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        match std::net::TcpListener::bind(("127.0.0.1", port)) {
            Ok(l) => return l,
            Err(e) if std::time::Instant::now() > deadline => panic!("cannot bind {port}: {e}"),
            Err(_) => std::thread::sleep(Duration::from_millis(5)),
        }
    }
}

#[test]
fn a_proxy_systemd_gives_up_on_is_unrouted_and_start_routes_it_again() {
    let Some(_lock) = lock_systemd_user() else {
        return;
    };
    let home = Home::new();
    let rc = home.path().join(".bashrc");
    let original = "# ~/.bashrc — ünïcode\n  export EDITOR=vim\nalias ll='ls -l'";
    std::fs::write(&rc, original).unwrap();
    let before = user_files(home.path());
    let profile = format!("it-limit-{}", std::process::id());
    let _cleanup = home.remove_on_drop(&profile);
    let unit = format!("headroom-{profile}.service");
    let port = free_port();
    let port_s = port.to_string();
    home.ok(&install_apply(
        &profile,
        &port_s,
        &[
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
    // Both units verify without a warning.
    for u in [unit.clone(), format!("headroom-{profile}-unroute.service")] {
        let path = systemctl(&["show", "-p", "FragmentPath", "--value", &u]);
        assert!(path.ends_with(&u), "{u}: {path}");
        let verify = Command::new("systemd-analyze")
            .args(["--user", "verify", &path])
            .env("XDG_RUNTIME_DIR", runtime_dir())
            .output()
            .unwrap();
        assert!(verify.status.success(), "{verify:?}");
        assert_eq!(String::from_utf8_lossy(&verify.stderr), "", "{u}");
    }

    // A crash systemd recovers from leaves the tools routed (before v254 it runs `OnFailure=`
    // on every failure, restart or not).
    let unroute_unit = format!("headroom-{profile}-unroute.service");
    let pid = main_pid(&unit).expect("main pid");
    kill9(pid);
    assert!(
        wait_until(Duration::from_secs(20), || {
            main_pid(&unit).is_some_and(|p| p != pid)
                && home.status_json(&profile).0
                && systemctl(&["show", "-p", "ActiveState", "--value", &unroute_unit])
                    != "activating"
        }),
        "not healthy again after kill -9"
    );
    assert_eq!(
        std::fs::read(&rc).unwrap(),
        routed,
        "un-routed by a recovered crash"
    );

    // The proxy dies and its port is taken: every restart fails until systemd gives up.
    kill9(main_pid(&unit).expect("main pid"));
    let squatter = occupy(port);
    assert!(
        wait_until(Duration::from_secs(40), || {
            home.status_json(&profile).1["routing"]["routed"] == false
        }),
        "not un-routed: {}",
        home.status_json(&profile).1
    );
    // Gave up: the unit stays failed (v252 stops before the start that would hit the limit,
    // keeping the proxy's own exit-code result).
    assert_eq!(
        systemctl(&["show", "-p", "ActiveState", "--value", &unit]),
        "failed"
    );
    assert_same_tree(
        &before,
        &user_files(home.path()),
        "HOME after systemd gave up",
    );
    let (ok, st) = home.status_json(&profile);
    assert!(!ok);
    assert_eq!(st["routing"]["reason"], "proxy-failing", "{st}");
    assert_eq!(st["routing"]["supervisor"], "systemd", "{st}");
    let error = st["routing"]["error"].as_str().unwrap();
    assert!(
        error.contains("after 5 failed starts within 60 s"),
        "{error}"
    );

    // The port is free again: start resets the failed unit, and routes the tools back.
    drop(squatter);
    let out = home.ok(&["install", "start", "--profile", &profile]);
    assert!(out.contains("configured ~/.bashrc"), "{out}");
    assert_eq!(std::fs::read(&rc).unwrap(), routed);
    let (ok, st) = home.status_json(&profile);
    assert!(ok, "{st}");
    assert_eq!(st["routing"]["routed"], true);

    // Given up on again, then a simulated reboot: the unit starts with the manager, and once
    // the proxy is healthy `agent run`'s re-route puts the tools back by itself.
    if let Some(ci) = shared_ci() {
        kill9(main_pid(&unit).expect("main pid"));
        let squatter = occupy(port);
        assert!(
            wait_until(Duration::from_secs(40), || {
                home.status_json(&profile).1["routing"]["routed"] == false
            }),
            "not un-routed the second time"
        );
        assert_same_tree(
            &before,
            &user_files(home.path()),
            "HOME after systemd gave up again",
        );
        drop(squatter);
        for script in ["systemd-user-down.sh", "systemd-user-up.sh"] {
            assert!(Command::new(ci.join(script)).status().unwrap().success());
        }
        assert!(
            wait_until(Duration::from_secs(30), || {
                home.status_json(&profile).1["routing"]["routed"] == true
            }),
            "not routed again after the reboot: {}",
            home.status_json(&profile).1
        );
        assert_eq!(std::fs::read(&rc).unwrap(), routed);
        assert!(home.status_json(&profile).0);
    } else {
        skip("reboot step: ../shared/ci not found");
    }

    home.ok(&["install", "remove", "--profile", &profile]);
    assert_same_tree(&before, &user_files(home.path()), "HOME after remove");
    assert_eq!(
        systemctl(&["show", "-p", "LoadState", "--value", &unroute_unit]),
        "not-found"
    );
}

/// A `/health` answering like a proxy of this profile but of another version, until dropped.
struct FakeProxy {
    port: u16,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FakeProxy {
    fn start(port: u16, profile: &str, version: &str) -> Self {
        use std::io::{Read, Write};
        use std::sync::atomic::Ordering;
        let listener = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
        let body = format!(
            "{{\"status\":\"ok\",\"version\":\"{version}\",\"deployment\":{{\"profile\":\"{profile}\"}}}}"
        );
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stopping = stop.clone();
        let thread = std::thread::spawn(move || {
            for s in listener.incoming() {
                if stopping.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(mut s) = s else { return };
                let mut buf = [0u8; 2048];
                let _ = s.read(&mut buf);
                let _ = write!(
                    s,
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        Self {
            port,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for FakeProxy {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        // Wake the accept loop so it sees the flag and closes the socket.
        let _ = std::net::TcpStream::connect(("127.0.0.1", self.port));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[test]
fn the_unit_runs_a_stable_copy_that_survives_a_deleted_binary_and_restart_upgrades_it() {
    let Some(_lock) = lock_systemd_user() else {
        return;
    };
    let home = Home::new();
    // The headroom `apply` runs from: a download (outside HOME), deleted later.
    let bins = tempfile::Builder::new()
        .prefix("headroom bins ")
        .tempdir()
        .unwrap();
    let old_dir = bins.path().join("old bin");
    std::fs::create_dir_all(&old_dir).unwrap();
    let old = old_dir.join("headroom");
    std::fs::copy(headroom(), &old).unwrap();
    let settings = home.path().join(".claude/settings.json");
    std::fs::create_dir_all(settings.parent().unwrap()).unwrap();
    std::fs::write(&settings, "{\n  \"theme\": \"dark\"\n}").unwrap();
    let before = snapshot(home.path());
    let profile = format!("it-drift-{}", std::process::id());
    let _cleanup = home.remove_on_drop(&profile);
    let unit = format!("headroom-{profile}.service");
    let port = free_port();
    let port_s = port.to_string();
    let run_with = |exe: &std::path::Path, args: &[&str]| {
        Command::new(exe)
            .args(args)
            .env("HOME", home.path())
            .env("XDG_RUNTIME_DIR", runtime_dir())
            .env_remove("HEADROOM_PORT")
            .output()
            .unwrap()
    };
    let out = run_with(&old, &install_apply(&profile, &port_s, CLAUDE_AT_PROVIDER));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stable = home.path().join(".headroom/bin/headroom");
    let unit_path = systemctl(&["show", "-p", "FragmentPath", "--value", &unit]);
    let unit_line = |key: &str| {
        std::fs::read_to_string(&unit_path)
            .unwrap()
            .lines()
            .find(|l| l.starts_with(key))
            .unwrap()
            .to_owned()
    };
    assert!(
        unit_line("ExecStart=").contains(&*stable.to_string_lossy()),
        "{}",
        unit_line("ExecStart=")
    );
    let (ok, st) = home.status_json(&profile);
    assert!(ok, "{st}");
    let ours = st["headroom_version"].as_str().unwrap().to_owned();
    assert_eq!(st["proxy_version"], ours.as_str());
    assert_eq!(st["executable"], stable.to_string_lossy().as_ref());
    assert!(st["uptime_seconds"].as_f64().is_some(), "{st}");

    // No journald here: the unit's output goes to the small startup file, the proxy logs to its
    // own rotated file, and `headroom logs` shows it.
    if !std::path::Path::new("/run/systemd/journal/socket").exists() {
        assert!(
            unit_line("StandardOutput=").ends_with("/startup.log"),
            "{}",
            unit_line("StandardOutput=")
        );
        assert_eq!(st["logs"]["kind"], "files", "{st}");
        let logs = home.ok(&["logs", "--profile", &profile]);
        assert!(
            logs.contains(&format!("proxy listening on http://127.0.0.1:{port}")),
            "{logs}"
        );
    }

    // The binary apply ran from is deleted; a killed proxy comes back from the stable copy.
    std::fs::remove_dir_all(&old_dir).unwrap();
    let pid = main_pid(&unit).expect("main pid");
    kill9(pid);
    assert!(
        wait_until(Duration::from_secs(20), || main_pid(&unit)
            .is_some_and(|p| p != pid)
            && home.status_json(&profile).0),
        "not back after kill -9 with the original binary deleted: {}",
        home.status_json(&profile).1
    );
    let pid = main_pid(&unit).unwrap();
    assert_eq!(
        std::fs::read_link(format!("/proc/{pid}/exe")).unwrap(),
        stable
    );

    // A proxy of another version on the port: status names it and the command that fixes it.
    home.ok(&["install", "stop", "--profile", &profile]);
    let fake = FakeProxy::start(port, &profile, "0.0.1-old");
    let (ok, st) = home.status_json(&profile);
    assert!(!ok);
    assert_eq!(st["proxy_version"], "0.0.1-old", "{st}");
    let want = format!(
        "the running proxy is 0.0.1-old, this headroom is {ours}: `headroom install restart --profile {profile}`"
    );
    assert!(
        st["problems"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p == want.as_str()),
        "{st}"
    );
    drop(fake);
    home.ok(&["install", "start", "--profile", &profile]);
    let routed = std::fs::read(&settings).unwrap();
    let journal = home
        .path()
        .join(format!(".headroom/deploy/{profile}/journal.json"));
    let journal_bytes = std::fs::read(&journal).unwrap();

    // An upgrade: a newer build (other bytes) is named by its status; its restart switches the
    // unit to it, and the tool file and the journal are byte for byte what they were.
    let newer_dir = bins.path().join("newer");
    std::fs::create_dir_all(&newer_dir).unwrap();
    let newer = newer_dir.join("headroom");
    let mut bytes = std::fs::read(headroom()).unwrap();
    bytes.extend_from_slice(b"\0a newer build");
    std::fs::write(&newer, &bytes).unwrap();
    std::fs::set_permissions(&newer, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let out = run_with(
        &newer,
        &["install", "status", "--profile", &profile, "--json"],
    );
    assert!(!out.status.success());
    let st: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let want = format!(
        "this headroom ({}, {ours}) is not the binary the deployment runs ({}): `headroom install restart --profile {profile}` switches it to this one",
        newer.display(),
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
    let out = run_with(&newer, &["install", "restart", "--profile", &profile]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!(
            "copied {} to {}",
            newer.display(),
            stable.display()
        )),
        "{text}"
    );
    assert_eq!(std::fs::read(&stable).unwrap(), bytes);
    let out = run_with(
        &newer,
        &["install", "status", "--profile", &profile, "--json"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let pid = main_pid(&unit).expect("main pid");
    assert_eq!(
        std::fs::read_link(format!("/proc/{pid}/exe")).unwrap(),
        stable,
        "the proxy runs the new copy (not a deleted inode)"
    );
    assert_eq!(
        std::fs::read(&settings).unwrap(),
        routed,
        "tool file after the upgrade"
    );
    assert_eq!(
        std::fs::read(&journal).unwrap(),
        journal_bytes,
        "journal after the upgrade"
    );
    assert!(
        unit_line("ExecStart=").contains(&*stable.to_string_lossy()),
        "{}",
        unit_line("ExecStart=")
    );

    home.ok(&["install", "remove", "--profile", &profile]);
    assert_same_tree(&before, &snapshot(home.path()), "HOME after remove");
}

#[test]
fn user_scope_exports_a_shell_block_and_remove_restores_the_rc_file() {
    let Some(_lock) = lock_systemd_user() else {
        return;
    };
    let home = Home::new();
    let rc = home.path().join(".bashrc");
    let original = "# ~/.bashrc\nexport EDITOR=vim\nalias ll='ls -l'";
    std::fs::write(&rc, original).unwrap();
    let before = user_files(home.path());
    let profile = format!("it-user-{}", std::process::id());
    let _cleanup = home.remove_on_drop(&profile);
    let port = free_port().to_string();
    let out = home.ok(&[
        "install",
        "apply",
        "--profile",
        &profile,
        "--port",
        &port,
        "--providers",
        "manual",
        "--target",
        "claude",
        "--target",
        "codex",
    ]);
    assert!(out.contains("configured ~/.bashrc"), "{out}");
    let text = std::fs::read_to_string(&rc).unwrap();
    assert!(
        text.contains(&format!(
            "export ANTHROPIC_BASE_URL='http://127.0.0.1:{port}'"
        )),
        "{text}"
    );
    // Codex ignores OPENAI_BASE_URL: its own adapter routes it through its config.toml.
    assert!(out.contains("configured ~/.codex/config.toml"), "{out}");
    assert!(!text.contains("OPENAI_BASE_URL"), "{text}");
    // A login shell sees the routing.
    let shell = std::process::Command::new("bash")
        .args(["-c", "source \"$0\" && echo \"$ANTHROPIC_BASE_URL\""])
        .arg(&rc)
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&shell.stdout).trim(),
        format!("http://127.0.0.1:{port}")
    );
    home.ok(&["install", "remove", "--profile", &profile]);
    assert_eq!(std::fs::read_to_string(&rc).unwrap(), original);
    assert_same_tree(&before, &user_files(home.path()), "HOME after remove");
}

#[test]
fn wrap_recovers_a_stopped_deployment_and_leaves_it_running() {
    let Some(_lock) = lock_systemd_user() else {
        return;
    };
    let home = Home::new();
    let settings = home.path().join(".claude/settings.json");
    std::fs::create_dir_all(settings.parent().unwrap()).unwrap();
    std::fs::write(&settings, "{ \"model\": \"sonnet\" }").unwrap();
    let profile = format!("it-wrap-{}", std::process::id());
    let _cleanup = home.remove_on_drop(&profile);
    let port = free_port().to_string();
    home.ok(&install_apply(&profile, &port, CLAUDE_AT_PROVIDER));
    let routed = std::fs::read(&settings).unwrap();
    home.ok(&["install", "stop", "--profile", &profile]);
    assert_eq!(
        std::fs::read(&settings).unwrap(),
        b"{ \"model\": \"sonnet\" }",
        "un-routed by stop"
    );
    assert_eq!(
        http_status(port.parse().unwrap(), "/readyz"),
        None,
        "stopped"
    );
    // A stand-in `claude` that proves the proxy serves it.
    let bin = home.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    write_executable(
        &bin.join("claude"),
        "#!/bin/sh\ncurl -fs \"$ANTHROPIC_BASE_URL/health\" | grep -q \"\\\"profile\\\"\"\n",
    );
    let out = home
        .cmd(&["wrap", "claude", "--port", &port])
        .env("PATH", format!("{}:/usr/bin:/bin", bin.display()))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains(&format!(
            "recovered the stopped headroom deployment \"{profile}\""
        )),
        "{err}"
    );
    assert_eq!(
        http_status(port.parse().unwrap(), "/readyz"),
        Some(200),
        "left running"
    );
    // Recovered like `install start`: a running deployment's tools point at it again.
    assert_eq!(std::fs::read(&settings).unwrap(), routed, "routed again");
    let (ok, st) = home.status_json(&profile);
    assert!(ok, "{st}");
    assert_eq!(st["routing"]["routed"], true, "{st}");
    home.ok(&["install", "remove", "--profile", &profile]);
}

/// `apply` calls a tool routed only when a new login shell proves it. A zsh user whose own
/// `~/.zlogin` (read after `~/.zshrc`, where headroom's block goes) exports another
/// ANTHROPIC_BASE_URL is not routed: apply says `NOT routed`, names what the tool uses, and
/// exits 1; the edits stay journaled and `remove` puts every byte back.
#[test]
fn apply_exits_1_when_a_login_shell_still_sends_a_tool_elsewhere() {
    let Some(zsh) = ["/usr/bin/zsh", "/bin/zsh"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
    else {
        return skip("zsh is not installed");
    };
    let Some(_lock) = lock_systemd_user() else {
        return;
    };
    let home = Home::new();
    std::fs::create_dir_all(home.path().join(".claude")).unwrap();
    std::fs::write(home.path().join(".zshrc"), "# mine\n").unwrap();
    std::fs::write(
        home.path().join(".zlogin"),
        "export ANTHROPIC_BASE_URL=https://gw.example\n",
    )
    .unwrap();
    let before = user_files(home.path());
    let profile = format!("it-notrouted-{}", std::process::id());
    let _cleanup = home.remove_on_drop(&profile);
    let port = free_port().to_string();
    let args = install_apply(
        &profile,
        &port,
        &["--providers", "manual", "--target", "claude"],
    );
    let out = home.cmd(&args).env("SHELL", zsh).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(stdout.contains("configured ~/.zshrc"), "{stdout}");
    assert!(
        stdout.contains(
            "NOT routed claude: it still uses https://gw.example (ANTHROPIC_BASE_URL (login shell))"
        ),
        "{stdout}"
    );
    assert!(
        !stdout.lines().any(|l| l.starts_with("routed claude")),
        "never called routed: {stdout}"
    );
    assert!(
        stderr.contains("1 selected tool(s) are not routed through this deployment"),
        "{stderr}"
    );
    home.ok(&["install", "remove", "--profile", &profile]);
    assert_same_tree(&before, &user_files(home.path()), "HOME after remove");
}

/// With a usable supervisor, the real apply is refused like the dry run when the user's own
/// settings.json `env.ANTHROPIC_BASE_URL` would beat the export: one line, nothing written,
/// nothing registered.
#[test]
fn a_higher_precedence_setting_refuses_the_real_apply_before_anything_is_written() {
    let Some(_lock) = lock_systemd_user() else {
        return;
    };
    let home = Home::new();
    std::fs::create_dir_all(home.path().join(".claude")).unwrap();
    std::fs::write(
        home.path().join(".claude/settings.json"),
        "{ \"env\": { \"ANTHROPIC_BASE_URL\": \"https://gateway.example\" } }",
    )
    .unwrap();
    let before = user_files(home.path());
    let profile = format!("it-blocked-{}", std::process::id());
    let _cleanup = home.remove_on_drop(&profile);
    let port = free_port().to_string();
    let err = home.fails(&install_apply(
        &profile,
        &port,
        &["--providers", "manual", "--target", "claude"],
    ));
    assert!(err.contains("env.ANTHROPIC_BASE_URL"), "{err}");
    assert!(err.contains("--scope provider"), "{err}");
    assert!(err.contains("nothing was changed"), "{err}");
    assert_same_tree(&before, &user_files(home.path()), "HOME after the refusal");
    let unit = home
        .path()
        .join(format!(".config/systemd/user/headroom-{profile}.service"));
    assert!(!unit.exists(), "nothing registered");
    assert!(
        !home.path().join(".headroom/deploy").join(&profile).exists(),
        "no deployment recorded"
    );
}
