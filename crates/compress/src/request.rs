//! The request-body walker: finds the tool outputs of each API shape, rewrites them in place and
//! re-emits everything else byte for byte.
//!
//! The body is parsed once with borrowed [`RawValue`]s along the path to tool outputs only; every
//! rewrite is a splice of one JSON string's byte range, so `system`, `tools`, `cache_control`,
//! thinking signatures, images and all prose keep their exact original bytes.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::ops::Range;
use std::path::PathBuf;

use serde::de::{Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

use crate::Mode;
use crate::block::{self, Block, Kind};

/// Which API a body is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Shape {
    /// Anthropic `/v1/messages` and `/v1/messages/count_tokens`.
    AnthropicMessages,
    /// OpenAI `/v1/chat/completions`.
    ChatCompletions,
    /// OpenAI `/v1/responses` (and Codex's WebSocket `response.create` frames).
    Responses,
}

impl Shape {
    /// The shape a request path (without query) carries, if it is one we compress.
    pub fn of_path(path: &str) -> Option<Shape> {
        match path.trim_end_matches('/') {
            "/v1/messages" | "/v1/messages/count_tokens" => Some(Shape::AnthropicMessages),
            "/v1/chat/completions" => Some(Shape::ChatCompletions),
            "/v1/responses" => Some(Shape::Responses),
            _ => None,
        }
    }
}

/// What one body's compression did (metadata only: never logged with content).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Tool outputs visited.
    pub blocks: usize,
    /// `(original, replacement)` text of every tool output that changed, for token counting.
    pub changed: Vec<(String, String)>,
    /// Encoders applied, one entry per changed block and transform.
    pub transforms: Vec<&'static str>,
    /// Encoders that failed (panicked or did not verify): their blocks were left as they were.
    pub failures: usize,
}

/// The result for one body: `body` is `None` when it goes upstream unchanged.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    pub body: Option<Vec<u8>>,
    pub report: Report,
}

/// The compression stage, configured once per proxy.
#[derive(Debug, Clone)]
pub struct Compressor {
    mode: Mode,
    /// Where the `full` tier keeps whole outputs it cut (absolute, readable by the client's own
    /// file tool). Without it `full` behaves as `lossless`.
    retrieve_dir: Option<PathBuf>,
}

impl Compressor {
    pub fn new(mode: Mode, retrieve_dir: Option<PathBuf>) -> Self {
        Self { mode, retrieve_dir }
    }

    pub fn mode(&self) -> Mode {
        self.mode
    }

    pub fn retrieve_dir(&self) -> Option<&std::path::Path> {
        self.retrieve_dir.as_deref()
    }

    /// Compress one request body of `shape`. Never fails: anything it cannot parse or encode goes
    /// upstream as it came.
    pub fn compress(&self, shape: Shape, body: &[u8]) -> Outcome {
        if self.mode == Mode::Off {
            return Outcome::default();
        }
        let mut walk = Walk::new(self, body);
        if walk.run(shape).is_none() {
            // Not a body we understand (not JSON, duplicate keys, too deep, odd shape): untouched.
            return Outcome::default();
        }
        walk.finish()
    }

    /// A Codex WebSocket message: only `response.create` carries a request to compress.
    pub fn compress_ws_message(&self, payload: &[u8]) -> Outcome {
        if self.mode == Mode::Off {
            return Outcome::default();
        }
        let mut walk = Walk::new(self, payload);
        let ok = (|| {
            let top = object(payload)?;
            if top.str_field("type")? != "response.create" {
                return None;
            }
            // Older Codex builds nest the request under `response`.
            match top.get("response") {
                Some(inner) => walk.responses(&object(inner.get().as_bytes())?),
                None => walk.responses(&top),
            }
        })();
        if ok.is_none() {
            return Outcome::default();
        }
        walk.finish()
    }
}

/// Deeper bodies are passed through: serde_json skips unvisited values without its depth limit.
const MAX_BODY_DEPTH: usize = 128;

/// Whether no array/object in `body` nests deeper than `max` (one linear pass, strings skipped).
fn nesting_within(body: &[u8], max: usize) -> bool {
    let (mut depth, mut in_str, mut escaped) = (0usize, false, false);
    for &b in body {
        if in_str {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_str = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_str = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > max {
                    return false;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    true
}

/// One object's members in order, borrowed from the body; duplicate keys refuse the body.
struct Obj<'a>(Vec<(Cow<'a, str>, &'a RawValue)>);

impl<'a> Obj<'a> {
    fn get(&self, key: &str) -> Option<&'a RawValue> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| *v)
    }

    fn str_field(&self, key: &str) -> Option<Cow<'a, str>> {
        self.get(key).and_then(|v| string(v))
    }
}

impl<'de> serde::Deserialize<'de> for Obj<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Obj<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Obj<'de>, A::Error> {
                let mut out: Vec<(Cow<'de, str>, &'de RawValue)> = Vec::new();
                while let Some(key) = map.next_key::<Cow<'de, str>>()? {
                    if out.iter().any(|(k, _)| *k == key) {
                        return Err(serde::de::Error::custom("duplicate key"));
                    }
                    out.push((key, map.next_value()?));
                }
                Ok(Obj(out))
            }
        }
        d.deserialize_map(V)
    }
}

