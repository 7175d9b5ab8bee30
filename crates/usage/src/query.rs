//! Reading the history (`headroom stats`, the dashboard): a read-only connection that works while
//! a proxy writes (WAL), and the sums, percentiles and series computed from the selected rows.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::{Duration, SystemTime};

use rusqlite::{Connection, OpenFlags};
use serde::Serialize;

pub use crate::UsageError;
use crate::{Client, ErrorKind, Provider, prices, schema, time};

/// How far back a query looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Since {
    Hours(u64),
    All,
}

/// A `--since`/`--by` value that is not one of the accepted forms.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {flag} value {value:?}: use {expected}")]
pub struct ParseError {
    pub flag: &'static str,
    pub value: String,
    pub expected: &'static str,
}

impl FromStr for Since {
    type Err = ParseError;
    /// `24h`, `7d`, `30d`, any `Nh`/`Nd`, or `all`.
    fn from_str(s: &str) -> Result<Since, ParseError> {
        let err = || ParseError {
            flag: "--since",
            value: s.to_string(),
            expected: "24h, 7d, 30d (any number of h or d) or all",
        };
        let t = s.trim().to_ascii_lowercase();
        if t == "all" {
            return Ok(Since::All);
        }
        let (n, per) = match t.char_indices().last() {
            Some((i, 'h')) => (&t[..i], 1),
            Some((i, 'd')) => (&t[..i], 24),
            _ => return Err(err()),
        };
        let n: u64 = n.parse().map_err(|_| err())?;
        n.checked_mul(per).map(Since::Hours).ok_or_else(err)
    }
}

impl Since {
    /// The first unix ms included (`None`: everything).
    fn cutoff(self, now: SystemTime) -> Option<i64> {
        match self {
            Since::All => None,
            Since::Hours(h) => {
                let span = i64::try_from(h.saturating_mul(3_600_000)).unwrap_or(i64::MAX);
                Some(time::unix_ms(now).saturating_sub(span))
            }
        }
    }
}

/// How `stats` splits its totals into groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum By {
    Day,
    Client,
    Model,
    Project,
}

impl FromStr for By {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<By, ParseError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "day" => Ok(By::Day),
            "client" => Ok(By::Client),
            "model" => Ok(By::Model),
            "project" => Ok(By::Project),
            _ => Err(ParseError {
                flag: "--by",
                value: s.to_string(),
                expected: "day, client, model or project",
            }),
        }
    }
}

/// The key of rows without a model or project.
pub const NONE_KEY: &str = "(none)";

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Percentiles {
    pub p50: f64,
    pub p99: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Stats {
    /// RFC 3339; `None` for `--since all`.
    pub since: Option<String>,
    pub until: String,
    pub requests: u64,
    /// Error kind (`ErrorKind::as_str`) → requests.
    pub errors: BTreeMap<String, u64>,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_read_tokens: u64,
    pub cache_write_tokens: u64,
    /// Input + cache read + cache write, as sent (after compression).
    pub tokens_upstream: u64,
    /// Tokens compression removed (before − after).
    pub tokens_saved: u64,
    /// Saved / (upstream + saved), in percent.
    pub saved_pct: f64,
    /// Saved tokens at each model's input price ([`prices::Prices::saved_usd`]).
    pub money_saved_usd: f64,
    pub prices_date: String,
    /// Models seen that the price table does not know: their savings count as 0 USD.
    pub unpriced_models: Vec<String>,
    pub latency_added_ms: Percentiles,
    pub latency_total_ms: Percentiles,
    /// Present when a `By` was asked for, ordered by key.
    pub groups: Vec<Group>,
}

impl Stats {
    /// The totals on one line for people (`install status`): requests, tokens saved, money.
    pub fn summary(&self) -> String {
        format!(
            "{} request{}, {} tokens saved ({:.1} %), ~${:.2} at list prices",
            thousands(self.requests),
            if self.requests == 1 { "" } else { "s" },
            thousands(self.tokens_saved),
            self.saved_pct,
            self.money_saved_usd
        )
    }
}

/// `1234567` → `1,234,567`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The totals of one day, client, model or project.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Group {
    pub key: String,
    pub requests: u64,
    pub errors: BTreeMap<String, u64>,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_read_tokens: u64,
    pub cache_write_tokens: u64,
    pub tokens_upstream: u64,
    pub tokens_saved: u64,
    pub saved_pct: f64,
    pub money_saved_usd: f64,
    pub latency_added_ms: Percentiles,
    pub latency_total_ms: Percentiles,
}

