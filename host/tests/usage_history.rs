//! The usage history of the real `headroom proxy` binary: `kill -9` under load never corrupts
//! it and loses at most the unflushed tail, the default file and `--no-usage-history`, and
//! `wrap` naming the project.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use headroom_proxy::stub::Stub;
use headroom_usage::query::{Reader, Since};
use support::{ProxyChild, free_port, headroom, health_json, isolate, proxy_command, wait_until};

fn start(home: &Path, port: u16, upstream: &str, extra: &[&str]) -> ProxyChild {
    ProxyChild::spawn(proxy_command(home, port, upstream, extra), port)
}

/// One Anthropic request on its own connection; true on a 200.
fn request(port: u16) -> bool {
    let body =
        r#"{"model":"claude-load","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}"#;
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let head = format!(
        "POST /v1/messages HTTP/1.1\r\nhost: x\r\nconnection: close\r\nuser-agent: claude-cli/2.0.14 (external, cli)\r\nx-api-key: k\r\nanthropic-version: 2023-06-01\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    if s.write_all(head.as_bytes()).is_err() {
        return false;
    }
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    answer.starts_with("HTTP/1.1 200")
}

/// SQLite's own check of every page and index.
fn integrity_check(db: &Path) -> String {
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    conn.query_row("PRAGMA integrity_check", [], |r| r.get::<_, String>(0))
        .unwrap()
}

fn requests_in(db: &Path) -> u64 {
    Reader::open(db)
        .unwrap()
        .stats(Since::All, None, SystemTime::now())
        .unwrap()
        .requests
}

#[test]
fn kill_9_under_load_never_corrupts_the_history() {
    let stub = Stub::start().unwrap();
    let home = tempfile::tempdir().unwrap();
    let db = home.path().join("history").join("usage.db");
    let db_arg = db.to_str().unwrap();
    let port = free_port();
    let mut proxy = start(home.path(), port, &stub.url(), &["--usage-db", db_arg]);

    let stop = Arc::new(AtomicBool::new(false));
    let served = Arc::new(AtomicU64::new(0));
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let (stop, served) = (stop.clone(), served.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    if request(port) {
                        served.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    // Load until some batches are on disk, then kill it mid-load (writes in flight).
    let written = |port| {
        health_json(port)["usage_history"]["written"]
            .as_u64()
            .unwrap()
    };
    assert!(
        wait_until(Duration::from_secs(20), || written(port) >= 1000),
        "rows were not written under load: {}",
        health_json(port)["usage_history"]
    );
    let flushed = written(port);
    proxy.child.kill().unwrap();
    proxy.child.wait().unwrap();
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.join().unwrap();
    }

    assert_eq!(integrity_check(&db), "ok");
    let kept = requests_in(&db);
    assert!(
        kept >= flushed && kept <= served.load(Ordering::Relaxed),
        "{flushed} flushed <= {kept} kept <= {} served",
        served.load(Ordering::Relaxed)
    );

    // The next proxy carries on with the same file; SIGTERM flushes its queue.
    let port = free_port();
    let proxy = start(home.path(), port, &stub.url(), &["--usage-db", db_arg]);
    assert!(request(port));
    proxy.stop();
    assert_eq!(requests_in(&db), kept + 1);
}

#[test]
fn history_is_kept_in_the_home_state_dir_unless_turned_off() {
    let stub = Stub::start().unwrap();
    let home = tempfile::tempdir().unwrap();
    let db = home.path().join(".headroom").join("usage.db");

    let port = free_port();
    let off = start(home.path(), port, &stub.url(), &["--no-usage-history"]);
    assert!(request(port));
    assert_eq!(health_json(port)["usage_history"]["state"], "disabled");
    drop(off);
    assert!(!db.exists(), "--no-usage-history wrote {}", db.display());

    let port = free_port();
    let on = start(home.path(), port, &stub.url(), &[]);
    assert!(request(port));
    let history = &health_json(port)["usage_history"];
    assert_eq!(history["state"], "ok", "{history}");
    assert_eq!(history["path"], db.to_str().unwrap());
    on.stop();
    assert_eq!(requests_in(&db), 1);
}

#[test]
fn wrap_names_the_project_after_the_working_directory() {
    let home = tempfile::tempdir().unwrap();
    let project = home.path().join("my project");
    std::fs::create_dir(&project).unwrap();
    let routing = |tool: &str| {
        let mut cmd = Command::new(headroom());
        isolate(&mut cmd, home.path())
            .args(["wrap", tool, "--port", "8787", "--print-routing"])
            .current_dir(&project);
        support::ok(&cmd.output().unwrap())
    };
    let claude = routing("claude");
    assert!(
        claude
            .lines()
            .any(|l| l == "env ANTHROPIC_CUSTOM_HEADERS=x-headroom-project: my project"),
        "{claude}"
    );
    let codex = routing("codex");
    assert!(
        codex.lines().any(|l| l
            == r#"arg model_providers.headroom.http_headers={ "x-headroom-project" = "my project" }"#),
        "{codex}"
    );
}
