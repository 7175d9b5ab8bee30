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
use std::sync::Arc;

use serde::Deserialize;
use serde::de::{Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

use crate::Mode;
use crate::block::{self, Block, Kind};
use crate::cache::{self, Cache};

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
    /// Shared by clones: one proxy, one memory of what it already compressed.
    cache: Arc<Cache>,
}

impl Compressor {
    pub fn new(mode: Mode, retrieve_dir: Option<PathBuf>) -> Self {
        Self {
            mode,
            retrieve_dir,
            cache: Arc::default(),
        }
    }

    pub(crate) fn cache(&self) -> &Cache {
        &self.cache
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
            let msg: WsMessage<'_> = serde_json::from_slice(payload).ok()?;
            if raw_str(msg.kind)? != "response.create" {
                return None;
            }
            // Older Codex builds nest the request under `response`.
            match msg.response {
                Some(inner) => walk.responses(serde_json::from_str(inner.get()).ok()?),
                None => walk.responses(Responses { input: msg.input }),
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

/// Whether no array/object in `body` nests deeper than `max` (one linear pass; strings, where
/// nearly all of a body's bytes are, are skipped at memchr speed).
fn nesting_within(body: &[u8], max: usize) -> bool {
    let (mut depth, mut i) = (0usize, 0usize);
    while i < body.len() {
        match body[i] {
            b'"' => {
                // To the closing quote: skip escaped characters.
                i += 1;
                loop {
                    let Some(rest) = body.get(i..) else {
                        return true; // ends inside an escape: the parser will refuse it
                    };
                    match memchr::memchr2(b'"', b'\\', rest) {
                        Some(off) if body[i + off] == b'\\' => i += off + 2,
                        Some(off) => {
                            i += off;
                            break;
                        }
                        None => return true, // unterminated: the parser will refuse it
                    }
                }
            }
            b'[' | b'{' => {
                depth += 1;
                if depth > max {
                    return false;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    true
}

/// The members of each API shape on the way to tool outputs, borrowed from the body. Everything
/// is a raw value until needed, so an unexpected type refuses nothing but that member's use.
type Raw<'a> = Option<&'a RawValue>;

#[derive(Deserialize)]
struct Messages<'a, C> {
    #[serde(borrow, default = "none")]
    messages: Option<Vec<Message<'a, C>>>,
}

#[derive(Deserialize)]
struct Message<'a, C> {
    #[serde(borrow, default)]
    role: Raw<'a>,
    #[serde(default = "none")]
    content: Option<C>,
    #[serde(borrow, default)]
    tool_call_id: Raw<'a>,
    #[serde(borrow, default)]
    tool_calls: Raw<'a>,
}

fn none<T>() -> Option<T> {
    None
}

/// Anthropic message content: prose (never touched) or blocks.
enum AContent<'a> {
    Prose,
    Blocks(Vec<ABlock<'a>>),
}

#[derive(Deserialize)]
struct ABlock<'a> {
    #[serde(rename = "type", borrow, default)]
    kind: Raw<'a>,
    #[serde(borrow, default)]
    id: Raw<'a>,
    #[serde(borrow, default)]
    name: Raw<'a>,
    #[serde(borrow, default)]
    input: Raw<'a>,
    #[serde(borrow, default)]
    tool_use_id: Raw<'a>,
    #[serde(borrow, default)]
    is_error: Raw<'a>,
    #[serde(borrow, default)]
    content: Raw<'a>,
}

#[derive(Deserialize)]
struct ChatCall<'a> {
    #[serde(borrow, default)]
    id: Raw<'a>,
    #[serde(borrow, default)]
    function: Option<ChatFunction<'a>>,
}

#[derive(Deserialize)]
struct ChatFunction<'a> {
    #[serde(borrow, default)]
    name: Raw<'a>,
    #[serde(borrow, default)]
    arguments: Raw<'a>,
}

#[derive(Deserialize)]
struct Responses<'a> {
    #[serde(borrow, default)]
    input: Option<RInput<'a>>,
}

#[derive(Deserialize)]
struct WsMessage<'a> {
    #[serde(rename = "type", borrow, default)]
    kind: Raw<'a>,
    #[serde(borrow, default)]
    response: Raw<'a>,
    #[serde(borrow, default)]
    input: Option<RInput<'a>>,
}

