//! headroom-deploy: persistent deployments of the headroom proxy.
//!
//! * [`manifest`]/[`profile`]: the Python-compatible manifest and where a profile lives.
//! * [`planner`]: `apply` arguments → a validated plan (what `--dry-run` prints).
//! * [`supervisors`]: systemd, cron, launchd, Windows, docker behind one trait.
//! * [`agent`]: the `run`/`ensure` entry points supervisors invoke.
//! * [`lifecycle`]: apply/start/stop/restart/remove, transactional and locked per profile.
//! * [`health`]/[`status`]: probes, port ownership, `status`.
//! * [`routing_state`]: whether the tools are routed now (the host routes them).

pub mod agent;
pub mod binary;
pub mod command;
pub mod deployment;
pub mod fsutil;
pub mod health;
pub mod lifecycle;
pub mod logs;
pub mod manifest;
pub mod planner;
pub mod platform;
pub mod procs;
pub mod profile;
pub mod quote;
pub mod routing_state;
pub mod status;
pub mod supervisors;
pub mod windows_scm;

pub use deployment::{Deployment, PROXY_SUBCOMMAND};
pub use manifest::Manifest;
pub use profile::{ProfileName, ProfilePaths};
