//! `AdapterHost`: every built-in and installed adapter, checked statically, run on demand.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use anyhow::{Context as _, anyhow, bail};
use headroom_core::StateDir;
use headroom_edits::Authorized;
use serde::Serialize;
use thiserror::Error;

use crate::consent::{Consent, Verdict};
use crate::grants::{EnvLookup, describe};
use crate::login::LoginEnv;
use crate::manifest::{self, Manifest};
use crate::policy::{CapabilityView, Policy};
use crate::runtime::{self, Call, Sandbox};
use crate::store::{LastRun, Store};
use crate::{cache, wit};

/// Where the host finds things. `HostOptions::for_home(home)` is the real user's.
#[derive(Clone)]
pub struct HostOptions {
    pub home: PathBuf,
    /// `/` in production; a temporary directory in tests.
    pub system_root: PathBuf,
    /// `~/.headroom` of `home`: every path of headroom's own state.
    pub state_dir: StateDir,
    pub path_env: Option<String>,
    pub env: Arc<EnvLookup>,
    /// The user's login environment (`env.login-get`), shared by every host loaded from these
    /// options or a clone of them (so one command runs the login shell at most once): made from
    /// the first host's `home`, `env` and `path_env`, the shell run on its first use.
    login: Arc<OnceLock<Arc<LoginEnv>>>,
}

impl HostOptions {
    /// The real user's: `home` (an absolute path, checked by the caller), the root filesystem,
    /// and this process's PATH and environment.
    pub fn for_home(home: PathBuf) -> Self {
        Self {
            state_dir: StateDir::new(&home),
            home,
            system_root: PathBuf::from("/"),
            path_env: std::env::var("PATH").ok(),
            env: Arc::new(|n: &str| std::env::var(n).ok()),
            login: Arc::default(),
        }
    }

    /// These options with the login environment not computed yet: what a login shell started
    /// from now on sees (after `install apply` wrote the user's startup files, for instance).
    pub fn with_fresh_login(&self) -> Self {
        Self {
            login: Arc::default(),
            ..self.clone()
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Source {
    Builtin,
    Installed,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", content = "reason", rename_all = "kebab-case")]
pub enum EntryStatus {
    Ok,
    Incompatible(String),
    Error(String),
    /// Installed but not (or no longer) approved: the file changed, or it asks for more.
    NeedsApproval(String),
    Disabled,
}

impl std::fmt::Display for EntryStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EntryStatus::Ok => f.write_str("ok"),
            EntryStatus::Incompatible(r) => write!(f, "incompatible: {r}"),
            EntryStatus::Error(r) => write!(f, "error: {r}"),
            EntryStatus::NeedsApproval(r) => write!(f, "needs-approval: {r}"),
            EntryStatus::Disabled => f.write_str("disabled"),
        }
    }
}

/// One adapter as `plugins list` shows it.
#[derive(Clone, Serialize)]
pub struct PluginEntry {
    pub id: String,
    pub source: Source,
    pub path: Option<PathBuf>,
    pub sha256: String,
    pub status: EntryStatus,
    pub manifest: Option<Manifest>,
    pub capabilities: Vec<String>,
    /// An installed plugin used instead of the built-in adapter of the same id.
    pub replaces_builtin: bool,
    pub consent: Option<Consent>,
    pub decisions: CapabilityView,
    pub last_run: Option<LastRun>,
    #[serde(skip)]
    bytes: Arc<[u8]>,
}

/// What an adapter is told about the deployment being applied or reverted.
#[derive(Debug, Clone)]
pub struct AdapterContext {
    pub port: u16,
    pub scope: Scope,
    pub profile: String,
    pub targets: Vec<String>,
}

impl AdapterContext {
    /// The deployment's proxy origin as adapters are told it: no trailing slash, no `/v1`.
    pub fn proxy_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Provider,
    User,
    System,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Provider => "provider",
            Scope::User => "user",
            Scope::System => "system",
        }
    }
}

/// Whether an adapter's tool is on this machine, and what it found (sanitized).
#[derive(Debug, Clone, Serialize)]
pub struct Detection {
    pub detected: bool,
    pub evidence: Vec<String>,
}

/// Whether an adapter's tool is routed through headroom now (sanitized).
#[derive(Debug, Clone, Serialize)]
pub struct RouteStatus {
    pub routed: bool,
    pub details: Vec<String>,
}

