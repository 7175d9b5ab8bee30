//! Installed plugins on disk: `~/.headroom/plugins/<id>/adapter.wasm` with its `consent.json`,
//! and `~/.headroom/runs/<id>.json` (the last run's denial count). The whole tree is on the
//! deny-list, so no plugin can read or edit its own grants.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use serde::{Deserialize, Serialize};

use crate::consent::{Capability, Consent};
use crate::host::{HostOptions, sha256_hex};
use crate::manifest::{self, Manifest};
use crate::runtime;

pub const WASM: &str = "adapter.wasm";
pub const CONSENT: &str = "consent.json";

#[derive(Debug, Clone)]
pub struct Store {
    plugins: PathBuf,
    runs: PathBuf,
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
    pub fn new(state_dir: &Path) -> Self {
        Self {
            plugins: state_dir.join("plugins"),
            runs: state_dir.join("runs"),
        }
    }

    pub fn dir(&self, id: &str) -> PathBuf {
        self.plugins.join(id)
    }

    /// Installed plugins (`<id>/adapter.wasm`) and loose `*.wasm` files, in name order.
    pub fn found(&self) -> Vec<Found> {
        let Ok(rd) = std::fs::read_dir(&self.plugins) else {
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
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let mut text = serde_json::to_string_pretty(c)?;
        text.push('\n');
        let path = dir.join(CONSENT);
        headroom_edits::fsio::write_atomic(
            &path.display().to_string(),
            &path,
            text.as_bytes(),
            0o600,
        )?;
        Ok(())
    }

    /// Put the approved file in place, then its record. A crash in between leaves a file whose
    /// hash does not match the old record: `needs-approval`, never a silent upgrade.
    pub fn install(&self, bytes: &[u8], consent: &Consent) -> anyhow::Result<PathBuf> {
        let dir = self.dir(&consent.id);
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let path = dir.join(WASM);
        let current = std::fs::read(&path).ok();
        if current.as_deref() != Some(bytes) {
            headroom_edits::fsio::write_atomic(&path.display().to_string(), &path, bytes, 0o644)?;
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
        let _ = std::fs::remove_file(self.runs.join(format!("{id}.json")));
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
        let path = self.runs.join(format!("{id}.json"));
        let write = std::fs::create_dir_all(&self.runs)
            .map_err(anyhow::Error::from)
            .and_then(|_| {
                headroom_edits::fsio::write_atomic(
                    &path.display().to_string(),
                    &path,
                    serde_json::to_string(&run)?.as_bytes(),
                    0o644,
                )
                .map_err(Into::into)
            });
        if let Err(e) = write {
            tracing::debug!("recording the last run of {id}: {e:#}");
        }
    }

    pub fn last_run(&self, id: &str) -> Option<LastRun> {
        let text = std::fs::read_to_string(self.runs.join(format!("{id}.json"))).ok()?;
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

/// A plugin checked for installation; nothing is written until [`Store::install`].
pub struct Candidate {
    pub manifest: Manifest,
    pub sha256: String,
    pub bytes: Vec<u8>,
    /// The record that will be written once the user agrees (pending still pending).
    pub consent: Consent,
    /// The record in place before, if this is an upgrade or a re-approval.
    pub previous: Option<Consent>,
}

impl Candidate {
    /// What the user is asked to approve now.
    pub fn pending(&self) -> Vec<Capability> {
        self.consent.pending(&self.manifest)
    }

    /// Same file, same record: nothing to do.
    pub fn unchanged(&self) -> bool {
        self.previous.as_ref().is_some_and(|p| {
            p.sha256 == self.sha256
                && self.pending().is_empty()
                && p.granted == self.consent.granted
        })
    }
}

/// Check a `.wasm` for installation without running any of it: manifest, API range, compile
/// and imports, id clash with a built-in. `source` is recorded as where it came from.
pub fn check(
    opts: &HostOptions,
    bytes: Vec<u8>,
    source: &str,
    replace_builtin: bool,
) -> anyhow::Result<Candidate> {
    let m = manifest::inspect(&bytes)?;
    let sha256 = sha256_hex(&bytes);
    let builtin = crate::builtin::BUILTINS.iter().any(|(id, _)| *id == m.id);
    if builtin && !replace_builtin {
        bail!(
            "id {:?} belongs to a built-in adapter; to use this file instead, add --replace-builtin",
            m.id
        );
    }
    if !builtin && replace_builtin {
        bail!(
            "--replace-builtin: no built-in adapter is called {:?}",
            runtime::sanitize(&m.id)
        );
    }
    let component = runtime::load_component(&bytes, &sha256, Some(&opts.state_dir.join("cache")))?;
    runtime::check_imports(&component)
        .map_err(|e| anyhow::anyhow!("imports: {}", runtime::sanitize(&format!("{e:#}"))))?;
    let store = Store::new(&opts.state_dir);
    let previous = match store.consent(&m.id) {
        Some(Ok(c)) => Some(c),
        // A corrupt record grants nothing: everything is asked again.
        Some(Err(_)) | None => None,
    };
    let consent = Consent::carry_over(&m, &sha256, source, builtin, previous.as_ref());
    Ok(Candidate {
        manifest: m,
        sha256,
        bytes,
        consent,
        previous,
    })
}

impl Candidate {
    /// The consent screen: every string from the plugin is sanitized, so nothing it ships can
    /// move the cursor, clear the screen or fake a prompt.
    pub fn screen(&self, env: &crate::grants::EnvLookup, home: &str) -> String {
        use std::fmt::Write as _;
        let s = runtime::sanitize;
        let m = &self.manifest;
        let mut out = String::new();
        let what = match &self.previous {
            Some(p) if p.sha256 == self.sha256 => "Approve".to_owned(),
            Some(p) => format!("Upgrade (installed: {})", s(&p.version)),
            None => "Install".to_owned(),
        };
        let _ = writeln!(
            out,
            "{what} adapter plugin {:?} {}",
            s(&m.id),
            s(&m.version)
        );
        if self.consent.replaces_builtin {
            let _ = writeln!(out, "  REPLACES the built-in adapter {:?}", s(&m.id));
        }
        for (k, v) in [
            ("name", m.name.as_str()),
            ("author", m.author.as_str()),
            ("license", m.license.as_str()),
            ("source", self.consent.source.as_str()),
            ("sha256", self.sha256.as_str()),
        ] {
            let v = if v.is_empty() { "(not given)" } else { v };
            let _ = writeln!(out, "  {k:<9} {}", s(v));
        }
        let _ = writeln!(
            out,
            "  {:<9} {} (scopes: {})",
            "targets",
            s(&m.targets.join(", ")),
            s(&m.scopes.join(", "))
        );
        let pending = self.pending();
        let denied: Vec<Capability> = crate::consent::declared(m)
            .into_iter()
            .filter(|c| c.denied(env, home))
            .collect();
        let section = |out: &mut String, title: &str, caps: &[Capability], mark: &str| {
            if caps.is_empty() {
                return;
            }
            let _ = writeln!(out, "\n{title}");
            for c in caps {
                let _ = writeln!(out, "  {mark} {}", s(&c.words(env, home)));
            }
        };
        let new_title = if self.previous.is_some() {
            "It asks for NEW permissions:"
        } else {
            "It asks to:"
        };
        let fresh: Vec<Capability> = pending
            .iter()
            .filter(|c| !denied.contains(c))
            .cloned()
            .collect();
        section(&mut out, new_title, &fresh, "+");
        let kept: Vec<Capability> = self
            .consent
            .granted
            .iter()
            .filter(|c| !denied.contains(c))
            .cloned()
            .collect();
        section(&mut out, "Already approved (kept):", &kept, "=");
        section(
            &mut out,
            "Revoked by you (stays off):",
            &self.consent.revoked,
            "-",
        );
        section(
            &mut out,
            "Refused whatever you answer (headroom's deny-list):",
            &denied,
            "x",
        );
        let _ = writeln!(
            out,
            "\nIt can never: run programs, use the network, read files or environment variables \
             not listed above, read API keys or tokens, touch ~/.ssh, ~/.aws or other \
             credentials, or change headroom's own state (including these grants). Every edit \
             is shown by --dry-run, journaled, and undone by `headroom plugins remove {}`.",
            s(&m.id)
        );
        out
    }
}
