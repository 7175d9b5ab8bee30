//! The on-disk layout. A row is integers only (names live once in `names`), so a request costs
//! well under 100 bytes; `PRAGMA user_version` says which layout a file has.

use std::path::Path;

use rusqlite::Connection;

use crate::UsageError;

pub(crate) const VERSION: i64 = 1;

/// What `names.kind` says a name is.
pub(crate) const MODEL: i64 = 1;
pub(crate) const PROJECT: i64 = 2;
pub(crate) const TRANSFORMS: i64 = 3;

/// Times are unix ms; `ttfb`/`total` are ms, `added` is µs (headroom's own share is sub-ms).
/// `model`, `project` and `transforms` point into `names`; codes are `Client`, `Provider` and
/// `ErrorKind`'s discriminants.
const CREATE: &str = "
CREATE TABLE requests (
    id INTEGER PRIMARY KEY,
    at INTEGER NOT NULL,
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
CREATE INDEX requests_at ON requests(at);
CREATE TABLE names (
    id INTEGER PRIMARY KEY,
    kind INTEGER NOT NULL,
    name TEXT NOT NULL,
    UNIQUE (kind, name)
);
";

/// Creates the tables in a new file; a file from a newer headroom is refused, not rewritten.
pub(crate) fn migrate(conn: &Connection, path: &Path) -> Result<(), UsageError> {
    let sqlite = |e: rusqlite::Error| UsageError::from_sqlite(path, &e);
    match version(conn, path)? {
        // Incremental auto-vacuum must be chosen before the first table: pruned pages are then
        // given back to the file system instead of only being reused.
        0 => conn
            .execute_batch(&format!(
                "PRAGMA auto_vacuum = INCREMENTAL; BEGIN; {CREATE} PRAGMA user_version = {VERSION}; COMMIT;"
            ))
            .map_err(sqlite),
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