/// What decides where a tool sends its requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RouteSource {
    /// A setting in one of the tool's config files.
    Config,
    /// An environment variable (of a new login shell, or of the process running the adapter).
    Environment,
    /// Nothing is set: the tool uses its built-in endpoint.
    Default,
}

/// Where one tool sends its requests now, as its adapter resolved it (sanitized). Whether that
/// is headroom is the host's call (comparing `url` with the deployment's proxy URL).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Route {
    /// One of the context's targets.
    pub target: String,
    /// The base URL in effect; `None` when the tool uses its built-in default.
    pub url: Option<String>,
    pub source: RouteSource,
    /// The file and key, or the variable, that decides it.
    pub via: String,
    pub notes: Vec<String>,
}

/// An adapter's own refusal (as opposed to a trap or a denial), its message sanitized.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AdapterError {
    /// It cannot act in this context (e.g. a scope it does not serve).
    #[error("adapter {id}: {message}")]
    Unsupported { id: String, message: String },
    /// A config file it read is unusable; the message names the file and the problem.
    #[error("{message}")]
    InvalidConfig { id: String, message: String },
    #[error("adapter {id} failed: {message}")]
    Failed { id: String, message: String },
}

pub struct AdapterHost {
    opts: HostOptions,
    entries: Vec<PluginEntry>,
    /// The user's login environment (`env.login-get`), computed on first use, shared by calls
    /// (and by every host loaded from the same [`HostOptions`]).
    login: Arc<LoginEnv>,
}

impl AdapterHost {
    /// Built-ins plus what `plugins install` put in `~/.headroom/plugins/` (and any loose
    /// `*.wasm` there, listed as needing approval), each checked statically and against its
    /// consent record. Nothing runs.
    pub fn load(opts: HostOptions) -> Self {
        let store = Store::new(&opts.state_dir);
        let view = |m: &Manifest, c: Option<&Consent>| {
            Policy::new(m, c, &opts.home, opts.env.clone()).view()
        };
        let mut entries: Vec<PluginEntry> = crate::builtin::BUILTINS
            .iter()
            .map(|(_, bytes)| entry(Source::Builtin, None, Arc::from(*bytes)))
            .collect();
        for found in store.found() {
            let path = found.path;
            let bytes = match std::fs::read(&path) {
                Ok(b) => b,
                Err(err) => {
                    let mut e = entry(Source::Installed, Some(path.clone()), Arc::from(Vec::new()));
                    e.status = EntryStatus::Error(format!("unreadable: {err}"));
                    entries.push(e);
                    continue;
                }
            };
            let mut e = entry(Source::Installed, Some(path.clone()), Arc::from(bytes));
            let is_builtin = crate::builtin::BUILTINS.iter().any(|(id, _)| *id == e.id);
            if let Some(Ok(c)) = &found.consent {
                e.consent = Some(c.clone());
            }
            if e.status == EntryStatus::Ok {
                let m = e.manifest.clone().expect("ok entries have manifests");
                e.status = match &found.consent {
                    None if is_builtin => EntryStatus::Error(format!(
                        "id {:?} is reserved by a built-in adapter",
                        e.id
                    )),
                    None => EntryStatus::NeedsApproval(format!(
                        "not installed with `headroom plugins install`; to use it: headroom plugins install {}",
                        path.display()
                    )),
                    Some(Err(why)) => EntryStatus::NeedsApproval(why.clone()),
                    Some(Ok(c)) if is_builtin && !c.replaces_builtin => EntryStatus::Error(
                        format!("id {:?} is reserved by a built-in adapter", e.id),
                    ),
                    Some(Ok(c)) => match c.verdict(&m, &e.sha256) {
                        Verdict::Approved => EntryStatus::Ok,
                        Verdict::NeedsApproval(why) => EntryStatus::NeedsApproval(why),
                        Verdict::Disabled => EntryStatus::Disabled,
                    },
                };
                // A file without a usable record has granted nothing.
                let none = Consent::carry_over(&m, &e.sha256, "", false, None);
                let c = e.consent.as_ref().unwrap_or(&none);
                e.decisions = view(&m, Some(c));
            }
            if is_builtin && e.status == EntryStatus::Ok {
                e.replaces_builtin = true;
                entries.retain(|b| !(b.source == Source::Builtin && b.id == e.id));
            }
            entries.push(e);
        }
        for e in entries.iter_mut() {
            e.last_run = store.last_run(&e.id);
            if e.source == Source::Builtin
                && let Some(m) = &e.manifest
            {
                e.decisions = view(m, None);
            }
        }
        let login = opts
            .login
            .get_or_init(|| {
                Arc::new(LoginEnv::new(
                    &opts.home,
                    &*opts.env,
                    opts.path_env.as_deref(),
                ))
            })
            .clone();
        Self {
            opts,
            entries,
            login,
        }
    }

