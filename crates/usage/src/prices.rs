//! The price table (`crates/usage/prices.toml`, data kept in the repo and compiled in).

use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

/// USD per million tokens for the models whose names start with `prefix`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct ModelPrice {
    pub prefix: String,
    pub input: f64,
    pub cache_read: f64,
    pub cache_write: f64,
    pub output: f64,
}

#[derive(Debug, Deserialize)]
pub struct Prices {
    date: String,
    #[serde(rename = "model")]
    models: Vec<ModelPrice>,
}

/// The compiled-in table.
pub fn table() -> &'static Prices {
    static TABLE: OnceLock<Prices> = OnceLock::new();
    TABLE.get_or_init(|| {
        Prices::parse(include_str!("../prices.toml"))
            .expect("prices.toml is valid: the unit tests parse it")
    })
}

impl Prices {
    pub fn parse(text: &str) -> Result<Prices, toml::de::Error> {
        toml::from_str(text)
    }

    /// The day the prices were taken from the providers' pages (`YYYY-MM-DD`).
    pub fn date(&self) -> &str {
        &self.date
    }

    /// The entry with the longest prefix of `model` that ends where the name or one of its
    /// `-` parts does (case-insensitive; a leading `provider/`, as OpenCode and OpenClaw write
    /// model names, is ignored), or `None`: unpriced. A newer version is unpriced rather than
    /// priced as an older one: the boundary keeps `gpt-5.5` from matching `gpt-5`, and a part
    /// that is a short number after the prefix is a minor version, not a date or a variant
    /// (`claude-opus-4-7` does not match `claude-opus-4`; `claude-opus-4-20250514` and
    /// `gpt-5-mini-2025-08-07` do match theirs).
    pub fn price(&self, model: &str) -> Option<&ModelPrice> {
        let model = model.to_ascii_lowercase();
        let bare = model.rsplit('/').next().unwrap_or(&model);
        self.models
            .iter()
            .filter(|p| {
                bare.strip_prefix(p.prefix.as_str()).is_some_and(|rest| {
                    rest.is_empty() || (rest.starts_with('-') && !is_minor_version(&rest[1..]))
                })
            })
            .max_by_key(|p| p.prefix.len())
    }

    /// What `tokens` saved tokens would have cost. Saved tokens are priced at the model's
    /// *input* price: compression removes tokens from the prompt, and the prompt is billed as
    /// input (a cache hit would have cost less, so this is an upper estimate). An unpriced model
    /// gives 0.
    pub fn saved_usd(&self, model: &str, tokens: u64) -> f64 {
        self.price(model)
            .map_or(0.0, |p| p.input * tokens as f64 / 1_000_000.0)
    }
}

/// Whether the name's next `-` part is a minor version (`7` in `…-4-7`): one or two digits.
/// Dates (`20250514`, `2025-08-07`) have four or more.
fn is_minor_version(rest: &str) -> bool {
    let part = rest.split('-').next().unwrap_or("");
    (1..=2).contains(&part.len()) && part.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_parses_and_has_a_date() {
        let t = table();
        let d = t.date();
        assert_eq!(d.len(), 10, "{d}");
        assert!(d.as_bytes()[4] == b'-' && d.as_bytes()[7] == b'-', "{d}");
        assert!(t.models.len() >= 20);
        for p in &t.models {
            assert!(p.input > 0.0 && p.output >= p.input, "{p:?}");
            assert!(p.cache_read <= p.input, "{p:?}");
        }
    }

    #[test]
    fn longest_prefix_wins() {
        let t = table();
        let input = |m: &str| t.price(m).map(|p| p.input);
        assert_eq!(input("claude-opus-4-5-20251101"), Some(5.0));
        assert_eq!(input("claude-opus-4-1-20250805"), Some(15.0));
        assert_eq!(input("claude-sonnet-4-5-20250929"), Some(3.0));
        assert_eq!(input("claude-haiku-4-5"), Some(1.0));
        assert_eq!(input("claude-3-5-haiku-latest"), Some(0.8));
        assert_eq!(input("gpt-5-mini-2025-08-07"), Some(0.25));
        assert_eq!(input("gpt-5.1-codex"), Some(1.25));
        assert_eq!(input("gpt-5.1-codex-mini"), Some(0.25));
        assert_eq!(input("gpt-4o-mini"), Some(0.15));
        assert_eq!(input("o3-mini"), Some(1.1));
        assert_eq!(input("o3"), Some(2.0));
        assert_eq!(input("openai/GPT-4.1-nano"), Some(0.1));
        assert_eq!(input("gpt-5.2-codex"), Some(1.75));
        assert_eq!(input("claude-opus-4-6"), Some(5.0));
        assert_eq!(input("codex-mini-latest"), Some(1.5));
        assert_eq!(input("claude-opus-4-7"), Some(5.0));
        assert_eq!(input("gpt-5.4-mini-2026-03-17"), Some(0.75));
        assert_eq!(input("o3-pro"), Some(20.0));
        assert_eq!(input("claude-opus-4-20250514"), Some(15.0));
        // A version the table does not know is unpriced, not priced as its predecessor.
        assert_eq!(input("gpt-7.5"), None);
        assert_eq!(input("claude-opus-4-9"), None);
        assert_eq!(input("claude-sonnet-4-9-20270101"), None);
        assert_eq!(input("o30"), None);
        assert_eq!(input("llama-3-70b"), None);
    }

    #[test]
    fn saved_tokens_are_priced_as_input() {
        let t = table();
        assert!((t.saved_usd("claude-sonnet-4-5", 1_000_000) - 3.0).abs() < 1e-9);
        assert!((t.saved_usd("gpt-4.1", 500_000) - 1.0).abs() < 1e-9);
        assert_eq!(t.saved_usd("unknown-model", 1_000_000), 0.0);
    }
}
