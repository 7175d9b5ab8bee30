//! The sandbox: one wasmtime engine, and per call a fresh store with an empty WASI context, a
//! memory cap, an epoch deadline and captured output. Host imports are answered here, each
//! after asking the call's [`Policy`]; the WIT bindings and every conversion at the boundary
//! live in [`crate::wit`], one module per adapter API version.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use anyhow::anyhow;
use headroom_edits::Plan;
use wasmtime::component::{Component, Linker, Resource, ResourceTable};
use wasmtime::{Config, Engine, ResourceLimiter, Store, StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::p2::{DynPollable, Pollable};
use wasmtime_wasi::{HostMonotonicClock, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use crate::grants::to_logical;
use crate::host::{AdapterContext, AdapterError, Detection, Route, RouteStatus};
use crate::login::LoginEnv;
use crate::policy::Policy;
use crate::wit::{self, Api};

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

/// The WASI interface whose subscriptions are the guest's only way to block (no sockets, no
/// preopens, an empty stdin): its `subscribe-*` functions are replaced by [`add_wasi`]. It must
/// be the version `wasmtime_wasi` links (the hostile `sleep` tests fail otherwise).
const MONOTONIC_CLOCK: &str = "wasi:clocks/monotonic-clock@0.2.12";

/// The call's wall-clock deadline passed, or would pass while the guest waits (a trap; a typed
/// error so it is explained without reading its message).
#[derive(Debug, thiserror::Error)]
#[error("the call's time limit passed")]
pub struct TimeLimit;

/// WASI p2 for a guest (whatever its adapter API version), with every way to block bounded by the
/// call's wall-clock deadline: a clock subscription that would wake after it traps at once
/// ([`TimeLimit`]), an earlier one sleeps for real. The epoch deadline keeps ticking while a host
/// call blocks, so the guest traps at its next instruction once the deadline has passed.
pub(crate) fn add_wasi(linker: &mut Linker<State>) -> anyhow::Result<()> {
    wasmtime_wasi::p2::add_to_linker_sync(linker)?;
    linker.allow_shadowing(true);
    let mut clock = linker.instance(MONOTONIC_CLOCK)?;
    clock.func_wrap(
        "subscribe-duration",
        |mut store: wasmtime::StoreContextMut<'_, State>, (nanos,): (u64,)| {
            let wake = Instant::now().checked_add(Duration::from_nanos(nanos));
            Ok((store.data_mut().sleep_until(wake)?,))
        },
    )?;
    clock.func_wrap(
        "subscribe-instant",
        |mut store: wasmtime::StoreContextMut<'_, State>, (when,): (u64,)| {
            let state = store.data_mut();
            let wake = state.clock_start.checked_add(Duration::from_nanos(when));
            Ok((state.sleep_until(wake)?,))
        },
    )?;
    linker.allow_shadowing(false);
    Ok(())
}

/// The guest's monotonic clock: nanoseconds since its call began (what `subscribe-instant`
/// is measured against).
struct Clock(Instant);

impl HostMonotonicClock for Clock {
    fn resolution(&self) -> u64 {
        1
    }

    fn now(&self) -> u64 {
        self.0.elapsed().as_nanos().try_into().unwrap_or(u64::MAX)
    }
}

/// A clock subscription that wakes before the call's deadline.
struct Sleep(Instant);

#[wasmtime_wasi::async_trait]
impl Pollable for Sleep {
    async fn ready(&mut self) {
        // Bounded by the call's deadline (see `State::sleep_until`); nothing else runs on this
        // thread while the guest waits.
        let left = self.0.saturating_duration_since(Instant::now());
        if !left.is_zero() {
            std::thread::sleep(left);
        }
    }
}

/// Where a plugin's logical paths resolve, and the policy that says what it may see.
#[derive(Clone)]
pub struct Sandbox {
    pub id: String,
    pub policy: Policy,
    pub home: PathBuf,
    pub system_root: PathBuf,
    pub path_env: Option<String>,
    /// What a new login shell exports (`env.login-get`): computed once per host.
    pub login: Arc<LoginEnv>,
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
    /// When the guest's monotonic clock started.
    clock_start: Instant,
    /// The current export call's wall-clock deadline.
    deadline: Instant,
    /// Time the guest spent waiting for the host's login shell (`env.login-get`), not yet
    /// given back to its epoch deadline: that wait is the host's, not the guest's.
    credit: Duration,
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
    adapter: wit::Adapter,
    stdout: MemoryOutputPipe,
    stderr: MemoryOutputPipe,
}

