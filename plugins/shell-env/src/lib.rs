//! Routes tools through headroom with environment variables exported from one marked block:
//! `~/.bashrc`, `~/.zshrc`, `~/.profile` (those that exist), plus the file a login shell of the
//! user's `$SHELL` reads (zsh: `~/.zshrc`; bash and sh: the first of `~/.bash_profile`,
//! `~/.bash_login`, `~/.profile`, created as `~/.profile` when none exists), and fish's `conf.d`
//! when fish is used, or `/etc/profile.d/headroom.sh` for the whole machine.
//!
//! Its routing is what those tools see: the variables a new login shell of the user's `$SHELL`
//! exports (Codex is not served: it ignores `OPENAI_BASE_URL`; the codex adapter routes it
//! through its config.toml at user scope too).

use headroom_adapter_sdk::{
    Adapter, AdapterError, BlockPlacement, Context, Detection, MarkerStyle, Plan, Route, Scope,
    Status, edit, host, route,
};

struct ShellEnv;

const BLOCK: &str = "persistent env";
const SYSTEM_FILE: &str = "/etc/profile.d/headroom.sh";
const FISH_FILE: &str = "~/.config/fish/conf.d/headroom.fish";

/// (name, value) pairs for the selected targets, first definition wins, in target order.
fn variables(ctx: &Context) -> Result<Vec<(&'static str, String)>, AdapterError> {
    let base = ctx.proxy_url.clone();
    let v1 = format!("{base}/v1");
    let mut out: Vec<(&'static str, String)> = Vec::new();
    for t in &ctx.targets {
        let vars: Vec<(&'static str, String)> = match t.as_str() {
            "claude" => vec![
                ("ANTHROPIC_BASE_URL", base.clone()),
                ("ENABLE_TOOL_SEARCH", "true".into()),
            ],
            "copilot" => vec![
                ("COPILOT_PROVIDER_TYPE", "anthropic".into()),
                ("COPILOT_PROVIDER_BASE_URL", base.clone()),
            ],
            "aider" => vec![
                ("OPENAI_API_BASE", v1.clone()),
                ("ANTHROPIC_BASE_URL", base.clone()),
            ],
            "cursor" => vec![
                ("OPENAI_BASE_URL", v1.clone()),
                ("ANTHROPIC_BASE_URL", base.clone()),
            ],
            other => {
                return Err(AdapterError::Unsupported(format!(
                    "no environment routing for {other}"
                )));
            }
        };
        for (k, v) in vars {
            if !out.iter().any(|(name, _)| *name == k) {
                out.push((k, v));
            }
        }
    }
    Ok(out)
}

/// The variables that decide where each target sends its requests (the rest of what
/// [`variables`] exports, e.g. `ENABLE_TOOL_SEARCH`, routes nothing).
fn url_vars(target: &str) -> Option<&'static [&'static str]> {
    Some(match target {
        "claude" => &["ANTHROPIC_BASE_URL"],
        "copilot" => &["COPILOT_PROVIDER_BASE_URL"],
        "aider" => &["OPENAI_API_BASE", "ANTHROPIC_BASE_URL"],
        "cursor" => &["OPENAI_BASE_URL", "ANTHROPIC_BASE_URL"],
        _ => return None,
    })
}

use headroom_adapter_sdk::route::notes::{CLAUDE_AI_ONLY, LATER_ONLY};

