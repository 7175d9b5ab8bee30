//! `persistent-docker` against a REAL container engine through the stock `docker` CLI (on CI:
//! podman behind the docker CLI, `../shared/ci/podman-docker-up.sh`). The image is built
//! offline `FROM scratch` around this build's `headroom` binary and the shared libraries it
//! links (no registry, no RUN step). Skips with a reason when no engine answers or `headroom
//! proxy` cannot serve yet. Podman has no daemon, so there is no reboot step here.

mod support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use support::*;

fn docker(args: &[&str]) -> std::process::Output {
    Command::new("docker").args(args).output().unwrap()
}

fn engine_answers() -> bool {
    Command::new("docker")
        .args(["version", "--format", "{{.Server.Version}}"])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Copy `headroom` and every library `ldd` lists into a build context, and build it.
fn build_image(tag: &str) -> Result<(), String> {
    let ctx = tempfile::tempdir().unwrap();
    std::fs::copy(headroom(), ctx.path().join("headroom")).unwrap();
    let ldd = Command::new("ldd")
        .arg(headroom())
        .output()
        .map_err(|e| e.to_string())?;
    for line in String::from_utf8_lossy(&ldd.stdout).lines() {
        let path = line
            .split_whitespace()
            .find(|w| w.starts_with('/'))
            .map(Path::new);
        if let Some(lib) = path {
            let dest = ctx.path().join(lib.strip_prefix("/").unwrap());
            std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
            std::fs::copy(lib, &dest).map_err(|e| format!("{}: {e}", lib.display()))?;
        }
    }
    std::fs::write(
        ctx.path().join("Dockerfile"),
        "FROM scratch\nCOPY . /\nENTRYPOINT [\"/headroom\"]\n",
    )
    .unwrap();
    let out = docker(&["build", "--quiet", "-t", tag, &ctx.path().to_string_lossy()]);
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_owned())
    }
}

fn container_pid(name: &str) -> Option<u32> {
    let out = docker(&["inspect", "--format", "{{.State.Pid}}", name]);
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .ok()
        .filter(|p| *p != 0)
}

