//! `headroom stats` against a usage history the real proxy wrote: requests sent through
//! `headroom proxy` to the stand-in upstream, then the numbers `stats` prints must be their sums;
//! a missing or corrupt history is one line naming the fix, exit 1.

mod support;

use std::io::{Read, Write};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use headroom_proxy::stub::Stub;
use serde_json::{Value, json};
use support::*;

/// `headroom proxy` writing its history to `db`.
fn start(home: &Path, db: &Path, upstream: &str) -> ProxyChild {
    ProxyChild::start(home, upstream, &["--usage-db", db.to_str().unwrap()])
}

/// POST `body` with `headers`; the status and the `x-headroom-tokens-saved` header (0 if none).
fn post(port: u16, path: &str, headers: &[(&str, &str)], body: &str) -> (u16, u64) {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut req = format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).unwrap();
    let mut answer = Vec::new();
    let _ = s.read_to_end(&mut answer);
    let text = String::from_utf8_lossy(&answer);
    let head = text.split("\r\n\r\n").next().unwrap_or("");
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    let saved = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("x-headroom-tokens-saved")
                .then(|| v.trim().parse().unwrap())
        })
        .unwrap_or(0);
    (status, saved)
}

/// A tool output compression exists for (a pretty-printed registry answer).
fn tool_output() -> String {
    let items: Vec<Value> = (0..80)
        .map(|i| json!({"name": format!("crate-{i}"), "version": format!("0.{i}.1"), "downloads": 1000 * i, "license": "MIT", "yanked": false}))
        .collect();
    serde_json::to_string_pretty(&json!({ "crates": items })).unwrap()
}

fn anthropic(model: &str) -> String {
    json!({
        "model": model, "max_tokens": 5,
        "messages": [
            {"role": "user", "content": "find crates"},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "Bash", "input": {"command": "curl registry"}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": tool_output()}]}
        ]
    })
    .to_string()
}

fn openai(model: &str) -> String {
    json!({ "model": model, "messages": [{"role": "user", "content": "hi"}] }).to_string()
}

const CLAUDE: (&str, &str) = ("User-Agent", "claude-cli/2.0.14 (external, cli)");
const OPENAI_SDK: (&str, &str) = ("User-Agent", "OpenAI/Python 1.50.0");
const CODEX: (&str, &str) = ("User-Agent", "codex_cli_rs/0.46.0");
const KEY: (&str, &str) = ("x-api-key", "sk-test-not-stored");

/// Six requests: three compressible Claude Code ones (project web-app), two OpenAI SDK ones,
/// one Codex request the upstream fails with 500. Returns the tokens the answers said were saved.
fn send_mix(port: u16) -> u64 {
    let mut saved = 0;
    for _ in 0..3 {
        let (status, s) = post(
            port,
            "/v1/messages",
            &[CLAUDE, KEY, ("x-headroom-project", "web-app")],
            &anthropic("claude-sonnet-4-5"),
        );
        assert_eq!(status, 200);
        saved += s;
    }
    for _ in 0..2 {
        let (status, s) = post(
            port,
            "/v1/chat/completions",
            &[OPENAI_SDK, ("Authorization", "Bearer sk-test")],
            &openai("gpt-4o"),
        );
        assert_eq!(status, 200);
        saved += s;
    }
    let (status, _) = post(
        port,
        "/v1/chat/completions",
        &[CODEX, ("x-stub-fault", "status:500")],
        &openai("gpt-5-codex"),
    );
    assert_eq!(status, 500);
    assert!(saved > 0, "the Claude Code requests were not compressed");
    saved
}

fn stats(home: &Path, args: &[&str]) -> std::process::Output {
    Command::new(headroom())
        .arg("stats")
        .args(args)
        .env("HOME", home)
        .env_remove("HEADROOM_USAGE_DB")
        .output()
        .unwrap()
}

