//! `headroom doctor` with real parts: a real `headroom proxy` child on a free loopback port
//! (announcing the deployment's profile, as a supervised one does), the stand-in upstream,
//! temp HOMEs with real config files, the built-in adapters. The deployment's manifest is
//! written as an apply records it (no supervisor is needed; the supervisor check then fails,
//! which these tests do not look at); the exit-0 case drives real cron and skips without it.

mod support;

use std::fs;
use std::path::Path;
use std::process::Output;

use headroom_proxy::stub::Stub;
use serde_json::{Value, json};
use support::*;

/// A proxy serving `profile` on `port` (as its supervisor would start it), both upstreams at
/// `upstream`, its usage history in `home`.
fn start_deployment_proxy(home: &Path, port: u16, profile: &str, upstream: &str) -> ProxyChild {
    let mut cmd = proxy_command(home, port, upstream, &["--host", "127.0.0.1"]);
    cmd.env("HEADROOM_DEPLOYMENT_PROFILE", profile);
    ProxyChild::spawn(cmd, port)
}

/// The manifest `install apply` records for a cron deployment routing `targets` at `scope`,
/// its proxy told to use `upstream` for both providers.
fn write_manifest(
    home: &Path,
    profile: &str,
    port: u16,
    scope: &str,
    targets: &[&str],
    upstream: &str,
) {
    let dir = home.join(".headroom/deploy").join(profile);
    fs::create_dir_all(&dir).unwrap();
    let m = json!({
        "profile": profile,
        "preset": "persistent-task",
        "runtime_kind": "native",
        "supervisor_kind": "cron",
        "scope": scope,
        "provider_mode": "manual",
        "targets": targets,
        "port": port,
        "host": "127.0.0.1",
        "health_url": format!("http://127.0.0.1:{port}/readyz"),
        "base_env": {
            "ANTHROPIC_TARGET_API_URL": upstream,
            "OPENAI_TARGET_API_URL": upstream,
        },
        "tool_envs": {},
        "proxy_args": [],
        "mutations": [],
        "artifacts": [],
        "created_at": "2026-12-01T10:00:00Z",
        "updated_at": "2026-12-01T10:00:00Z",
    });
    fs::write(
        dir.join("manifest.json"),
        serde_json::to_vec_pretty(&m).unwrap(),
    )
    .unwrap();
}

/// A deployment doctor can judge, in a fresh HOME: a real proxy for `profile` on a free port
/// (both upstreams the stand-in) and the manifest `install apply` records for it at `scope`.
struct Deployed {
    // Dropped in this order: the proxy before its upstream, then the HOME.
    _proxy: ProxyChild,
    _stub: Stub,
    home: Home,
    port: u16,
}

fn deployed(profile: &str, scope: &str, targets: &[&str]) -> Deployed {
    let stub = Stub::start().unwrap();
    let home = Home::new();
    let port = free_port();
    let proxy = start_deployment_proxy(home.path(), port, profile, &stub.url());
    write_manifest(home.path(), profile, port, scope, targets, &stub.url());
    Deployed {
        _proxy: proxy,
        _stub: stub,
        home,
        port,
    }
}

/// `headroom doctor --json --profile P` in a cleared environment (HOME, PATH, SHELL=/bin/sh
/// reading `~/.profile` as a login shell) plus `env`.
fn doctor(home: &Path, profile: &str, env: &[(&str, &str)]) -> (Output, Value) {
    let mut all = vec![("SHELL", "/bin/sh")];
    all.extend_from_slice(env);
    let out = run_in(home, &["doctor", "--json", "--profile", profile], &all);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "doctor --json: {e}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out, v)
}

fn check<'a>(v: &'a Value, id: &str) -> &'a Value {
    v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("no check {id}: {v:#}"))
}

fn tool<'a>(v: &'a Value, target: &str) -> &'a Value {
    v["tools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["target"] == target)
        .unwrap_or_else(|| panic!("no tool {target}: {v:#}"))
}

fn codex_block(port: u16) -> String {
    format!(
        "model_provider = \"headroom\"\n\n[model_providers.headroom]\nname = \"headroom\"\nbase_url = \"http://127.0.0.1:{port}/v1\"\nwire_api = \"responses\"\nenv_key = \"OPENAI_API_KEY\"\n"
    )
}

