//! Adapter API 0.1 (`wit/v0.1/adapter.wit`, `package headroom:adapter@0.1.0`). Its `revert`
//! export is never called: the host reverts from its journal (docs/architecture.md, "Contract
//! notes"); API 0.2 has no such export.

wasmtime::component::bindgen!({
    path: "../../wit/v0.1",
    world: "adapter-plugin",
});

common_api!();
