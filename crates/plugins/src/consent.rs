//! Consent: which of an installed plugin's declared capabilities the user approved, bound to the
//! sha256 of the exact file they approved.
//!
//! Rules (docs/plugin-authors.md, "Consent"):
//! * a plugin runs only when its file's hash matches the record and nothing it declares is
//!   pending; otherwise it is `needs-approval` and nothing of it runs;
//! * an upgrade declaring the same or fewer capabilities keeps its grant; anything new is pending;
//! * a revoked capability stays revoked across upgrades; the plugin runs without it;
//! * the deny-list ([`crate::policy::DENIED`]) wins over every grant.
//!
//! This module keeps the record; [`crate::policy::Policy`] turns it into what a call may do.

use headroom_edits::grants::key_covers;
use serde::{Deserialize, Serialize};

use crate::manifest::{EditCapability, Manifest, edit_format};
use crate::runtime::sanitize;

/// One unit of permission, as declared in the manifest (paths unexpanded, so a record means the
/// same thing whatever `${VAR}` holds today).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Capability {
    Read {
        path: String,
    },
    Edit {
        file: String,
        format: String,
        key: String,
    },
    Locate {
        binary: String,
    },
    Env {
        name: String,
    },
    /// A fact about a credential the host answers (API 0.2, [`crate::facts`]).
    Fact {
        name: String,
    },
}

impl Capability {
    /// The short form `plugins list -v` shows and `plugins grant|revoke` takes.
    pub fn spec(&self) -> String {
        match self {
            Capability::Read { path } => format!("read {path}"),
            Capability::Edit { file, key, .. } => format!("edit {file} {key}"),
            Capability::Locate { binary } => format!("locate {binary}"),
            Capability::Env { name } => format!("env {name}"),
            Capability::Fact { name } => format!("fact {name}"),
        }
    }

    /// Whether granting `self` already grants `other` (`read ~/.x/**` covers `read ~/.x/a`;
    /// `edit f /env` covers `edit f /env/X`).
    pub fn covers(&self, other: &Capability) -> bool {
        use Capability::*;
        match (self, other) {
            (Read { path: a }, Read { path: b }) => {
                a == b
                    || a.strip_suffix("/**").is_some_and(|dir| {
                        let b = b.strip_suffix("/**").unwrap_or(b);
                        b == dir || b.starts_with(&format!("{dir}/"))
                    })
            }
            (
                Edit {
                    file: f1,
                    format: x1,
                    key: k1,
                },
                Edit {
                    file: f2,
                    format: x2,
                    key: k2,
                },
            ) => f1 == f2 && x1 == x2 && key_covers(edit_format(x1), k1, k2),
            (Locate { binary: a }, Locate { binary: b }) => a == b,
            (Env { name: a }, Env { name: b }) => a == b,
            (Fact { name: a }, Fact { name: b }) => a == b,
            _ => false,
        }
    }
}

/// Every capability a manifest declares, one per edit key.
pub fn declared(m: &Manifest) -> Vec<Capability> {
    let c = &m.capabilities;
    let mut out: Vec<Capability> = c
        .read
        .iter()
        .map(|p| Capability::Read { path: p.clone() })
        .collect();
    for e in &c.edit {
        for k in &e.keys {
            out.push(Capability::Edit {
                file: e.file.clone(),
                format: e.format.clone(),
                key: k.clone(),
            });
        }
    }
    out.extend(
        c.which
            .iter()
            .map(|b| Capability::Locate { binary: b.clone() }),
    );
    out.extend(c.env.iter().map(|n| Capability::Env { name: n.clone() }));
    out.extend(c.facts.iter().map(|n| Capability::Fact { name: n.clone() }));
    out
}

/// `m` with only the capabilities `keep` allows (what the sandbox is built from).
pub fn restrict(m: &Manifest, keep: impl Fn(&Capability) -> bool) -> Manifest {
    let mut r = m.clone();
    let c = &mut r.capabilities;
    c.read
        .retain(|p| keep(&Capability::Read { path: p.clone() }));
    c.which
        .retain(|b| keep(&Capability::Locate { binary: b.clone() }));
    c.env.retain(|n| keep(&Capability::Env { name: n.clone() }));
    c.facts
        .retain(|n| keep(&Capability::Fact { name: n.clone() }));
    c.edit = m
        .capabilities
        .edit
        .iter()
        .map(|e| EditCapability {
            keys: e
                .keys
                .iter()
                .filter(|k| {
                    keep(&Capability::Edit {
                        file: e.file.clone(),
                        format: e.format.clone(),
                        key: (*k).clone(),
                    })
                })
                .cloned()
                .collect(),
            ..e.clone()
        })
        .filter(|e| !e.keys.is_empty())
        .collect();
    r
}

pub const RECORD_VERSION: u32 = 1;

