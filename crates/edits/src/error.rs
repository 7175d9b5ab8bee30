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