/// One request as the dashboard's table shows it: metadata only.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecentRow {
    /// RFC 3339.
    pub at: String,
    pub client: String,
    pub provider: String,
    pub model: Option<String>,
    pub project: Option<String>,
    pub status: u16,
    pub error: Option<String>,
    pub ttfb_ms: Option<u64>,
    pub total_ms: Option<u64>,
    pub added_ms: f64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub tokens_saved: u64,
}

/// Tokens saved in one time bucket by one client with one model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Point {
    /// `2026-12-02T15:00:00Z` (hourly, for spans up to 48 h) or `2026-12-02` (daily).
    pub bucket: String,
    pub client: String,
    pub model: String,
    pub tokens_saved: u64,
    pub requests: u64,
}

/// A read-only view of a history file.
pub struct Reader {
    conn: Connection,
    path: PathBuf,
    /// The file's layout (`schema::VERSION`); 0, a file the proxy created but has not given
    /// tables yet, reads as empty. A v1 file, not yet opened by a newer proxy, is read as it is.
    version: i64,
}

/// How long a read waits for a writer that holds the file exclusively.
const BUSY: Duration = Duration::from_secs(2);

/// One row as the queries need it (names resolved).
struct Row {
    at: i64,
    client: Client,
    provider: Provider,
    model: Option<String>,
    project: Option<String>,
    status: u16,
    error: Option<ErrorKind>,
    ttfb: Option<u64>,
    total: Option<u64>,
    added_us: u64,
    input: u64,
    output: u64,
    cache_read: u64,
    cache_write: u64,
    saved: u64,
}

/// Every column after the row's time.
const COLUMNS: &str = "client, provider, model, project, status, error, ttfb, total, added, input,
    output, cache_read, cache_write, before, after";

impl Reader {
    pub fn open(path: &Path) -> Result<Reader, UsageError> {
        if !path.exists() {
            return Err(UsageError::Missing {
                path: path.to_path_buf(),
            });
        }
        let sqlite = |e: rusqlite::Error| UsageError::from_sqlite(path, &e);
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(sqlite)?;
        conn.busy_timeout(BUSY).map_err(sqlite)?;
        let version = schema::version(&conn, path)?;
        Ok(Reader {
            conn,
            path: path.to_path_buf(),
            version,
        })
    }

    fn sqlite(&self, e: rusqlite::Error) -> UsageError {
        UsageError::from_sqlite(&self.path, &e)
    }

