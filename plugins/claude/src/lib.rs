//! Claude Code reads `env` from `settings.json` (in `$CLAUDE_CONFIG_DIR`, default `~/.claude`),
//! and those values beat exported variables: the one place that routes every Claude session.
//!
//! Its routing, in Claude Code's own order: settings.json `env.ANTHROPIC_BASE_URL`, else the
//! `ANTHROPIC_BASE_URL` a new login shell exports, else https://api.anthropic.com.

use headroom_adapter_sdk::{
    Adapter, AdapterError, Context, Detection, Plan, Route, Scope, Status, config, edit, env_or,
    host, route,
};
use serde_json::{Value, json};

struct Claude;

const TARGET: &str = "claude";
const VAR: &str = "ANTHROPIC_BASE_URL";
const DEFAULT_URL: &str = "https://api.anthropic.com";
/// True of every custom base URL, headroom's included: say it wherever one is in effect.
use headroom_adapter_sdk::route::notes::{CLAUDE_AI_ONLY, LATER_ONLY};

fn config_dir() -> String {
    env_or("CLAUDE_CONFIG_DIR", "~/.claude")
}

fn settings_path() -> String {
    format!("{}/settings.json", config_dir().trim_end_matches('/'))
}

/// The parsed settings (None when absent); a file we would corrupt is refused with its position.
fn settings() -> Result<Option<Value>, AdapterError> {
    let path = settings_path();
    let Some(v) = config::json_object(&path)? else {
        return Ok(None);
    };
    if v.get("env").is_some_and(|e| !e.is_object()) {
        return Err(AdapterError::InvalidConfig(format!(
            "{path}: \"env\" is not an object"
        )));
    }
    Ok(Some(v))
}

/// settings.json `env.ANTHROPIC_BASE_URL` (None when absent or empty); a non-string is refused,
/// since what Claude Code would make of it is not ours to guess.
fn settings_url(settings: Option<&Value>) -> Result<Option<String>, AdapterError> {
    match settings.and_then(|s| s.pointer("/env/ANTHROPIC_BASE_URL")) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(route::set(Some(s.clone()))),
        Some(_) => Err(AdapterError::InvalidConfig(format!(
            "{}: env.ANTHROPIC_BASE_URL is not a string",
            settings_path()
        ))),
    }
}

/// Where Claude Code sends its requests now.
fn resolve() -> Result<Route, AdapterError> {
    let file = settings_path();
    if let Some(url) = settings_url(settings()?.as_ref())? {
        let mut r = route::config(TARGET, &url, format!("{file} env.{VAR}"));
        if !route::same_url(&url, DEFAULT_URL) {
            r.notes.push(CLAUDE_AI_ONLY.into());
        }
        return Ok(r);
    }
    let login = route::set(host::login_env(VAR)?);
    let here = route::set(host::env(VAR)?);
    let mut r = match &login {
        Some(url) => {
            let mut r = route::environment(TARGET, url, format!("{VAR} (login shell)"));
            if !route::same_url(url, DEFAULT_URL) {
                r.notes.push(CLAUDE_AI_ONLY.into());
            }
            r
        }
        None => route::default(TARGET, format!("built-in default {DEFAULT_URL}")),
    };
    match (&login, &here) {
        (Some(l), h) if h.as_deref().is_none_or(|h| !route::same_url(h, l)) => {
            r.notes.push(LATER_ONLY.into())
        }
        (None, Some(h)) => r.notes.push(format!(
            "{VAR}={h} is set in this environment only: a new login shell does not export it"
        )),
        _ => {}
    }
    Ok(r)
}

fn provider_only(ctx: &Context) -> Result<(), AdapterError> {
    match ctx.scope {
        Scope::Provider => Ok(()),
        _ => Err(AdapterError::Unsupported(
            "the claude adapter edits settings.json (provider scope); user/system scope is the shell-env adapter".into(),
        )),
    }
}

impl Adapter for Claude {
    fn detect() -> Result<Detection, AdapterError> {
        let mut evidence = Vec::new();
        if let Some(path) = host::which("claude")? {
            evidence.push(format!("claude on PATH: {path}"));
        }
        let dir = config_dir();
        if host::exists(&dir)? {
            evidence.push(format!("{dir} exists"));
        }
        Ok(Detection {
            detected: !evidence.is_empty(),
            evidence,
        })
    }

    fn status(ctx: Context) -> Result<Status, AdapterError> {
        let current = settings()?
            .and_then(|s| s.pointer("/env/ANTHROPIC_BASE_URL").cloned())
            .and_then(|v| v.as_str().map(str::to_owned));
        let routed = current.as_deref() == Some(ctx.proxy_url.as_str());
        let details = vec![match current {
            Some(url) => format!("{}: env.ANTHROPIC_BASE_URL = {url}", settings_path()),
            None => format!("{}: no env.ANTHROPIC_BASE_URL", settings_path()),
        }];
        Ok(Status { routed, details })
    }

    fn routing(ctx: Context) -> Result<Vec<Route>, AdapterError> {
        if !route::wanted(&ctx, TARGET) {
            return Ok(vec![]);
        }
        Ok(vec![resolve()?])
    }

    fn apply(ctx: Context) -> Result<Plan, AdapterError> {
        provider_only(&ctx)?;
        settings()?;
        let file = settings_path();
        Ok(Plan {
            edits: vec![
                edit::json_set(&file, "/env/ANTHROPIC_BASE_URL", json!(ctx.proxy_url)),
                edit::json_set(&file, "/env/ENABLE_TOOL_SEARCH", json!("true")),
            ],
            notes: vec![CLAUDE_AI_ONLY.into()],
        })
    }
}

headroom_adapter_sdk::export_adapter!(Claude, "adapter.toml");