#[test]
fn codex_is_not_routed_by_an_exported_base_url_and_is_by_its_config() {
    let profile = "dr-codex";
    let d = deployed(profile, "user", &["codex"]);
    let (home, port) = (&d.home, d.port);
    let proxy_v1 = format!("http://127.0.0.1:{port}/v1");
    fs::write(
        home.path().join(".profile"),
        format!("export OPENAI_BASE_URL={proxy_v1}\n"),
    )
    .unwrap();
    fs::create_dir_all(home.path().join(".codex")).unwrap();
    fs::write(
        home.path().join(".codex/config.toml"),
        "model = \"gpt-5\"\n",
    )
    .unwrap();
    let before = user_files(home.path());

    let (out, v) = doctor(home.path(), profile, &[("OPENAI_BASE_URL", &proxy_v1)]);
    assert!(!out.status.success());
    let routed = check(&v, "tool.codex.routed");
    assert_eq!(routed["status"], "fail", "{routed}");
    let msg = routed["message"].as_str().unwrap();
    assert!(msg.starts_with("codex is not routed"), "{msg}");
    assert!(
        msg.contains(&format!("not http://127.0.0.1:{port}")),
        "{msg}"
    );
    assert_eq!(
        check(&v, "tool.codex.note")["message"],
        "codex: OPENAI_BASE_URL is exported but Codex ignores it"
    );
    assert_eq!(tool(&v, "codex")["routed"], false);
    assert_eq!(tool(&v, "codex")["source"], "default");
    // The upstreams are the deployment's (the stand-in), reached over plain TCP.
    assert_eq!(check(&v, "upstream.openai")["status"], "ok");
    assert_eq!(check(&v, "upstream.anthropic")["status"], "ok");
    assert_eq!(check(&v, "readyz")["status"], "ok");
    assert_eq!(check(&v, "version")["status"], "ok");
    assert_eq!(check(&v, "port")["status"], "ok");
    assert_same_tree(&before, &user_files(home.path()), "HOME after doctor");

    // Its own config routes it: routed, through config.toml, and that URL answers as this
    // deployment's proxy.
    fs::write(
        home.path().join(".codex/config.toml"),
        format!("{}model = \"gpt-5\"\n", codex_block(port)),
    )
    .unwrap();
    let (_, v) = doctor(home.path(), profile, &[("OPENAI_BASE_URL", &proxy_v1)]);
    let routed = check(&v, "tool.codex.routed");
    assert_eq!(routed["status"], "ok", "{v:#}");
    assert!(
        routed["message"]
            .as_str()
            .unwrap()
            .contains("~/.codex/config.toml"),
        "{routed}"
    );
    assert_eq!(check(&v, "tool.codex.reaches")["status"], "ok", "{v:#}");
    let t = tool(&v, "codex");
    assert_eq!(t["routed"], true);
    assert_eq!(t["source"], "config");
    assert_eq!(t["url"], proxy_v1);
    assert_eq!(t["reaches_proxy"], true);
}

#[test]
fn claude_settings_env_beats_the_export_and_the_fix_is_provider_scope() {
    let profile = "dr-claude";
    let d = deployed(profile, "user", &["claude"]);
    let (home, port) = (&d.home, d.port);
    let proxy = format!("http://127.0.0.1:{port}");
    fs::write(
        home.path().join(".profile"),
        format!("export ANTHROPIC_BASE_URL={proxy}\n"),
    )
    .unwrap();
    fs::create_dir_all(home.path().join(".claude")).unwrap();
    fs::write(
        home.path().join(".claude/settings.json"),
        r#"{"env": {"ANTHROPIC_BASE_URL": "https://gateway.corp/anthropic"}}"#,
    )
    .unwrap();

    let (out, v) = doctor(home.path(), profile, &[("ANTHROPIC_BASE_URL", &proxy)]);
    assert!(!out.status.success());
    let routed = check(&v, "tool.claude.routed");
    assert_eq!(routed["status"], "fail", "{routed}");
    let msg = routed["message"].as_str().unwrap();
    assert!(
        msg.contains("https://gateway.corp/anthropic")
            && msg.contains("~/.claude/settings.json env.ANTHROPIC_BASE_URL"),
        "{msg}"
    );
    let fix = routed["fix"].as_str().unwrap();
    assert!(
        fix.contains(&format!(
            "headroom install apply --profile {profile} --scope provider --providers manual --target claude"
        )),
        "{fix}"
    );
    assert_eq!(tool(&v, "claude")["source"], "config");
    // A custom base URL costs Claude's own features: said once, as a warning.
    let notes: Vec<&Value> = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["id"] == "tool.claude.note")
        .collect();
    assert!(!notes.is_empty(), "{v:#}");
    assert!(notes.iter().all(|n| n["status"] == "warn"));
    let texts: Vec<&str> = notes
        .iter()
        .map(|n| n["message"].as_str().unwrap())
        .collect();
    let mut unique = texts.clone();
    unique.dedup();
    assert_eq!(texts, unique);

    // The text form: one verdict line per check, the fix on it.
    let out = run_in(
        home.path(),
        &["doctor", "--profile", profile],
        &[("SHELL", "/bin/sh"), ("ANTHROPIC_BASE_URL", &proxy)],
    );
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8(out.stdout).unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with("FAIL claude is not routed"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        line.contains("; fix: claude: ~/.claude/settings.json"),
        "{line}"
    );
    for l in text.lines() {
        assert!(
            l.starts_with("ok   ") || l.starts_with("warn ") || l.starts_with("FAIL "),
            "{l}"
        );
    }
}

