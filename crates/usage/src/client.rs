//! Which tool sent a request, from its User-Agent, and the length cap for client-supplied strings.

use std::borrow::Cow;

/// The tool behind a request. The codes are stored in the database: never renumber them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Client {
    ClaudeCode = 1,
    Codex = 2,
    OpenClaw = 3,
    OpenCode = 4,
    AnthropicSdk = 5,
    OpenAiSdk = 6,
    Other = 0,
}

impl Client {
    pub const ALL: [Client; 7] = [
        Client::ClaudeCode,
        Client::Codex,
        Client::OpenClaw,
        Client::OpenCode,
        Client::AnthropicSdk,
        Client::OpenAiSdk,
        Client::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Client::ClaudeCode => "claude-code",
            Client::Codex => "codex",
            Client::OpenClaw => "openclaw",
            Client::OpenCode => "opencode",
            Client::AnthropicSdk => "anthropic-sdk",
            Client::OpenAiSdk => "openai-sdk",
            Client::Other => "other",
        }
    }

    /// Recognises the User-Agents the supported tools really send, e.g. `claude-cli/2.0.14
    /// (external, cli)`, `codex_exec/0.46.0`, `codex_cli_rs/0.46.0`, `opencode/0.15.2`,
    /// `Anthropic/Python 0.69.0`, `AsyncOpenAI/Python 1.109.1`, `OpenAI/JS 5.23.0`.
    pub fn from_user_agent(ua: &str) -> Client {
        // Only the head matters; a hostile 10 KB header costs no more than this. Compared
        // without copying (it runs per request): the needles are lowercase ASCII, which no byte
        // of a multi-byte character can match.
        let head = &ua.as_bytes()[..ua.len().min(256)];
        let starts = |needle: &str| {
            head.len() >= needle.len()
                && head[..needle.len()].eq_ignore_ascii_case(needle.as_bytes())
        };
        let contains = |needle: &str| {
            head.windows(needle.len())
                .any(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
        };
        // Tools before SDKs: a tool built on an SDK may name both, and the tool is the answer.
        if starts("claude-cli/") || contains("claude-code") {
            Client::ClaudeCode
        } else if starts("codex_") || starts("codex/") {
            Client::Codex
        } else if contains("openclaw") {
            Client::OpenClaw
        } else if starts("opencode") {
            Client::OpenCode
        } else if contains("anthropic/") {
            Client::AnthropicSdk
        } else if contains("openai/") {
            Client::OpenAiSdk
        } else {
            Client::Other
        }
    }

    pub(crate) fn from_code(code: i64) -> Client {
        Client::ALL
            .into_iter()
            .find(|c| *c as i64 == code)
            .unwrap_or(Client::Other)
    }
}

/// The longest a client-supplied string (model, project) is kept, in chars.
pub const CAP: usize = 100;

/// Strips control characters (terminal escapes, newlines) and keeps at most [`CAP`] chars, so a
/// hostile header can neither garble `headroom stats` nor grow the database. A string that is
/// already clean (every one a proxy sees from a well-behaved client) is returned as it is.
pub fn cap(s: &str) -> Cow<'_, str> {
    // Bytes bound chars, so a short string has at most CAP chars.
    if s.len() <= CAP && !s.chars().any(char::is_control) {
        return Cow::Borrowed(s);
    }
    Cow::Owned(s.chars().filter(|c| !c.is_control()).take(CAP).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_user_agents() {
        let cases = [
            ("claude-cli/2.0.14 (external, cli)", Client::ClaudeCode),
            ("claude-cli/1.0.119 (external, sdk-ts)", Client::ClaudeCode),
            (
                "codex_exec/0.46.0 (Ubuntu 24.4.0; x86_64) xterm-256color",
                Client::Codex,
            ),
            (
                "codex_cli_rs/0.46.0 (Mac OS 15.6.1; arm64) iTerm.app/3.6.1",
                Client::Codex,
            ),
            ("openclaw/2026.1.29", Client::OpenClaw),
            ("opencode/0.15.2", Client::OpenCode),
            ("Anthropic/Python 0.69.0", Client::AnthropicSdk),
            ("AsyncAnthropic/Python 0.69.0", Client::AnthropicSdk),
            ("Anthropic/JS 0.65.0", Client::AnthropicSdk),
            ("OpenAI/Python 1.109.1", Client::OpenAiSdk),
            ("AsyncOpenAI/Python 1.109.1", Client::OpenAiSdk),
            ("OpenAI/JS 5.23.0", Client::OpenAiSdk),
            ("curl/8.5.0", Client::Other),
            ("", Client::Other),
        ];
        for (ua, want) in cases {
            assert_eq!(Client::from_user_agent(ua), want, "{ua}");
        }
    }

    #[test]
    fn hostile_user_agent_is_cheap_and_other() {
        let ua = format!("\x1b[31m{}", "x".repeat(10 * 1024));
        assert_eq!(Client::from_user_agent(&ua), Client::Other);
    }

    #[test]
    fn codes_round_trip() {
        for c in Client::ALL {
            assert_eq!(Client::from_code(c as i64), c);
        }
    }

    #[test]
    fn cap_strips_controls_and_cuts_on_a_char_boundary() {
        assert_eq!(cap("my\x1b[2Jproj\nect\u{7f}"), "my[2Jproject");
        // Clean strings up to the cap are not copied; one char more is cut.
        assert!(matches!(cap("claude-sonnet-4-5"), Cow::Borrowed(_)));
        assert!(matches!(cap(&"a".repeat(CAP)), Cow::Borrowed(_)));
        assert_eq!(cap(&"a".repeat(CAP + 1)), "a".repeat(CAP));
        let long = "é".repeat(300);
        let capped = cap(&long);
        assert_eq!(capped.chars().count(), CAP);
        assert!(capped.chars().all(|c| c == 'é'));
        assert_eq!(cap(&"a".repeat(10 * 1024)).len(), CAP);
    }
}