impl Call {
    /// `component` served as adapter API `api` (its manifest's).
    pub fn new(component: &Component, api: Api, sandbox: Sandbox) -> anyhow::Result<Self> {
        let stdout = MemoryOutputPipe::new(OUTPUT_LIMIT);
        let stderr = MemoryOutputPipe::new(OUTPUT_LIMIT);
        // No preopens, no env, no args, no sockets: std::fs inside the guest finds nothing.
        let clock_start = Instant::now();
        let wasi = WasiCtxBuilder::new()
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .monotonic_clock(Clock(clock_start))
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
            clock_start,
            deadline: clock_start + CALL_DEADLINE,
            credit: Duration::ZERO,
        };
        let mut store = Store::new(engine(), state);
        store.limiter(|s| &mut s.limiter);
        store.set_epoch_deadline(deadline_ticks());
        // At the deadline, the time the host kept the guest waiting is added once; then it traps.
        store.epoch_deadline_callback(|mut store| {
            let credit = std::mem::take(&mut store.data_mut().credit);
            if credit.is_zero() {
                return Ok(wasmtime::UpdateDeadline::Interrupt);
            }
            Ok(wasmtime::UpdateDeadline::Continue(
                (credit.as_millis() / TICK.as_millis()) as u64 + 1,
            ))
        });
        let pre = wit::AdapterPre::new(api, component)?;
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
        self.start_deadline();
        let r = self.adapter.detect(&mut self.store);
        self.finish("detect", r)
    }

    pub fn status(
        &mut self,
        ctx: &AdapterContext,
    ) -> anyhow::Result<Result<RouteStatus, AdapterError>> {
        self.start_deadline();
        let r = self.adapter.status(&mut self.store, ctx);
        self.finish("status", r)
    }

    /// Where each tool sends its requests, as the adapter reports it (API 0.3 on; nothing for
    /// older ones).
    pub fn routing(
        &mut self,
        ctx: &AdapterContext,
    ) -> anyhow::Result<Result<Vec<Route>, AdapterError>> {
        self.start_deadline();
        let r = self.adapter.routing(&mut self.store, ctx);
        self.finish("routing", r)
    }

    /// The adapter's plan, its paths made logical, not yet authorized.
    pub fn apply(&mut self, ctx: &AdapterContext) -> anyhow::Result<Result<Plan, AdapterError>> {
        self.start_deadline();
        let r = self.adapter.apply(&mut self.store, ctx);
        self.finish("apply", r)
    }

    /// A fresh time budget for one export call: the epoch deadline for guest code, the
    /// wall-clock one for the time it waits.
    fn start_deadline(&mut self) {
        self.store.set_epoch_deadline(deadline_ticks());
        let state = self.store.data_mut();
        state.deadline = Instant::now() + CALL_DEADLINE;
        state.credit = Duration::ZERO;
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
    if e.downcast_ref::<TimeLimit>().is_some() {
        return anyhow!(
            "{what}: exceeded its {} s time limit",
            CALL_DEADLINE.as_secs()
        );
    }
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

/// Plugin-supplied text on one bounded line: control characters become spaces, and every
/// invisible formatting character ([`is_invisible`]: bidi overrides, zero-width characters, line
/// and paragraph separators) is shown as `\u{…}`, so nothing a plugin ships can reorder, hide or
/// break what the user reads.
pub fn sanitize(s: &str) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    for c in s.chars().take(500) {
        if c.is_control() {
            out.push(' ');
        } else if is_invisible(c) {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        } else {
            out.push(c);
        }
    }
    out
}

/// Unicode's format characters (general category Cf: bidi embeddings, overrides and isolates,
/// zero-width space/joiners, word joiner, BOM, soft hyphen, tags…), the line and paragraph
/// separators (Zl, Zp), and the Hangul fillers that render as nothing.
pub fn is_invisible(c: char) -> bool {
    matches!(
        c as u32,
        0xAD | 0x600..=0x605
            | 0x61C
            | 0x6DD
            | 0x70F
            | 0x890..=0x891
            | 0x8E2
            | 0x115F..=0x1160
            | 0x180E
            | 0x200B..=0x200F
            | 0x2028..=0x202E
            | 0x2060..=0x2064
            | 0x2066..=0x206F
            | 0x3164
            | 0xFEFF
            | 0xFFA0
            | 0xFFF9..=0xFFFB
            | 0x110BD
            | 0x110CD
            | 0x13430..=0x1343F
            | 0x1BCA0..=0x1BCA3
            | 0x1D173..=0x1D17A
            | 0xE0001
            | 0xE0020..=0xE007F
    )
}