#[test]
fn a_settings_file_broken_by_hand_is_one_line_naming_it_and_nothing_is_written() {
    let profile = "dr-broken";
    let d = deployed(profile, "provider", &["claude"]);
    let home = &d.home;
    fs::create_dir_all(home.path().join(".claude")).unwrap();
    fs::write(
        home.path().join(".claude/settings.json"),
        "{\"env\": {\n  \"A\": 1,,\n}",
    )
    .unwrap();
    let before = user_files(home.path());
    let (out, v) = doctor(home.path(), profile, &[]);
    assert!(!out.status.success());
    let routed = check(&v, "tool.claude.routed");
    assert_eq!(routed["status"], "fail");
    let msg = routed["message"].as_str().unwrap();
    assert!(msg.contains("settings.json"), "{msg}");
    assert!(msg.contains("line 2"), "{msg}");
    assert!(!msg.contains('\n'));
    assert_same_tree(&before, &user_files(home.path()), "HOME after doctor");
}

#[test]
fn a_linked_settings_file_is_named_and_one_leaving_home_is_one_line() {
    let profile = "dr-link";
    let d = deployed(profile, "provider", &["claude"]);
    let (home, port) = (&d.home, d.port);
    fs::create_dir_all(home.path().join(".claude")).unwrap();
    fs::create_dir_all(home.path().join("dotfiles")).unwrap();
    fs::write(
        home.path().join("dotfiles/claude.json"),
        format!(r#"{{"env": {{"ANTHROPIC_BASE_URL": "http://127.0.0.1:{port}"}}}}"#),
    )
    .unwrap();
    let link = home.path().join(".claude/settings.json");
    std::os::unix::fs::symlink("../dotfiles/claude.json", &link).unwrap();
    let before = user_files(home.path());
    let (_, v) = doctor(home.path(), profile, &[]);
    assert_eq!(check(&v, "tool.claude.routed")["status"], "ok", "{v:#}");
    assert_eq!(
        check(&v, "tool.claude.link")["message"],
        "~/.claude/settings.json is a link to ~/dotfiles/claude.json: headroom reads and edits the target"
    );
    // A link leaving HOME: the adapter may not read it; one line naming the link and the fix.
    let outside = tempfile::tempdir().unwrap();
    fs::write(outside.path().join("s.json"), "{}").unwrap();
    fs::remove_file(&link).unwrap();
    std::os::unix::fs::symlink(outside.path().join("s.json"), &link).unwrap();
    let (out, v) = doctor(home.path(), profile, &[]);
    assert!(!out.status.success());
    let c = check(&v, "tool.claude.routed");
    assert_eq!(c["status"], "fail");
    let msg = c["message"].as_str().unwrap();
    assert!(
        msg.contains(&format!(
            "~/.claude/settings.json is a link to {} outside HOME",
            outside.path().join("s.json").display()
        )),
        "{msg}"
    );
    assert!(
        c["fix"].as_str().unwrap().contains("replace the link"),
        "{c}"
    );
    let mut after = user_files(home.path());
    let mut expect = before;
    expect.remove(Path::new(".claude/settings.json"));
    after.remove(Path::new(".claude/settings.json"));
    assert_same_tree(&expect, &after, "HOME after doctor");
}

#[test]
fn tools_un_routed_by_stop_are_a_failure_naming_start() {
    let profile = "dr-stopped";
    let d = deployed(profile, "provider", &[]);
    let home = &d.home;
    let (_, v) = doctor(home.path(), profile, &[]);
    assert_eq!(check(&v, "routing")["status"], "ok");
    fs::write(
        home.path()
            .join(".headroom/deploy")
            .join(profile)
            .join("routing.json"),
        r#"{"routed": false, "since": "2026-12-01T10:00:00Z", "reason": "stopped"}"#,
    )
    .unwrap();
    let (_, v) = doctor(home.path(), profile, &[]);
    let c = check(&v, "routing");
    assert_eq!(c["status"], "fail");
    assert_eq!(
        c["message"],
        "tools are un-routed since 2026-12-01T10:00:00Z: stopped by `headroom install stop`"
    );
    assert_eq!(
        c["fix"],
        format!("headroom install start --profile {profile}")
    );
}

/// A loopback HTTP server answering every request with `200 body`, for as long as the test runs.
fn serve_json(body: String) -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        for s in listener.incoming() {
            let Ok(mut s) = s else { continue };
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf);
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    port
}

