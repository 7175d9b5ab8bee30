//! Supervisors keep the proxy alive. Each one renders its definition (what `--dry-run` prints and
//! unit tests check) and drives the real manager: register, start, stop, unregister, inspect.

use std::path::PathBuf;

use serde::Serialize;
use thiserror::Error;

use crate::deployment::Deployment;
use crate::manifest::{Preset, Scope, SupervisorKind};

pub mod cron;
pub mod docker;
pub mod launchd;
pub mod systemd;
pub mod windows;

/// A file a supervisor writes, with its exact bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RenderedFile {
    pub path: PathBuf,
    pub content: String,
    pub mode: u32,
}

/// Everything a supervisor would do for a deployment, without doing it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Rendered {
    pub files: Vec<RenderedFile>,
    /// A crontab block spliced into the user's crontab (the rest stays byte for byte).
    pub crontab_block: Option<String>,
    /// Commands run to register and start, as argv.
    pub commands: Vec<Vec<String>>,
}

/// The chosen supervisor cannot work on this machine right now.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("{supervisor} is not usable: {missing}{}", hint.as_ref().map(|h| format!("; {h}")).unwrap_or_default())]
pub struct Unusable {
    pub supervisor: String,
    pub missing: String,
    pub hint: Option<String>,
}

/// What the manager says about the deployment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SupervisorState {
    /// The definition is registered (unit enabled, crontab block present, container exists).
    pub registered: bool,
    /// The manager's own word: `active`, `inactive`, `failed`, `running`, `exited`, `scheduled`…
    pub state: String,
    pub running: bool,
    pub pid: Option<u32>,
    /// The manager keeps restarting a proxy that exits right after starting, or gave up on it.
    #[serde(default)]
    pub crash_looping: bool,
}

pub trait Supervisor {
    fn kind(&self) -> SupervisorKind;
    /// Checks the manager answers, before anything is written.
    fn probe(&self, d: &Deployment) -> Result<(), Unusable>;
    fn render(&self, d: &Deployment) -> anyhow::Result<Rendered>;
    /// Write the definition and register it (enabled for boot), without starting.
    fn install(&self, d: &Deployment) -> anyhow::Result<()>;
    /// Start now; returns what was done, for the user.
    fn start(&self, d: &Deployment) -> anyhow::Result<String>;
    /// Stop now and keep it down; returns what was done.
    fn stop(&self, d: &Deployment) -> anyhow::Result<String>;
    /// Stop and unregister; removing what is already gone is not an error.
    fn uninstall(&self, d: &Deployment) -> anyhow::Result<()>;
    fn state(&self, d: &Deployment) -> SupervisorState;
}

/// The supervisor a preset uses on this OS.
pub fn kind_for(preset: Preset) -> SupervisorKind {
    match preset {
        Preset::Docker => SupervisorKind::Docker,
        Preset::Service if cfg!(target_os = "macos") => SupervisorKind::Launchd,
        Preset::Task if cfg!(target_os = "macos") => SupervisorKind::Launchd,
        Preset::Service if cfg!(windows) => SupervisorKind::WindowsService,
        Preset::Task if cfg!(windows) => SupervisorKind::WindowsTask,
        Preset::Service => SupervisorKind::Systemd,
        Preset::Task => SupervisorKind::Cron,
    }
}

pub fn for_kind(kind: SupervisorKind, scope: Scope, preset: Preset) -> Box<dyn Supervisor> {
    let system = scope == Scope::System;
    match kind {
        SupervisorKind::Systemd => Box::new(systemd::Systemd { system }),
        SupervisorKind::Cron => Box::new(cron::Cron { system }),
        SupervisorKind::Docker => Box::new(docker::Docker),
        SupervisorKind::Launchd => Box::new(launchd::Launchd {
            system,
            keep_alive: preset != Preset::Task,
        }),
        SupervisorKind::WindowsService | SupervisorKind::WindowsTask => {
            Box::new(windows::Windows { kind })
        }
    }
}

/// The preset to suggest when `preset` cannot work here.
pub fn alternative(preset: Preset) -> &'static str {
    match preset {
        Preset::Service => "try --preset persistent-task (cron)",
        Preset::Task => "try --preset persistent-service (systemd)",
        Preset::Docker => "try --preset persistent-service or persistent-task",
    }
}
