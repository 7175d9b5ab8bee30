//! Capability paths made concrete for one machine: `${VAR:-default}` expanded and paths made
//! logical (`~/…` or `/…`). What is allowed is decided by [`crate::policy`].

use crate::manifest::Manifest;

/// How to look up the user's environment (tests pass a map).
pub type EnvLookup = dyn Fn(&str) -> Option<String> + Send + Sync;

/// Make a path logical: `$HOME/x` → `~/x`; `~/x` and other absolute paths unchanged.
pub fn to_logical(path: &str, home: &str) -> String {
    let home = home.trim_end_matches('/');
    if !home.is_empty()
        && let Some(rest) = path.strip_prefix(home)
        && (rest.is_empty() || rest.starts_with('/'))
    {
        return format!("~{rest}");
    }
    path.to_owned()
}

/// A path's leading `${NAME:-default}` split off: `(NAME, default, rest)`, the default `""` when
/// absent. `None` when the path has none (or it is unterminated, which the manifest refuses).
pub fn leading_var(path: &str) -> Option<(&str, &str, &str)> {
    let (var, rest) = path.strip_prefix("${")?.split_once('}')?;
    let (name, default) = var.split_once(":-").unwrap_or((var, ""));
    Some((name, default, rest))
}

/// Expand a leading `${VAR:-default}` with the user's environment, then make it logical.
pub fn expand(path: &str, env: &EnvLookup, home: &str) -> String {
    let expanded = match leading_var(path) {
        Some((name, default, rest)) => {
            let value = env(name)
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| default.to_owned());
            format!("{}{rest}", value.trim_end_matches('/'))
        }
        None => path.to_owned(),
    };
    to_logical(&expanded, home)
}

/// Why a `${VAR:-default}` path, expanded with the user's environment, is refused on this
/// machine: the value is judged by the rules the default was judged by (`manifest::check`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExpansionRefused {
    #[error("${var} makes it {path:?}, not an absolute path")]
    NotAbsolute { var: String, path: String },
    #[error("${var} makes it {path}, with an empty, '.' or '..' component")]
    Malformed { var: String, path: String },
    #[error("${var} makes it {path}, outside the home directory")]
    OutsideHome { var: String, path: String },
    #[error(
        "${var} makes it {path}: the whole home directory or filesystem, or above the tool's own directory"
    )]
    TooWide { var: String, path: String },
}

/// The number of components below the root of a logical path (`~` and `/` are 0).
fn depth(logical: &str) -> usize {
    let body = logical
        .strip_prefix('~')
        .unwrap_or(logical)
        .trim_start_matches('/');
    if body.is_empty() {
        0
    } else {
        body.split('/').count()
    }
}

/// [`expand`], then the expanded path judged by the rules its default was judged by: a logical
/// path with no empty, `.` or `..` component, inside the home directory unless the adapter serves
/// the system scope (`system`) and the default itself names a system location, never the home
/// directory or the filesystem itself, and for a directory tree (`tree`) no shallower than the
/// default. A path without a variable (checked by the manifest) or with it unset is unchanged.
pub fn expand_checked(
    path: &str,
    env: &EnvLookup,
    home: &str,
    tree: bool,
    system: bool,
) -> Result<String, ExpansionRefused> {
    let logical = expand(path, env, home);
    let Some((var, default, rest)) = leading_var(path) else {
        return Ok(logical);
    };
    let unset = to_logical(&format!("{}{rest}", default.trim_end_matches('/')), home);
    if logical == unset {
        return Ok(logical);
    }
    let (var, path) = (var.to_owned(), logical.clone());
    if logical.is_empty() {
        // `${VAR}` was `/`: the whole filesystem.
        return Err(ExpansionRefused::TooWide {
            var,
            path: "/".into(),
        });
    }
    let body = if logical == "~" {
        ""
    } else if let Some(b) = logical.strip_prefix("~/") {
        b
    } else if let Some(b) = logical.strip_prefix('/') {
        b
    } else {
        return Err(ExpansionRefused::NotAbsolute { var, path });
    };
    if !body.is_empty() && body.split('/').any(|c| matches!(c, "" | "." | "..")) {
        return Err(ExpansionRefused::Malformed { var, path });
    }
    if logical.starts_with('/') && !(system && unset.starts_with('/')) {
        return Err(ExpansionRefused::OutsideHome { var, path });
    }
    // The variable itself may never be the home directory or the filesystem (`${VAR}/x` with
    // VAR=~ would make a tool's file any file in the home), nor a tree shallower than its default.
    let value = env(&var).unwrap_or_default();
    let value = to_logical(value.trim_end_matches('/'), home);
    if depth(&value) == 0 || depth(&logical) == 0 || (tree && depth(&logical) < depth(&unset)) {
        return Err(ExpansionRefused::TooWide { var, path });
    }
    Ok(logical)
}

