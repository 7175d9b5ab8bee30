//! What the CLI tells about itself: shell completions run by the real shells, man pages rendered
//! by the real formatter, the allowed values `--help` lists, `health --json`, and `plugins
//! inspect` by id as well as by file.

mod support;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use support::{Home, err_line, free_port, headroom, ok, run_in, start_proxy};

fn run(args: &[&str]) -> Output {
    Command::new(headroom()).args(args).output().unwrap()
}

/// `headroom completions SHELL` written to `dir/headroom.SHELL`.
fn completion_script(dir: &Path, shell: &str) -> PathBuf {
    let script = ok(&run(&["completions", shell]));
    assert!(script.contains("headroom"), "{shell}: {script}");
    let path = dir.join(format!("headroom.{shell}"));
    fs::write(&path, script).unwrap();
    path
}

fn installed(tool: &str) -> bool {
    Command::new(tool)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// What the generated bash function offers for the command line `line` (the cursor at its
/// end), driven the way bash's programmable completion drives it: COMP_WORDS, COMP_CWORD,
/// then the function `complete -p headroom` names.
fn bash_complete(script: &Path, line: &str) -> Vec<String> {
    let driver = r#"
        source "$1" || exit 3
        spec=$(complete -p headroom) || exit 4
        fn=$(sed -n 's/.*-F \([^ ]*\).*/\1/p' <<<"$spec")
        [ -n "$fn" ] || exit 5
        COMP_LINE="$2"
        COMP_POINT=${#COMP_LINE}
        read -ra COMP_WORDS <<<"$COMP_LINE"
        [ "${COMP_LINE: -1}" = " " ] && COMP_WORDS+=("")
        COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))
        "$fn" headroom "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
        printf '%s\n' "${COMPREPLY[@]}"
    "#;
    let out = Command::new("bash")
        .args(["--norc", "--noprofile", "-c", driver, "driver"])
        .arg(script)
        .arg(line)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "bash completion of {line:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_bash_completion_parses_and_completes_commands_and_values() {
    let dir = tempfile::tempdir().unwrap();
    let script = completion_script(dir.path(), "bash");
    let syntax = Command::new("bash")
        .arg("-n")
        .arg(&script)
        .output()
        .unwrap();
    assert!(
        syntax.status.success() && syntax.stderr.is_empty(),
        "bash -n: {}",
        String::from_utf8_lossy(&syntax.stderr)
    );
    assert_eq!(bash_complete(&script, "headroom ins"), ["install"]);
    let subs = bash_complete(&script, "headroom install ");
    for want in ["apply", "status", "remove"] {
        assert!(subs.contains(&want.to_owned()), "{subs:?}");
    }
    let scopes = bash_complete(&script, "headroom install apply --scope ");
    assert_eq!(scopes, ["provider", "user", "system"]);
    let presets = bash_complete(&script, "headroom install apply --preset persistent-t");
    assert_eq!(presets, ["persistent-task"]);
    let targets = bash_complete(&script, "headroom wrap co");
    for want in ["codex", "copilot"] {
        assert!(targets.contains(&want.to_owned()), "{targets:?}");
    }
    let shells = bash_complete(&script, "headroom completions ");
    for want in ["bash", "zsh", "fish", "powershell", "elvish"] {
        assert!(shells.contains(&want.to_owned()), "{shells:?}");
    }
}

