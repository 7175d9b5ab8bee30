//! Bad input to `headroom install`: every case gets one clear line on stderr and changes
//! nothing. No supervisor is needed.

mod support;

use std::fs;

use support::*;

const PYTHON_MANIFEST: &str = r#"{
  "profile": "legacy",
  "preset": "persistent-service",
  "runtime_kind": "python",
  "supervisor_kind": "systemd",
  "scope": "user",
  "provider_mode": "auto",
  "targets": ["claude"],
  "port": 1,
  "host": "127.0.0.1",
  "health_url": "http://127.0.0.1:1/readyz",
  "base_env": {},
  "tool_envs": {},
  "proxy_args": [],
  "mutations": [],
  "artifacts": [],
  "created_at": "2026-10-01T10:00:00Z",
  "updated_at": "2026-10-01T10:00:00Z",
  "something_new": true
}"#;

#[test]
fn invalid_arguments_are_one_line_errors_and_touch_nothing() {
    let home = Home::new();
    let before = snapshot(home.path());
    let cases: &[(&[&str], &str)] = &[
        (&["--profile", ".."], "invalid profile name"),
        (&["--profile", "a/b"], "invalid profile name"),
        (&["--profile", "a b"], "invalid profile name"),
        (&["--port", "0"], "invalid port \"0\""),
        (&["--port", "70000"], "invalid port \"70000\""),
        (&["--port", "abc"], "invalid port \"abc\""),
        (&["--env", "NOEQUALS"], "invalid --env \"NOEQUALS\""),
        (&["--env", "1X=y"], "invalid --env"),
        (&["--env", "HEADROOM_DEPLOYMENT_SCOPE=x"], "reserved"),
        (
            &["--providers", "manual"],
            "--providers manual needs at least one --target",
        ),
        (
            &["--providers", "manual", "--target", "emacs"],
            "unknown target \"emacs\"",
        ),
        (
            &["--providers", "manual", "--target", "opencode"],
            "no adapter configures opencode at scope user",
        ),
        (
            &[
                "--scope",
                "provider",
                "--providers",
                "manual",
                "--target",
                "aider",
            ],
            "no adapter configures aider at scope provider (scope provider covers claude, codex, opencode, openclaw; aider: scope user, system)",
        ),
        (
            &["--runtime", "docker", "--preset", "persistent-task"],
            "needs --preset persistent-docker",
        ),
        (
            &["--compress", "max"],
            "unknown compression mode \"max\" (use off, lossless or full)",
        ),
        (
            &["--", "--compress", "full"],
            "pass --compress to install apply instead",
        ),
    ];
    for (args, needle) in cases {
        let mut all = vec!["install", "apply", "--providers", "none"];
        if args.contains(&"--providers") {
            all.truncate(2);
        }
        all.extend_from_slice(args);
        let err = home.fails(&all);
        assert!(err.contains(needle), "{args:?}: {err}");
    }
    // HEADROOM_PORT is validated like --port.
    let out = home
        .cmd(&["install", "apply", "--providers", "none"])
        .env("HEADROOM_PORT", "99999")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid port \"99999\""));
    assert_same_tree(
        &before,
        &snapshot(home.path()),
        "HOME after refused applies",
    );
}

