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
fn claude_is_routed_while_installed_and_restored_byte_for_byte_on_remove() {
    let Some(_lock) = lock_systemd_user() else {
        return;
    };
    let home = Home::new();
    let settings = home.path().join(".claude/settings.json");
    std::fs::create_dir_all(settings.parent().unwrap()).unwrap();
    let original = "{\n    \"statusLine\": \"café ☕\",\n    \"env\": {\n        \"ANTHROPIC_BASE_URL\": \"https://gw.example\"\n    }\n}";
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
    // start/stop never touch the user's files.
    let routed = std::fs::read(&settings).unwrap();
    home.ok(&["install", "stop", "--profile", &profile]);
    home.ok(&["install", "start", "--profile", &profile]);
    assert_eq!(std::fs::read(&settings).unwrap(), routed);

    let out = home.ok(&["install", "remove", "--profile", &profile]);
    assert!(out.contains("restored ~/.claude/settings.json"), "{out}");
    assert_eq!(std::fs::read_to_string(&settings).unwrap(), original);
    assert_same_tree(&before, &user_files(home.path()), "HOME after remove");
    assert!(!home.path().join(".headroom/deploy").join(&profile).exists());
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
    assert!(
        text.contains(&format!(
            "export OPENAI_BASE_URL='http://127.0.0.1:{port}/v1'"
        )),
        "{text}"
    );
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
    let profile = format!("it-wrap-{}", std::process::id());
    let _cleanup = home.remove_on_drop(&profile);
    let port = free_port().to_string();
    home.ok(&apply_args(&profile, &port, &[]));
    home.ok(&["install", "stop", "--profile", &profile]);
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
    home.ok(&["install", "remove", "--profile", &profile]);
}
