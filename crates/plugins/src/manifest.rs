//! The plugin manifest (`adapter.toml`, embedded in the component's `headroom:manifest` custom
//! section) and the static checks made before any guest code runs.

use headroom_edits::Format;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::grants::leading_var;
use crate::policy::is_secret_env;

/// The newest adapter API this host implements (`wit/v0.3`, `package headroom:adapter@0.3.0`).
pub const HOST_API: &str = "0.3.0";
/// Every adapter API this host serves, oldest first: a component built against any of them
/// runs (`crate::wit::Api`). Each is `major.minor.patch`, the newest patch of that minor.
pub const SUPPORTED_APIS: &[&str] = &["0.1.0", "0.2.0", HOST_API];
pub const MANIFEST_SECTION: &str = "headroom:manifest";

// Unknown keys are found structurally before deserializing (see `unknown_key`), so they are
// reported as "needs a newer headroom" rather than as a malformed manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub id: String,
    pub name: String,
    pub version: String,
    /// The adapter API version the plugin was built against.
    pub api: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub author: String,
    #[serde(default)]
    pub license: String,
    /// Tool targets it configures, e.g. `["claude"]`.
    #[serde(default)]
    pub targets: Vec<String>,
    /// `provider`, `user`, `system`.
    #[serde(default)]
    pub scopes: Vec<String>,
    #[serde(default)]
    pub capabilities: Capabilities,
}

/// What a plugin may do. Unknown kinds are refused ("needs a newer headroom"), never ignored.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Capabilities {
    /// Environment variable names it may read.
    #[serde(default)]
    pub env: Vec<String>,
    /// Binaries it may locate on PATH.
    #[serde(default)]
    pub which: Vec<String>,
    /// Paths it may read: a file, or a directory tree as `dir/**`. May start with `${VAR:-default}`.
    #[serde(default)]
    pub read: Vec<String>,
    #[serde(default)]
    pub edit: Vec<EditCapability>,
    /// Facts about credentials the host answers (API 0.2), e.g. `codex-login`
    /// ([`crate::facts::FACTS`]).
    #[serde(default)]
    pub facts: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EditCapability {
    /// One file (no globs).
    pub file: String,
    /// `json`, `toml` or `text` (marker blocks).
    pub format: String,
    /// JSON pointers, dotted TOML keys or block ids the plugin may touch.
    pub keys: Vec<String>,
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum ManifestError {
    #[error("not a WebAssembly component: {0}")]
    NotComponent(String),
    #[error("a precompiled artifact, not a component: install the .wasm it was built from")]
    Precompiled,
    #[error("a core WebAssembly module, not a component: build it for wasm32-wasip2")]
    CoreModule,
    #[error(
        "no headroom manifest (custom section {MANIFEST_SECTION:?}): build it with headroom-adapter-sdk's export_adapter!"
    )]
    Missing,
    #[error("invalid manifest: {0}")]
    Invalid(String),
    #[error("needs a newer headroom: {0}")]
    NewerHeadroom(String),
    #[error("needs adapter API {needs}; this headroom supports {supports}")]
    Api { needs: String, supports: String },
}

/// The field names of each manifest level, in declaration order (a test keeps them in step
/// with the structs).
const MANIFEST_KEYS: &[&str] = &[
    "id",
    "name",
    "version",
    "api",
    "description",
    "author",
    "license",
    "targets",
    "scopes",
    "capabilities",
];
const CAPABILITY_KEYS: &[&str] = &["env", "which", "read", "edit", "facts"];
const EDIT_KEYS: &[&str] = &["file", "format", "keys"];

/// The editor an edit capability's `format` names (checked by [`parse`]: json, toml or text).
pub fn edit_format(format: &str) -> Format {
    match format {
        "json" => Format::Json,
        "toml" => Format::Toml,
        _ => Format::Text,
    }
}

