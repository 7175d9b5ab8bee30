//! The deployment manifest at `~/.headroom/deploy/<profile>/manifest.json`.
//!
//! Field names follow the older Python implementation so its manifests still load; fields we do
//! not know are kept verbatim (`extra`) so a load/save round trip loses nothing.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::fsutil;

/// Bumped when a field changes meaning; older manifests (no field) are version 0.
pub const SCHEMA_VERSION: u32 = 1;

macro_rules! string_enum {
    ($(#[$m:meta])* $name:ident { $($variant:ident = $text:literal $(| $alias:literal)*),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name {
            $(#[serde(rename = $text $(, alias = $alias)*)] $variant),+
        }
        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result { f.write_str(self.as_str()) }
        }
        impl std::str::FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                match s {
                    $($text $(| $alias)* => Ok($name::$variant),)+
                    _ => Err(format!(
                        "unknown {} {s:?} (expected one of: {})",
                        stringify!($name).to_lowercase(),
                        [$($text),+].join(", ")
                    )),
                }
            }
        }
    };
}

string_enum!(
    /// What keeps the proxy alive.
    Preset {
        Service = "persistent-service",
        Task = "persistent-task",
        Docker = "persistent-docker",
    }
);
string_enum!(
    /// How the proxy runs. `python` is what the older implementation wrote for its native runtime.
    Runtime { Native = "native" | "python", Docker = "docker" }
);
string_enum!(
    /// Which tools' configuration a deployment manages, and with which supervisor privileges.
    Scope { Provider = "provider", User = "user", System = "system" }
);
string_enum!(
    /// How the tool targets are chosen. `none` configures no tool (only the always-on proxy).
    ProviderMode { Auto = "auto", All = "all", Manual = "manual", None = "none" }
);
string_enum!(
    /// The supervisor that runs the proxy.
    SupervisorKind {
        Systemd = "systemd",
        Cron = "cron",
        Launchd = "launchd",
        WindowsService = "windows-service",
        WindowsTask = "windows-task" | "scheduled-task",
        Docker = "docker",
    }
);

/// The outbound-proxy and trust variables `install apply` records from its own environment
/// into the proxy's (a supervisor does not inherit the login shell's), both spellings.
pub const NETWORK_ENV: &[&str] = &[
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
    "ALL_PROXY",
    "all_proxy",
    "NO_PROXY",
    "no_proxy",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
];

/// Whether `key` holds a proxy URL, which may carry a password (shown masked).
pub fn is_proxy_url_var(key: &str) -> bool {
    let k = key.to_ascii_uppercase();
    k.ends_with("_PROXY") && k != "NO_PROXY"
}

/// Where a deployment forwards one provider's requests instead of its public API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpstreamRecord {
    /// As the user wrote it (the proxy reads it with its own grammar).
    pub url: String,
    /// The setting it came from: a tool's file and key (`~/.claude/settings.json
    /// env.ANTHROPIC_BASE_URL`) or the user's option (`--anthropic-api-url`).
    pub from: String,
    /// The tool whose own setting it was. Such a gateway outlives the tool's setting (which
    /// points at headroom after the apply), so a re-apply keeps it; an option does not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool: Option<String>,
}

/// Something a deployment created, recorded so `remove` takes away exactly that.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Artifact {
    /// A directory created for the supervisor's files (removed again while empty).
    Dir {
        path: PathBuf,
    },
    /// A file the supervisor wrote (unit, plist, task XML, cron.d file).
    File {
        path: PathBuf,
    },
    /// The profile's block in the user's crontab.
    CrontabBlock {
        profile: String,
    },
    Container {
        name: String,
    },
    /// What the older implementation or a newer headroom recorded: kept verbatim, never acted on.
    #[serde(untagged)]
    Other(serde_json::Value),
}