#[test]
fn docker_lifecycle_restarts_after_kill_and_removes_the_container() {
    if !engine_answers() {
        return skip(
            "no container engine answers the docker CLI (run ../shared/ci/podman-docker-up.sh)",
        );
    }
    let Some(_lock) = lock_with_serving_proxy("docker") else {
        return;
    };
    let tag = format!("localhost/headroom-it:{}", std::process::id());
    if let Err(why) = build_image(&tag) {
        return skip(&format!("cannot build the test image: {why}"));
    }
    let home = Home::new();
    let before = snapshot(home.path());
    let profile = format!("it-docker-{}", std::process::id());
    let _cleanup = home.remove_on_drop(&profile);
    let name = format!("headroom-{profile}");
    let port = free_port().to_string();
    let env_arg = "HEADROOM_TEST_VALUE=a\"b $(id) `x`\nline2";

    // A secret in the caller's environment must not reach the container: only what is asked for.
    let args = apply_args(
        &profile,
        &port,
        &[
            "--preset",
            "persistent-docker",
            "--image",
            &tag,
            "--env",
            env_arg,
        ],
    );
    let out = home
        .cmd(&args)
        .env("HEADROOM_TEST_CALLER_SECRET", "do-not-forward")
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&out.stdout);
    assert!(out.contains("is up"), "{out}");
    let (ok, st) = home.status_json(&profile);
    assert!(ok, "{st}");
    assert_eq!(st["runtime"], "docker");
    // `headroom logs` is the engine's log of the container (bounded by --log-opt max-size),
    // beginning with the proxy's start line, with the same flags as everywhere.
    assert_eq!(st["logs"]["kind"], "container", "{st}");
    let logs = home.ok(&["logs", "--profile", &profile, "-n", "5", "--since", "1h"]);
    assert!(
        logs.contains(&format!("proxy listening on http://127.0.0.1:{port}")),
        "{logs}"
    );
    // Docker shows the option in LogConfig.Config; podman's Docker API drops it there but
    // applies it (its own inspect shows the size).
    let log_config = docker(&[
        "inspect",
        "--format",
        "{{json .HostConfig.LogConfig}}",
        &name,
    ]);
    let log_config = String::from_utf8_lossy(&log_config.stdout).into_owned();
    if !log_config.contains("\"max-size\":\"10m\"") {
        let podman = Command::new("podman")
            .args([
                "inspect",
                "--format",
                "{{.HostConfig.LogConfig.Size}}",
                &name,
            ])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .unwrap_or_default();
        assert_eq!(podman, "10MB", "log size not capped: {log_config}");
    }
    let restart = docker(&[
        "inspect",
        "--format",
        "{{.HostConfig.RestartPolicy.Name}}",
        &name,
    ]);
    assert_eq!(
        String::from_utf8_lossy(&restart.stdout).trim(),
        "unless-stopped"
    );
    let config = docker(&[
        "inspect",
        "--format",
        "{{.HostConfig.NetworkMode}} {{len .Mounts}}",
        &name,
    ]);
    assert_eq!(
        String::from_utf8_lossy(&config.stdout).trim(),
        "host 1",
        "host network, the state dir the only bind mount"
    );
    // The usage history is the host's own file (the state dir is mounted at its own path, the
    // proxy runs as its owner): a request through the container shows in `headroom stats` here.
    let port_n: u16 = port.parse().unwrap();
    let history = &health_json(port_n)["usage_history"];
    assert_eq!(history["state"], "ok", "{history}");
    let db = home.path().join(".headroom/usage.db");
    assert_eq!(history["path"], db.to_str().unwrap(), "{history}");
    let pid = container_pid(&name).expect("container pid");
    let env = environ(pid);
    assert_eq!(env["HEADROOM_DEPLOYMENT_SUPERVISOR"], "docker");
    assert_eq!(env["HEADROOM_TEST_VALUE"], "a\"b $(id) `x`\nline2");
    assert!(
        !env.contains_key("HEADROOM_TEST_CALLER_SECRET"),
        "the caller's environment was forwarded: {env:?}"
    );

    kill9(pid);
    assert!(
        wait_until(Duration::from_secs(20), || {
            container_pid(&name).is_some_and(|p| p != pid) && home.status_json(&profile).0
        }),
        "not healthy again after kill -9"
    );

    // Sent after the kill -9 (which loses the recorder's unwritten queue by design), before the
    // stop that flushes it.
    let sent = Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-X",
            "POST",
            "-H",
            "content-type: application/json",
        ])
        .args([
            "-d",
            r#"{"model":"claude-sonnet-4-5","max_tokens":1,"messages":[]}"#,
        ])
        .arg(format!("http://127.0.0.1:{port}/v1/messages"))
        .status()
        .unwrap();
    assert!(sent.success(), "curl could not reach the container's proxy");
    home.ok(&["install", "stop", "--profile", &profile]);
    std::thread::sleep(Duration::from_secs(3));
    // The stop flushed the recorder: the row is in the host's file.
    let stats: serde_json::Value =
        serde_json::from_str(&home.ok(&["stats", "--since", "all", "--json"])).unwrap();
    assert!(stats["requests"].as_u64().unwrap() >= 1, "{stats:#}");
    let (ok, st) = home.status_json(&profile);
    assert!(!ok);
    assert_eq!(st["port_owner"]["kind"], "free");
    home.ok(&["install", "start", "--profile", &profile]);
    assert!(home.status_json(&profile).0);

    home.ok(&["install", "remove", "--profile", &profile]);
    assert!(
        !docker(&["inspect", &name]).status.success(),
        "container left behind"
    );
    assert_same_tree(&before, &snapshot(home.path()), "HOME after remove");
    let _ = docker(&["rmi", "--force", &tag]);
}

/// One crontab line's command as cron runs it (`/bin/sh -c`, a sparse environment; the docker
/// CLI is wherever this machine has it, as `/usr/bin` has it on a distribution's machine).
fn cron_line_succeeds(line: &str) -> bool {
    let cmd = line
        .trim_start_matches("@reboot ")
        .trim_start_matches("*/5 * * * * ")
        .replace("\\%", "%");
    Command::new("/bin/sh")
        .arg("-c")
        .arg(&cmd)
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("SHELL", "/bin/sh")
        .status()
        .unwrap()
        .success()
}

