//! OpenCode reads `$OPENCODE_CONFIG` (default `~/.config/opencode/opencode.json`). Routing adds a
//! `provider.headroom` entry (OpenAI-compatible, `baseURL` = the proxy); the user's own providers
//! and model choice are untouched.
//!
//! Its routing follows the model OpenCode uses: the top-level `model` ("<provider>/<model>")
//! selects a provider, whose `options.baseURL` is where requests go (unset: that provider's
//! built-in endpoint). A model picked in the TUI without `model` in the file cannot be seen.

use headroom_adapter_sdk::{
    Adapter, AdapterError, Context, Detection, Plan, Route, Scope, Status, config, edit, env_or,
    host, route,
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

const TARGET: &str = "opencode";

fn base_url(cfg: &Value, path: &str, id: &str) -> Result<Option<String>, AdapterError> {
    match cfg
        .get("provider")
        .and_then(|p| p.get(id))
        .and_then(|p| p.get("options"))
        .and_then(|o| o.get("baseURL"))
    {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(u)) => Ok(route::set(Some(u.clone()))),
        Some(_) => Err(AdapterError::InvalidConfig(format!(
            "{path}: provider.{id}.options.baseURL is not a string"
        ))),
    }
}

/// Where OpenCode sends its requests with this config.
fn resolve(cfg: &Value, path: &str) -> Result<Route, AdapterError> {
    let model = match cfg.get("model") {
        None | Some(Value::Null) => None,
        Some(Value::String(m)) => route::set(Some(m.clone())),
        Some(_) => {
            return Err(AdapterError::InvalidConfig(format!(
                "{path}: \"model\" is not a string"
            )));
        }
    };
    let Some(model) = model else {
        return Ok(match base_url(cfg, path, "headroom")? {
            Some(url) => {
                let mut r = route::config(
                    TARGET,
                    &url,
                    format!("{path} provider.headroom.options.baseURL"),
                );
                r.notes.push(format!(
                    "{path} sets no model: OpenCode goes through headroom only with a model of the \"headroom\" provider (choose one with /models)"
                ));
                r
            }
            None => route::default(
                TARGET,
                format!("{path} sets no model and no provider.headroom (built-in endpoints)"),
            ),
        });
    };
    let id = model.split('/').next().unwrap_or_default();
    let mut r = match base_url(cfg, path, id)? {
        Some(url) => route::config(
            TARGET,
            &url,
            format!("{path} provider.{id}.options.baseURL"),
        ),
        None => route::default(
            TARGET,
            format!(
                "{path} model \"{model}\": provider \"{id}\" sets no options.baseURL (its built-in endpoint)"
            ),
        ),
    };
    r.notes.push(format!(
        "{path} model = \"{model}\" selects provider \"{id}\""
    ));
    Ok(r)
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

    fn routing(ctx: Context) -> Result<Vec<Route>, AdapterError> {
        if !route::wanted(&ctx, TARGET) {
            return Ok(vec![]);
        }
        let path = config_path();
        let cfg = opencode_config()?.unwrap_or_else(|| Value::Object(Default::default()));
        Ok(vec![resolve(&cfg, &path)?])
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