/// What the user approved for one installed plugin (`~/.headroom/plugins/<id>/consent.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Consent {
    pub record: u32,
    pub id: String,
    pub version: String,
    /// sha256 of the approved `.wasm`.
    pub sha256: String,
    /// Where it was installed from.
    pub source: String,
    /// Unix seconds.
    pub approved_at: u64,
    pub enabled: bool,
    pub replaces_builtin: bool,
    pub granted: Vec<Capability>,
    pub revoked: Vec<Capability>,
}

/// Whether a plugin may run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Approved,
    NeedsApproval(String),
    Disabled,
}

impl Consent {
    /// A record for `m` at `sha256` that keeps `previous`'s decisions about what `m` still
    /// declares and grants nothing new: [`Consent::pending`] lists what still needs a yes.
    pub fn carry_over(
        m: &Manifest,
        sha256: &str,
        source: &str,
        replaces_builtin: bool,
        previous: Option<&Consent>,
    ) -> Self {
        let decl = declared(m);
        let (granted, revoked) = match previous {
            Some(p) => (
                decl.iter().filter(|c| p.grants(c)).cloned().collect(),
                decl.iter()
                    .filter(|c| p.revoked.contains(c))
                    .cloned()
                    .collect(),
            ),
            None => (vec![], vec![]),
        };
        Self {
            record: RECORD_VERSION,
            id: m.id.clone(),
            version: m.version.clone(),
            sha256: sha256.to_owned(),
            source: source.to_owned(),
            approved_at: now(),
            enabled: previous.is_none_or(|p| p.enabled),
            replaces_builtin,
            granted,
            revoked,
        }
    }

    /// Whether the user granted `c` (directly or through a broader grant) and did not revoke it.
    pub fn grants(&self, c: &Capability) -> bool {
        !self.revoked.contains(c) && self.granted.iter().any(|g| g.covers(c))
    }

    /// Declared capabilities neither granted nor revoked.
    pub fn pending(&self, m: &Manifest) -> Vec<Capability> {
        declared(m)
            .into_iter()
            .filter(|c| !self.grants(c) && !self.revoked.contains(c))
            .collect()
    }

    /// Grant `cap` (`plugins grant <id> <spec>`): it is no longer revoked.
    pub fn grant(&mut self, cap: &Capability) {
        self.revoked.retain(|r| r != cap);
        self.granted.push(cap.clone());
        self.granted.sort();
        self.granted.dedup();
    }

    /// Revoke `cap` (`plugins revoke <id> <spec>`): the plugin runs without it, across upgrades.
    pub fn revoke(&mut self, cap: &Capability) {
        self.granted.retain(|g| g != cap);
        self.revoked.push(cap.clone());
        self.revoked.sort();
        self.revoked.dedup();
    }

    /// Grant everything pending (the user said yes to the consent screen).
    pub fn approve_all(&mut self, m: &Manifest) {
        let pending = self.pending(m);
        self.granted.extend(pending);
        self.granted.sort();
        self.granted.dedup();
        self.approved_at = now();
    }

    pub fn verdict(&self, m: &Manifest, sha256: &str) -> Verdict {
        if self.sha256 != sha256 {
            return Verdict::NeedsApproval("the file changed since it was approved".into());
        }
        if self.id != m.id {
            return Verdict::NeedsApproval(format!(
                "the file now calls itself {:?}",
                sanitize(&m.id)
            ));
        }
        let pending = self.pending(m);
        if !pending.is_empty() {
            return Verdict::NeedsApproval(format!(
                "{} capabilit{} not approved: {}",
                pending.len(),
                if pending.len() == 1 { "y" } else { "ies" },
                pending
                    .iter()
                    .map(|c| sanitize(&c.spec()))
                    .collect::<Vec<_>>()
                    .join("; ")
            ));
        }
        if !self.enabled {
            return Verdict::Disabled;
        }
        Verdict::Approved
    }

    /// The manifest the sandbox is built from: only what is granted.
    pub fn effective(&self, m: &Manifest) -> Manifest {
        restrict(m, |c| self.grants(c))
    }
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::parse;

    fn manifest(extra_edit_keys: &str, env: &str) -> Manifest {
        parse(&format!(
            r#"
id = "foo"
name = "Foo"
version = "1.0.0"
api = "0.1.0"
[capabilities]
env = [{env}]
which = ["foo"]
read = ["${{FOO_HOME:-~/.foo}}/**"]
[[capabilities.edit]]
file = "${{FOO_HOME:-~/.foo}}/config.json"
format = "json"
keys = ["/base_url"{extra_edit_keys}]
"#
        ))
        .unwrap()
    }

    fn installed(m: &Manifest, sha: &str) -> Consent {
        let mut c = Consent::carry_over(m, sha, "/tmp/foo.wasm", false, None);
        c.approve_all(m);
        c
    }

