//! `stats`, `recent` and `series` against rows written by the real recorder: every number must
//! equal the sums of what was recorded.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use common::{DAY, HOUR, Rng, row};
use headroom_usage::query::{By, Reader, Since};
use headroom_usage::{Client, ErrorKind, Options, Provider, Record, Recorder, UsageError, prices};

const FLUSH: Duration = Duration::from_secs(10);

/// 400 varied rows over the last 3 days, recorded and flushed.
fn history(db: &std::path::Path, now: SystemTime) -> Vec<Record> {
    let mut rng = Rng(7);
    let clients = [Client::ClaudeCode, Client::Codex, Client::AnthropicSdk];
    let models = [
        Some("claude-sonnet-4-5"),
        Some("gpt-5-codex"),
        Some("mystery-1"),
        None,
    ];
    let projects = [Some("alpha"), Some("beta"), None];
    let errors = [
        None,
        None,
        None,
        Some(ErrorKind::Upstream5xx),
        Some(ErrorKind::Timeout),
    ];
    let rows: Vec<Record> = (0..400)
        .map(|_| {
            let saved = rng.below(2) == 0;
            let before = if saved { 1_000 + rng.below(9_000) } else { 0 };
            Record {
                at: now - Duration::from_secs(rng.below(3 * 24 * 3600)),
                client: *rng.pick(&clients),
                provider: Provider::Anthropic,
                model: rng.pick(&models).map(String::from),
                project: rng.pick(&projects).map(String::from),
                status: 200,
                error: *rng.pick(&errors),
                ttfb: Some(Duration::from_millis(rng.below(1000))),
                total: (rng.below(10) != 0).then(|| Duration::from_millis(rng.below(30_000))),
                added: Duration::from_micros(rng.below(3_000)),
                input_tokens: rng.below(10_000),
                output_tokens: rng.below(2_000),
                cache_read_tokens: rng.below(50_000),
                cache_write_tokens: rng.below(5_000),
                tokens_before: before,
                tokens_after: before / 4,
                transforms: if saved { vec!["json".into()] } else { vec![] },
            }
        })
        .collect();
    let rec = Recorder::open(db, Options::default());
    for r in &rows {
        rec.record(r.clone());
    }
    rec.flush(FLUSH);
    assert_eq!(rec.health()["written"], 400);
    rows
}

/// The sums a test computes by itself, to compare with `stats`.
#[derive(Debug, Default, PartialEq)]
struct Sums {
    requests: u64,
    input: u64,
    output: u64,
    cache_read: u64,
    cache_write: u64,
    saved: u64,
    errors: BTreeMap<String, u64>,
}

fn sums<'a>(rows: impl Iterator<Item = &'a Record>) -> Sums {
    let mut s = Sums::default();
    for r in rows {
        s.requests += 1;
        s.input += r.input_tokens;
        s.output += r.output_tokens;
        s.cache_read += r.cache_read_tokens;
        s.cache_write += r.cache_write_tokens;
        s.saved += r.tokens_before - r.tokens_after;
        if let Some(e) = r.error {
            *s.errors.entry(e.as_str().to_string()).or_default() += 1;
        }
    }
    s
}

macro_rules! assert_sums {
    ($got:expr, $want:expr) => {{
        let (g, w) = (&$got, &$want);
        assert_eq!(
            Sums {
                requests: g.requests,
                input: g.input_tokens,
                output: g.output_tokens,
                cache_read: g.cache_read_tokens,
                cache_write: g.cache_write_tokens,
                saved: g.tokens_saved,
                errors: g.errors.clone(),
            },
            *w
        );
        assert_eq!(g.tokens_upstream, w.input + w.cache_read + w.cache_write);
    }};
}

