//! The sandbox: one wasmtime engine, and per call a fresh store with an empty WASI context, a
//! memory cap, an epoch deadline and captured output. Host imports are answered here, each
//! after asking the call's [`Policy`]; the WIT bindings and every conversion at the boundary
//! live in [`crate::wit`], one module per adapter API version.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use anyhow::anyhow;
use headroom_edits::Plan;
use wasmtime::component::{Component, ResourceTable};
use wasmtime::{Config, Engine, ResourceLimiter, Store, StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use crate::grants::to_logical;
use crate::host::{AdapterContext, AdapterError, Detection, RouteStatus};
use crate::policy::Policy;
use crate::wit::v0_1;

pub const CALL_DEADLINE: Duration = Duration::from_secs(2);
pub const MEMORY_LIMIT: usize = 64 << 20;
const TICK: Duration = Duration::from_millis(10);
const OUTPUT_LIMIT: usize = 64 << 10;
const LOG_LIMIT: usize = 100;
const MAX_READ: u64 = 8 << 20;

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

/// Where a plugin's logical paths resolve, and the policy that says what it may see.
#[derive(Clone)]
pub struct Sandbox {
    pub id: String,
    pub policy: Policy,
    pub home: PathBuf,
    pub system_root: PathBuf,
    pub path_env: Option<String>,
}

/// Why a host import refused or failed, whatever the API version (each version's `host-error`
/// is made from it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostError {
    /// Outside the plugin's grants (the string says what was asked).
    Denied(String),
    NotFound,
    Invalid(String),
    Io(String),
}

/// A log line's level, whatever the API version.
#[derive(Debug, Clone, Copy)]
pub enum LogLevel {
    Debug,
    Info,
    Warn,
    Error,
}

/// The store's resource limits, remembering whether a memory growth was refused, so a trap
/// can be explained without reading its message.
struct Limiter {
    limits: StoreLimits,
    memory_refused: bool,
}

impl ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let r = self.limits.memory_growing(current, desired, maximum);
        if !matches!(r, Ok(true)) {
            self.memory_refused = true;
        }
        r
    }

    fn memory_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        self.memory_refused = true;
        self.limits.memory_grow_failed(error)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.limits.table_growing(current, desired, maximum)
    }

    fn table_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        self.limits.table_grow_failed(error)
    }

    fn instances(&self) -> usize {
        self.limits.instances()
    }

    fn tables(&self) -> usize {
        self.limits.tables()
    }

    fn memories(&self) -> usize {
        self.limits.memories()
    }
}

/// One call's store data.
pub(crate) struct State {
    sandbox: Sandbox,
    wasi: WasiCtx,
    table: ResourceTable,
    limiter: Limiter,
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

/// A running call: the instance plus its store. Dropped after one export call.
pub struct Call {
    store: Store<State>,
    adapter: v0_1::Adapter,
    stdout: MemoryOutputPipe,
    stderr: MemoryOutputPipe,
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
            limiter: Limiter {
                limits: StoreLimitsBuilder::new()
                    .memory_size(MEMORY_LIMIT)
                    .trap_on_grow_failure(true)
                    .build(),
                memory_refused: false,
            },
            logs: 0,
            denials: 0,
        };
        let mut store = Store::new(engine(), state);
        store.limiter(|s| &mut s.limiter);
        store.set_epoch_deadline(deadline_ticks());
        let pre = v0_1::AdapterPre::new(component)?;
        let adapter = match pre.instantiate(&mut store) {
            Ok(a) => a,
            Err(e) => {
                let memory = store.data().limiter.memory_refused;
                return Err(explain(e, "starting", memory));
            }
        };
        Ok(Self {
            store,
            adapter,
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
        let memory = self.store.data().limiter.memory_refused;
        r.map_err(|e| explain(e, what, memory))
    }

    /// The outer error is the sandbox's (a trap, the deadline); the inner one the adapter's.
    pub fn detect(&mut self) -> anyhow::Result<Result<Detection, AdapterError>> {
        self.store.set_epoch_deadline(deadline_ticks());
        let r = self.adapter.detect(&mut self.store);
        self.finish("detect", r)
    }

    pub fn status(
        &mut self,
        ctx: &AdapterContext,
    ) -> anyhow::Result<Result<RouteStatus, AdapterError>> {
        self.store.set_epoch_deadline(deadline_ticks());
        let r = self.adapter.status(&mut self.store, ctx);
        self.finish("status", r)
    }

    /// The adapter's plan, its paths made logical, not yet authorized.
    pub fn apply(&mut self, ctx: &AdapterContext) -> anyhow::Result<Result<Plan, AdapterError>> {
        self.store.set_epoch_deadline(deadline_ticks());
        let r = self.adapter.apply(&mut self.store, ctx);
        self.finish("apply", r)
    }

    /// How many host calls were denied during this call.
    pub fn denials(&self) -> usize {
        self.store.data().denials
    }
}

fn deadline_ticks() -> u64 {
    (CALL_DEADLINE.as_millis() / TICK.as_millis()) as u64
}

/// A trap as one line a user understands. `memory_refused`: the limiter refused a growth.
fn explain(e: wasmtime::Error, what: &str, memory_refused: bool) -> anyhow::Error {
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
    if memory_refused {
        return anyhow!(
            "{what}: exceeded its {} MiB memory limit",
            MEMORY_LIMIT >> 20
        );
    }
    anyhow!("{what}: {}", sanitize(&format!("{e:#}")))
}

/// Plugin-supplied text on one bounded line, without control characters.
pub fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(500)
        .collect()
}