#[test]
fn dry_run_prints_the_plan_and_changes_nothing() {
    let home = Home::new();
    let before = snapshot(home.path());
    let env = "X=it's \"quoted\" $(touch /tmp/headroom-dry-pwned)\nline2";
    for preset in ["persistent-service", "persistent-task", "persistent-docker"] {
        let out = home.ok(&[
            "install",
            "apply",
            "--dry-run",
            "--providers",
            "none",
            "--preset",
            preset,
            "--port",
            "18999",
            "--env",
            env,
            "--compress",
            "full",
        ]);
        assert!(out.contains("dry run: nothing was changed"), "{out}");
        assert!(out.contains("\ncompression: full ("), "{out}");
        assert!(out.contains(r#"+  "compress": "full""#), "{out}");
        assert!(out.contains("manifest.json (absent)"), "{out}");
        // The manifest carries the value verbatim (JSON-escaped), nothing runs it.
        assert!(
            out.contains(r#""X": "it's \"quoted\" $(touch /tmp/headroom-dry-pwned)\nline2""#),
            "{out}"
        );
        match preset {
            "persistent-service" => assert!(out.contains("+Restart=on-failure"), "{out}"),
            "persistent-task" => assert!(out.contains("*/5 * * * * "), "{out}"),
            _ => assert!(
                out.contains("--restart unless-stopped")
                    && out.contains("--network host")
                    && out.contains(
                        "proxy --host 127.0.0.1 --port 18999 --compress full --retrieve-dir "
                    ),
                "{out}"
            ),
        }
    }
    assert!(!std::path::Path::new("/tmp/headroom-dry-pwned").exists());
    assert_same_tree(&before, &snapshot(home.path()), "HOME after dry runs");
}

#[test]
fn corrupt_manifests_are_reported_and_never_overwritten() {
    for bad in ["", "[]", "{", "{\"profile\": \"x\"}", "\u{0}\u{1}binary"] {
        let home = Home::new();
        let dir = home.path().join(".headroom/deploy/default");
        fs::create_dir_all(&dir).unwrap();
        let manifest = dir.join("manifest.json");
        fs::write(&manifest, bad).unwrap();

        let err = home.fails(&["install", "status"]);
        assert!(
            err.contains("corrupt deployment manifest") && err.contains("manifest.json"),
            "{err}"
        );
        let err = home.fails(&["install", "apply", "--providers", "none", "--port", "18998"]);
        assert!(
            err.contains("corrupt deployment manifest") && err.contains("left untouched"),
            "{err}"
        );
        assert_eq!(
            fs::read(&manifest).unwrap(),
            bad.as_bytes(),
            "manifest changed"
        );
        let err = home.fails(&["install", "start"]);
        assert!(err.contains("corrupt"), "{err}");

        // remove always works on a half-installed profile and leaves nothing behind.
        let out = home.run(&["install", "remove"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!home.path().join(".headroom").exists());
    }
}

#[test]
fn a_python_manifest_loads_and_its_fields_survive() {
    let home = Home::new();
    let dir = home.path().join(".headroom/deploy/legacy");
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("manifest.json"), PYTHON_MANIFEST).unwrap();
    let (ok, st) = home.status_json("legacy");
    assert!(!ok, "nothing runs, so status must fail");
    assert_eq!(st["runtime"], "native");
    assert_eq!(st["preset"], "persistent-service");
    assert_eq!(st["targets"][0], "claude");
}

#[test]
fn a_foreign_process_on_the_port_is_named_and_nothing_is_installed() {
    let home = Home::new();
    let before = snapshot(home.path());
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    // Serves until the test process exits, so the listener is still there when headroom looks.
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        for s in listener.incoming() {
            let mut s = s.unwrap();
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf);
            let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello");
        }
    });
    let err = home.fails(&[
        "install",
        "apply",
        "--providers",
        "none",
        "--preset",
        "persistent-task",
        "--port",
        &port,
    ]);
    assert!(
        err.contains(&format!(
            "port {port} is held by another program (pid {}",
            std::process::id()
        )),
        "{err}"
    );
    assert_same_tree(
        &before,
        &snapshot(home.path()),
        "HOME after a refused apply",
    );
}

#[test]
fn commands_on_a_missing_profile_say_so() {
    let home = Home::new();
    for cmd in ["start", "stop", "restart"] {
        let err = home.fails(&["install", cmd, "--profile", "nope"]);
        assert!(err.contains("no deployment named \"nope\""), "{cmd}: {err}");
    }
    let out = home.ok(&["install", "remove", "--profile", "nope"]);
    assert!(out.contains("nothing to remove"), "{out}");
    let err = home.fails(&["install", "status", "--profile", "../x"]);
    assert!(err.contains("invalid profile name"), "{err}");
    let out = home
        .cmd(&["install", "status"])
        .env("HOME", "relative/home")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("HOME must be an absolute path"));
}

#[test]
fn an_unusable_supervisor_is_named_with_a_preset_that_would_work() {
    let home = Home::new();
    let before = snapshot(home.path());
    let port = free_port().to_string();
    // Whatever this machine has (no docker CLI, a CLI without daemon, or no image), the probe
    // refuses before anything is written, in one line.
    let out = home.run(&[
        "install",
        "apply",
        "--preset",
        "persistent-docker",
        "--providers",
        "none",
        "--port",
        &port,
        "--image",
        "headroom-test-absent:never",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("docker is not usable"), "{err}");
    assert!(
        err.contains("try --preset persistent-service or persistent-task")
            || err.contains("image headroom-test-absent:never not found"),
        "{err}"
    );
    // A service with no reachable user manager says which preset to try instead.
    let out = home
        .cmd(&["install", "apply", "--providers", "none", "--port", &port])
        .env("XDG_RUNTIME_DIR", home.path())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("systemd user manager is not usable"), "{err}");
    assert!(err.contains("try --preset persistent-task"), "{err}");
    // The README's plain `install apply` (tools routed at user scope): refused the same way
    // before any adapter runs, so not even headroom's compile cache appears.
    let out = home
        .cmd(&["install", "apply", "--port", &port])
        .env("XDG_RUNTIME_DIR", home.path())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("systemd user manager is not usable"), "{err}");
    assert_same_tree(
        &before,
        &snapshot(home.path()),
        "HOME after refused applies",
    );
}

