//! Multi-line records (`git log` and friends) as a table: one line per record's header fields.
//!
//! A record starts with a line `commit <hex>…` (default `git log`, `--stat`, `--format=fuller`,
//! `-p`, decorations) and continues with its header lines `Key:<spaces>value` (`Merge:`,
//! `Author:`, `Date:`, `AuthorDate:`…). The encoding replaces those lines by one row
//!
//! ```text
//! @ 827a315bf2198558f0325b07bcc1e2cd973aba2f | David Tolnay <dtolnay@gmail.com> | Tue Jun 23 20:02:38 2026 -0700
//! ```
//!
//! whose values fill, in order, the templates of a `@columns` line stated once
//! (`@columns "commit {}" | "Merge: {}" (blank = no line) | "Author: {}" | "Date:   {}"`): the exact
//! key spacing is part of the template. A value `^` repeats the previous row's value in that
//! column; a blank value is what the column says (`(blank = no line)`: the record has no such
//! line; `(blank = Author)`: the same value as the Author column of this row; otherwise the empty
//! value), and missing trailing values are blank. Every other line (message bodies, `--stat` lines,
//! records that do not fit the columns) is kept verbatim.
//!
//! No input line may start with `@ ` (the rows' prefix; git indents message lines by 4 spaces and
//! stat lines by 1, and hunk headers start with `@@`): such inputs are not encoded. Records whose
//! values would be ambiguous (a literal `^`, a `|`, a key out of order or with other spacing, an
//! empty value where blank means something else) stay verbatim.

use crate::{Encoded, estimate_tokens};

/// The first line of every record-table encoding.
pub const LEGEND: &str = "[headroom: lossless shorthand. record-table: an @ line is the header lines of a record, its values (split by |) filling the @columns templates in order; ^ = the value above; blank or missing = as the column says, else empty; other lines verbatim]";
const COLUMNS: &str = "@columns ";
const ROW: &str = "@ ";
const SEP: &str = " | ";
const DITTO: &str = "^";
const BLANK_ABSENT: &str = " (blank = no line)";
const BLANK_SAME: &str = " (blank = ";
const START: &str = "commit ";

/// Header columns per table, and header lines per record (more: the record stays verbatim).
const MAX_COLS: usize = 16;
/// Spacing variants tracked per key.
const MAX_SPACINGS: usize = 4;
/// Rows needed for a table to be worth its legend.
const MIN_ROWS: usize = 2;

/// `line` is `commit <at least 7 hex digits>` then nothing, a space or `\r`: what follows `commit `.
fn start_value(line: &str) -> Option<&str> {
    let v = line.strip_prefix(START)?;
    let b = v.as_bytes();
    let hex = b
        .iter()
        .take_while(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(c))
        .count();
    (hex >= 7 && matches!(b.get(hex), None | Some(b' ' | b'\r'))).then_some(v)
}

/// A header line `Key:<spaces>value`: key (ASCII letters, digits, `-`, `_`; a letter first),
/// spacing (spaces, at least one unless the value is empty) and value.
fn key_line(line: &str) -> Option<(&str, &str, &str)> {
    let b = line.as_bytes();
    if !b.first()?.is_ascii_alphabetic() {
        return None;
    }
    let k = b
        .iter()
        .take_while(|c| c.is_ascii_alphanumeric() || **c == b'-' || **c == b'_')
        .count();
    if k > 40 || b.get(k) != Some(&b':') {
        return None;
    }
    let rest = &line[k + 1..];
    let sp = rest.bytes().take_while(|c| *c == b' ').count();
    let value = &rest[sp..];
    if sp == 0 && !value.is_empty() {
        return None;
    }
    Some((&line[..k], &rest[..sp], value))
}

