//! `headroom plugins` end to end: the built-in Claude adapter's byte-exact round trips, bad
//! input, and hostile adapters that must be contained with one clear line and no change.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

struct Home {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

fn home() -> Home {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("home");
    fs::create_dir_all(&path).unwrap();
    Home { _dir: dir, path }
}

fn headroom(home: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_headroom"));
    cmd.args(args)
        .env_clear()
        .env("HOME", home)
        .env("PATH", "/usr/bin:/bin");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout.clone()).unwrap()
}

/// The single error line, after checking the command failed with exactly one line.
fn err_line(o: &Output) -> String {
    assert!(
        !o.status.success(),
        "stdout: {}",
        String::from_utf8_lossy(&o.stdout)
    );
    let e = String::from_utf8(o.stderr.clone()).unwrap();
    let lines: Vec<&str> = e.lines().collect();
    assert_eq!(lines.len(), 1, "one line expected, got: {e}");
    assert!(lines[0].starts_with("headroom: error: "), "{e}");
    lines[0]["headroom: error: ".len()..].to_owned()
}

/// Every file and link under `dir` (excluding headroom's own state) with its bytes.
fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.ends_with(".headroom") {
                continue;
            }
            let m = fs::symlink_metadata(&p).unwrap();
            if m.is_dir() {
                stack.push(p.clone());
                out.push((p, Vec::new()));
            } else if m.file_type().is_symlink() {
                out.push((
                    p.clone(),
                    fs::read_link(&p)
                        .unwrap()
                        .to_string_lossy()
                        .as_bytes()
                        .to_vec(),
                ));
            } else {
                out.push((p.clone(), fs::read(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn list_shows_the_builtin_claude_adapter() {
    let h = home();
    let table = ok(&headroom(&h.path, &["plugins", "list"], &[]));
    let claude = table
        .lines()
        .find(|l| l.starts_with("claude "))
        .expect(&table);
    assert!(
        claude.contains("built-in") && claude.contains(" ok "),
        "{claude}"
    );
    assert!(
        claude.contains(" no "),
        "not detected in an empty home: {claude}"
    );
    fs::create_dir(h.path.join(".claude")).unwrap();
    let json: serde_json::Value =
        serde_json::from_str(&ok(&headroom(&h.path, &["plugins", "list", "--json"], &[]))).unwrap();
    let c = json
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["id"] == "claude")
        .unwrap();
    assert_eq!(c["detected"], "yes");
    assert_eq!(c["status"]["state"], "ok");
    assert_eq!(c["manifest"]["api"], "0.1.0");
}

#[test]
fn claude_apply_then_revert_restores_every_byte() {
    let cases: &[(&str, Option<&str>)] = &[
        ("absent", None),
        ("no env key", Some("{\n  \"model\": \"opus\"\n}\n")),
        (
            "4-space",
            Some("{\n    \"env\": {\n        \"A\": \"1\"\n    },\n    \"b\": true\n}\n"),
        ),
        ("non-ASCII", Some("{\"statusLine\": \"café ☕ 日本\"}\n")),
        ("no final newline", Some("{\n  \"x\": 1\n}")),
        (
            "existing base URL",
            Some("{\"env\": {\"ANTHROPIC_BASE_URL\": \"https://gw.example\"}}\n"),
        ),
    ];
    for (name, original) in cases {
        let h = home();
        if let Some(t) = original {
            fs::create_dir(h.path.join(".claude")).unwrap();
            fs::write(h.path.join(".claude/settings.json"), t).unwrap();
        }
        let before = snapshot(&h.path);
        let diff = ok(&headroom(
            &h.path,
            &["plugins", "apply", "claude", "--port", "8787", "--dry-run"],
            &[],
        ));
        assert!(
            diff.contains("+++ b/~/.claude/settings.json"),
            "{name}: {diff}"
        );
        assert_eq!(snapshot(&h.path), before, "{name}: dry run changes nothing");
        ok(&headroom(
            &h.path,
            &["plugins", "apply", "claude", "--port", "8787"],
            &[],
        ));
        let v: serde_json::Value =
            serde_json::from_slice(&fs::read(h.path.join(".claude/settings.json")).unwrap())
                .unwrap();
        assert_eq!(
            v["env"]["ANTHROPIC_BASE_URL"], "http://127.0.0.1:8787",
            "{name}"
        );
        assert_eq!(v["env"]["ENABLE_TOOL_SEARCH"], "true", "{name}");
        ok(&headroom(&h.path, &["plugins", "revert", "claude"], &[]));
        assert_eq!(snapshot(&h.path), before, "{name}: byte-exact revert");
    }
}

#[test]
fn claude_honours_claude_config_dir() {
    let h = home();
    let alt = h.path.join("alt-claude");
    fs::create_dir(&alt).unwrap();
    ok(&headroom(
        &h.path,
        &["plugins", "apply", "claude"],
        &[("CLAUDE_CONFIG_DIR", alt.to_str().unwrap())],
    ));
    assert!(
        fs::read_to_string(alt.join("settings.json"))
            .unwrap()
            .contains("127.0.0.1:8787")
    );
    assert!(!h.path.join(".claude").exists());
}

#[test]
fn a_corrupt_settings_file_is_named_and_never_rewritten() {
    let h = home();
    fs::create_dir(h.path.join(".claude")).unwrap();
    let bad = "{\n  \"env\": {\n    \"A\": 1,,\n  }\n";
    fs::write(h.path.join(".claude/settings.json"), bad).unwrap();
    let line = err_line(&headroom(&h.path, &["plugins", "apply", "claude"], &[]));
    assert!(
        line.starts_with("~/.claude/settings.json: invalid JSON at line 3"),
        "{line}"
    );
    assert_eq!(
        fs::read_to_string(h.path.join(".claude/settings.json")).unwrap(),
        bad
    );
}

#[test]
fn files_that_are_not_adapters_get_one_line() {
    let h = home();
    let f = h.path.join("x.wasm");
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (b"hello".to_vec(), "not a WebAssembly component"),
        (
            b"\0asm\x01\0\0\0".to_vec(),
            "a core WebAssembly module, not a component",
        ),
        (
            fs::read(fixture("headroom_fixture_future_api")).unwrap(),
            "needs adapter API 0.2; this headroom supports 0.1.x",
        ),
    ];
    for (bytes, want) in cases {
        fs::write(&f, bytes).unwrap();
        let line = err_line(&headroom(
            &h.path,
            &["plugins", "inspect", f.to_str().unwrap()],
            &[],
        ));
        assert!(line.contains(want), "{line}");
    }
    // A precompiled artifact: take one from the compile cache.
    ok(&headroom(&h.path, &["plugins", "list"], &[]));
    let cached = fs::read_dir(h.path.join(".headroom/cache"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let line = err_line(&headroom(
        &h.path,
        &["plugins", "inspect", cached.to_str().unwrap()],
        &[],
    ));
    assert!(
        line.contains("a precompiled artifact, not a component"),
        "{line}"
    );
    // Truncated: half a real component.
    let real = fs::read(fixture("headroom_adapter_claude")).unwrap();
    fs::write(&f, &real[..real.len() / 2]).unwrap();
    let line = err_line(&headroom(
        &h.path,
        &["plugins", "inspect", f.to_str().unwrap()],
        &[],
    ));
    assert!(line.contains("not a WebAssembly component"), "{line}");
}

fn fixture(name: &str) -> PathBuf {
    Path::new(headroom_plugins::builtin::FIXTURES_DIR).join(format!("{name}.wasm"))
}

#[test]
fn hostile_adapters_are_contained_with_one_line_and_no_change() {
    let h = home();
    let plugins = h.path.join(".headroom/plugins");
    fs::create_dir_all(&plugins).unwrap();
    fs::copy(
        fixture("headroom_fixture_hostile"),
        plugins.join("hostile.wasm"),
    )
    .unwrap();
    fs::copy(
        fixture("headroom_fixture_future_api"),
        plugins.join("future.wasm"),
    )
    .unwrap();
    fs::create_dir_all(h.path.join(".ssh")).unwrap();
    fs::write(h.path.join(".ssh/id_rsa"), "PRIVATE KEY").unwrap();
    fs::create_dir_all(h.path.join(".hostile")).unwrap();
    fs::write(h.path.join(".hostile/config.json"), "{}\n").unwrap();
    fs::write(h.path.join(".hostile/rc"), "x=1\n").unwrap();
    fs::write(h.path.join(".bashrc"), "alias a=b\n").unwrap();
    std::os::unix::fs::symlink(h.path.join(".ssh/id_rsa"), h.path.join(".hostile/link")).unwrap();
    let before = snapshot(&h.path);

    let list = ok(&headroom(&h.path, &["plugins", "list"], &[]));
    let future = list
        .lines()
        .find(|l| l.starts_with("future-api") || l.starts_with("future "))
        .expect(&list);
    assert!(
        future.contains("incompatible: needs adapter API 0.2; this headroom supports 0.1.x"),
        "{future}"
    );

    let cases: &[(&str, &str)] = &[
        ("read-ssh", "Denied(\"read ~/.ssh/id_rsa\")"),
        ("read-passwd", "Denied(\"read /etc/passwd\")"),
        ("read-dotdot", "Denied("),
        ("symlink-escape", "Denied("),
        ("std-fs", "std::fs::read /etc/passwd -> Err("),
        ("env-secret", "Denied(\"read env ANTHROPIC_API_KEY\")"),
        ("loop", "exceeded its 2 s time limit"),
        ("memory", "exceeded its 64 MiB memory limit"),
        ("flood", "crashed"),
        (
            "edit-outside",
            "hostile may not edit JSON key /x of ~/.bashrc (no grant covers it)",
        ),
        (
            "edit-other-key",
            "hostile may not edit JSON key /permissions of ~/.hostile/config.json",
        ),
        ("spoof-marker", "marker-like line"),
        ("terminal", "FAKE PROMPT"),
    ];
    for (mode, want) in cases {
        let o = headroom(
            &h.path,
            &["plugins", "apply", "hostile"],
            &[
                ("HOSTILE_MODE", mode),
                ("ANTHROPIC_API_KEY", "sk-ant-secret"),
            ],
        );
        let line = err_line(&o);
        assert!(line.contains(want), "{mode}: {line}");
        assert!(
            !line.contains("PRIVATE KEY")
                && !line.contains("sk-ant-secret")
                && !line.contains("root:"),
            "{mode} leaked: {line}"
        );
        assert!(
            !String::from_utf8_lossy(&o.stderr).contains('\u{1b}'),
            "{mode}: escape sequence reached the terminal"
        );
        assert!(
            !String::from_utf8_lossy(&o.stdout).contains("AAAA"),
            "{mode}: guest stdout reached the terminal"
        );
        assert_eq!(snapshot(&h.path), before, "{mode}: a file changed");
    }
    // The same plugin, behaving, may edit what it was granted.
    ok(&headroom(&h.path, &["plugins", "apply", "hostile"], &[]));
    assert_eq!(
        fs::read_to_string(h.path.join(".hostile/config.json")).unwrap(),
        "{\n  \"allowed\": true\n}\n"
    );
    // Removed plugin: revert still works, from the journal alone.
    fs::remove_file(plugins.join("hostile.wasm")).unwrap();
    ok(&headroom(&h.path, &["plugins", "revert", "hostile"], &[]));
    assert_eq!(
        snapshot(&h.path)
            .into_iter()
            .filter(|(p, _)| !p.ends_with("hostile.wasm"))
            .collect::<Vec<_>>(),
        before
            .into_iter()
            .filter(|(p, _)| !p.ends_with("hostile.wasm"))
            .collect::<Vec<_>>()
    );
}

#[test]
fn shell_env_exports_a_quoted_block_and_reverts_exactly() {
    // Existing rc files get the block; nothing else is created.
    let h = home();
    fs::write(h.path.join(".bashrc"), "# my bashrc\nalias ll='ls -l'").unwrap();
    let before = snapshot(&h.path);
    let args = [
        "plugins",
        "apply",
        "shell-env",
        "--scope",
        "user",
        "--targets",
        "claude,codex,cursor",
        "--port",
        "8787",
    ];
    ok(&headroom(&h.path, &args, &[]));
    let rc = fs::read_to_string(h.path.join(".bashrc")).unwrap();
    assert!(rc.starts_with("# my bashrc\nalias ll='ls -l'\n"), "{rc}");
    assert!(rc.ends_with(
        "# >>> headroom persistent env >>>\nexport ANTHROPIC_BASE_URL='http://127.0.0.1:8787'\nexport ENABLE_TOOL_SEARCH='true'\nexport OPENAI_BASE_URL='http://127.0.0.1:8787/v1'\n# <<< headroom persistent env <<<\n"
    ), "{rc}");
    assert!(!h.path.join(".profile").exists() && !h.path.join(".zshrc").exists());
    ok(&headroom(&h.path, &["plugins", "revert", "shell-env"], &[]));
    assert_eq!(snapshot(&h.path), before);

    // No rc file at all, and a fish user: ~/.profile and fish's conf.d, both removed again.
    let h = home();
    let before = snapshot(&h.path);
    ok(&headroom(&h.path, &args, &[("SHELL", "/usr/bin/fish")]));
    assert!(
        fs::read_to_string(h.path.join(".profile"))
            .unwrap()
            .contains("export OPENAI_BASE_URL='http://127.0.0.1:8787/v1'")
    );
    let fish = fs::read_to_string(h.path.join(".config/fish/conf.d/headroom.fish")).unwrap();
    assert!(
        fish.contains("set -gx ANTHROPIC_BASE_URL 'http://127.0.0.1:8787'"),
        "{fish}"
    );
    ok(&headroom(&h.path, &["plugins", "revert", "shell-env"], &[]));
    assert_eq!(
        snapshot(&h.path),
        before,
        "created files and directories are gone"
    );
}