/// Capabilities in words, for `plugins list` / `inspect` / the consent screen.
pub fn describe(m: &Manifest) -> Vec<String> {
    let c = &m.capabilities;
    let mut out = Vec::new();
    for r in &c.read {
        out.push(format!("read {r}"));
    }
    for e in &c.edit {
        let what = match e.format.as_str() {
            "json" => "JSON keys",
            "toml" => "TOML keys",
            _ => "marker blocks",
        };
        out.push(format!("edit {} ({what} {})", e.file, e.keys.join(", ")));
    }
    for b in &c.which {
        out.push(format!("locate `{b}`"));
    }
    for v in &c.env {
        out.push(format!("read env {v}"));
    }
    for f in &c.facts {
        out.push(format!("learn fact {f}"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expansion_and_logical_paths() {
        let env = |n: &str| (n == "CLAUDE_CONFIG_DIR").then(|| "/home/u/alt/".to_owned());
        assert_eq!(
            expand(
                "${CLAUDE_CONFIG_DIR:-~/.claude}/settings.json",
                &env,
                "/home/u"
            ),
            "~/alt/settings.json"
        );
        let none = |_: &str| None;
        assert_eq!(
            expand(
                "${CLAUDE_CONFIG_DIR:-~/.claude}/settings.json",
                &none,
                "/home/u"
            ),
            "~/.claude/settings.json"
        );
        assert_eq!(to_logical("/home/user2/x", "/home/u"), "/home/user2/x");
        assert_eq!(to_logical("/home/u", "/home/u"), "~");
    }

    #[test]
    fn expansions_are_judged_like_their_defaults() {
        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |n: &str| {
                vars.iter()
                    .find(|(k, _)| *k == n)
                    .map(|(_, v)| v.to_string())
            }
        };
        let home = "/home/u";
        let check = |p: &str, vars, tree, system| {
            expand_checked(p, &env(vars), home, tree, system).map_err(|e| match e {
                ExpansionRefused::NotAbsolute { .. } => "relative",
                ExpansionRefused::Malformed { .. } => "malformed",
                ExpansionRefused::OutsideHome { .. } => "outside",
                ExpansionRefused::TooWide { .. } => "wide",
            })
        };
        let tree = "${X:-~/.foo}";
        assert_eq!(check(tree, &[], true, false), Ok("~/.foo".into()));
        assert_eq!(
            check(tree, &[("X", "/home/u/alt")], true, false),
            Ok("~/alt".into())
        );
        assert_eq!(check(tree, &[("X", "/home/u")], true, false), Err("wide"));
        assert_eq!(check(tree, &[("X", "/home/u/")], true, false), Err("wide"));
        assert_eq!(check(tree, &[("X", "/")], true, false), Err("wide"));
        assert_eq!(check(tree, &[("X", "/")], true, true), Err("wide"));
        assert_eq!(check(tree, &[("X", "/etc")], true, false), Err("outside"));
        assert_eq!(check(tree, &[("X", "rel")], true, false), Err("relative"));
        assert_eq!(
            check(tree, &[("X", "/home/u/./.ssh")], true, false),
            Err("malformed")
        );
        assert_eq!(
            check(tree, &[("X", "/home/u/a/../.ssh")], true, false),
            Err("malformed")
        );
        assert_eq!(
            check(tree, &[("X", "/home/u//x")], true, false),
            Err("malformed")
        );
        // Deeper than the default's directory.
        let deep = "${X:-~/.config}/crush";
        assert_eq!(
            check(deep, &[("X", "/home/u/c")], true, false),
            Ok("~/c/crush".into())
        );
        assert_eq!(check(deep, &[("X", "/home/u")], true, false), Err("wide"));
        // A file may move anywhere in the home directory, but not out of it.
        let file = "${X:-~/.config/x/x.json}";
        assert_eq!(
            check(file, &[("X", "/home/u/w/x.json")], false, false),
            Ok("~/w/x.json".into())
        );
        assert_eq!(
            check(file, &[("X", "/tmp/x.json")], false, false),
            Err("outside")
        );
        assert_eq!(check(file, &[("X", "/home/u")], false, false), Err("wide"));
        // A system location only for a system-scope adapter whose default is one.
        let sys = "${X:-/etc/x}/**";
        assert_eq!(
            check("${X:-/etc/x}", &[("X", "/opt/x")], true, true),
            Ok("/opt/x".into())
        );
        assert_eq!(
            check("${X:-/etc/x}", &[("X", "/opt/x")], true, false),
            Err("outside")
        );
        assert!(sys.ends_with("/**"));
    }
}
