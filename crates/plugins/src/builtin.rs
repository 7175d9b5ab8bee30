//! The built-in adapters, compiled from `plugins/` by build.rs and embedded in the binary.

include!(concat!(env!("OUT_DIR"), "/builtins.rs"));

/// Where the guest build put its artifacts: the built-ins' `.wasm` files and, in debug-profile
/// builds (or with `HEADROOM_BUILD_FIXTURES=1`), the test fixtures (hostile and edge-case
/// adapters), which are never embedded.
pub const FIXTURES_DIR: &str = env!("HEADROOM_FIXTURES_DIR");
