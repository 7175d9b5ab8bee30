//! The headroom adapter SDK: implement [`Adapter`], describe your plugin in `adapter.toml`, and
//! call [`export_adapter!`]. The adapter computes; headroom validates, shows, writes and reverts.
//!
//! ```ignore
//! struct Mine;
//! impl headroom_adapter_sdk::Adapter for Mine { /* detect, status, apply (and routing) */ }
//! headroom_adapter_sdk::export_adapter!(Mine, "adapter.toml");
//! ```

#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../../wit/v0.3",
        world: "adapter-plugin",
        pub_export_macro: true,
        export_macro_name: "__export_adapter_plugin",
        default_bindings_module: "headroom_adapter_sdk::bindings",
    });
}

pub use bindings::exports::headroom::adapter::adapter::Guest as GuestAdapter;
pub use bindings::headroom::adapter::facts::LoginKind;
pub use bindings::headroom::adapter::types::{
    AdapterError, BlockPlacement, Context, Detection, Edit, HostError, MarkerStyle, Plan, Route,
    RouteSource, RouteStatus as Status, Scope,
};

/// The WIT package version this SDK was built against (the host checks it is in its range).
pub const API_VERSION: &str = "0.3.0";

/// What an adapter does. Every method may read only what its manifest's capabilities grant.
/// (There is no `revert`: headroom reverts from its journal, byte for byte, even after the
/// adapter is gone.)
pub trait Adapter {
    fn detect() -> Result<Detection, AdapterError>;
    fn status(ctx: Context) -> Result<Status, AdapterError>;
    /// Where each tool of `ctx.targets` that this adapter knows sends its requests now, resolved
    /// with the tool's own precedence (see [`route`]). The default reports nothing: headroom then
    /// derives each target's routing from [`Adapter::status`] (routed or not, nothing more).
    fn routing(ctx: Context) -> Result<Vec<Route>, AdapterError> {
        let _ = ctx;
        Ok(vec![])
    }
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
            fn routing(
                ctx: $crate::Context,
            ) -> Result<Vec<$crate::Route>, $crate::AdapterError> {
                <$ty as $crate::Adapter>::routing(ctx)
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
    use super::{AdapterError, HostError, LoginKind};

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
    /// What a new login shell of the user's `$SHELL` exports as `name` (what a tool started from
    /// a new terminal sees), under the same rules as [`env()`]: declare the name in
    /// `[capabilities] env`. A shell that does not answer within headroom's bound is an error
    /// naming the variable.
    pub fn login_env(name: &str) -> Result<Option<String>, AdapterError> {
        env::login_get(name).map_err(|e| match AdapterError::from(e) {
            AdapterError::Failed(why) => {
                AdapterError::Failed(format!("{name} of a new login shell: {why}"))
            }
            other => other,
        })
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

/// Building the routes [`Adapter::routing`] returns, and the URL comparisons adapters share.
/// Headroom decides "routed" itself (by comparing a route's `url` with the proxy's); an adapter
/// only needs these to word its notes and to choose which of several settings to report.
pub mod route {
    use super::{Context, Route, RouteSource};

    /// Notes several adapters give, spelled once.
    pub mod notes {
        /// What Claude Code offers only against its own API (claude, and shell-env for claude).
        pub const CLAUDE_AI_ONLY: &str = "Claude Code's Remote Control (and other claude.ai-only features) are not available behind a custom ANTHROPIC_BASE_URL";
        /// A variable a new login shell exports, which this process (and every program already
        /// running) does not have.
        pub const LATER_ONLY: &str = "only shells and programs started after the install see it";
    }

    /// Whether the host asked about `target` (a route for another target is dropped anyway).
    pub fn wanted(ctx: &Context, target: &str) -> bool {
        ctx.targets.iter().any(|t| t == target)
    }

    /// A setting in one of the tool's config files decides; `via` names the file and key.
    pub fn config(target: &str, url: &str, via: impl Into<String>) -> Route {
        make(target, Some(url), RouteSource::Config, via.into())
    }

    /// An environment variable decides; `via` names it and where it was read.
    pub fn environment(target: &str, url: &str, via: impl Into<String>) -> Route {
        make(target, Some(url), RouteSource::Environment, via.into())
    }

    /// Nothing is set: the tool uses its built-in endpoint; `via` says which, or what is unset.
    pub fn default(target: &str, via: impl Into<String>) -> Route {
        make(target, None, RouteSource::Default, via.into())
    }

    fn make(target: &str, url: Option<&str>, source: RouteSource, via: String) -> Route {
        Route {
            target: target.to_owned(),
            url: url.map(str::to_owned),
            source,
            via,
            notes: vec![],
        }
    }

    /// A setting's value as tools read it: surrounding whitespace ignored, and an empty value
    /// means unset (the tool falls back to its default).
    pub fn set(value: Option<String>) -> Option<String> {
        value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
    }

    /// `url` with its scheme and host lower-cased and trailing slashes removed (the path's case
    /// is kept: servers may distinguish it).
    pub fn normalize(url: &str) -> String {
        let url = url.trim().trim_end_matches('/');
        let (scheme, rest) = match url.split_once("://") {
            Some((s, r)) => (Some(s), r),
            None => (None, url),
        };
        let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        match scheme {
            Some(s) => format!(
                "{}://{}{path}",
                s.to_ascii_lowercase(),
                host.to_ascii_lowercase()
            ),
            None => format!("{}{path}", host.to_ascii_lowercase()),
        }
    }

    /// The same endpoint, up to case of scheme and host and trailing slashes.
    pub fn same_url(a: &str, b: &str) -> bool {
        normalize(a) == normalize(b)
    }

    /// Whether `url` points at the proxy `proxy_url` (an origin, e.g. "http://127.0.0.1:8787"):
    /// the way headroom judges a route, a trailing `/v1` is ignored (OpenAI-style clients add it).
    pub fn points_at(url: &str, proxy_url: &str) -> bool {
        let u = normalize(url);
        let u = u.strip_suffix("/v1").unwrap_or(&u);
        let p = normalize(proxy_url);
        u == p.strip_suffix("/v1").unwrap_or(&p)
    }
}

#[cfg(test)]
mod tests {
    use super::route::{normalize, points_at, same_url, set};

    #[test]
    fn urls_compare_by_scheme_and_host_case_and_trailing_slashes() {
        assert_eq!(
            normalize(" HTTPS://Api.Anthropic.COM/ "),
            "https://api.anthropic.com"
        );
        assert_eq!(normalize("http://H:1/A/b//"), "http://h:1/A/b");
        assert!(same_url(
            "https://api.anthropic.com/",
            "https://API.anthropic.com"
        ));
        assert!(!same_url(
            "https://api.anthropic.com/v1",
            "https://api.anthropic.com"
        ));
        assert!(!same_url("http://h/A", "http://h/a"));
    }

    #[test]
    fn a_route_points_at_the_proxy_with_or_without_v1() {
        let proxy = "http://127.0.0.1:8787";
        for yes in [
            "http://127.0.0.1:8787",
            "http://127.0.0.1:8787/",
            "http://127.0.0.1:8787/v1",
            "HTTP://127.0.0.1:8787/v1/",
        ] {
            assert!(points_at(yes, proxy), "{yes}");
        }
        for no in [
            "http://127.0.0.1:8788",
            "https://127.0.0.1:8787",
            "http://127.0.0.1:8787/v2",
            "http://127.0.0.1:8787/anthropic",
            "https://api.anthropic.com",
        ] {
            assert!(!points_at(no, proxy), "{no}");
        }
    }

    #[test]
    fn empty_values_are_unset() {
        assert_eq!(set(None), None);
        assert_eq!(set(Some("  ".into())), None);
        assert_eq!(set(Some(" http://x ".into())).as_deref(), Some("http://x"));
    }
}
