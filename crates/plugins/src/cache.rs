//! The compile cache: compiled components on disk (`~/.headroom/cache/`), keyed by the wasm's
//! sha256 and the engine's compatibility hash, so a warm CLI call deserializes (sub-millisecond)
//! instead of compiling (~0.5 s).

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use wasmtime::Engine;
use wasmtime::component::Component;

use crate::runtime::engine;

/// A short, stable hash of what makes compiled code loadable by this engine.
fn engine_key(engine: &Engine) -> String {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut h);
    format!("{:016x}", h.finish())
}

/// Compile a component, or load it from `cache_dir` (key: wasm sha256 + engine hash).
pub fn load_component(
    bytes: &[u8],
    sha256: &str,
    cache_dir: Option<&Path>,
) -> anyhow::Result<Component> {
    let engine = engine();
    let cached: Option<PathBuf> =
        cache_dir.map(|d| d.join(format!("{sha256}-{}.cwasm", engine_key(engine))));
    if let Some(path) = &cached
        && path.exists()
    {
        // SAFETY: the file is headroom's own compile output for exactly this engine
        // configuration (the key says so), in headroom's state directory.
        match unsafe { Component::deserialize_file(engine, path) } {
            Ok(c) => return Ok(c),
            Err(e) => tracing::debug!("stale compile cache {}: {e}", path.display()),
        }
    }
    let compiled = engine
        .precompile_component(bytes)
        .map_err(anyhow::Error::from)
        .context("compiling the adapter")?;
    if let Some(path) = &cached
        && let Err(e) = write_cache(path, &compiled)
    {
        // A cache that cannot be written only costs the next call a compile.
        tracing::debug!("writing the compile cache {}: {e}", path.display());
    }
    // SAFETY: produced just above by this engine.
    Ok(unsafe { Component::deserialize(engine, &compiled) }?)
}

/// Atomically, so a concurrent headroom never deserializes half a file.
fn write_cache(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().expect("cache file has a directory");
    headroom_core::fs::create_private_dir(dir)?;
    headroom_core::fs::write_atomic(path, bytes, 0o644)
}
