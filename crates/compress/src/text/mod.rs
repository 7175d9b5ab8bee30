//! Plain-text tool outputs (logs, grep, listings): lossless line encodings.
//!
//! Contract (filled in by the text encoders):
//! * [`encode`] returns `None` when nothing saves tokens by [`crate::estimate_tokens`]; otherwise
//!   the encoded text, verified inside `encode` by `decode(encoded) == normalized(original)`,
//!   where the only normalization is removing ANSI escape sequences.
//! * [`decode`] inverts [`encode`].

use crate::Encoded;

pub fn encode(_text: &str) -> Option<Encoded> {
    None
}

pub fn decode(encoded: &str) -> String {
    encoded.to_owned()
}
