//! Routes tools through headroom with environment variables exported from one marked block:
//! `~/.bashrc`, `~/.zshrc`, `~/.profile` (those that exist; `~/.profile` when none does) and fish's
//! `conf.d` when fish is used, or `/etc/profile.d/headroom.sh` for the whole machine.

use headroom_adapter_sdk::{
    Adapter, AdapterError, BlockPlacement, Context, Detection, MarkerStyle, Plan, Scope, Status,
    edit, host,
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
            "codex" => vec![("OPENAI_BASE_URL", v1.clone())],
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
            let mut out = Vec::new();
            for f in ["~/.bashrc", "~/.zshrc", "~/.profile"] {
                if host::exists(f)? {
                    out.push((f.to_owned(), false));
                }
            }
            if out.is_empty() {
                out.push(("~/.profile".into(), false));
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
        Ok(Plan {
            edits,
            notes: vec!["open a new shell (or source the file) for the variables to apply".into()],
        })
    }
}

headroom_adapter_sdk::export_adapter!(ShellEnv, "adapter.toml");
