//! Adapter API 0.2 (`wit/v0.2/adapter.wit`, `package headroom:adapter@0.2.0`): 0.1 plus the
//! `facts` import, without the `revert` export.

wasmtime::component::bindgen!({
    path: "../../wit/v0.2",
    world: "adapter-plugin",
});

common_api!();
facts_api!();
