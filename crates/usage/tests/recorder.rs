//! The writer: schema, file modes, retention, the row cap, size per row, a full queue, and the
//! files it cannot use (corrupt, locked, unwritable).

mod common;

use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant, SystemTime};

use common::{DAY, HOUR, Rng, count, eventually, hold_exclusively, one_row_history, row};
use headroom_usage::query::{Reader, Since};
use headroom_usage::{Client, ErrorKind, Options, Provider, Record, Recorder, UsageError};
use rusqlite::Connection;

const FLUSH: Duration = Duration::from_secs(10);

#[test]
fn creates_a_private_versioned_wal_file() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("state/usage.db");
    let rec = Recorder::open(&db, Options::default());
    rec.record(row(SystemTime::now()));
    rec.flush(FLUSH);
    let health = rec.health();
    assert_eq!(health["state"], "ok", "{health}");
    assert_eq!(health["written"], 1);
    assert_eq!(health["dropped"], 0);
    assert_eq!(health["path"], db.to_str().unwrap());

    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&db), 0o600);
    assert_eq!(mode(db.parent().unwrap()), 0o700);
    let conn = Connection::open(&db).unwrap();
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, 2);
    let journal: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(journal, "wal");
}

#[test]
fn retention_at_open_deletes_old_rows_and_keeps_newer_and_future_ones() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("usage.db");
    let now = SystemTime::now();
    let rec = Recorder::open(&db, Options::default());
    // Tagged by input tokens: 91 and 89 days old, and one a clock set a month ahead stamped:
    // that one is not old, so it stays.
    for (at, tag) in [
        (now - 91 * DAY, 91),
        (now - 89 * DAY, 89),
        (now + 30 * DAY, 30),
    ] {
        let mut r = row(at);
        r.input_tokens = tag;
        rec.record(r);
    }
    rec.flush(FLUSH);
    assert_eq!(count(&db), 3);
    drop(rec);

    let rec = Recorder::open(&db, Options::default());
    assert_eq!(rec.health()["state"], "ok");
    let kept: Vec<u64> = Reader::open(&db)
        .unwrap()
        .recent(10)
        .unwrap()
        .iter()
        .map(|r| r.input_tokens)
        .collect();
    assert_eq!(kept, [30, 89]);
}

#[test]
fn the_periodic_prune_deletes_what_ages_out_while_running() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("usage.db");
    let now = SystemTime::now();
    let rec = Recorder::open(
        &db,
        Options {
            retention: HOUR,
            prune_every: Duration::from_millis(1500),
            ..Options::default()
        },
    );
    let started = Instant::now();
    rec.record(row(now - 2 * HOUR));
    rec.record(row(now - HOUR / 2));
    rec.flush(FLUSH);
    let before = count(&db);
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "too slow to observe"
    );
    assert_eq!(before, 2);
    assert!(
        eventually(Duration::from_secs(10), || count(&db) == 1),
        "the old row was not pruned"
    );
    assert_eq!(rec.health()["state"], "ok");
}

#[test]
fn max_rows_keeps_the_newest() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("usage.db");
    let now = SystemTime::now();
    let rec = Recorder::open(
        &db,
        Options {
            max_rows: 100,
            prune_every: Duration::from_millis(200),
            ..Options::default()
        },
    );
    for i in 0..500u32 {
        let mut r = row(now - Duration::from_secs(u64::from(500 - i)));
        r.input_tokens = u64::from(i);
        rec.record(r);
    }
    rec.flush(FLUSH);
    assert!(eventually(Duration::from_secs(10), || count(&db) == 100));
    let newest = Reader::open(&db).unwrap().recent(1000).unwrap();
    assert_eq!(newest.first().unwrap().input_tokens, 499);
    assert_eq!(newest.last().unwrap().input_tokens, 400);
}

