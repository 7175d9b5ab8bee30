//! The edit plan: what an adapter (or the host itself) asks to change in a user's file.
//!
//! Plans are pure data. They are produced by sandboxed adapters (see `wit/v0.2/adapter.wit`,
//! whose `edit` variant maps 1:1 onto [`Edit`]) and by host code (cron blocks, unit files),
//! validated against grants, previewed as diffs, and applied by the executor.

use serde::{Deserialize, Serialize};

/// A logical file path as plans and grants spell it: `~/…` (relative to the user's home) or an
/// absolute `/…` path (system scope). Never relative, never containing `..` components.
pub type LogicalPath = String;

/// Which marker lines frame a managed text block. The host always writes the markers; a plan
/// only supplies the block id and body.
///
/// * `Arrows`: `<c> >>> headroom <id> >>>` … `<c> <<< headroom <id> <<<` (shell rc files, crontabs)
/// * `Dashes`: `<c> --- Headroom <id> ---` … `<c> --- end Headroom <id> ---` (the Codex block)
///
/// `<c>` is the block's comment leader, e.g. `#`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MarkerStyle {
    Arrows,
    Dashes,
}

/// Where a new marker block is inserted (an existing one is always replaced in place).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BlockPlacement {
    /// Appended at the end of the file.
    #[default]
    End,
    /// Above the first TOML table header and the comment lines attached to it, so top-level keys
    /// in the block stay top-level; at the end when the file has no table.
    BeforeFirstTable,
}

/// One typed edit on one file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum Edit {
    /// Set the value at an RFC 6901 pointer (e.g. `/env/ANTHROPIC_BASE_URL`), creating missing
    /// parent objects. `value` is JSON text. A missing file is created.
    JsonSet {
        file: LogicalPath,
        pointer: String,
        value: String,
    },
    /// Remove the member at a pointer; a no-op when absent.
    JsonRemove { file: LogicalPath, pointer: String },
    /// Set a TOML key path (e.g. `["model_providers", "headroom", "base_url"]`), creating missing
    /// tables. `value` is a TOML value as text (`"x"`, `true`, `8787`, `{ a = 1 }`).
    TomlSet {
        file: LogicalPath,
        key: Vec<String>,
        value: String,
    },
    /// Remove a TOML key path; a no-op when absent.
    TomlRemove { file: LogicalPath, key: Vec<String> },
    /// Insert or replace a marker-framed text block (new blocks go where `placement` says).
    BlockSet {
        file: LogicalPath,
        id: String,
        style: MarkerStyle,
        comment: String,
        body: String,
        #[serde(default)]
        placement: BlockPlacement,
    },
    /// Remove a marker-framed text block; a no-op when absent.
    BlockRemove {
        file: LogicalPath,
        id: String,
        style: MarkerStyle,
        comment: String,
    },
}

/// The file formats an edit grant can be limited to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    Json,
    Toml,
    Text,
}

impl Edit {
    pub fn file(&self) -> &str {
        match self {
            Edit::JsonSet { file, .. }
            | Edit::JsonRemove { file, .. }
            | Edit::TomlSet { file, .. }
            | Edit::TomlRemove { file, .. }
            | Edit::BlockSet { file, .. }
            | Edit::BlockRemove { file, .. } => file,
        }
    }

    pub fn format(&self) -> Format {
        match self {
            Edit::JsonSet { .. } | Edit::JsonRemove { .. } => Format::Json,
            Edit::TomlSet { .. } | Edit::TomlRemove { .. } => Format::Toml,
            Edit::BlockSet { .. } | Edit::BlockRemove { .. } => Format::Text,
        }
    }

    /// The key this edit touches, in the form edit grants list: a JSON pointer, a dotted TOML
    /// key path (segments joined with `.`), or a block id.
    pub fn key(&self) -> String {
        match self {
            Edit::JsonSet { pointer, .. } | Edit::JsonRemove { pointer, .. } => pointer.clone(),
            Edit::TomlSet { key, .. } | Edit::TomlRemove { key, .. } => key.join("."),
            Edit::BlockSet { id, .. } | Edit::BlockRemove { id, .. } => id.clone(),
        }
    }
}

/// An ordered list of edits from one source (an adapter id such as `claude`, or `host:cron`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    pub source: String,
    pub edits: Vec<Edit>,
    /// Human-readable notes the adapter wants shown (never drawn raw on a terminal: sanitised).
    #[serde(default)]
    pub notes: Vec<String>,
}
