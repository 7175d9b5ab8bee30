//! `AdapterHost`: every built-in and installed adapter, checked statically, run on demand.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context as _, anyhow, bail};
use headroom_edits::{Authorized, BlockPlacement, Edit, MarkerStyle, Plan};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::grants::{EnvLookup, Grants, describe, to_logical};
use crate::manifest::{self, Manifest};
use crate::runtime::{self, Call, Sandbox, wit};

/// Where the host finds things. `HostOptions::from_env()` is the real user's.
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
    pub fn from_env() -> anyhow::Result<Self> {
        let home = PathBuf::from(std::env::var_os("HOME").context("HOME is not set")?);
        Ok(Self {
            state_dir: home.join(".headroom"),
            home,
            system_root: PathBuf::from("/"),
            path_env: std::env::var("PATH").ok(),
            env: Arc::new(|n: &str| std::env::var(n).ok()),
        })
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

fn sha256_hex(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

impl AdapterHost {
    /// Built-ins plus `~/.headroom/plugins/*.wasm` and `~/.headroom/plugins/*/*.wasm`, each
    /// checked statically (manifest, API range, imports). Nothing runs.
    pub fn load(opts: HostOptions) -> Self {
        let mut entries: Vec<PluginEntry> = crate::builtin::BUILTINS
            .iter()
            .map(|(_, bytes)| entry(Source::Builtin, None, Arc::from(*bytes)))
            .collect();
        for path in installed_files(&opts.state_dir.join("plugins")) {
            match std::fs::read(&path) {
                Ok(bytes) => {
                    let mut e = entry(Source::Installed, Some(path), Arc::from(bytes));
                    if entries
                        .iter()
                        .any(|b| b.source == Source::Builtin && b.id == e.id)
                    {
                        e.status = EntryStatus::Error(format!(
                            "id {:?} is reserved by a built-in adapter",
                            e.id
                        ));
                    }
                    entries.push(e);
                }
                Err(err) => entries.push(PluginEntry {
                    id: file_stem(&path),
                    source: Source::Installed,
                    path: Some(path),
                    sha256: String::new(),
                    status: EntryStatus::Error(format!("unreadable: {err}")),
                    manifest: None,
                    capabilities: vec![],
                    bytes: Arc::from(Vec::new()),
                }),
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

    fn call(&self, e: &PluginEntry) -> anyhow::Result<Call> {
        let m = e.manifest.as_ref().expect("ok entries have manifests");
        let component = runtime::load_component(
            &e.bytes,
            &e.sha256,
            Some(&self.opts.state_dir.join("cache")),
        )?;
        let home = self.opts.home.to_string_lossy().into_owned();
        Call::new(
            &component,
            Sandbox {
                id: e.id.clone(),
                grants: Grants::from_manifest(m, &*self.opts.env, &home),
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
            .call(e)
            .and_then(|mut c| c.detect())
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
            .call(e)
            .and_then(|mut c| c.status(&ctx.to_wit()))
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
        let m = e.manifest.as_ref().expect("ok entries have manifests");
        let wctx = ctx.to_wit();
        let plan = self
            .call(e)
            .and_then(|mut c| {
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
            grants: Grants::from_manifest(m, &*self.opts.env, &home).edit,
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

fn installed_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return out;
    };
    let mut items: Vec<PathBuf> = rd.filter_map(|e| e.ok()).map(|e| e.path()).collect();
    items.sort();
    for p in items {
        if p.is_dir() {
            out.extend(installed_files_flat(&p));
        } else if p.extension().is_some_and(|e| e == "wasm") {
            out.push(p);
        }
    }
    out
}

fn installed_files_flat(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "wasm"))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}
