//! Claude Code reads `env` from `settings.json` (in `$CLAUDE_CONFIG_DIR`, default `~/.claude`),
//! and those values beat exported variables: the one place that routes every Claude session.

use headroom_adapter_sdk::{
    Adapter, AdapterError, Context, Detection, Plan, Scope, Status, config, edit, env_or, host,
};
use serde_json::{Value, json};

struct Claude;

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

    fn apply(ctx: Context) -> Result<Plan, AdapterError> {
        provider_only(&ctx)?;
        settings()?;
        let file = settings_path();
        Ok(Plan {
            edits: vec![
                edit::json_set(&file, "/env/ANTHROPIC_BASE_URL", json!(ctx.proxy_url)),
                edit::json_set(&file, "/env/ENABLE_TOOL_SEARCH", json!("true")),
            ],
            notes: vec![],
        })
    }
}

headroom_adapter_sdk::export_adapter!(Claude, "adapter.toml");