#[test]
fn a_container_that_keeps_failing_is_unrouted_by_its_watchdog_and_routed_back_once_it_serves() {
    if !engine_answers() {
        return skip(
            "no container engine answers the docker CLI (run ../shared/ci/podman-docker-up.sh)",
        );
    }
    if !cron_running() {
        return skip("cron is not running (run ../shared/ci/cron-up.sh)");
    }
    let Some(_lock) = lock_with_serving_proxy("docker") else {
        return;
    };
    let _cron_lock = lock_supervisor("cron");
    let _restore = RestoreCrontab(crontab_l());
    let tag = format!("localhost/headroom-it-watch:{}", std::process::id());
    if let Err(why) = build_image(&tag) {
        return skip(&format!("cannot build the test image: {why}"));
    }
    let home = Home::new();
    let rc = home.path().join(".bashrc");
    let original = "# ~/.bashrc — ünïcode\n   export EDITOR=vim\n";
    std::fs::write(&rc, original).unwrap();
    let before = user_files(home.path());
    let profile = format!("it-watch-{}", std::process::id());
    let _cleanup = home.remove_on_drop(&profile);
    let name = format!("headroom-{profile}");
    let port = free_port();
    let port_s = port.to_string();
    home.ok(&install_apply(
        &profile,
        &port_s,
        &[
            "--preset",
            "persistent-docker",
            "--image",
            &tag,
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
    let tab = crontab_l().unwrap_or_default();
    let line = tab
        .lines()
        .find(|l| l.starts_with("*/5 * * * * ") && l.contains(&profile))
        .unwrap_or_else(|| panic!("no watchdog in the crontab: {tab}"))
        .to_owned();
    assert!(line.contains(" install agent ensure --profile "), "{line}");
    let log = home
        .path()
        .join(format!(".headroom/deploy/{profile}/startup.log"));
    // Healthy: the watchdog changes nothing.
    assert!(cron_line_succeeds(&line));
    assert_eq!(std::fs::read(&rc).unwrap(), routed);

    // The proxy dies and its port is taken: the engine restarts the container in a loop. The
    // engine's first restart can win the port back before this test binds it: kill it again
    // (the engine's restart delay grows each time), bounded.
    let mut squatter = None;
    for _ in 0..10 {
        if let Some(pid) = container_pid(&name) {
            kill9(pid);
        }
        if wait_until(Duration::from_secs(2), || {
            squatter = std::net::TcpListener::bind(("127.0.0.1", port)).ok();
            squatter.is_some()
        }) {
            break;
        }
    }
    assert!(
        squatter.is_some(),
        "the port never came free after killing the proxy"
    );
    for run in 1..=2 {
        assert!(
            !cron_line_succeeds(&line),
            "watchdog run {run} succeeded: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        assert_eq!(
            std::fs::read(&rc).unwrap(),
            routed,
            "un-routed after {run} failures"
        );
    }
    assert!(!cron_line_succeeds(&line));
    assert_same_tree(
        &before,
        &user_files(home.path()),
        "HOME after 3 failed watchdog runs",
    );
    let (ok, st) = home.status_json(&profile);
    assert!(!ok);
    assert_eq!(st["routing"]["reason"], "proxy-failing", "{st}");
    assert_eq!(
        st["routing"]["supervisor"], "docker (cron watchdog)",
        "{st}"
    );
    let error = st["routing"]["error"].as_str().unwrap();
    assert!(
        error.contains(&format!("container {name} does not serve port {port}")),
        "{error}"
    );

    // The port is free again: the engine's next restart serves, and the watchdog routes back.
    drop(squatter);
    assert!(
        wait_until(Duration::from_secs(90), || proxy_ready(port)),
        "the container did not serve again"
    );
    assert!(cron_line_succeeds(&line));
    assert_eq!(std::fs::read(&rc).unwrap(), routed);
    let (ok, st) = home.status_json(&profile);
    assert!(ok, "{st}");
    assert_eq!(st["routing"]["routed"], true);

    home.ok(&["install", "remove", "--profile", &profile]);
    assert!(!crontab_l().unwrap_or_default().contains(&profile));
    assert!(!docker(&["inspect", &name]).status.success());
    assert_same_tree(&before, &user_files(home.path()), "HOME after remove");
    let _ = docker(&["rmi", "--force", &tag]);
}