#[test]
fn a_proxy_left_running_from_another_version_is_a_warning_naming_restart() {
    let stub = Stub::start().unwrap();
    let home = Home::new();
    let profile = "dr-version";
    let port = serve_json(
        json!({"status": "ok", "version": "0.0.1", "deployment": {"profile": profile}}).to_string(),
    );
    write_manifest(home.path(), profile, port, "provider", &[], &stub.url());
    let (_, v) = doctor(home.path(), profile, &[]);
    assert_eq!(check(&v, "readyz")["status"], "ok", "{v:#}");
    let c = check(&v, "version");
    assert_eq!(c["status"], "warn");
    assert_eq!(
        c["message"],
        format!(
            "the proxy runs headroom 0.0.1; this binary is {}",
            env!("CARGO_PKG_VERSION")
        )
    );
    assert_eq!(
        c["fix"],
        format!("headroom install restart --profile {profile}")
    );
}

#[test]
fn the_port_held_by_another_program_is_named() {
    let stub = Stub::start().unwrap();
    let home = Home::new();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        for s in listener.incoming() {
            let Ok(mut s) = s else { continue };
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf);
            let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello");
        }
    });
    write_manifest(home.path(), "dr-port", port, "provider", &[], &stub.url());
    let (out, v) = doctor(home.path(), "dr-port", &[]);
    assert_eq!(out.status.code(), Some(1));
    let c = check(&v, "port");
    assert_eq!(c["status"], "fail");
    let msg = c["message"].as_str().unwrap();
    assert!(
        msg.contains(&format!(
            "port {port} is held by another program (pid {}",
            std::process::id()
        )),
        "{msg}"
    );
    assert!(c["fix"].as_str().unwrap().contains("--port"), "{c}");
    assert_eq!(check(&v, "readyz")["status"], "fail");
}

