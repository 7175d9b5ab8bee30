//! The headroom adapter SDK: implement [`Adapter`], describe your plugin in `adapter.toml`, and
//! call [`export_adapter!`]. The adapter computes; headroom validates, shows, writes and reverts.
//!
//! ```ignore
//! struct Mine;
//! impl headroom_adapter_sdk::Adapter for Mine { /* detect, status, apply */ }
//! headroom_adapter_sdk::export_adapter!(Mine, "adapter.toml");
//! ```

#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../../wit/v0.2",
        world: "adapter-plugin",
        pub_export_macro: true,
        export_macro_name: "__export_adapter_plugin",
        default_bindings_module: "headroom_adapter_sdk::bindings",
    });
}

pub use bindings::exports::headroom::adapter::adapter::Guest as GuestAdapter;
pub use bindings::headroom::adapter::facts::LoginKind;
pub use bindings::headroom::adapter::types::{
    AdapterError, BlockPlacement, Context, Detection, Edit, HostError, MarkerStyle, Plan,
    RouteStatus as Status, Scope,
};

/// The WIT package version this SDK was built against (the host checks it is in its range).
pub const API_VERSION: &str = "0.2.0";

/// What an adapter does. Every method may read only what its manifest's capabilities grant.
/// (There is no `revert`: headroom reverts from its journal, byte for byte, even after the
/// adapter is gone.)
pub trait Adapter {
    fn detect() -> Result<Detection, AdapterError>;
    fn status(ctx: Context) -> Result<Status, AdapterError>;
    fn apply(ctx: Context) -> Result<Plan, AdapterError>;
}

