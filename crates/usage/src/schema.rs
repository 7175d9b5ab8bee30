//! The on-disk layout. A row is integers only (names live once in `names`), so a request costs
//! well under 100 bytes; `PRAGMA user_version` says which layout a file has, and an older layout
//! is brought up to this one when the proxy opens it.

use std::path::Path;

use rusqlite::Connection;

use crate::UsageError;

/// 2: the row's time is its key (`id`), not a column with an index of its own.
pub(crate) const VERSION: i64 = 2;

/// What `names.kind` says a name is.
pub(crate) const MODEL: i64 = 1;
pub(crate) const PROJECT: i64 = 2;
pub(crate) const TRANSFORMS: i64 = 3;

/// Rows one millisecond's keys tell apart.
const SEQ_BITS: u32 = 10;
const SEQ_MASK: u64 = (1 << SEQ_BITS) - 1;

/// A row's key: the unix ms it arrived, shifted, and a sequence number in its low bits. The table
/// is then stored in time order and a time range is a key range: no index to update per row
/// (that index was a third of a row's write). A clock before 1970 gives a negative key.
pub(crate) fn key(ms: i64, seq: u64) -> i64 {
    (ms.clamp(i64::MIN >> SEQ_BITS, i64::MAX >> SEQ_BITS) << SEQ_BITS) | (seq & SEQ_MASK) as i64
}

/// The first key at or after `ms`.
pub(crate) fn first_key(ms: i64) -> i64 {
    key(ms, 0)
}

/// The unix ms a key was made from.
pub(crate) fn key_ms(key: i64) -> i64 {
    key >> SEQ_BITS
}

/// How many sequence numbers a millisecond has: the most keys [`key`] can make for one.
pub(crate) const SEQS: u64 = 1 << SEQ_BITS;

/// `id` is [`key`]; `ttfb`/`total` are ms, `added` is µs (headroom's own share is sub-ms).
/// `model`, `project` and `transforms` point into `names`; codes are `Client`, `Provider` and
/// `ErrorKind`'s discriminants.
const REQUESTS: &str = "
CREATE TABLE requests (
    id INTEGER PRIMARY KEY,
    client INTEGER NOT NULL,
    provider INTEGER NOT NULL,
    model INTEGER,
    project INTEGER,
    status INTEGER NOT NULL,
    error INTEGER,
    ttfb INTEGER,
    total INTEGER,
    added INTEGER NOT NULL,
    input INTEGER NOT NULL,
    output INTEGER NOT NULL,
    cache_read INTEGER NOT NULL,
    cache_write INTEGER NOT NULL,
    before INTEGER NOT NULL,
    after INTEGER NOT NULL,
    transforms INTEGER
);
";

const NAMES: &str = "
CREATE TABLE names (
    id INTEGER PRIMARY KEY,
    kind INTEGER NOT NULL,
    name TEXT NOT NULL,
    UNIQUE (kind, name)
);
";

/// v1 kept the time in `at`, indexed, with `id` counting up. Its rows move to v2's keys in one
/// transaction (a crash leaves the v1 file as it was); the 1025th row of one millisecond, which
/// v2 cannot key, is the only thing not carried over.
const FROM_V1: &str = "
ALTER TABLE requests RENAME TO requests_v1;
DROP INDEX IF EXISTS requests_at;
{REQUESTS}
INSERT OR IGNORE INTO requests
    SELECT ((at << 10) | ((row_number() OVER (PARTITION BY at ORDER BY id) - 1) & 1023)),
        client, provider, model, project, status, error, ttfb, total, added, input, output,
        cache_read, cache_write, before, after, transforms
    FROM requests_v1;
DROP TABLE requests_v1;
";

/// Creates the tables in a new file and brings an older one up to this layout; a file from a
/// newer headroom is refused, not rewritten.
pub(crate) fn migrate(conn: &Connection, path: &Path) -> Result<(), UsageError> {
    let sqlite = |e: rusqlite::Error| UsageError::from_sqlite(path, &e);
    match version(conn, path)? {
        // Incremental auto-vacuum must be chosen before the first table: pruned pages are then
        // given back to the file system instead of only being reused.
        0 => conn
            .execute_batch(&format!(
                "PRAGMA auto_vacuum = INCREMENTAL; BEGIN; {REQUESTS} {NAMES} PRAGMA user_version = {VERSION}; COMMIT;"
            ))
            .map_err(sqlite),
        1 => conn
            .execute_batch(&format!(
                "BEGIN; {} PRAGMA user_version = {VERSION}; COMMIT;",
                FROM_V1.replace("{REQUESTS}", REQUESTS)
            ))
            .map_err(|e| {
                let _ = conn.execute_batch("ROLLBACK");
                sqlite(e)
            }),
        _ => Ok(()),
    }
}

/// The file's schema version: 0 for a new (empty) file; a newer one than this build's is an error.
pub(crate) fn version(conn: &Connection, path: &Path) -> Result<i64, UsageError> {
    let v: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(|e| UsageError::from_sqlite(path, &e))?;
    if v > VERSION {
        return Err(UsageError::Other {
            path: path.to_path_buf(),
            reason: format!(
                "it was written by a newer headroom (schema v{v}, this one knows v{VERSION}); upgrade headroom"
            ),
        });
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_sort_by_time_and_give_their_time_back() {
        let ms = [
            -86_400_000,
            -1,
            0,
            1,
            1_764_688_150_123,
            i64::MAX >> SEQ_BITS,
        ];
        for pair in ms.windows(2) {
            // Every key of a millisecond sorts before every key of a later one.
            assert!(key(pair[0], SEQS - 1) < first_key(pair[1]), "{pair:?}");
        }
        for m in ms {
            for seq in [0, 1, SEQS - 1, SEQS, u64::MAX] {
                assert_eq!(key_ms(key(m, seq)), m);
                assert!(key(m, seq) >= first_key(m));
            }
        }
        // A clock far outside the keys' range is clamped, never wrapped round.
        assert_eq!(key_ms(key(i64::MAX, 3)), i64::MAX >> SEQ_BITS);
        assert_eq!(key_ms(key(i64::MIN, 3)), i64::MIN >> SEQ_BITS);
    }
}
