//! JSON tool outputs: a value model that keeps what matters for exactness (key order, duplicate
//! detection, number literals as written) and its lossless encodings.
//!
//! Contract:
//! * [`encode`] returns `None` when the text is not strictly one JSON value (trailing text,
//!   duplicate keys, nesting deeper than [`MAX_DEPTH`], invalid escapes) or no encoding saves
//!   tokens by [`crate::estimate_tokens`]; otherwise the encoded text, already verified by
//!   [`decode`] inside `encode`.
//! * [`decode`] turns an encoding back into minified JSON whose value equals the original's
//!   (same keys in the same order, same number literals, same decoded strings).
//!
//! Encodings (grammar in `table.rs`): minified JSON with long arrays one element per line
//! (`json-minify`, `json-lines`: still plain JSON), and uniform arrays of objects / objects of
//! objects as tables (`json-table`, `json-keyed-table`) behind a one-line legend.

mod table;
pub mod value;

pub use value::{Value, parse};

use crate::{Encoded, estimate_tokens};

pub const MAX_DEPTH: usize = 64;

/// First line of every table encoding; `decode` skips a first line starting with [`LEGEND_TAG`].
const LEGEND_TAG: &str = "[headroom:";
const LEGEND: &str = "[headroom: lossless re-encoding of JSON. \"@table N rows; columns: a:int|b.c:str|d=v\" = an array of N objects, one per line until @end, cells in column order split by \"|\" (b.c = key c inside object b; :int etc. are type hints); a column written d=v has value v in every row and is left out of the rows; a quoted cell is a JSON string, other cells are JSON values or plain text";
const LEGEND_SPARSE: &str = "; an empty cell means the object has no such key";
const LEGEND_AFFIX: &str =
    "; a column a:str=\"x{}y\" means each string cell c stands for \"x\"+c+\"y\"";
const LEGEND_KEYED: &str =
    "; \"@object N entries; columns: (key)|…\" = an object of N objects, the first cell is the key";

pub fn encode(text: &str) -> Option<Encoded> {
    let v = parse(text)?;
    let mut candidates: Vec<(usize, String, Vec<&'static str>)> = Vec::with_capacity(3);

    // Rendering with tables allowed gives plain JSON when no table pays off, so the plain
    // candidate needs a render of its own only when a table was used.
    let (body, used) = table::render(&v, true);
    if used.table || used.keyed {
        // Plain JSON can only win when the tables saved less than the legend costs; when they
        // cut the bytes by 40 % or more (and the legend is small beside them) it cannot.
        let plain_len = value::min_len_upto(&v, body.len() * 5 / 3);
        let clear_win = body.len() * 5 < plain_len * 3 && plain_len > 20 * LEGEND.len();
        if !clear_win {
            let (plain, plain_used) = table::render(&v, false);
            let t = if plain_used.lines {
                "json-lines"
            } else {
                "json-minify"
            };
            candidates.push((estimate_tokens(&plain), plain, vec![t]));
        }

        // Affix templates cost a legend clause of their own: also weigh the tables without them.
        if used.affix {
            let (b, u) = table::render_opts(&v, true, false, false);
            if u.table || u.keyed {
                candidates.push(with_legend(&b, u));
            }
        }
        candidates.push(with_legend(&body, used));
    } else {
        let t = if used.lines {
            "json-lines"
        } else {
            "json-minify"
        };
        candidates.push((estimate_tokens(&body), body, vec![t]));
    }

    // Cheapest first (stable: plain JSON wins ties); only the winner pays for verification.
    candidates.sort_by_key(|c| c.0);
    let original = estimate_tokens(text);
    candidates
        .into_iter()
        .take_while(|c| c.0 < original)
        .find(|c| decode_value(&c.1).as_ref() == Some(&v))
        .map(|(_, text, transforms)| Encoded { text, transforms })
}

/// A table encoding behind the legend clauses it needs, with its token count and transforms.
fn with_legend(body: &str, used: table::Used) -> (usize, String, Vec<&'static str>) {
    let mut out = String::with_capacity(
        body.len()
            + LEGEND.len()
            + LEGEND_SPARSE.len()
            + LEGEND_AFFIX.len()
            + LEGEND_KEYED.len()
            + 2,
    );
    out.push_str(LEGEND);
    if used.sparse {
        out.push_str(LEGEND_SPARSE);
    }
    if used.affix {
        out.push_str(LEGEND_AFFIX);
    }
    if used.keyed {
        out.push_str(LEGEND_KEYED);
    }
    out.push_str("]\n");
    out.push_str(body);
    let mut t = Vec::new();
    if used.table {
        t.push("json-table");
    }
    if used.keyed {
        t.push("json-keyed-table");
    }
    if used.lines {
        t.push("json-lines");
    }
    (estimate_tokens(&out), out, t)
}

pub fn decode(encoded: &str) -> Option<String> {
    decode_value(encoded).map(|v| value::to_min(&v))
}

fn decode_value(encoded: &str) -> Option<Value<'_>> {
    let body = if encoded.starts_with(LEGEND_TAG) {
        &encoded[encoded.find('\n')? + 1..]
    } else {
        encoded
    };
    value::Parser::new(body, true).document()
}

#[cfg(test)]
mod tests;