fn object(bytes: &[u8]) -> Option<Obj<'_>> {
    serde_json::from_slice(bytes).ok()
}

fn array(v: &RawValue) -> Option<Vec<&RawValue>> {
    serde_json::from_str(v.get()).ok()
}

fn string(v: &RawValue) -> Option<Cow<'_, str>> {
    serde_json::from_str::<Cow<'_, str>>(v.get()).ok()
}

/// Where a tool call's name and input are, by call id, as seen earlier in the same request.
#[derive(Clone)]
struct Call<'a> {
    name: Cow<'a, str>,
    /// Raw JSON of the input/arguments (an object, or a string holding JSON for OpenAI).
    input: Option<&'a RawValue>,
}

struct Walk<'c, 'a> {
    compressor: &'c Compressor,
    body: &'a [u8],
    calls: HashMap<Cow<'a, str>, Call<'a>>,
    /// Hash of every tool output seen so far → the call id it answered (for back-references).
    seen: HashMap<u128, String>,
    edits: Vec<(Range<usize>, Vec<u8>)>,
    report: Report,
}

impl<'c, 'a> Walk<'c, 'a> {
    fn new(compressor: &'c Compressor, body: &'a [u8]) -> Self {
        Self {
            compressor,
            body,
            calls: HashMap::new(),
            seen: HashMap::new(),
            edits: Vec::new(),
            report: Report::default(),
        }
    }

    fn run(&mut self, shape: Shape) -> Option<()> {
        // Most requests carry no tool output at all (a first turn, a title request): a substring
        // scan at memory speed spares them the parse.
        let needle: &[u8] = match shape {
            Shape::AnthropicMessages => b"tool_result",
            Shape::ChatCompletions => b"tool_call_id",
            Shape::Responses => b"_output",
        };
        memchr::memmem::find(self.body, needle)?;
        if !nesting_within(self.body, MAX_BODY_DEPTH) {
            return None;
        }
        let top = object(self.body)?;
        match shape {
            Shape::AnthropicMessages => self.anthropic(&top),
            Shape::ChatCompletions => self.chat(&top),
            Shape::Responses => self.responses(&top),
        }
    }

    fn finish(mut self) -> Outcome {
        if self.edits.is_empty() {
            return Outcome {
                body: None,
                report: self.report,
            };
        }
        self.edits.sort_by_key(|(r, _)| r.start);
        let grown: usize = self.edits.iter().map(|(_, b)| b.len()).sum();
        let mut out = Vec::with_capacity(self.body.len() + grown);
        let mut at = 0;
        for (range, bytes) in &self.edits {
            out.extend_from_slice(&self.body[at..range.start]);
            out.extend_from_slice(bytes);
            at = range.end;
        }
        out.extend_from_slice(&self.body[at..]);
        Outcome {
            body: Some(out),
            report: self.report,
        }
    }

    /// Byte range of a borrowed raw value inside the body.
    fn span(&self, v: &RawValue) -> Range<usize> {
        let start = v.get().as_ptr() as usize - self.body.as_ptr() as usize;
        start..start + v.get().len()
    }

    fn anthropic(&mut self, top: &Obj<'a>) -> Option<()> {
        let messages = array(top.get("messages")?)?;
        for m in messages {
            let Some(m) = object(m.get().as_bytes()) else {
                continue;
            };
            let Some(content) = m.get("content") else {
                continue;
            };
            let Some(blocks) = array(content) else {
                continue; // plain-string prose
            };
            for b in blocks {
                let Some(b) = object(b.get().as_bytes()) else {
                    continue;
                };
                match b.str_field("type").as_deref() {
                    Some("tool_use") | Some("server_tool_use") => {
                        if let (Some(id), Some(name)) = (b.str_field("id"), b.str_field("name")) {
                            let input = b.get("input");
                            self.calls.insert(id, Call { name, input });
                        }
                    }
                    Some("tool_result") => {
                        let id = b.str_field("tool_use_id").unwrap_or_default();
                        let is_error = b.get("is_error").is_some_and(|v| v.get() == "true");
                        if let Some(c) = b.get("content") {
                            self.output(&id, c, is_error);
                        }
                    }
                    _ => {}
                }
            }
        }
        Some(())
    }

    fn chat(&mut self, top: &Obj<'a>) -> Option<()> {
        let messages = array(top.get("messages")?)?;
        for m in messages {
            let Some(m) = object(m.get().as_bytes()) else {
                continue;
            };
            match m.str_field("role").as_deref() {
                Some("assistant") => {
                    let Some(calls) = m.get("tool_calls").and_then(array) else {
                        continue;
                    };
                    for c in calls {
                        let Some(c) = object(c.get().as_bytes()) else {
                            continue;
                        };
                        let f = c.get("function").and_then(|f| object(f.get().as_bytes()));
                        if let (Some(id), Some(f)) = (c.str_field("id"), f)
                            && let Some(name) = f.str_field("name")
                        {
                            let input = f.get("arguments");
                            self.calls.insert(id, Call { name, input });
                        }
                    }
                }
                Some("tool") => {
                    let id = m.str_field("tool_call_id").unwrap_or_default();
                    if let Some(c) = m.get("content") {
                        self.output(&id, c, false);
                    }
                }
                _ => {}
            }
        }
        Some(())
    }