#[test]
fn stats_equal_the_sums_of_the_recorded_rows() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("usage.db");
    let now = SystemTime::now();
    let rows = history(&db, now);
    let reader = Reader::open(&db).unwrap();

    let all = reader.stats(Since::All, None, now).unwrap();
    let want = sums(rows.iter());
    assert_sums!(all, want);
    assert!(all.since.is_none() && all.groups.is_empty());
    let pct = want.saved as f64 * 100.0 / (all.tokens_upstream + want.saved) as f64;
    assert!((all.saved_pct - pct).abs() < 1e-9);
    let usd: f64 = rows
        .iter()
        .map(|r| {
            let model = r.model.as_deref().unwrap_or("");
            prices::table().saved_usd(model, r.tokens_before - r.tokens_after)
        })
        .sum();
    assert!(usd > 0.0 && (all.money_saved_usd - usd).abs() < 1e-6);
    assert_eq!(all.prices_date, prices::table().date());
    assert_eq!(all.unpriced_models, ["(none)", "mystery-1"]);
    let mut added: Vec<f64> = rows
        .iter()
        .map(|r| r.added.as_micros() as f64 / 1000.0)
        .collect();
    added.sort_by(f64::total_cmp);
    assert_eq!(all.latency_added_ms.p50, added[199]);
    assert_eq!(all.latency_added_ms.p99, added[395]);

    let day = reader.stats(Since::Hours(24), None, now).unwrap();
    assert_sums!(day, sums(rows.iter().filter(|r| r.at >= now - DAY)));
    assert!(day.requests > 50 && day.requests < 250, "{}", day.requests);

    let by_client = reader.stats(Since::All, Some(By::Client), now).unwrap();
    let keys: Vec<&str> = by_client.groups.iter().map(|g| g.key.as_str()).collect();
    assert_eq!(keys, ["anthropic-sdk", "claude-code", "codex"]);
    for g in &by_client.groups {
        assert_sums!(g, sums(rows.iter().filter(|r| r.client.as_str() == g.key)));
    }

    let by_model = reader.stats(Since::All, Some(By::Model), now).unwrap();
    assert_eq!(by_model.groups.len(), 4);
    for g in &by_model.groups {
        let key = |r: &&Record| r.model.as_deref().unwrap_or("(none)") == g.key;
        assert_sums!(g, sums(rows.iter().filter(key)));
    }
    let unpriced = by_model
        .groups
        .iter()
        .find(|g| g.key == "mystery-1")
        .unwrap();
    assert!(unpriced.tokens_saved > 0 && unpriced.money_saved_usd == 0.0);

    let by_project = reader.stats(Since::All, Some(By::Project), now).unwrap();
    for g in &by_project.groups {
        let key = |r: &&Record| r.project.as_deref().unwrap_or("(none)") == g.key;
        assert_sums!(g, sums(rows.iter().filter(key)));
    }
    assert_eq!(by_project.groups.len(), 3);

    let by_day = reader.stats(Since::All, Some(By::Day), now).unwrap();
    assert!((3..=4).contains(&by_day.groups.len()));
    assert!(by_day.groups.windows(2).all(|w| w[0].key < w[1].key));
    assert_eq!(by_day.groups.iter().map(|g| g.requests).sum::<u64>(), 400);
    assert_eq!(
        by_day.groups.iter().map(|g| g.tokens_saved).sum::<u64>(),
        want.saved
    );
}

#[test]
fn recent_is_newest_first_and_survives_a_clock_going_back() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("usage.db");
    let now = SystemTime::now();
    let rec = Recorder::open(&db, Options::default());
    // Recorded in this order; the clock jumped back an hour after the first.
    for (at, tag) in [
        (now, 1),
        (now - HOUR, 2),
        (now - HOUR, 3),
        (now - HOUR / 2, 4),
    ] {
        let mut r = row(at);
        r.input_tokens = tag;
        rec.record(r);
    }
    rec.flush(FLUSH);
    let reader = Reader::open(&db).unwrap();
    let tags: Vec<u64> = reader
        .recent(10)
        .unwrap()
        .iter()
        .map(|r| r.input_tokens)
        .collect();
    assert_eq!(tags, [1, 4, 3, 2]);
    assert_eq!(reader.recent(2).unwrap().len(), 2);

    let r = &reader.recent(1).unwrap()[0];
    assert_eq!(
        (
            r.client.as_str(),
            r.provider.as_str(),
            r.status,
            r.ttfb_ms,
            r.total_ms
        ),
        ("claude-code", "anthropic", 200, Some(420), Some(3_100))
    );
    assert_eq!((r.added_ms, r.tokens_saved), (0.18, 4_600));
    assert!(r.at.ends_with('Z') && r.at.len() == 24, "{}", r.at);
}

