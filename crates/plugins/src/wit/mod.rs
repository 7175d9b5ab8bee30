//! The host ↔ adapter contract, one module per adapter API version (`wit/v0.1` → [`v0_1`],
//! `wit/v0.2` → [`v0_2`]). Each holds its bindings, its host imports (thin: the runtime answers
//! them after asking the policy) and every conversion between its types and the host's, so a
//! later version sits beside the others without touching the rest of the host. [`Api`] picks
//! the version a component is served by, from its manifest's `api`.

use headroom_edits::Plan;
use wasmtime::Store;
use wasmtime::component::Component;

use crate::host::{AdapterContext, AdapterError, Detection, RouteStatus};
use crate::runtime::State;

pub mod v0_1;
pub mod v0_2;

/// An adapter API version this host serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    V0_1,
    V0_2,
}

impl Api {
    /// The version a manifest's `api` (already checked by `manifest::check_api`) is served by.
    pub fn of(api: &str) -> anyhow::Result<Self> {
        let v = semver::Version::parse(api)?;
        match (v.major, v.minor) {
            (0, 1) => Ok(Api::V0_1),
            (0, 2) => Ok(Api::V0_2),
            _ => anyhow::bail!("adapter API {api} is not served by this headroom"),
        }
    }

    /// Check a component's imports and exports against this version's world, without running
    /// anything.
    pub fn check_imports(self, component: &Component) -> anyhow::Result<()> {
        match self {
            Api::V0_1 => v0_1::check_imports(component),
            Api::V0_2 => v0_2::check_imports(component),
        }
    }
}

/// A component linked against the host's imports of its API version, ready to instantiate.
pub(crate) enum AdapterPre {
    V0_1(v0_1::AdapterPre),
    V0_2(v0_2::AdapterPre),
}

impl AdapterPre {
    pub(crate) fn new(api: Api, component: &Component) -> anyhow::Result<Self> {
        Ok(match api {
            Api::V0_1 => AdapterPre::V0_1(v0_1::AdapterPre::new(component)?),
            Api::V0_2 => AdapterPre::V0_2(v0_2::AdapterPre::new(component)?),
        })
    }

    /// Runs the guest's start-up code (a trap here is the guest's).
    pub(crate) fn instantiate(&self, store: &mut Store<State>) -> wasmtime::Result<Adapter> {
        Ok(match self {
            AdapterPre::V0_1(p) => Adapter::V0_1(p.instantiate(store)?),
            AdapterPre::V0_2(p) => Adapter::V0_2(p.instantiate(store)?),
        })
    }
}

/// An instantiated adapter of either version; its exports, in the host's types.
pub(crate) enum Adapter {
    V0_1(v0_1::Adapter),
    V0_2(v0_2::Adapter),
}

impl Adapter {
    pub(crate) fn detect(
        &self,
        store: &mut Store<State>,
    ) -> wasmtime::Result<Result<Detection, AdapterError>> {
        match self {
            Adapter::V0_1(a) => a.detect(store),
            Adapter::V0_2(a) => a.detect(store),
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
        }
    }
}
