//! The capability policy: the one place that decides what an adapter may do.
//!
//! A [`Policy`] is built once per adapter call from the manifest, the user's consent (what is
//! granted), the deny-list, `$HOME` and the user's environment. The sandbox asks it about every
//! host import (`fs` reads, `env`, `which`), and it authorizes the plans the executor applies
//! ([`Policy::authorize`]): nothing else decides capabilities.

use std::path::Path;
use std::sync::Arc;

use headroom_edits::{Authorized, EditGrant, Plan};
use serde::Serialize;

use crate::consent::{Capability, Consent, declared, restrict};
use crate::grants::{EnvLookup, expand};
use crate::manifest::{Manifest, edit_format};
use crate::runtime::sanitize;

/// The deny-list lives in headroom-core so the executor applies the same list to the files it
/// resolves (a symlinked target) as the policy applies to what an adapter asks for.
pub use headroom_core::deny::{DENIED, is_denied};

/// Secrets a plugin may never read, whatever it declares (a manifest asking for one is refused).
pub fn is_secret_env(name: &str) -> bool {
    let n = name.to_ascii_uppercase();
    n.ends_with("_API_KEY")
        || n.ends_with("_TOKEN")
        || n.contains("SECRET")
        || n.contains("PASSWORD")
        || n == "API_KEY"
}

/// Capabilities by decision, as capability specs (`plugins list -v`, `grant`, `revoke`).
#[derive(Debug, Clone, Default, Serialize)]
pub struct CapabilityView {
    pub declared: Vec<String>,
    pub granted: Vec<String>,
    pub pending: Vec<String>,
    pub revoked: Vec<String>,
    /// Refused by the deny-list on this machine, whatever was granted.
    pub denied: Vec<String>,
}

/// What one adapter may do on this machine, for one call.
#[derive(Clone)]
pub struct Policy {
    /// `$HOME` as text: logical paths (`~/…`) are expanded against it.
    home: String,
    env: Arc<EnvLookup>,
    /// `None` for a built-in adapter: everything it declares is pre-approved.
    consent: Option<Consent>,
    declared: Vec<Capability>,
    /// Granted reads, expanded: (logical path, recursive).
    read: Vec<(String, bool)>,
    /// Granted edits, expanded, without the deny-listed files.
    edit: Vec<EditGrant>,
    env_names: Vec<String>,
    which: Vec<String>,
}

impl Policy {
    /// The policy of `m` under `consent` (`None`: a built-in, all of `m` is granted).
    pub fn new(m: &Manifest, consent: Option<&Consent>, home: &Path, env: Arc<EnvLookup>) -> Self {
        let home = home.to_string_lossy().into_owned();
        let granted = restrict(m, |c| consent.is_none_or(|k| k.grants(c)));
        let caps = &granted.capabilities;
        let read = caps
            .read
            .iter()
            .map(|r| match r.strip_suffix("/**") {
                Some(dir) => (expand(dir, &*env, &home), true),
                None => (expand(r, &*env, &home), false),
            })
            .collect();
        let edit = caps
            .edit
            .iter()
            .map(|e| EditGrant {
                file: expand(&e.file, &*env, &home),
                format: edit_format(&e.format),
                keys: e.keys.clone(),
            })
            .filter(|g| !is_denied(&g.file))
            .collect();
        Self {
            read,
            edit,
            env_names: caps.env.clone(),
            which: caps.which.clone(),
            declared: declared(m),
            consent: consent.cloned(),
            home,
            env,
        }
    }

    /// May the plugin read (or test, or list) this logical path? An edit grant implies reading
    /// that file (an adapter must see what it changes). The deny-list wins over every grant.
    pub fn may_read(&self, logical: &str) -> bool {
        if is_denied(logical) || logical.split('/').any(|c| c == "..") {
            return false;
        }
        self.read.iter().any(|(p, recursive)| {
            logical == p
                || (*recursive
                    && logical
                        .strip_prefix(p.as_str())
                        .is_some_and(|rest| rest.starts_with('/')))
        }) || self.edit.iter().any(|g| g.file == logical)
    }

    /// Declared, granted, and not a secret.
    pub fn may_read_env(&self, name: &str) -> bool {
        !is_secret_env(name) && self.env_names.iter().any(|n| n == name)
    }

    /// The value of `name` when [`Policy::may_read_env`] allows it (`None` otherwise or unset).
    pub fn env_value(&self, name: &str) -> Option<String> {
        if self.may_read_env(name) {
            (self.env)(name)
        } else {
            None
        }
    }

