//! Adapter API 0.3 (`wit/v0.3/adapter.wit`, `package headroom:adapter@0.3.0`): 0.2 plus the
//! `routing` export and the `env.login-get` import.

use crate::host::{Route, RouteSource};

wasmtime::component::bindgen!({
    path: "../../wit/v0.3",
    world: "adapter-plugin",
});

common_api!(login_get);
facts_api!();

impl Adapter {
    /// The adapter's routes as it reported them, sanitized; which of them the host keeps is
    /// `AdapterHost::routing`'s call.
    pub(crate) fn routing(
        &self,
        store: &mut Store<State>,
        ctx: &AdapterContext,
    ) -> wasmtime::Result<Result<Vec<Route>, AdapterError>> {
        let r = self
            .0
            .headroom_adapter_adapter()
            .call_routing(&mut *store, &context(ctx))?;
        let id = store.data().id();
        Ok(r.map(|routes| routes.into_iter().map(route).collect())
            .map_err(|e| adapter_error(id, e)))
    }
}

fn route(r: t::Route) -> Route {
    Route {
        target: sanitize(&r.target),
        url: r.url.map(|u| sanitize(&u)),
        source: match r.source {
            t::RouteSource::Config => RouteSource::Config,
            t::RouteSource::Environment => RouteSource::Environment,
            t::RouteSource::Default => RouteSource::Default,
        },
        via: sanitize(&r.via),
        notes: r.notes.iter().map(|n| sanitize(n)).collect(),
    }
}
