//! OpenCode reads `$OPENCODE_CONFIG` (default `~/.config/opencode/opencode.json`). Routing adds a
//! `provider.headroom` entry (OpenAI-compatible, `baseURL` = the proxy); the user's own providers
//! and model choice are untouched.

use headroom_adapter_sdk::{
    Adapter, AdapterError, Context, Detection, Plan, Scope, Status, config, edit, env_or, host,
};
use serde_json::{Value, json};

struct OpenCode;

fn config_path() -> String {
    env_or("OPENCODE_CONFIG", "~/.config/opencode/opencode.json")
}

fn opencode_config() -> Result<Option<Value>, AdapterError> {
    let path = config_path();
    let Some(v) = config::json_object(&path)? else {
        return Ok(None);
    };
    if v.get("provider").is_some_and(|p| !p.is_object()) {
        return Err(AdapterError::InvalidConfig(format!(
            "{path}: \"provider\" is not an object"
        )));
    }
    Ok(Some(v))
}

impl Adapter for OpenCode {
    fn detect() -> Result<Detection, AdapterError> {
        let mut evidence = Vec::new();
        if let Some(p) = host::which("opencode")? {
            evidence.push(format!("opencode on PATH: {p}"));
        }
        if host::exists("~/.config/opencode")? {
            evidence.push("~/.config/opencode exists".into());
        }
        Ok(Detection {
            detected: !evidence.is_empty(),
            evidence,
        })
    }

    fn status(ctx: Context) -> Result<Status, AdapterError> {
        let url = opencode_config()?
            .and_then(|c| c.pointer("/provider/headroom/options/baseURL").cloned())
            .and_then(|u| u.as_str().map(str::to_owned));
        let routed = url.as_deref() == Some(format!("{}/v1", ctx.proxy_url).as_str());
        Ok(Status {
            routed,
            details: vec![format!(
                "{}: provider.headroom baseURL = {}",
                config_path(),
                url.unwrap_or_else(|| "none".into())
            )],
        })
    }

    fn apply(ctx: Context) -> Result<Plan, AdapterError> {
        if ctx.scope != Scope::Provider {
            return Err(AdapterError::Unsupported(
                "the opencode adapter edits opencode.json (provider scope)".into(),
            ));
        }
        opencode_config()?;
        let provider = json!({
            "npm": "@ai-sdk/openai-compatible",
            "name": "headroom",
            "options": { "baseURL": format!("{}/v1", ctx.proxy_url) },
        });
        Ok(Plan {
            edits: vec![edit::json_set(
                &config_path(),
                "/provider/headroom",
                provider,
            )],
            notes: vec![
                "choose a model of the \"headroom\" provider in OpenCode (e.g. /models)".into(),
            ],
        })
    }
}

headroom_adapter_sdk::export_adapter!(OpenCode, "adapter.toml");
