//! `/dashboard` on a real `headroom proxy` with a usage history the proxy wrote itself (requests
//! to the stand-in upstream): who may see it (loopback, the token, the Host name), that its JSON
//! is `headroom stats --json`, and the page as a real headless Chromium renders it (chart, table,
//! counters, hostile strings shown as text). `headroom dashboard` prints the URL without a display.

mod support;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use headroom_proxy::stub::Stub;
use serde_json::{Value, json};
use support::*;

const TOKEN: &str = "dash-token-&=1";
/// Shown in the page only as text: an element built from it would be an injection.
const HOSTILE_PROJECT: &str = "<img src=x id=injected onerror=\"document.title='pwned'\">";
const HOSTILE_MODEL: &str = "\"><svg id=injected2 onload=alert(1)>";

/// A proxy with its own HOME, whose usage history is `db`.
struct Proxy {
    port: u16,
    db: PathBuf,
    _proxy: ProxyChild,
    _home: Home,
}

impl Proxy {
    fn start(extra: &[&str], token: Option<&str>, upstream: &str) -> Proxy {
        let home = Home::new();
        let db = home.path().join(".headroom/usage.db");
        let port = free_port();
        let mut cmd = proxy_command(home.path(), port, upstream, extra);
        if let Some(t) = token {
            cmd.env("HEADROOM_PROXY_TOKEN", t);
        }
        Proxy {
            port,
            db,
            _proxy: ProxyChild::spawn(cmd, port),
            _home: home,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

struct Answer {
    status: u16,
    headers: BTreeMap<String, String>,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

/// One HTTP/1.0 exchange (no chunking to undo), to `addr`, with `Host: 127.0.0.1` unless given.
fn request(
    addr: (&str, u16),
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Answer {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut req = format!(
        "{method} {path} HTTP/1.0\r\nContent-Length: {}\r\n",
        body.len()
    );
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        req.push_str("Host: 127.0.0.1\r\n");
    }
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).unwrap();
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP answer: {text:?}"));
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Answer {
        status,
        headers,
        body: body.to_owned(),
    }
}

fn get(port: u16, path: &str, headers: &[(&str, &str)]) -> Answer {
    request(("127.0.0.1", port), "GET", path, headers, "")
}

fn tool_output() -> String {
    let items: Vec<Value> = (0..60)
        .map(|i| json!({"name": format!("pkg-{i}"), "version": format!("1.{i}.0"), "size": 4096 * i, "ok": true}))
        .collect();
    serde_json::to_string_pretty(&json!({ "packages": items })).unwrap()
}

/// Requests from several clients, models and projects (two of them hostile); returns how many.
fn populate(port: u16) -> u64 {
    const CLAUDE: &str = "claude-cli/2.0.14 (external, cli)";
    let anthropic = |model: &str| {
        json!({"model": model, "max_tokens": 5, "messages": [
            {"role": "user", "content": "list packages"},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "t", "name": "Bash", "input": {"command": "ls"}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t", "content": tool_output()}]}]})
        .to_string()
    };
    let openai = |model: &str| {
        json!({"model": model, "messages": [{"role": "user", "content": "hi"}]}).to_string()
    };
    let (messages, chat) = ("/v1/messages", "/v1/chat/completions");
    // (path, User-Agent, extra header, body)
    let sends = [
        (
            messages,
            CLAUDE,
            ("x-headroom-project", "web-app"),
            anthropic("claude-sonnet-4-5"),
        ),
        (
            messages,
            CLAUDE,
            ("x-headroom-project", "web-app"),
            anthropic("claude-sonnet-4-5"),
        ),
        (
            messages,
            CLAUDE,
            ("x-headroom-project", "api"),
            anthropic("claude-opus-4-1"),
        ),
        (
            chat,
            "codex_cli_rs/0.46.0",
            ("x-headroom-project", "api"),
            openai("gpt-5-codex"),
        ),
        (
            chat,
            "OpenAI/Python 1.50.0",
            ("Accept", "application/json"),
            openai("gpt-4o"),
        ),
        (
            chat,
            "<script>alert(1)</script>",
            ("x-headroom-project", HOSTILE_PROJECT),
            openai(HOSTILE_MODEL),
        ),
        (
            messages,
            CLAUDE,
            ("x-stub-fault", "status:529"),
            anthropic("claude-sonnet-4-5"),
        ),
    ];
    for (path, ua, extra, body) in &sends {
        let headers = [
            ("User-Agent", *ua),
            *extra,
            ("Content-Type", "application/json"),
            ("x-api-key", "sk-test"),
        ];
        request(("127.0.0.1", port), "POST", path, &headers, body);
    }
    sends.len() as u64
}

fn stats_json(db: &Path) -> Value {
    let out = Command::new(headroom())
        .args(["stats", "--json", "--since", "all", "--db"])
        .arg(db)
        .output()
        .unwrap();
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stats --json: {e}: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// The summary, once the recorder has written all `n` rows (it batches off the request path).
fn summary_with(proxy: &Proxy, n: u64, headers: &[(&str, &str)]) -> Value {
    let mut last = Value::Null;
    let written = wait_until(Duration::from_secs(15), || {
        let a = get(proxy.port, "/dashboard/api/summary?since=all", headers);
        last = if a.status == 200 {
            a.json()
        } else {
            Value::Null
        };
        last["requests"] == n
    });
    assert!(written, "the history never reached {n} requests: {last}");
    last
}

fn without_until(mut v: Value) -> Value {
    v.as_object_mut().unwrap().remove("until");
    v
}

#[test]
fn the_page_and_its_api_are_served_to_loopback_and_match_stats() {
    let stub = Stub::start().unwrap();
    let proxy = Proxy::start(&[], None, &stub.url());
    let n = populate(proxy.port);
    let summary = summary_with(&proxy, n, &[]);

    // The same numbers as `headroom stats --json` for the same file (only "until" is "now").
    assert_eq!(
        without_until(summary.clone()),
        without_until(stats_json(&proxy.db))
    );
    assert!(summary["tokens_saved"].as_u64().unwrap() > 0, "{summary:#}");
    assert_eq!(
        summary["errors"],
        json!({ "upstream_5xx": 1 }),
        "{summary:#}"
    );

    let page = get(proxy.port, "/dashboard", &[]);
    assert_eq!(page.status, 200);
    assert_eq!(page.headers["content-type"], "text/html; charset=utf-8");
    assert!(page.headers["content-security-policy"].contains("default-src 'none'"));
    assert!(page.body.contains("<svg") || page.body.contains("createElementNS"));
    assert!(
        !page.body.contains("https://"),
        "the page loads nothing from elsewhere"
    );

    let recent = get(proxy.port, "/dashboard/api/recent", &[]).json();
    let rows = recent.as_array().unwrap();
    assert_eq!(rows.len() as u64, n);
    // Newest first; the hostile strings come back as plain (capped) data.
    assert_eq!(rows[0]["status"], 529);
    assert_eq!(rows[1]["project"], HOSTILE_PROJECT);
    assert_eq!(rows[1]["model"], HOSTILE_MODEL);
    assert_eq!(rows[1]["client"], "other");
    assert!(
        rows.iter()
            .all(|r| r.get("prompt").is_none() && r.get("messages").is_none())
    );

    let series = get(proxy.port, "/dashboard/api/series?since=24h", &[]).json();
    let points = series.as_array().unwrap();
    let saved: u64 = points
        .iter()
        .map(|p| p["tokens_saved"].as_u64().unwrap())
        .sum();
    let requests: u64 = points.iter().map(|p| p["requests"].as_u64().unwrap()).sum();
    assert_eq!(
        (saved, requests),
        (summary["tokens_saved"].as_u64().unwrap(), n)
    );

    let bad = get(proxy.port, "/dashboard/api/summary?since=fortnight", &[]);
    assert_eq!(bad.status, 400);
    assert!(
        bad.json()["reason"].as_str().unwrap().contains("--since"),
        "{}",
        bad.body
    );
    assert_eq!(get(proxy.port, "/dashboard/api/nothing", &[]).status, 404);
    // A page on another site whose name resolves to 127.0.0.1 (DNS rebinding) is refused.
    let rebound = get(
        proxy.port,
        "/dashboard/api/recent",
        &[("Host", "evil.example:8787")],
    );
    assert_eq!(rebound.status, 403, "{}", rebound.body);
}

#[test]
fn with_a_token_configured_the_dashboard_needs_it() {
    let stub = Stub::start().unwrap();
    let proxy = Proxy::start(&[], Some(TOKEN), &stub.url());
    for path in ["/dashboard", "/dashboard/api/summary"] {
        let none = get(proxy.port, path, &[]);
        assert_eq!(none.status, 401, "{path}: {}", none.body);
        assert!(none.json()["reason"].as_str().unwrap().contains("token"));
        assert_eq!(
            get(proxy.port, &format!("{path}?token=wrong"), &[]).status,
            401
        );
        let header = get(proxy.port, path, &[("x-headroom-proxy-token", TOKEN)]);
        assert_eq!(header.status, 200, "{path}: {}", header.body);
    }
    let query = get(proxy.port, "/dashboard?token=dash-token-%26%3D1", &[]);
    assert_eq!(query.status, 200, "{}", query.body);
}

/// The first non-loopback address of this machine, if it has one.
fn lan_ip() -> Option<std::net::IpAddr> {
    let s = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    s.connect("192.0.2.1:9").ok()?;
    let ip = s.local_addr().ok()?.ip();
    (!ip.is_loopback() && !ip.is_unspecified()).then_some(ip)
}

#[test]
fn callers_from_another_machine_are_refused_even_with_the_token() {
    let Some(ip) = lan_ip() else {
        return skip("no non-loopback address to call the proxy from");
    };
    let stub = Stub::start().unwrap();
    let proxy = Proxy::start(&["--host", "0.0.0.0"], Some(TOKEN), &stub.url());
    let remote = request(
        (&ip.to_string(), proxy.port),
        "GET",
        "/dashboard/api/summary",
        &[("x-headroom-proxy-token", TOKEN), ("Host", "127.0.0.1")],
        "",
    );
    assert_eq!(remote.status, 403, "{}", remote.body);
    assert!(
        remote.json()["reason"]
            .as_str()
            .unwrap()
            .contains("this machine")
    );
}

#[test]
fn with_history_off_the_api_answers_503_with_the_reason() {
    let stub = Stub::start().unwrap();
    let proxy = Proxy::start(&["--no-usage-history"], None, &stub.url());
    assert_eq!(get(proxy.port, "/dashboard", &[]).status, 200);
    for api in ["summary", "recent", "series"] {
        let a = get(proxy.port, &format!("/dashboard/api/{api}"), &[]);
        assert_eq!(a.status, 503, "{api}");
        assert_eq!(a.json()["state"], "disabled");
        assert!(
            a.json()["reason"]
                .as_str()
                .unwrap()
                .contains("--no-usage-history")
        );
    }
    if let Some(dom) = chromium_dom(&proxy.url("/dashboard")) {
        assert!(
            dom.contains("Usage history is not available: usage history is off"),
            "{dom}"
        );
    }
}

/// `chromium --headless --dump-dom URL` (bounded); `None`, after saying why, without Chromium.
fn chromium_dom(url: &str) -> Option<String> {
    let out = chromium(&["--dump-dom", url])?;
    Some(String::from_utf8_lossy(&out).into_owned())
}

fn chromium(args: &[&str]) -> Option<Vec<u8>> {
    let Some(bin) = ["chromium", "chromium-browser"].into_iter().find(|b| {
        Command::new(b)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    }) else {
        skip("no chromium on PATH (apt-get install chromium): the page is not rendered");
        return None;
    };
    let profile = tempfile::tempdir().unwrap();
    let mut child = Command::new(bin)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
        ])
        .args(["--virtual-time-budget=5000", "--window-size=1280,900"])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .env("HOME", profile.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut out = Vec::new();
        let _ = stdout.read_to_end(&mut out);
        out
    });
    // A hung browser must not hang the suite: killed (through its own handle) after a minute.
    let exited = wait_until(Duration::from_secs(60), || {
        child.try_wait().ok().flatten().is_some()
    });
    if !exited {
        let _ = child.kill();
    }
    let status = child.wait().unwrap();
    let stdout = reader.join().unwrap();
    assert!(exited, "chromium {args:?} did not finish within a minute");
    assert!(status.success(), "chromium {args:?} failed: {status:?}");
    Some(stdout)
}

/// The text between `<tag ... id="id"` and the next `</tag>` (enough for this page's DOM).
fn element<'a>(dom: &'a str, tag: &str, id: &str) -> &'a str {
    let start = dom
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no #{id} in the DOM"));
    let end = dom[start..]
        .find(&format!("</{tag}>"))
        .map_or(dom.len(), |e| start + e);
    &dom[start..end]
}

#[test]
fn the_page_renders_in_headless_chromium_with_chart_table_and_counters() {
    let stub = Stub::start().unwrap();
    let proxy = Proxy::start(&[], Some(TOKEN), &stub.url());
    let n = populate(proxy.port);
    let summary = summary_with(&proxy, n, &[("x-headroom-proxy-token", TOKEN)]);
    let url = proxy.url("/dashboard?token=dash-token-%26%3D1");
    let Some(dom) = chromium_dom(&url) else {
        return;
    };
    // The counters, filled from /dashboard/api/summary.
    assert!(
        element(&dom, "dd", "c-requests").ends_with(&format!(">{n}")),
        "{}",
        element(&dom, "dd", "c-requests")
    );
    assert!(element(&dom, "dd", "c-errors").contains("upstream_5xx 1"));
    assert!(
        element(&dom, "p", "unavailable").contains("hidden"),
        "the banner is shown"
    );
    // The charts: an <svg> each, with one bar per non-empty (bucket, key).
    for chart in ["chart-client", "chart-model"] {
        let svg = element(&dom, "div", chart);
        assert!(svg.contains("<svg"), "{chart}: {svg}");
        assert!(svg.matches("class=\"bar\"").count() >= 1, "{chart}: {svg}");
    }
    assert!(element(&dom, "table", "split-client").contains("claude-code"));
    assert!(element(&dom, "table", "split-model").contains("claude-sonnet-4-5"));
    // The table: a row per request.
    let table = element(&dom, "table", "recent");
    let body = &table[table.find("<tbody>").expect("a tbody")..];
    assert_eq!(body.matches("<tr>").count() as u64, n, "{table}");
    // The hostile project and model are text: escaped in the DOM, no element made from them.
    assert!(
        !dom.contains("id=\"injected\"") && !dom.contains("id=\"injected2\""),
        "{dom}"
    );
    assert!(
        !dom.contains("<img") && dom.contains("<title>headroom: savings</title>"),
        "{dom}"
    );
    assert!(dom.contains("&lt;img src=x id=injected"), "{dom}");
    // The deployment block, from /health.
    assert!(element(&dom, "dl", "deployment").contains("a foreground headroom proxy"));

    // A picture for docs/stats.md when asked for (HEADROOM_DASHBOARD_SCREENSHOT=docs/dashboard.png).
    if let Some(path) = std::env::var_os("HEADROOM_DASHBOARD_SCREENSHOT") {
        let path = std::path::absolute(PathBuf::from(path)).unwrap();
        chromium(&[&format!("--screenshot={}", path.display()), &url]);
        let png = std::fs::read(&path).unwrap();
        assert!(png.starts_with(b"\x89PNG") && png.len() > 10_000);
    }
    assert!(summary["tokens_saved"].as_u64().unwrap() > 0);
}

#[test]
fn headroom_dashboard_prints_the_url_without_a_display_and_needs_a_proxy() {
    let stub = Stub::start().unwrap();
    let proxy = Proxy::start(&[], None, &stub.url());
    let home = Home::new();
    let out = Command::new(headroom())
        .args(["dashboard", "--port", &proxy.port.to_string()])
        .env("HOME", home.path())
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .env("HEADROOM_PROXY_TOKEN", TOKEN)
        .output()
        .unwrap();
    let text = ok(&out);
    assert_eq!(
        text.trim(),
        format!(
            "open http://127.0.0.1:{}/dashboard?token=$HEADROOM_PROXY_TOKEN in a browser",
            proxy.port
        )
    );
    // A display whose launcher fails still ends with the URL, exit 0.
    let bin = tempfile::tempdir().unwrap();
    write_executable(
        &bin.path().join("xdg-open"),
        "#!/bin/sh\necho \"$1\" > \"$0.url\"\nexit 3\n",
    );
    let out = Command::new(headroom())
        .args(["dashboard", "--port", &proxy.port.to_string()])
        .env("HOME", home.path())
        .env("DISPLAY", ":99")
        .env("PATH", bin.path())
        .env_remove("HEADROOM_PROXY_TOKEN")
        .output()
        .unwrap();
    let url = format!("http://127.0.0.1:{}/dashboard", proxy.port);
    assert_eq!(ok(&out).trim(), format!("open {url} in a browser"));
    let asked = std::fs::read_to_string(bin.path().join("xdg-open.url")).unwrap();
    assert_eq!(asked.trim(), url);

    let free = free_port().to_string();
    let out = home.run(&["dashboard", "--port", &free]);
    assert!(
        err_line(&out).contains("no headroom proxy is serving"),
        "{out:?}"
    );
}