#[derive(Clone)]
struct Record<'a> {
    /// Index of the start line.
    line: usize,
    start: &'a str,
    /// `(key, spacing, value)` of the header lines.
    heads: Vec<(&'a str, &'a str, &'a str)>,
    /// Too many header lines, or a key the columns have no room for: verbatim.
    raw: bool,
    /// The column of each header line (once the columns are known).
    cols: Vec<usize>,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Blank {
    /// The empty value.
    Empty,
    /// The record has no line for this column.
    Absent,
    /// The value of that (earlier) column in the same row.
    Same(usize),
}

/// One column of the table; column 0 is the start line (`commit {}`).
#[derive(Debug)]
struct Column {
    /// The template's text before `{}`: `commit `, `Author: `, `Date:   `.
    prefix: String,
    blank: Blank,
}

impl Column {
    /// The name a `(blank = NAME)` refers to: the prefix up to its `:` or space.
    fn name(&self) -> &str {
        let end = self.prefix.find([':', ' ']).unwrap_or(self.prefix.len());
        &self.prefix[..end]
    }
}

/// A value can be written literally in a row (it is not read as a separator or a ditto).
fn literal_ok(v: &str) -> bool {
    v != DITTO && !v.contains('|')
}

pub fn encode(text: &str) -> Option<Encoded> {
    let lines: Vec<&str> = text.split('\n').collect();
    if lines.iter().any(|l| l.starts_with(ROW)) {
        return None;
    }
    let records = parse(&lines);
    if records.len() < MIN_ROWS {
        return None;
    }
    // With optional columns (blank = no line), and without (their records verbatim): the cheaper.
    let mut best: Option<(usize, String)> = None;
    for optional in [true, false] {
        let mut records = records.clone();
        let Some(columns) = schema(&mut records, optional) else {
            continue;
        };
        let has_optional = columns.iter().any(|c| c.blank == Blank::Absent);
        let (rows, body) = emit(&lines, &records, &columns);
        if rows >= MIN_ROWS {
            let mut out = String::with_capacity(text.len());
            out.push_str(LEGEND);
            out.push('\n');
            out.push_str(&columns_line(&columns));
            out.push('\n');
            out.push_str(&body);
            let cost = estimate_tokens(&out);
            if std::env::var("REC_DEBUG").is_ok() {
                eprintln!("est {optional} {} -> {cost} legend {} cols {}", estimate_tokens(text), estimate_tokens(LEGEND), estimate_tokens(&columns_line(&columns)));
            }
            if best.as_ref().is_none_or(|b| cost < b.0) {
                best = Some((cost, out));
            }
        }
        if !has_optional {
            break;
        }
    }
    let (cost, out) = best?;
    if cost >= estimate_tokens(text) {
        return None;
    }
    // Verified: the encoding must decode back to the input exactly.
    if decode(&out).as_deref() != Some(text) {
        return None;
    }
    Some(Encoded {
        text: out,
        transforms: vec!["record-table"],
    })
}

/// The records of `lines`: each start line and the header lines right after it.
fn parse<'a>(lines: &[&'a str]) -> Vec<Record<'a>> {
    let mut records = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let Some(start) = start_value(lines[i]) else {
            i += 1;
            continue;
        };
        let mut heads = Vec::new();
        let mut raw = false;
        let mut j = i + 1;
        while let Some(h) = lines.get(j).and_then(|l| key_line(l)) {
            if heads.len() == MAX_COLS {
                raw = true;
                break;
            }
            heads.push(h);
            j += 1;
        }
        records.push(Record {
            line: i,
            start,
            heads,
            raw,
            cols: Vec::new(),
        });
        // A raw record's remaining key lines are verbatim lines like any other.
        i = j;
    }
    records
}