#[test]
fn a_row_costs_under_100_bytes_on_disk() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("usage.db");
    let rec = Recorder::open(&db, Options::default());
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let models = [
        "claude-sonnet-4-5-20250929",
        "claude-opus-4-1-20250805",
        "claude-haiku-4-5-20251001",
        "gpt-5-codex",
        "gpt-5.1",
    ];
    let projects = ["headroom", "website", "infra"];
    let clients = [Client::ClaudeCode, Client::Codex, Client::OpenCode];
    let start = SystemTime::now() - 30 * DAY;
    const ROWS: u64 = 10_000;
    for i in 0..ROWS {
        let compressed = rng.below(3) == 0;
        rec.record(Record {
            at: start + Duration::from_millis(i * 259_200 + rng.below(100_000)),
            client: *rng.pick(&clients),
            provider: Provider::Anthropic,
            model: Some(rng.pick(&models).to_string()),
            project: Some(rng.pick(&projects).to_string()),
            status: 200,
            error: None,
            ttfb: Some(Duration::from_millis(200 + rng.below(2_000))),
            total: Some(Duration::from_millis(1_000 + rng.below(60_000))),
            added: Duration::from_micros(50 + rng.below(5_000)),
            input_tokens: rng.below(20_000),
            output_tokens: rng.below(4_000),
            cache_read_tokens: rng.below(150_000),
            cache_write_tokens: rng.below(10_000),
            tokens_before: if compressed {
                2_000 + rng.below(30_000)
            } else {
                0
            },
            tokens_after: if compressed { rng.below(2_000) } else { 0 },
            transforms: if compressed {
                vec!["json".into(), "logs".into()]
            } else {
                Vec::new()
            },
        });
        if i % 1000 == 999 {
            rec.flush(FLUSH);
        }
    }
    rec.flush(FLUSH);
    assert_eq!(rec.health()["written"], ROWS);
    // Fold the WAL into the file so its size is the whole cost.
    let conn = Connection::open(&db).unwrap();
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        .unwrap();
    let per_row = std::fs::metadata(&db).unwrap().len() as f64 / ROWS as f64;
    println!("usage.db: {per_row:.1} bytes per request ({ROWS} rows)");
    assert!(per_row < 100.0, "{per_row:.1} bytes per row");
}

#[test]
fn a_full_queue_drops_and_counts_without_blocking() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("usage.db");
    let rec = Recorder::open(
        &db,
        Options {
            queue: 16,
            batch: 4,
            ..Options::default()
        },
    );
    // Another process holds the write lock: the writer stalls in its busy timeout.
    let blocker = Connection::open(&db).unwrap();
    blocker.execute_batch("BEGIN EXCLUSIVE").unwrap();

    let mut slowest = Duration::ZERO;
    let started = Instant::now();
    for _ in 0..1000 {
        let t = Instant::now();
        rec.record(row(SystemTime::now()));
        slowest = slowest.max(t.elapsed());
    }
    let all = started.elapsed();
    println!("1000 record() calls: {all:?}, slowest {slowest:?}");
    assert!(
        slowest < Duration::from_millis(20),
        "record() blocked {slowest:?}"
    );
    assert!(
        all < Duration::from_millis(200),
        "record() x1000 took {all:?}"
    );
    let dropped = rec.health()["dropped"].as_u64().unwrap();
    assert!(dropped >= 1000 - 16 - 4, "dropped {dropped}");

    // The stalled batch fails on the lock: the history says so in one line, the proxy goes on.
    assert!(eventually(Duration::from_secs(5), || rec.health()["state"]
        == "unavailable"));
    let reason = rec.health()["reason"].as_str().unwrap().to_string();
    assert!(
        reason.contains("locked") && !reason.contains('\n'),
        "{reason}"
    );

    blocker.execute_batch("ROLLBACK").unwrap();
    rec.flush(FLUSH);
    rec.record(row(SystemTime::now()));
    rec.flush(FLUSH);
    let health = rec.health();
    assert_eq!(health["state"], "ok", "{health}");
    let (written, dropped) = (
        health["written"].as_u64().unwrap(),
        health["dropped"].as_u64().unwrap(),
    );
    assert_eq!(written + dropped, 1001, "{health}");
    assert_eq!(count(&db), written);
}

