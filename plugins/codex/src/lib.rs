//! Codex reads `$CODEX_HOME/config.toml` (default `~/.codex`). Routing = a managed block holding
//! `model_provider = "headroom"` and `[model_providers.headroom]`, placed above the first table so
//! its top-level key stays top-level. A user's own top-level `model_provider` would be a duplicate
//! key, so it is removed by a journaled edit (restored byte for byte on revert, never lost);
//! `openai_base_url` does not conflict and is left alone.
//!
//! Codex ignores `OPENAI_BASE_URL`, so this adapter serves the user scope too (the same block).
//! Its routing, in Codex's own order: the active profile's `profiles.<p>.model_provider` beats
//! the top-level `model_provider` (default "openai"); a provider's URL is its
//! `model_providers.<id>.base_url`, and for the built-in "openai" one (which `[model_providers.
//! openai]` cannot redefine) the top-level `openai_base_url`, else https://api.openai.com/v1.
//! `-c` overrides and `--profile` are per invocation and cannot be seen.

use headroom_adapter_sdk::{
    Adapter, AdapterError, BlockPlacement, Context, Detection, LoginKind, MarkerStyle, Plan, Route,
    Scope, Status, edit, env_or, host, route,
};
use toml_edit::{DocumentMut, Item};

struct Codex;

const BLOCK: &str = "persistent provider";
const BEGIN: &str = "# --- Headroom persistent provider ---";
const TARGET: &str = "codex";
const OPENAI_DEFAULT: &str = "https://api.openai.com/v1";
/// Codex's built-in providers: a `[model_providers.<id>]` of the same id is ignored by Codex,
/// except that the Bedrock ones take a `base_url` override.
const BUILTIN_PROVIDERS: &[&str] = &[
    "openai",
    "ollama",
    "lmstudio",
    "amazon-bedrock",
    "amazon-bedrock-runtime",
];
const IGNORES_ENV: &str = "OPENAI_BASE_URL is exported but Codex ignores it";

fn home() -> String {
    env_or("CODEX_HOME", "~/.codex")
        .trim_end_matches('/')
        .to_owned()
}

fn config_path() -> String {
    format!("{}/config.toml", home())
}

/// The config text ("" when absent) and its parsed form; a file we cannot parse is refused.
fn config() -> Result<(String, DocumentMut), AdapterError> {
    let path = config_path();
    let text = host::read(&path)?.unwrap_or_default();
    Ok((text.clone(), parse(&path, &text)?))
}

fn parse(path: &str, text: &str) -> Result<DocumentMut, AdapterError> {
    text.parse::<DocumentMut>().map_err(|e| {
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
    })
}

fn str_at<'a>(
    item: Option<&'a Item>,
    what: &str,
    path: &str,
) -> Result<Option<&'a str>, AdapterError> {
    match item {
        None => Ok(None),
        Some(i) => i
            .as_str()
            .map(Some)
            .ok_or_else(|| AdapterError::InvalidConfig(format!("{path}: {what} is not a string"))),
    }
}

/// The active profile (`profile = "p"`) when it sets `model_provider`: (p, provider id).
fn profile_provider(
    doc: &DocumentMut,
    path: &str,
) -> Result<Option<(String, String)>, AdapterError> {
    let Some(p) = str_at(doc.get("profile"), "profile", path)? else {
        return Ok(None);
    };
    let Some(table) = doc.get("profiles").and_then(|t| t.get(p)) else {
        return Err(AdapterError::InvalidConfig(format!(
            "{path}: profile = \"{p}\" names no [profiles.{p}] table (Codex stops with: config profile `{p}` not found)"
        )));
    };
    let key = format!("profiles.{p}.model_provider");
    Ok(str_at(table.get("model_provider"), &key, path)?.map(|id| (p.to_owned(), id.to_owned())))
}

