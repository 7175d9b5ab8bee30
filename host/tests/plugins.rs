//! `headroom plugins` end to end: the built-in Claude adapter's byte-exact round trips, bad
//! input, and hostile adapters that must be contained with one clear line and no change.

mod support;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use support::{err_line, isolate, isolated, leb, ok, run_in, user_files, with_manifest};

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

#[test]
fn list_shows_the_builtin_claude_adapter() {
    let h = home();
    let table = ok(&run_in(&h.path, &["plugins", "list"], &[]));
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
        serde_json::from_str(&ok(&run_in(&h.path, &["plugins", "list", "--json"], &[]))).unwrap();
    let c = json
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["id"] == "claude")
        .unwrap();
    assert_eq!(c["detected"], "yes");
    assert_eq!(c["status"]["state"], "ok");
    assert_eq!(c["manifest"]["api"], "0.3.0");
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
        let before = user_files(&h.path);
        let diff = ok(&run_in(
            &h.path,
            &["plugins", "apply", "claude", "--port", "8787", "--dry-run"],
            &[],
        ));
        assert!(
            diff.contains("+++ b/~/.claude/settings.json"),
            "{name}: {diff}"
        );
        assert_eq!(
            user_files(&h.path),
            before,
            "{name}: dry run changes nothing"
        );
        ok(&run_in(
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
        ok(&run_in(&h.path, &["plugins", "revert", "claude"], &[]));
        assert_eq!(user_files(&h.path), before, "{name}: byte-exact revert");
    }
}

