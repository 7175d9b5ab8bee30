//! headroom-plugins: provider adapters as sandboxed WebAssembly components.
//!
//! * [`manifest`]: the embedded `adapter.toml`, read and checked before anything runs.
//! * [`consent`]: what the user approved for an installed plugin, bound to its sha256.
//! * [`store`]: installed plugins on disk, and the checks before one is installed.
//! * [`grants`]: capabilities made concrete (`${VAR:-default}`, logical paths, the deny-list).
//! * [`runtime`]: the wasmtime engine, compile cache, per-call limits and host imports.
//! * [`host`]: [`AdapterHost`], the API the CLI and `install` use.
//! * [`builtin`]: the adapters compiled into this binary.

pub mod builtin;
pub mod consent;
pub mod grants;
pub mod host;
pub mod manifest;
pub mod runtime;
pub mod store;

pub use host::{
    AdapterContext, AdapterHost, CapabilityView, EntryStatus, HostOptions, PluginEntry, Scope,
    Source,
};
pub use manifest::{HOST_API, Manifest, inspect};