/// Where Codex sends its requests with this config, before the environment note.
fn resolve(doc: &DocumentMut, path: &str, chatgpt: bool) -> Result<Route, AdapterError> {
    let (id, chosen_by) = match profile_provider(doc, path)? {
        Some((p, id)) => (id, Some(format!("{path} profiles.{p}.model_provider"))),
        None => match str_at(doc.get("model_provider"), "model_provider", path)? {
            Some(id) => (id.to_owned(), Some(format!("{path} model_provider"))),
            None => ("openai".to_owned(), None),
        },
    };
    let table = doc.get("model_providers").and_then(|t| t.get(&id));
    let builtin = BUILTIN_PROVIDERS.contains(&id.as_str());
    let base_key = format!("model_providers.{id}.base_url");
    let own_url = match table {
        Some(t) if !builtin || id.starts_with("amazon-bedrock") => {
            route::set(str_at(t.get("base_url"), &base_key, path)?.map(str::to_owned))
        }
        _ => None,
    };
    let mut r = if let Some(url) = own_url {
        route::config(TARGET, &url, format!("{path} {base_key}"))
    } else if id == "openai" {
        match route::set(
            str_at(doc.get("openai_base_url"), "openai_base_url", path)?.map(str::to_owned),
        ) {
            Some(url) => route::config(TARGET, &url, format!("{path} openai_base_url")),
            None if chatgpt => route::default(
                TARGET,
                "built-in default https://chatgpt.com/backend-api/codex (ChatGPT sign-in)",
            ),
            None => route::default(TARGET, format!("built-in default {OPENAI_DEFAULT}")),
        }
    } else if builtin {
        route::default(TARGET, format!("Codex's built-in provider \"{id}\""))
    } else if table.is_some() {
        route::default(
            TARGET,
            format!(
                "{path} [model_providers.{id}] has no base_url (built-in default {OPENAI_DEFAULT})"
            ),
        )
    } else {
        return Err(AdapterError::InvalidConfig(format!(
            "{path}: model_provider \"{id}\" is neither defined in [model_providers] nor one of Codex's built-in providers"
        )));
    };
    if let Some(by) = chosen_by {
        r.notes
            .push(format!("model_provider \"{id}\" is chosen by {by}"));
    }
    if id == "openai" && table.is_some() {
        r.notes.push(format!(
            "{path} [model_providers.openai] is ignored: Codex's built-in providers cannot be redefined (openai_base_url sets its URL)"
        ));
    }
    Ok(r)
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
        let path = config_path();
        let mut details = vec![format!("{path}: model_provider = {provider}")];
        // The active profile's choice beats the block's top-level one.
        let overridden = match profile_provider(&doc, &path)? {
            Some((p, id)) if id != "headroom" => {
                details.push(format!(
                    "{path}: profiles.{p}.model_provider = {id} (active profile)"
                ));
                true
            }
            _ => false,
        };
        let routed = text.contains(BEGIN)
            && provider == "headroom"
            && !overridden
            && url == format!("{}/v1", ctx.proxy_url);
        Ok(Status { routed, details })
    }

    fn routing(ctx: Context) -> Result<Vec<Route>, AdapterError> {
        if !route::wanted(&ctx, TARGET) {
            return Ok(vec![]);
        }
        let (_, doc) = config()?;
        let mut r = resolve(&doc, &config_path(), chatgpt_login()?)?;
        // Only a note: a login shell that does not answer must not hide the config's answer.
        let exported = host::login_env("OPENAI_BASE_URL")
            .unwrap_or_else(|e| {
                if let AdapterError::Failed(why) = e {
                    host::warn(&why);
                }
                None
            })
            .or(host::env("OPENAI_BASE_URL")?);
        if route::set(exported).is_some() {
            r.notes.push(IGNORES_ENV.into());
        }
        Ok(vec![r])
    }

    fn apply(ctx: Context) -> Result<Plan, AdapterError> {
        if ctx.scope == Scope::System {
            return Err(AdapterError::Unsupported(
                "the codex adapter edits the user's config.toml (provider and user scope); Codex ignores OPENAI_BASE_URL, so there is no machine-wide routing for it".into(),
            ));
        }
        let (text, doc) = config()?;
        let path = config_path();
        // The active profile's choice beats the top-level key the block sets: a block written
        // anyway would not route anything.
        if let Some((p, id)) = profile_provider(&doc, &path)?
            && id != "headroom"
        {
            return Err(AdapterError::InvalidConfig(format!(
                "{path}: profiles.{p}.model_provider = \"{id}\" (profile \"{p}\" is active) beats the top-level model_provider headroom sets; remove it, or select another profile"
            )));
        }
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
        let notes = match ctx.scope {
            Scope::User => vec![format!(
                "Codex ignores OPENAI_BASE_URL, so at user scope it is routed through its own {path} too"
            )],
            _ => vec![],
        };
        Ok(Plan { edits, notes })
    }
}

