//! What the integration tests share: realistic rows and a deterministic generator.
#![allow(dead_code)] // each test file uses its own part

use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use headroom_usage::query::{Reader, Since};
use headroom_usage::{Client, Options, Provider, Record, Recorder};

pub const HOUR: Duration = Duration::from_secs(3600);
pub const DAY: Duration = Duration::from_secs(24 * 3600);

/// A successful Claude Code request at `at`.
pub fn row(at: SystemTime) -> Record {
    Record {
        at,
        client: Client::ClaudeCode,
        provider: Provider::Anthropic,
        model: Some("claude-sonnet-4-5-20250929".into()),
        project: Some("headroom".into()),
        status: 200,
        error: None,
        ttfb: Some(Duration::from_millis(420)),
        total: Some(Duration::from_millis(3_100)),
        added: Duration::from_micros(180),
        input_tokens: 1_200,
        output_tokens: 350,
        cache_read_tokens: 42_000,
        cache_write_tokens: 1_500,
        tokens_before: 6_000,
        tokens_after: 1_400,
        transforms: vec!["json".into(), "logs".into()],
    }
}

/// xorshift64*: the same "random" rows on every run.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

/// How many rows the file holds now.
pub fn count(path: &Path) -> u64 {
    Reader::open(path)
        .and_then(|r| r.stats(Since::All, None, SystemTime::now()))
        .map(|s| s.requests)
        .unwrap_or_else(|e| panic!("{e}"))
}

/// Polls `f` every 20 ms until it holds or `within` passes.
pub fn eventually(within: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    loop {
        if f() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A history at `dir/usage.db` holding one row, its recorder closed (as a stopped proxy leaves it).
pub fn one_row_history(dir: &Path) -> std::path::PathBuf {
    let db = dir.join("usage.db");
    let rec = Recorder::open(&db, Options::default());
    rec.record(row(SystemTime::now()));
    rec.flush(Duration::from_secs(10));
    db
}

/// A connection holding `db` exclusively, as another process would, until it is dropped.
pub fn hold_exclusively(db: &Path) -> rusqlite::Connection {
    let holder = rusqlite::Connection::open(db).unwrap();
    holder
        .execute_batch(
            "PRAGMA locking_mode = EXCLUSIVE; BEGIN EXCLUSIVE; DELETE FROM names WHERE 0;",
        )
        .unwrap();
    holder
}