/// The columns for `records` (marking those that do not fit as raw); `None` if none fit. Without
/// `optional`, records with a header line that some other record lacks do not fit.
fn schema(records: &mut [Record], optional: bool) -> Option<Vec<Column>> {
    // Keys in an order every record agrees with: a new key goes right after the record's previous
    // key (or first); spacing by majority.
    let mut keys: Vec<&str> = Vec::new();
    let mut spacings: Vec<Vec<(&str, usize)>> = Vec::new();
    for r in records.iter_mut().filter(|r| !r.raw) {
        let mut at = 0;
        for &(k, sp, _) in &r.heads {
            let pos = match keys.iter().position(|x| *x == k) {
                Some(p) => p,
                None if keys.len() < MAX_COLS => {
                    keys.insert(at, k);
                    spacings.insert(at, Vec::new());
                    at
                }
                None => {
                    r.raw = true;
                    break;
                }
            };
            let s = &mut spacings[pos];
            if let Some((_, n)) = s.iter_mut().find(|(x, _)| *x == sp) {
                *n += 1;
            } else if s.len() < MAX_SPACINGS {
                s.push((sp, 1));
            }
            at = pos + 1;
        }
    }
    let spacing: Vec<&str> = spacings
        .iter()
        .map(|s| s.iter().max_by_key(|(_, n)| *n).map_or("", |(sp, _)| *sp))
        .collect();
    // Which records fit: keys in order, each once, with the column's spacing, writable values.
    // `cols[r]` = the column of each header line of record r.
    let mut cols: Vec<Vec<usize>> = Vec::with_capacity(records.len());
    let mut present = vec![0usize; keys.len()];
    let mut fitting = 0usize;
    for r in records.iter_mut() {
        let mut c = Vec::with_capacity(r.heads.len());
        if !r.raw && literal_ok(r.start) {
            let mut next = 0;
            for &(k, sp, v) in &r.heads {
                match keys[next..].iter().position(|x| *x == k) {
                    Some(p) if spacing[next + p] == sp && literal_ok(v) => {
                        c.push(next + p);
                        next += p + 1;
                    }
                    _ => {
                        r.raw = true;
                        break;
                    }
                }
            }
        } else {
            r.raw = true;
        }
        if !r.raw {
            fitting += 1;
            for &k in &c {
                present[k] += 1;
            }
        }
        cols.push(c);
    }
    if !optional {
        for (r, c) in records.iter_mut().zip(&cols) {
            if !r.raw && c.iter().any(|&k| present[k] != fitting) {
                r.raw = true;
            }
        }
        present.iter_mut().for_each(|n| *n = 0);
        fitting = 0;
        for (r, c) in records.iter().zip(&cols) {
            if !r.raw {
                fitting += 1;
                for &k in c {
                    present[k] += 1;
                }
            }
        }
    }
    if fitting < MIN_ROWS {
        return None;
    }
    // Blank meanings: absent for optional columns; for required ones the earlier required column
    // whose value they repeat in most rows (at least half), else empty.
    let required: Vec<bool> = present.iter().map(|&n| n == fitting).collect();
    let mut blank: Vec<Blank> = required
        .iter()
        .map(|&req| if req { Blank::Empty } else { Blank::Absent })
        .collect();
    let mut values: Vec<Vec<&str>> = vec![Vec::new(); keys.len()];
    for (r, c) in records.iter().zip(&cols) {
        if !r.raw {
            for (&(_, _, v), &k) in r.heads.iter().zip(c) {
                if required[k] {
                    values[k].push(v);
                }
            }
        }
    }
    for j in 0..keys.len() {
        if !required[j] {
            continue;
        }
        let best = (0..j)
            .filter(|&i| required[i])
            .map(|i| {
                let same = values[i].iter().zip(&values[j]).filter(|(a, b)| a == b);
                (same.count(), i)
            })
            .max_by_key(|&(n, i)| (n, std::cmp::Reverse(i)));
        if let Some((n, i)) = best
            && n >= MIN_ROWS
            && 2 * n >= fitting
            && keys[i] != "commit"
        {
            blank[j] = Blank::Same(i + 1);
        }
    }
    let mut columns = vec![Column {
        prefix: START.to_owned(),
        blank: Blank::Empty,
    }];
    let mut renumber = vec![0usize; keys.len()];
    for k in 0..keys.len() {
        if present[k] == 0 {
            continue;
        }
        renumber[k] = columns.len();
        columns.push(Column {
            prefix: format!("{}:{}", keys[k], spacing[k]),
            blank: blank[k],
        });
    }
    for c in columns.iter_mut() {
        if let Blank::Same(i) = c.blank {
            c.blank = Blank::Same(renumber[i - 1]);
        }
    }
    for (r, c) in records.iter_mut().zip(cols) {
        if !r.raw {
            r.cols = c.into_iter().map(|k| renumber[k]).collect();
        }
    }
    Some(columns)
}

