//! `headroom wrap`: fake tools on PATH record what they got; the proxy they talk to is real.

mod support;

use std::fs;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use support::{free_port, headroom_cmd, proxy_ready, start_proxy, write_executable};

/// A temp HOME with `bin/<name>` = `script`.
fn setup(name: &str, script: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir(dir.path().join("bin")).unwrap();
    write_executable(
        &dir.path().join("bin").join(name),
        &format!("#!/bin/sh\n{script}"),
    );
    dir
}

/// `headroom wrap ARGS` with `~/bin` first on PATH.
fn wrap(home: &Path, args: &[&str]) -> Command {
    let mut cmd = headroom_cmd(home, &[&["wrap"], args].concat());
    cmd.env(
        "PATH",
        format!("{}:/usr/bin:/bin", home.join("bin").display()),
    );
    cmd
}

fn run(home: &Path, args: &[&str]) -> Output {
    wrap(home, args).output().unwrap()
}

#[test]
fn an_ephemeral_proxy_lives_exactly_as_long_as_the_tool() {
    let home = setup(
        "claude",
        "printf '%s\\n' \"$@\" > \"$HOME/args\"\necho \"$ANTHROPIC_BASE_URL\" > \"$HOME/url\"\ncurl -fs \"$ANTHROPIC_BASE_URL/readyz\" > \"$HOME/readyz\"\nexit 7\n",
    );
    let port = free_port();
    let o = run(
        home.path(),
        &[
            "claude",
            "--port",
            &port.to_string(),
            "--",
            "-p",
            "say hi",
            "--verbose",
        ],
    );
    assert_eq!(
        o.status.code(),
        Some(7),
        "the tool's exit code: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(
        fs::read_to_string(home.path().join("args")).unwrap(),
        "-p\nsay hi\n--verbose\n"
    );
    assert_eq!(
        fs::read_to_string(home.path().join("url")).unwrap().trim(),
        format!("http://127.0.0.1:{port}")
    );
    assert!(
        fs::read_to_string(home.path().join("readyz"))
            .unwrap()
            .contains("ready"),
        "the proxy served the tool"
    );
    assert!(!proxy_ready(port), "the ephemeral proxy is gone afterwards");
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(
        err.matches("Remote Control").count(),
        1,
        "the feature Claude Code loses behind a custom base URL is said once: {err}"
    );
}

#[test]
fn codex_gets_its_provider_as_config_overrides() {
    let home = setup("codex", "printf '%s\\n' \"$@\" > \"$HOME/args\"\n");
    let port = free_port();
    let o = run(
        home.path(),
        &["codex", "--port", &port.to_string(), "--", "exec", "hi"],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let args = fs::read_to_string(home.path().join("args")).unwrap();
    assert!(args.contains("model_provider=\"headroom\"\n"), "{args}");
    assert!(
        args.contains(&format!(
            "model_providers.headroom.base_url=\"http://127.0.0.1:{port}/v1\""
        )),
        "{args}"
    );
    assert!(
        args.contains("model_providers.headroom.env_key=\"OPENAI_API_KEY\""),
        "{args}"
    );
    assert!(
        args.ends_with("exec\nhi\n"),
        "the tool's own arguments come last, verbatim: {args}"
    );
}

#[test]
fn a_running_headroom_is_reused_and_left_running() {
    let home = setup(
        "claude",
        "curl -fs \"$ANTHROPIC_BASE_URL/readyz\" >/dev/null\n",
    );
    let port = free_port();
    let mut proxy = start_proxy(port);
    let o = run(home.path(), &["claude", "--port", &port.to_string()]);
    assert!(o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("reusing the headroom proxy already on port")
    );
    assert!(proxy_ready(port), "not ours to stop");
    proxy.kill().unwrap();
    proxy.wait().unwrap();
}

#[test]
fn refusals_are_one_line() {
    let home = setup("claude", "exit 0\n");
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port().to_string();
    // A plain TCP listener that never answers HTTP: bounded by the probe's timeout.
    std::thread::spawn(move || {
        let _conns: Vec<_> = busy.incoming().take(4).collect();
    });
    for (args, want) in [
        (
            vec!["claude", "--port", port.as_str()],
            "is held by another program",
        ),
        (vec!["aider"], "aider is not on PATH"),
        (vec!["emacs"], "unknown tool \"emacs\""),
    ] {
        let o = run(home.path(), &args);
        assert!(!o.status.success());
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains(want), "{err}");
    }
}

#[test]
fn a_signal_to_headroom_reaches_the_tool_and_the_proxy_still_goes() {
    let home = setup(
        "claude",
        "trap 'echo got-term > \"$HOME/signal\"; exit 3' TERM\ntouch \"$HOME/started\"\nwhile :; do sleep 0.05; done\n",
    );
    let port = free_port();
    let mut child = wrap(home.path(), &["claude", "--port", &port.to_string()])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    while !home.path().join("started").exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(proxy_ready(port));
    // SAFETY: signalling the child this test started.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(3));
    assert_eq!(
        fs::read_to_string(home.path().join("signal"))
            .unwrap()
            .trim(),
        "got-term"
    );
    assert!(!proxy_ready(port));
}