/// Read the manifest from a `.wasm` without running it, and check it.
pub fn inspect(bytes: &[u8]) -> Result<Manifest, ManifestError> {
    if wasmtime::Engine::detect_precompiled(bytes).is_some() {
        return Err(ManifestError::Precompiled);
    }
    let mut saw_header = false;
    let mut manifest = None;
    for payload in wasmparser::Parser::new(0).parse_all(bytes) {
        let payload = payload.map_err(|e| ManifestError::NotComponent(e.message().to_owned()))?;
        match payload {
            wasmparser::Payload::Version { encoding, .. } if !saw_header => {
                saw_header = true;
                if encoding == wasmparser::Encoding::Module {
                    return Err(ManifestError::CoreModule);
                }
            }
            wasmparser::Payload::CustomSection(reader) if reader.name() == MANIFEST_SECTION => {
                if manifest.is_some() {
                    return Err(ManifestError::Invalid(
                        "more than one manifest section".into(),
                    ));
                }
                manifest = Some(reader.data().to_vec());
            }
            _ => {}
        }
    }
    if !saw_header {
        return Err(ManifestError::NotComponent("empty file".into()));
    }
    let text = String::from_utf8(manifest.ok_or(ManifestError::Missing)?)
        .map_err(|_| ManifestError::Invalid("not UTF-8".into()))?;
    parse(&text)
}

/// Parse and check manifest text.
pub fn parse(text: &str) -> Result<Manifest, ManifestError> {
    let invalid = |e: toml::de::Error| ManifestError::Invalid(e.message().to_owned());
    let table: toml::Table = text.parse().map_err(invalid)?;
    if let Some(msg) = unknown_key(&table) {
        return Err(ManifestError::NewerHeadroom(msg));
    }
    let m: Manifest = toml::from_str(text).map_err(invalid)?;
    check_api(&m.api)?;
    check(&m)?;
    Ok(m)
}

/// The first key (at the top, in `[capabilities]` or in an `[[capabilities.edit]]`) this host
/// does not know, in words. A field added by a later manifest format must be refused, never
/// ignored: it may restrict or extend what the plugin does.
fn unknown_key(top: &toml::Table) -> Option<String> {
    fn first(t: &toml::Table, known: &[&str]) -> Option<String> {
        let k = t.keys().find(|k| !known.contains(&k.as_str()))?;
        let expected: Vec<String> = known.iter().map(|n| format!("`{n}`")).collect();
        Some(format!(
            "unknown field `{k}`, expected one of {}",
            expected.join(", ")
        ))
    }
    // Values of the wrong type are left to the deserializer, which names them.
    let caps = top.get("capabilities").and_then(|c| c.as_table());
    let edits: Vec<&toml::Table> = caps
        .and_then(|c| c.get("edit"))
        .and_then(|e| e.as_array())
        .into_iter()
        .flatten()
        .filter_map(|e| e.as_table())
        .collect();
    first(top, MANIFEST_KEYS)
        .or_else(|| caps.and_then(|c| first(c, CAPABILITY_KEYS)))
        .or_else(|| edits.iter().find_map(|e| first(e, EDIT_KEYS)))
}

/// `api` must be semver-compatible with one of [`SUPPORTED_APIS`] (same major; for 0.x, same
/// minor) and not newer than it.
pub fn check_api(api: &str) -> Result<(), ManifestError> {
    let want = semver::Version::parse(api)
        .map_err(|e| ManifestError::Invalid(format!("api {api:?}: {e}")))?;
    let short = |v: &semver::Version| {
        if v.major == 0 {
            format!("0.{}", v.minor)
        } else {
            v.major.to_string()
        }
    };
    let served = |host: &str| {
        let host = semver::Version::parse(host).expect("valid");
        short(&host) == short(&want) && want <= host
    };
    if !SUPPORTED_APIS.iter().any(|h| served(h)) {
        let supports: Vec<String> = SUPPORTED_APIS
            .iter()
            .map(|h| format!("{}.x", short(&semver::Version::parse(h).expect("valid"))))
            .collect();
        let supports = match supports.split_last() {
            Some((last, [])) => last.clone(),
            Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
            None => String::new(),
        };
        return Err(ManifestError::Api {
            needs: short(&want),
            supports,
        });
    }
    Ok(())
}

