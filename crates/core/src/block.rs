//! The marker lines that frame every block headroom writes into a file it does not own (shell rc
//! files, the Codex config, the user's crontab), and finding such a block. One format, so one
//! spoofing check covers every place a block is read back.

use thiserror::Error;

/// How the marker lines look: `# >>> headroom ID >>>` … `# <<< headroom ID <<<` (shell, crontab)
/// or `# --- Headroom ID ---` … `# --- end Headroom ID ---` (the older implementation's Codex block).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    Arrows,
    Dashes,
}

/// The begin and end lines of block `id` with comment leader `comment`.
pub fn markers(style: Style, comment: &str, id: &str) -> (String, String) {
    match style {
        Style::Arrows => (
            format!("{comment} >>> headroom {id} >>>"),
            format!("{comment} <<< headroom {id} <<<"),
        ),
        Style::Dashes => (
            format!("{comment} --- Headroom {id} ---"),
            format!("{comment} --- end Headroom {id} ---"),
        ),
    }
}

/// Whether a line could be taken for a headroom marker (of any id or style): such lines are
/// refused inside a block's body, so a body can never forge or end a block.
pub fn looks_like_marker(line: &str) -> bool {
    let l = line.to_ascii_lowercase();
    l.contains(">>> headroom")
        || l.contains("<<< headroom")
        || l.contains("--- headroom")
        || l.contains("--- end headroom")
}

#[derive(Debug, Error, PartialEq, Eq)]
#[error("the block {begin:?} … {end:?} is duplicated or unbalanced; fix it by hand first")]
pub struct Unbalanced {
    pub begin: String,
    pub end: String,
}

/// The byte span `[start, end)` of the block framed by `begin`/`end` (whole lines, `end` after
/// its newline), if there is exactly one; a second begin, an end without a begin or a begin
/// without an end is refused rather than guessed at.
pub fn find(text: &str, begin: &str, end: &str) -> Result<Option<(usize, usize)>, Unbalanced> {
    let mut offset = 0;
    let (mut b, mut e) = (Vec::new(), Vec::new());
    for line in text.split_inclusive('\n') {
        let bare = line.trim_end_matches(['\n', '\r']);
        if bare == begin {
            b.push(offset);
        } else if bare == end {
            e.push(offset + line.len());
        }
        offset += line.len();
    }
    match (b.as_slice(), e.as_slice()) {
        ([], []) => Ok(None),
        ([s], [t]) if s < t => Ok(Some((*s, *t))),
        _ => Err(Unbalanced {
            begin: begin.to_owned(),
            end: end.to_owned(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_exactly_one_balanced_block() {
        let (b, e) = markers(Style::Arrows, "#", "p");
        let text = format!("a\n{b}\nx\n{e}\nz\n");
        let (s, t) = find(&text, &b, &e).unwrap().unwrap();
        assert_eq!(&text[s..t], format!("{b}\nx\n{e}\n"));
        assert_eq!(find("a\nb\n", &b, &e), Ok(None));
        for bad in [
            format!("{b}\nx\n"),
            format!("x\n{e}\n"),
            format!("{e}\n{b}\n"),
            format!("{b}\n{e}\n{b}\n{e}\n"),
        ] {
            assert!(find(&bad, &b, &e).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn every_style_is_recognised_as_a_marker() {
        for style in [Style::Arrows, Style::Dashes] {
            let (b, e) = markers(style, "//", "x y");
            assert!(looks_like_marker(&b) && looks_like_marker(&e));
        }
        assert!(!looks_like_marker("export HEADROOM=1"));
    }
}