headroom_adapter_sdk::export_adapter!(Codex, "adapter.toml");

#[cfg(test)]
mod tests {
    use super::*;
    use headroom_adapter_sdk::RouteSource;

    const P: &str = "~/.codex/config.toml";

    fn route_of(text: &str) -> Result<Route, AdapterError> {
        resolve(&parse(P, text).unwrap(), P, false)
    }

    #[test]
    fn the_active_profile_beats_the_top_level_provider() {
        let text = "profile = \"work\"\nmodel_provider = \"headroom\"\n[model_providers.headroom]\nbase_url = \"http://127.0.0.1:8787/v1\"\n[model_providers.azure]\nbase_url = \"https://x.azure.com/openai\"\n[profiles.work]\nmodel_provider = \"azure\"\n";
        let r = route_of(text).unwrap();
        assert_eq!(r.url.as_deref(), Some("https://x.azure.com/openai"));
        assert_eq!(r.source, RouteSource::Config);
        assert_eq!(r.via, format!("{P} model_providers.azure.base_url"));
        assert_eq!(
            r.notes,
            [format!(
                "model_provider \"azure\" is chosen by {P} profiles.work.model_provider"
            )]
        );
        // A profile without model_provider leaves the top-level choice in effect.
        let r = route_of(&text.replace("model_provider = \"azure\"", "model = \"o3\"")).unwrap();
        assert_eq!(r.url.as_deref(), Some("http://127.0.0.1:8787/v1"));
    }

    #[test]
    fn the_openai_provider_uses_openai_base_url_else_the_default() {
        let r = route_of("").unwrap();
        assert_eq!((r.url, r.source), (None, RouteSource::Default));
        assert_eq!(r.via, "built-in default https://api.openai.com/v1");
        let r = resolve(&parse(P, "").unwrap(), P, true).unwrap();
        assert!(r.via.contains("chatgpt.com"), "{}", r.via);
        let r = route_of("openai_base_url = \"https://gw.corp/v1\"\n").unwrap();
        assert_eq!(r.url.as_deref(), Some("https://gw.corp/v1"));
        assert_eq!(r.via, format!("{P} openai_base_url"));
        // [model_providers.openai] cannot redefine the built-in provider.
        let r =
            route_of("[model_providers.openai]\nbase_url = \"https://elsewhere/v1\"\n").unwrap();
        assert_eq!(r.url, None);
        assert!(r.notes[0].contains("is ignored"), "{:?}", r.notes);
    }

    #[test]
    fn unusable_choices_name_the_file_and_key() {
        for (text, want) in [
            (
                "profile = \"x\"\n",
                "profile = \"x\" names no [profiles.x] table",
            ),
            (
                "model_provider = \"nope\"\n",
                "model_provider \"nope\" is neither defined",
            ),
            ("model_provider = 3\n", "model_provider is not a string"),
            (
                "[model_providers.m]\nbase_url = 1\n",
                "model_providers.m.base_url is not a string",
            ),
        ] {
            let text = if text.starts_with('[') {
                format!("model_provider = \"m\"\n{text}")
            } else {
                text.to_owned()
            };
            match route_of(&text) {
                Err(AdapterError::InvalidConfig(m)) => {
                    assert!(m.starts_with(P) && m.contains(want), "{m}")
                }
                other => panic!("{text}: {other:?}"),
            }
        }
    }

    #[test]
    fn other_builtins_and_providers_without_base_url_use_their_defaults() {
        let r = route_of("model_provider = \"ollama\"\n").unwrap();
        assert_eq!((r.url, r.source), (None, RouteSource::Default));
        let r = route_of("model_provider = \"m\"\n[model_providers.m]\nname = \"m\"\n").unwrap();
        assert_eq!(r.url, None);
        assert!(r.via.contains("has no base_url"), "{}", r.via);
    }
}
