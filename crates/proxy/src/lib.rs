//! headroom-proxy: the local reverse proxy AI coding tools talk to.
//!
//! * [`config`]: listen address, upstreams, token, deployment identity.
//! * [`server`]: listener, dispatch, graceful shutdown ([`serve`], [`serve_on`] with per-core [`Workers`], [`run`]).
//! * [`forward`]: routing `/v1/...` to Anthropic or OpenAI, streaming relay, WebSocket splice.
//! * [`compression`]: tool-output compression on the way upstream, and what it saved.
//! * [`headers`]: hop-by-hop and never-forwarded headers.
//! * [`upload`]: the request body on its way upstream: scanned as it passes, streamed when
//!   compression will not touch it.
//! * [`ws`]: the frame-aware WebSocket relay that lets client text messages be rewritten.
//! * [`errors`]: errors in each provider's own shape (JSON or an SSE `error` event).
//! * [`health`], [`metrics`]: `/livez` `/readyz` `/health`, `/metrics`.
//! * [`dashboard`]: `/dashboard`, the savings page, and its JSON API (loopback callers only).
//! * [`egress`]: how upstreams are reached: the outbound proxy and the trusted CAs.
//! * [`probe`]: can an upstream be reached (DNS, TCP, TLS), and which upstreams a proxy uses.

pub mod body;
pub mod compression;
pub mod config;
pub mod dashboard;
pub mod egress;
pub mod errors;
pub mod forward;
pub mod headers;
pub mod health;
pub mod metrics;
pub mod probe;
pub mod server;
#[cfg(feature = "stub")]
pub mod stub;
pub mod upload;
pub mod ws;

pub use config::{DeploymentInfo, ProxyConfig, Upstream};
pub use server::{BindError, Workers, bind, run, serve, serve_on, shutdown_signal};