fn check(m: &Manifest) -> Result<(), ManifestError> {
    let bad = |s: String| Err(ManifestError::Invalid(s));
    let id_ok = !m.id.is_empty()
        && m.id.len() <= 64
        && m.id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if !id_ok {
        return bad(format!("id {:?} must be 1-64 of [a-z0-9_-]", m.id));
    }
    if semver::Version::parse(&m.version).is_err() {
        return bad(format!("version {:?} is not semver", m.version));
    }
    for s in &m.scopes {
        if !matches!(s.as_str(), "provider" | "user" | "system") {
            return bad(format!("unknown scope {s:?}"));
        }
    }
    for name in &m.capabilities.env {
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return bad(format!(
                "environment variable name {:?} must be [A-Za-z0-9_]",
                crate::runtime::sanitize(name)
            ));
        }
        if is_secret_env(name) {
            return bad(format!(
                "asks for the secret environment variable {name}; refused"
            ));
        }
    }
    let system = m.scopes.iter().any(|s| s == "system");
    let env = &m.capabilities.env;
    for p in &m.capabilities.read {
        check_path(p, true, system, env)?;
    }
    for e in &m.capabilities.edit {
        check_path(&e.file, false, system, env)?;
        if !matches!(e.format.as_str(), "json" | "toml" | "text") {
            return Err(ManifestError::NewerHeadroom(format!(
                "edit format {:?}",
                e.format
            )));
        }
        if e.keys.is_empty() {
            return bad(format!("edit of {} lists no keys", e.file));
        }
    }
    for f in &m.capabilities.facts {
        if crate::facts::words(f).is_none() {
            return Err(ManifestError::NewerHeadroom(format!(
                "fact {:?}",
                crate::runtime::sanitize(f)
            )));
        }
    }
    // API 0.1 has no `facts` import: a 0.1 adapter declaring one could never ask for it.
    if !m.capabilities.facts.is_empty() && m.api.starts_with("0.1.") {
        return bad("facts need adapter API 0.2 (the `facts` import)".into());
    }
    Ok(())
}

