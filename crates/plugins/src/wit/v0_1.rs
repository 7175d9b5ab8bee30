//! Adapter API 0.1 (`wit/v0.1/adapter.wit`, `package headroom:adapter@0.1.0`).

use headroom_edits::{BlockPlacement, Edit, MarkerStyle, Plan};
use wasmtime::Store;
use wasmtime::component::{Component, HasSelf, Linker};

use crate::grants::to_logical;
use crate::host::{AdapterContext, AdapterError, Detection, RouteStatus, Scope};
use crate::runtime::{self, HostError, LogLevel, State, sanitize};

wasmtime::component::bindgen!({
    path: "../../wit/v0.1",
    world: "adapter-plugin",
});

use self::headroom::adapter::types as t;

fn linker() -> anyhow::Result<Linker<State>> {
    let mut linker = Linker::new(runtime::engine());
    runtime::add_wasi(&mut linker)?;
    AdapterPlugin::add_to_linker::<State, HasSelf<State>>(&mut linker, |s| s)?;
    Ok(linker)
}

/// Check a component's imports against what the host provides, without running anything.
pub fn check_imports(component: &Component) -> anyhow::Result<()> {
    AdapterPluginPre::new(linker()?.instantiate_pre(component)?)?;
    Ok(())
}

/// A 0.1 component linked against the host's imports, ready to instantiate.
pub(crate) struct AdapterPre(AdapterPluginPre<State>);

impl AdapterPre {
    pub(crate) fn new(component: &Component) -> anyhow::Result<Self> {
        Ok(Self(AdapterPluginPre::new(
            linker()?.instantiate_pre(component)?,
        )?))
    }

    /// Runs the guest's start-up code (a trap here is the guest's).
    pub(crate) fn instantiate(&self, store: &mut Store<State>) -> wasmtime::Result<Adapter> {
        Ok(Adapter(self.0.instantiate(store)?))
    }
}

/// An instantiated 0.1 adapter; its exports, in the host's types.
pub(crate) struct Adapter(AdapterPlugin);

impl Adapter {
    pub(crate) fn detect(
        &self,
        store: &mut Store<State>,
    ) -> wasmtime::Result<Result<Detection, AdapterError>> {
        let r = self.0.headroom_adapter_adapter().call_detect(&mut *store)?;
        let id = store.data().id();
        Ok(r.map(detection).map_err(|e| adapter_error(id, e)))
    }

    pub(crate) fn status(
        &self,
        store: &mut Store<State>,
        ctx: &AdapterContext,
    ) -> wasmtime::Result<Result<RouteStatus, AdapterError>> {
        let r = self
            .0
            .headroom_adapter_adapter()
            .call_status(&mut *store, &context(ctx))?;
        let id = store.data().id();
        Ok(r.map(route_status).map_err(|e| adapter_error(id, e)))
    }

    pub(crate) fn apply(
        &self,
        store: &mut Store<State>,
        ctx: &AdapterContext,
    ) -> wasmtime::Result<Result<Plan, AdapterError>> {
        let r = self
            .0
            .headroom_adapter_adapter()
            .call_apply(&mut *store, &context(ctx))?;
        let state = store.data();
        let home = state.home().to_string_lossy().into_owned();
        Ok(r.map(|p| plan(p, state.id(), &home))
            .map_err(|e| adapter_error(state.id(), e)))
    }

    // `revert` is never called: the host reverts from its journal (docs/architecture.md,
    // "Contract notes"); API 0.2 has no such export.
}

fn context(c: &AdapterContext) -> t::Context {
    t::Context {
        proxy_url: format!("http://127.0.0.1:{}", c.port),
        port: c.port,
        scope: match c.scope {
            Scope::Provider => t::Scope::Provider,
            Scope::User => t::Scope::User,
            Scope::System => t::Scope::System,
        },
        profile: c.profile.clone(),
        os: std::env::consts::OS.to_owned(),
        targets: c.targets.clone(),
    }
}

fn detection(d: t::Detection) -> Detection {
    Detection {
        detected: d.detected,
        evidence: d.evidence.iter().map(|s| sanitize(s)).collect(),
    }
}

