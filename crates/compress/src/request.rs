//! The request-body walker: finds the tool outputs of each API shape, rewrites them in place and
//! re-emits everything else byte for byte.

use std::path::PathBuf;

use crate::Mode;

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

    /// Compress one request body of `shape`. Never fails: anything it cannot parse or encode goes
    /// upstream as it came.
    pub fn compress(&self, _shape: Shape, _body: &[u8]) -> Outcome {
        let _ = &self.retrieve_dir;
        Outcome::default()
    }
}
