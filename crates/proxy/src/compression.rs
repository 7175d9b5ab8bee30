//! The proxy's compression stage: which bodies go through [`headroom_compress`], counting what it
//! saved, and the headers and counters that show it.
//!
//! Compression itself is pure and fast (it runs on the request path); exact token counting is
//! not (BPE costs ~9 ms per 100 KB), so it runs on a blocking thread while the upstream works and
//! only for blocks that changed, cached by content hash.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use bytes::Bytes;
use headroom_compress::{Compressor, Mode, Report, Shape};
use tiktoken_rs::CoreBPE;

use crate::config::ProxyConfig;
use crate::metrics::Metrics;
use crate::ws::{MessageTransform, Rewrite};

/// Response headers on every compressed request's answer.
pub const TOKENS_BEFORE: &str = "x-headroom-tokens-before";
pub const TOKENS_AFTER: &str = "x-headroom-tokens-after";
pub const TOKENS_SAVED: &str = "x-headroom-tokens-saved";
/// `true` when before/after include an estimate for the unchanged rest of the body (the saving,
/// being the difference of exactly counted blocks, is always exact).
pub const TOKENS_ESTIMATED: &str = "x-headroom-tokens-estimated";

/// Bodies above this are compressed on a blocking thread instead of the async worker.
const INLINE_LIMIT: usize = 1024 * 1024;
/// Token counts remembered by content hash (a session's blocks are re-sent every turn).
const COUNT_CACHE_ENTRIES: usize = 100_000;

pub struct Stage {
    /// As configured; used for loopback callers, which can read the `full` tier's files.
    main: Compressor,
    /// For remote callers under `full`: they cannot read this machine's retrieve files, so
    /// never cut. In the other modes they share `main` (and its cache).
    remote: Option<Compressor>,
    counts: Mutex<HashMap<u128, u32>>,
}

/// What compression did to one request, for its response headers and the counters.
pub struct Saved {
    pub before: u64,
    pub after: u64,
}

/// What compression saved on one WebSocket message, and the encoders that did it.
pub struct Counted {
    pub saved: Saved,
    pub transforms: Vec<&'static str>,
}

impl Stage {
    pub fn new(config: &ProxyConfig) -> Self {
        Self {
            main: Compressor::new(config.compress, config.retrieve_dir.clone()),
            remote: (config.compress == Mode::Full).then(|| Compressor::new(Mode::Lossless, None)),
            counts: Mutex::new(HashMap::new()),
        }
    }

    pub fn mode(&self) -> Mode {
        self.main.mode()
    }

    /// At start, when compression is on: create the `full` tier's retrieve dir, and off the
    /// request path remove retrieve files no session has cited for a week. The tokenizer (~25 MB
    /// resident) is not loaded here but by the first count, beside the first compressed
    /// request's upstream call: a proxy that never compresses anything stays small.
    pub fn warm(self: &Arc<Self>) {
        if self.mode() == Mode::Off {
            return;
        }
        let dir = self.main.retrieve_dir().map(|d| d.to_path_buf());
        // Made now, not at the first cut: a client granted read access to it (Claude Code's
        // `permissions.additionalDirectories`) checks that it exists when it starts.
        if self.mode() == Mode::Full
            && let Some(dir) = &dir
            && let Err(e) = headroom_core::fs::create_private_dir(dir)
        {
            tracing::warn!("cannot create the retrieve dir {}: {e}", dir.display());
        }
        tokio::task::spawn_blocking(move || {
            if let Some(dir) = dir {
                let n = headroom_compress::retrieve::prune(&dir);
                if n > 0 {
                    tracing::info!("removed {n} retrieve file(s) unused for a week");
                }
            }
        });
    }

    fn compressor(&self, local: bool) -> &Compressor {
        match &self.remote {
            Some(remote) if !local => remote,
            _ => &self.main,
        }
    }

    /// Whether [`Stage::request`] may change a body sent to `path` (else it can be streamed
    /// upstream without being held whole).
    pub fn may_change(&self, path: &str) -> bool {
        self.mode() != Mode::Off && Shape::of_path(path).is_some()
    }

    /// The body to send upstream and what changed; `None` report when nothing did.
    pub async fn request(
        self: &Arc<Self>,
        path: &str,
        body: Bytes,
        local: bool,
        metrics: &Metrics,
    ) -> (Bytes, Option<Report>) {
        let Some(shape) = Shape::of_path(path).filter(|_| self.mode() != Mode::Off) else {
            return (body, None);
        };
        let outcome = if body.len() <= INLINE_LIMIT {
            self.compressor(local).compress(shape, &body)
        } else {
            let me = self.clone();
            let input = body.clone();
            match tokio::task::spawn_blocking(move || me.compressor(local).compress(shape, &input))
                .await
            {
                Ok(o) => o,
                Err(_) => {
                    metrics.compress_failed(1);
                    return (body, None);
                }
            }
        };
        metrics.compress_failed(outcome.report.failures as u64);
        match outcome.body {
            Some(new) => (Bytes::from(new), Some(outcome.report)),
            None => (body, None),
        }
    }

