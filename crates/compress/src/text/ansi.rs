//! Removing ANSI escape sequences: the one normalization of plain-text outputs (colours, cursor
//! moves and hyperlink wrappers carry no information for a model).
//!
//! Recognized, all starting with ESC (0x1B):
//! * CSI `ESC [`, parameter bytes 0x30–0x3F, intermediate bytes 0x20–0x2F, one final byte 0x40–0x7E;
//! * OSC `ESC ]` … up to BEL or ST (`ESC \`), or up to the end of the line if unterminated;
//! * other escapes: `ESC`, intermediates 0x20–0x2F, one final byte 0x30–0x7E (`ESC ( B`, `ESC M`, …).
//!
//! A malformed sequence loses only the bytes consumed before the offending byte, which is kept. Only
//! ASCII bytes are ever removed, so the result is valid UTF-8 and each scan is linear.

use std::borrow::Cow;

const ESC: u8 = 0x1b;
const BEL: u8 = 0x07;

/// `text` without its ANSI escape sequences (borrowed when it has none).
pub fn strip_ansi(text: &str) -> Cow<'_, str> {
    let b = text.as_bytes();
    let Some(first) = b.iter().position(|&c| c == ESC) else {
        return Cow::Borrowed(text);
    };
    let mut out: Vec<u8> = Vec::with_capacity(b.len());
    out.extend_from_slice(&b[..first]);
    let mut i = first;
    while i < b.len() {
        if b[i] != ESC {
            out.push(b[i]);
            i += 1;
            continue;
        }
        i = skip_escape(b, i);
    }
    match String::from_utf8(out) {
        Ok(s) => Cow::Owned(s),
        // Unreachable (only ASCII bytes are removed), but never panic.
        Err(_) => Cow::Borrowed(text),
    }
}

/// `b[i]` is ESC: the index just past the escape sequence starting there.
fn skip_escape(b: &[u8], i: usize) -> usize {
    let mut j = i + 1;
    match b.get(j) {
        None => j,
        Some(b'[') => {
            j += 1;
            while j < b.len() && (0x30..=0x3f).contains(&b[j]) {
                j += 1;
            }
            while j < b.len() && (0x20..=0x2f).contains(&b[j]) {
                j += 1;
            }
            if j < b.len() && (0x40..=0x7e).contains(&b[j]) {
                j += 1;
            }
            j
        }
        Some(b']') => {
            j += 1;
            while j < b.len() {
                match b[j] {
                    BEL => return j + 1,
                    ESC if b.get(j + 1) == Some(&b'\\') => return j + 2,
                    ESC | b'\n' => return j,
                    c if c < 0x80 => j += 1,
                    // Non-ASCII inside an OSC (a URL with UTF-8): stop, keep the character.
                    _ => return j,
                }
            }
            j
        }
        Some(_) => {
            while j < b.len() && (0x20..=0x2f).contains(&b[j]) {
                j += 1;
            }
            if j < b.len() && (0x30..=0x7e).contains(&b[j]) {
                j += 1;
            }
            j
        }
    }
}

#[cfg(test)]
mod tests {
    use super::strip_ansi;

    #[test]
    fn strips_csi_osc_and_short_escapes() {
        assert_eq!(strip_ansi("plain"), "plain");
        assert_eq!(
            strip_ansi("\x1b[1m\x1b[32madded\x1b[39m\x1b[22m 12 packages"),
            "added 12 packages"
        );
        assert_eq!(strip_ansi("a\x1b[2K\x1b[1Gb"), "ab");
        assert_eq!(
            strip_ansi("\x1b]8;;https://x.io\x1b\\link\x1b]8;;\x1b\\ done"),
            "link done"
        );
        assert_eq!(strip_ansi("\x1b]0;title\x07text"), "text");
        assert_eq!(strip_ansi("\x1b(Bx\x1bMy\x1b=z"), "xyz");
        assert_eq!(strip_ansi("\x1b[?25lhidden\x1b[?25h"), "hidden");
    }

    #[test]
    fn malformed_sequences_keep_the_offending_byte() {
        assert_eq!(strip_ansi("x\x1b"), "x");
        assert_eq!(strip_ansi("x\x1b[12\ny"), "x\ny");
        assert_eq!(strip_ansi("\x1b[é"), "é");
        assert_eq!(strip_ansi("\x1b]8;;unterminated\nnext"), "\nnext");
        assert_eq!(strip_ansi("\x1bé"), "é");
    }
}
