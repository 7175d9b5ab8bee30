//! The host ↔ adapter contract, one module per adapter API version (`wit/v0.1` → [`v0_1`],
//! `wit/v0.2` → [`v0_2`], `wit/v0.3` → [`v0_3`]). Each holds its bindings, its host imports
//! (thin: the runtime answers them after asking the policy) and every conversion between its
//! types and the host's, so a later version sits beside the others without touching the rest of
//! the host. [`Api`] picks the version a component is served by, from its manifest's `api`.

use headroom_edits::Plan;
use wasmtime::Store;
use wasmtime::component::Component;

use crate::host::{AdapterContext, AdapterError, Detection, Route, RouteStatus};
use crate::runtime::State;

/// What every API version shares once its `bindgen!` has run in the invoking module: the linker,
/// the instance wrapper, every conversion between the version's types and the host's, and the
/// host imports common to all versions (fs, env, which, log; `common_api!(login_get)` adds 0.3's
/// `env.login-get`). A version module adds only what is its own (`facts_api!` from 0.2 on, 0.3's
/// `routing` export). The versions' types are distinct, so one body is expanded per module
/// rather than shared through generics.
macro_rules! common_api {
    // 0.1 and 0.2: `env.get` only.
    () => {
        common_api!(@body);

        impl headroom::adapter::env::Host for State {
            fn get(&mut self, name: String) -> Result<Option<String>, t::HostError> {
                Ok(self.env_get(&name)?)
            }
        }
    };
    // 0.3 on: `env.login-get` too.
    (login_get) => {
        common_api!(@body);

        impl headroom::adapter::env::Host for State {
            fn get(&mut self, name: String) -> Result<Option<String>, t::HostError> {
                Ok(self.env_get(&name)?)
            }

            fn login_get(&mut self, name: String) -> Result<Option<String>, t::HostError> {
                Ok(self.env_login_get(&name)?)
            }
        }
    };
    (@body) => {
        use headroom_edits::{BlockPlacement, Edit, MarkerStyle, Plan};
        use wasmtime::Store;
        use wasmtime::component::{Component, HasSelf, Linker};

        use crate::grants::to_logical;
        use crate::host::{AdapterContext, AdapterError, Detection, RouteStatus, Scope};
        use crate::runtime::{self, HostError, LogLevel, State, sanitize};

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

        /// A component of this API version linked against the host's imports, ready to instantiate.
        pub(crate) struct AdapterPre(AdapterPluginPre<State>);

        impl AdapterPre {
            pub(crate) fn new(component: &Component) -> anyhow::Result<Self> {
                Ok(Self(AdapterPluginPre::new(
                    linker()?.instantiate_pre(component)?,
                )?))
            }

            /// Runs the guest's start-up code (a trap here is the guest's).
            pub(crate) fn instantiate(
                &self,
                store: &mut Store<State>,
            ) -> wasmtime::Result<Adapter> {
                Ok(Adapter(self.0.instantiate(store)?))
            }
        }

        /// An instantiated adapter of this API version; its exports, in the host's types.
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
        }

        fn context(c: &AdapterContext) -> t::Context {
            t::Context {
                proxy_url: c.proxy_url(),
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
    };
}

/// The `facts` import (API 0.2 on), expanded after [`common_api!`] in each version that has it.
macro_rules! facts_api {
    () => {
        impl headroom::adapter::facts::Host for State {
            fn codex_login(&mut self) -> Result<headroom::adapter::facts::LoginKind, t::HostError> {
                use crate::facts::LoginKind;
                use headroom::adapter::facts::LoginKind as L;
                Ok(match self.fact_codex_login()? {
                    LoginKind::None => L::None,
                    LoginKind::ApiKey => L::ApiKey,
                    LoginKind::Chatgpt => L::Chatgpt,
                })
            }
        }
    };
}

pub mod v0_1;
pub mod v0_2;
pub mod v0_3;

/// An adapter API version this host serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    V0_1,
    V0_2,
    V0_3,
}