fn stats_json(home: &Path, args: &[&str]) -> Value {
    let out = stats(home, &[&["--json"], args].concat());
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stats --json {args:?}: {e}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

#[test]
fn stats_are_the_sums_of_the_requests_sent_through_the_proxy() {
    let stub = Stub::start().unwrap();
    let home = Home::new();
    let db = home.path().join(".headroom/usage.db");
    let proxy = start(home.path(), &db, &stub.url());
    let saved = send_mix(proxy.port);
    proxy.stop();

    // The default history is ~/.headroom/usage.db, read while no proxy runs.
    let s = stats_json(home.path(), &["--since", "all"]);
    assert_eq!(s["requests"], 6, "{s:#}");
    // The stand-in answers every success with 12 input and 9 output tokens; the 500 has none.
    assert_eq!(s["input_tokens"], 12 * 5, "{s:#}");
    assert_eq!(s["output_tokens"], 9 * 5, "{s:#}");
    assert_eq!(s["tokens_upstream"], 12 * 5, "{s:#}");
    assert_eq!(s["tokens_saved"], saved, "{s:#}");
    let pct = s["saved_pct"].as_f64().unwrap();
    let want = 100.0 * saved as f64 / (60 + saved) as f64;
    assert!((pct - want).abs() < 0.01, "{pct} vs {want}");
    assert_eq!(s["errors"], json!({ "upstream_5xx": 1 }), "{s:#}");
    assert!(s["money_saved_usd"].as_f64().unwrap() > 0.0, "{s:#}");
    assert!(!s["prices_date"].as_str().unwrap().is_empty());
    assert!(s["latency_added_ms"]["p99"].as_f64().unwrap() >= 0.0);

    let by_model = stats_json(home.path(), &["--since", "all", "--by", "model"]);
    let groups: Vec<(String, u64, u64)> = by_model["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            (
                g["key"].as_str().unwrap().to_owned(),
                g["requests"].as_u64().unwrap(),
                g["tokens_saved"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        groups,
        [
            ("claude-sonnet-4-5".to_owned(), 3, saved),
            ("gpt-4o".to_owned(), 2, 0),
            ("gpt-5-codex".to_owned(), 1, 0),
        ],
        "{by_model:#}"
    );
    let by_client = stats_json(home.path(), &["--since", "24h", "--by", "client"]);
    let clients: Vec<(&str, u64)> = by_client["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| (g["key"].as_str().unwrap(), g["requests"].as_u64().unwrap()))
        .collect();
    assert_eq!(
        clients,
        [("claude-code", 3), ("codex", 1), ("openai-sdk", 2)],
        "{by_client:#}"
    );

    // The readable form says the same, with the grouped table.
    let out = stats(
        home.path(),
        &[
            "--since",
            "all",
            "--by",
            "project",
            "--db",
            db.to_str().unwrap(),
        ],
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(out.status.success(), "{text}");
    for want in [
        "requests          6".to_owned(),
        format!(" ({want:.1} %)"),
        "tokens upstream   60".to_owned(),
        "errors            1 of 6 (upstream_5xx 1)".to_owned(),
    ] {
        assert!(text.contains(&want), "no {want:?} in:\n{text}");
    }
    let saved_line = text
        .lines()
        .find(|l| l.starts_with("tokens saved"))
        .unwrap();
    assert_eq!(
        saved_line["tokens saved".len()..]
            .split_whitespace()
            .next()
            .map(|n| n.replace(',', "")),
        Some(saved.to_string()),
        "{saved_line}"
    );
    let web_app = text
        .lines()
        .find(|l| l.starts_with("web-app"))
        .unwrap_or_else(|| panic!("no web-app row:\n{text}"));
    assert_eq!(web_app.split_whitespace().nth(1), Some("3"), "{web_app}");
    // Metadata only: neither the prompt nor the key reached the file.
    let bytes = std::fs::read(&db).unwrap();
    for secret in ["sk-test-not-stored", "find crates", "crate-42"] {
        assert!(
            !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "{secret} is in the history"
        );
    }
}

#[test]
fn a_missing_or_corrupt_history_is_one_line_with_the_fix_and_exit_1() {
    let home = Home::new();
    let missing = stats(home.path(), &[]);
    assert_eq!(missing.status.code(), Some(1));
    let line = err_line(&missing);
    assert!(
        line.contains(".headroom/usage.db") && line.contains("no usage history"),
        "{line}"
    );

    let bad = home.path().join("usage.db");
    std::fs::write(&bad, vec![b'x'; 8192]).unwrap();
    let corrupt = stats(home.path(), &["--db", bad.to_str().unwrap()]);
    assert_eq!(corrupt.status.code(), Some(1));
    let line = err_line(&corrupt);
    assert!(line.contains("corrupt") && line.contains("mv "), "{line}");

    let refused = stats(home.path(), &["--since", "fortnight"]);
    assert_eq!(refused.status.code(), Some(2));
    let err = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("--since") && err.contains("all"), "{err}");
}
