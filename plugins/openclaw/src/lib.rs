//! OpenClaw keeps providers in `openclaw.json` (`$OPENCLAW_CONFIG_PATH`, else
//! `${OPENCLAW_STATE_DIR:-~/.openclaw}/openclaw.json`). Plugins cannot reroute providers at run
//! time any more, so routing is persisted: each configured provider's `baseUrl` points at the
//! proxy (`/v1` for OpenAI-style APIs, none for `anthropic-messages`). Previous values come back
//! from headroom's journal on revert.
//!
//! Its routing: OpenClaw goes through headroom only if every configured provider does, so the
//! provider reported is the first whose `baseUrl` does not point at the proxy (else the first).

use headroom_adapter_sdk::{
    Adapter, AdapterError, Context, Detection, Plan, Route, Scope, Status, config, edit, host,
    route,
};
use serde_json::{Value, json};

struct OpenClaw;

fn config_path() -> Result<String, AdapterError> {
    if let Some(p) = host::env("OPENCLAW_CONFIG_PATH")?.filter(|p| !p.is_empty()) {
        return Ok(p);
    }
    let dir = host::env("OPENCLAW_STATE_DIR")?
        .filter(|d| !d.is_empty())
        .unwrap_or_else(|| "~/.openclaw".into());
    Ok(format!("{}/openclaw.json", dir.trim_end_matches('/')))
}

fn openclaw_config() -> Result<(String, Option<Value>), AdapterError> {
    let path = config_path()?;
    let Some(v) = config::json_object(&path)? else {
        return Ok((path, None));
    };
    if v.pointer("/models/providers")
        .is_some_and(|p| !p.is_object())
    {
        return Err(AdapterError::InvalidConfig(format!(
            "{path}: models.providers is not an object"
        )));
    }
    Ok((path, Some(v)))
}

/// (provider id, the baseUrl headroom gives it).
fn targets(ctx: &Context, cfg: &Value) -> Vec<(String, String)> {
    let Some(providers) = cfg.pointer("/models/providers").and_then(|p| p.as_object()) else {
        return vec![];
    };
    providers
        .iter()
        .filter(|(_, p)| p.is_object())
        .map(|(id, p)| {
            let anthropic = p.get("api").and_then(|a| a.as_str()) == Some("anthropic-messages");
            let url = if anthropic {
                ctx.proxy_url.clone()
            } else {
                format!("{}/v1", ctx.proxy_url)
            };
            (id.clone(), url)
        })
        .collect()
}

/// RFC 6901 escaping of one pointer segment.
fn seg(s: &str) -> String {
    s.replace('~', "~0").replace('/', "~1")
}

const TARGET: &str = "openclaw";

/// Where OpenClaw's providers send their requests with this config.
fn resolve(cfg: &Value, path: &str, proxy_url: &str) -> Result<Route, AdapterError> {
    let providers: Vec<(&String, Option<String>)> =
        match cfg.pointer("/models/providers").and_then(|p| p.as_object()) {
            None => vec![],
            Some(map) => map
                .iter()
                .filter(|(_, p)| p.is_object())
                .map(|(id, p)| match p.get("baseUrl") {
                    None | Some(Value::Null) => Ok((id, None)),
                    Some(Value::String(u)) => Ok((id, route::set(Some(u.clone())))),
                    Some(_) => Err(AdapterError::InvalidConfig(format!(
                        "{path}: models.providers.{id}.baseUrl is not a string"
                    ))),
                })
                .collect::<Result<_, _>>()?,
        };
    let Some((id, url)) = providers
        .iter()
        .find(|(_, u)| !u.as_deref().is_some_and(|u| route::points_at(u, proxy_url)))
        .or(providers.first())
    else {
        return Ok(route::default(
            TARGET,
            format!("{path}: no models.providers configured (OpenClaw's built-in endpoints)"),
        ));
    };
    let mut r = match url {
        Some(u) => route::config(TARGET, u, format!("{path} models.providers.{id}.baseUrl")),
        None => route::default(
            TARGET,
            format!(
                "{path} models.providers.{id}.baseUrl is unset (the provider's built-in endpoint)"
            ),
        ),
    };
    for (other, u) in &providers {
        if other != id {
            r.notes.push(format!(
                "provider {other} -> {}",
                u.as_deref().unwrap_or("its built-in endpoint")
            ));
        }
    }
    Ok(r)
}

impl Adapter for OpenClaw {
    fn detect() -> Result<Detection, AdapterError> {
        let mut evidence = Vec::new();
        if let Some(p) = host::which("openclaw")? {
            evidence.push(format!("openclaw on PATH: {p}"));
        }
        let path = config_path()?;
        if host::exists(&path)? {
            evidence.push(format!("{path} exists"));
        }
        Ok(Detection {
            detected: !evidence.is_empty(),
            evidence,
        })
    }

    fn status(ctx: Context) -> Result<Status, AdapterError> {
        let (path, cfg) = openclaw_config()?;
        let cfg = cfg.unwrap_or(Value::Null);
        let wanted = targets(&ctx, &cfg);
        let mut details = Vec::new();
        let mut routed = !wanted.is_empty();
        for (id, url) in wanted {
            let current = cfg
                .pointer(&format!("/models/providers/{}/baseUrl", seg(&id)))
                .and_then(|u| u.as_str())
                .unwrap_or("");
            routed &= current == url;
            details.push(format!(
                "{path}: {id} -> {}",
                if current.is_empty() {
                    "default"
                } else {
                    current
                }
            ));
        }
        Ok(Status { routed, details })
    }

    fn routing(ctx: Context) -> Result<Vec<Route>, AdapterError> {
        if !route::wanted(&ctx, TARGET) {
            return Ok(vec![]);
        }
        let (path, cfg) = openclaw_config()?;
        Ok(vec![resolve(
            cfg.as_ref().unwrap_or(&Value::Null),
            &path,
            &ctx.proxy_url,
        )?])
    }

    fn apply(ctx: Context) -> Result<Plan, AdapterError> {
        if ctx.scope != Scope::Provider {
            return Err(AdapterError::Unsupported(
                "the openclaw adapter edits openclaw.json (provider scope)".into(),
            ));
        }
        let (path, cfg) = openclaw_config()?;
        let wanted = targets(&ctx, cfg.as_ref().unwrap_or(&Value::Null));
        if wanted.is_empty() {
            return Ok(Plan {
                edits: vec![],
                notes: vec![format!(
                    "{path}: no models.providers configured; nothing to route (add a provider in OpenClaw, then apply again)"
                )],
            });
        }
        let edits = wanted
            .into_iter()
            .map(|(id, url)| {
                edit::json_set(
                    &path,
                    &format!("/models/providers/{}/baseUrl", seg(&id)),
                    json!(url),
                )
            })
            .collect();
        Ok(Plan {
            edits,
            notes: vec![],
        })
    }
}

headroom_adapter_sdk::export_adapter!(OpenClaw, "adapter.toml");
