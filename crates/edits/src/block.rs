//! Marker-framed text blocks (shell rc files, the Codex block): the host writes the marker lines;
//! a plan supplies only the id and body, and a body that looks like a marker is refused.

use crate::error::EditError;
use crate::plan::{BlockPlacement, MarkerStyle};

pub fn markers(style: MarkerStyle, comment: &str, id: &str) -> (String, String) {
    let style = match style {
        MarkerStyle::Arrows => headroom_core::block::Style::Arrows,
        MarkerStyle::Dashes => headroom_core::block::Style::Dashes,
    };
    headroom_core::block::markers(style, comment, id)
}

pub use headroom_core::block::looks_like_marker;

/// Reject block ids and bodies that could forge or break markers.
pub fn check(file: &str, id: &str, comment: &str, body: &str) -> Result<(), EditError> {
    let bad = |detail: String| EditError::Invalid {
        file: file.to_owned(),
        detail,
    };
    if id.is_empty() || id.chars().any(|c| c.is_control() || c == '>' || c == '<') {
        return Err(bad(format!("invalid block id {id:?}")));
    }
    if comment.is_empty() || comment.chars().any(|c| c.is_control()) {
        return Err(bad(format!("invalid comment leader {comment:?}")));
    }
    if let Some(line) = body.lines().find(|l| looks_like_marker(l)) {
        return Err(bad(format!(
            "block {id:?} body contains a marker-like line ({:?}); refused",
            line.chars().take(60).collect::<String>()
        )));
    }
    if body.contains('\0') {
        return Err(bad(format!("block {id:?} body contains a NUL byte")));
    }
    Ok(())
}

/// Line spans `[start, end)` (byte offsets, end after the newline) of the block, if present.
fn find(
    file: &str,
    text: &str,
    begin: &str,
    end: &str,
) -> Result<Option<(usize, usize)>, EditError> {
    headroom_core::block::find(text, begin, end).map_err(|e| EditError::Invalid {
        file: file.to_owned(),
        detail: e.to_string(),
    })
}

fn newline(text: &str) -> &'static str {
    if text.contains("\r\n") { "\r\n" } else { "\n" }
}

pub fn get(
    file: &str,
    text: &str,
    style: MarkerStyle,
    comment: &str,
    id: &str,
) -> Result<Option<String>, EditError> {
    let (begin, end) = markers(style, comment, id);
    Ok(find(file, text, &begin, &end)?.map(|(s, t)| {
        let block = &text[s..t];
        let body_start = block.find('\n').map_or(block.len(), |i| i + 1);
        let body_end = block[..block.len() - 1]
            .rfind('\n')
            .map_or(body_start, |i| i + 1);
        block[body_start..body_end.max(body_start)].replace("\r\n", "\n")
    }))
}

#[allow(clippy::too_many_arguments)]
pub fn set(
    file: &str,
    text: &str,
    style: MarkerStyle,
    comment: &str,
    id: &str,
    body: &str,
    placement: BlockPlacement,
) -> Result<String, EditError> {
    check(file, id, comment, body)?;
    let (begin, end) = markers(style, comment, id);
    let nl = newline(text);
    let mut block = format!("{begin}{nl}");
    for line in body.lines() {
        block.push_str(line);
        block.push_str(nl);
    }
    block.push_str(&end);
    block.push_str(nl);
    if let Some((s, t)) = find(file, text, &begin, &end)? {
        return Ok(format!("{}{block}{}", &text[..s], &text[t..]));
    }
    if placement == BlockPlacement::BeforeFirstTable
        && let Some(at) = before_first_table(text)
    {
        return Ok(format!("{}{block}{nl}{}", &text[..at], &text[at..]));
    }
    if text.is_empty() {
        return Ok(block);
    }
    let sep = if text.ends_with('\n') {
        nl.to_owned()
    } else {
        format!("{nl}{nl}")
    };
    Ok(format!("{text}{sep}{block}"))
}

/// Offset of the first TOML table header line, moved up over the comment lines attached to it.
fn before_first_table(text: &str) -> Option<usize> {
    let mut starts = Vec::new();
    let mut offset = 0;
    let mut header = None;
    for line in text.split_inclusive('\n') {
        starts.push((offset, line));
        if line.trim_start().starts_with('[') {
            header = Some(starts.len() - 1);
            break;
        }
        offset += line.len();
    }
    let mut idx = header?;
    while idx > 0 && starts[idx - 1].1.trim_start().starts_with('#') {
        idx -= 1;
    }
    Some(starts[idx].0)
}

