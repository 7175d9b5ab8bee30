//! Crush (charmbracelet/crush) reads `$XDG_CONFIG_HOME/crush/crush.json` (default
//! `~/.config/crush/crush.json`); a provider's `base_url` there overrides where Crush sends that
//! provider's requests. This adapter points the `anthropic` and `openai` providers at headroom and
//! leaves everything else in the file (keys, API key references, models, order) alone.

use headroom_adapter_sdk::{
    Adapter, AdapterError, Context, Detection, Plan, Route, Scope, Status, config, edit, env_or,
    host, route,
};
use serde_json::{Value, json};

struct Crush;

/// (provider id in crush.json, the path headroom serves that API on)
const PROVIDERS: &[(&str, &str)] = &[("anthropic", ""), ("openai", "/v1")];

fn config_file() -> String {
    let base = env_or("XDG_CONFIG_HOME", "~/.config");
    format!("{}/crush/crush.json", base.trim_end_matches('/'))
}

/// The parsed file (None when absent). A file this adapter cannot understand is refused with its
/// position, before headroom changes anything.
fn crush_config() -> Result<Option<Value>, AdapterError> {
    let path = config_file();
    let Some(v) = config::json_object(&path)? else {
        return Ok(None);
    };
    let providers_ok = match v.get("providers") {
        None => true,
        Some(p) => p.as_object().is_some_and(|p| {
            PROVIDERS
                .iter()
                .all(|(id, _)| p.get(*id).is_none_or(Value::is_object))
        }),
    };
    if !providers_ok {
        return Err(AdapterError::InvalidConfig(format!(
            "{path}: expected \"providers\" to be an object of objects"
        )));
    }
    Ok(Some(v))
}

fn provider_scope(ctx: &Context) -> Result<(), AdapterError> {
    match ctx.scope {
        Scope::Provider => Ok(()),
        _ => Err(AdapterError::Unsupported(
            "the crush adapter edits crush.json (provider scope only)".into(),
        )),
    }
}

fn pointer(id: &str) -> String {
    format!("/providers/{id}/base_url")
}

impl Adapter for Crush {
    fn detect() -> Result<Detection, AdapterError> {
        let mut evidence = Vec::new();
        if let Some(path) = host::which("crush")? {
            evidence.push(format!("crush on PATH: {path}"));
        }
        let file = config_file();
        if host::exists(&file)? {
            evidence.push(format!("{file} exists"));
        }
        Ok(Detection {
            detected: !evidence.is_empty(),
            evidence,
        })
    }

    fn status(ctx: Context) -> Result<Status, AdapterError> {
        let cfg = crush_config()?;
        let mut routed = true;
        let mut details = Vec::new();
        for (id, suffix) in PROVIDERS {
            let want = format!("{}{suffix}", ctx.proxy_url);
            let have = cfg
                .as_ref()
                .and_then(|c| c.pointer(&pointer(id)))
                .and_then(Value::as_str);
            routed &= have == Some(want.as_str());
            details.push(match have {
                Some(url) => format!("providers.{id}.base_url = {url}"),
                None => format!("providers.{id}.base_url not set"),
            });
        }
        Ok(Status { routed, details })
    }

    /// Crush goes through headroom only if both providers do: report the first that does not
    /// point at the proxy (headroom compares the URL itself), else the first.
    fn routing(ctx: Context) -> Result<Vec<Route>, AdapterError> {
        if !route::wanted(&ctx, "crush") {
            return Ok(vec![]);
        }
        let cfg = crush_config()?;
        let file = config_file();
        let urls: Vec<(&str, Option<String>)> = PROVIDERS
            .iter()
            .map(|(id, _)| {
                let url = cfg
                    .as_ref()
                    .and_then(|c| c.pointer(&pointer(id)))
                    .and_then(Value::as_str)
                    .map(str::to_owned);
                (*id, route::set(url))
            })
            .collect();
        let (id, url) = urls
            .iter()
            .find(|(_, u)| {
                !u.as_deref()
                    .is_some_and(|u| route::points_at(u, &ctx.proxy_url))
            })
            .unwrap_or(&urls[0]);
        Ok(vec![match url {
            Some(u) => route::config("crush", u, format!("{file} providers.{id}.base_url")),
            None => route::default(
                "crush",
                format!("{file} providers.{id}.base_url is unset (Crush's built-in endpoint)"),
            ),
        }])
    }

    fn apply(ctx: Context) -> Result<Plan, AdapterError> {
        provider_scope(&ctx)?;
        crush_config()?;
        let file = config_file();
        Ok(Plan {
            edits: PROVIDERS
                .iter()
                .map(|(id, suffix)| {
                    edit::json_set(
                        &file,
                        &pointer(id),
                        json!(format!("{}{suffix}", ctx.proxy_url)),
                    )
                })
                .collect(),
            notes: vec![format!("restart crush to pick up {file}")],
        })
    }
}

headroom_adapter_sdk::export_adapter!(Crush, "adapter.toml");
