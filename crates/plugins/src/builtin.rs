//! The built-in adapters, compiled from `plugins/` by build.rs and embedded in the binary.

include!(concat!(env!("OUT_DIR"), "/builtins.rs"));

/// Test fixtures (hostile and edge-case adapters), built beside the built-ins but not embedded.
pub const FIXTURES_DIR: &str = env!("HEADROOM_FIXTURES_DIR");
