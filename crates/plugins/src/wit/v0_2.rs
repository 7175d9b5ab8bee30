//! Adapter API 0.2 (`wit/v0.2/adapter.wit`, `package headroom:adapter@0.2.0`): 0.1 plus the
//! `facts` import, without the `revert` export.

use crate::facts::LoginKind;

wasmtime::component::bindgen!({
    path: "../../wit/v0.2",
    world: "adapter-plugin",
});

common_api!();

impl headroom::adapter::facts::Host for State {
    fn codex_login(&mut self) -> Result<headroom::adapter::facts::LoginKind, t::HostError> {
        use headroom::adapter::facts::LoginKind as L;
        Ok(match self.fact_codex_login()? {
            LoginKind::None => L::None,
            LoginKind::ApiKey => L::ApiKey,
            LoginKind::Chatgpt => L::Chatgpt,
        })
    }
}