pub fn remove(
    file: &str,
    text: &str,
    style: MarkerStyle,
    comment: &str,
    id: &str,
) -> Result<String, EditError> {
    let (begin, end) = markers(style, comment, id);
    let Some((mut s, mut t)) = find(file, text, &begin, &end)? else {
        return Ok(text.to_owned());
    };
    let nl = newline(text);
    // Take back the blank line `set` put between the block and its neighbour: before a block it
    // appended at the end, after a block it placed above a table.
    let blank = format!("{nl}{nl}");
    if t == text.len() {
        if text[..s].ends_with(&blank) {
            s -= nl.len();
        }
    } else if text[t..].starts_with(nl) {
        t += nl.len();
    }
    Ok(format!("{}{}", &text[..s], &text[t..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    const F: &str = "~/.bashrc";

    #[test]
    fn appends_replaces_and_removes_exactly() {
        let rc = "export PATH=$PATH:~/bin\nalias ll='ls -l'\n";
        let a = set(
            F,
            rc,
            MarkerStyle::Arrows,
            "#",
            "persistent env",
            "export A='1'\n",
            BlockPlacement::End,
        )
        .unwrap();
        assert_eq!(
            a,
            format!(
                "{rc}\n# >>> headroom persistent env >>>\nexport A='1'\n# <<< headroom persistent env <<<\n"
            )
        );
        let b = set(
            F,
            &a,
            MarkerStyle::Arrows,
            "#",
            "persistent env",
            "export A='2'",
            BlockPlacement::End,
        )
        .unwrap();
        assert_eq!(b, a.replace("'1'", "'2'"));
        assert_eq!(
            get(F, &b, MarkerStyle::Arrows, "#", "persistent env")
                .unwrap()
                .as_deref(),
            Some("export A='2'\n")
        );
        assert_eq!(
            remove(F, &b, MarkerStyle::Arrows, "#", "persistent env").unwrap(),
            rc
        );
        assert_eq!(
            remove(F, rc, MarkerStyle::Arrows, "#", "persistent env").unwrap(),
            rc
        );
        let fresh = set(
            F,
            "",
            MarkerStyle::Arrows,
            "#",
            "x",
            "y",
            BlockPlacement::End,
        )
        .unwrap();
        assert_eq!(
            remove(F, &fresh, MarkerStyle::Arrows, "#", "x").unwrap(),
            ""
        );
    }

    #[test]
    fn codex_block_goes_above_the_first_table_and_its_comments() {
        let cfg = "model = \"o3\"\n\n# my provider\n[model_providers.x]\nname = \"x\"\n";
        let out = set(
            "~/.codex/config.toml",
            cfg,
            MarkerStyle::Dashes,
            "#",
            "persistent provider",
            "model_provider = \"headroom\"\n\n[model_providers.headroom]\nname = \"headroom\"",
            BlockPlacement::BeforeFirstTable,
        )
        .unwrap();
        assert_eq!(
            out,
            "model = \"o3\"\n\n# --- Headroom persistent provider ---\nmodel_provider = \"headroom\"\n\n[model_providers.headroom]\nname = \"headroom\"\n# --- end Headroom persistent provider ---\n\n# my provider\n[model_providers.x]\nname = \"x\"\n"
        );
        assert!(out.parse::<toml_edit::DocumentMut>().is_ok());
        assert_eq!(
            remove(
                "~/.codex/config.toml",
                &out,
                MarkerStyle::Dashes,
                "#",
                "persistent provider"
            )
            .unwrap(),
            cfg
        );
    }

    #[test]
    fn crlf_files_keep_crlf() {
        let rc = "a\r\nb\r\n";
        let out = set(
            F,
            rc,
            MarkerStyle::Arrows,
            "#",
            "e",
            "x\ny",
            BlockPlacement::End,
        )
        .unwrap();
        assert!(!out.replace("\r\n", "").contains('\n'), "{out:?}");
        assert_eq!(remove(F, &out, MarkerStyle::Arrows, "#", "e").unwrap(), rc);
    }

    #[test]
    fn spoofed_and_broken_markers_are_refused() {
        let err = set(
            F,
            "",
            MarkerStyle::Arrows,
            "#",
            "e",
            "ok\n# <<< headroom e <<<\nrm -rf ~",
            BlockPlacement::End,
        )
        .unwrap_err();
        assert!(err.to_string().contains("marker-like line"), "{err}");
        let dup = "# >>> headroom e >>>\n# >>> headroom e >>>\n# <<< headroom e <<<\n";
        assert!(
            set(
                F,
                dup,
                MarkerStyle::Arrows,
                "#",
                "e",
                "x",
                BlockPlacement::End
            )
            .unwrap_err()
            .to_string()
            .contains("unbalanced")
        );
    }
}