impl Api {
    /// The version a manifest's `api` (already checked by `manifest::check_api`) is served by.
    pub fn of(api: &str) -> anyhow::Result<Self> {
        let v = semver::Version::parse(api)?;
        match (v.major, v.minor) {
            (0, 1) => Ok(Api::V0_1),
            (0, 2) => Ok(Api::V0_2),
            (0, 3) => Ok(Api::V0_3),
            _ => anyhow::bail!("adapter API {api} is not served by this headroom"),
        }
    }

    /// Check a component's imports and exports against this version's world, without running
    /// anything.
    pub fn check_imports(self, component: &Component) -> anyhow::Result<()> {
        match self {
            Api::V0_1 => v0_1::check_imports(component),
            Api::V0_2 => v0_2::check_imports(component),
            Api::V0_3 => v0_3::check_imports(component),
        }
    }
}

/// A component linked against the host's imports of its API version, ready to instantiate.
pub(crate) enum AdapterPre {
    V0_1(v0_1::AdapterPre),
    V0_2(v0_2::AdapterPre),
    V0_3(v0_3::AdapterPre),
}

impl AdapterPre {
    pub(crate) fn new(api: Api, component: &Component) -> anyhow::Result<Self> {
        Ok(match api {
            Api::V0_1 => AdapterPre::V0_1(v0_1::AdapterPre::new(component)?),
            Api::V0_2 => AdapterPre::V0_2(v0_2::AdapterPre::new(component)?),
            Api::V0_3 => AdapterPre::V0_3(v0_3::AdapterPre::new(component)?),
        })
    }

    /// Runs the guest's start-up code (a trap here is the guest's).
    pub(crate) fn instantiate(&self, store: &mut Store<State>) -> wasmtime::Result<Adapter> {
        Ok(match self {
            AdapterPre::V0_1(p) => Adapter::V0_1(p.instantiate(store)?),
            AdapterPre::V0_2(p) => Adapter::V0_2(p.instantiate(store)?),
            AdapterPre::V0_3(p) => Adapter::V0_3(p.instantiate(store)?),
        })
    }
}

/// An instantiated adapter of any version; its exports, in the host's types.
pub(crate) enum Adapter {
    V0_1(v0_1::Adapter),
    V0_2(v0_2::Adapter),
    V0_3(v0_3::Adapter),
}

impl Adapter {
    pub(crate) fn detect(
        &self,
        store: &mut Store<State>,
    ) -> wasmtime::Result<Result<Detection, AdapterError>> {
        match self {
            Adapter::V0_1(a) => a.detect(store),
            Adapter::V0_2(a) => a.detect(store),
            Adapter::V0_3(a) => a.detect(store),
        }
    }

    pub(crate) fn status(
        &self,
        store: &mut Store<State>,
        ctx: &AdapterContext,
    ) -> wasmtime::Result<Result<RouteStatus, AdapterError>> {
        match self {
            Adapter::V0_1(a) => a.status(store, ctx),
            Adapter::V0_2(a) => a.status(store, ctx),
            Adapter::V0_3(a) => a.status(store, ctx),
        }
    }

    pub(crate) fn apply(
        &self,
        store: &mut Store<State>,
        ctx: &AdapterContext,
    ) -> wasmtime::Result<Result<Plan, AdapterError>> {
        match self {
            Adapter::V0_1(a) => a.apply(store, ctx),
            Adapter::V0_2(a) => a.apply(store, ctx),
            Adapter::V0_3(a) => a.apply(store, ctx),
        }
    }

    /// Where each tool sends its requests (API 0.3 on). The older APIs have no `routing`
    /// export: nothing is reported, and the host derives every route from `status`.
    pub(crate) fn routing(
        &self,
        store: &mut Store<State>,
        ctx: &AdapterContext,
    ) -> wasmtime::Result<Result<Vec<Route>, AdapterError>> {
        match self {
            Adapter::V0_1(_) | Adapter::V0_2(_) => Ok(Ok(Vec::new())),
            Adapter::V0_3(a) => a.routing(store, ctx),
        }
    }
}