    /// Declared, granted, and a bare name (never a path to probe the filesystem with).
    pub fn may_locate(&self, binary: &str) -> bool {
        !binary.contains(['/', '\\']) && self.which.iter().any(|b| b == binary)
    }

    /// What the executor lets this adapter's plans touch.
    pub fn edit_grants(&self) -> &[EditGrant] {
        &self.edit
    }

    /// `plan` with this adapter's edit grants: the only way a plan becomes applicable.
    pub fn authorize(&self, plan: Plan) -> Authorized {
        Authorized::new(plan, self.edit.clone())
    }

    /// Whether the user granted `cap` (a built-in's are all granted).
    pub fn granted(&self, cap: &Capability) -> bool {
        self.consent.as_ref().is_none_or(|c| c.grants(cap))
    }

    /// Whether the deny-list refuses `cap` on this machine, whatever is granted.
    pub fn denies(&self, cap: &Capability) -> bool {
        let path = match cap {
            Capability::Read { path } => path.strip_suffix("/**").unwrap_or(path),
            Capability::Edit { file, .. } => file,
            Capability::Locate { .. } | Capability::Env { .. } => return false,
        };
        // A tree that contains a denied directory is not denied as a whole (the denied part
        // stays unreadable inside it), so only the capability's own root is checked.
        is_denied(&expand(path, &*self.env, &self.home))
    }

    /// Each declared capability sorted by decision: denied, granted, revoked or pending.
    pub fn view(&self) -> CapabilityView {
        let mut v = CapabilityView::default();
        for cap in &self.declared {
            let spec = sanitize(&cap.spec());
            v.declared.push(spec.clone());
            if self.denies(cap) {
                v.denied.push(spec);
            } else if self.granted(cap) {
                v.granted.push(spec);
            } else if self
                .consent
                .as_ref()
                .is_some_and(|c| c.revoked.contains(cap))
            {
                v.revoked.push(spec);
            } else {
                v.pending.push(spec);
            }
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::parse;

    const HOME: &str = "/home/u";

    fn manifest() -> Manifest {
        parse(
            r#"
id = "foo"
name = "Foo"
version = "1.0.0"
api = "0.1.0"
[capabilities]
env = ["FOO_HOME", "FOO_MODE"]
which = ["foo"]
read = ["${FOO_HOME:-~/.foo}/**", "~/.bar/x.json"]
[[capabilities.edit]]
file = "${FOO_HOME:-~/.foo}/config.json"
format = "json"
keys = ["/base_url", "/model"]
[[capabilities.edit]]
file = "~/.foo.toml"
format = "toml"
keys = ["a.b"]
"#,
        )
        .unwrap()
    }

    fn env(vars: &[(&str, &str)]) -> Arc<EnvLookup> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Arc::new(move |n: &str| vars.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone()))
    }

    fn builtin(vars: &[(&str, &str)]) -> Policy {
        Policy::new(&manifest(), None, Path::new(HOME), env(vars))
    }

    #[test]
    fn reads_follow_the_grants_and_the_deny_list_wins() {
        let p = builtin(&[]);
        assert!(p.may_read("~/.foo/settings.json"));
        assert!(p.may_read("~/.foo"));
        assert!(p.may_read("~/.bar/x.json"));
        assert!(!p.may_read("~/.bar/y.json"));
        assert!(!p.may_read("~/.foobar/x"));
        assert!(!p.may_read("~/.foo/../.ssh/id_rsa"));
        assert!(!p.may_read("/etc/passwd"));
        // An edit grant implies reading that file.
        assert!(p.may_read("~/.foo.toml"));

        // Pointed at a denied directory, the grant is worth nothing there.
        let p = builtin(&[("FOO_HOME", "/home/u/.ssh")]);
        assert!(!p.may_read("~/.ssh/id_rsa"));
        assert!(!p.may_read("~/.ssh/config.json"));
        let headroom = builtin(&[("FOO_HOME", "/home/u/.headroom")]);
        assert!(!headroom.may_read("~/.headroom/plugins/foo/consent.json"));
    }

    /// Even a grant of the whole home directory (which no manifest may ask for) stops at the
    /// deny-list.
    #[test]
    fn deny_list_wins() {
        let mut m = manifest();
        m.capabilities.read = vec!["~/**".into()];
        let p = Policy::new(&m, None, Path::new(HOME), env(&[]));
        assert!(p.may_read("~/.claude/settings.json"));
        assert!(!p.may_read("~/.ssh/id_rsa"));
        assert!(!p.may_read("~/.headroom/plugins/x/consent.json"));
        assert!(!p.may_read("~/x/../.ssh/id_rsa"));
        assert!(!p.may_read("/etc/passwd"));
        for d in DENIED {
            assert!(is_denied(d) && is_denied(&format!("{d}/x")), "{d}");
            assert!(!is_denied(&format!("{d}x")), "{d}");
        }
    }

