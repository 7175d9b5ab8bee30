//! The user's own gateway stays the upstream, and the network environment of `install apply`
//! is recorded for the proxy (issue #16). Dry runs need no supervisor; the real apply drives
//! REAL Debian cron (start it with `../shared/ci/cron-up.sh`) and skips with a reason without it.

mod support;

use std::fs;
use std::path::Path;
use std::process::Output;
use std::time::Duration;

use headroom_proxy::stub::Stub;
use support::*;

/// The variables `install apply` records; removed from every command here so the caller's
/// own network settings never leak into a test.
const NETWORK_ENV: &[&str] = &[
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
    "ALL_PROXY",
    "all_proxy",
    "NO_PROXY",
    "no_proxy",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
];

const CLAUDE_VIA: &str = "~/.claude/settings.json env.ANTHROPIC_BASE_URL";

/// `headroom ARGS` with `HOME=home`, no network variables but `env`, and `$SHELL` bash (the
/// login shell the adapters ask).
fn run(home: &Home, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = home.cmd(args);
    for k in NETWORK_ENV {
        c.env_remove(k);
    }
    c.env("SHELL", "/bin/bash").envs(env.iter().copied());
    c.output().unwrap()
}

fn ok_out(o: &Output) -> String {
    assert!(
        o.status.success(),
        "failed:\n{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout.clone()).unwrap()
}

/// `out` has exactly this line.
fn has_line(out: &str, line: &str) -> bool {
    out.lines().any(|l| l == line)
}

fn write(path: &Path, text: &str) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, text).unwrap();
}

fn claude_gateway(home: &Home, url: &str) {
    write(
        &home.path().join(".claude/settings.json"),
        &format!(
            "{{\n  \"env\": {{ \"ANTHROPIC_BASE_URL\": \"{url}\" }},\n  \"model\": \"opus\"\n}}\n"
        ),
    );
}

const CODEX_CORP: &str = "model = \"o3\"\nmodel_provider = \"corp\"\n\n[model_providers.corp]\nname = \"Corp\"\nbase_url = \"https://gw.corp/openai/v1\"\nwire_api = \"responses\"\n";

