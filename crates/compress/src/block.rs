//! One tool output: what may be done to it, and doing it.

use std::panic::{AssertUnwindSafe, catch_unwind};

use crate::{Compressor, Encoded, Mode, cache, json, lossy, text};

/// Outputs shorter than this are left alone: nothing worth a legend to win.
pub const MIN_BYTES: usize = 256;

/// Error outputs at most this long are never touched: the model reads them closely.
pub const SMALL_ERROR_BYTES: usize = 8000;

/// What kind of output a block is, decided from its tool and its first bytes only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Re-encode losslessly; cut in `full`.
    Compressible,
    /// A file's content or an edit tool's answer: agents patch the exact bytes they read, so any
    /// re-encoding could make their next edit miss.
    FileContent,
    /// A unified diff: agents apply it.
    Diff,
    /// A small error: read closely, and cheap anyway.
    SmallError,
}

/// Tools whose results are a file's bytes or an edit's confirmation (Claude Code, Codex, OpenCode,
/// OpenClaw, Aider and the common MCP file servers), compared case-insensitively.
const FILE_TOOLS: &[&str] = &[
    "read",
    "write",
    "edit",
    "multiedit",
    "notebookread",
    "notebookedit",
    "read_file",
    "read_text_file",
    "read_multiple_files",
    "write_file",
    "edit_file",
    "apply_patch",
    "str_replace_editor",
    "str_replace_based_edit_tool",
    "view",
    "create_file",
];

/// Shell commands that print a file: their output is file content too.
const FILE_VIEWERS: &[&str] = &[
    "cat", "head", "tail", "sed", "nl", "bat", "less", "more", "type", "awk",
];

impl Kind {
    pub fn of(tool: Option<&str>, input: Option<&str>, is_error: bool, text: &str) -> Kind {
        if is_error && text.len() <= SMALL_ERROR_BYTES {
            return Kind::SmallError;
        }
        if let Some(name) = tool {
            let base = name.rsplit("__").next().unwrap_or(name); // MCP: mcp__server__tool
            if FILE_TOOLS.iter().any(|t| t.eq_ignore_ascii_case(base)) {
                return Kind::FileContent;
            }
        }
        if input
            .and_then(shell_command)
            .is_some_and(|c| views_file(&c))
        {
            return Kind::FileContent;
        }
        if looks_like_diff(text) {
            return Kind::Diff;
        }
        Kind::Compressible
    }
}

/// The command line a shell tool ran, from its input (`{"command": "..."}`, `{"cmd": [...]}`, or
/// OpenAI's arguments string holding that JSON).
fn shell_command(input: &str) -> Option<String> {
    let mut v: serde_json::Value = serde_json::from_str(input).ok()?;
    if let serde_json::Value::String(s) = &v {
        v = serde_json::from_str(s).ok()?;
    }
    let c = v.get("command").or_else(|| v.get("cmd"))?;
    match c {
        serde_json::Value::String(s) => Some(s.clone()),
        // ["bash", "-lc", "cat x"]: the script is the last element.
        serde_json::Value::Array(a) => a.last()?.as_str().map(str::to_owned),
        _ => None,
    }
}

/// Whether the last command of a shell line starts with a file viewer (`cd x && sed -n 1,80p f`):
/// the line is split on `;`, `&`, `|` and newlines outside quotes, and the first word of the
/// last command's first pipeline stage decides.
fn views_file(command: &str) -> bool {
    let (mut quote, mut escaped) = (None::<char>, false);
    // Start of the current command, and of the current command's first stage's end.
    let (mut start, mut stage_end) = (0usize, None::<usize>);
    let mut last = (0usize, command.len());
    for (i, c) in command.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match (quote, c) {
            (Some('\''), '\'') | (Some('"'), '"') => quote = None,
            (Some('"'), '\\') | (None, '\\') => escaped = true,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(c),
            (None, '|') => stage_end = stage_end.or(Some(i)),
            // `2>&1`, `&>file`: redirections, not separators.
            (None, '&') if command[..i].ends_with('>') || command[i + 1..].starts_with('>') => {}
            (None, ';' | '&' | '\n') => {
                let end = stage_end.unwrap_or(i);
                if !command[start..end].trim().is_empty() {
                    last = (start, end);
                }
                start = i + c.len_utf8();
                stage_end = None;
            }
            _ => {}
        }
    }
    let end = stage_end.unwrap_or(command.len());
    if !command[start..end].trim().is_empty() {
        last = (start, end);
    }
    let word = command[last.0..last.1]
        .split_whitespace()
        .next()
        .unwrap_or("");
    let word = word.rsplit('/').next().unwrap_or(word);
    FILE_VIEWERS.contains(&word)
}

fn looks_like_diff(text: &str) -> bool {
    let (mut minus, mut plus, mut hunk) = (false, false, false);
    for line in text.lines() {
        if line.starts_with("diff --git ") {
            return true;
        }
        minus |= line.starts_with("--- ");
        plus |= line.starts_with("+++ ");
        hunk |= line.starts_with("@@ ");
        if minus && plus && hunk {
            return true;
        }
    }
    false
}

/// One tool output, with what the walker knows about it.
pub struct Block<'t> {
    pub text: &'t str,
    /// `cache::hash(text)`, computed once by the walker.
    pub hash: u128,
    pub kind: Kind,
}