#[test]
fn claude_honours_claude_config_dir() {
    let h = home();
    let alt = h.path.join("alt-claude");
    fs::create_dir(&alt).unwrap();
    ok(&run_in(
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
    let line = err_line(&run_in(&h.path, &["plugins", "apply", "claude"], &[]));
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
            "needs adapter API 0.4; this headroom supports 0.1.x, 0.2.x and 0.3.x",
        ),
    ];
    for (bytes, want) in cases {
        fs::write(&f, bytes).unwrap();
        let line = err_line(&run_in(
            &h.path,
            &["plugins", "inspect", f.to_str().unwrap()],
            &[],
        ));
        assert!(line.contains(want), "{line}");
    }
    // A precompiled artifact: take one from the compile cache.
    ok(&run_in(&h.path, &["plugins", "list"], &[]));
    let cached = fs::read_dir(h.path.join(".headroom/cache"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let line = err_line(&run_in(
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
    let line = err_line(&run_in(
        &h.path,
        &["plugins", "inspect", f.to_str().unwrap()],
        &[],
    ));
    assert!(line.contains("not a WebAssembly component"), "{line}");
}

#[test]
fn an_unusable_home_is_one_line_and_nothing_is_written_anywhere() {
    // An empty or relative HOME would put ~/.headroom (cache, runs, journals) under whatever
    // directory the command happens to run in.
    let h = home();
    let cwd = h.path.join("cwd");
    fs::create_dir_all(&cwd).unwrap();
    for (home, want) in [
        ("", "HOME is not set"),
        (
            "relative/home",
            "HOME must be an absolute path, got relative/home",
        ),
    ] {
        for args in [&["plugins", "list"][..], &["wrap", "openclaw"][..]] {
            let o = isolated(Path::new(home), args)
                .current_dir(&cwd)
                .output()
                .unwrap();
            assert_eq!(err_line(&o), want, "{args:?} with HOME={home:?}");
        }
    }
    assert_eq!(fs::read_dir(&cwd).unwrap().count(), 0, "nothing written");
}

fn fixture(name: &str) -> PathBuf {
    Path::new(headroom_plugins::builtin::FIXTURES_DIR).join(format!("{name}.wasm"))
}

#[test]
fn hostile_adapters_are_contained_with_one_line_and_no_change() {
    let h = home();
    let plugins = h.path.join(".headroom/plugins");
    fs::create_dir_all(&plugins).unwrap();
    install(&h.path, &fixture("headroom_fixture_hostile"));
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
    let before = user_files(&h.path);

    let list = ok(&run_in(&h.path, &["plugins", "list"], &[]));
    let future = list
        .lines()
        .find(|l| l.starts_with("future-api") || l.starts_with("future "))
        .expect(&list);
    assert!(
        future.contains(
            "incompatible: needs adapter API 0.4; this headroom supports 0.1.x, 0.2.x and 0.3.x"
        ),
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
        let o = run_in(
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
        assert_eq!(user_files(&h.path), before, "{mode}: a file changed");
    }
    // The same plugin, behaving, may edit what it was granted.
    ok(&run_in(&h.path, &["plugins", "apply", "hostile"], &[]));
    assert_eq!(
        fs::read_to_string(h.path.join(".hostile/config.json")).unwrap(),
        "{\n  \"allowed\": true\n}\n"
    );
    // Plugin deleted behind headroom's back: revert still works, from the journal alone.
    fs::remove_dir_all(plugins.join("hostile")).unwrap();
    ok(&run_in(&h.path, &["plugins", "revert", "hostile"], &[]));
    assert_eq!(user_files(&h.path), before);
}

fn install(home: &Path, wasm: &Path) -> String {
    ok(&run_in(
        home,
        &["plugins", "install", "--yes", wasm.to_str().unwrap()],
        &[],
    ))
}

/// A login shell reads its own startup file only: bash the first of ~/.bash_profile,
/// ~/.bash_login, ~/.profile; zsh ~/.zshrc. The block goes there, and new login shells see it.
#[test]
fn shell_env_writes_the_file_a_login_shell_reads() {
    let h = home();
    fs::write(h.path.join(".bashrc"), "# mine\n").unwrap();
    fs::write(h.path.join(".bash_profile"), "# login\n").unwrap();
    let before = user_files(&h.path);
    let args = [
        "plugins",
        "apply",
        "shell-env",
        "--scope",
        "user",
        "--targets",
        "claude",
        "--port",
        "8787",
    ];
    ok(&run_in(&h.path, &args, &[("SHELL", "/bin/bash")]));
    for f in [".bashrc", ".bash_profile"] {
        let text = fs::read_to_string(h.path.join(f)).unwrap();
        assert!(text.contains("export ANTHROPIC_BASE_URL="), "{f}: {text}");
    }
    assert!(
        !h.path.join(".profile").exists(),
        "bash never reads it here"
    );
    let seen = std::process::Command::new("bash")
        .args(["-l", "-c", "printf %s \"$ANTHROPIC_BASE_URL\""])
        .env_clear()
        .env("HOME", &h.path)
        .env("PATH", "/usr/bin:/bin")
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&seen.stdout),
        "http://127.0.0.1:8787"
    );
    ok(&run_in(&h.path, &["plugins", "revert", "shell-env"], &[]));
    assert_eq!(user_files(&h.path), before);

    let h = home();
    let before = user_files(&h.path);
    ok(&run_in(&h.path, &args, &[("SHELL", "/usr/bin/zsh")]));
    assert!(
        fs::read_to_string(h.path.join(".zshrc"))
            .unwrap()
            .contains("export ANTHROPIC_BASE_URL="),
        "zsh reads ~/.zshrc, never ~/.profile"
    );
    ok(&run_in(&h.path, &["plugins", "revert", "shell-env"], &[]));
    assert_eq!(user_files(&h.path), before);
}

#[test]
fn shell_env_exports_a_quoted_block_and_reverts_exactly() {
    // Existing rc files get the block, and so does the file a login bash reads (~/.profile,
    // created: without it a login shell would never see the exports); nothing else is created.
    let h = home();
    fs::write(h.path.join(".bashrc"), "# my bashrc\nalias ll='ls -l'").unwrap();
    let before = user_files(&h.path);
    let args = [
        "plugins",
        "apply",
        "shell-env",
        "--scope",
        "user",
        "--targets",
        "claude,cursor",
        "--port",
        "8787",
    ];
    ok(&run_in(&h.path, &args, &[]));
    let rc = fs::read_to_string(h.path.join(".bashrc")).unwrap();
    assert!(rc.starts_with("# my bashrc\nalias ll='ls -l'\n"), "{rc}");
    assert!(rc.ends_with(
        "# >>> headroom persistent env >>>\nexport ANTHROPIC_BASE_URL='http://127.0.0.1:8787'\nexport ENABLE_TOOL_SEARCH='true'\nexport OPENAI_BASE_URL='http://127.0.0.1:8787/v1'\n# <<< headroom persistent env <<<\n"
    ), "{rc}");
    assert_eq!(
        fs::read_to_string(h.path.join(".profile")).unwrap(),
        "# >>> headroom persistent env >>>\nexport ANTHROPIC_BASE_URL='http://127.0.0.1:8787'\nexport ENABLE_TOOL_SEARCH='true'\nexport OPENAI_BASE_URL='http://127.0.0.1:8787/v1'\n# <<< headroom persistent env <<<\n"
    );
    assert!(!h.path.join(".zshrc").exists() && !h.path.join(".bash_profile").exists());
    ok(&run_in(&h.path, &["plugins", "revert", "shell-env"], &[]));
    assert_eq!(user_files(&h.path), before);

    // No rc file at all, and a fish user: ~/.profile and fish's conf.d, both removed again.
    let h = home();
    let before = user_files(&h.path);
    ok(&run_in(&h.path, &args, &[("SHELL", "/usr/bin/fish")]));
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
    ok(&run_in(&h.path, &["plugins", "revert", "shell-env"], &[]));
    assert_eq!(
        user_files(&h.path),
        before,
        "created files and directories are gone"
    );
}

// ---- Installing third-party plugins: consent bound to the file, upgrades, grants. ----

/// The same component with a harmless extra custom section: a different file, same manifest.
fn lookalike(wasm: &[u8]) -> Vec<u8> {
    let mut out = wasm.to_vec();
    let mut section = Vec::new();
    leb(5, &mut section);
    section.extend_from_slice(b"extra");
    section.extend_from_slice(b"swapped");
    out.push(0);
    leb(section.len(), &mut out);
    out.extend(section);
    out
}

const HOSTILE_TOML: &str = include_str!("../../plugins/fixtures/hostile/adapter.toml");

/// A variant of the hostile fixture written to `dir/name.wasm`.
fn variant(dir: &Path, name: &str, manifest: &str) -> PathBuf {
    let base = fs::read(fixture("headroom_fixture_hostile")).unwrap();
    let path = dir.join(format!("{name}.wasm"));
    fs::write(&path, with_manifest(&base, manifest)).unwrap();
    path
}

fn hostile_home() -> Home {
    let h = home();
    fs::create_dir_all(h.path.join(".hostile")).unwrap();
    fs::write(h.path.join(".hostile/config.json"), "{ \"mine\": 1 }\n").unwrap();
    h
}

#[test]
fn install_shows_what_it_may_touch_and_needs_consent() {
    let h = hostile_home();
    let f = fixture("headroom_fixture_hostile");
    let o = run_in(&h.path, &["plugins", "install", f.to_str().unwrap()], &[]);
    let screen = String::from_utf8_lossy(&o.stdout);
    for want in [
        "Install adapter plugin \"hostile\" 0.1.0",
        "sha256",
        "read any file under ~/.hostile/",
        "edit ~/.hostile/config.json: the JSON key /allowed only",
        "read the environment variable HOSTILE_MODE (as headroom has it, and as a new login shell exports it)",
        "It can never: run programs, use the network",
        "headroom itself runs your $SHELL once",
    ] {
        assert!(screen.contains(want), "{want:?} not in:\n{screen}");
    }
    let line = err_line(&o);
    assert_eq!(
        line,
        format!(
            "not approved: no terminal to ask on; to approve, run: headroom plugins install --yes {}",
            f.display()
        )
    );
    assert!(!h.path.join(".headroom/plugins/hostile").exists());
    let line = err_line(&run_in(&h.path, &["plugins", "apply", "hostile"], &[]));
    assert!(line.starts_with("no adapter \"hostile\""), "{line}");

    install(&h.path, &f);
    let list = ok(&run_in(&h.path, &["plugins", "list"], &[]));
    let row = list.lines().find(|l| l.starts_with("hostile")).unwrap();
    assert!(row.contains("installed") && row.contains(" ok "), "{row}");
    ok(&run_in(&h.path, &["plugins", "apply", "hostile"], &[]));
    assert_eq!(
        fs::read_to_string(h.path.join(".hostile/config.json")).unwrap(),
        "{ \"mine\": 1, \"allowed\": true }\n"
    );
    // The same file again: nothing to ask.
    let again = install(&h.path, &f);
    assert!(again.contains("already installed and approved"), "{again}");
}

#[test]
fn answering_on_a_terminal_installs_only_on_yes() {
    let h = hostile_home();
    let f = fixture("headroom_fixture_hostile");
    let run = |answer: &str| {
        let cmd = format!("{} plugins install {}", support::headroom(), f.display());
        let mut child = isolate(
            Command::new("script").args(["-qec", &cmd, "/dev/null"]),
            &h.path,
        )
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
        use std::io::Write as _;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(answer.as_bytes())
            .unwrap();
        let o = child.wait_with_output().unwrap();
        (
            o.status.success(),
            String::from_utf8_lossy(&o.stdout).into_owned(),
        )
    };
    let (success, out) = run("n\n");
    assert!(!success && out.contains("Install hostile? [y/N]"), "{out}");
    assert!(out.contains("not approved; nothing changed"), "{out}");
    assert!(!h.path.join(".headroom/plugins/hostile").exists());
    let (success, out) = run("y\n");
    assert!(success, "{out}");
    assert!(
        h.path
            .join(".headroom/plugins/hostile/consent.json")
            .exists()
    );
}

#[test]
fn a_file_swapped_after_install_does_not_run_until_approved() {
    let h = hostile_home();
    install(&h.path, &fixture("headroom_fixture_hostile"));
    let installed = h.path.join(".headroom/plugins/hostile/adapter.wasm");
    fs::write(&installed, lookalike(&fs::read(&installed).unwrap())).unwrap();
    let before = user_files(&h.path);

    let list = ok(&run_in(&h.path, &["plugins", "list"], &[]));
    let row = list.lines().find(|l| l.starts_with("hostile")).unwrap();
    assert!(
        row.contains("needs-approval: the file changed since it was approved"),
        "{row}"
    );
    let line = err_line(&run_in(&h.path, &["plugins", "apply", "hostile"], &[]));
    assert_eq!(
        line,
        "adapter hostile needs approval (the file changed since it was approved); review it with: headroom plugins grant hostile"
    );
    assert_eq!(user_files(&h.path), before);
    // Approving needs a yes too.
    let line = err_line(&run_in(&h.path, &["plugins", "grant", "hostile"], &[]));
    assert!(
        line.ends_with("to approve, run: headroom plugins grant --yes hostile"),
        "{line}"
    );
    ok(&run_in(
        &h.path,
        &["plugins", "grant", "--yes", "hostile"],
        &[],
    ));
    ok(&run_in(&h.path, &["plugins", "apply", "hostile"], &[]));
}

#[test]
fn upgrades_keep_their_grant_only_when_they_ask_for_nothing_new() {
    let h = hostile_home();
    let dir = h.path.parent().unwrap();
    install(&h.path, &fixture("headroom_fixture_hostile"));

    // Fewer capabilities (the text block on ~/.hostile/rc dropped): installed without asking.
    let fewer = HOSTILE_TOML
        .replace("version = \"0.1.0\"", "version = \"0.2.0\"")
        .replace(
            "[[capabilities.edit]]\nfile = \"~/.hostile/rc\"\nformat = \"text\"\nkeys = [\"env\"]\n",
            "",
        );
    assert_ne!(fewer, HOSTILE_TOML);
    let out = ok(&run_in(
        &h.path,
        &[
            "plugins",
            "install",
            variant(dir, "fewer", &fewer).to_str().unwrap(),
        ],
        &[],
    ));
    assert!(out.contains("Upgrade (installed: 0.1.0)"), "{out}");
    assert!(out.contains("existing approval carries over"), "{out}");
    ok(&run_in(&h.path, &["plugins", "apply", "hostile"], &[]));

    // More: a new environment variable and a new key. Refused without a yes, and the installed
    // version keeps running untouched.
    let more = fewer
        .replace("version = \"0.2.0\"", "version = \"0.3.0\"")
        .replace(
            "env = [\"HOSTILE_MODE\"]",
            "env = [\"HOSTILE_MODE\", \"HOSTILE_EXTRA\"]",
        )
        .replace("keys = [\"/allowed\"]", "keys = [\"/allowed\", \"/more\"]");
    let more = variant(dir, "more", &more);
    let o = run_in(
        &h.path,
        &["plugins", "install", more.to_str().unwrap()],
        &[],
    );
    let screen = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(screen.contains("It asks for NEW permissions:"), "{screen}");
    assert!(
        screen.contains("+ read the environment variable HOSTILE_EXTRA (as headroom")
            && screen.contains("+ edit ~/.hostile/config.json: the JSON key /more only")
            && screen.contains("= read the environment variable HOSTILE_MODE (as headroom"),
        "{screen}"
    );
    err_line(&o);
    let list = ok(&run_in(&h.path, &["plugins", "list"], &[]));
    assert!(
        list.lines()
            .any(|l| l.starts_with("hostile      0.2.0") && l.contains(" ok ")),
        "{list}"
    );
    install(&h.path, &more);
    let list = ok(&run_in(&h.path, &["plugins", "list", "-v"], &[]));
    assert!(list.contains("hostile      0.3.0"), "{list}");
}

#[test]
fn single_capabilities_are_revoked_and_granted_and_denials_are_counted() {
    let h = hostile_home();
    install(&h.path, &fixture("headroom_fixture_hostile"));
    let cap = "edit ~/.hostile/config.json /allowed";
    let out = ok(&run_in(
        &h.path,
        &["plugins", "revoke", "hostile", cap],
        &[],
    ));
    assert!(
        out.contains("revoked: edit ~/.hostile/config.json /allowed"),
        "{out}"
    );
    let line = err_line(&run_in(&h.path, &["plugins", "apply", "hostile"], &[]));
    assert!(
        line.contains("hostile may not edit JSON key /allowed of ~/.hostile/config.json"),
        "{line}"
    );
    let list = ok(&run_in(&h.path, &["plugins", "list", "-v"], &[]));
    assert!(list.contains(&format!("    revoked  {cap}")), "{list}");

    let line = err_line(&run_in(
        &h.path,
        &["plugins", "revoke", "hostile", "env HOME"],
        &[],
    ));
    assert!(
        line.starts_with(
            "hostile declares no capability \"env HOME\"; it declares: read ~/.hostile/**;"
        ),
        "{line}"
    );
    ok(&run_in(&h.path, &["plugins", "grant", "hostile", cap], &[]));
    ok(&run_in(&h.path, &["plugins", "apply", "hostile"], &[]));

    // A denied read is counted for the last run.
    fs::create_dir_all(h.path.join(".ssh")).unwrap();
    fs::write(h.path.join(".ssh/id_rsa"), "KEY").unwrap();
    err_line(&run_in(
        &h.path,
        &["plugins", "apply", "hostile"],
        &[("HOSTILE_MODE", "read-ssh")],
    ));
    let list = ok(&run_in(&h.path, &["plugins", "list", "-v"], &[]));
    let block: Vec<&str> = list
        .lines()
        .skip_while(|l| !l.starts_with("hostile"))
        .collect();
    assert!(
        block
            .iter()
            .any(|l| l.contains("last run apply") && l.ends_with(": 1 denial")),
        "{list}"
    );
}

#[test]
fn disabled_plugins_do_not_run() {
    let h = hostile_home();
    install(&h.path, &fixture("headroom_fixture_hostile"));
    ok(&run_in(&h.path, &["plugins", "disable", "hostile"], &[]));
    let line = err_line(&run_in(&h.path, &["plugins", "apply", "hostile"], &[]));
    assert_eq!(
        line,
        "adapter hostile is disabled; turn it on with: headroom plugins enable hostile"
    );
    ok(&run_in(&h.path, &["plugins", "enable", "hostile"], &[]));
    ok(&run_in(&h.path, &["plugins", "apply", "hostile"], &[]));
    let line = err_line(&run_in(&h.path, &["plugins", "disable", "claude"], &[]));
    assert!(line.starts_with("claude is a built-in adapter"), "{line}");
}

#[test]
fn remove_reverts_what_the_plugin_applied_then_deletes_it() {
    let h = hostile_home();
    let before = user_files(&h.path);
    install(&h.path, &fixture("headroom_fixture_hostile"));
    ok(&run_in(&h.path, &["plugins", "apply", "hostile"], &[]));
    assert_ne!(user_files(&h.path), before);

    // A deployment that used it must be removed first.
    let deploy = h.path.join(".headroom/deploy/default");
    fs::create_dir_all(&deploy).unwrap();
    fs::write(
        deploy.join("manifest.json"),
        r#"{"profile": "default", "preset": "persistent-service", "runtime_kind": "native",
            "supervisor_kind": "systemd", "scope": "provider", "provider_mode": "manual",
            "port": 8787, "adapters": {"hostile": "0.1.0"}}"#,
    )
    .unwrap();
    let line = err_line(&run_in(&h.path, &["plugins", "remove", "hostile"], &[]));
    assert_eq!(
        line,
        "hostile configured tools for the deployment \"default\"; run `headroom install remove --profile default` first"
    );
    // One whose manifest cannot be read might have: it is named, and so is why.
    fs::write(
        deploy.join("manifest.json"),
        r#"{"adapters": {"hostile": "0.1.0"}}"#,
    )
    .unwrap();
    let line = err_line(&run_in(&h.path, &["plugins", "remove", "hostile"], &[]));
    assert!(
        line.starts_with("the deployment \"default\" may hold hostile's edits (")
            && line.ends_with("); run `headroom install remove --profile default` first"),
        "{line}"
    );
    fs::remove_dir_all(&deploy).unwrap();

    let out = ok(&run_in(&h.path, &["plugins", "remove", "hostile"], &[]));
    assert!(
        out.contains("restored ~/.hostile/config.json") && out.contains("removed hostile"),
        "{out}"
    );
    assert_eq!(user_files(&h.path), before);
    assert!(!h.path.join(".headroom/plugins/hostile").exists());
    let list = ok(&run_in(&h.path, &["plugins", "list"], &[]));
    assert!(!list.contains("hostile"), "{list}");
    let line = err_line(&run_in(&h.path, &["plugins", "remove", "claude"], &[]));
    assert!(line.starts_with("claude is a built-in adapter"), "{line}");
}

#[test]
fn builtin_ids_are_reserved_unless_replaced_explicitly() {
    let h = hostile_home();
    let dir = h.path.parent().unwrap();
    let claude = variant(
        dir,
        "claude",
        &HOSTILE_TOML.replace("id = \"hostile\"", "id = \"claude\""),
    );
    let line = err_line(&run_in(
        &h.path,
        &["plugins", "install", "--yes", claude.to_str().unwrap()],
        &[],
    ));
    assert!(line.ends_with("id \"claude\" belongs to a built-in adapter; to use this file instead, add --replace-builtin"), "{line}");
    let out = ok(&run_in(
        &h.path,
        &[
            "plugins",
            "install",
            "--yes",
            "--replace-builtin",
            claude.to_str().unwrap(),
        ],
        &[],
    ));
    assert!(
        out.contains("REPLACES the built-in adapter \"claude\""),
        "{out}"
    );
    let list = ok(&run_in(&h.path, &["plugins", "list"], &[]));
    let rows: Vec<&str> = list.lines().filter(|l| l.starts_with("claude ")).collect();
    assert_eq!(rows.len(), 1, "{list}");
    assert!(rows[0].contains("replaces"), "{list}");
    ok(&run_in(&h.path, &["plugins", "remove", "claude"], &[]));
    let list = ok(&run_in(&h.path, &["plugins", "list"], &[]));
    assert!(
        list.lines()
            .any(|l| l.starts_with("claude ") && l.contains("built-in")),
        "{list}"
    );
}

#[test]
fn bad_plugin_files_are_refused_with_one_line_and_nothing_installed() {
    let h = hostile_home();
    let dir = h.path.parent().unwrap();
    let good = fs::read(fixture("headroom_fixture_hostile")).unwrap();
    let truncated = dir.join("truncated.wasm");
    fs::write(&truncated, &good[..good.len() / 2]).unwrap();
    let cases: Vec<(PathBuf, &str)> = vec![
        (truncated, "not a WebAssembly component"),
        (
            fixture("headroom_fixture_future_api"),
            "needs adapter API 0.4; this headroom supports 0.1.x, 0.2.x and 0.3.x",
        ),
        (
            variant(
                dir,
                "unknown-kind",
                &HOSTILE_TOML.replace(
                    "[capabilities]",
                    "[capabilities]\nnetwork = [\"example.com\"]",
                ),
            ),
            "needs a newer headroom",
        ),
        (
            variant(
                dir,
                "dotdot",
                &HOSTILE_TOML.replace(
                    "read = [\"~/.hostile/**\"]",
                    "read = [\"~/.hostile/../.ssh/**\"]",
                ),
            ),
            "may not contain '..'",
        ),
        (
            variant(
                dir,
                "relative",
                &HOSTILE_TOML.replace("read = [\"~/.hostile/**\"]", "read = [\"etc/**\"]"),
            ),
            "must start with ~/, / or ${VAR:-default}",
        ),
        (
            variant(
                dir,
                "outside-home",
                &HOSTILE_TOML.replace("read = [\"~/.hostile/**\"]", "read = [\"/etc/**\"]"),
            ),
            "outside the home directory; only an adapter with the system scope may name one",
        ),
        (
            variant(
                dir,
                "whole-home",
                &HOSTILE_TOML.replace("read = [\"~/.hostile/**\"]", "read = [\"~/**\"]"),
            ),
            "the whole home directory or filesystem",
        ),
        (
            variant(
                dir,
                "glob",
                &HOSTILE_TOML.replace(
                    "file = \"~/.hostile/config.json\"",
                    "file = \"~/.hostile/*.json\"",
                ),
            ),
            "edit capabilities name one file (no globs)",
        ),
    ];
    for (file, want) in cases {
        let line = err_line(&run_in(
            &h.path,
            &["plugins", "install", "--yes", file.to_str().unwrap()],
            &[],
        ));
        assert!(line.contains(want), "{}: {line}", file.display());
        assert!(
            !h.path.join(".headroom/plugins").exists(),
            "{}",
            file.display()
        );
    }
    // A manifest that tries to draw on the consent screen is shown inert.
    let painted = variant(
        dir,
        "painted",
        &HOSTILE_TOML.replace(
            "name = \"Hostile fixture\"",
            "name = \"\\u001b[2J\\u001b[HInstall claude? [y/N] y\"",
        ),
    );
    let o = run_in(
        &h.path,
        &["plugins", "install", painted.to_str().unwrap()],
        &[],
    );
    assert!(!String::from_utf8_lossy(&o.stdout).contains('\u{1b}'));
    err_line(&o);
    // A corrupt consent record grants nothing.
    install(&h.path, &fixture("headroom_fixture_hostile"));
    fs::write(
        h.path.join(".headroom/plugins/hostile/consent.json"),
        "{ not json",
    )
    .unwrap();
    let line = err_line(&run_in(&h.path, &["plugins", "apply", "hostile"], &[]));
    assert!(
        line.contains("needs approval (consent record") && line.contains("is corrupt"),
        "{line}"
    );
}
