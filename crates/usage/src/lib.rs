//! The proxy's usage history: one row of metadata per request (never content, never
//! credentials) in a SQLite database, written off the request path, read by `headroom stats` and
//! the dashboard.

pub mod client;
pub mod prices;
pub mod query;
mod recorder;
mod schema;
mod time;

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

pub use client::Client;
pub use recorder::Recorder;

/// One request's metadata; never content, never credentials.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// When the request arrived.
    pub at: SystemTime,
    pub client: Client,
    pub provider: Provider,
    /// From the request body's `model`; capped ([`client::cap`]).
    pub model: Option<String>,
    /// From the `x-headroom-project` header; capped.
    pub project: Option<String>,
    /// The status the client got (0: none, e.g. aborted before headers).
    pub status: u16,
    pub error: Option<ErrorKind>,
    /// Request arrival → upstream response headers.
    pub ttfb: Option<Duration>,
    /// Request arrival → response body end.
    pub total: Option<Duration>,
    /// Time headroom itself spent before the upstream call (body read excluded, compression included).
    pub added: Duration,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_read_tokens: u64,
    pub cache_write_tokens: u64,
    /// Compressed tool outputs, counted (0/0 when nothing was compressed).
    pub tokens_before: u64,
    pub tokens_after: u64,
    /// Names of the compressors applied (may be empty).
    pub transforms: Vec<String>,
}

/// The upstream API family. The codes are stored in the database: never renumber them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Provider {
    Anthropic = 1,
    OpenAi = 2,
}

impl Provider {
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Anthropic => "anthropic",
            Provider::OpenAi => "openai",
        }
    }
    pub(crate) fn from_code(code: i64) -> Provider {
        if code == Provider::OpenAi as i64 {
            Provider::OpenAi
        } else {
            Provider::Anthropic
        }
    }
}

/// Why a request failed. The codes are stored in the database: never renumber them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ErrorKind {
    Unreachable = 1,
    Timeout = 2,
    StreamBroken = 3,
    ClientAborted = 4,
    Unauthorized = 5,
    Upstream4xx = 6,
    Upstream5xx = 7,
    Forbidden = 8,
    BadRequest = 9,
}

impl ErrorKind {
    pub const ALL: [ErrorKind; 9] = [
        ErrorKind::Unreachable,
        ErrorKind::Timeout,
        ErrorKind::StreamBroken,
        ErrorKind::ClientAborted,
        ErrorKind::Unauthorized,
        ErrorKind::Upstream4xx,
        ErrorKind::Upstream5xx,
        ErrorKind::Forbidden,
        ErrorKind::BadRequest,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Unreachable => "unreachable",
            ErrorKind::Timeout => "timeout",
            ErrorKind::StreamBroken => "stream_broken",
            ErrorKind::ClientAborted => "client_aborted",
            ErrorKind::Unauthorized => "unauthorized",
            ErrorKind::Upstream4xx => "upstream_4xx",
            ErrorKind::Upstream5xx => "upstream_5xx",
            ErrorKind::Forbidden => "forbidden",
            ErrorKind::BadRequest => "bad_request",
        }
    }
    pub(crate) fn from_code(code: i64) -> Option<ErrorKind> {
        ErrorKind::ALL.into_iter().find(|e| *e as i64 == code)
    }
}

/// How the recorder keeps the history bounded and the request path unblocked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// Rows older than this are deleted (at open and about hourly). Default 90 days.
    pub retention: Duration,
    /// Rows waiting for the writer; when full, rows are dropped and counted. Default 4096.
    pub queue: usize,
    /// Rows written per transaction at most. Default 256.
    pub batch: usize,
    /// The oldest rows beyond this count are deleted with the retention prune, so a busy proxy's
    /// file stays bounded whatever the retention (default 5 million rows, about 200 MB).
    pub max_rows: u64,
    /// How often the writer prunes while running. Default 1 hour.
    pub prune_every: Duration,
    /// How long the writer waits for another process's lock (at open, or for a batch) before it
    /// gives up. Default 1 s.
    pub busy: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            retention: Duration::from_secs(90 * 24 * 3600),
            queue: 4096,
            batch: 256,
            max_rows: 5_000_000,
            prune_every: Duration::from_secs(3600),
            busy: Duration::from_secs(1),
        }
    }
}

/// Why the history cannot be read or written. Display is one line with the cause and the fix.
#[derive(Debug, thiserror::Error)]
pub enum UsageError {
    #[error(
        "no usage history at {} yet; the proxy creates it when it starts (unless run with --no-usage-history)",
        path.display()
    )]
    Missing { path: PathBuf },
    #[error(
        "usage history {} is corrupt ({reason}); move it away to start a new one: mv {} {}.bad",
        path.display(), shell(path), shell(path)
    )]
    Corrupt { path: PathBuf, reason: String },
    #[error(
        "usage history {} is locked by another process; retry, or move it away to start a new one: mv {} {}.bad",
        path.display(), shell(path), shell(path)
    )]
    Locked { path: PathBuf },
    #[error("usage history {}: {reason}", path.display())]
    Other { path: PathBuf, reason: String },
}

impl UsageError {
    /// Sorts a SQLite failure into the cases a caller (and a user) acts on differently.
    pub(crate) fn from_sqlite(path: &Path, e: &rusqlite::Error) -> UsageError {
        use rusqlite::ffi::ErrorCode;
        let path = path.to_path_buf();
        match e.sqlite_error_code() {
            Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt) => UsageError::Corrupt {
                path,
                reason: one_line(e),
            },
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => {
                UsageError::Locked { path }
            }
            Some(ErrorCode::DiskFull) => UsageError::Other {
                path,
                reason: "the disk is full; free some space (rows are dropped until then)".into(),
            },
            Some(ErrorCode::ReadOnly | ErrorCode::CannotOpen | ErrorCode::PermissionDenied) => {
                UsageError::Other {
                    path,
                    reason: format!(
                        "cannot write it ({}); check the permissions of the file and its directory",
                        one_line(e)
                    ),
                }
            }
            _ => UsageError::Other {
                path,
                reason: one_line(e),
            },
        }
    }
}

fn one_line(e: &dyn std::fmt::Display) -> String {
    e.to_string().replace(['\n', '\r'], " ")
}

/// A path as a user can paste it into a shell.
fn shell(path: &Path) -> String {
    let s = path.display().to_string();
    if s.chars()
        .all(|c| c.is_ascii_alphanumeric() || "/._-+~".contains(c))
    {
        s
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}