/// Responses `input`: a prompt string (never touched) or items.
enum RInput<'a> {
    Prompt,
    Items(Vec<RItem<'a>>),
}

#[derive(Deserialize)]
struct RItem<'a> {
    #[serde(rename = "type", borrow, default)]
    kind: Raw<'a>,
    #[serde(borrow, default)]
    call_id: Raw<'a>,
    #[serde(borrow, default)]
    name: Raw<'a>,
    #[serde(borrow, default)]
    arguments: Raw<'a>,
    #[serde(borrow, default)]
    input: Raw<'a>,
    #[serde(borrow, default)]
    action: Raw<'a>,
    #[serde(borrow, default)]
    output: Raw<'a>,
}

#[derive(Deserialize)]
struct Part<'a> {
    #[serde(rename = "type", borrow, default)]
    kind: Raw<'a>,
    #[serde(borrow, default)]
    text: Raw<'a>,
}

/// Content that is either a string (skipped: prose or a prompt) or an array of `T`, decided by
/// the first token so neither is buffered.
struct StrOrSeq<T>(Option<Vec<T>>);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for StrOrSeq<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = StrOrSeq<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string or an array")
            }
            fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<Self::Value, E> {
                Ok(StrOrSeq(None))
            }
            fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
                Ok(StrOrSeq(None))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some(item) = seq.next_element()? {
                    out.push(item);
                }
                Ok(StrOrSeq(Some(out)))
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for AContent<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(match StrOrSeq::<ABlock<'a>>::deserialize(d)?.0 {
            Some(blocks) => AContent::Blocks(blocks),
            None => AContent::Prose,
        })
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for RInput<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(match StrOrSeq::<RItem<'a>>::deserialize(d)?.0 {
            Some(items) => RInput::Items(items),
            None => RInput::Prompt,
        })
    }
}

