//! headroom-plugins: provider adapters as sandboxed WebAssembly components.
//!
//! * [`manifest`]: the embedded `adapter.toml`, read and checked before anything runs.
//! * [`grants`]: capabilities made concrete (`${VAR:-default}`, logical paths, the deny-list).
//! * [`runtime`]: the wasmtime engine, compile cache, per-call limits and host imports.
//! * [`host`]: [`AdapterHost`], the API the CLI and `install` use.
//! * [`builtin`]: the adapters compiled into this binary.

pub mod builtin;
pub mod grants;
pub mod host;
pub mod manifest;
pub mod runtime;

pub use host::{AdapterContext, AdapterHost, EntryStatus, HostOptions, PluginEntry, Scope, Source};
pub use manifest::{HOST_API, Manifest, inspect};