#[test]
fn a_claude_gateway_with_a_path_prefix_is_kept_as_the_anthropic_upstream() {
    let home = Home::new();
    claude_gateway(&home, "https://gw.corp/anthropic/");
    let before = user_files(home.path());
    let mut args = install_apply("gw", "18911", CLAUDE_AT_PROVIDER);
    args.push("--dry-run");
    let out = ok_out(&run(&home, &args, &[]));
    assert!(
        has_line(
            &out,
            &format!("upstream anthropic: https://gw.corp/anthropic/ (kept from {CLAUDE_VIA})")
        ),
        "{out}"
    );
    // The proxy gets it in its environment; the manifest says where it came from.
    assert!(
        out.contains(r#"+    "ANTHROPIC_TARGET_API_URL": "https://gw.corp/anthropic/""#),
        "{out}"
    );
    assert!(
        out.contains(&format!(r#"+      "from": "{CLAUDE_VIA}","#)),
        "{out}"
    );
    // The tool itself is pointed at headroom.
    assert!(out.contains("http://127.0.0.1:18911"), "{out}");
    assert_same_tree(&before, &user_files(home.path()), "HOME after a dry run");

    // The user's explicit choice wins over the tool's gateway.
    let mut chosen = args.clone();
    chosen.extend(["--anthropic-api-url", "http://127.0.0.1:9/chosen"]);
    let out = ok_out(&run(&home, &chosen, &[]));
    assert!(
        has_line(
            &out,
            "upstream anthropic: http://127.0.0.1:9/chosen (--anthropic-api-url)"
        ),
        "{out}"
    );
    assert!(!out.contains("gw.corp/anthropic/ (kept"), "{out}");
    // ... and one given to the proxy directly is recorded as such, not overridden.
    let mut direct = args.clone();
    direct.extend(["--env", "ANTHROPIC_TARGET_API_URL=http://127.0.0.1:9/env"]);
    let out = ok_out(&run(&home, &direct, &[]));
    assert!(
        out.contains(
            "\nupstream anthropic: http://127.0.0.1:9/env (--env ANTHROPIC_TARGET_API_URL)\n"
        ),
        "{out}"
    );
    let mut both = direct.clone();
    both.extend(["--anthropic-api-url", "http://127.0.0.1:9/flag"]);
    let err = err_line(&run(&home, &both, &[]));
    assert!(
        err.contains("--anthropic-api-url and --env ANTHROPIC_TARGET_API_URL both choose the anthropic upstream: keep one"),
        "{err}"
    );
}

#[test]
fn the_public_api_or_an_unparsable_gateway_is_not_kept_silently() {
    let home = Home::new();
    let mut args = install_apply("gw", "18912", CLAUDE_AT_PROVIDER);
    args.push("--dry-run");
    // The provider's own API is no gateway: nothing to keep.
    claude_gateway(&home, "https://api.anthropic.com/");
    let out = ok_out(&run(&home, &args, &[]));
    assert!(!out.contains("upstream anthropic"), "{out}");
    assert!(!out.contains("ANTHROPIC_TARGET_API_URL"), "{out}");
    // A URL the proxy cannot use: one line naming it and the option, nothing written.
    claude_gateway(&home, "gw.corp/anthropic");
    let before = user_files(home.path());
    let err = err_line(&run(&home, &args, &[]));
    assert!(
        err.starts_with(&format!(
            "the anthropic upstream (kept from {CLAUDE_VIA}) is not usable: invalid upstream URL \"gw.corp/anthropic\""
        )),
        "{err}"
    );
    assert!(
        err.ends_with("set it with `--anthropic-api-url URL`"),
        "{err}"
    );
    assert_same_tree(&before, &user_files(home.path()), "HOME after a refusal");
}

#[test]
fn a_codex_model_provider_is_kept_as_the_openai_upstream() {
    let home = Home::new();
    write(&home.path().join(".codex/config.toml"), CODEX_CORP);
    let out = ok_out(&run(
        &home,
        &install_apply(
            "gw",
            "18913",
            &[
                "--scope",
                "provider",
                "--providers",
                "manual",
                "--target",
                "codex",
                "--dry-run",
            ],
        ),
        &[],
    ));
    assert!(
        has_line(
            &out,
            "upstream openai: https://gw.corp/openai/v1 (kept from ~/.codex/config.toml model_providers.corp.base_url)"
        ),
        "{out}"
    );
    assert!(
        out.contains(r#"+    "OPENAI_TARGET_API_URL": "https://gw.corp/openai/v1""#),
        "{out}"
    );
}

/// Codex's own provider and Cursor's exported `OPENAI_BASE_URL` name different gateways: one
/// deployment forwards OpenAI requests to one place, so the user chooses.
#[test]
fn two_tools_with_different_gateways_are_refused_until_the_user_chooses() {
    let home = Home::new();
    write(&home.path().join(".codex/config.toml"), CODEX_CORP);
    write(
        &home.path().join(".profile"),
        "export OPENAI_BASE_URL=https://other.corp/v1\n",
    );
    let before = user_files(home.path());
    let args = install_apply(
        "gw",
        "18914",
        &[
            "--providers",
            "manual",
            "--target",
            "codex",
            "--target",
            "cursor",
            "--dry-run",
        ],
    );
    let err = err_line(&run(&home, &args, &[]));
    assert!(
        err.starts_with(
            "two different openai gateways: codex uses https://gw.corp/openai/v1 (~/.codex/config.toml model_providers.corp.base_url) and cursor uses https://other.corp/v1 (OPENAI_BASE_URL (login shell))"
        ),
        "{err}"
    );
    assert!(
        err.ends_with("choose it with `--openai-api-url URL`; nothing was changed"),
        "{err}"
    );
    assert_same_tree(&before, &user_files(home.path()), "HOME after a refusal");

    let mut chosen = args.clone();
    chosen.extend(["--openai-api-url", "https://gw.corp/openai/v1"]);
    let out = ok_out(&run(&home, &chosen, &[]));
    assert!(
        has_line(
            &out,
            "upstream openai: https://gw.corp/openai/v1 (--openai-api-url)"
        ),
        "{out}"
    );
    assert_same_tree(&before, &user_files(home.path()), "HOME after a dry run");
}

#[test]
fn the_network_environment_is_recorded_with_proxy_passwords_masked() {
    let home = Home::new();
    let secret = "http://alice:s3cret@127.0.0.1:3128";
    let mut args = apply_args("net", "18915", &["--dry-run"]);
    let env = [
        ("HTTPS_PROXY", secret),
        ("no_proxy", "localhost,.corp"),
        ("SSL_CERT_FILE", "/etc/ssl/certs/ca-certificates.crt"),
    ];
    let out = ok_out(&run(&home, &args, &env));
    assert!(!out.contains("s3cret"), "a password on screen: {out}");
    assert!(
        has_line(
            &out,
            "network HTTPS_PROXY=http://alice:***@127.0.0.1:3128 (recorded from this environment)"
        ),
        "{out}"
    );
    assert!(
        out.contains(r#"+    "HTTPS_PROXY": "http://alice:***@127.0.0.1:3128""#),
        "{out}"
    );
    assert!(
        out.contains(r#"+    "no_proxy": "localhost,.corp""#),
        "{out}"
    );
    assert!(
        out.contains(r#"+    "SSL_CERT_FILE": "/etc/ssl/certs/ca-certificates.crt""#),
        "{out}"
    );
    // The user's own --env wins over what the shell has.
    args.extend(["--env", "HTTPS_PROXY=http://127.0.0.1:3999"]);
    let out = ok_out(&run(&home, &args, &env));
    assert!(
        out.contains(r#"+    "HTTPS_PROXY": "http://127.0.0.1:3999""#),
        "{out}"
    );
    assert!(!out.contains("alice"), "{out}");
}

#[test]
fn network_options_are_checked_before_anything_is_written() {
    let home = Home::new();
    let before = user_files(home.path());
    let err = err_line(&run(
        &home,
        &apply_args("net", "18916", &["--ca-file", "corp.pem", "--dry-run"]),
        &[],
    ));
    assert!(
        err.starts_with("--ca-file corp.pem is not an absolute path"),
        "{err}"
    );
    let err = err_line(&run(
        &home,
        &apply_args(
            "net",
            "18916",
            &[
                "--preset",
                "persistent-docker",
                "--ca-file",
                "/c.pem",
                "--dry-run",
            ],
        ),
        &[],
    ));
    assert!(
        err.starts_with("--ca-file is not supported with persistent-docker"),
        "{err}"
    );
    let err = err_line(&run(
        &home,
        &apply_args(
            "net",
            "18916",
            &[
                "--upstream-proxy",
                "http://127.0.0.1:3128",
                "--dry-run",
                "--",
                "--upstream-proxy",
                "http://127.0.0.1:3129",
            ],
        ),
        &[],
    ));
    assert!(err.contains("keep one"), "{err}");
    let out = ok_out(&run(
        &home,
        &apply_args(
            "net",
            "18916",
            &[
                "--upstream-proxy",
                "http://bob:pw@127.0.0.1:3128",
                "--dry-run",
            ],
        ),
        &[],
    ));
    assert!(!out.contains("bob:pw"), "{out}");
    assert!(
        has_line(
            &out,
            "network --upstream-proxy http://bob:***@127.0.0.1:3128"
        ),
        "{out}"
    );
    assert_same_tree(&before, &user_files(home.path()), "HOME after refusals");
    // Checked as the proxy will read them (`Egress::load`): one line each, nothing written.
    let not_pem = home.path().join("not a cert.pem");
    fs::write(&not_pem, "hello\n").unwrap();
    let before = user_files(home.path());
    let bad_ca = err_line(&run(
        &home,
        &apply_args(
            "net",
            "18916",
            &["--ca-file", not_pem.to_str().unwrap(), "--dry-run"],
        ),
        &[],
    ));
    assert!(bad_ca.contains("holds no PEM certificate"), "{bad_ca}");
    let socks = err_line(&run(
        &home,
        &apply_args(
            "net",
            "18916",
            &["--upstream-proxy", "socks5://127.0.0.1:1080", "--dry-run"],
        ),
        &[],
    ));
    assert!(socks.contains("proxies are not supported"), "{socks}");
    let captured = err_line(&run(
        &home,
        &apply_args("net", "18916", &["--dry-run"]),
        &[("HTTPS_PROXY", "http://carol:pw@:0:bad")],
    ));
    assert!(captured.contains("is not a valid proxy URL"), "{captured}");
    assert!(!captured.contains(":pw@"), "{captured}");
    for e in [&bad_ca, &socks, &captured] {
        assert!(e.ends_with("; nothing was changed"), "{e}");
    }
    assert_same_tree(&before, &user_files(home.path()), "HOME after refusals");
}

// ---- a real deployment under cron ----

/// `POST path` with a JSON body to the loopback `port`; the status code.
fn post(port: u16, path: &str, body: &str) -> Option<u16> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nx-api-key: sk-test\r\nanthropic-version: 2023-06-01\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .ok()?;
    let mut buf = String::new();
    let _ = s.read_to_string(&mut buf);
    buf.split_whitespace().nth(1)?.parse().ok()
}

/// Claude's gateway (a stand-in with a path prefix) kept through a real apply: recorded in the
/// manifest, shown by status, reached by a request to the proxy; the captured proxy password
/// is in the manifest only; `remove` puts settings.json back byte for byte (at the gateway).
#[test]
fn a_real_apply_forwards_to_the_kept_gateway_and_remove_restores_the_config() {
    let Some(_lock) = lock_cron() else { return };
    let _restore = RestoreCrontab(crontab_l());
    let gateway = Stub::start().unwrap();
    let home = Home::new();
    let gw_url = format!("{}/corp/", gateway.url());
    claude_gateway(&home, &gw_url);
    let before = user_files(home.path());
    let profile = format!("it.gw-{}", std::process::id());
    let _cleanup = home.remove_on_drop(&profile);
    let port = free_port();
    let port_s = port.to_string();
    let mut args = install_apply(&profile, &port_s, CLAUDE_AT_PROVIDER);
    args.extend(["--preset", "persistent-task"]);
    // NO_PROXY keeps the loopback gateway direct once the proxy honours HTTPS_PROXY.
    let env = [
        ("HTTPS_PROXY", "http://alice:s3cret@127.0.0.1:9"),
        ("NO_PROXY", "127.0.0.1,localhost"),
    ];
    let out = ok_out(&run(&home, &args, &env));
    assert!(
        has_line(
            &out,
            &format!("upstream anthropic: {gw_url} (kept from {CLAUDE_VIA})")
        ),
        "{out}"
    );
    assert!(out.contains("routed claude"), "{out}");
    assert!(!out.contains("s3cret"), "{out}");

    let manifest: serde_json::Value = serde_json::from_slice(
        &fs::read(
            home.path()
                .join(format!(".headroom/deploy/{profile}/manifest.json")),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(manifest["upstreams"]["anthropic"]["url"], gw_url.as_str());
    assert_eq!(manifest["upstreams"]["anthropic"]["from"], CLAUDE_VIA);
    assert_eq!(manifest["upstreams"]["anthropic"]["tool"], "claude");
    assert_eq!(
        manifest["base_env"]["ANTHROPIC_TARGET_API_URL"],
        gw_url.as_str()
    );
    assert_eq!(
        manifest["base_env"]["HTTPS_PROXY"],
        "http://alice:s3cret@127.0.0.1:9"
    );

    let (healthy, st) = home.status_json(&profile);
    assert!(healthy, "{st}");
    assert_eq!(st["upstreams"][0]["provider"], "anthropic");
    assert_eq!(st["upstreams"][0]["url"], gw_url.as_str());
    assert_eq!(
        st["upstreams"][0]["from"],
        format!("kept from {CLAUDE_VIA}").as_str()
    );
    assert_eq!(st["upstreams"][1]["from"], "default");
    let json = st.to_string();
    assert!(!json.contains("s3cret"), "{json}");
    assert!(json.contains("http://alice:***@127.0.0.1:9"), "{json}");
    let table = ok_out(&run(
        &home,
        &["install", "status", "--profile", &profile],
        &[],
    ));
    assert!(
        has_line(
            &table,
            &format!("upstream     anthropic: {gw_url} (kept from {CLAUDE_VIA})")
        ),
        "{table}"
    );
    assert!(!table.contains("s3cret"), "{table}");

    // What Claude Code now sends to headroom arrives at the gateway, under its prefix.
    let body =
        r#"{"model":"claude-test","max_tokens":8,"messages":[{"role":"user","content":"hi"}]}"#;
    assert_eq!(post(port, "/v1/messages", body), Some(200));
    let paths: Vec<String> = gateway
        .requests()
        .iter()
        .filter_map(|r| r["path"].as_str().map(str::to_owned))
        .collect();
    assert!(paths.contains(&"/corp/v1/messages".to_owned()), "{paths:?}");
    // The deployment's proxy kept it in its usage history; status sums the last 7 days.
    let usage = |table: &str| {
        table
            .lines()
            .find_map(|l| l.strip_prefix("usage"))
            .map(|l| l.trim().to_owned())
    };
    let mut line = None;
    wait_until(Duration::from_secs(10), || {
        let table = ok_out(&run(
            &home,
            &["install", "status", "--profile", &profile],
            &[],
        ));
        line = usage(&table);
        line.as_deref()
            .is_some_and(|l| l.starts_with("last 7 days: 1 request, "))
    });
    assert!(
        line.as_deref().is_some_and(
            |l| l.starts_with("last 7 days: 1 request, ") && l.ends_with("(`headroom stats`)")
        ),
        "{line:?}"
    );

    // A re-apply (claude points at headroom by now) keeps the gateway.
    let out = ok_out(&run(&home, &args, &env));
    assert!(
        has_line(
            &out,
            &format!("upstream anthropic: {gw_url} (kept from {CLAUDE_VIA})")
        ),
        "{out}"
    );

    ok_out(&run(
        &home,
        &["install", "remove", "--profile", &profile],
        &[],
    ));
    assert_same_tree(&before, &user_files(home.path()), "HOME after remove");
}