/// Where an apply stopped; a crash between the two is detected and repaired by the next command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum InstallState {
    /// Written before anything is registered: a crash leaves this, and `remove`/`apply` repair it.
    Applying,
    #[default]
    Installed,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub profile: String,
    pub preset: Preset,
    pub runtime_kind: Runtime,
    pub supervisor_kind: SupervisorKind,
    pub scope: Scope,
    pub provider_mode: ProviderMode,
    #[serde(default)]
    pub targets: Vec<String>,
    pub port: u16,
    #[serde(default = "default_host")]
    pub host: String,
    #[serde(default)]
    pub backend: Option<String>,
    #[serde(default)]
    pub image: Option<String>,
    #[serde(default)]
    pub health_url: String,
    /// Extra environment of the proxy process (`--env KEY=VALUE`).
    #[serde(default)]
    pub base_env: BTreeMap<String, String>,
    /// Per-target environment the tools get (informational; the adapters write it).
    #[serde(default)]
    pub tool_envs: BTreeMap<String, BTreeMap<String, String>>,
    /// Arguments appended to `headroom proxy --host H --port P`.
    #[serde(default)]
    pub proxy_args: Vec<String>,
    /// The older implementation's record of its edits; kept for compatibility, never replayed.
    #[serde(default)]
    pub mutations: Vec<serde_json::Value>,
    /// Files and registrations this deployment created (paths, unit names, crontab block).
    #[serde(default)]
    pub artifacts: Vec<Artifact>,
    #[serde(default)]
    pub created_at: String,
    #[serde(default)]
    pub updated_at: String,

    // ---- ours ----
    #[serde(default)]
    pub schema_version: u32,
    #[serde(default)]
    pub state: InstallState,
    /// The edit journal of this deployment's tool configuration (absolute path).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub journal: Option<PathBuf>,
    /// Adapter id → version used for the tool edits.
    #[serde(default)]
    pub adapters: BTreeMap<String, String>,
    /// `loginctl enable-linger` succeeded because of us, so `remove` undoes it.
    #[serde(default)]
    pub linger_enabled_by_us: bool,
    /// The absolute path of the `headroom` binary the supervisor runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub executable: Option<PathBuf>,
    /// The home directory the deployment was installed from (units set `HOME` to it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub home: Option<PathBuf>,
    /// The proxy's compression mode (`install apply --compress`); manifests without it are
    /// `lossless`, the proxy's default.
    #[serde(default, with = "compress_mode")]
    pub compress: headroom_compress::Mode,
    /// Provider (`anthropic`, `openai`) → the upstream it is forwarded to when that is not the
    /// provider's public API (a user's gateway kept, or chosen). The proxy gets it in its
    /// environment or arguments; this records where it came from.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub upstreams: BTreeMap<String, UpstreamRecord>,
    /// The proxy's own log file (`headroom proxy --log-file`, size-bounded and rotated). `None`:
    /// the supervisor keeps the log (journald, docker), or a deployment older than the flag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_file: Option<PathBuf>,

    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// `Mode` as its name (`"off"`, `"lossless"`, `"full"`).
mod compress_mode {
    use headroom_compress::Mode;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(mode: &Mode, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(mode.as_str())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Mode, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

fn default_host() -> String {
    "127.0.0.1".to_owned()
}

#[derive(Debug, Error)]
pub enum ManifestError {
    #[error("no deployment manifest at {0}")]
    NotFound(PathBuf),
    #[error("corrupt deployment manifest {path}: {reason}")]
    Corrupt { path: PathBuf, reason: String },
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl Manifest {
    /// `http://<host>:<port>/readyz`, with a wildcard bind address probed on loopback.
    pub fn readyz_url(host: &str, port: u16) -> String {
        format!("http://{}:{port}/readyz", probe_host(host))
    }

    pub fn load(path: &Path) -> Result<Self, ManifestError> {
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(ManifestError::NotFound(path.to_path_buf()));
            }
            Err(source) => {
                return Err(ManifestError::Io {
                    path: path.to_path_buf(),
                    source,
                });
            }
        };
        Self::parse(&bytes).map_err(|reason| ManifestError::Corrupt {
            path: path.to_path_buf(),
            reason,
        })
    }

    pub fn parse(bytes: &[u8]) -> Result<Self, String> {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err("the file is empty".to_owned());
        }
        let value: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|e| format!("invalid JSON ({e})"))?;
        if !value.is_object() {
            return Err("expected a JSON object".to_owned());
        }
        let m: Manifest = serde_json::from_value(value).map_err(|e| e.to_string())?;
        crate::profile::ProfileName::new(&m.profile).map_err(|e| e.to_string())?;
        if m.port == 0 {
            return Err("port 0 is not a valid deployment port".to_owned());
        }
        Ok(m)
    }

    pub fn to_json(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).expect("a manifest always serialises");
        text.push('\n');
        text
    }

    /// Atomic write, mode 0600.
    pub fn save(&self, path: &Path) -> anyhow::Result<()> {
        fsutil::write_atomic(path, self.to_json().as_bytes(), 0o600)
    }
}

/// The address a client uses to reach a proxy bound to `host`.
pub fn probe_host(host: &str) -> &str {
    match host {
        "0.0.0.0" | "" => "127.0.0.1",
        "::" | "[::]" => "[::1]",
        h => h,
    }
}

pub use headroom_core::time::now_rfc3339;

#[cfg(test)]
mod tests {
    use super::*;