/// One target's route from its variables' values, (name, login shell's value, this process's
/// value), in export order. A tool with two such variables goes through the proxy only if both
/// point at it, so the variable reported is the first that does not (else the first one).
fn route_for(
    target: &str,
    proxy_url: &str,
    vals: &[(&str, Option<String>, Option<String>)],
) -> Route {
    let pick = vals
        .iter()
        .find(|(_, login, _)| {
            !login
                .as_deref()
                .is_some_and(|u| route::points_at(u, proxy_url))
        })
        .unwrap_or(&vals[0]);
    let (name, login, here) = pick;
    let mut r = match login {
        Some(url) => route::environment(target, url, format!("{name} (login shell)")),
        None => route::default(
            target,
            format!("{name} is not exported by a login shell (built-in default)"),
        ),
    };
    match (login, here) {
        (Some(l), h) if h.as_deref().is_none_or(|h| !route::same_url(h, l)) => {
            r.notes.push(LATER_ONLY.into())
        }
        (None, Some(h)) => r.notes.push(format!(
            "{name}={h} is set in this environment only: a new login shell does not export it"
        )),
        _ => {}
    }
    for (other, login, _) in vals {
        if other != name {
            r.notes.push(match login {
                Some(u) => format!("{other} (login shell) = {u}"),
                None => format!("{other} is not exported by a login shell"),
            });
        }
    }
    let custom = vals.iter().any(|(n, l, _)| {
        *n == "ANTHROPIC_BASE_URL"
            && l.as_deref()
                .is_some_and(|u| !route::same_url(u, "https://api.anthropic.com"))
    });
    if target == "claude" && custom {
        r.notes.push(CLAUDE_AI_ONLY.into());
    }
    r
}

/// POSIX single quoting: nothing inside is expanded, `'` becomes `'\''`.
fn sh_quote(v: &str) -> String {
    format!("'{}'", v.replace('\'', "'\\''"))
}

/// fish single quoting: `\` and `'` are escaped.
fn fish_quote(v: &str) -> String {
    format!("'{}'", v.replace('\\', "\\\\").replace('\'', "\\'"))
}

fn uses_fish() -> Result<bool, AdapterError> {
    let shell = host::env("SHELL")?.unwrap_or_default();
    Ok(shell.ends_with("/fish") || host::exists("~/.config/fish")?)
}

/// The files the block goes in: (path, is fish syntax).
fn files(ctx: &Context) -> Result<Vec<(String, bool)>, AdapterError> {
    match ctx.scope {
        Scope::System => Ok(vec![(SYSTEM_FILE.into(), false)]),
        Scope::User => {
            let mut out: Vec<(String, bool)> = Vec::new();
            for f in ["~/.bashrc", "~/.zshrc", "~/.profile"] {
                if host::exists(f)? {
                    out.push((f.to_owned(), false));
                }
            }
            // A new terminal may be a login shell, which reads none of the above but its own
            // file: bash only the first of these that exists, zsh ~/.zshrc (also when interactive).
            let shell = host::env("SHELL")?.unwrap_or_default();
            let login = if shell.ends_with("/zsh") {
                "~/.zshrc"
            } else {
                let mut first = "~/.profile";
                for f in ["~/.bash_profile", "~/.bash_login", "~/.profile"] {
                    if host::exists(f)? {
                        first = f;
                        break;
                    }
                }
                first
            };
            if !out.iter().any(|(f, _)| f == login) {
                out.push((login.to_owned(), false));
            }
            if uses_fish()? {
                out.push((FISH_FILE.into(), true));
            }
            Ok(out)
        }
        Scope::Provider => Err(AdapterError::Unsupported(
            "the shell-env adapter serves user and system scope; provider scope edits each tool's own config".into(),
        )),
    }
}

impl Adapter for ShellEnv {
    fn detect() -> Result<Detection, AdapterError> {
        // A shell is always there; it says nothing about which tools are installed.
        Ok(Detection {
            detected: false,
            evidence: vec![],
        })
    }

    fn status(ctx: Context) -> Result<Status, AdapterError> {
        let mut details = Vec::new();
        let mut routed = true;
        for (f, _) in files(&ctx)? {
            let text = host::read(&f)?.unwrap_or_default();
            let has = text.contains(&format!(">>> headroom {BLOCK} >>>"))
                && text.contains(&ctx.proxy_url);
            routed &= has;
            details.push(format!(
                "{f}: {}",
                if has {
                    "routing block present"
                } else {
                    "no routing block"
                }
            ));
        }
        Ok(Status { routed, details })
    }

    fn routing(ctx: Context) -> Result<Vec<Route>, AdapterError> {
        let mut out = Vec::new();
        for t in &ctx.targets {
            let Some(names) = url_vars(t) else { continue };
            let mut vals = Vec::new();
            for name in names {
                vals.push((
                    *name,
                    route::set(host::login_env(name)?),
                    route::set(host::env(name)?),
                ));
            }
            out.push(route_for(t, &ctx.proxy_url, &vals));
        }
        Ok(out)
    }