    fn responses(&mut self, top: &Obj<'a>) -> Option<()> {
        let input = top.get("input")?;
        let Some(items) = array(input) else {
            return Some(()); // a plain-string prompt
        };
        for item in items {
            let Some(item) = object(item.get().as_bytes()) else {
                continue;
            };
            match item.str_field("type").as_deref() {
                Some("function_call") | Some("custom_tool_call") | Some("local_shell_call") => {
                    let Some(id) = item.str_field("call_id") else {
                        continue;
                    };
                    let name = item
                        .str_field("name")
                        .unwrap_or(Cow::Borrowed("local_shell"));
                    let input = item
                        .get("arguments")
                        .or_else(|| item.get("input"))
                        .or_else(|| item.get("action"));
                    self.calls.insert(id, Call { name, input });
                }
                Some("function_call_output")
                | Some("custom_tool_call_output")
                | Some("local_shell_call_output") => {
                    let id = item.str_field("call_id").unwrap_or_default();
                    if let Some(out) = item.get("output") {
                        self.output(&id, out, false);
                    }
                }
                _ => {}
            }
        }
        Some(())
    }

    /// A tool output's `content`/`output`: a string, or an array of text parts.
    fn output(&mut self, id: &str, value: &'a RawValue, is_error: bool) {
        let call = self.calls.get(id).cloned();
        if value.get().starts_with('"') {
            self.text(id, call.as_ref(), value, is_error);
            return;
        }
        let Some(parts) = array(value) else {
            return;
        };
        for part in parts {
            let Some(p) = object(part.get().as_bytes()) else {
                continue;
            };
            // Anthropic `text` blocks, OpenAI `text`/`input_text`/`output_text` parts; images and
            // documents are never touched.
            if matches!(
                p.str_field("type").as_deref(),
                Some("text") | Some("input_text") | Some("output_text")
            ) && let Some(t) = p.get("text")
            {
                self.text(id, call.as_ref(), t, is_error);
            }
        }
    }

    /// One JSON string holding a tool output's text.
    fn text(&mut self, id: &str, call: Option<&Call<'a>>, raw: &'a RawValue, is_error: bool) {
        let Some(text) = string(raw) else {
            return;
        };
        self.report.blocks += 1;
        let key = xxhash_rust::xxh3::xxh3_128(text.as_bytes());
        if let Some(first) = self.seen.get(&key)
            && !first.is_empty()
            && text.len() >= block::MIN_BYTES
        {
            let note = format!(
                "[headroom: this output is identical to the output of tool call {first} above]"
            );
            self.replace(raw, &text, note, vec!["duplicate-ref"]);
            return;
        }
        self.seen.entry(key).or_insert_with(|| id.to_owned());

        // Codex wraps shell output as `{"output":"…","metadata":{…}}`: compress the inner text and
        // keep the wrapper's own bytes.
        let wrapped = codex_wrapped(&text);
        let inner = wrapped
            .as_ref()
            .map_or(text.as_ref(), |(_, inner)| inner.as_ref());
        let kind = Kind::of(
            call.map(|c| c.name.as_ref()),
            call.and_then(|c| c.input).map(|v| v.get()),
            is_error,
            inner,
        );
        let block = Block { text: inner, kind };
        match block::compress(self.compressor, &block) {
            block::Result::Unchanged => {}
            block::Result::Failed => self.report.failures += 1,
            block::Result::Encoded(enc) => {
                let replacement = match &wrapped {
                    None => enc.text,
                    Some((range, _)) => {
                        let Ok(json) = serde_json::to_string(&enc.text) else {
                            self.report.failures += 1;
                            return;
                        };
                        format!("{}{json}{}", &text[..range.start], &text[range.end..])
                    }
                };
                self.replace(raw, &text, replacement, enc.transforms);
            }
        }
    }

    fn replace(
        &mut self,
        raw: &RawValue,
        original: &str,
        replacement: String,
        transforms: Vec<&'static str>,
    ) {
        let Ok(json) = serde_json::to_vec(&replacement) else {
            self.report.failures += 1;
            return;
        };
        self.edits.push((self.span(raw), json));
        self.report.transforms.extend(transforms);
        self.report.changed.push((original.to_owned(), replacement));
    }
}

/// The byte range of the `output` string inside Codex's `{"output":…,"metadata":…}` wrapper, and
/// its decoded text.
fn codex_wrapped(text: &str) -> Option<(Range<usize>, Cow<'_, str>)> {
    if !text.starts_with('{') {
        return None;
    }
    let obj = object(text.as_bytes())?;
    if obj.0.iter().any(|(k, _)| k != "output" && k != "metadata") {
        return None;
    }
    let raw = obj.get("output")?;
    let inner = string(raw)?;
    let start = raw.get().as_ptr() as usize - text.as_ptr() as usize;
    Some((start..start + raw.get().len(), inner))
}