    /// The rewrite of a WebSocket's client messages (Codex's `response.create` on
    /// `/v1/responses`), or `None` to splice the connection untouched. Each rewrite comes with
    /// its count (for /metrics and the message's history row), which the relay runs after the
    /// message went out.
    pub fn ws_transform(
        self: &Arc<Self>,
        path: &str,
        local: bool,
        metrics: &Arc<Metrics>,
    ) -> Option<MessageTransform> {
        if self.mode() == Mode::Off || Shape::of_path(path) != Some(Shape::Responses) {
            return None;
        }
        let (stage, metrics) = (self.clone(), metrics.clone());
        Some(Arc::new(move |payload: &[u8]| {
            let outcome = stage.compressor(local).compress_ws_message(payload);
            metrics.compress_failed(outcome.report.failures as u64);
            let body = outcome.body?;
            let (stage, metrics, report) = (stage.clone(), metrics.clone(), outcome.report);
            let (before, after) = (payload.len(), body.len());
            Some(Rewrite {
                payload: body,
                count: Some(Box::new(move || {
                    let saved = stage.count(&report, before, after);
                    metrics.compressed(&report, &saved);
                    Counted {
                        saved,
                        transforms: report.transforms,
                    }
                })),
            })
        }))
    }

    /// Count a compressed request's tokens (blocking: run it with `spawn_blocking`). The unchanged
    /// rest of the body is estimated from its size.
    pub fn count(&self, report: &Report, body_before: usize, body_after: usize) -> Saved {
        let (mut before, mut after) = (0u64, 0u64);
        let (mut changed_before, mut changed_after) = (0usize, 0usize);
        for (orig, new) in &report.changed {
            before += self.tokens(orig);
            after += self.tokens(new);
            changed_before += orig.len();
            changed_after += new.len();
        }
        // JSON escaping makes the body's bytes a little longer than the texts; both sides share
        // the same rest, which only needs to be the same number in both.
        let rest = body_before
            .saturating_sub(changed_before)
            .min(body_after.saturating_sub(changed_after));
        let rest_tokens = (rest as u64).div_ceil(4);
        Saved {
            before: before + rest_tokens,
            after: after + rest_tokens,
        }
    }

    fn tokens(&self, text: &str) -> u64 {
        let key = headroom_compress::content_hash(text);
        if let Some(n) = self.counts.lock().ok().and_then(|c| c.get(&key).copied()) {
            return n as u64;
        }
        let n = bpe().encode_ordinary(text).len() as u32;
        if let Ok(mut c) = self.counts.lock() {
            if c.len() >= COUNT_CACHE_ENTRIES {
                c.clear();
            }
            c.insert(key, n);
        }
        n as u64
    }
}

/// cl100k_base: the tokenizer the savings are reported in (bundled with the crate, no download).
fn bpe() -> &'static CoreBPE {
    static BPE: OnceLock<CoreBPE> = OnceLock::new();
    BPE.get_or_init(|| tiktoken_rs::cl100k_base().expect("the bundled cl100k_base table loads"))
}

/// The headers a compressed request's answer carries.
pub fn headers(saved: &Saved, headers: &mut http::HeaderMap) {
    let put = |h: &mut http::HeaderMap, name: &'static str, v: String| {
        if let Ok(v) = http::HeaderValue::from_str(&v) {
            h.insert(name, v);
        }
    };
    put(headers, TOKENS_BEFORE, saved.before.to_string());
    put(headers, TOKENS_AFTER, saved.after.to_string());
    put(
        headers,
        TOKENS_SAVED,
        saved.before.saturating_sub(saved.after).to_string(),
    );
    put(headers, TOKENS_ESTIMATED, "true".to_owned());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remote_callers_never_get_cuts_they_could_not_redeem() {
        let mut config = ProxyConfig::loopback(0, "http://127.0.0.1:1").unwrap();
        config.compress = Mode::Full;
        config.retrieve_dir = Some(std::env::temp_dir());
        let full = Stage::new(&config);
        assert_eq!(full.compressor(true).mode(), Mode::Full);
        assert_eq!(full.compressor(false).mode(), Mode::Lossless);
        assert!(full.compressor(false).retrieve_dir().is_none());
        config.compress = Mode::Lossless;
        let lossless = Stage::new(&config);
        assert!(std::ptr::eq(
            lossless.compressor(false),
            lossless.compressor(true)
        ));
    }
}
