//! `AdapterHost`: every built-in and installed adapter, checked statically, run on demand.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context as _, anyhow, bail};
use headroom_edits::{Authorized, BlockPlacement, Edit, MarkerStyle, Plan};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::consent::{self as consent_rules, Consent, Verdict};
use crate::grants::{EnvLookup, Grants, describe, to_logical};
use crate::manifest::{self, Manifest};
use crate::runtime::{self, Call, Sandbox, wit};
use crate::store::{LastRun, Store};

/// Where the host finds things. `HostOptions::for_home(home)` is the real user's.
#[derive(Clone)]
pub struct HostOptions {
    pub home: PathBuf,
    /// `/` in production; a temporary directory in tests.
    pub system_root: PathBuf,
    /// `~/.headroom`.
    pub state_dir: PathBuf,
    pub path_env: Option<String>,
    pub env: Arc<EnvLookup>,
}

impl HostOptions {
    /// The real user's: `home` (an absolute path, checked by the caller), the root filesystem,
    /// and this process's PATH and environment.
    pub fn for_home(home: PathBuf) -> Self {
        Self {
            state_dir: home.join(".headroom"),
            home,
            system_root: PathBuf::from("/"),
            path_env: std::env::var("PATH").ok(),
            env: Arc::new(|n: &str| std::env::var(n).ok()),
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

/// Capabilities by decision, as `capability specs` (`plugins list -v`, `grant`, `revoke`).
#[derive(Debug, Clone, Default, Serialize)]
pub struct CapabilityView {
    pub declared: Vec<String>,
    pub granted: Vec<String>,
    pub pending: Vec<String>,
    pub revoked: Vec<String>,
    /// Refused by the deny-list on this machine, whatever was granted.
    pub denied: Vec<String>,
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
    /// The manifest restricted to what is granted: what the sandbox is built from.
    #[serde(skip)]
    effective: Option<Manifest>,
}

/// What an adapter is told about the deployment being applied or reverted.
#[derive(Debug, Clone)]
pub struct AdapterContext {
    pub port: u16,
    pub scope: Scope,
    pub profile: String,
    pub targets: Vec<String>,
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

impl AdapterContext {
    fn to_wit(&self) -> wit::Context {
        wit::Context {
            proxy_url: format!("http://127.0.0.1:{}", self.port),
            port: self.port,
            scope: match self.scope {
                Scope::Provider => wit::Scope::Provider,
                Scope::User => wit::Scope::User,
                Scope::System => wit::Scope::System,
            },
            profile: self.profile.clone(),
            os: std::env::consts::OS.to_owned(),
            targets: self.targets.clone(),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Detection {
    pub detected: bool,
    pub evidence: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RouteStatus {
    pub routed: bool,
    pub details: Vec<String>,
}

pub struct AdapterHost {
    opts: HostOptions,
    entries: Vec<PluginEntry>,
}

pub(crate) fn sha256_hex(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

impl AdapterHost {
    /// Built-ins plus what `plugins install` put in `~/.headroom/plugins/` (and any loose
    /// `*.wasm` there, listed as needing approval), each checked statically and against its
    /// consent record. Nothing runs.
    pub fn load(opts: HostOptions) -> Self {
        let store = Store::new(&opts.state_dir);
        let home = opts.home.to_string_lossy().into_owned();
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
                        Verdict::Approved => {
                            e.effective = Some(c.effective(&m));
                            EntryStatus::Ok
                        }
                        Verdict::NeedsApproval(why) => EntryStatus::NeedsApproval(why),
                        Verdict::Disabled => EntryStatus::Disabled,
                    },
                };
                // A file without a usable record has granted nothing.
                let none = Consent::carry_over(&m, &e.sha256, "", false, None);
                let c = e.consent.as_ref().unwrap_or(&none);
                e.decisions = decisions(&m, Some(c), &*opts.env, &home);
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
                e.decisions = decisions(m, None, &*opts.env, &home);
            }
        }
        Self { opts, entries }
    }

    /// Compile every usable adapter (into the cache) and check its imports against this host,
    /// without running it; entries that fail become `incompatible`. `load` alone never compiles.
    pub fn verify(&mut self) {
        let cache = self.opts.state_dir.join("cache");
        for e in self
            .entries
            .iter_mut()
            .filter(|e| e.status == EntryStatus::Ok)
        {
            if let Err(err) = runtime::load_component(&e.bytes, &e.sha256, Some(&cache))
                .and_then(|c| runtime::check_imports(&c))
            {
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

    /// The grants an entry runs with: everything for a built-in, what was consented to for an
    /// installed plugin.
    fn grants(&self, e: &PluginEntry) -> Grants {
        let m = e
            .effective
            .as_ref()
            .or(e.manifest.as_ref())
            .expect("ok entries have manifests");
        let home = self.opts.home.to_string_lossy().into_owned();
        Grants::from_manifest(m, &*self.opts.env, &home)
    }

    /// One export call in a fresh sandbox; its denial count is recorded for `plugins list -v`.
    fn run<T>(
        &self,
        e: &PluginEntry,
        what: &str,
        f: impl FnOnce(&mut Call) -> anyhow::Result<T>,
    ) -> anyhow::Result<T> {
        let mut call = self.call(e)?;
        let r = f(&mut call);
        Store::new(&self.opts.state_dir).record_run(&e.id, what, call.denials());
        r
    }

    fn call(&self, e: &PluginEntry) -> anyhow::Result<Call> {
        let component = runtime::load_component(
            &e.bytes,
            &e.sha256,
            Some(&self.opts.state_dir.join("cache")),
        )?;
        Call::new(
            &component,
            Sandbox {
                id: e.id.clone(),
                grants: self.grants(e),
                home: self.opts.home.clone(),
                system_root: self.opts.system_root.clone(),
                env: self.opts.env.clone(),
                path_env: self.opts.path_env.clone(),
            },
        )
    }

    pub fn detect(&self, id: &str) -> anyhow::Result<Detection> {
        let e = self.get(id)?;
        let d = self
            .run(e, "detect", |c| c.detect())
            .with_context(|| format!("adapter {id}"))?
            .map_err(|err| adapter_error(id, err))?;
        Ok(Detection {
            detected: d.detected,
            evidence: d.evidence.iter().map(|s| runtime::sanitize(s)).collect(),
        })
    }

    pub fn status(&self, id: &str, ctx: &AdapterContext) -> anyhow::Result<RouteStatus> {
        let e = self.get(id)?;
        let s = self
            .run(e, "status", |c| c.status(&ctx.to_wit()))
            .with_context(|| format!("adapter {id}"))?
            .map_err(|err| adapter_error(id, err))?;
        Ok(RouteStatus {
            routed: s.routed,
            details: s.details.iter().map(|s| runtime::sanitize(s)).collect(),
        })
    }

    pub fn plan_apply(&self, id: &str, ctx: &AdapterContext) -> anyhow::Result<Authorized> {
        self.plan(id, ctx, true)
    }

    pub fn plan_revert(&self, id: &str, ctx: &AdapterContext) -> anyhow::Result<Authorized> {
        self.plan(id, ctx, false)
    }

    fn plan(&self, id: &str, ctx: &AdapterContext, apply: bool) -> anyhow::Result<Authorized> {
        let e = self.get(id)?;
        let wctx = ctx.to_wit();
        let what = if apply { "apply" } else { "revert" };
        let plan = self
            .run(e, what, |c| {
                if apply {
                    c.apply(&wctx)
                } else {
                    c.revert(&wctx)
                }
            })
            .with_context(|| format!("adapter {id}"))?
            .map_err(|err| adapter_error(id, err))?;
        let home = self.opts.home.to_string_lossy().into_owned();
        Ok(Authorized {
            plan: Plan {
                source: id.to_owned(),
                edits: plan.edits.into_iter().map(|w| convert(w, &home)).collect(),
                notes: plan.notes.iter().map(|n| runtime::sanitize(n)).collect(),
            },
            grants: self.grants(e).edit,
        })
    }
}

fn adapter_error(id: &str, e: wit::AdapterError) -> anyhow::Error {
    match e {
        wit::AdapterError::Unsupported(m) => anyhow!("adapter {id}: {}", runtime::sanitize(&m)),
        wit::AdapterError::InvalidConfig(m) => anyhow!("{}", runtime::sanitize(&m)),
        wit::AdapterError::Failed(m) => anyhow!("adapter {id} failed: {}", runtime::sanitize(&m)),
    }
}

fn convert(e: wit::Edit, home: &str) -> Edit {
    let f = |p: String| to_logical(&p, home);
    let style = |s: wit::MarkerStyle| match s {
        wit::MarkerStyle::Arrows => MarkerStyle::Arrows,
        wit::MarkerStyle::Dashes => MarkerStyle::Dashes,
    };
    match e {
        wit::Edit::JsonSet(x) => Edit::JsonSet {
            file: f(x.file),
            pointer: x.pointer,
            value: x.value,
        },
        wit::Edit::JsonRemove(x) => Edit::JsonRemove {
            file: f(x.file),
            pointer: x.pointer,
        },
        wit::Edit::TomlSet(x) => Edit::TomlSet {
            file: f(x.file),
            key: x.key,
            value: x.value,
        },
        wit::Edit::TomlRemove(x) => Edit::TomlRemove {
            file: f(x.file),
            key: x.key,
        },
        wit::Edit::BlockSet(x) => Edit::BlockSet {
            file: f(x.file),
            id: x.id,
            style: style(x.style),
            comment: x.comment,
            body: x.body,
            placement: match x.placement {
                wit::BlockPlacement::End => BlockPlacement::End,
                wit::BlockPlacement::BeforeFirstTable => BlockPlacement::BeforeFirstTable,
            },
        },
        wit::Edit::BlockRemove(x) => Edit::BlockRemove {
            file: f(x.file),
            id: x.id,
            style: style(x.style),
            comment: x.comment,
        },
    }
}

/// Check one `.wasm` statically: manifest and API range (nothing is compiled or run).
fn entry(source: Source, path: Option<PathBuf>, bytes: Arc<[u8]>) -> PluginEntry {
    let sha256 = sha256_hex(&bytes);
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
        effective: None,
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

/// Each declared capability sorted by the user's decision (a built-in's are all granted).
fn decisions(m: &Manifest, c: Option<&Consent>, env: &EnvLookup, home: &str) -> CapabilityView {
    let mut v = CapabilityView::default();
    for cap in consent_rules::declared(m) {
        let spec = runtime::sanitize(&cap.spec());
        v.declared.push(spec.clone());
        if cap.denied(env, home) {
            v.denied.push(spec);
        } else if c.is_none_or(|c| c.grants(&cap)) {
            v.granted.push(spec);
        } else if c.is_some_and(|c| c.revoked.contains(&cap)) {
            v.revoked.push(spec);
        } else {
            v.pending.push(spec);
        }
    }
    v
}