/// The encoded lines after the `@columns` line, and how many rows they have.
fn emit(lines: &[&str], records: &[Record], columns: &[Column]) -> (usize, String) {
    let mut out = String::new();
    let mut rows = 0usize;
    let mut prev: Vec<Option<&str>> = vec![None; columns.len()];
    let mut row: Vec<Option<&str>> = vec![None; columns.len()];
    let mut fields: Vec<&str> = Vec::with_capacity(columns.len());
    let mut next = 0usize; // next input line to copy
    let push_line = |out: &mut String, l: &str, first: &mut bool| {
        if !*first {
            out.push('\n');
        }
        *first = false;
        out.push_str(l);
    };
    let mut first = true;
    for r in records {
        for l in &lines[next..r.line] {
            push_line(&mut out, l, &mut first);
        }
        next = r.line;
        if r.raw {
            continue;
        }
        row.iter_mut().for_each(|v| *v = None);
        row[0] = Some(r.start);
        for (&(_, _, v), &k) in r.heads.iter().zip(&r.cols) {
            row[k] = Some(v);
        }
        fields.clear();
        let mut ok = true;
        for (j, c) in columns.iter().enumerate() {
            let field = match (c.blank, row[j]) {
                (Blank::Absent, None) => "",
                (Blank::Absent, Some("")) => {
                    ok = false;
                    break;
                }
                (Blank::Same(d), Some(v)) if row[d] == Some(v) => "",
                (Blank::Same(_), Some("")) => {
                    ok = false;
                    break;
                }
                (Blank::Empty, Some("")) => "",
                (_, Some(v)) if prev[j] == Some(v) => DITTO,
                (_, Some(v)) => v,
                (_, None) => {
                    ok = false;
                    break;
                }
            };
            fields.push(field);
        }
        if !ok {
            continue; // verbatim
        }
        while fields.last() == Some(&"") {
            fields.pop();
        }
        let mut line = String::from(ROW);
        for (j, f) in fields.iter().enumerate() {
            if j > 0 {
                line.push_str(SEP);
            }
            line.push_str(f);
        }
        push_line(&mut out, &line, &mut first);
        std::mem::swap(&mut prev, &mut row);
        rows += 1;
        next = r.line + 1 + r.heads.len();
    }
    for l in &lines[next..] {
        push_line(&mut out, l, &mut first);
    }
    (rows, out)
}

fn columns_line(columns: &[Column]) -> String {
    let mut s = String::from(COLUMNS);
    for (j, c) in columns.iter().enumerate() {
        if j > 0 {
            s.push_str(SEP);
        }
        s.push_str(&c.prefix);
        s.push_str("{}");
        match c.blank {
            Blank::Empty => {}
            Blank::Absent => s.push_str(BLANK_ABSENT),
            Blank::Same(d) => {
                s.push_str(BLANK_SAME);
                s.push_str(columns[d].name());
                s.push(')');
            }
        }
    }
    s
}

fn parse_columns(line: &str) -> Option<Vec<Column>> {
    let mut columns: Vec<Column> = Vec::new();
    for spec in line.strip_prefix(COLUMNS)?.split(SEP) {
        let end = spec.find("{}")?;
        let prefix = &spec[..end];
        let blank = match &spec[end + 2..] {
            "" => Blank::Empty,
            BLANK_ABSENT => Blank::Absent,
            rest => {
                let name = rest.strip_prefix(BLANK_SAME)?.strip_suffix(')')?;
                Blank::Same(columns.iter().position(|c| c.name() == name)?)
            }
        };
        columns.push(Column {
            prefix: prefix.to_owned(),
            blank,
        });
    }
    if columns.is_empty() || columns[0].blank != Blank::Empty {
        return None;
    }
    Some(columns)
}

/// The fields of a row (after `@ `): split on `|`, one space each side of every separator.
fn split_row(row: &str) -> Option<Vec<&str>> {
    let pieces: Vec<&str> = row.split('|').collect();
    let last = pieces.len() - 1;
    pieces
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let p = if i > 0 { p.strip_prefix(' ')? } else { p };
            if i < last {
                p.strip_suffix(' ')
            } else {
                Some(p)
            }
        })
        .collect()
}