#[test]
fn zsh_and_fish_parse_their_scripts() {
    let dir = tempfile::tempdir().unwrap();
    for (shell, check) in [("zsh", "-n"), ("fish", "--no-execute")] {
        let script = completion_script(dir.path(), shell);
        if !installed(shell) {
            support::skip(&format!(
                "{shell} is not installed (scripts/test installs it)"
            ));
            continue;
        }
        let out = Command::new(shell)
            .arg(check)
            .arg(&script)
            .output()
            .unwrap();
        assert!(
            out.status.success() && out.stderr.is_empty(),
            "{shell} {check}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // The others are generated from the same definitions (no interpreter here to run them).
    for shell in ["powershell", "elvish"] {
        let script = completion_script(dir.path(), shell);
        let text = fs::read_to_string(script).unwrap();
        assert!(
            text.contains("install") && text.contains("persistent-task"),
            "{shell}"
        );
    }
    // An unknown shell is clap's usage error, naming the ones there are.
    let refused = run(&["completions", "tcsh"]);
    let err = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(2), "{err}");
    assert!(
        err.contains("'tcsh'") && err.contains("bash, elvish, fish, powershell, zsh"),
        "{err}"
    );
}

#[test]
fn man_pages_are_written_one_per_command_and_render_cleanly() {
    let top = ok(&run(&["man"]));
    assert!(
        top.starts_with(".ie \\n(.g .ds Aq") || top.contains(".TH headroom 1"),
        "{top}"
    );
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("man/man1");
    let said = ok(&run(&["man", "--out", out.to_str().unwrap()]));
    assert!(said.starts_with("wrote "), "{said}");
    let mut pages: Vec<String> = fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    pages.sort();
    for want in [
        "headroom.1",
        "headroom-install.1",
        "headroom-install-apply.1",
        "headroom-plugins-inspect.1",
        "headroom-health.1",
        "headroom-completions.1",
    ] {
        assert!(pages.contains(&want.to_owned()), "{want} not in {pages:?}");
    }
    assert!(pages.iter().all(|p| !p.starts_with('.')), "{pages:?}");
    assert_eq!(fs::read_to_string(out.join("headroom.1")).unwrap(), top);
    if !installed("groff") {
        support::skip("groff is not installed (apt package groff-base; scripts/test installs it)");
        return;
    }
    for page in &pages {
        // -k: UTF-8 input through preconv, as man does; -ww: every warning groff knows;
        // -z: format, print nothing but the warnings.
        let r = Command::new("groff")
            .args(["-k", "-man", "-Tutf8", "-ww", "-z"])
            .arg(out.join(page))
            .output()
            .unwrap();
        assert!(
            r.status.success() && r.stderr.is_empty(),
            "{page}: {}",
            String::from_utf8_lossy(&r.stderr)
        );
    }
    let text = Command::new("groff")
        .args(["-k", "-man", "-Tutf8"])
        .arg(out.join("headroom-install-apply.1"))
        .env("GROFF_NO_SGR", "1")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    for want in ["persistent-task", "provider", "lossless"] {
        assert!(
            text.contains(want),
            "{want} not in the rendered page:\n{text}"
        );
    }
}

/// `headroom ARGS --help` with its line wrapping undone.
fn help(args: &[&str]) -> String {
    let text = ok(&run(&[args, &["--help"]].concat()));
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[test]
fn help_lists_the_allowed_values_of_every_enum_valued_flag() {
    let apply = help(&["install", "apply"]);
    for want in [
        "[possible values: persistent-service, persistent-task, persistent-docker]",
        "[possible values: native, docker]",
        "[possible values: provider, user, system]",
        "[possible values: auto, all, manual, none]",
        "[possible values: off, lossless, full]",
    ] {
        assert!(apply.contains(want), "{want} not in:\n{apply}");
    }
    let target = apply.split("--target <TOOL>").nth(1).unwrap();
    let target = &target[..target.find("--port").unwrap()];
    for tool in [
        "claude", "codex", "opencode", "openclaw", "copilot", "aider", "cursor",
    ] {
        assert!(
            target.contains(tool),
            "{tool} not in --target's help:{target}"
        );
    }
    let proxy = help(&["proxy"]);
    assert!(
        proxy.contains("[possible values: off, lossless, full]"),
        "{proxy}"
    );
    let plugins = help(&["plugins", "apply"]);
    assert!(
        plugins.contains("[possible values: provider, user, system]"),
        "{plugins}"
    );
    let stats = help(&["stats"]);
    assert!(
        stats.contains("[possible values: day, client, model, project]"),
        "{stats}"
    );
    let wrap = help(&["wrap"]);
    assert!(
        wrap.contains("claude") && wrap.contains("copilot"),
        "{wrap}"
    );
    // The values shown are the ones parsed: the types' own errors and aliases are kept.
    let line = err_line(&run(&[
        "install",
        "apply",
        "--scope",
        "global",
        "--dry-run",
    ]));
    assert!(
        line.contains("expected one of: provider, user, system"),
        "{line}"
    );
    // A tool only a third-party adapter knows is still accepted by the parser.
    let line = err_line(&run_in(
        tempfile::tempdir().unwrap().path(),
        &[
            "install",
            "apply",
            "--providers",
            "manual",
            "--target",
            "zed",
            "--dry-run",
        ],
        &[],
    ));
    assert!(!line.contains("invalid value"), "{line}");
}

#[test]
fn health_json_answers_ready_or_not_and_the_exit_code_is_the_verdict() {
    let port = free_port();
    let p = port.to_string();
    let down = run(&["health", "--json", "--port", &p]);
    assert_eq!(down.status.code(), Some(1), "{down:?}");
    assert!(
        down.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&down.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&down.stdout).unwrap();
    assert_eq!(v["ready"], false);
    assert_eq!(v["address"], format!("127.0.0.1:{port}"));
    assert_eq!(v["readyz_status"], serde_json::Value::Null);
    assert_eq!(v["error"], format!("nothing listens on 127.0.0.1:{port}"));
    assert_eq!(v["version"], serde_json::Value::Null);
    let line = err_line(&run(&["health", "--port", &p]));
    assert_eq!(
        line,
        format!("no ready headroom proxy on 127.0.0.1:{port}: nothing listens on 127.0.0.1:{port}")
    );

    let mut proxy = start_proxy(port);
    let up = run(&["health", "--json", "--port", &p]);
    let _ = proxy.kill();
    let _ = proxy.wait();
    let text = ok(&up);
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["ready"], true, "{text}");
    assert_eq!(v["readyz_status"], 200);
    assert_eq!(v["error"], serde_json::Value::Null);
    assert_eq!(v["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(v["compress"], "lossless");
    assert_eq!(v["profile"], serde_json::Value::Null);
    assert!(
        v["uptime_seconds"].as_f64().is_some_and(|u| u >= 0.0),
        "{text}"
    );
}

fn hostile_fixture() -> PathBuf {
    Path::new(headroom_plugins::builtin::FIXTURES_DIR).join("headroom_fixture_hostile.wasm")
}

#[test]
fn plugins_inspect_takes_a_builtin_or_installed_id_as_well_as_a_file() {
    let h = Home::new();
    let home = h.path();
    let builtin = ok(&run_in(home, &["plugins", "inspect", "claude"], &[]));
    for want in [
        "source:      built-in",
        "status:      ok",
        "id:          claude",
        "capabilities:",
    ] {
        assert!(builtin.contains(want), "{want} not in:\n{builtin}");
    }

    let line = err_line(&run_in(home, &["plugins", "inspect", "hostile"], &[]));
    assert_eq!(
        line,
        "\"hostile\" is neither an adapter id nor a file (adapters: claude, codex, opencode, openclaw, shell-env)"
    );

    let file = hostile_fixture();
    let by_file = ok(&run_in(
        home,
        &["plugins", "inspect", file.to_str().unwrap()],
        &[],
    ));
    assert!(
        by_file.contains("id:          hostile") && !by_file.contains("source:"),
        "{by_file}"
    );

    ok(&run_in(
        home,
        &["plugins", "install", "--yes", file.to_str().unwrap()],
        &[],
    ));
    let by_id = ok(&run_in(home, &["plugins", "inspect", "hostile"], &[]));
    let installed = home.join(".headroom/plugins/hostile/adapter.wasm");
    for want in [
        format!("source:      installed at {}", installed.display()),
        "status:      ok".to_owned(),
        "id:          hostile".to_owned(),
    ] {
        assert!(by_id.contains(&want), "{want} not in:\n{by_id}");
    }
    // The manifest part is the file's, whichever way it was named.
    assert!(by_id.ends_with(&by_file), "{by_id}\n---\n{by_file}");

    ok(&run_in(home, &["plugins", "disable", "hostile"], &[]));
    let disabled = ok(&run_in(home, &["plugins", "inspect", "hostile"], &[]));
    assert!(disabled.contains("status:      disabled"), "{disabled}");
}