/// Export `$ty` (an [`Adapter`]) as the component's `adapter` interface and embed `$manifest`
/// (a path relative to the crate root) in the `headroom:manifest` custom section.
#[macro_export]
macro_rules! export_adapter {
    ($ty:ty, $manifest:literal) => {
        #[unsafe(link_section = "headroom:manifest")]
        #[used]
        static __HEADROOM_MANIFEST: [u8; include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/", $manifest)).len()] =
            *include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/", $manifest));

        struct __HeadroomExport;
        impl $crate::GuestAdapter for __HeadroomExport {
            fn detect() -> Result<$crate::Detection, $crate::AdapterError> {
                <$ty as $crate::Adapter>::detect()
            }
            fn status(ctx: $crate::Context) -> Result<$crate::Status, $crate::AdapterError> {
                <$ty as $crate::Adapter>::status(ctx)
            }
            fn apply(ctx: $crate::Context) -> Result<$crate::Plan, $crate::AdapterError> {
                <$ty as $crate::Adapter>::apply(ctx)
            }
        }
        $crate::bindings::__export_adapter_plugin!(__HeadroomExport with_types_in $crate::bindings);
    };
}

/// Host access, limited to the plugin's grants. Denials are `Err(HostError::Denied(..))`.
pub mod host {
    use super::bindings::headroom::adapter::{env, facts, fs, log, which};
    use super::{HostError, LoginKind};

    /// A file's text; `Ok(None)` when it does not exist.
    pub fn read(path: &str) -> Result<Option<String>, HostError> {
        match fs::read_text(path) {
            Ok(t) => Ok(Some(t)),
            Err(HostError::NotFound) => Ok(None),
            Err(e) => Err(e),
        }
    }
    pub fn exists(path: &str) -> Result<bool, HostError> {
        fs::exists(path)
    }
    pub fn list_dir(path: &str) -> Result<Vec<String>, HostError> {
        fs::list_dir(path)
    }
    pub fn env(name: &str) -> Result<Option<String>, HostError> {
        env::get(name)
    }
    pub fn which(binary: &str) -> Result<Option<String>, HostError> {
        which::find(binary)
    }
    /// How Codex signs in (`ApiKey`, `Chatgpt`, or `None` without a credential file), answered
    /// by headroom from Codex's auth.json, which no adapter may read. Declare it in the
    /// manifest: `[capabilities] facts = ["codex-login"]`.
    pub fn codex_login() -> Result<LoginKind, HostError> {
        facts::codex_login()
    }
    pub fn info(message: &str) {
        log::log(log::Level::Info, message)
    }
    pub fn warn(message: &str) {
        log::log(log::Level::Warn, message)
    }
}

/// Edit builders. Values are typed here and serialised as the WIT contract expects.
pub mod edit {
    use super::bindings::headroom::adapter::types::{
        BlockRemove, BlockSet, JsonRemove, JsonSet, TomlRemove, TomlSet,
    };
    use super::{BlockPlacement, Edit, MarkerStyle};

    pub fn json_set(file: &str, pointer: &str, value: serde_json::Value) -> Edit {
        Edit::JsonSet(JsonSet {
            file: file.into(),
            pointer: pointer.into(),
            value: value.to_string(),
        })
    }
    pub fn json_remove(file: &str, pointer: &str) -> Edit {
        Edit::JsonRemove(JsonRemove {
            file: file.into(),
            pointer: pointer.into(),
        })
    }
    /// `value` is TOML value text: `"\"x\""`, `"true"`, `"8787"`.
    pub fn toml_set(file: &str, key: &[&str], value: &str) -> Edit {
        Edit::TomlSet(TomlSet {
            file: file.into(),
            key: key.iter().map(|s| s.to_string()).collect(),
            value: value.into(),
        })
    }
    pub fn toml_remove(file: &str, key: &[&str]) -> Edit {
        Edit::TomlRemove(TomlRemove {
            file: file.into(),
            key: key.iter().map(|s| s.to_string()).collect(),
        })
    }
    pub fn block_set(
        file: &str,
        id: &str,
        style: MarkerStyle,
        comment: &str,
        body: &str,
        placement: BlockPlacement,
    ) -> Edit {
        Edit::BlockSet(BlockSet {
            file: file.into(),
            id: id.into(),
            style,
            comment: comment.into(),
            body: body.into(),
            placement,
        })
    }
    pub fn block_remove(file: &str, id: &str, style: MarkerStyle, comment: &str) -> Edit {
        Edit::BlockRemove(BlockRemove {
            file: file.into(),
            id: id.into(),
            style,
            comment: comment.into(),
        })
    }
}

/// A host refusal or failure as the adapter error the user reads: `?` on any [`host`] call in an
/// [`Adapter`] method turns a denial into "not granted: read ~/.x" rather than a trap or a
/// debug dump.
impl From<HostError> for AdapterError {
    fn from(e: HostError) -> Self {
        AdapterError::Failed(match e {
            HostError::Denied(what) => format!("not granted: {what}"),
            HostError::NotFound => "not found".to_owned(),
            HostError::Invalid(why) => format!("unusable: {why}"),
            HostError::Io(why) => format!("I/O error: {why}"),
        })
    }
}

/// Reading the config files tools keep, the way every adapter must: absent is not an error, and a
/// file that cannot be edited safely is refused with its name and position before anything changes.
pub mod config {
    use super::{AdapterError, host};
    use serde_json::{Map, Value};

    /// A JSON file holding an object (always a `Value::Object`, so `.pointer()` works): `Ok(None)`
    /// when the file does not exist, an empty object when it is blank, and
    /// `AdapterError::InvalidConfig("<path>: invalid JSON at line L, column C")` (or "expected a
    /// JSON object") otherwise. Then check the keys you edit have the shape you expect.
    pub fn json_object(path: &str) -> Result<Option<Value>, AdapterError> {
        let Some(text) = host::read(path)? else {
            return Ok(None);
        };
        if text.trim().is_empty() {
            return Ok(Some(Value::Object(Map::new())));
        }
        match serde_json::from_str(&text) {
            Ok(v @ Value::Object(_)) => Ok(Some(v)),
            Ok(_) => Err(AdapterError::InvalidConfig(format!(
                "{path}: expected a JSON object"
            ))),
            Err(e) => Err(AdapterError::InvalidConfig(format!(
                "{path}: invalid JSON at line {}, column {}",
                e.line(),
                e.column()
            ))),
        }
    }
}

/// `${VAR:-default}`-style resolution the manifest uses, for adapters that honour an env var
/// (e.g. `CLAUDE_CONFIG_DIR`): the variable's value when set and non-empty, else `default`.
pub fn env_or(name: &str, default: &str) -> String {
    host::env(name)
        .ok()
        .flatten()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| default.to_owned())
}