#[test]
fn a_command_waiting_for_another_headroom_says_whom_and_gives_up_after_its_bound() {
    let home = Home::new();
    let lock = home.path().join(".headroom/locks/deploy-busy.lock");
    // Another headroom holds the profile's lock (this test process, as headroom itself would).
    let held = headroom_core::FileLock::acquire(&lock, "test").unwrap();
    let out = home
        .cmd(&["install", "remove", "--profile", "busy"])
        .env("HEADROOM_LOCK_TIMEOUT", "1")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    let pid = std::process::id();
    assert!(!out.status.success(), "{err}");
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 2, "{err}");
    assert!(
        lines[0].starts_with(&format!(
            "headroom: waiting for another headroom (pid {pid}) holding the deployment busy lock"
        )),
        "{err}"
    );
    assert!(
        lines[1].starts_with(&format!(
            "headroom: error: another headroom (pid {pid}) has held the deployment busy lock for 1 s"
        )),
        "{err}"
    );
    drop(held);
    let out = home.ok(&["install", "remove", "--profile", "busy"]);
    assert!(out.contains("nothing to remove"), "{out}");
}

/// The default install at user scope selects every tool found on the machine, each by its own
/// adapter's detection (claude is written by shell-env there, but only the claude adapter can
/// tell it is installed), and routes Codex through its own config.toml (it ignores the export).
#[test]
fn the_default_user_scope_install_selects_each_detected_tool() {
    let home = Home::new();
    fs::create_dir_all(home.path().join(".claude")).unwrap();
    fs::create_dir_all(home.path().join(".codex")).unwrap();
    fs::write(home.path().join(".codex/config.toml"), "model = \"o3\"\n").unwrap();
    fs::write(home.path().join(".bashrc"), "# mine\n").unwrap();
    let before = user_files(home.path());
    let out = home.ok(&["install", "apply", "--dry-run", "--port", "18998"]);
    assert!(out.contains("\ntool targets: claude, codex\n"), "{out}");
    assert!(
        out.contains("+export ANTHROPIC_BASE_URL='http://127.0.0.1:18998'"),
        "{out}"
    );
    assert!(
        !out.contains("export OPENAI_BASE_URL"),
        "Codex ignores it: {out}"
    );
    assert!(
        out.contains("+base_url = \"http://127.0.0.1:18998/v1\""),
        "{out}"
    );
    assert!(out.contains("note: Codex ignores OPENAI_BASE_URL"), "{out}");
    assert_same_tree(&before, &user_files(home.path()), "HOME after a dry run");
}

/// A user's own `env.ANTHROPIC_BASE_URL` in Claude's settings.json beats an exported variable:
/// a user-scope install would write an export that never takes effect, so it is refused before
/// anything is written, in one line naming the setting and the command that works.
#[test]
fn a_higher_precedence_setting_blocks_a_user_scope_install() {
    let home = Home::new();
    fs::create_dir_all(home.path().join(".claude")).unwrap();
    fs::write(
        home.path().join(".claude/settings.json"),
        "{ \"env\": { \"ANTHROPIC_BASE_URL\": \"https://gateway.example\" } }",
    )
    .unwrap();
    let before = user_files(home.path());
    // The dry run needs no supervisor (the real apply, refused the same way with a usable one,
    // is in install_systemd_user.rs).
    let err = home.fails(&[
        "install",
        "apply",
        "--providers",
        "manual",
        "--target",
        "claude",
        "--port",
        "18997",
        "--dry-run",
    ]);
    assert!(err.contains("settings.json"), "{err}");
    assert!(err.contains("env.ANTHROPIC_BASE_URL"), "{err}");
    assert!(err.contains("--scope provider"), "{err}");
    assert!(err.contains("nothing was changed"), "{err}");
    assert_same_tree(
        &before,
        &user_files(home.path()),
        "HOME after refused applies",
    );
}
