//! Edit errors. Each renders as one line naming the file (logical path) at fault.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum EditError {
    /// The file does not parse; nothing was written anywhere.
    #[error("{file}: invalid {format} at {detail}")]
    Parse {
        file: String,
        format: &'static str,
        detail: String,
    },
    /// The edit cannot apply to this file's content (wrong type at a key, bad pointer, ...).
    #[error("{file}: {detail}")]
    Invalid { file: String, detail: String },
    /// No grant covers this edit: the plan is refused before anything is read.
    #[error("{source_id} may not {what} (no grant covers it)")]
    Denied { source_id: String, what: String },
    /// A logical path that is relative, contains `..`, or is otherwise unusable.
    #[error("invalid path {path:?}: {reason}")]
    Path { path: String, reason: String },
    #[error("{file}: {action}: {source}")]
    Io {
        file: String,
        action: &'static str,
        #[source]
        source: std::io::Error,
    },
    /// Another headroom holds the edit lock for too long (or it cannot be taken).
    #[error(transparent)]
    Lock(#[from] headroom_core::LockError),
    /// The file resolves somewhere the executor may not read or write: through a link out of
    /// HOME, to a deny-listed path, a dangling link, a link to someone else's file, or to
    /// something that is not a regular file (FIFO, device, socket). Nothing was read or written.
    #[error("{file}: {detail}; nothing was written")]
    Unsafe { file: String, detail: String },
    /// The file is larger than the executor reads (it edits configuration files, not data).
    #[error("{file}: larger than {limit} bytes; refusing to read it")]
    TooLarge { file: String, limit: u64 },
    /// The plan is larger than any configuration edit needs.
    #[error("{source_id}: plan too large: {detail}")]
    PlanTooLarge { source_id: String, detail: String },
    /// The file or its directory was replaced while headroom was editing it.
    #[error("{file}: changed while headroom was editing it; nothing was written to it")]
    Changed { file: String },
    /// Another owner (a deployment, or a direct plugin apply) already set this key or block:
    /// one owner per setting, a second one is refused rather than stacked.
    /// `release` is what to do about it: "run `<the command that releases it>` first, or skip
    /// <the plan's source>".
    #[error("{file} {key} is set by {owner}; {release}")]
    Owned {
        file: String,
        key: String,
        owner: String,
        release: String,
    },
    /// A revert found its journal unreadable or changed by hand: nothing from it was written
    /// back; it was kept aside (`kept`) so the user can finish by hand.
    /// `detail` says why, where it was kept, and which files to restore by hand.
    #[error("journal {file} {detail}")]
    JournalDamaged { file: String, detail: String },
    /// The journal is unreadable; the files it describes were not touched.
    #[error("journal {file}: {detail}")]
    Journal { file: String, detail: String },
}

impl EditError {
    pub fn io(file: impl Into<String>, action: &'static str, source: std::io::Error) -> Self {
        EditError::Io {
            file: file.into(),
            action,
            source,
        }
    }
}
