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
}
