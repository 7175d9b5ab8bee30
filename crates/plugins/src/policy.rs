//! The capability policy: the one place that decides what an adapter may do.
//!
//! A [`Policy`] is built once per adapter call from the manifest, the user's consent (what is
//! granted), the deny-list, `$HOME` and the user's environment. The sandbox asks it about every
//! host import (`fs` reads, `env`, `which`, `facts`), and it authorizes the plans the executor applies
//! ([`Policy::authorize`]): nothing else decides capabilities.

use std::path::Path;
use std::sync::Arc;

use headroom_edits::{Authorized, EditGrant, Plan};
use serde::Serialize;

use crate::consent::{Capability, Consent, declared, restrict};
use crate::grants::{EnvLookup, ExpansionRefused, expand, expand_checked, to_logical};
use crate::manifest::{Manifest, edit_format};
use crate::runtime::sanitize;

/// The deny-list lives in headroom-core so the executor applies the same list to the files it
/// resolves (a symlinked target) as the policy applies to what an adapter asks for.
pub use headroom_core::deny::{DENIED, is_denied};

/// Environment names that look like secrets but are harmless, reviewed one by one. None of the
/// built-in adapters (nor the example) needs one today; a test checks that they all still load.
pub const ALLOWED_ENV: &[&str] = &[];

/// Secrets a plugin may never read, whatever it declares (a manifest asking for one is refused):
/// by pattern, case-insensitively: `*KEY*`, `*TOKEN*`, `*SECRET*`, `*PASSWORD*`, `*PASSWD*`,
/// `*CREDENTIAL*`, `*_AUTH*` (and `AUTH*`), `*HEADERS*`, `*COOKIE*`, `*SESSION*`, and `PAT` as
/// one `_`-separated part (`GITHUB_PAT`); [`ALLOWED_ENV`] is the reviewed exception.
pub fn is_secret_env(name: &str) -> bool {
    let n = name.to_ascii_uppercase();
    if ALLOWED_ENV.iter().any(|a| a.eq_ignore_ascii_case(name)) {
        return false;
    }
    const PARTS: &[&str] = &[
        "KEY",
        "TOKEN",
        "SECRET",
        "PASSWORD",
        "PASSWD",
        "CREDENTIAL",
        "_AUTH",
        "HEADERS",
        "COOKIE",
        "SESSION",
    ];
    PARTS.iter().any(|p| n.contains(p))
        || n.starts_with("AUTH")
        || n.split('_').any(|part| part == "PAT")
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
    /// `$HOME` with its symlinks resolved: what a resolved path is made logical against.
    real_home: String,
    env: Arc<EnvLookup>,
    /// `None` for a built-in adapter: everything it declares is pre-approved.
    consent: Option<Consent>,
    declared: Vec<Capability>,
    /// The adapter serves the system scope (its expanded paths may then be system locations).
    system: bool,
    /// Granted reads, expanded and judged: (logical path, recursive).
    read: Vec<(String, bool)>,
    /// Granted edits, expanded and judged, without the deny-listed files.
    edit: Vec<EditGrant>,
    env_names: Vec<String>,
    which: Vec<String>,
    /// Granted facts ([`crate::facts`]).
    facts: Vec<String>,
    /// The deny-list on this machine: [`DENIED`], its `${VAR}` forms expanded, and where each
    /// resolves through symlinks.
    denied: Vec<String>,
}

/// The deny-list as it applies on this machine: the logical entries, the `${VAR:-default}` ones
/// expanded with the user's environment, and each as it resolves through symlinks (so a resolved
/// path is caught however it was reached).
fn deny_list(env: &EnvLookup, home: &str, real_home: &str) -> Vec<String> {
    let mut out: Vec<String> = DENIED.iter().map(|d| (*d).to_owned()).collect();
    out.extend(
        headroom_core::deny::DENIED_UNDER_VAR
            .iter()
            .map(|d| expand(d, env, home)),
    );
    let mut resolved = Vec::new();
    for d in &out {
        let abs = match d.strip_prefix("~/") {
            Some(rest) => Path::new(home).join(rest),
            None => continue,
        };
        if let Ok(real) = std::fs::canonicalize(&abs) {
            let real = real.to_string_lossy();
            for h in [real_home, home] {
                let l = to_logical(&real, h);
                if l.starts_with("~/") && !out.contains(&l) {
                    resolved.push(l);
                }
            }
        }
    }
    out.extend(resolved);
    out
}