    const PYTHON_MANIFEST: &str = r#"{
  "profile": "default",
  "preset": "persistent-service",
  "runtime_kind": "python",
  "supervisor_kind": "systemd",
  "scope": "user",
  "provider_mode": "auto",
  "targets": ["claude", "codex"],
  "port": 8787,
  "host": "127.0.0.1",
  "backend": "anthropic",
  "image": null,
  "health_url": "http://127.0.0.1:8787/readyz",
  "base_env": {"HEADROOM_MODE": "token"},
  "tool_envs": {"claude": {"ANTHROPIC_BASE_URL": "http://127.0.0.1:8787"}},
  "proxy_args": ["--no-rate-limit"],
  "mutations": [{"target": "claude", "path": "~/.claude/settings.json"}],
  "artifacts": [{"kind": "file", "path": "~/.headroom/deploy/default/run-headroom.sh"}],
  "created_at": "2026-10-01T10:00:00Z",
  "updated_at": "2026-10-01T10:00:00Z",
  "future_field": {"kept": [1, 2]}
}"#;

    #[test]
    fn python_manifest_loads_with_python_runtime_as_native() {
        let m = Manifest::parse(PYTHON_MANIFEST.as_bytes()).unwrap();
        assert_eq!(m.runtime_kind, Runtime::Native);
        assert_eq!(m.preset, Preset::Service);
        assert_eq!(m.targets, ["claude", "codex"]);
        assert_eq!(m.schema_version, 0);
        assert_eq!(m.state, InstallState::Installed);
    }

    #[test]
    fn round_trip_keeps_unknown_fields() {
        let m = Manifest::parse(PYTHON_MANIFEST.as_bytes()).unwrap();
        let again: serde_json::Value = serde_json::from_str(&m.to_json()).unwrap();
        assert_eq!(again["future_field"]["kept"][1], 2);
        assert_eq!(again["mutations"][0]["target"], "claude");
        assert_eq!(Manifest::parse(m.to_json().as_bytes()).unwrap(), m);
    }

    #[test]
    fn compress_defaults_to_lossless_and_round_trips() {
        let old = Manifest::parse(PYTHON_MANIFEST.as_bytes()).unwrap();
        assert_eq!(old.compress, headroom_compress::Mode::Lossless);
        for mode in headroom_compress::Mode::ALL {
            let m = Manifest {
                compress: mode,
                ..old.clone()
            };
            let text = m.to_json();
            assert!(
                text.contains(&format!("\"compress\": \"{mode}\"")),
                "{text}"
            );
            assert_eq!(Manifest::parse(text.as_bytes()).unwrap(), m);
        }
        let bad =
            PYTHON_MANIFEST.replace("\"port\": 8787,", "\"port\": 8787, \"compress\": \"max\",");
        let err = Manifest::parse(bad.as_bytes()).unwrap_err();
        assert!(err.contains("unknown compression mode \"max\""), "{err}");
    }

    #[test]
    fn upstreams_default_to_none_and_round_trip() {
        let old = Manifest::parse(PYTHON_MANIFEST.as_bytes()).unwrap();
        assert!(old.upstreams.is_empty());
        assert!(!old.to_json().contains("upstreams"));
        let mut m = old.clone();
        m.upstreams.insert(
            "anthropic".into(),
            UpstreamRecord {
                url: "https://gw.corp/anthropic/".into(),
                from: "~/.claude/settings.json env.ANTHROPIC_BASE_URL".into(),
                tool: Some("claude".into()),
            },
        );
        assert_eq!(Manifest::parse(m.to_json().as_bytes()).unwrap(), m);
        assert!(is_proxy_url_var("https_proxy") && is_proxy_url_var("ALL_PROXY"));
        assert!(!is_proxy_url_var("NO_PROXY") && !is_proxy_url_var("SSL_CERT_FILE"));
    }

    #[test]
    fn corrupt_manifests_are_one_line_errors() {
        for (bad, needle) in [
            ("", "empty"),
            ("  \n", "empty"),
            ("[]", "JSON object"),
            ("{", "invalid JSON"),
            ("{}", "missing field"),
        ] {
            let err = Manifest::parse(bad.as_bytes()).unwrap_err();
            assert!(err.contains(needle), "{bad:?}: {err}");
            assert!(!err.contains('\n'), "{err}");
        }
        let bad_profile = PYTHON_MANIFEST.replace("\"default\"", "\"../x\"");
        assert!(Manifest::parse(bad_profile.as_bytes()).is_err());
    }

    #[test]
    #[cfg(unix)]
    fn load_distinguishes_missing_from_corrupt_and_saves_0600() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("manifest.json");
        assert!(matches!(
            Manifest::load(&path),
            Err(ManifestError::NotFound(_))
        ));
        std::fs::write(&path, "[]").unwrap();
        assert!(matches!(
            Manifest::load(&path),
            Err(ManifestError::Corrupt { .. })
        ));
        let m = Manifest::parse(PYTHON_MANIFEST.as_bytes()).unwrap();
        m.save(&path).unwrap();
        assert_eq!(Manifest::load(&path).unwrap(), m);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    #[test]
    fn enums_parse_their_spelling_and_aliases() {
        assert_eq!("python".parse::<Runtime>().unwrap(), Runtime::Native);
        assert_eq!("persistent-task".parse::<Preset>().unwrap(), Preset::Task);
        let err = "bogus".parse::<Scope>().unwrap_err();
        assert!(err.contains("provider, user, system"), "{err}");
    }

    #[test]
    fn rfc3339_has_the_expected_shape() {
        let t = now_rfc3339();
        assert_eq!(t.len(), 20, "{t}");
        assert!(t.starts_with("20") && t.ends_with('Z'));
    }
}