    fn apply(ctx: Context) -> Result<Plan, AdapterError> {
        let vars = variables(&ctx)?;
        let mut edits = Vec::new();
        for (f, fish) in files(&ctx)? {
            let body: Vec<String> = vars
                .iter()
                .map(|(k, v)| {
                    if fish {
                        format!("set -gx {k} {}", fish_quote(v))
                    } else {
                        format!("export {k}={}", sh_quote(v))
                    }
                })
                .collect();
            edits.push(edit::block_set(
                &f,
                BLOCK,
                MarkerStyle::Arrows,
                "#",
                &body.join("\n"),
                BlockPlacement::End,
            ));
        }
        let mut notes = vec![match ctx.scope {
            Scope::System => "already-open shells, and programs started from an IDE or the desktop session, do not see the exports (only new login shells read /etc/profile.d)".to_owned(),
            _ => "already-open shells, and programs started from an IDE or the desktop session, do not see the exports (only new login shells do)".to_owned(),
        }];
        if route::wanted(&ctx, "claude") {
            notes.push(CLAUDE_AI_ONLY.into());
        }
        Ok(Plan { edits, notes })
    }
}

headroom_adapter_sdk::export_adapter!(ShellEnv, "adapter.toml");

#[cfg(test)]
mod tests {
    use super::*;
    use headroom_adapter_sdk::RouteSource;

    const PROXY: &str = "http://127.0.0.1:8787";

    fn s(v: &str) -> Option<String> {
        Some(v.to_owned())
    }

    #[test]
    fn a_tool_with_two_variables_reports_the_one_that_misses_the_proxy() {
        let both = [
            (
                "OPENAI_API_BASE",
                s("http://127.0.0.1:8787/v1"),
                s("http://127.0.0.1:8787/v1"),
            ),
            ("ANTHROPIC_BASE_URL", s(PROXY), s(PROXY)),
        ];
        let r = route_for("aider", PROXY, &both);
        assert_eq!(r.url.as_deref(), Some("http://127.0.0.1:8787/v1"));
        assert_eq!(r.via, "OPENAI_API_BASE (login shell)");
        assert_eq!(
            r.notes,
            ["ANTHROPIC_BASE_URL (login shell) = http://127.0.0.1:8787"]
        );

        let half = [
            ("OPENAI_API_BASE", s("http://127.0.0.1:8787/v1"), None),
            ("ANTHROPIC_BASE_URL", None, None),
        ];
        let r = route_for("aider", PROXY, &half);
        assert_eq!((r.url.as_deref(), r.source), (None, RouteSource::Default));
        assert_eq!(
            r.via,
            "ANTHROPIC_BASE_URL is not exported by a login shell (built-in default)"
        );
        assert_eq!(
            r.notes,
            ["OPENAI_API_BASE (login shell) = http://127.0.0.1:8787/v1"]
        );
    }

    #[test]
    fn notes_say_when_this_process_sees_something_else() {
        let r = route_for("claude", PROXY, &[("ANTHROPIC_BASE_URL", s(PROXY), None)]);
        assert_eq!(r.source, RouteSource::Environment);
        assert_eq!(r.notes, [LATER_ONLY, CLAUDE_AI_ONLY]);
        let r = route_for(
            "claude",
            PROXY,
            &[("ANTHROPIC_BASE_URL", s(PROXY), s(PROXY))],
        );
        assert_eq!(r.notes, [CLAUDE_AI_ONLY]);
        let r = route_for("claude", PROXY, &[("ANTHROPIC_BASE_URL", None, s(PROXY))]);
        assert_eq!(r.url, None);
        assert_eq!(
            r.notes,
            [
                "ANTHROPIC_BASE_URL=http://127.0.0.1:8787 is set in this environment only: a new login shell does not export it"
            ]
        );
        let r = route_for(
            "copilot",
            PROXY,
            &[("COPILOT_PROVIDER_BASE_URL", None, None)],
        );
        assert!(r.notes.is_empty(), "{:?}", r.notes);
    }
}
