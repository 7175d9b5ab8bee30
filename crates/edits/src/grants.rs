//! Edit grants: which files, formats and keys a plan's source may change.
//!
//! A plugin's manifest declares `[[capabilities.edit]]` entries; the plugin host expands their
//! `${VAR:-default}` prefixes into [`EditGrant`]s, and the executor refuses any edit that no
//! grant covers, before touching anything.

use serde::{Deserialize, Serialize};

use crate::plan::{Format, LogicalPath};

/// Permission to edit one file (no globs), in one format, limited to some keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EditGrant {
    /// Expanded logical path (`~/…` or `/…`).
    pub file: LogicalPath,
    pub format: Format,
    /// JSON pointers / dotted TOML keys / block ids. An edit's key is covered when it equals
    /// an entry or lies beneath it (`/env` covers `/env/X`; `a.b` covers `a.b.c`).
    /// Empty means no key may be touched.
    pub keys: Vec<String>,
}

impl EditGrant {
    /// Whether `key` (an edit's [`crate::plan::Edit::key`]) lies within this grant's keys.
    pub fn covers_key(&self, key: &str) -> bool {
        self.keys.iter().any(|k| key_covers(self.format, k, key))
    }
}

/// The one key-prefix rule: `key` is covered by `grant_key` when it is equal to it or lies
/// beneath it at a separator boundary (`/` between JSON pointer segments, `.` between TOML key
/// segments); block ids match exactly. `/env` covers `/env/X` but not `/envy`.
/// (Consent records use it too, so a broad grant carries over to a narrower capability.)
pub fn key_covers(format: Format, grant_key: &str, key: &str) -> bool {
    let sep = match format {
        Format::Json => '/',
        Format::Toml => '.',
        Format::Text => return key == grant_key,
    };
    key == grant_key
        || key
            .strip_prefix(grant_key)
            .is_some_and(|rest| rest.starts_with(sep))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(format: Format, keys: &[&str]) -> EditGrant {
        EditGrant {
            file: "~/.x".into(),
            format,
            keys: keys.iter().map(|k| k.to_string()).collect(),
        }
    }

    #[test]
    fn json_pointer_prefixes_cover_children_only_at_segment_boundaries() {
        let g = grant(Format::Json, &["/env/ANTHROPIC_BASE_URL"]);
        assert!(g.covers_key("/env/ANTHROPIC_BASE_URL"));
        assert!(!g.covers_key("/env/ANTHROPIC_BASE_URL_EXTRA"));
        assert!(!g.covers_key("/env"));
        assert!(grant(Format::Json, &["/env"]).covers_key("/env/X"));
    }

    #[test]
    fn toml_and_text_keys() {
        let g = grant(Format::Toml, &["model_providers.headroom"]);
        assert!(g.covers_key("model_providers.headroom.base_url"));
        assert!(!g.covers_key("model_providers.headroomx"));
        assert!(!g.covers_key("model_provider"));
        let t = grant(Format::Text, &["persistent env"]);
        assert!(t.covers_key("persistent env"));
        assert!(!t.covers_key("persistent"));
    }

    #[test]
    fn the_key_rule_on_its_own() {
        assert!(key_covers(Format::Json, "/env", "/env"));
        assert!(key_covers(Format::Json, "/env", "/env/X"));
        assert!(!key_covers(Format::Json, "/env", "/envy"));
        assert!(!key_covers(Format::Json, "/env/X", "/env"));
        assert!(key_covers(Format::Toml, "a.b", "a.b.c"));
        assert!(!key_covers(Format::Toml, "a.b", "a.b/c"));
        assert!(!key_covers(Format::Text, "a", "a.b"));
    }
}