    #[test]
    fn edit_grants_exclude_deny_listed_files() {
        let p = builtin(&[]);
        let files: Vec<&str> = p.edit_grants().iter().map(|g| g.file.as_str()).collect();
        assert_eq!(files, ["~/.foo/config.json", "~/.foo.toml"]);
        let p = builtin(&[("FOO_HOME", "/home/u/.aws")]);
        let files: Vec<&str> = p.edit_grants().iter().map(|g| g.file.as_str()).collect();
        assert_eq!(files, ["~/.foo.toml"]);
        let plan = Plan {
            source: "foo".into(),
            edits: vec![],
            notes: vec![],
        };
        assert_eq!(p.authorize(plan).grants(), p.edit_grants());
        let cap = Capability::Edit {
            file: "${FOO_HOME:-~/.foo}/config.json".into(),
            format: "json".into(),
            key: "/model".into(),
        };
        assert!(p.denies(&cap));
        assert!(p.view().denied.contains(&cap.spec()));
    }

    #[test]
    fn the_deny_list_is_checked_on_expanded_paths() {
        let c = Capability::Read {
            path: "${FOO_HOME:-~/.foo}/**".into(),
        };
        assert!(builtin(&[("FOO_HOME", "/home/u/.ssh")]).denies(&c));
        assert!(!builtin(&[]).denies(&c));
        assert!(!builtin(&[]).denies(&Capability::Env {
            name: "FOO_HOME".into()
        }));
    }

    #[test]
    fn env_only_when_declared_and_never_a_secret() {
        let p = builtin(&[("FOO_HOME", "/x"), ("OTHER", "y"), ("FOO_TOKEN", "t")]);
        assert!(p.may_read_env("FOO_HOME"));
        assert_eq!(p.env_value("FOO_HOME").as_deref(), Some("/x"));
        assert!(p.may_read_env("FOO_MODE"));
        assert_eq!(p.env_value("FOO_MODE"), None);
        assert!(!p.may_read_env("OTHER"));
        assert_eq!(p.env_value("OTHER"), None);
        // A secret is refused even if a manifest somehow declared it.
        let mut m = manifest();
        m.capabilities.env.push("FOO_TOKEN".into());
        let p = Policy::new(&m, None, Path::new(HOME), env(&[("FOO_TOKEN", "t")]));
        assert!(!p.may_read_env("FOO_TOKEN"));
        assert_eq!(p.env_value("FOO_TOKEN"), None);
        for secret in [
            "ANTHROPIC_API_KEY",
            "GH_TOKEN",
            "MY_SECRET_X",
            "API_KEY",
            "DB_PASSWORD",
        ] {
            assert!(is_secret_env(secret), "{secret}");
        }
    }

    #[test]
    fn only_declared_binaries_are_located() {
        let p = builtin(&[]);
        assert!(p.may_locate("foo"));
        assert!(!p.may_locate("bar"));
        assert!(!p.may_locate("/usr/bin/foo"));
        assert!(!p.may_locate("../foo"));
    }

    #[test]
    fn an_installed_plugin_gets_only_what_is_granted() {
        let m = manifest();
        let mut c = Consent::carry_over(&m, "aa", "/tmp/foo.wasm", false, None);
        let none = Policy::new(&m, Some(&c), Path::new(HOME), env(&[]));
        assert!(!none.may_read("~/.foo/a"));
        assert!(!none.may_read_env("FOO_HOME"));
        assert!(!none.may_locate("foo"));
        assert!(none.edit_grants().is_empty());
        assert_eq!(none.view().pending.len(), none.view().declared.len());

        c.approve_all(&m);
        let model = Capability::Edit {
            file: "${FOO_HOME:-~/.foo}/config.json".into(),
            format: "json".into(),
            key: "/model".into(),
        };
        c.revoke(&model);
        c.revoke(&Capability::Locate {
            binary: "foo".into(),
        });
        let p = Policy::new(&m, Some(&c), Path::new(HOME), env(&[]));
        assert!(p.may_read("~/.foo/a"));
        assert!(!p.may_locate("foo"));
        assert_eq!(p.edit_grants()[0].keys, ["/base_url"]);
        let v = p.view();
        assert_eq!(
            v.revoked,
            ["edit ${FOO_HOME:-~/.foo}/config.json /model", "locate foo"]
        );
        assert!(v.pending.is_empty());
    }
}