/// A raw member's string value (`None` for absent or not a string).
fn raw_str(v: Raw<'_>) -> Option<Cow<'_, str>> {
    v.and_then(string)
}

/// One object's members in order, borrowed from the body; duplicate keys refuse the body.
struct Obj<'a>(Vec<(Cow<'a, str>, &'a RawValue)>);

impl<'a> Obj<'a> {
    fn get(&self, key: &str) -> Option<&'a RawValue> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| *v)
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
        // One typed pass: only the members on the way to tool outputs are looked at; everything
        // else is skipped (and later copied byte for byte). A duplicate of any of those members
        // refuses the body.
        match shape {
            Shape::AnthropicMessages => self.anthropic(serde_json::from_slice(self.body).ok()?),
            Shape::ChatCompletions => self.chat(serde_json::from_slice(self.body).ok()?),
            Shape::Responses => self.responses(serde_json::from_slice(self.body).ok()?),
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

    fn anthropic(&mut self, body: Messages<'a, AContent<'a>>) -> Option<()> {
        for m in body.messages.into_iter().flatten() {
            let Some(AContent::Blocks(blocks)) = m.content else {
                continue; // plain-string prose
            };
            for b in blocks {
                match raw_str(b.kind).as_deref() {
                    Some("tool_use") | Some("server_tool_use") => {
                        if let (Some(id), Some(name)) = (raw_str(b.id), raw_str(b.name)) {
                            self.calls.insert(
                                id,
                                Call {
                                    name,
                                    input: b.input,
                                },
                            );
                        }
                    }
                    Some("tool_result") => {
                        let id = raw_str(b.tool_use_id).unwrap_or_default();
                        let is_error = b.is_error.is_some_and(|v| v.get() == "true");
                        if let Some(c) = b.content {
                            self.output(&id, c, is_error);
                        }
                    }
                    _ => {}
                }
            }
        }
        Some(())
    }

    fn chat(&mut self, body: Messages<'a, &'a RawValue>) -> Option<()> {
        for m in body.messages.into_iter().flatten() {
            match raw_str(m.role).as_deref() {
                Some("assistant") => {
                    let calls: Vec<ChatCall<'a>> = m
                        .tool_calls
                        .and_then(|c| serde_json::from_str(c.get()).ok())
                        .unwrap_or_default();
                    for c in calls {
                        if let (Some(id), Some(f)) = (raw_str(c.id), c.function)
                            && let Some(name) = raw_str(f.name)
                        {
                            self.calls.insert(
                                id,
                                Call {
                                    name,
                                    input: f.arguments,
                                },
                            );
                        }
                    }
                }
                Some("tool") => {
                    let id = raw_str(m.tool_call_id).unwrap_or_default();
                    if let Some(c) = m.content {
                        self.output(&id, c, false);
                    }
                }
                _ => {}
            }
        }
        Some(())
    }

    fn responses(&mut self, body: Responses<'a>) -> Option<()> {
        let Some(RInput::Items(items)) = body.input else {
            return Some(()); // a plain-string prompt
        };
        for item in items {
            match raw_str(item.kind).as_deref() {
                Some("function_call") | Some("custom_tool_call") | Some("local_shell_call") => {
                    let Some(id) = raw_str(item.call_id) else {
                        continue;
                    };
                    let name = raw_str(item.name).unwrap_or(Cow::Borrowed("local_shell"));
                    let input = item.arguments.or(item.input).or(item.action);
                    self.calls.insert(id, Call { name, input });
                }
                Some("function_call_output")
                | Some("custom_tool_call_output")
                | Some("local_shell_call_output") => {
                    let id = raw_str(item.call_id).unwrap_or_default();
                    if let Some(out) = item.output {
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
        let Ok(parts) = serde_json::from_str::<Vec<Part<'a>>>(value.get()) else {
            return;
        };
        for p in parts {
            // Anthropic `text` blocks, OpenAI `text`/`input_text`/`output_text` parts; images and
            // documents are never touched.
            if matches!(
                raw_str(p.kind).as_deref(),
                Some("text") | Some("input_text") | Some("output_text")
            ) && let Some(t) = p.text
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
        let key = cache::hash(&text);
        if let Some(first) = self.seen.get(&key)
            && !first.is_empty()
            && text.len() >= block::MIN_BYTES
        {
            let note = format!(
                "[headroom: this output is identical to the output of tool call {first} above]"
            );
            let counted = (text.to_string(), note.clone());
            self.replace(raw, note, counted, vec!["duplicate-ref"]);
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
        // The duplicate check's hash is the block's, unless the wrapper was peeled off.
        let hash = if wrapped.is_some() {
            cache::hash(inner)
        } else {
            key
        };
        let block = Block {
            text: inner,
            hash,
            kind,
        };
        match block::compress(self.compressor, &block) {
            block::Result::Unchanged => {}
            block::Result::Failed => self.report.failures += 1,
            block::Result::Encoded(enc) => {
                // Counted and restored as the inner texts: the wrapper is not the output.
                let (replacement, counted) = match &wrapped {
                    None => (enc.text.clone(), (text.to_string(), enc.text)),
                    Some((range, inner)) => {
                        let Ok(json) = serde_json::to_string(&enc.text) else {
                            self.report.failures += 1;
                            return;
                        };
                        let whole = format!("{}{json}{}", &text[..range.start], &text[range.end..]);
                        (whole, (inner.to_string(), enc.text))
                    }
                };
                self.replace(raw, replacement, counted, enc.transforms);
            }
        }
    }

    /// Splice `replacement` over the string `raw`; `counted` is the (original, new) output text
    /// pair reported for token counts.
    fn replace(
        &mut self,
        raw: &RawValue,
        replacement: String,
        counted: (String, String),
        transforms: Vec<&'static str>,
    ) {
        let Ok(json) = serde_json::to_vec(&replacement) else {
            self.report.failures += 1;
            return;
        };
        self.edits.push((self.span(raw), json));
        self.report.transforms.extend(transforms);
        self.report.changed.push(counted);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nesting_is_measured_outside_strings_only() {
        assert!(nesting_within(br#"{"a":[[1]]}"#, 3));
        assert!(!nesting_within(br#"{"a":[[1]]}"#, 2));
        assert!(nesting_within(br#"{"a":"[[[[[[\"]]]]"}"#, 1));
        assert!(nesting_within(br#"{"a":"\\"}"#, 1));
        assert!(nesting_within(br#"{"a":"unterminated"#, 1));
        assert!(nesting_within(b"{\"a\":\"\\", 1));
    }
}