/// Where an open file really is (Linux: its descriptor's path in /proc).
fn fd_path(file: &std::fs::File) -> Option<PathBuf> {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd as _;
        std::fs::read_link(format!("/proc/self/fd/{}", file.as_raw_fd())).ok()
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = file;
        None
    }
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

    /// A clock subscription for the guest: one that would wake after the call's deadline traps
    /// now ([`TimeLimit`]: the guest could only time out), an earlier one waits for real.
    fn sleep_until(&mut self, wake: Option<Instant>) -> wasmtime::Result<Resource<DynPollable>> {
        match wake {
            Some(wake) if wake <= self.deadline => {
                let sleep = self.table.push(Sleep(wake))?;
                wasmtime_wasi::p2::subscribe(&mut self.table, sleep)
            }
            _ => Err(TimeLimit.into()),
        }
    }

    /// A guest path → (logical path, the granted directory opened as a capability, the path
    /// inside it), if granted. Nothing below that directory may lead out of it: cap-std refuses
    /// `..` and symlinks (relative or absolute) that leave it.
    fn resolve(&mut self, path: &str) -> Result<(String, cap_std::fs::Dir, PathBuf), HostError> {
        let home = self.sandbox.home.to_string_lossy().into_owned();
        let logical = to_logical(path, &home);
        if !(logical == "~" || logical.starts_with("~/") || logical.starts_with('/')) {
            return Err(self.deny(format!("read {logical} (not an absolute or ~/ path)")));
        }
        let Some(base) = self.sandbox.policy.read_base(&logical) else {
            return Err(self.deny(format!("read {logical}")));
        };
        let rel = match logical.strip_prefix(base.as_str()) {
            Some(rest) => rest.trim_start_matches('/'),
            None => return Err(self.deny(format!("read {logical}"))),
        };
        let rel = PathBuf::from(if rel.is_empty() { "." } else { rel });
        let root = self.absolute(&base);
        let dir = cap_std::fs::Dir::open_ambient_dir(&root, cap_std::ambient_authority())
            .map_err(|e| self.io_error(&logical, e))?;
        Ok((logical, dir, rel))
    }

    /// A logical path on this machine.
    fn absolute(&self, logical: &str) -> PathBuf {
        if logical == "~" {
            self.sandbox.home.clone()
        } else if let Some(rest) = logical.strip_prefix("~/") {
            self.sandbox.home.join(rest)
        } else {
            self.sandbox
                .system_root
                .join(logical.trim_start_matches('/'))
        }
    }

    /// The deny-list again, on where `opened` (reached as `logical`) really is: a symlink
    /// inside a granted directory may point at a denied file elsewhere in it or in the home.
    fn check_resolved(
        &mut self,
        logical: &str,
        resolved: Option<PathBuf>,
    ) -> Result<(), HostError> {
        let Some(real) = resolved else {
            return Err(HostError::Io(format!(
                "{logical}: cannot tell where it leads"
            )));
        };
        let real = real.to_string_lossy().into_owned();
        let system_root = std::fs::canonicalize(&self.sandbox.system_root)
            .unwrap_or_else(|_| self.sandbox.system_root.clone());
        let mut resolved = self.sandbox.policy.logical_of_resolved(&real);
        if !resolved.starts_with('~') {
            resolved = format!(
                "/{}",
                to_logical(&real, &system_root.to_string_lossy())
                    .trim_start_matches('~')
                    .trim_start_matches('/')
            );
        }
        if self.sandbox.policy.refuses(&resolved) {
            return Err(self.deny(format!("read {logical} (leads to {resolved})")));
        }
        Ok(())
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

    /// Read a regular file: never a FIFO, device or socket (opened non-blocking and checked
    /// before a byte is read), at most [`MAX_READ`] bytes, and not a file the deny-list refuses
    /// wherever its symlinks lead.
    pub(crate) fn fs_read_text(&mut self, path: &str) -> Result<String, HostError> {
        let (logical, dir, rel) = self.resolve(path)?;
        let meta = dir.metadata(&rel).map_err(|e| self.io_error(&logical, e))?;
        if meta.is_dir() {
            return Err(HostError::Invalid(format!("{logical} is a directory")));
        }
        if !meta.is_file() {
            return Err(self.deny(format!("read {logical} (not a regular file)")));
        }
        let mut options = cap_std::fs::OpenOptions::new();
        options.read(true);
        // A FIFO swapped in after the check above must not block the open.
        #[cfg(unix)]
        cap_std::fs::OpenOptionsExt::custom_flags(&mut options, libc::O_NONBLOCK);
        let file = dir
            .open_with(&rel, &options)
            .map_err(|e| self.io_error(&logical, e))?
            .into_std();
        let meta = file
            .metadata()
            .map_err(|e| HostError::Io(format!("{logical}: {e}")))?;
        if !meta.is_file() {
            return Err(self.deny(format!("read {logical} (not a regular file)")));
        }
        self.check_resolved(&logical, fd_path(&file).or_else(|| self.ambient(&logical)))?;
        if meta.len() > MAX_READ {
            return Err(HostError::Invalid(format!(
                "{logical} is larger than 8 MiB"
            )));
        }
        let mut bytes = Vec::new();
        file.take(MAX_READ + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| HostError::Io(format!("{logical}: {e}")))?;
        if bytes.len() as u64 > MAX_READ {
            return Err(HostError::Invalid(format!(
                "{logical} is larger than 8 MiB"
            )));
        }
        String::from_utf8(bytes).map_err(|_| HostError::Invalid(format!("{logical} is not UTF-8")))
    }

    /// Where a logical path resolves, by the ambient filesystem (where no descriptor can say).
    fn ambient(&self, logical: &str) -> Option<PathBuf> {
        std::fs::canonicalize(self.absolute(logical)).ok()
    }

    pub(crate) fn fs_exists(&mut self, path: &str) -> Result<bool, HostError> {
        let (logical, dir, rel) = match self.resolve(path) {
            Err(HostError::NotFound) => return Ok(false),
            r => r?,
        };
        match dir.metadata(&rel) {
            Ok(_) => {
                self.check_resolved(&logical, self.ambient(&logical))?;
                Ok(true)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(self.io_error(&logical, e)),
        }
    }

    pub(crate) fn fs_list_dir(&mut self, path: &str) -> Result<Vec<String>, HostError> {
        let (logical, dir, rel) = self.resolve(path)?;
        let entries = dir.read_dir(&rel).map_err(|e| self.io_error(&logical, e))?;
        self.check_resolved(&logical, self.ambient(&logical))?;
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

    /// `env.login-get` (API 0.3): the same name policy as `env.get`; the value is what a new
    /// login shell of the user's shell exports. The wait for that shell (the first time, per
    /// host) does not count against the call's time limit.
    pub(crate) fn env_login_get(&mut self, name: &str) -> Result<Option<String>, HostError> {
        if !self.sandbox.policy.may_read_env(name) {
            return Err(self.deny(format!("read env {name}")));
        }
        let started = Instant::now();
        let r = self.sandbox.login.get(name);
        let waited = started.elapsed();
        self.deadline += waited;
        self.credit += waited;
        r.map_err(HostError::Io)
    }

    /// `facts.codex-login` (API 0.2): the kind of login, never the credential.
    pub(crate) fn fact_codex_login(&mut self) -> Result<crate::facts::LoginKind, HostError> {
        match self.sandbox.policy.codex_login() {
            Some(kind) => Ok(kind),
            None => Err(self.deny(format!("fact {}", crate::facts::CODEX_LOGIN))),
        }
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
    fn invisible_characters_are_shown_not_dropped() {
        let spoof =
            "a\u{202e}b\u{2066}c\u{200b}d\u{feff}e\u{2028}f\u{2029}g\u{200f}h\u{e0041}i\u{ad}j";
        let out = sanitize(spoof);
        assert_eq!(
            out,
            "a\\u{202e}b\\u{2066}c\\u{200b}d\\u{feff}e\\u{2028}f\\u{2029}g\\u{200f}h\\u{e0041}i\\u{ad}j"
        );
        assert!(!out.chars().any(|c| is_invisible(c) || c.is_control()));
        assert_eq!(sanitize("\u{1b}[2Jx\r\n"), " [2Jx  ");
        assert_eq!(sanitize("café ☕ 日本"), "café ☕ 日本");
        for c in [
            '\u{202a}', '\u{202b}', '\u{202c}', '\u{202d}', '\u{2067}', '\u{2068}', '\u{2069}',
            '\u{200e}', '\u{200c}', '\u{200d}', '\u{2060}',
        ] {
            assert!(is_invisible(c), "{:x}", c as u32);
        }
    }

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