impl Policy {
    /// The policy of `m` under `consent` (`None`: a built-in, all of `m` is granted).
    pub fn new(m: &Manifest, consent: Option<&Consent>, home: &Path, env: Arc<EnvLookup>) -> Self {
        let real_home = std::fs::canonicalize(home)
            .unwrap_or_else(|_| home.to_path_buf())
            .to_string_lossy()
            .into_owned();
        let home = home.to_string_lossy().into_owned();
        let system = m.scopes.iter().any(|s| s == "system");
        let denied = deny_list(&*env, &home, &real_home);
        let granted = restrict(m, |c| consent.is_none_or(|k| k.grants(c)));
        let caps = &granted.capabilities;
        // A grant whose variable points somewhere its default could not is worth nothing now.
        let read = caps
            .read
            .iter()
            .filter_map(|r| {
                let (dir, tree) = match r.strip_suffix("/**") {
                    Some(dir) => (dir, true),
                    None => (r.as_str(), false),
                };
                let p = expand_checked(dir, &*env, &home, tree, system).ok()?;
                Some((p, tree))
            })
            .collect();
        let refused = |denied: &[String], p: &str| denied.iter().any(|d| under(p, d));
        let edit = caps
            .edit
            .iter()
            .filter_map(|e| {
                let file = expand_checked(&e.file, &*env, &home, false, system).ok()?;
                Some(EditGrant {
                    file,
                    format: edit_format(&e.format),
                    keys: e.keys.clone(),
                })
            })
            .filter(|g| !refused(&denied, &g.file))
            .collect();
        Self {
            read,
            edit,
            env_names: caps.env.clone(),
            which: caps.which.clone(),
            facts: caps.facts.clone(),
            declared: declared(m),
            consent: consent.cloned(),
            system,
            denied,
            home,
            real_home,
            env,
        }
    }

    /// Whether the deny-list refuses a logical path on this machine (the entry itself or
    /// anything beneath it), its `${VAR}` forms and symlink-resolved forms included.
    pub fn refuses(&self, logical: &str) -> bool {
        is_denied(logical) || self.denied.iter().any(|d| under(logical, d))
    }

    /// A path the filesystem resolved (symlinks followed, absolute) as a logical path, against
    /// the home directory as it resolves too.
    pub fn logical_of_resolved(&self, resolved: &str) -> String {
        let l = to_logical(resolved, &self.real_home);
        if l.starts_with('~') {
            l
        } else {
            to_logical(resolved, &self.home)
        }
    }

    /// May the plugin read (or test, or list) this logical path? An edit grant implies reading
    /// that file (an adapter must see what it changes). The deny-list wins over every grant.
    pub fn may_read(&self, logical: &str) -> bool {
        self.read_base(logical).is_some()
    }

    /// The logical directory a read of `logical` is confined to, when it may be read: the
    /// granted tree that covers it (symlinks may not leave it), or for a file (or directory)
    /// granted by name, the home directory (`~`) or the filesystem (`/`) it is in, so a dotfile
    /// symlinked elsewhere in the home keeps working. The resolved path is checked against the
    /// deny-list again by the sandbox.
    pub fn read_base(&self, logical: &str) -> Option<String> {
        if self.refuses(logical) || logical.split('/').any(|c| c == "..") {
            return None;
        }
        let root = || {
            if logical.starts_with('~') {
                "~".to_owned()
            } else {
                "/".to_owned()
            }
        };
        let named = self.read.iter().any(|(p, tree)| !tree && p == logical)
            || self.edit.iter().any(|g| g.file == logical);
        if named {
            return Some(root());
        }
        self.read
            .iter()
            .filter(|(p, tree)| *tree && (logical == p || under(logical, p)))
            .map(|(p, _)| p)
            .min_by_key(|p| p.len())
            .cloned()
    }

    /// Declared, granted, and not a secret.
    pub fn may_read_env(&self, name: &str) -> bool {
        !is_secret_env(name) && self.env_names.iter().any(|n| n == name)
    }

