//! Environment variables one side of headroom sets and another reads. Spelled once here so the
//! supervisor's unit, the container and the proxy cannot drift apart.

/// Prefix of the variables a persistent deployment passes to its proxy; reserved (`--env` may
/// not set them).
pub const DEPLOYMENT_PREFIX: &str = "HEADROOM_DEPLOYMENT_";
pub const DEPLOYMENT_PROFILE: &str = "HEADROOM_DEPLOYMENT_PROFILE";
pub const DEPLOYMENT_PRESET: &str = "HEADROOM_DEPLOYMENT_PRESET";
pub const DEPLOYMENT_RUNTIME: &str = "HEADROOM_DEPLOYMENT_RUNTIME";
pub const DEPLOYMENT_SUPERVISOR: &str = "HEADROOM_DEPLOYMENT_SUPERVISOR";
pub const DEPLOYMENT_SCOPE: &str = "HEADROOM_DEPLOYMENT_SCOPE";
/// The upstream backend a deployment's proxy is told to use.
pub const BACKEND: &str = "HEADROOM_BACKEND";
/// The proxy's port (`headroom proxy`, `wrap`, `install apply`, the container).
pub const PORT: &str = "HEADROOM_PORT";
/// The proxy's compression mode (`off`, `lossless`, `full`; `headroom proxy --compress`, the image).
pub const COMPRESS: &str = "HEADROOM_COMPRESS";
/// Where the proxy keeps what `full` compression cut (`headroom proxy --retrieve-dir`).
pub const RETRIEVE_DIR: &str = "HEADROOM_RETRIEVE_DIR";
