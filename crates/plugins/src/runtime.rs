//! The sandbox: one wasmtime engine, components compiled once (cached on disk), and per call a
//! fresh store with an empty WASI context, a memory cap, an epoch deadline and captured output.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use anyhow::{Context as _, anyhow};
use wasmtime::component::{Component, HasSelf, Linker, ResourceTable};
use wasmtime::{Config, Engine, Store, StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use crate::grants::{Grants, to_logical};
use crate::manifest::is_secret_env;

wasmtime::component::bindgen!({
    path: "../../wit/v0.1",
    world: "adapter-plugin",
});

pub use headroom::adapter::types as wit;

pub const CALL_DEADLINE: Duration = Duration::from_secs(2);
pub const MEMORY_LIMIT: usize = 64 << 20;
const TICK: Duration = Duration::from_millis(10);
const OUTPUT_LIMIT: usize = 64 << 10;
const LOG_LIMIT: usize = 100;

/// The process-wide engine, with a ticker thread driving epoch deadlines.
pub fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let mut config = Config::new();
        config.epoch_interruption(true);
        config.wasm_component_model(true);
        let engine = Engine::new(&config).expect("wasmtime engine configuration is valid");
        let ticker = engine.clone();
        std::thread::Builder::new()
            .name("headroom-epoch".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(TICK);
                    ticker.increment_epoch();
                }
            })
            .expect("spawn epoch ticker");
        engine
    })
}

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
    if let Some(path) = &cached {
        let _ = write_cache(path, &compiled);
    }
    // SAFETY: produced just above by this engine.
    Ok(unsafe { Component::deserialize(engine, &compiled) }?)
}