fn route_status(s: t::RouteStatus) -> RouteStatus {
    RouteStatus {
        routed: s.routed,
        details: s.details.iter().map(|s| sanitize(s)).collect(),
    }
}

fn adapter_error(id: &str, e: t::AdapterError) -> AdapterError {
    let id = id.to_owned();
    match e {
        t::AdapterError::Unsupported(m) => AdapterError::Unsupported {
            id,
            message: sanitize(&m),
        },
        t::AdapterError::InvalidConfig(m) => AdapterError::InvalidConfig {
            id,
            message: sanitize(&m),
        },
        t::AdapterError::Failed(m) => AdapterError::Failed {
            id,
            message: sanitize(&m),
        },
    }
}

/// The adapter's plan as the executor's: its source, logical paths, sanitized notes.
fn plan(p: t::Plan, id: &str, home: &str) -> Plan {
    Plan {
        source: id.to_owned(),
        edits: p.edits.into_iter().map(|e| edit(e, home)).collect(),
        notes: p.notes.iter().map(|n| sanitize(n)).collect(),
    }
}

fn edit(e: t::Edit, home: &str) -> Edit {
    let f = |p: String| to_logical(&p, home);
    let style = |s: t::MarkerStyle| match s {
        t::MarkerStyle::Arrows => MarkerStyle::Arrows,
        t::MarkerStyle::Dashes => MarkerStyle::Dashes,
    };
    match e {
        t::Edit::JsonSet(x) => Edit::JsonSet {
            file: f(x.file),
            pointer: x.pointer,
            value: x.value,
        },
        t::Edit::JsonRemove(x) => Edit::JsonRemove {
            file: f(x.file),
            pointer: x.pointer,
        },
        t::Edit::TomlSet(x) => Edit::TomlSet {
            file: f(x.file),
            key: x.key,
            value: x.value,
        },
        t::Edit::TomlRemove(x) => Edit::TomlRemove {
            file: f(x.file),
            key: x.key,
        },
        t::Edit::BlockSet(x) => Edit::BlockSet {
            file: f(x.file),
            id: x.id,
            style: style(x.style),
            comment: x.comment,
            body: x.body,
            placement: match x.placement {
                t::BlockPlacement::End => BlockPlacement::End,
                t::BlockPlacement::BeforeFirstTable => BlockPlacement::BeforeFirstTable,
            },
        },
        t::Edit::BlockRemove(x) => Edit::BlockRemove {
            file: f(x.file),
            id: x.id,
            style: style(x.style),
            comment: x.comment,
        },
    }
}

impl From<HostError> for t::HostError {
    fn from(e: HostError) -> Self {
        match e {
            HostError::Denied(what) => t::HostError::Denied(what),
            HostError::NotFound => t::HostError::NotFound,
            HostError::Invalid(why) => t::HostError::Invalid(why),
            HostError::Io(why) => t::HostError::Io(why),
        }
    }
}

// The host imports: each asks the runtime, which asks the call's policy.

impl t::Host for State {}

impl headroom::adapter::fs::Host for State {
    fn read_text(&mut self, path: String) -> Result<String, t::HostError> {
        Ok(self.fs_read_text(&path)?)
    }

    fn exists(&mut self, path: String) -> Result<bool, t::HostError> {
        Ok(self.fs_exists(&path)?)
    }

    fn list_dir(&mut self, path: String) -> Result<Vec<String>, t::HostError> {
        Ok(self.fs_list_dir(&path)?)
    }
}

impl headroom::adapter::env::Host for State {
    fn get(&mut self, name: String) -> Result<Option<String>, t::HostError> {
        Ok(self.env_get(&name)?)
    }
}

impl headroom::adapter::which::Host for State {
    fn find(&mut self, name: String) -> Result<Option<String>, t::HostError> {
        Ok(self.which_find(&name)?)
    }
}

impl headroom::adapter::log::Host for State {
    fn log(&mut self, level: headroom::adapter::log::Level, message: String) {
        use headroom::adapter::log::Level;
        let level = match level {
            Level::Debug => LogLevel::Debug,
            Level::Info => LogLevel::Info,
            Level::Warn => LogLevel::Warn,
            Level::Error => LogLevel::Error,
        };
        State::log(self, level, &message);
    }
}