#[test]
fn a_corrupt_file_is_reported_and_left_alone() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("usage.db");
    let mut rng = Rng(42);
    let junk: Vec<u8> = (0..8192).map(|_| rng.next() as u8).collect();
    std::fs::write(&db, &junk).unwrap();

    let rec = Recorder::open(&db, Options::default());
    rec.record(row(SystemTime::now()));
    rec.flush(FLUSH);
    let health = rec.health();
    assert_eq!(health["state"], "unavailable", "{health}");
    assert_eq!(health["dropped"], 1);
    let reason = health["reason"].as_str().unwrap();
    assert!(reason.contains("is corrupt"), "{reason}");

    let err = Reader::open(&db)
        .and_then(|r| r.stats(Since::All, None, SystemTime::now()).map(drop))
        .unwrap_err();
    assert!(matches!(err, UsageError::Corrupt { .. }), "{err:?}");
    let shown = err.to_string();
    let p = db.display();
    assert_eq!(
        shown,
        format!(
            "usage history {p} is corrupt (file is not a database); move it away to start a new one: mv {p} {p}.bad"
        )
    );
    assert_eq!(std::fs::read(&db).unwrap(), junk, "the file was changed");
}

#[test]
fn a_file_locked_by_another_process_is_reported() {
    let tmp = tempfile::tempdir().unwrap();
    let db = one_row_history(tmp.path());
    let _holder = hold_exclusively(&db);

    let err = Reader::open(&db)
        .and_then(|r| r.stats(Since::All, None, SystemTime::now()).map(drop))
        .unwrap_err();
    assert!(matches!(err, UsageError::Locked { .. }), "{err:?}");
    assert!(
        err.to_string().contains("is locked by another process"),
        "{err}"
    );

    let rec = Recorder::open(&db, Options::default());
    let health = rec.health();
    assert_eq!(health["state"], "unavailable", "{health}");
    assert!(
        health["reason"].as_str().unwrap().contains("locked"),
        "{health}"
    );
}

#[test]
fn an_unusable_directory_is_reported() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("not-a-dir");
    std::fs::write(&file, b"").unwrap();
    let rec = Recorder::open(&file.join("usage.db"), Options::default());
    rec.record(row(SystemTime::now()));
    let health = rec.health();
    assert_eq!(health["state"], "unavailable");
    assert_eq!(health["dropped"], 1);
    let reason = health["reason"].as_str().unwrap();
    assert!(reason.contains("cannot create its directory"), "{reason}");
}

#[test]
fn disabled_keeps_nothing() {
    let rec = Recorder::disabled();
    rec.record(row(SystemTime::now()));
    rec.flush(FLUSH);
    assert_eq!(
        rec.health(),
        serde_json::json!({"state": "disabled", "path": null, "reason": null, "written": 0, "dropped": 0})
    );
}

#[test]
fn hostile_strings_are_stored_capped_and_clean() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("usage.db");
    let rec = Recorder::open(&db, Options::default());
    let ua = format!("\x1b]0;pwned\x07{}", "A".repeat(10 * 1024));
    let mut r = row(SystemTime::now());
    r.client = Client::from_user_agent(&ua);
    r.project = Some(format!("<script>\n\x1b[2J{}", "p".repeat(10 * 1024)));
    r.model = Some("m\r\n".repeat(5_000));
    r.error = Some(ErrorKind::BadRequest);
    rec.record(r);
    rec.flush(FLUSH);
    let got = &Reader::open(&db).unwrap().recent(1).unwrap()[0];
    assert_eq!(got.client, "other");
    let project = got.project.as_deref().unwrap();
    assert_eq!(project.chars().count(), 100);
    assert!(project.starts_with("<script>[2Jppp"), "{project}");
    let model = got.model.as_deref().unwrap();
    assert_eq!(model, "m".repeat(100));
    assert_eq!(got.error.as_deref(), Some("bad_request"));
}