/// Paths: `~/…`, `/…` or `${VAR:-default}/…`; no `..`; globs only as a trailing `/**` on reads.
/// A path is judged as it reads with its variable unset (the default spliced in), since that is
/// what it means on most machines: outside the home directory only for adapters that serve the
/// system scope, and never a read of the whole home directory or filesystem.
///
/// The variable must be one the plugin declares in `env` (so the user grants following it), and
/// at every use its value is judged by the same rules (`grants::expand_checked`).
fn check_path(p: &str, read: bool, system: bool, env: &[String]) -> Result<(), ManifestError> {
    let bad = |why: &str| Err(ManifestError::Invalid(format!("path {p:?}: {why}")));
    if p.chars()
        .any(|c| c.is_control() || crate::runtime::is_invisible(c))
    {
        return bad("contains control or invisible formatting characters");
    }
    let unset = match leading_var(p) {
        Some((var, _, _)) if !env.iter().any(|n| n == var) => {
            return bad(&format!(
                "follows ${var}, which it does not declare in capabilities.env"
            ));
        }
        Some((_, default, rest)) => format!("{default}{rest}"),
        None if p.starts_with("${") => return bad("unterminated ${"),
        None => p.to_owned(),
    };
    if !(unset == "~" || unset.starts_with("~/") || unset.starts_with('/')) {
        return bad("must start with ~/, / or ${VAR:-default}");
    }
    if unset.split('/').any(|c| c == "..") {
        return bad("may not contain '..'");
    }
    let body = if read {
        unset.strip_suffix("/**").unwrap_or(&unset)
    } else {
        &unset
    };
    if body.contains(['*', '?', '[']) {
        return bad(if read {
            "only a trailing /** is allowed"
        } else {
            "edit capabilities name one file (no globs)"
        });
    }
    if read && matches!(body.trim_end_matches('/'), "" | "~") {
        return bad("the whole home directory or filesystem: name the tool's own files");
    }
    if unset.starts_with('/') && !system {
        return bad(
            "outside the home directory; only an adapter with the system scope may name one",
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
id = "x"
name = "X"
version = "1.2.3"
api = "0.1.0"
[capabilities]
env = ["X_HOME"]
read = ["${X_HOME:-~/.x}/**"]
[[capabilities.edit]]
file = "~/.x/config.json"
format = "json"
keys = ["/a"]
"#;

    #[test]
    fn a_good_manifest_parses() {
        let m = parse(GOOD).unwrap();
        assert_eq!(m.capabilities.edit[0].keys, ["/a"]);
    }

    #[test]
    fn api_range() {
        assert!(check_api("0.1.0").is_ok());
        assert!(check_api("0.2.0").is_ok());
        assert!(check_api("0.3.0").is_ok());
        assert_eq!(
            check_api("0.4.0").unwrap_err().to_string(),
            "needs adapter API 0.4; this headroom supports 0.1.x, 0.2.x and 0.3.x"
        );
        assert!(check_api("1.0.0").is_err());
        assert!(check_api("0.0.1").is_err());
        for newer_patch in ["0.1.9", "0.2.1", "0.3.1"] {
            assert!(
                check_api(newer_patch).is_err(),
                "{newer_patch}: a newer patch of the contract than the host knows"
            );
        }
    }

    #[test]
    fn facts_are_known_and_need_api_0_2() {
        let v2 = GOOD.replace("api = \"0.1.0\"", "api = \"0.2.0\"");
        let with_facts = |m: &str, facts: &str| {
            parse(&m.replace(
                "[capabilities]",
                &format!("[capabilities]\nfacts = [{facts}]"),
            ))
        };
        let m = with_facts(&v2, "\"codex-login\"").unwrap();
        assert_eq!(m.capabilities.facts, ["codex-login"]);
        assert_eq!(
            with_facts(&v2, "\"bank-pin\"").unwrap_err().to_string(),
            "needs a newer headroom: fact \"bank-pin\""
        );
        assert!(
            with_facts(GOOD, "\"codex-login\"")
                .unwrap_err()
                .to_string()
                .contains("facts need adapter API 0.2")
        );
    }

    /// The SDK third parties build against binds the newest WIT, and both are the newest API
    /// this host serves; every older WIT directory is still served.
    #[test]
    fn the_sdk_and_wit_versions_are_supported_by_this_host() {
        let sdk = include_str!("../../../plugins/sdk/src/lib.rs");
        let v = sdk
            .lines()
            .find_map(|l| l.strip_prefix("pub const API_VERSION: &str = \""))
            .and_then(|r| r.strip_suffix("\";"))
            .expect("API_VERSION in the SDK");
        assert_eq!(check_api(v), Ok(()));
        assert!(
            sdk.contains("path: \"../../wit/v0.3\""),
            "the SDK binds the newest WIT"
        );
        let package = |wit: &str| {
            wit.lines()
                .find_map(|l| l.trim().strip_prefix("package headroom:adapter@"))
                .and_then(|r| r.strip_suffix(';'))
                .expect("package line")
                .to_owned()
        };
        let newest = package(include_str!("../../../wit/v0.3/adapter.wit"));
        assert_eq!(check_api(&newest), Ok(()));
        assert_eq!(newest, v);
        assert_eq!(newest, HOST_API);
        let oldest = package(include_str!("../../../wit/v0.1/adapter.wit"));
        let middle = package(include_str!("../../../wit/v0.2/adapter.wit"));
        for old in [&oldest, &middle] {
            assert_eq!(check_api(old), Ok(()));
        }
        assert_eq!(
            SUPPORTED_APIS,
            [oldest.as_str(), middle.as_str(), newest.as_str()]
        );
    }

    #[test]
    fn refusals() {
        let with = |from: &str, to: &str| parse(&GOOD.replace(from, to)).unwrap_err().to_string();
        assert!(with("env = [\"X_HOME\"]", "env = [\"ANTHROPIC_API_KEY\"]").contains("secret"));
        assert!(
            with("[capabilities]", "[capabilities]\nexec = [\"sh\"]")
                .starts_with("needs a newer headroom")
        );
        assert!(with("~/.x/config.json", "~/.x/*.json").contains("no globs"));
        assert!(with("~/.x/config.json", "~/../etc/passwd").contains(".."));
        assert!(
            with("format = \"json\"", "format = \"yaml\"").starts_with("needs a newer headroom")
        );
        assert_eq!(
            with("[capabilities]", "[capabilities]\nexec = [\"sh\"]"),
            "needs a newer headroom: unknown field `exec`, expected one of `env`, `which`, `read`, `edit`, `facts`"
        );
        assert!(with("api = ", "sandbox = 1\napi = ").starts_with("needs a newer headroom"));
        assert!(
            with("keys = [\"/a\"]", "keys = [\"/a\"]\nmode = \"x\"")
                .starts_with("needs a newer headroom: unknown field `mode`")
        );
        // Malformed, not newer.
        assert!(with("id = \"x\"", "id = 5").starts_with("invalid manifest"));
        assert!(with("id = \"x\"", "id = ").starts_with("invalid manifest"));
        assert!(with("id = \"x\"", "id = \"X Y\"").contains("id"));
        // Judged with the variable unset: the default must be a path like any other.
        assert!(with("${X_HOME:-~/.x}/**", "${X_HOME:-~/..}/**").contains(".."));
        assert!(with("${X_HOME:-~/.x}/**", "${X_HOME:-x}/**").contains("must start with"));
        assert!(with("${X_HOME:-~/.x}/**", "${X_HOME:-~/.x/**").contains("unterminated"));
        for wide in ["~/**", "/**", "${X_HOME:-~}/**", "~", "/"] {
            assert!(
                with("${X_HOME:-~/.x}/**", wide).contains("the whole home directory"),
                "{wide}"
            );
        }
        // The variable must be a declared env capability.
        for undeclared in ["${HOME:-~/.x}/**", "${PWD:-~/.x}/**"] {
            assert!(
                with("${X_HOME:-~/.x}/**", undeclared).contains("which it does not declare"),
                "{undeclared}"
            );
        }
        assert!(
            with("~/.x/config.json", "${HOME:-~/.x}/config.json")
                .contains("which it does not declare")
        );
        assert!(with("~/.x/config.json", "~/.x/\\u202e.json").contains("invisible"));
        assert!(
            with("env = [\"X_HOME\"]", "env = [\"X_HOME\", \"A\\u200bB\"]").contains("must be")
        );
        // Outside HOME only with the system scope.
        for outside in ["/etc/x/**", "${X_HOME}/x/**", "${X_HOME:-/opt/x}/**"] {
            assert!(
                with("${X_HOME:-~/.x}/**", outside).contains("outside the home directory"),
                "{outside}"
            );
        }
        assert!(with("~/.x/config.json", "/etc/x.json").contains("outside the home directory"));
        let system = GOOD.replace("[capabilities]", "scopes = [\"system\"]\n[capabilities]");
        assert!(parse(&system.replace("~/.x/config.json", "/etc/x.json")).is_ok());
    }

    /// The key lists `unknown_key` checks against are the structs' fields.
    #[test]
    fn known_keys_match_the_structs() {
        let v = toml::Value::try_from(parse(GOOD).unwrap()).unwrap();
        let top = v.as_table().unwrap();
        assert_eq!(sorted(top.keys()), sorted(MANIFEST_KEYS));
        let caps = top["capabilities"].as_table().unwrap();
        assert_eq!(sorted(caps.keys()), sorted(CAPABILITY_KEYS));
        let edit = caps["edit"].as_array().unwrap()[0].as_table().unwrap();
        assert_eq!(sorted(edit.keys()), sorted(EDIT_KEYS));
    }

    fn sorted<S: AsRef<str>>(keys: impl IntoIterator<Item = S>) -> Vec<String> {
        let mut v: Vec<String> = keys.into_iter().map(|k| k.as_ref().to_owned()).collect();
        v.sort();
        v
    }

    #[test]
    fn not_components() {
        assert_eq!(inspect(b"\0asm\x01\0\0\0"), Err(ManifestError::CoreModule));
        assert!(matches!(
            inspect(b"garbage"),
            Err(ManifestError::NotComponent(_))
        ));
        assert!(matches!(inspect(b""), Err(ManifestError::NotComponent(_))));
    }
}
