//! Installed plugins on disk: `~/.headroom/plugins/<id>/adapter.wasm` with its `consent.json`,
//! and `~/.headroom/runs/<id>.json` (the last run's denial count). The whole tree is on the
//! deny-list, so no plugin can read or edit its own grants.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use headroom_core::StateDir;
use headroom_core::fs::{create_private_dir, write_atomic};
use serde::{Deserialize, Serialize};

use crate::consent::Consent;

pub const WASM: &str = "adapter.wasm";
pub const CONSENT: &str = "consent.json";

#[derive(Debug, Clone)]
pub struct Store {
    state: StateDir,
}

/// One plugin found on disk.
pub struct Found {
    pub path: PathBuf,
    /// The consent record next to it: `None` for a file dropped in without `plugins install`,
    /// `Some(Err)` for an unreadable record.
    pub consent: Option<Result<Consent, String>>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastRun {
    /// Unix seconds.
    pub at: u64,
    pub call: String,
    /// Host calls the sandbox refused.
    pub denials: usize,
}

impl Store {
    pub fn new(state: &StateDir) -> Self {
        Self {
            state: state.clone(),
        }
    }

    pub fn dir(&self, id: &str) -> PathBuf {
        self.state.plugin_dir(id)
    }

    /// Installed plugins (`<id>/adapter.wasm`) and loose `*.wasm` files, in name order.
    pub fn found(&self) -> Vec<Found> {
        let Ok(rd) = std::fs::read_dir(self.state.plugins_dir()) else {
            return vec![];
        };
        let mut items: Vec<PathBuf> = rd.filter_map(|e| e.ok()).map(|e| e.path()).collect();
        items.sort();
        let mut out = Vec::new();
        for p in items {
            if p.is_dir() {
                let wasm = p.join(WASM);
                if wasm.exists() {
                    out.push(Found {
                        consent: read_consent(&p.join(CONSENT)),
                        path: wasm,
                    });
                }
            } else if p.extension().is_some_and(|e| e == "wasm") {
                out.push(Found {
                    path: p,
                    consent: None,
                });
            }
        }
        out
    }

    pub fn consent(&self, id: &str) -> Option<Result<Consent, String>> {
        read_consent(&self.dir(id).join(CONSENT))
    }

    pub fn write_consent(&self, c: &Consent) -> anyhow::Result<()> {
        let dir = self.dir(&c.id);
        create_private_dir(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let mut text = serde_json::to_string_pretty(c)?;
        text.push('\n');
        let path = dir.join(CONSENT);
        write_atomic(&path, text.as_bytes(), 0o600)
            .with_context(|| format!("writing {}", path.display()))
    }

    /// Put the approved file in place, then its record. A crash in between leaves a file whose
    /// hash does not match the old record: `needs-approval`, never a silent upgrade.
    pub fn install(&self, bytes: &[u8], consent: &Consent) -> anyhow::Result<PathBuf> {
        let dir = self.dir(&consent.id);
        create_private_dir(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let path = dir.join(WASM);
        let current = std::fs::read(&path).ok();
        if current.as_deref() != Some(bytes) {
            write_atomic(&path, bytes, 0o644)
                .with_context(|| format!("writing {}", path.display()))?;
        }
        self.write_consent(consent)?;
        Ok(path)
    }

    /// Delete an installed plugin's directory (or a loose file) and its run record.
    pub fn remove(&self, id: &str, path: &Path) -> anyhow::Result<()> {
        let dir = self.dir(id);
        if path.starts_with(&dir) {
            std::fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))?;
        } else {
            std::fs::remove_file(path).with_context(|| format!("removing {}", path.display()))?;
        }
        let _ = headroom_core::fs::remove_file_if_exists(&self.state.last_run(id));
        Ok(())
    }

    pub fn record_run(&self, id: &str, call: &str, denials: usize) {
        let run = LastRun {
            at: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
            call: call.to_owned(),
            denials,
        };
        let path = self.state.last_run(id);
        let write = create_private_dir(&self.state.runs_dir())
            .map_err(anyhow::Error::from)
            .and_then(|_| {
                Ok(write_atomic(
                    &path,
                    serde_json::to_string(&run)?.as_bytes(),
                    0o644,
                )?)
            });
        if let Err(e) = write {
            tracing::debug!("recording the last run of {id}: {e:#}");
        }
    }

    pub fn last_run(&self, id: &str) -> Option<LastRun> {
        let text = std::fs::read_to_string(self.state.last_run(id)).ok()?;
        serde_json::from_str(&text).ok()
    }
}

fn read_consent(path: &Path) -> Option<Result<Consent, String>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => return Some(Err(format!("consent record unreadable: {e}"))),
    };
    Some(
        serde_json::from_str(&text)
            .map_err(|e| format!("consent record {} is corrupt: {e}", path.display())),
    )
}