    /// Compile every usable adapter (into the cache) and check its imports against this host,
    /// without running it; entries that fail become `incompatible`. `load` alone never compiles.
    pub fn verify(&mut self) {
        let cache = self.opts.state_dir.cache_dir();
        for e in self
            .entries
            .iter_mut()
            .filter(|e| e.status == EntryStatus::Ok)
        {
            if let Err(err) = api_of(e).and_then(|api| {
                cache::load_component(&e.bytes, &e.sha256, Some(&cache))
                    .and_then(|c| api.check_imports(&c))
            }) {
                e.status = EntryStatus::Incompatible(format!(
                    "imports: {}",
                    runtime::sanitize(&format!("{err:#}"))
                ));
            }
        }
    }

    pub fn entries(&self) -> &[PluginEntry] {
        &self.entries
    }

    pub fn get(&self, id: &str) -> anyhow::Result<&PluginEntry> {
        let e = self
            .entries
            .iter()
            .find(|e| e.id == id && e.status == EntryStatus::Ok)
            .or_else(|| self.entries.iter().find(|e| e.id == id));
        let e = e.ok_or_else(|| {
            anyhow!(
                "no adapter {id:?} (installed: {})",
                self.entries
                    .iter()
                    .map(|e| e.id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })?;
        match &e.status {
            EntryStatus::Ok => Ok(e),
            EntryStatus::Incompatible(r) | EntryStatus::Error(r) => bail!("adapter {id}: {r}"),
            EntryStatus::NeedsApproval(r) => bail!(
                "adapter {id} needs approval ({r}); review it with: headroom plugins grant {id}"
            ),
            EntryStatus::Disabled => {
                bail!("adapter {id} is disabled; turn it on with: headroom plugins enable {id}")
            }
        }
    }

    /// The usable adapter that configures `target` at `scope`.
    pub fn for_target(&self, target: &str, scope: Scope) -> Option<&PluginEntry> {
        self.entries.iter().find(|e| {
            e.status == EntryStatus::Ok
                && e.manifest.as_ref().is_some_and(|m| {
                    m.targets.iter().any(|t| t == target)
                        && m.scopes.iter().any(|s| s == scope.as_str())
                })
        })
    }

    /// The policy an entry runs under: everything it declares for a built-in, what was
    /// consented to for an installed plugin; the deny-list over both.
    fn policy(&self, e: &PluginEntry) -> anyhow::Result<Policy> {
        let m = e
            .manifest
            .as_ref()
            .with_context(|| format!("adapter {}: no manifest", e.id))?;
        let consent = match e.source {
            Source::Builtin => None,
            // Never "everything" for an installed plugin: no record, no run.
            Source::Installed => Some(
                e.consent
                    .as_ref()
                    .with_context(|| format!("adapter {}: no consent record", e.id))?,
            ),
        };
        Ok(Policy::new(
            m,
            consent,
            &self.opts.home,
            self.opts.env.clone(),
        ))
    }

    /// One export call in a fresh sandbox; its denial count is recorded for `plugins list -v`.
    /// One export call in a fresh sandbox under `policy`; its denial count is recorded for
    /// `plugins list -v`. The outer error is the sandbox's, the inner one the adapter's.
    fn run<T>(
        &self,
        e: &PluginEntry,
        policy: Policy,
        what: &str,
        f: impl FnOnce(&mut Call) -> anyhow::Result<Result<T, AdapterError>>,
    ) -> anyhow::Result<T> {
        let component =
            cache::load_component(&e.bytes, &e.sha256, Some(&self.opts.state_dir.cache_dir()))
                .with_context(|| format!("adapter {}", e.id))?;
        let sandbox = Sandbox {
            id: e.id.clone(),
            policy,
            home: self.opts.home.clone(),
            system_root: self.opts.system_root.clone(),
            path_env: self.opts.path_env.clone(),
            login: self.login.clone(),
        };
        let mut call = Call::new(&component, api_of(e)?, sandbox)
            .with_context(|| format!("adapter {}", e.id))?;
        let r = f(&mut call);
        Store::new(&self.opts.state_dir).record_run(&e.id, what, call.denials());
        Ok(r.with_context(|| format!("adapter {}", e.id))??)
    }

    pub fn detect(&self, id: &str) -> anyhow::Result<Detection> {
        let e = self.get(id)?;
        self.run(e, self.policy(e)?, "detect", |c| c.detect())
    }

    /// Whether the adapter's tool is routed through headroom now.
    pub fn status(&self, id: &str, ctx: &AdapterContext) -> anyhow::Result<RouteStatus> {
        let e = self.get(id)?;
        self.run(e, self.policy(e)?, "status", |c| c.status(ctx))
    }

    /// Where each tool of `ctx.targets` sends its requests: one route per target, in that order.
    /// A 0.3 adapter reports them (`routing`, run like `status`); a route for a target not in
    /// `ctx.targets` is dropped, the first of several for one target wins. A target it left out,
    /// and every target of a 0.1/0.2 adapter (which has no `routing` export), is derived from
    /// `status`: routed means the proxy URL, with source `config`.
    pub fn routing(&self, id: &str, ctx: &AdapterContext) -> anyhow::Result<Vec<Route>> {
        let e = self.get(id)?;
        let api = api_of(e)?;
        let reported = match api {
            wit::Api::V0_1 | wit::Api::V0_2 => Vec::new(),
            wit::Api::V0_3 => self.run(e, self.policy(e)?, "routing", |c| c.routing(ctx))?,
        };
        let mut routes: Vec<Option<Route>> = ctx
            .targets
            .iter()
            .map(|t| reported.iter().find(|r| &r.target == t).cloned())
            .collect();
        if routes.iter().any(Option::is_none) {
            let status = self.status(id, ctx)?;
            let version = e.manifest.as_ref().map(|m| m.api.as_str()).unwrap_or("?");
            let note = match api {
                wit::Api::V0_3 => format!(
                    "adapter {id} did not report this tool's routing: read from its status (routed or not only)"
                ),
                _ => format!("adapter API {version} reports only routed or not (its status)"),
            };
            for (slot, target) in routes.iter_mut().zip(&ctx.targets) {
                if slot.is_none() {
                    *slot = Some(Route {
                        target: target.clone(),
                        url: status.routed.then(|| ctx.proxy_url()),
                        source: RouteSource::Config,
                        via: status.details.join("; "),
                        notes: vec![note.clone()],
                    });
                }
            }
        }
        Ok(routes.into_iter().flatten().collect())
    }

    /// The adapter's plan for `ctx`, authorized by its policy (the edit grants the executor
    /// enforces). Reverting never asks the adapter: the host reverts from its journal.
    pub fn plan_apply(&self, id: &str, ctx: &AdapterContext) -> anyhow::Result<Authorized> {
        let e = self.get(id)?;
        let policy = self.policy(e)?;
        let plan = self.run(e, policy.clone(), "apply", |c| c.apply(ctx))?;
        Ok(policy.authorize(plan))
    }
}

/// The adapter API an entry is served by (its manifest's `api`).
fn api_of(e: &PluginEntry) -> anyhow::Result<wit::Api> {
    let m = e
        .manifest
        .as_ref()
        .with_context(|| format!("adapter {}: no manifest", e.id))?;
    wit::Api::of(&m.api)
}

/// Check one `.wasm` statically: manifest and API range (nothing is compiled or run).
fn entry(source: Source, path: Option<PathBuf>, bytes: Arc<[u8]>) -> PluginEntry {
    let sha256 = headroom_core::sha256_hex(&bytes);
    let fallback_id = path.as_deref().map(file_stem).unwrap_or_default();
    let (manifest, status) = match manifest::inspect(&bytes) {
        Ok(m) => (Some(m), EntryStatus::Ok),
        Err(e @ manifest::ManifestError::Api { .. })
        | Err(e @ manifest::ManifestError::NewerHeadroom(_)) => {
            (None, EntryStatus::Incompatible(e.to_string()))
        }
        Err(e) => (None, EntryStatus::Error(e.to_string())),
    };
    PluginEntry {
        id: manifest
            .as_ref()
            .map(|m| m.id.clone())
            .unwrap_or(fallback_id),
        capabilities: manifest.as_ref().map(describe).unwrap_or_default(),
        replaces_builtin: false,
        consent: None,
        decisions: CapabilityView::default(),
        last_run: None,
        source,
        path,
        sha256,
        status,
        manifest,
        bytes,
    }
}

fn file_stem(p: &Path) -> String {
    p.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}