/// The writer thread's voluntary context switches so far (Linux), found by its name.
fn writer_switches() -> Option<u64> {
    std::fs::read_dir("/proc/self/task")
        .ok()?
        .flatten()
        .find_map(|t| {
            let comm = std::fs::read_to_string(t.path().join("comm")).ok()?;
            if comm.trim() != "headroom-usage" {
                return None;
            }
            let status = std::fs::read_to_string(t.path().join("status")).ok()?;
            status
                .lines()
                .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))?
                .trim()
                .parse()
                .ok()
        })
}

#[test]
fn rows_arriving_one_by_one_do_not_wake_the_writer_for_each() {
    // A request hands its row over and goes on; a writer blocked on the queue would be woken
    // (a futex wake and a context switch) by every one of them.
    let tmp = tempfile::tempdir().unwrap();
    let rec = Recorder::open(&tmp.path().join("usage.db"), Options::default());
    rec.record(row(SystemTime::now()));
    rec.flush(FLUSH);
    let Some(before) = writer_switches() else {
        eprintln!("skipped: no /proc/self/task/*/status here");
        return;
    };
    let sent = 400;
    for _ in 0..sent {
        rec.record(row(SystemTime::now()));
        // Slower than the writer: each row would find it waiting.
        std::thread::sleep(Duration::from_micros(250));
    }
    rec.flush(FLUSH);
    let woken = writer_switches().unwrap() - before;
    assert_eq!(rec.health()["written"], sent + 1);
    assert!(
        woken < sent / 4,
        "the writer was switched to {woken} times for {sent} rows"
    );
}

/// The first layout (schema v1), as headroom 0.1 wrote it: the time in an indexed `at` column.
const V1: &str = "
PRAGMA auto_vacuum = INCREMENTAL;
CREATE TABLE requests (
    id INTEGER PRIMARY KEY, at INTEGER NOT NULL, client INTEGER NOT NULL,
    provider INTEGER NOT NULL, model INTEGER, project INTEGER, status INTEGER NOT NULL,
    error INTEGER, ttfb INTEGER, total INTEGER, added INTEGER NOT NULL, input INTEGER NOT NULL,
    output INTEGER NOT NULL, cache_read INTEGER NOT NULL, cache_write INTEGER NOT NULL,
    before INTEGER NOT NULL, after INTEGER NOT NULL, transforms INTEGER
);
CREATE INDEX requests_at ON requests(at);
CREATE TABLE names (
    id INTEGER PRIMARY KEY, kind INTEGER NOT NULL, name TEXT NOT NULL, UNIQUE (kind, name)
);
PRAGMA user_version = 1;
";