pub fn decode(encoded: &str) -> Option<String> {
    let mut lines = encoded.split('\n');
    if lines.next()? != LEGEND {
        return None;
    }
    let columns = parse_columns(lines.next()?)?;
    let mut out = String::with_capacity(encoded.len() * 2);
    let mut prev: Vec<Option<String>> = vec![None; columns.len()];
    let mut first = true;
    for line in lines {
        let Some(row) = line.strip_prefix(ROW) else {
            if !first {
                out.push('\n');
            }
            first = false;
            out.push_str(line);
            continue;
        };
        let fields = split_row(row)?;
        if fields.len() > columns.len() {
            return None;
        }
        let mut values: Vec<Option<String>> = Vec::with_capacity(columns.len());
        for (j, c) in columns.iter().enumerate() {
            let f = fields.get(j).copied().unwrap_or("");
            let v = match f {
                DITTO => Some(prev[j].clone()?),
                "" => match c.blank {
                    Blank::Empty => Some(String::new()),
                    Blank::Absent => None,
                    Blank::Same(d) => Some(values.get(d)?.clone()?),
                },
                v => Some(v.to_owned()),
            };
            if let Some(v) = &v {
                if !first {
                    out.push('\n');
                }
                first = false;
                out.push_str(&c.prefix);
                out.push_str(v);
            }
            values.push(v);
        }
        prev = values;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const LOG: &str = include_str!("testdata/git-log.txt");
    const FULLER: &str = include_str!("testdata/git-log-fuller.txt");
    const STAT: &str = include_str!("testdata/git-log-stat.txt");
    const CODEX: &str = include_str!("testdata/codex-git-log.txt");

    fn round_trip(text: &str) -> Option<Encoded> {
        let e = encode(text)?;
        assert_eq!(decode(&e.text).as_deref(), Some(text));
        assert_eq!(e.transforms, vec!["record-table"]);
        assert!(estimate_tokens(&e.text) < estimate_tokens(text));
        Some(e)
    }

    #[test]
    fn real_samples_encode_and_round_trip() {
        for (name, text) in [
            ("log", LOG),
            ("fuller", FULLER),
            ("stat", STAT),
            ("codex", CODEX),
        ] {
            let e = round_trip(text).unwrap_or_else(|| panic!("{name} not encoded"));
            // Every record became a row; the bodies are still there.
            let commits = text.lines().filter(|l| start_value(l).is_some()).count();
            let rows = e.text.lines().filter(|l| l.starts_with(ROW)).count();
            assert!(rows * 4 >= commits * 3, "{name}\n{}", e.text);
            // Trimmed variants: no trailing newline, CRLF.
            round_trip(text.trim_end()).unwrap();
            round_trip(&text.replace('\n', "\r\n")).unwrap();
        }
    }

    #[test]
    fn golden_default_log() {
        let text = "commit 827a315bf2198558f0325b07bcc1e2cd973aba2f (HEAD -> master)\n\
Author: David Tolnay <dtolnay@gmail.com>\n\
Date:   Tue Jun 23 20:02:38 2026 -0700\n\
\n    Update actions/upload-artifact@v6 -> v7\n\n\
commit 1a360b0a6c003912afc3503c834b0edd798bca28\n\
Merge: 5d30df6 2037b63\n\
Author: David Tolnay <dtolnay@gmail.com>\n\
Date:   Thu May 21 22:23:39 2026 +0200\n\
\n    Merge pull request #1324 from puneetdixit200/reject-non-string-enum-keys\n\n\
commit 2037b634f9dccbddc11cff189ebeb5854fa0e01c\n\
Author: Puneet Dixit <236133619+puneetdixit200@users.noreply.github.com>\n\
Date:   Fri May 22 00:49:18 2026 +0530\n\
\n    Reject non-string enum object keys\n";
        let e = round_trip(text).unwrap();
        let expected = format!(
            "{LEGEND}\n\
@columns \"commit {{}}\" | \"Merge: {{}}\" (blank = no line) | \"Author: {{}}\" | \"Date:   {{}}\"\n\
@ 827a315bf2198558f0325b07bcc1e2cd973aba2f (HEAD -> master) |  | David Tolnay <dtolnay@gmail.com> | Tue Jun 23 20:02:38 2026 -0700\n\
\n    Update actions/upload-artifact@v6 -> v7\n\n\
@ 1a360b0a6c003912afc3503c834b0edd798bca28 | 5d30df6 2037b63 | ^ | Thu May 21 22:23:39 2026 +0200\n\
\n    Merge pull request #1324 from puneetdixit200/reject-non-string-enum-keys\n\n\
@ 2037b634f9dccbddc11cff189ebeb5854fa0e01c |  | Puneet Dixit <236133619+puneetdixit200@users.noreply.github.com> | Fri May 22 00:49:18 2026 +0530\n\
\n    Reject non-string enum object keys\n"
        );
        assert_eq!(e.text, expected);
    }

    #[test]
    fn golden_fuller_uses_same_column_blanks() {
        let e = round_trip(FULLER).unwrap();
        let mut lines = e.text.lines().skip(1);
        assert_eq!(
            lines.next(),
            Some(
                "@columns \"commit {}\" | \"Merge: {}\" (blank = no line) | \"Author:     {}\" | \
\"AuthorDate: {}\" | \"Commit:     {}\" (blank = Author) | \"CommitDate: {}\" (blank = AuthorDate)"
            )
        );
        assert_eq!(
            lines.next(),
            Some(
                "@ 827a315bf2198558f0325b07bcc1e2cd973aba2f |  | David Tolnay <dtolnay@gmail.com> | \
Tue Jun 23 20:02:38 2026 -0700"
            )
        );
    }

    #[test]
    fn adversarial_values_stay_verbatim() {
        let rec = |h: &str, a: &str| {
            format!("commit {h}\nAuthor: {a}\nDate:   Mon Jan 1 00:00:00 2024 +0000\n\n    msg\n\n")
        };
        let hs = [
            "1111111111111111111111111111111111111111",
            "2222222222222222222222222222222222222222",
            "3333333333333333333333333333333333333333",
            "4444444444444444444444444444444444444444",
        ];
        let text = [
            rec(hs[0], "A | B <a@b>"),
            rec(hs[1], "^"),
            rec(hs[2], "Zoë Ünïcødé <z@ë.example>"),
            rec(hs[3], "Zoë Ünïcødé <z@ë.example>"),
        ]
        .concat();
        let e = round_trip(&text).unwrap();
        assert!(e.text.contains("\ncommit 1111111111111111111111111111111111111111\nAuthor: A | B <a@b>\n"));
        assert!(e.text.contains("\ncommit 2222222222222222222222222222222222222222\nAuthor: ^\n"));
        // Different spacing or an unknown key order: verbatim; the rest still round-trips.
        let odd = text.replacen("Date:   Mon", "Date: Mon", 1);
        round_trip(&odd).unwrap();
        let swapped = format!(
            "{text}commit 5555555555555555555555555555555555555555\nDate:   x\nAuthor: y\n\n    m\n"
        );
        round_trip(&swapped).unwrap();
    }

    #[test]
    fn not_applicable() {
        for text in [
            "",
            "\n",
            "hello world\n",
            "827a315 Update actions/upload-artifact@v6 -> v7\ncea36a5 Update actions/checkout@v6 -> v7\n",
            "commit 827a315bf2198558f0325b07bcc1e2cd973aba2f\nAuthor: A <a@b>\nDate:   x\n\n    one\n",
            "Name: requests\nVersion: 2.31.0\n",
        ] {
            assert_eq!(encode(text), None, "{text:?}");
        }
        // A line already starting with the row prefix.
        let clash = format!("{LOG}@ not a row\n");
        assert_eq!(encode(&clash), None);
        // Text without the legend does not decode.
        assert_eq!(decode("commit 1234567\n"), None);
        assert_eq!(decode(""), None);
    }

    #[test]
    fn corrupt_encodings_do_not_panic() {
        let e = encode(FULLER).unwrap().text;
        for cut in (0..e.len()).step_by(7).filter(|&c| e.is_char_boundary(c)) {
            let _ = decode(&e[..cut]);
        }
        let _ = decode(&format!("{LEGEND}\n@columns \"commit {{}}\"\n@ ^\n"));
        let _ = decode(&format!("{LEGEND}\n@columns \"commit {{}}\" | \"A: {{}}\" (blank = B)\n@ x\n"));
        let _ = decode(&format!("{LEGEND}\n@columns \"commit {{}}\"\n@ a | b | c\n"));
    }

    fn arb_record() -> impl Strategy<Value = String> {
        let value = prop_oneof![
            Just("David Tolnay <dtolnay@gmail.com>".to_owned()),
            Just("Zoë <z@ë>".to_owned()),
            Just("^".to_owned()),
            Just("".to_owned()),
            Just("a | b".to_owned()),
            Just("x|".to_owned()),
            "[ -~é]{0,12}",
        ];
        (
            "[0-9a-f]{7,40}",
            prop_oneof![Just(""), Just(" (HEAD -> main, tag: v1)"), Just("\r")],
            proptest::option::of("[0-9a-f]{7} [0-9a-f]{7}"),
            value.clone(),
            prop_oneof![Just("Date:   "), Just("Date: "), Just("AuthorDate: ")],
            value,
            proptest::collection::vec(
                prop_oneof![
                    Just("".to_owned()),
                    "    [ -~]{0,20}",
                    " [a-z/]{1,10} \\| [0-9]{1,3} \\+*-*",
                    Just("@@ -1 +1 @@".to_owned()),
                    Just("Key: not a header".to_owned()),
                ],
                0..4,
            ),
        )
            .prop_map(|(h, deco, merge, author, date_key, date, body)| {
                let mut s = format!("commit {h}{deco}\n");
                if let Some(m) = merge {
                    s.push_str(&format!("Merge: {m}\n"));
                }
                s.push_str(&format!("Author: {author}\n{date_key}{date}\n"));
                for l in body {
                    s.push_str(&l);
                    s.push('\n');
                }
                s
            })
    }

    proptest! {
        #[test]
        fn generated_logs_round_trip(
            records in proptest::collection::vec(arb_record(), 0..8),
            preamble in prop_oneof![Just(""), Just("Output:\n"), Just("x\r\n")],
            trim in any::<bool>(),
            crlf in any::<bool>(),
        ) {
            let mut text = format!("{preamble}{}", records.concat());
            if trim {
                text.pop();
            }
            if crlf {
                text = text.replace('\n', "\r\n");
            }
            if let Some(e) = encode(&text) {
                prop_assert_eq!(decode(&e.text), Some(text.clone()));
                prop_assert!(estimate_tokens(&e.text) < estimate_tokens(&text));
            }
        }

        #[test]
        fn arbitrary_text_never_panics(text in "(commit [0-9a-f]{7}|[A-Z][a-z]{0,3}: ?[ -~]{0,8}|@ |\\^|\\||\r|\n|[ -~é]{0,5}){0,40}") {
            if let Some(e) = encode(&text) {
                prop_assert_eq!(decode(&e.text), Some(text.clone()));
            }
            let _ = decode(&text);
        }
    }

    /// `cargo test -p headroom-compress --lib records -- --ignored --nocapture`: cl100k savings on
    /// the fixtures (and on any `/tmp/rec/*.txt`).
    #[test]
    #[ignore]
    fn cl100k_savings() {
        let bpe = tiktoken_rs::cl100k_base().unwrap();
        let mut inputs: Vec<(String, String)> = [
            ("git-log.txt", LOG),
            ("git-log-fuller.txt", FULLER),
            ("git-log-stat.txt", STAT),
            ("codex-git-log.txt", CODEX),
        ]
        .iter()
        .map(|(n, t)| (n.to_string(), t.to_string()))
        .collect();
        if let Ok(dir) = std::fs::read_dir("/tmp/rec") {
            let mut extra: Vec<_> = dir.flatten().map(|e| e.path()).collect();
            extra.sort();
            for p in extra {
                if let Ok(t) = std::fs::read_to_string(&p) {
                    inputs.push((p.display().to_string(), t));
                }
            }
        }
        for (name, text) in inputs {
            let before = bpe.encode_ordinary(&text).len();
            match encode(&text) {
                Some(e) => {
                    assert_eq!(decode(&e.text).as_deref(), Some(text.as_str()));
                    let after = bpe.encode_ordinary(&e.text).len();
                    println!(
                        "{name}: {} B, cl100k {before} -> {after} ({:.1}% saved)",
                        text.len(),
                        100.0 * (before - after.min(before)) as f64 / before as f64
                    );
                }
                None => println!("{name}: {} B, cl100k {before}: None", text.len()),
            }
        }
    }
}
