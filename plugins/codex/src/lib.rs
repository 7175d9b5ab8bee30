//! Codex reads `$CODEX_HOME/config.toml` (default `~/.codex`). Routing = a managed block holding
//! `model_provider = "headroom"` and `[model_providers.headroom]`, placed above the first table so
//! its top-level key stays top-level. A user's own top-level `model_provider` would be a duplicate
//! key, so it is removed by a journaled edit (restored byte for byte on revert, never lost);
//! `openai_base_url` does not conflict and is left alone.

use headroom_adapter_sdk::{
    Adapter, AdapterError, BlockPlacement, Context, Detection, LoginKind, MarkerStyle, Plan, Scope,
    Status, edit, env_or, host,
};

struct Codex;

const BLOCK: &str = "persistent provider";
const BEGIN: &str = "# --- Headroom persistent provider ---";

fn home() -> String {
    env_or("CODEX_HOME", "~/.codex")
        .trim_end_matches('/')
        .to_owned()
}

fn config_path() -> String {
    format!("{}/config.toml", home())
}

/// The config text ("" when absent) and its parsed form; a file we cannot parse is refused.
fn config() -> Result<(String, toml_edit::DocumentMut), AdapterError> {
    let path = config_path();
    let text = host::read(&path)?.unwrap_or_default();
    let doc = text.parse::<toml_edit::DocumentMut>().map_err(|e| {
        let (line, col) = e
            .span()
            .map(|s| {
                let before = &text[..s.start.min(text.len())];
                (
                    before.matches('\n').count() + 1,
                    before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1,
                )
            })
            .unwrap_or((1, 1));
        AdapterError::InvalidConfig(format!(
            "{path}: invalid TOML at line {line}, column {col}: {}",
            e.message().trim()
        ))
    })?;
    Ok((text, doc))
}

/// A ChatGPT login keeps OAuth tokens in auth.json; API-key users have OPENAI_API_KEY instead.
/// auth.json holds credentials, so the adapter never reads it: the host answers which login it
/// is (the `facts.codex-login` import), never the key or token.
fn chatgpt_login() -> Result<bool, AdapterError> {
    Ok(host::codex_login()? == LoginKind::Chatgpt)
}

fn block_body(ctx: &Context, chatgpt: bool) -> String {
    let credentials = if chatgpt {
        "requires_openai_auth = true"
    } else {
        "env_key = \"OPENAI_API_KEY\""
    };
    format!(
        "model_provider = \"headroom\"\n\n[model_providers.headroom]\nname = \"headroom\"\nbase_url = \"{}/v1\"\nwire_api = \"responses\"\nsupports_websockets = true\n{credentials}",
        ctx.proxy_url
    )
}

impl Adapter for Codex {
    fn detect() -> Result<Detection, AdapterError> {
        let mut evidence = Vec::new();
        if let Some(p) = host::which("codex")? {
            evidence.push(format!("codex on PATH: {p}"));
        }
        if host::exists(&config_path())? {
            evidence.push(format!("{} exists", config_path()));
        }
        Ok(Detection {
            detected: !evidence.is_empty(),
            evidence,
        })
    }

    fn status(ctx: Context) -> Result<Status, AdapterError> {
        let (text, doc) = config()?;
        let provider = doc
            .get("model_provider")
            .and_then(|v| v.as_str())
            .unwrap_or("openai");
        let url = doc
            .get("model_providers")
            .and_then(|p| p.get("headroom"))
            .and_then(|h| h.get("base_url"))
            .and_then(|u| u.as_str())
            .unwrap_or("");
        let routed = text.contains(BEGIN)
            && provider == "headroom"
            && url == format!("{}/v1", ctx.proxy_url);
        Ok(Status {
            routed,
            details: vec![format!("{}: model_provider = {provider}", config_path())],
        })
    }

    fn apply(ctx: Context) -> Result<Plan, AdapterError> {
        if ctx.scope != Scope::Provider {
            return Err(AdapterError::Unsupported(
                "the codex adapter edits config.toml (provider scope)".into(),
            ));
        }
        let (text, doc) = config()?;
        let path = config_path();
        let ours = text.contains(BEGIN);
        if !ours {
            if doc
                .get("model_providers")
                .and_then(|p| p.get("headroom"))
                .is_some()
            {
                return Err(AdapterError::InvalidConfig(format!(
                    "{path}: already defines model_providers.headroom; rename or remove it first"
                )));
            }
            if doc
                .get("model_providers")
                .is_some_and(|p| p.is_inline_table())
            {
                return Err(AdapterError::InvalidConfig(format!(
                    "{path}: model_providers is an inline table; write it as [model_providers.<id>] tables first"
                )));
            }
        }
        let mut edits = Vec::new();
        if !ours && doc.get("model_provider").is_some() {
            edits.push(edit::toml_remove(&path, &["model_provider"]));
        }
        edits.push(edit::block_set(
            &path,
            BLOCK,
            MarkerStyle::Dashes,
            "#",
            &block_body(&ctx, chatgpt_login()?),
            BlockPlacement::BeforeFirstTable,
        ));
        Ok(Plan {
            edits,
            notes: vec![],
        })
    }
}

headroom_adapter_sdk::export_adapter!(Codex, "adapter.toml");
