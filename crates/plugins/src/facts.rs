//! Facts about credentials the host answers itself, so an adapter never reads the credential.
//!
//! Adapter API 0.2 asks for them through the `facts` import; each is a capability the manifest
//! declares (`[capabilities] facts = ["codex-login"]`) and the user grants like any other, and
//! the [`crate::policy::Policy`] decides it (`may_know`). The credential files themselves are on
//! the deny-list (`headroom_core::deny`): only this module opens them, for the one answer.

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::grants::{EnvLookup, expand};

/// How Codex signs in (API 0.2's `facts.codex-login`).
pub const CODEX_LOGIN: &str = "codex-login";

/// Every fact this host answers, with what the user is asked to let an adapter learn.
pub const FACTS: &[(&str, &str)] = &[(
    CODEX_LOGIN,
    "learn whether Codex signs in with an API key or a ChatGPT account (never the key or token itself)",
)];

/// The consent screen's words for a fact (`None`: not a fact this host knows).
pub fn words(fact: &str) -> Option<&'static str> {
    FACTS.iter().find(|(n, _)| *n == fact).map(|(_, w)| *w)
}

/// What kind of login a tool has; never the credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginKind {
    /// No credential file headroom can read.
    None,
    ApiKey,
    Chatgpt,
}

/// Larger than any auth.json; a bigger file is not one.
const MAX_CREDENTIAL_FILE: u64 = 1 << 20;

/// How Codex logs in: `Chatgpt` (OAuth tokens in `$CODEX_HOME/auth.json`), `ApiKey`, or `None`
/// when Codex has no auth.json (or one headroom cannot read: not a regular file, too large, not
/// JSON).
pub fn codex_login(env: &EnvLookup, home: &str) -> LoginKind {
    let file = absolute(
        &expand("${CODEX_HOME:-~/.codex}/auth.json", env, home),
        home,
    );
    let Some(v) =
        read_regular(&file).and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
    else {
        return LoginKind::None;
    };
    if v.get("tokens").is_some_and(|t| !t.is_null()) {
        LoginKind::Chatgpt
    } else {
        LoginKind::ApiKey
    }
}

fn absolute(logical: &str, home: &str) -> PathBuf {
    match logical.strip_prefix("~/") {
        Some(rest) => Path::new(home).join(rest),
        None => PathBuf::from(logical),
    }
}

/// A regular file's text, bounded; never opens a FIFO or a device.
fn read_regular(path: &Path) -> Option<String> {
    let meta = std::fs::metadata(path).ok()?;
    if !meta.is_file() || meta.len() > MAX_CREDENTIAL_FILE {
        return None;
    }
    let mut text = String::new();
    std::fs::File::open(path)
        .ok()?
        .take(MAX_CREDENTIAL_FILE)
        .read_to_string(&mut text)
        .ok()?;
    Some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_codex_login_type_is_answered_without_the_credential() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().to_str().unwrap().to_owned();
        let none = |_: &str| None;
        assert_eq!(codex_login(&none, &home), LoginKind::None);
        std::fs::create_dir(dir.path().join(".codex")).unwrap();
        let auth = dir.path().join(".codex/auth.json");
        std::fs::write(&auth, r#"{"OPENAI_API_KEY": "sk-x", "tokens": null}"#).unwrap();
        assert_eq!(codex_login(&none, &home), LoginKind::ApiKey);
        std::fs::write(&auth, r#"{"tokens": {"access_token": "t"}}"#).unwrap();
        assert_eq!(codex_login(&none, &home), LoginKind::Chatgpt);
        std::fs::write(&auth, "not json").unwrap();
        assert_eq!(codex_login(&none, &home), LoginKind::None);
        // Never a FIFO or a directory.
        std::fs::remove_file(&auth).unwrap();
        std::fs::create_dir(&auth).unwrap();
        assert_eq!(codex_login(&none, &home), LoginKind::None);
        // $CODEX_HOME is followed.
        let alt = dir.path().join("alt");
        std::fs::create_dir(&alt).unwrap();
        let alt_s = alt.to_str().unwrap().to_owned();
        let env = move |n: &str| (n == "CODEX_HOME").then(|| alt_s.clone());
        assert_eq!(codex_login(&env, &home), LoginKind::None);
        std::fs::write(alt.join("auth.json"), r#"{"tokens": {"id_token": "t"}}"#).unwrap();
        assert_eq!(codex_login(&env, &home), LoginKind::Chatgpt);
    }

    #[test]
    fn every_fact_has_words() {
        assert!(
            words(CODEX_LOGIN)
                .unwrap()
                .contains("never the key or token")
        );
        assert_eq!(words("claude-login"), None);
    }
}