    /// The value of `name` when [`Policy::may_read_env`] allows it (`None` otherwise or unset).
    pub fn env_value(&self, name: &str) -> Option<String> {
        if !self.may_read_env(name) {
            return None;
        }
        (self.env)(name)
    }

    /// May the adapter learn `fact` ([`crate::facts::FACTS`])? Declared and granted.
    pub fn may_know(&self, fact: &str) -> bool {
        self.facts.iter().any(|f| f == fact)
    }

    /// How Codex signs in, when [`Policy::may_know`] allows it (`None` otherwise): answered
    /// from its credential file, which the adapter itself may never read.
    pub fn codex_login(&self) -> Option<crate::facts::LoginKind> {
        self.may_know(crate::facts::CODEX_LOGIN)
            .then(|| crate::facts::codex_login(&*self.env, &self.home))
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

    /// Whether `cap` is refused on this machine, whatever is granted: the deny-list, or a
    /// `${VAR}` that points somewhere its default could not ([`Policy::expansion`]).
    pub fn denies(&self, cap: &Capability) -> bool {
        let path = match cap {
            Capability::Read { path } => path.strip_suffix("/**").unwrap_or(path),
            Capability::Edit { file, .. } => file,
            Capability::Locate { .. } | Capability::Env { .. } | Capability::Fact { .. } => {
                return false;
            }
        };
        // A tree that contains a denied directory is not denied as a whole (the denied part
        // stays unreadable inside it), so only the capability's own root is checked.
        self.expansion(cap).is_err() || self.refuses(&expand(path, &*self.env, &self.home))
    }

    /// What a path capability's `${VAR:-default}` expands to now, or why that is refused
    /// (`Ok` for capabilities without a path or a variable).
    pub fn expansion(&self, cap: &Capability) -> Result<String, ExpansionRefused> {
        let (path, tree) = match cap {
            Capability::Read { path } => match path.strip_suffix("/**") {
                Some(dir) => (dir, true),
                None => (path.as_str(), false),
            },
            Capability::Edit { file, .. } => (file.as_str(), false),
            Capability::Locate { .. } | Capability::Env { .. } | Capability::Fact { .. } => {
                return Ok(String::new());
            }
        };
        expand_checked(path, &*self.env, &self.home, tree, self.system)
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

/// `path` is `dir` or beneath it.
fn under(path: &str, dir: &str) -> bool {
    path.strip_prefix(dir)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
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
            "AZURE_OPENAI_KEY",
            "GITHUB_PAT",
            "PAT",
            "ANTHROPIC_CUSTOM_HEADERS",
            "OPENAI_AUTH",
            "AUTHORIZATION",
            "aws_credential_file",
            "KEYRING",
            "my_session_cookie",
        ] {
            assert!(is_secret_env(secret), "{secret}");
        }
        for harmless in [
            "PATH",
            "XDG_CONFIG_HOME",
            "OPENCLAW_CONFIG_PATH",
            "SHELL",
            "PATTERN",
        ] {
            assert!(!is_secret_env(harmless), "{harmless}");
        }
    }

    /// `${VAR:-default}` is judged at every use by its value, not its default: a value that makes
    /// a grant the whole home, the filesystem, or a place outside the home of a provider-scope
    /// adapter leaves the grant worth nothing (reads denied, no edit grant for the executor).
    #[test]
    fn a_variable_pointing_somewhere_its_default_could_not_grants_nothing() {
        for value in [
            "/home/u",
            "/home/u/",
            "/",
            "/etc",
            "/tmp/x",
            "rel",
            "/home/u/./.ssh",
        ] {
            let p = builtin(&[("FOO_HOME", value)]);
            for path in [
                "~/.bash_history",
                "~/.foo/settings.json",
                "/etc/passwd",
                "/tmp/x/config.json",
            ] {
                assert!(!p.may_read(path), "FOO_HOME={value:?}: {path}");
            }
            let files: Vec<&str> = p.edit_grants().iter().map(|g| g.file.as_str()).collect();
            assert_eq!(files, ["~/.foo.toml"], "FOO_HOME={value:?}");
            let read = Capability::Read {
                path: "${FOO_HOME:-~/.foo}/**".into(),
            };
            assert!(p.denies(&read), "FOO_HOME={value:?}");
            assert!(p.expansion(&read).is_err(), "FOO_HOME={value:?}");
        }
        // Somewhere else inside the home is what following the variable means.
        let p = builtin(&[("FOO_HOME", "/home/u/alt")]);
        assert!(p.may_read("~/alt/settings.json"));
        assert_eq!(p.edit_grants()[0].file, "~/alt/config.json");
        assert_eq!(p.read_base("~/alt/x/y").as_deref(), Some("~/alt"));
        assert_eq!(p.read_base("~/.bar/x.json").as_deref(), Some("~"));
    }

    #[test]
    fn credential_files_are_denied_wherever_their_tool_directory_is() {
        let mut m = manifest();
        m.capabilities.read = vec![
            "~/.claude/**".into(),
            "~/.codex/**".into(),
            "~/alt/**".into(),
        ];
        let p = Policy::new(&m, None, Path::new(HOME), env(&[]));
        assert!(p.may_read("~/.claude/settings.json"));
        assert!(!p.may_read("~/.claude/.credentials.json"));
        assert!(!p.may_read("~/.codex/auth.json"));
        let p = Policy::new(
            &m,
            None,
            Path::new(HOME),
            env(&[
                ("CODEX_HOME", "/home/u/alt"),
                ("CLAUDE_CONFIG_DIR", "/home/u/alt"),
            ]),
        );
        assert!(!p.may_read("~/alt/auth.json"));
        assert!(!p.may_read("~/alt/.credentials.json"));
        assert!(p.may_read("~/alt/config.toml"));
    }

    #[test]
    fn facts_only_when_declared_and_granted() {
        let mut m = manifest();
        m.api = "0.2.0".into();
        assert!(!builtin(&[]).may_know("codex-login"));
        assert_eq!(builtin(&[]).codex_login(), None);
        m.capabilities.facts = vec!["codex-login".into()];
        let p = Policy::new(&m, None, Path::new(HOME), env(&[]));
        assert!(p.may_know("codex-login"));
        assert!(!p.may_know("claude-login"));
        assert_eq!(p.codex_login(), Some(crate::facts::LoginKind::None));
        // The old reserved variable is an ordinary name now: the environment's, when declared.
        m.capabilities.env.push("HEADROOM_CODEX_LOGIN".into());
        let p = Policy::new(
            &m,
            None,
            Path::new(HOME),
            env(&[("HEADROOM_CODEX_LOGIN", "x")]),
        );
        assert_eq!(p.env_value("HEADROOM_CODEX_LOGIN").as_deref(), Some("x"));

        let fact = Capability::Fact {
            name: "codex-login".into(),
        };
        let mut c = Consent::carry_over(&m, "aa", "/tmp/foo.wasm", false, None);
        let p = Policy::new(&m, Some(&c), Path::new(HOME), env(&[]));
        assert!(!p.may_know("codex-login"), "pending grants nothing");
        assert!(p.view().pending.contains(&"fact codex-login".to_owned()));
        c.approve_all(&m);
        assert!(Policy::new(&m, Some(&c), Path::new(HOME), env(&[])).may_know("codex-login"));
        c.revoke(&fact);
        let p = Policy::new(&m, Some(&c), Path::new(HOME), env(&[]));
        assert!(!p.may_know("codex-login"));
        assert_eq!(p.view().revoked, ["fact codex-login"]);
        assert!(!p.denies(&fact));
    }

    #[test]
    fn only_declared_binaries_are_located() {
        let p = builtin(&[]);
        assert!(p.may_locate("foo"));
        assert!(!p.may_locate("bar"));
        assert!(!p.may_locate("/usr/bin/foo"));
        assert!(!p.may_locate("../foo"));
    }

    /// Every built-in adapter (and the example a third party starts from) still loads under the
    /// secret-name patterns and the `${VAR}` rule.
    #[test]
    fn the_builtins_and_the_example_pass_the_manifest_checks() {
        for (id, bytes) in crate::builtin::BUILTINS {
            let m = crate::manifest::inspect(bytes).unwrap_or_else(|e| panic!("{id}: {e}"));
            for name in &m.capabilities.env {
                assert!(!is_secret_env(name), "{id}: {name}");
            }
        }
        parse(include_str!("../../../examples/adapter-crush/adapter.toml")).unwrap();
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
