//! The deny-list: logical paths no adapter may read or edit, whatever it was granted:
//! credentials, and headroom's own state (so a plugin can never edit its own grants or a
//! journal). The capability policy (headroom-plugins) applies it to what an adapter asks for; the
//! executor (headroom-edits) to every file it resolves before writing.

/// Never readable or editable by any plugin, whatever it was granted: credentials, and
/// headroom's own state (a plugin can never edit its own grants or the journal).
pub const DENIED: &[&str] = &[
    "~/.ssh",
    "~/.gnupg",
    "~/.aws",
    "~/.azure",
    "~/.config/gcloud",
    "~/.kube",
    "~/.docker",
    "~/.netrc",
    "~/.git-credentials",
    "~/.password-store",
    "~/.headroom",
    // Tools' own credential files, inside directories their adapters may read.
    "~/.claude/.credentials.json",
    "~/.codex/auth.json",
];

/// The same credential files where a tool's directory follows an environment variable: each
/// `${VAR:-default}/file` is denied wherever VAR points today (the capability policy expands them
/// with the user's environment; the default forms are in [`DENIED`]).
pub const DENIED_UNDER_VAR: &[&str] = &[
    "${CLAUDE_CONFIG_DIR:-~/.claude}/.credentials.json",
    "${CODEX_HOME:-~/.codex}/auth.json",
];

/// Whether the deny-list refuses a logical path (the entry itself or anything beneath it).
pub fn is_denied(logical: &str) -> bool {
    DENIED.iter().any(|d| {
        logical
            .strip_prefix(d)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_and_everything_beneath_it_are_denied_and_nothing_else() {
        assert!(is_denied("~/.ssh"));
        assert!(is_denied("~/.ssh/id_rsa"));
        assert!(is_denied("~/.headroom/plugins/x/consent.json"));
        assert!(!is_denied("~/.sshx"));
        assert!(!is_denied("~/.claude/settings.json"));
        assert!(is_denied("~/.claude/.credentials.json"));
        assert!(is_denied("~/.codex/auth.json"));
        assert!(!is_denied("~/.codex/config.toml"));
    }
}