    /// Every row from `cutoff` on (rows stamped in the future by a clock that went back are
    /// included), or the newest `limit` rows; ordered by time, then id.
    fn rows(&self, cutoff: Option<i64>, newest: Option<usize>) -> Result<Vec<Row>, UsageError> {
        if self.version == 0 {
            return Ok(Vec::new());
        }
        let names = self.names()?;
        let name = |id: Option<i64>| id.and_then(|id| names.get(&id).cloned());
        let order = if newest.is_some() { "DESC" } else { "" };
        // v2: the key is the time (see `schema::key`); v1: an indexed `at` column.
        let (sql, cutoff, at): (_, _, fn(i64) -> i64) = if self.version >= 2 {
            (
                format!(
                    "SELECT id, {COLUMNS} FROM requests WHERE id >= ?1 ORDER BY id {order} LIMIT ?2"
                ),
                cutoff.map_or(i64::MIN, schema::first_key),
                schema::key_ms,
            )
        } else {
            (
                format!(
                    "SELECT at, {COLUMNS} FROM requests WHERE at >= ?1 ORDER BY at {order}, id {order} LIMIT ?2"
                ),
                cutoff.unwrap_or(i64::MIN),
                |at| at,
            )
        };
        let limit = newest.map_or(i64::MAX, |n| i64::try_from(n).unwrap_or(i64::MAX));
        let mut stmt = self.conn.prepare(&sql).map_err(|e| self.sqlite(e))?;
        let rows = stmt
            .query_map((cutoff, limit), |r| {
                let count = |i: usize| r.get::<_, i64>(i).map(|v| v.max(0) as u64);
                Ok(Row {
                    at: at(r.get(0)?),
                    client: Client::from_code(r.get(1)?),
                    provider: Provider::from_code(r.get(2)?),
                    model: name(r.get(3)?),
                    project: name(r.get(4)?),
                    status: r.get(5)?,
                    error: r.get::<_, Option<i64>>(6)?.and_then(ErrorKind::from_code),
                    ttfb: r.get::<_, Option<i64>>(7)?.map(|v| v.max(0) as u64),
                    total: r.get::<_, Option<i64>>(8)?.map(|v| v.max(0) as u64),
                    added_us: count(9)?,
                    input: count(10)?,
                    output: count(11)?,
                    cache_read: count(12)?,
                    cache_write: count(13)?,
                    saved: count(14)?.saturating_sub(count(15)?),
                })
            })
            .map_err(|e| self.sqlite(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.sqlite(e))
    }

    fn names(&self) -> Result<HashMap<i64, String>, UsageError> {
        let mut stmt = self
            .conn
            .prepare("SELECT id, name FROM names")
            .map_err(|e| self.sqlite(e))?;
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(|e| self.sqlite(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.sqlite(e))
    }

    /// Totals over `since` (up to `now`), split into `groups` when `by` is given.
    pub fn stats(
        &self,
        since: Since,
        by: Option<By>,
        now: SystemTime,
    ) -> Result<Stats, UsageError> {
        let cutoff = since.cutoff(now);
        let rows = self.rows(cutoff, None)?;
        let prices = prices::table();
        let mut total = Acc::default();
        let mut groups: BTreeMap<String, Acc> = BTreeMap::new();
        let mut unpriced = BTreeSet::new();
        for row in &rows {
            let model = row.model.as_deref().unwrap_or(NONE_KEY);
            if prices.price(model).is_none() {
                unpriced.insert(model.to_string());
            }
            let usd = prices.saved_usd(model, row.saved);
            total.add(row, usd);
            if let Some(by) = by {
                let key = match by {
                    By::Day => time::day(row.at),
                    By::Client => row.client.as_str().to_string(),
                    By::Model => model.to_string(),
                    By::Project => row.project.as_deref().unwrap_or(NONE_KEY).to_string(),
                };
                groups.entry(key).or_default().add(row, usd);
            }
        }
        let t = total.finish(String::new());
        Ok(Stats {
            since: cutoff.map(time::rfc3339),
            until: time::rfc3339(time::unix_ms(now)),
            requests: t.requests,
            errors: t.errors,
            input_tokens: t.input_tokens,
            output_tokens: t.output_tokens,
            cache_read_tokens: t.cache_read_tokens,
            cache_write_tokens: t.cache_write_tokens,
            tokens_upstream: t.tokens_upstream,
            tokens_saved: t.tokens_saved,
            saved_pct: t.saved_pct,
            money_saved_usd: t.money_saved_usd,
            prices_date: prices.date().to_string(),
            unpriced_models: unpriced.into_iter().collect(),
            latency_added_ms: t.latency_added_ms,
            latency_total_ms: t.latency_total_ms,
            groups: groups.into_iter().map(|(k, a)| a.finish(k)).collect(),
        })
    }

    /// The newest `limit` requests, newest first.
    pub fn recent(&self, limit: usize) -> Result<Vec<RecentRow>, UsageError> {
        Ok(self
            .rows(None, Some(limit))?
            .into_iter()
            .map(|r| RecentRow {
                at: time::rfc3339(r.at),
                client: r.client.as_str().to_string(),
                provider: r.provider.as_str().to_string(),
                model: r.model,
                project: r.project,
                status: r.status,
                error: r.error.map(|e| e.as_str().to_string()),
                ttfb_ms: r.ttfb,
                total_ms: r.total,
                added_ms: r.added_us as f64 / 1000.0,
                input_tokens: r.input,
                output_tokens: r.output,
                tokens_saved: r.saved,
            })
            .collect())
    }

    /// Tokens saved per bucket (hourly for spans up to 48 h, else daily), client and model,
    /// ordered by bucket, client, model.
    pub fn series(&self, since: Since, now: SystemTime) -> Result<Vec<Point>, UsageError> {
        let hourly = matches!(since, Since::Hours(h) if h <= 48);
        let mut points: BTreeMap<(String, &'static str, String), (u64, u64)> = BTreeMap::new();
        for r in self.rows(since.cutoff(now), None)? {
            let bucket = if hourly {
                time::hour(r.at)
            } else {
                time::day(r.at)
            };
            let model = r.model.unwrap_or_else(|| NONE_KEY.to_string());
            let p = points
                .entry((bucket, r.client.as_str(), model))
                .or_default();
            p.0 += r.saved;
            p.1 += 1;
        }
        Ok(points
            .into_iter()
            .map(
                |((bucket, client, model), (tokens_saved, requests))| Point {
                    bucket,
                    client: client.to_string(),
                    model,
                    tokens_saved,
                    requests,
                },
            )
            .collect())
    }
}

#[derive(Default)]
struct Acc {
    requests: u64,
    errors: BTreeMap<String, u64>,
    input: u64,
    output: u64,
    cache_read: u64,
    cache_write: u64,
    saved: u64,
    usd: f64,
    added_us: Vec<u64>,
    total_ms: Vec<u64>,
}

impl Acc {
    fn add(&mut self, r: &Row, usd: f64) {
        self.requests += 1;
        if let Some(e) = r.error {
            *self.errors.entry(e.as_str().to_string()).or_default() += 1;
        }
        self.input += r.input;
        self.output += r.output;
        self.cache_read += r.cache_read;
        self.cache_write += r.cache_write;
        self.saved += r.saved;
        self.usd += usd;
        self.added_us.push(r.added_us);
        if let Some(t) = r.total {
            self.total_ms.push(t);
        }
    }

    fn finish(mut self, key: String) -> Group {
        let upstream = self.input + self.cache_read + self.cache_write;
        let offered = upstream + self.saved;
        Group {
            key,
            requests: self.requests,
            errors: self.errors,
            input_tokens: self.input,
            output_tokens: self.output,
            cache_read_tokens: self.cache_read,
            cache_write_tokens: self.cache_write,
            tokens_upstream: upstream,
            tokens_saved: self.saved,
            saved_pct: if offered == 0 {
                0.0
            } else {
                self.saved as f64 * 100.0 / offered as f64
            },
            money_saved_usd: self.usd,
            latency_added_ms: percentiles(&mut self.added_us, 1000.0),
            latency_total_ms: percentiles(&mut self.total_ms, 1.0),
        }
    }
}

/// Nearest-rank p50/p99 of `v`, divided by `per_ms` to give milliseconds; 0 when empty.
fn percentiles(v: &mut [u64], per_ms: f64) -> Percentiles {
    if v.is_empty() {
        return Percentiles::default();
    }
    v.sort_unstable();
    let rank = |p: f64| {
        let i = ((p / 100.0) * v.len() as f64).ceil() as usize;
        v[i.clamp(1, v.len()) - 1] as f64 / per_ms
    };
    Percentiles {
        p50: rank(50.0),
        p99: rank(99.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_forms() {
        assert_eq!("24h".parse(), Ok(Since::Hours(24)));
        assert_eq!("7d".parse(), Ok(Since::Hours(168)));
        assert_eq!("30D".parse(), Ok(Since::Hours(720)));
        assert_eq!("all".parse(), Ok(Since::All));
        for bad in ["", "h", "7", "7w", "-1d", "1.5h", "99999999999999999999d"] {
            let e = bad.parse::<Since>().unwrap_err();
            let msg = e.to_string();
            assert!(msg.contains("--since") && msg.contains("24h"), "{msg}");
            assert!(!msg.contains('\n'));
        }
    }

    #[test]
    fn by_forms() {
        assert_eq!("day".parse(), Ok(By::Day));
        assert_eq!("Client".parse(), Ok(By::Client));
        assert_eq!("model".parse(), Ok(By::Model));
        assert_eq!("project".parse(), Ok(By::Project));
        let e = "tool".parse::<By>().unwrap_err().to_string();
        assert_eq!(
            e,
            "invalid --by value \"tool\": use day, client, model or project"
        );
    }

    #[test]
    fn nearest_rank_percentiles() {
        let mut v: Vec<u64> = (1..=100).rev().collect();
        assert_eq!(
            percentiles(&mut v, 1.0),
            Percentiles {
                p50: 50.0,
                p99: 99.0
            }
        );
        assert_eq!(percentiles(&mut [7000], 1000.0).p99, 7.0);
        assert_eq!(percentiles(&mut [], 1.0), Percentiles::default());
    }
}