fn write_cache(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().expect("cache file has a directory");
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(".{}.tmp", std::process::id()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

/// Where a plugin's logical paths resolve, and what it may see.
#[derive(Clone)]
pub struct Sandbox {
    pub id: String,
    pub grants: Grants,
    pub home: PathBuf,
    pub system_root: PathBuf,
    pub env: Arc<crate::grants::EnvLookup>,
    pub path_env: Option<String>,
}

struct State {
    sandbox: Sandbox,
    wasi: WasiCtx,
    table: ResourceTable,
    limits: StoreLimits,
    logs: usize,
    denials: usize,
}

impl WasiView for State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

fn linker() -> anyhow::Result<Linker<State>> {
    let mut linker = Linker::new(engine());
    wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
    AdapterPlugin::add_to_linker::<State, HasSelf<State>>(&mut linker, |s| s)?;
    Ok(linker)
}

/// A running call: the instance plus its store. Dropped after one export call.
pub struct Call {
    store: Store<State>,
    plugin: AdapterPlugin,
    stdout: MemoryOutputPipe,
    stderr: MemoryOutputPipe,
}

/// Check a component's imports against what the host provides, without running anything.
pub fn check_imports(component: &Component) -> anyhow::Result<()> {
    let pre = linker()?.instantiate_pre(component)?;
    AdapterPluginPre::new(pre)?;
    Ok(())
}

impl Call {
    pub fn new(component: &Component, sandbox: Sandbox) -> anyhow::Result<Self> {
        let stdout = MemoryOutputPipe::new(OUTPUT_LIMIT);
        let stderr = MemoryOutputPipe::new(OUTPUT_LIMIT);
        // No preopens, no env, no args, no sockets: std::fs inside the guest finds nothing.
        let wasi = WasiCtxBuilder::new()
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .build();
        let state = State {
            sandbox,
            wasi,
            table: ResourceTable::new(),
            limits: StoreLimitsBuilder::new()
                .memory_size(MEMORY_LIMIT)
                .trap_on_grow_failure(true)
                .build(),
            logs: 0,
            denials: 0,
        };
        let mut store = Store::new(engine(), state);
        store.limiter(|s| &mut s.limits);
        store.set_epoch_deadline(deadline_ticks());
        let pre = AdapterPluginPre::new(linker()?.instantiate_pre(component)?)?;
        let plugin = pre
            .instantiate(&mut store)
            .map_err(|e| explain(e, "starting"))?;
        Ok(Self {
            store,
            plugin,
            stdout,
            stderr,
        })
    }

    fn finish<T>(&mut self, what: &str, r: wasmtime::Result<T>) -> anyhow::Result<T> {
        for (name, pipe) in [("stdout", &self.stdout), ("stderr", &self.stderr)] {
            let out = pipe.contents();
            if !out.is_empty() {
                tracing::debug!(
                    plugin = %self.store.data().sandbox.id,
                    "{name}: {}",
                    sanitize(&String::from_utf8_lossy(&out[..out.len().min(4096)]))
                );
            }
        }
        r.map_err(|e| explain(e, what))
    }

    pub fn detect(&mut self) -> anyhow::Result<Result<wit::Detection, wit::AdapterError>> {
        self.store.set_epoch_deadline(deadline_ticks());
        let r = self
            .plugin
            .headroom_adapter_adapter()
            .call_detect(&mut self.store);
        self.finish("detect", r)
    }

    pub fn status(
        &mut self,
        ctx: &wit::Context,
    ) -> anyhow::Result<Result<wit::RouteStatus, wit::AdapterError>> {
        self.store.set_epoch_deadline(deadline_ticks());
        let r = self
            .plugin
            .headroom_adapter_adapter()
            .call_status(&mut self.store, ctx);
        self.finish("status", r)
    }

    pub fn apply(
        &mut self,
        ctx: &wit::Context,
    ) -> anyhow::Result<Result<wit::Plan, wit::AdapterError>> {
        self.store.set_epoch_deadline(deadline_ticks());
        let r = self
            .plugin
            .headroom_adapter_adapter()
            .call_apply(&mut self.store, ctx);
        self.finish("apply", r)
    }

    pub fn revert(
        &mut self,
        ctx: &wit::Context,
    ) -> anyhow::Result<Result<wit::Plan, wit::AdapterError>> {
        self.store.set_epoch_deadline(deadline_ticks());
        let r = self
            .plugin
            .headroom_adapter_adapter()
            .call_revert(&mut self.store, ctx);
        self.finish("revert", r)
    }

    /// How many host calls were denied during this call.
    pub fn denials(&self) -> usize {
        self.store.data().denials
    }
}

fn deadline_ticks() -> u64 {
    (CALL_DEADLINE.as_millis() / TICK.as_millis()) as u64
}

/// A trap as one line a user understands.
fn explain(e: wasmtime::Error, what: &str) -> anyhow::Error {
    if let Some(trap) = e.downcast_ref::<wasmtime::Trap>() {
        let why = match trap {
            wasmtime::Trap::Interrupt => {
                format!("exceeded its {} s time limit", CALL_DEADLINE.as_secs())
            }
            wasmtime::Trap::UnreachableCodeReached => "crashed (panicked)".to_owned(),
            other => format!("crashed ({other})"),
        };
        return anyhow!("{what}: {why}");
    }
    let text = format!("{e:#}");
    if text.contains("memory") && (text.contains("grow") || text.contains("limit")) {
        return anyhow!(
            "{what}: exceeded its {} MiB memory limit",
            MEMORY_LIMIT >> 20
        );
    }
    anyhow!("{what}: {}", sanitize(&text))
}

/// Plugin-supplied text on one bounded line, without control characters.
pub fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(500)
        .collect()
}

impl State {
    fn deny(&mut self, what: String) -> wit::HostError {
        self.denials += 1;
        tracing::info!(plugin = %self.sandbox.id, "denied: {}", sanitize(&what));
        wit::HostError::Denied(what)
    }

    /// A guest path → (logical path, root directory, relative path inside it), if granted.
    fn resolve(&mut self, path: &str) -> Result<(String, PathBuf, PathBuf), wit::HostError> {
        let home = self.sandbox.home.to_string_lossy().into_owned();
        let logical = to_logical(path, &home);
        if !self.sandbox.grants.may_read(&logical) {
            return Err(self.deny(format!("read {logical}")));
        }
        let (root, rel) = if logical == "~" {
            (self.sandbox.home.clone(), PathBuf::from("."))
        } else if let Some(rest) = logical.strip_prefix("~/") {
            (self.sandbox.home.clone(), PathBuf::from(rest))
        } else if let Some(rest) = logical.strip_prefix('/') {
            (self.sandbox.system_root.clone(), PathBuf::from(rest))
        } else {
            return Err(self.deny(format!("read {logical} (not an absolute or ~/ path)")));
        };
        Ok((logical, root, rel))
    }

    /// Open the root as a capability: `..` and symlinks that leave it are refused by cap-std.
    fn dir(&mut self, root: &Path) -> Result<cap_std::fs::Dir, wit::HostError> {
        cap_std::fs::Dir::open_ambient_dir(root, cap_std::ambient_authority())
            .map_err(|e| wit::HostError::Io(e.to_string()))
    }

    fn io_error(&mut self, logical: &str, e: std::io::Error) -> wit::HostError {
        match e.kind() {
            std::io::ErrorKind::NotFound => wit::HostError::NotFound,
            std::io::ErrorKind::PermissionDenied => {
                self.deny(format!("read {logical} (outside the granted directory)"))
            }
            _ => wit::HostError::Io(format!("{logical}: {e}")),
        }
    }
}

const MAX_READ: u64 = 8 << 20;

impl headroom::adapter::types::Host for State {}

impl headroom::adapter::fs::Host for State {
    fn read_text(&mut self, path: String) -> Result<String, wit::HostError> {
        let (logical, root, rel) = self.resolve(&path)?;
        let dir = self.dir(&root)?;
        let meta = dir.metadata(&rel).map_err(|e| self.io_error(&logical, e))?;
        if meta.is_dir() {
            return Err(wit::HostError::Invalid(format!("{logical} is a directory")));
        }
        if meta.len() > MAX_READ {
            return Err(wit::HostError::Invalid(format!(
                "{logical} is larger than 8 MiB"
            )));
        }
        let bytes = dir.read(&rel).map_err(|e| self.io_error(&logical, e))?;
        String::from_utf8(bytes)
            .map_err(|_| wit::HostError::Invalid(format!("{logical} is not UTF-8")))
    }

    fn exists(&mut self, path: String) -> Result<bool, wit::HostError> {
        let (logical, root, rel) = self.resolve(&path)?;
        let dir = self.dir(&root)?;
        match dir.metadata(&rel) {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(self.io_error(&logical, e)),
        }
    }

    fn list_dir(&mut self, path: String) -> Result<Vec<String>, wit::HostError> {
        let (logical, root, rel) = self.resolve(&path)?;
        let dir = self.dir(&root)?;
        let entries = dir.read_dir(&rel).map_err(|e| self.io_error(&logical, e))?;
        let mut names: Vec<String> = entries
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names.truncate(10_000);
        Ok(names)
    }
}

impl headroom::adapter::env::Host for State {
    fn get(&mut self, name: String) -> Result<Option<String>, wit::HostError> {
        if is_secret_env(&name) || !self.sandbox.grants.env.contains(&name) {
            return Err(self.deny(format!("read env {name}")));
        }
        Ok((self.sandbox.env)(&name))
    }
}

impl headroom::adapter::which::Host for State {
    fn find(&mut self, name: String) -> Result<Option<String>, wit::HostError> {
        if !self.sandbox.grants.which.contains(&name) || name.contains('/') {
            return Err(self.deny(format!("locate {name}")));
        }
        let path = self.sandbox.path_env.clone().unwrap_or_default();
        Ok(std::env::split_paths(&path)
            .map(|d| d.join(&name))
            .find(|p| is_executable(p))
            .map(|p| p.to_string_lossy().into_owned()))
    }
}

#[cfg(unix)]
fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn is_executable(p: &Path) -> bool {
    p.is_file()
}

impl headroom::adapter::log::Host for State {
    fn log(&mut self, level: headroom::adapter::log::Level, message: String) {
        self.logs += 1;
        if self.logs > LOG_LIMIT {
            return;
        }
        let id = self.sandbox.id.clone();
        let msg = sanitize(&message);
        use headroom::adapter::log::Level;
        match level {
            Level::Debug => tracing::debug!(plugin = %id, "{msg}"),
            Level::Info => tracing::info!(plugin = %id, "{msg}"),
            Level::Warn => tracing::warn!(plugin = %id, "{msg}"),
            Level::Error => tracing::error!(plugin = %id, "{msg}"),
        }
    }
}
