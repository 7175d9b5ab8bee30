//! headroom-plugins: provider adapters as sandboxed WebAssembly components.
//!
//! * [`manifest`]: the embedded `adapter.toml`, read and checked before anything runs.
//! * [`consent`]: what the user approved for an installed plugin, bound to its sha256.
//! * [`policy`]: [`Policy`], the one place capabilities are decided (grants, consent, the
//!   deny-list); it answers every host import and authorizes every plan.
//! * [`store`]: installed plugins on disk.
//! * [`candidate`]: the check before one is installed, and what its consent screen shows.
//! * [`facts`]: what the host answers about credentials so adapters never read them.
//! * [`grants`]: capability paths made concrete (`${VAR:-default}`, logical paths).
//! * [`login`]: what a new login shell of the user's shell exports (`env.login-get`).
//! * [`runtime`]: the wasmtime engine, per-call limits, the host imports.
//! * [`cache`]: compiled components on disk.
//! * [`wit`]: the adapter API, one module per version: bindings and conversions.
//! * [`host`]: [`AdapterHost`], the API the CLI and `install` use.
//! * [`builtin`]: the adapters compiled into this binary.

pub mod builtin;
pub mod cache;
pub mod candidate;
pub mod consent;
pub mod facts;
pub mod grants;
pub mod host;
pub mod login;
pub mod manifest;
pub mod policy;
pub mod runtime;
pub mod store;
pub mod wit;

pub use host::{
    AdapterContext, AdapterError, AdapterHost, Detection, EntryStatus, HostOptions, PluginEntry,
    Route, RouteSource, RouteStatus, Scope, Source,
};
pub use manifest::{HOST_API, Manifest, inspect};
pub use policy::{CapabilityView, Policy};
