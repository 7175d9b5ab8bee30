//! headroom-compress: what the proxy does to a request body before it goes upstream.
//!
//! Pure and block-local: the rewrite of one tool output depends only on its bytes, its tool's name
//! and input, [`VERSION`] and the [`Mode`] — never on the clock, the session or other blocks
//! (except looking backwards in the same request for an identical output). Re-sending the same
//! history therefore yields byte-identical bodies, even after a restart, with no state.
//!
//! * [`json`]: the JSON value model and its lossless encodings (minified, tables).
//! * [`text`]: lossless line encodings of plain-text outputs (grep, repeated lines, listings).
//! * [`lossy`]: the `full` tier's cut of very large outputs, every dropped line cited.

pub mod json;
pub mod lossy;
pub mod text;

mod block;
mod cache;
mod request;
pub mod retrieve;

pub use block::Kind;
pub use cache::hash as content_hash;
pub use request::{Compressor, Outcome, Report, Shape};

/// Bumped whenever any encoder's output changes: a client's prompt cache is keyed on our bytes.
pub const VERSION: u32 = 1;

/// How much the proxy may change tool outputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Mode {
    /// Bodies are forwarded byte for byte.
    Off,
    /// Re-encodings that decode back to the original exactly.
    #[default]
    Lossless,
    /// `Lossless`, plus cutting very large outputs with every dropped line retrievable.
    Full,
}

impl Mode {
    pub const ALL: [Mode; 3] = [Mode::Off, Mode::Lossless, Mode::Full];

    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Off => "off",
            Mode::Lossless => "lossless",
            Mode::Full => "full",
        }
    }
}

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A mode name that is not one of `off`, `lossless`, `full`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownMode(pub String);

impl std::fmt::Display for UnknownMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "unknown compression mode {:?} (use off, lossless or full)",
            self.0
        )
    }
}

impl std::error::Error for UnknownMode {}

impl std::str::FromStr for Mode {
    type Err = UnknownMode;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Mode::ALL
            .into_iter()
            .find(|m| m.as_str() == s.trim())
            .ok_or_else(|| UnknownMode(s.to_owned()))
    }
}

/// One encoder's result: the text the model reads instead of the original, and which encoder made it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoded {
    pub text: String,
    /// Stable names, used in metrics and the benchmark ("json-minify", "json-table", "grep-group"…).
    pub transforms: Vec<&'static str>,
}

/// The original text of a tool output from what the model was sent: decodes the lossless
/// encodings, and for a `full` cut reads the cited retrieve file first. `None` when `text` is a
/// cut whose file is gone. (For tests, the benchmark and anyone checking our work; the proxy never
/// needs it.)
pub fn restore(text: &str) -> Option<String> {
    let whole = retrieve::restore(text)?;
    Some(
        json::decode(&whole)
            .or_else(|| text::records::decode(&whole))
            .unwrap_or_else(|| text::decode(&whole)),
    )
}

/// A cheap, linear estimate of cl100k/o200k token counts, for choosing between encodings on the hot
/// path (exact BPE costs ~9 ms per 100 KB). It only needs to rank encodings of the same content.
pub fn estimate_tokens(text: &str) -> usize {
    let bytes = text.as_bytes();
    let mut tokens = 0usize;
    let mut run = 0usize; // length of the current alphanumeric run
    let mut digits = false;
    let mut prev_space = false;
    // Words are ~1 token per 5 letters (short words 1); digits go in groups of 3.
    let flush = |run: &mut usize, digits: bool, tokens: &mut usize| {
        if *run > 0 {
            *tokens += if digits {
                run.div_ceil(3)
            } else {
                run.div_ceil(5).max(1)
            };
            *run = 0;
        }
    };
    let mut i = 0;
    // Bytes, not chars, on the ASCII fast path: this runs on every candidate encoding.
    while i < bytes.len() {
        let b = bytes[i];
        let (alnum, digit, cost, len) = if b < 0x80 {
            (b.is_ascii_alphanumeric(), b.is_ascii_digit(), 1, 1)
        } else {
            let c = text[i..].chars().next().unwrap_or(' ');
            (
                c.is_alphanumeric(),
                false,
                c.len_utf8().min(3),
                c.len_utf8(),
            )
        };
        i += len;
        if alnum {
            if run > 0 && digit != digits {
                flush(&mut run, digits, &mut tokens);
            }
            digits = digit;
            run += 1;
            prev_space = false;
            continue;
        }
        flush(&mut run, digits, &mut tokens);
        if b == b' ' {
            // A single space joins the next word's token; runs of spaces cost about one per 2.
            if prev_space {
                tokens += 1;
                prev_space = false;
            } else {
                prev_space = true;
            }
        } else {
            tokens += cost;
            prev_space = false;
        }
    }
    flush(&mut run, digits, &mut tokens);
    tokens
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_parse_and_print() {
        for m in Mode::ALL {
            assert_eq!(m.as_str().parse::<Mode>().unwrap(), m);
        }
        assert_eq!(Mode::default(), Mode::Lossless);
        let e = "fast".parse::<Mode>().unwrap_err().to_string();
        assert!(e.contains("off, lossless or full"), "{e}");
    }

    #[test]
    fn estimate_ranks_minified_json_below_pretty() {
        let pretty = "{\n    \"name\": \"headroom\",\n    \"version\": \"1.2.3\"\n}";
        let minified = r#"{"name":"headroom","version":"1.2.3"}"#;
        assert!(estimate_tokens(minified) < estimate_tokens(pretty));
        assert_eq!(estimate_tokens(""), 0);
    }
}
