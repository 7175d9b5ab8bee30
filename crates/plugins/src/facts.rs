//! Facts about credentials the host answers itself, so an adapter never reads the credential.
//!
//! API 0.1 has no import for them, so each is served through the `env` import under a reserved
//! `HEADROOM_*` name: an adapter declares it in `capabilities.env` like any variable (the user
//! grants it like one), and the host answers it from the credential file, never from the
//! environment. The files themselves are on the deny-list (`headroom_core::deny`).

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::grants::{EnvLookup, expand};

/// How Codex logs in: `chatgpt` (OAuth tokens in `$CODEX_HOME/auth.json`) or `api-key`; unset
/// when Codex has no auth.json (or one headroom cannot read).
pub const CODEX_LOGIN: &str = "HEADROOM_CODEX_LOGIN";

/// Larger than any auth.json; a bigger file is not one.
const MAX_CREDENTIAL_FILE: u64 = 1 << 20;

/// `Some(answer)` when `name` is a fact the host answers; `None` for an ordinary variable.
pub fn answer(name: &str, env: &EnvLookup, home: &str) -> Option<Option<String>> {
    (name == CODEX_LOGIN).then(|| codex_login(env, home))
}

fn codex_login(env: &EnvLookup, home: &str) -> Option<String> {
    let file = absolute(
        &expand("${CODEX_HOME:-~/.codex}/auth.json", env, home),
        home,
    );
    let text = read_regular(&file)?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    let chatgpt = v.get("tokens").is_some_and(|t| !t.is_null());
    Some(if chatgpt { "chatgpt" } else { "api-key" }.to_owned())
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
        assert_eq!(answer("OTHER", &none, &home), None);
        assert_eq!(answer(CODEX_LOGIN, &none, &home), Some(None));
        std::fs::create_dir(dir.path().join(".codex")).unwrap();
        let auth = dir.path().join(".codex/auth.json");
        std::fs::write(&auth, r#"{"OPENAI_API_KEY": "sk-x", "tokens": null}"#).unwrap();
        assert_eq!(
            answer(CODEX_LOGIN, &none, &home),
            Some(Some("api-key".into()))
        );
        std::fs::write(&auth, r#"{"tokens": {"access_token": "t"}}"#).unwrap();
        assert_eq!(
            answer(CODEX_LOGIN, &none, &home),
            Some(Some("chatgpt".into()))
        );
        // $CODEX_HOME is followed.
        let alt = dir.path().join("alt");
        std::fs::create_dir(&alt).unwrap();
        let alt_s = alt.to_str().unwrap().to_owned();
        let env = move |n: &str| (n == "CODEX_HOME").then(|| alt_s.clone());
        assert_eq!(answer(CODEX_LOGIN, &env, &home), Some(None));
    }
}
