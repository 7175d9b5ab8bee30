//! Results by content: an agent re-sends its whole history every turn, so almost every tool output
//! a request carries was already compressed for the previous one. Encoders are pure, so a cached
//! result is exactly what re-encoding would give; the cache changes speed, never bytes.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::Encoded;
use crate::block::Kind;

/// Bytes (originals answered for plus encodings held) across both generations: a long session's
/// tool outputs are ~1 MB, so this covers dozens of live sessions while the proxy's memory stays
/// bounded (only the encodings are held).
const BUDGET: usize = 32 * 1024 * 1024;

type Key = (u128, Kind);

/// Two generations approximate LRU without per-hit bookkeeping: hits in the old generation move
/// to the new one; when the new one is full, the old one is dropped.
#[derive(Debug, Default)]
pub struct Cache {
    inner: Mutex<Generations>,
}

#[derive(Debug, Default)]
struct Generations {
    new: HashMap<Key, Entry>,
    old: HashMap<Key, Entry>,
    new_bytes: usize,
}

#[derive(Debug, Clone)]
struct Entry {
    result: Option<Encoded>,
    bytes: usize,
}

/// The content hash blocks are known by: the cache key, and the walker's duplicate check.
pub fn hash(text: &str) -> u128 {
    xxhash_rust::xxh3::xxh3_128(text.as_bytes())
}

pub fn key(hash: u128, kind: Kind) -> Key {
    (hash, kind)
}

impl Cache {
    /// `Some(result)` when this text was seen (`result` is `None` for "left as it was").
    pub fn get(&self, key: &Key) -> Option<Option<Encoded>> {
        let mut g = self.inner.lock().ok()?;
        if let Some(e) = g.new.get(key) {
            return Some(e.result.clone());
        }
        let e = g.old.remove(key)?;
        let result = e.result.clone();
        g.insert(*key, e);
        Some(result)
    }

    pub fn put(&self, key: Key, text_len: usize, result: Option<Encoded>) {
        if let Ok(mut g) = self.inner.lock() {
            let bytes = text_len + result.as_ref().map_or(0, |e| e.text.len());
            g.insert(key, Entry { result, bytes });
        }
    }
}

impl Generations {
    fn insert(&mut self, key: Key, e: Entry) {
        if self.new_bytes + e.bytes > BUDGET / 2 {
            self.old = std::mem::take(&mut self.new);
            self.new_bytes = 0;
        }
        self.new_bytes += e.bytes;
        self.new.insert(key, e);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_results_and_unchanged_alike() {
        let c = Cache::default();
        let (a, b) = (
            key(hash("a"), Kind::Compressible),
            key(hash("b"), Kind::Compressible),
        );
        assert!(c.get(&a).is_none());
        let enc = Encoded {
            text: "A".into(),
            transforms: vec!["x"],
        };
        c.put(a, 1, Some(enc.clone()));
        c.put(b, 1, None);
        assert_eq!(c.get(&a), Some(Some(enc)));
        assert_eq!(c.get(&b), Some(None));
        assert_ne!(a, key(hash("a"), Kind::Diff), "the kind is part of the key");
    }

    #[test]
    fn stays_within_its_budget() {
        let c = Cache::default();
        let big = BUDGET / 4 + 1;
        for i in 0..10u32 {
            c.put(key(hash(&i.to_string()), Kind::Compressible), big, None);
        }
        let g = c.inner.lock().unwrap();
        let total: usize = g.new.values().chain(g.old.values()).map(|e| e.bytes).sum();
        assert!(total <= BUDGET, "{total}");
        assert!(g.new.contains_key(&key(hash("9"), Kind::Compressible)));
    }
}