#[test]
fn a_v1_file_is_read_as_it_is_and_moved_to_v2_without_losing_a_row() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("usage.db");
    let now_ms = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let conn = Connection::open(&db).unwrap();
    conn.execute_batch(V1).unwrap();
    conn.execute_batch(
        "INSERT INTO names VALUES (1, 1, 'claude-sonnet-4-5-20250929'), (2, 2, 'headroom');",
    )
    .unwrap();
    // Two rows share a millisecond; one is 2 days old; one was stamped before a clock went back.
    for (i, at) in [
        now_ms - 2 * 86_400_000,
        now_ms - 5_000,
        now_ms - 5_000,
        now_ms + 3_600_000,
        now_ms - 1_000,
    ]
    .into_iter()
    .enumerate()
    {
        conn.execute(
            "INSERT INTO requests (at, client, provider, model, project, status, ttfb, total,
             added, input, output, cache_read, cache_write, before, after)
             VALUES (?1, 1, 1, 1, 2, 200, 400, 3000, 180, ?2, 10, 0, 0, 600, 100)",
            rusqlite::params![at, 100 + i as i64],
        )
        .unwrap();
    }
    drop(conn);

    let read = |db: &std::path::Path| {
        let reader = Reader::open(db).unwrap();
        let day = reader
            .stats(Since::Hours(24), None, SystemTime::now())
            .unwrap();
        let all = reader.stats(Since::All, None, SystemTime::now()).unwrap();
        let recent: Vec<(u64, String)> = reader
            .recent(10)
            .unwrap()
            .into_iter()
            .map(|r| (r.input_tokens, r.at))
            .collect();
        (day.requests, day.tokens_saved, all.requests, recent)
    };
    let before = read(&db);
    assert_eq!((before.0, before.1, before.2), (4, 2_000, 5));
    assert_eq!(
        before.3.iter().map(|r| r.0).collect::<Vec<_>>(),
        [103, 104, 102, 101, 100]
    );

    let rec = Recorder::open(&db, Options::default());
    assert_eq!(rec.health()["state"], "ok", "{}", rec.health());
    drop(rec);
    assert_eq!(read(&db), before, "the move to v2 changed what stats shows");
    let conn = Connection::open(&db).unwrap();
    let (version, index, check): (i64, i64, String) = (
        conn.query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap(),
        conn.query_row(
            "SELECT count(*) FROM sqlite_master WHERE name = 'requests_at'",
            [],
            |r| r.get(0),
        )
        .unwrap(),
        conn.query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap(),
    );
    assert_eq!((version, index, check.as_str()), (2, 0, "ok"));
}

#[test]
fn rows_of_one_millisecond_keep_their_own_keys_up_to_1024() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("usage.db");
    let rec = Recorder::open(
        &db,
        Options {
            batch: 64,
            ..Options::default()
        },
    );
    let at = SystemTime::now();
    // A long stream's row, written after 1,023 newer ones: the sequence has come round to the
    // number the first row of its millisecond took, and the row takes the next free one.
    rec.record(row(at - HOUR));
    for i in 0..1_023u64 {
        rec.record(row(at - Duration::from_millis(i % 7)));
    }
    rec.record(row(at - HOUR));
    rec.flush(FLUSH);
    assert_eq!(rec.health()["written"], 1_025);
    assert_eq!(rec.health()["dropped"], 0);
    assert_eq!(count(&db), 1_025);
    // One millisecond has room for 1,024 rows; the rest are counted, not silently lost.
    for _ in 0..1_030 {
        rec.record(row(at + DAY));
    }
    rec.flush(FLUSH);
    assert_eq!(rec.health()["written"], 1_025 + 1_024);
    assert_eq!(rec.health()["dropped"], 6);
    assert_eq!(count(&db), 1_025 + 1_024);
}

#[test]
fn a_slow_open_does_not_hold_up_the_caller_and_keeps_what_was_recorded_meanwhile() {
    let tmp = tempfile::tempdir().unwrap();
    let db = one_row_history(tmp.path());
    // Another process holds the file: the open waits for it (as it would on a large file's
    // integrity check), for as long as the test needs.
    let holder = hold_exclusively(&db);

    let rec = Recorder::start(
        &db,
        Options {
            busy: Duration::from_secs(600),
            ..Options::default()
        },
    );
    assert_eq!(rec.health()["state"], "opening", "{}", rec.health());
    rec.record(row(SystemTime::now()));
    assert_eq!(rec.health()["dropped"], 0);
    drop(holder);

    rec.wait_opened();
    rec.flush(FLUSH);
    let health = rec.health();
    assert_eq!(
        (&health["state"], &health["written"], &health["dropped"]),
        (&"ok".into(), &1.into(), &0.into()),
        "{health}"
    );
    assert_eq!(count(&db), 2);
}