#[test]
fn series_buckets_by_hour_then_by_day() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("usage.db");
    let now = SystemTime::now();
    let rows = history(&db, now);
    let reader = Reader::open(&db).unwrap();

    let hourly = reader.series(Since::Hours(24), now).unwrap();
    assert!(
        hourly.iter().all(|p| p.bucket.ends_with(":00:00Z")),
        "{hourly:?}"
    );
    let last_day: Vec<&Record> = rows.iter().filter(|r| r.at >= now - DAY).collect();
    assert_eq!(
        hourly.iter().map(|p| p.requests).sum::<u64>(),
        last_day.len() as u64
    );
    assert_eq!(
        hourly.iter().map(|p| p.tokens_saved).sum::<u64>(),
        sums(last_day.into_iter()).saved
    );

    let daily = reader.series(Since::Hours(7 * 24), now).unwrap();
    assert!(daily.iter().all(|p| p.bucket.len() == 10), "{daily:?}");
    assert_eq!(daily.iter().map(|p| p.requests).sum::<u64>(), 400);
    let codex_gpt: u64 = daily
        .iter()
        .filter(|p| p.client == "codex" && p.model == "gpt-5-codex")
        .map(|p| p.tokens_saved)
        .sum();
    let want = rows
        .iter()
        .filter(|r| r.client == Client::Codex && r.model.as_deref() == Some("gpt-5-codex"))
        .map(|r| r.tokens_before - r.tokens_after)
        .sum::<u64>();
    assert_eq!(codex_gpt, want);
    let keys: Vec<_> = daily
        .iter()
        .map(|p| (&p.bucket, &p.client, &p.model))
        .collect();
    assert!(keys.windows(2).all(|w| w[0] < w[1]), "not ordered");
}

#[test]
fn a_missing_file_says_how_it_starts_and_an_empty_one_reads_as_empty() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("usage.db");
    let err = Reader::open(&db).err().unwrap();
    assert!(matches!(err, UsageError::Missing { .. }), "{err:?}");
    assert!(err.to_string().contains("--no-usage-history"), "{err}");

    std::fs::write(&db, b"").unwrap();
    let reader = Reader::open(&db).unwrap();
    let stats = reader
        .stats(Since::All, Some(By::Day), SystemTime::now())
        .unwrap();
    assert_eq!((stats.requests, stats.groups.len()), (0, 0));
    assert!(reader.recent(5).unwrap().is_empty());
}

#[test]
fn stats_read_while_the_proxy_writes() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("usage.db");
    let rec = Recorder::open(&db, Options::default());
    rec.record(row(SystemTime::now()));
    rec.flush(FLUSH);
    let reader = Reader::open(&db).unwrap();
    for n in 2..=5u64 {
        rec.record(row(SystemTime::now()));
        rec.flush(FLUSH);
        let s = reader
            .stats(Since::Hours(1), None, SystemTime::now())
            .unwrap();
        assert_eq!(s.requests, n);
    }
}

#[test]
fn stats_work_after_the_proxy_stopped() {
    let tmp = tempfile::tempdir().unwrap();
    let db = common::one_row_history(tmp.path());
    // The writer's last close folds the WAL into the file and removes it.
    let wal = db.with_extension("db-wal");
    assert!(common::eventually(Duration::from_secs(10), || !wal.exists()));
    let stats = Reader::open(&db)
        .unwrap()
        .stats(Since::All, None, SystemTime::now())
        .unwrap();
    assert_eq!(stats.requests, 1);
}