pub enum Result {
    Unchanged,
    /// An encoder panicked or produced something that did not verify.
    Failed,
    Encoded(Encoded),
}

pub fn compress(c: &Compressor, b: &Block<'_>) -> Result {
    guarded(c, b, encode)
}

/// Run `encoder` on a compressible block through the cache, containing any panic.
fn guarded(
    c: &Compressor,
    b: &Block<'_>,
    encoder: impl Fn(&Compressor, &Block<'_>) -> Option<Encoded>,
) -> Result {
    if b.kind != Kind::Compressible || b.text.len() < MIN_BYTES {
        return Result::Unchanged;
    }
    let key = cache::key(b.hash, b.kind);
    if let Some(hit) = c.cache().get(&key) {
        return hit.map_or(Result::Unchanged, Result::Encoded);
    }
    // A panicking encoder must cost this block its compression, never the request.
    match catch_unwind(AssertUnwindSafe(|| encoder(c, b))) {
        Ok(result) => {
            c.cache().put(key, b.text.len(), result.clone());
            result.map_or(Result::Unchanged, Result::Encoded)
        }
        Err(_) => Result::Failed,
    }
}

fn encode(c: &Compressor, b: &Block<'_>) -> Option<Encoded> {
    let lossless = json::encode(b.text)
        .or_else(|| cheapest(text::encode(b.text), text::records::encode(b.text)));
    if c.mode() == Mode::Full
        && let Some(dir) = c.retrieve_dir()
    {
        let whole = lossless.as_ref().map_or(b.text, |e| e.text.as_str());
        if whole.len() >= lossy::MIN_BYTES
            && let Some(cut) = crate::retrieve::cut(dir, whole)
        {
            let mut transforms = lossless.map(|e| e.transforms).unwrap_or_default();
            transforms.push("lossy-cut");
            return Some(Encoded {
                text: cut,
                transforms,
            });
        }
    }
    lossless
}

/// Of two encodings of the same text, the one with fewer (estimated) tokens.
fn cheapest(a: Option<Encoded>, b: Option<Encoded>) -> Option<Encoded> {
    match (a, b) {
        (Some(a), Some(b)) => Some(
            if crate::estimate_tokens(&b.text) < crate::estimate_tokens(&a.text) {
                b
            } else {
                a
            },
        ),
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_tools_and_viewers_are_file_content() {
        let t = "x".repeat(400);
        assert_eq!(Kind::of(Some("Read"), None, false, &t), Kind::FileContent);
        assert_eq!(
            Kind::of(Some("mcp__fs__read_file"), None, false, &t),
            Kind::FileContent
        );
        let sed = r#"{"command":["bash","-lc","cd repo && sed -n 1,200p src/main.rs"]}"#;
        assert_eq!(
            Kind::of(Some("shell"), Some(sed), false, &t),
            Kind::FileContent
        );
        let args = serde_json::to_string(r#"{"cmd":"cat Cargo.toml"}"#).unwrap();
        assert_eq!(
            Kind::of(Some("exec_command"), Some(&args), false, &t),
            Kind::FileContent
        );
        let quoted = r#"{"command":"sed -n '1p;5p' src/lib.rs"}"#;
        assert_eq!(
            Kind::of(Some("Bash"), Some(quoted), false, &t),
            Kind::FileContent,
            "a `;` inside quotes does not split the command"
        );
        let awk = r#"{"command":"cd x && awk 'BEGIN{a=1;b=2} {print}' f.txt"}"#;
        assert_eq!(
            Kind::of(Some("Bash"), Some(awk), false, &t),
            Kind::FileContent
        );
        let build = r#"{"command":"cat notes; cargo build 2>&1 | tail -50"}"#;
        assert_eq!(
            Kind::of(Some("Bash"), Some(build), false, &t),
            Kind::Compressible,
            "the last command decides"
        );
        let grep = r#"{"command":"grep -rn foo src | head -50"}"#;
        assert_eq!(
            Kind::of(Some("Bash"), Some(grep), false, &t),
            Kind::Compressible
        );
    }

    #[test]
    fn a_panicking_encoder_fails_only_its_block() {
        let c = Compressor::new(Mode::Lossless, None);
        let text = "line\n".repeat(100);
        let b = Block {
            text: &text,
            hash: cache::hash(&text),
            kind: Kind::Compressible,
        };
        // Silence the expected panic's message in the test output.
        let hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(|_| {}));
        let r = guarded(&c, &b, |_, _| panic!("encoder bug"));
        std::panic::set_hook(hook);
        assert!(matches!(r, Result::Failed));
        // Not cached as a result: the next request tries again (and a fixed encoder would win).
        assert!(matches!(compress(&c, &b), Result::Encoded(_)));
    }

    #[test]
    fn diffs_and_small_errors_are_left_alone() {
        let diff = "diff --git a/x b/x\n--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\n";
        assert_eq!(Kind::of(Some("Bash"), None, false, diff), Kind::Diff);
        let plain = "--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\n";
        assert_eq!(Kind::of(None, None, false, plain), Kind::Diff);
        assert_eq!(Kind::of(None, None, true, "boom"), Kind::SmallError);
        let big = "E".repeat(SMALL_ERROR_BYTES + 1);
        assert_eq!(Kind::of(None, None, true, &big), Kind::Compressible);
    }
}
