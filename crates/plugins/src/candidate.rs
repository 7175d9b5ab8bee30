//! The pre-install check: a `.wasm` examined without running any of it, and what the user is
//! asked to approve. Nothing is written until [`crate::store::Store::install`]; the consent
//! screen's wording belongs to the CLI, this module only says what is in each section.

use anyhow::bail;

use crate::consent::{Capability, Consent, declared};
use crate::host::HostOptions;
use crate::manifest::{self, Manifest};
use crate::policy::Policy;
use crate::store::Store;
use crate::wit::Api;
use crate::{cache, runtime};

/// A plugin checked for installation.
pub struct Candidate {
    pub manifest: Manifest,
    pub sha256: String,
    pub bytes: Vec<u8>,
    /// The record that will be written once the user agrees (pending still pending).
    pub consent: Consent,
    /// The record in place before, if this is an upgrade or a re-approval.
    pub previous: Option<Consent>,
}

/// The consent screen's sections, as data.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Review {
    /// Pending: what a yes grants now (without what the deny-list refuses anyway).
    pub asked: Vec<Capability>,
    /// Granted before and carried over.
    pub kept: Vec<Capability>,
    /// Revoked by the user; stays off.
    pub revoked: Vec<Capability>,
    /// Refused on this machine whatever the answer (the deny-list).
    pub denied: Vec<Capability>,
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

    /// What the consent screen shows, with the deny-list judged on this machine.
    pub fn review(&self, opts: &HostOptions) -> Review {
        let policy = Policy::new(
            &self.manifest,
            Some(&self.consent),
            &opts.home,
            opts.env.clone(),
        );
        let denied: Vec<Capability> = declared(&self.manifest)
            .into_iter()
            .filter(|c| policy.denies(c))
            .collect();
        let allowed = |caps: &[Capability]| -> Vec<Capability> {
            caps.iter()
                .filter(|c| !denied.contains(c))
                .cloned()
                .collect()
        };
        Review {
            asked: allowed(&self.pending()),
            kept: allowed(&self.consent.granted),
            revoked: self.consent.revoked.clone(),
            denied,
        }
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
    let sha256 = headroom_core::sha256_hex(&bytes);
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
    let component = cache::load_component(&bytes, &sha256, Some(&opts.state_dir.cache_dir()))?;
    Api::of(&m.api)
        .and_then(|api| api.check_imports(&component))
        .map_err(|e| anyhow::anyhow!("imports: {}", runtime::sanitize(&format!("{e:#}"))))?;
    let previous = match Store::new(&opts.state_dir).consent(&m.id) {
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