#[test]
fn no_deployment_is_one_failing_line_and_the_json_shape_is_stable() {
    let home = Home::new();
    let (out, v) = doctor(home.path(), "nothing", &[]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(v["profile"], "nothing");
    assert_eq!(v["ok"], false);
    assert_eq!(v["tools"], json!([]));
    for c in v["checks"].as_array().unwrap() {
        let mut keys: Vec<&String> = c.as_object().unwrap().keys().collect();
        keys.sort();
        assert_eq!(keys, ["fix", "id", "message", "status"], "{c}");
        assert!(["ok", "warn", "fail"].contains(&c["status"].as_str().unwrap()));
    }
    let m = check(&v, "manifest");
    assert_eq!(m["status"], "fail");
    assert_eq!(m["fix"], "headroom install apply --profile nothing");
    // Offline or not, the default upstreams are probed and each verdict carries its reason.
    for id in ["upstream.anthropic", "upstream.openai"] {
        let c = check(&v, id);
        if c["status"] == "fail" {
            let msg = c["message"].as_str().unwrap();
            assert!(
                msg.contains("DNS: ") || msg.contains("TCP: ") || msg.contains("TLS: "),
                "{msg}"
            );
        }
    }
    assert!(
        !home.path().join(".headroom").exists(),
        "doctor wrote state"
    );
    // A bad profile name is a one-line error.
    let out = run_in(home.path(), &["doctor", "--profile", "a/b"], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("invalid profile name"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_zsh_login_export_routes_claude_through_the_environment() {
    if !Path::new("/usr/bin/zsh").exists() {
        skip("zsh is not installed");
        return;
    }
    let profile = "dr-zsh";
    let d = deployed(profile, "user", &["claude"]);
    let (home, port) = (&d.home, d.port);
    let proxy = format!("http://127.0.0.1:{port}");
    fs::write(
        home.path().join(".zprofile"),
        format!("export ANTHROPIC_BASE_URL={proxy}\n"),
    )
    .unwrap();
    let (_, v) = doctor(home.path(), profile, &[("SHELL", "/usr/bin/zsh")]);
    assert_eq!(check(&v, "env.shell")["status"], "ok");
    let c = check(&v, "tool.claude.routed");
    assert_eq!(c["status"], "ok", "{v:#}");
    assert_eq!(
        c["message"],
        format!("claude is routed to {proxy} through ANTHROPIC_BASE_URL (login shell)")
    );
    assert_eq!(tool(&v, "claude")["source"], "environment");
    assert_eq!(check(&v, "tool.claude.reaches")["status"], "ok");
}

#[test]
fn fish_and_custom_config_dirs_are_named() {
    let home = Home::new();
    let (_, v) = doctor(
        home.path(),
        "nothing",
        &[
            ("SHELL", "/usr/bin/fish"),
            ("CODEX_HOME", "/srv/codex"),
            ("CLAUDE_CONFIG_DIR", "/srv/claude"),
        ],
    );
    let shell = check(&v, "env.shell");
    assert_eq!(shell["status"], "ok");
    assert!(
        shell["message"]
            .as_str()
            .unwrap()
            .contains("~/.config/fish/conf.d/headroom.fish"),
        "{shell}"
    );
    assert!(
        check(&v, "env.codex_home")["message"]
            .as_str()
            .unwrap()
            .starts_with("CODEX_HOME=/srv/codex")
    );
    assert!(
        check(&v, "env.claude_config_dir")["message"]
            .as_str()
            .unwrap()
            .starts_with("CLAUDE_CONFIG_DIR=/srv/claude")
    );
}

#[test]
fn a_healthy_cron_deployment_with_a_routed_tool_exits_zero() {
    // A stale /run/crond.pid with no daemon behind it is a skip, not a failed apply.
    let Some(_lock) = lock_cron() else {
        return;
    };
    let _restore = RestoreCrontab(crontab_l());
    let stub = Stub::start().unwrap();
    let home = Home::new();
    let profile = format!("dr-ok-{}", std::process::id());
    let _cleanup = home.remove_on_drop(&profile);
    let port = free_port().to_string();
    fs::create_dir_all(home.path().join(".codex")).unwrap();
    fs::write(home.path().join(".codex/config.toml"), "").unwrap();
    let anthropic = format!("ANTHROPIC_TARGET_API_URL={}", stub.url());
    let openai = format!("OPENAI_TARGET_API_URL={}", stub.url());
    home.ok(&install_apply(
        &profile,
        &port,
        &[
            "--preset",
            "persistent-task",
            "--scope",
            "provider",
            "--providers",
            "manual",
            "--target",
            "codex",
            "--env",
            &anthropic,
            "--env",
            &openai,
        ],
    ));
    let out = home
        .cmd(&["doctor", "--profile", &profile])
        .env("SHELL", "/bin/sh")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("ok   codex is routed to"), "{text}");
    assert!(!text.contains("FAIL"), "{text}");
    assert!(text.contains("ok   cron: scheduled, running"), "{text}");
    assert!(
        text.contains("ok   1 managed file(s) as headroom wrote them: ~/.codex/config.toml"),
        "{text}"
    );
}

/// A tool on this machine the deployment does not select, whose exported variable routes
/// nothing (Codex ignores OPENAI_BASE_URL): a warning saying so, with the apply command that adds
/// it to the current targets. Selected tools are still judged as before.
#[test]
fn an_installed_tool_the_deployment_does_not_route_is_named() {
    let profile = "dr-unselected";
    let d = deployed(profile, "user", &["claude"]);
    let (home, port) = (&d.home, d.port);
    fs::write(
        home.path().join(".profile"),
        format!(
            "export ANTHROPIC_BASE_URL=http://127.0.0.1:{port}\nexport OPENAI_BASE_URL=http://127.0.0.1:{port}/v1\n"
        ),
    )
    .unwrap();
    fs::create_dir_all(home.path().join(".claude")).unwrap();
    fs::create_dir_all(home.path().join(".codex")).unwrap();
    fs::write(home.path().join(".codex/config.toml"), "model = \"o3\"\n").unwrap();
    let before = user_files(home.path());

    let (_, v) = doctor(home.path(), profile, &[]);
    assert_eq!(check(&v, "tool.claude.routed")["status"], "ok", "{v:#}");
    let other = check(&v, "tool.codex.unselected");
    assert_eq!(other["status"], "warn", "{other}");
    assert!(
        other["message"]
            .as_str()
            .unwrap()
            .starts_with("codex is installed but not routed"),
        "{other}"
    );
    assert_eq!(
        other["fix"],
        format!(
            "headroom install apply --profile {profile} --scope user --providers manual --target claude --target codex"
        )
    );
    assert_eq!(
        check(&v, "tool.codex.note")["message"],
        "codex: OPENAI_BASE_URL is exported but Codex ignores it"
    );
    assert!(
        v["tools"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["target"] != "codex"),
        "only selected tools are in `tools`: {v:#}"
    );
    assert_same_tree(&before, &user_files(home.path()), "HOME after doctor");
}

/// The lingering fix names a user even where `$USER` is unset (cron, a bare `env -i`): the
/// uid, as `install apply` does. (It used to print `loginctl enable-linger ` with no one.)
#[test]
fn the_lingering_fix_always_names_a_user() {
    let home = Home::new();
    let profile = "dr-linger";
    write_manifest(
        home.path(),
        profile,
        free_port(),
        "user",
        &[],
        "http://127.0.0.1:9",
    );
    let path = home
        .path()
        .join(".headroom/deploy")
        .join(profile)
        .join("manifest.json");
    let mut m: Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
    m["preset"] = "persistent-service".into();
    m["supervisor_kind"] = "systemd".into();
    fs::write(&path, serde_json::to_vec_pretty(&m).unwrap()).unwrap();
    let (_, v) = doctor(home.path(), profile, &[]);
    let uid = unsafe { libc::geteuid() };
    let linger = check(&v, "linger");
    if linger["status"] != "ok" {
        assert_eq!(
            linger["fix"],
            format!("loginctl enable-linger {uid}"),
            "{linger}"
        );
    }
}

/// `write_manifest`, then `edit` applied to the manifest JSON (network settings a test adds).
fn edit_manifest(home: &Path, profile: &str, edit: impl FnOnce(&mut Value)) {
    let path = home
        .join(".headroom/deploy")
        .join(profile)
        .join("manifest.json");
    let mut m: Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
    edit(&mut m);
    fs::write(&path, serde_json::to_vec_pretty(&m).unwrap()).unwrap();
}

#[test]
fn an_unreachable_outbound_proxy_is_named_masked_with_the_proxy_fix() {
    let profile = "dr-proxy";
    let d = deployed(profile, "provider", &[]);
    let dead = free_port();
    edit_manifest(d.home.path(), profile, |m| {
        m["base_env"]["HTTP_PROXY"] = json!(format!("http://ann:s3cret@127.0.0.1:{dead}"));
    });
    let (out, v) = doctor(d.home.path(), profile, &[]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        !text.contains("s3cret"),
        "the proxy password was printed: {text}"
    );
    let net = check(&v, "network");
    assert_eq!(net["status"], "ok", "{net}");
    let shown = format!("outbound proxy http://ann:***@127.0.0.1:{dead} (from HTTP_PROXY)");
    assert!(
        net["message"].as_str().unwrap().starts_with(&shown),
        "{net}"
    );
    for id in ["upstream.anthropic", "upstream.openai"] {
        let c = check(&v, id);
        assert_eq!(c["status"], "fail", "{c}");
        let msg = c["message"].as_str().unwrap();
        assert!(
            msg.contains(&format!("proxy http://ann:***@127.0.0.1:{dead}"))
                && msg.contains("connection refused"),
            "{msg}"
        );
        assert!(c["fix"].as_str().unwrap().contains("NO_PROXY"), "{c}");
    }
    // NO_PROXY for the upstream's host: reached directly again.
    edit_manifest(d.home.path(), profile, |m| {
        m["base_env"]["NO_PROXY"] = json!("127.0.0.1");
    });
    let (_, v) = doctor(d.home.path(), profile, &[]);
    assert_eq!(check(&v, "upstream.anthropic")["status"], "ok", "{v:#}");
}

#[test]
fn network_settings_the_proxy_would_refuse_are_one_failing_line() {
    let profile = "dr-net-bad";
    let d = deployed(profile, "provider", &[]);
    let cases: [(&str, Value, Value, &str); 3] = [
        (
            "a CA file that does not exist",
            json!(["--ca-file", "/nonexistent/corp-ca.pem"]),
            json!({}),
            "/nonexistent/corp-ca.pem",
        ),
        (
            "a proxy URL that does not parse",
            json!([]),
            json!({ "HTTPS_PROXY": "http://[bad" }),
            "HTTPS_PROXY",
        ),
        (
            "a SOCKS proxy",
            json!(["--upstream-proxy=socks5://127.0.0.1:1080"]),
            json!({}),
            "--upstream-proxy",
        ),
    ];
    let pem = d.home.path().join("not-a-cert.pem");
    fs::write(
        &pem,
        "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
    )
    .unwrap();
    let not_cert = (
        "a PEM file that holds no certificate",
        json!(["--ca-file", pem.to_str().unwrap()]),
        json!({}),
        pem.to_str().unwrap(),
    );
    for (what, args, env, named) in cases.into_iter().chain([not_cert]) {
        edit_manifest(d.home.path(), profile, |m| {
            m["proxy_args"] = args.clone();
            for (k, val) in env.as_object().unwrap() {
                m["base_env"][k] = val.clone();
            }
        });
        let (out, v) = doctor(d.home.path(), profile, &[]);
        assert_eq!(out.status.code(), Some(1), "{what}");
        let net = check(&v, "network");
        assert_eq!(net["status"], "fail", "{what}: {net}");
        let msg = net["message"].as_str().unwrap();
        assert!(!msg.contains('\n') && msg.contains(named), "{what}: {msg}");
        assert!(
            net["fix"].as_str().unwrap().contains("install restart"),
            "{what}"
        );
        // Nothing is probed with settings the proxy would not start with.
        assert!(
            !v["checks"]
                .as_array()
                .unwrap()
                .iter()
                .any(|c| c["id"] == "upstream.anthropic"),
            "{what}: {v:#}"
        );
        edit_manifest(d.home.path(), profile, |m| {
            for k in env.as_object().unwrap().keys() {
                m["base_env"].as_object_mut().unwrap().remove(k);
            }
        });
    }
}

#[test]
fn a_tls_inspecting_upstream_names_its_unknown_ca_until_the_ca_file_is_given() {
    use headroom_proxy::stub::StubOptions;
    use headroom_proxy::stub::ca::TestCa;
    let profile = "dr-tls";
    let d = deployed(profile, "provider", &[]);
    let ca = TestCa::new("Corp Inspection Root CA");
    let tls = Stub::start_with(StubOptions {
        tls: Some(ca.server_cert(&["127.0.0.1"])),
        ..StubOptions::default()
    })
    .unwrap();
    assert!(tls.url().starts_with("https://"), "{}", tls.url());
    edit_manifest(d.home.path(), profile, |m| {
        m["base_env"]["ANTHROPIC_TARGET_API_URL"] = json!(tls.url());
    });
    let (_, v) = doctor(d.home.path(), profile, &[]);
    let c = check(&v, "upstream.anthropic");
    assert_eq!(c["status"], "fail", "{c}");
    let msg = c["message"].as_str().unwrap();
    assert!(
        msg.contains("TLS: certificate signed by unknown authority 'Corp Inspection Root CA'; add it with --ca-file"),
        "{msg}"
    );
    assert!(c["fix"].as_str().unwrap().contains("--ca-file"), "{c}");
    let pem = ca.write_pem(d.home.path());
    edit_manifest(d.home.path(), profile, |m| {
        m["proxy_args"] = json!(["--ca-file", pem.to_str().unwrap()]);
    });
    let (_, v) = doctor(d.home.path(), profile, &[]);
    let c = check(&v, "upstream.anthropic");
    assert_eq!(c["status"], "ok", "{c}");
    assert!(c["message"].as_str().unwrap().ends_with(", TLS ok)"), "{c}");
    let net = check(&v, "network")["message"].as_str().unwrap().to_owned();
    assert!(net.contains("Corp Inspection Root CA"), "{net}");
}