    #[test]
    fn a_fresh_install_grants_nothing_until_approved() {
        let m = manifest("", "\"FOO_HOME\"");
        let c = Consent::carry_over(&m, "aa", "/tmp/foo.wasm", false, None);
        assert_eq!(c.pending(&m).len(), 4);
        assert!(
            matches!(c.verdict(&m, "aa"), Verdict::NeedsApproval(r) if r.starts_with("4 capabilities not approved"))
        );
        let c = installed(&m, "aa");
        assert_eq!(c.verdict(&m, "aa"), Verdict::Approved);
        assert_eq!(c.effective(&m), m);
    }

    #[test]
    fn an_upgrade_with_the_same_or_fewer_capabilities_keeps_its_grant() {
        let v1 = manifest(", \"/model\"", "\"FOO_HOME\"");
        let old = installed(&v1, "aa");
        let v2 = manifest("", "\"FOO_HOME\"");
        let new = Consent::carry_over(&v2, "bb", "/tmp/foo2.wasm", false, Some(&old));
        assert!(new.pending(&v2).is_empty());
        assert_eq!(new.verdict(&v2, "bb"), Verdict::Approved);
    }

    #[test]
    fn an_upgrade_asking_for_more_is_pending_and_a_swapped_file_needs_approval() {
        // (A path following $FOO_HOME must declare it, so v1 does; v2 adds FOO_MODE.)
        let v1 = manifest("", "\"FOO_HOME\"");
        let old = installed(&v1, "aa");
        let v2 = manifest(", \"/model\"", "\"FOO_HOME\", \"FOO_MODE\"");
        let new = Consent::carry_over(&v2, "bb", "/tmp/foo2.wasm", false, Some(&old));
        let pending: Vec<String> = new.pending(&v2).iter().map(|c| c.spec()).collect();
        assert_eq!(
            pending,
            [
                "edit ${FOO_HOME:-~/.foo}/config.json /model",
                "env FOO_MODE"
            ]
        );
        // The old record against a different file: never runs, whatever it declares.
        assert_eq!(
            old.verdict(&v1, "cc"),
            Verdict::NeedsApproval("the file changed since it was approved".into())
        );
    }

    #[test]
    fn revoked_capabilities_stay_revoked_and_are_left_out_of_the_sandbox() {
        let m = manifest(", \"/model\"", "\"FOO_HOME\"");
        let mut c = installed(&m, "aa");
        let model = Capability::Edit {
            file: "${FOO_HOME:-~/.foo}/config.json".into(),
            format: "json".into(),
            key: "/model".into(),
        };
        c.revoked.push(model.clone());
        assert_eq!(c.verdict(&m, "aa"), Verdict::Approved);
        assert_eq!(c.effective(&m).capabilities.edit[0].keys, ["/base_url"]);
        let up = Consent::carry_over(&m, "bb", "/x", false, Some(&c));
        assert!(up.revoked.contains(&model) && !up.grants(&model));
        assert!(up.pending(&m).is_empty());
    }

    #[test]
    fn broader_grants_cover_narrower_capabilities() {
        let read = |p: &str| Capability::Read { path: p.into() };
        assert!(read("~/.x/**").covers(&read("~/.x/a.json")));
        assert!(read("~/.x/**").covers(&read("~/.x/sub/**")));
        assert!(!read("~/.x/**").covers(&read("~/.xy/a")));
        assert!(!read("~/.x/a").covers(&read("~/.x/**")));
        let edit = |k: &str| Capability::Edit {
            file: "~/f".into(),
            format: "json".into(),
            key: k.into(),
        };
        assert!(edit("/env").covers(&edit("/env/X")));
        assert!(!edit("/env/X").covers(&edit("/env")));
        assert!(!edit("/env").covers(&edit("/envy")));
    }

    #[test]
    fn grant_and_revoke_move_a_capability_between_the_lists() {
        let m = manifest(", \"/model\"", "\"FOO_HOME\"");
        let mut c = Consent::carry_over(&m, "aa", "/tmp/foo.wasm", false, None);
        let env = Capability::Env {
            name: "FOO_HOME".into(),
        };
        let locate = Capability::Locate {
            binary: "foo".into(),
        };
        c.grant(&locate);
        c.grant(&env);
        c.grant(&env);
        assert_eq!(
            c.granted,
            [locate.clone(), env.clone()],
            "sorted, once each"
        );
        assert!(c.grants(&env) && c.revoked.is_empty());
        c.revoke(&env);
        c.revoke(&env);
        assert_eq!(c.granted.len(), 1);
        assert_eq!(c.granted[0], locate);
        assert_eq!(c.revoked.len(), 1);
        assert_eq!(c.revoked[0], env);
        assert!(!c.grants(&env));
        assert_eq!(
            c.pending(&m).len(),
            3,
            "a revoked capability is decided, not pending"
        );
        c.grant(&env);
        assert!(c.grants(&env) && c.revoked.is_empty());
    }
}