/// The host imports, independent of the API version that carries them.
impl State {
    pub(crate) fn id(&self) -> &str {
        &self.sandbox.id
    }

    pub(crate) fn home(&self) -> &Path {
        &self.sandbox.home
    }

    fn deny(&mut self, what: String) -> HostError {
        self.denials += 1;
        tracing::info!(plugin = %self.sandbox.id, "denied: {}", sanitize(&what));
        HostError::Denied(what)
    }

    /// A guest path → (logical path, root directory, relative path inside it), if granted.
    fn resolve(&mut self, path: &str) -> Result<(String, PathBuf, PathBuf), HostError> {
        let home = self.sandbox.home.to_string_lossy().into_owned();
        let logical = to_logical(path, &home);
        if !self.sandbox.policy.may_read(&logical) {
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
    fn dir(&mut self, root: &Path) -> Result<cap_std::fs::Dir, HostError> {
        cap_std::fs::Dir::open_ambient_dir(root, cap_std::ambient_authority())
            .map_err(|e| HostError::Io(e.to_string()))
    }

    fn io_error(&mut self, logical: &str, e: std::io::Error) -> HostError {
        match e.kind() {
            std::io::ErrorKind::NotFound => HostError::NotFound,
            std::io::ErrorKind::PermissionDenied => {
                self.deny(format!("read {logical} (outside the granted directory)"))
            }
            _ => HostError::Io(format!("{logical}: {e}")),
        }
    }

    pub(crate) fn fs_read_text(&mut self, path: &str) -> Result<String, HostError> {
        let (logical, root, rel) = self.resolve(path)?;
        let dir = self.dir(&root)?;
        let meta = dir.metadata(&rel).map_err(|e| self.io_error(&logical, e))?;
        if meta.is_dir() {
            return Err(HostError::Invalid(format!("{logical} is a directory")));
        }
        if meta.len() > MAX_READ {
            return Err(HostError::Invalid(format!(
                "{logical} is larger than 8 MiB"
            )));
        }
        let bytes = dir.read(&rel).map_err(|e| self.io_error(&logical, e))?;
        String::from_utf8(bytes).map_err(|_| HostError::Invalid(format!("{logical} is not UTF-8")))
    }

    pub(crate) fn fs_exists(&mut self, path: &str) -> Result<bool, HostError> {
        let (logical, root, rel) = self.resolve(path)?;
        let dir = self.dir(&root)?;
        match dir.metadata(&rel) {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(self.io_error(&logical, e)),
        }
    }

    pub(crate) fn fs_list_dir(&mut self, path: &str) -> Result<Vec<String>, HostError> {
        let (logical, root, rel) = self.resolve(path)?;
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

    pub(crate) fn env_get(&mut self, name: &str) -> Result<Option<String>, HostError> {
        if !self.sandbox.policy.may_read_env(name) {
            return Err(self.deny(format!("read env {name}")));
        }
        Ok(self.sandbox.policy.env_value(name))
    }

    pub(crate) fn which_find(&mut self, name: &str) -> Result<Option<String>, HostError> {
        if !self.sandbox.policy.may_locate(name) {
            return Err(self.deny(format!("locate {name}")));
        }
        let path = self.sandbox.path_env.clone().unwrap_or_default();
        Ok(headroom_core::which::find_in(name, path.as_ref())
            .map(|p| p.to_string_lossy().into_owned()))
    }

    pub(crate) fn log(&mut self, level: LogLevel, message: &str) {
        self.logs += 1;
        if self.logs > LOG_LIMIT {
            return;
        }
        let id = &self.sandbox.id;
        let msg = sanitize(message);
        match level {
            LogLevel::Debug => tracing::debug!(plugin = %id, "{msg}"),
            LogLevel::Info => tracing::info!(plugin = %id, "{msg}"),
            LogLevel::Warn => tracing::warn!(plugin = %id, "{msg}"),
            LogLevel::Error => tracing::error!(plugin = %id, "{msg}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_growth_is_remembered_and_explained_as_the_memory_limit() {
        let mut l = Limiter {
            limits: StoreLimitsBuilder::new()
                .memory_size(MEMORY_LIMIT)
                .trap_on_grow_failure(true)
                .build(),
            memory_refused: false,
        };
        assert!(l.memory_growing(0, MEMORY_LIMIT, None).unwrap());
        assert!(!l.memory_refused);
        assert!(l.memory_growing(0, MEMORY_LIMIT + 1, None).is_err());
        assert!(l.memory_refused);

        // Branching on the flag, not on what the error says.
        let e = || wasmtime::Error::msg("a memory grow limit was hit");
        assert_eq!(
            explain(e(), "detect", true).to_string(),
            "detect: exceeded its 64 MiB memory limit"
        );
        assert_eq!(
            explain(e(), "detect", false).to_string(),
            "detect: a memory grow limit was hit"
        );
        assert_eq!(
            explain(wasmtime::Trap::Interrupt.into(), "apply", true).to_string(),
            "apply: exceeded its 2 s time limit"
        );
    }
}
