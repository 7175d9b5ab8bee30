//! A writer killed with SIGKILL mid-batch loses at most the batch in flight and never the file.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use headroom_usage::query::{Reader, Since};
use rusqlite::Connection;

/// The example binary, built next to this test (cargo test builds examples; a filtered run may
/// not, so build it then).
fn writer_binary() -> PathBuf {
    let deps = std::env::current_exe().unwrap();
    let bin = deps
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("examples/usage_writer");
    if !bin.exists() {
        let status = Command::new(env!("CARGO"))
            .args(["build", "-p", "headroom-usage", "--example", "usage_writer"])
            .status()
            .unwrap();
        assert!(status.success(), "building the usage_writer example failed");
    }
    bin
}

/// Kills the writer if the test fails before it does.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn kill_9_mid_write_loses_at_most_the_last_batch() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("usage.db");
    let mut child = Killed(
        Command::new(writer_binary())
            .arg(&db)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut lines = BufReader::new(child.0.stdout.take().unwrap()).lines();
    // Each line: rows the writer had on disk after a flush. Wait for a few thousand, then
    // kill it while it is recording the next ones.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut flushed = 0;
    while flushed < 3_000 {
        assert!(
            Instant::now() < deadline,
            "the writer is too slow: {flushed} rows"
        );
        let line = lines.next().expect("the writer exited").unwrap();
        flushed = line.trim().parse().unwrap();
    }
    // Child::kill is SIGKILL to its PID: no destructor, flush or checkpoint runs in the writer.
    child.0.kill().unwrap();
    child.0.wait().unwrap();
    assert!(
        db.with_extension("db-wal").exists(),
        "expected a WAL to recover"
    );

    // `headroom stats` first, as a user would after the crash: read-only, with the WAL left over.
    let stats = Reader::open(&db)
        .unwrap()
        .stats(Since::All, None, SystemTime::now())
        .unwrap();
    let conn = Connection::open(&db).unwrap();
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    println!(
        "flushed {flushed} before the kill, {} on disk after",
        stats.requests
    );
    assert!(stats.requests >= flushed, "{} < {flushed}", stats.requests);
    assert_eq!(stats.tokens_saved, stats.requests * 4_000);
}
