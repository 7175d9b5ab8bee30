//! Multi-line records (`git log` and friends) as a table: one line per record's header fields.
//!
//! A record starts with a line `commit <hex>…` (default `git log`, `--stat`, `--format=fuller`,
//! `-p`, decorations) and continues with its header lines `Key:<spaces>value` (`Merge:`,
//! `Author:`, `Date:`, `AuthorDate:`…). The encoding replaces those lines by one row
//!
//! ```text
//! @ cea36a5c017ebffdeb95d0cd0f1aad473bfab758|^|Sat Jun 20 15:19:49|^
//! ```
//!
//! whose `|`-separated values fill, in order, the templates of a `@columns` line stated once
//! (`@columns commit {} | Merge: {} (blank = no line) | Author: {} | Date:   {} {}`): the exact
//! key spacing is part of the template, and a `{} {}` column (dates) takes its last two words as
//! a value of their own (`2026 -0700`). A value `^` repeats the previous row's value in that
//! place; a blank value is what the column says (`(blank = no line)`: the record has no such
//! line; `(blank = Author)`: the value of this row's Author column; otherwise the empty value), and
//! missing trailing values are blank. Every other line (message bodies, `--stat` lines, records
//! that do not fit the columns) is kept verbatim.
//!
//! No input line may start with `@ ` (the rows' prefix; git indents message lines by 4 spaces and
//! stat lines by 1, and hunk headers start with `@@`): such inputs are not encoded. Records whose
//! values would be ambiguous (a literal `^`, a `|`, a key out of order or with other spacing, an
//! empty value where blank means something else) stay verbatim. Optional columns are tried both
//! ways (kept, or their records verbatim) and the cheaper table wins.

use crate::{Encoded, estimate_tokens};

/// The first line of every record-table encoding.
pub const LEGEND: &str = "[headroom: lossless shorthand. record-table: each @ line stands for a record's header lines, filling the @columns templates with its | separated values; ^ = the value above; blank = as the column says, else empty]";
const COLUMNS: &str = "@columns ";
const ROW: &str = "@ ";
/// Between the templates of the `@columns` line.
const SEP: &str = " | ";
/// Between the values of a row (cl100k: `|^` and `||` are one token each).
const ROW_SEP: char = '|';
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
fn git_start_value(line: &str) -> Option<&str> {
    let v = line.strip_prefix(START)?;
    let b = v.as_bytes();
    let hex = b
        .iter()
        .take_while(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(c))
        .count();
    (hex >= 7 && matches!(b.get(hex), None | Some(b' ' | b'\r'))).then_some(v)
}

/// How records start: `commit <hex>` lines, or else lines `K:<spacing>` for the first key `K` (with
/// that spacing) seen on two lines or more (`pip show`'s `Name: `, `apt-cache show`'s `Package: `).
#[derive(Clone, Copy)]
struct Start<'a> {
    /// `commit ` or `K:<spacing>`.
    prefix: &'a str,
    git: bool,
}

/// Distinct `K:<spacing>` prefixes counted when looking for a start key.
const MAX_START_KEYS: usize = 64;

impl<'a> Start<'a> {
    fn find(lines: &[&'a str]) -> Option<Start<'a>> {
        if lines.iter().any(|l| git_start_value(l).is_some()) {
            return Some(Start {
                prefix: START,
                git: true,
            });
        }
        let mut seen: Vec<(&str, usize)> = Vec::new();
        for l in lines {
            if let Some((k, sp, _)) = key_line(l) {
                let prefix = &l[..k.len() + 1 + sp.len()];
                if let Some((_, n)) = seen.iter_mut().find(|(p, _)| *p == prefix) {
                    *n += 1;
                } else if seen.len() < MAX_START_KEYS {
                    seen.push((prefix, 1));
                }
            }
        }
        let (prefix, _) = seen.into_iter().find(|&(_, n)| n >= MIN_ROWS)?;
        Some(Start { prefix, git: false })
    }

    /// What follows the prefix on a start line.
    fn value<'b>(&self, line: &'b str) -> Option<&'b str> {
        if self.git {
            return git_start_value(line);
        }
        let v = line.strip_prefix(self.prefix)?;
        // The spacing is all of it (`key_line` reads the same key, spacing and value).
        let exact = !v.starts_with(' ') && (self.prefix.ends_with(' ') || v.is_empty());
        exact.then_some(v)
    }

    fn name(&self) -> &str {
        let end = self.prefix.find([':', ' ']).unwrap_or(self.prefix.len());
        &self.prefix[..end]
    }
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
    /// The template is `prefix{} {}`: the value's last two space-separated words are a value of
    /// their own (a date's `2026 -0700`, which `^` can then repeat).
    split: bool,
}

impl Column {
    /// The name a `(blank = NAME)` refers to: the prefix up to its `:` or space.
    fn name(&self) -> &str {
        let end = self.prefix.find([':', ' ']).unwrap_or(self.prefix.len());
        &self.prefix[..end]
    }
}

/// `v` as its part before its last two words and those two words (joined back by a space).
fn split_value(v: &str) -> Option<(&str, &str)> {
    let last = v.rfind(' ')?;
    let p = v[..last].rfind(' ')?;
    Some((&v[..p], &v[p + 1..]))
}

/// A value can be written literally in a row (it is not read as a separator or a ditto).
fn literal_ok(v: &str) -> bool {
    v != DITTO && !v.contains('|')
}

pub fn encode(text: &str) -> Option<Encoded> {
    let (cost, out) = candidate(text)?;
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

/// The cheapest table encoding of `text` and its `estimate_tokens` (unverified, maybe dearer).
fn candidate(text: &str) -> Option<(usize, String)> {
    let lines: Vec<&str> = text.split('\n').collect();
    if lines.iter().any(|l| l.starts_with(ROW)) {
        return None;
    }
    let start = Start::find(&lines)?;
    let records = parse(&lines, start);
    if records.len() < MIN_ROWS {
        return None;
    }
    // Key-started records must look like records, not like a log of `INFO: …` lines.
    if !start.git && records.iter().map(|r| r.heads.len()).sum::<usize>() < 2 * records.len() {
        return None;
    }
    // With optional columns (blank = no line), and without (their records verbatim): the cheaper.
    let mut best: Option<(usize, String)> = None;
    for optional in [true, false] {
        let mut records = records.clone();
        let Some(columns) = schema(&mut records, start, optional) else {
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
            if best.as_ref().is_none_or(|b| cost < b.0) {
                best = Some((cost, out));
            }
        }
        if !has_optional {
            break;
        }
    }
    best
}

/// The records of `lines`: each start line and the header lines right after it.
fn parse<'a>(lines: &[&'a str], start: Start) -> Vec<Record<'a>> {
    let mut records = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let Some(value) = start.value(lines[i]) else {
            i += 1;
            continue;
        };
        let mut heads = Vec::new();
        let mut raw = false;
        let mut j = i + 1;
        while let Some(h) = lines
            .get(j)
            .filter(|l| start.value(l).is_none())
            .and_then(|l| key_line(l))
        {
            if heads.len() == MAX_COLS {
                raw = true;
                break;
            }
            heads.push(h);
            j += 1;
        }
        records.push(Record {
            line: i,
            start: value,
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
fn schema(records: &mut [Record], start: Start, optional: bool) -> Option<Vec<Column>> {
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
            && keys[i] != start.name()
        {
            blank[j] = Blank::Same(i); // a key index until renumbered below
        }
    }
    // Split columns: every value has a two-word tail, mostly the previous row's while the whole
    // value is not (dates: `Tue Jun 23 20:02:38` | `2026 -0700`).
    let split: Vec<bool> = (0..keys.len())
        .map(|j| {
            let parts: Option<Vec<(&str, &str)>> = required[j]
                .then(|| values[j].iter().map(|v| split_value(v)).collect())
                .flatten();
            parts.is_some_and(|p| {
                let repeats = p
                    .windows(2)
                    .filter(|w| w[0].1 == w[1].1 && w[0].0 != w[1].0)
                    .count();
                blank[j] == Blank::Empty
                    && 2 * repeats >= fitting
                    && p.iter().all(|(h, _)| *h != DITTO)
            })
        })
        .collect();
    let mut columns = vec![Column {
        prefix: start.prefix.to_owned(),
        blank: Blank::Empty,
        split: false,
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
            split: split[k],
        });
    }
    for c in columns.iter_mut() {
        if let Blank::Same(i) = c.blank {
            c.blank = Blank::Same(renumber[i]);
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
    // The values of each field (a split column has two) of the previous row and of this one.
    let mut prev: Vec<Option<&str>> = Vec::new();
    let mut slots: Vec<Option<&str>> = Vec::new();
    let mut row: Vec<Option<&str>> = vec![None; columns.len()];
    let mut fields: Vec<&str> = Vec::with_capacity(2 * columns.len());
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
        slots.clear();
        let mut ok = true;
        for (j, c) in columns.iter().enumerate() {
            if c.split {
                let Some((head, tail)) = row[j].and_then(split_value) else {
                    ok = false;
                    break;
                };
                for part in [head, tail] {
                    let field = if part.is_empty() {
                        ""
                    } else if prev.get(slots.len()) == Some(&Some(part)) {
                        DITTO
                    } else if part == DITTO {
                        ok = false;
                        break;
                    } else {
                        part
                    };
                    fields.push(field);
                    slots.push(Some(part));
                }
                if !ok {
                    break;
                }
                continue;
            }
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
                (_, Some(v)) if prev.get(slots.len()) == Some(&Some(v)) => DITTO,
                (_, Some(v)) => v,
                (_, None) => {
                    ok = false;
                    break;
                }
            };
            fields.push(field);
            slots.push(row[j]);
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
                line.push(ROW_SEP);
            }
            line.push_str(f);
        }
        push_line(&mut out, &line, &mut first);
        std::mem::swap(&mut prev, &mut slots);
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
        s.push_str(if c.split { "{} {}" } else { "{}" });
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
        let rest = &spec[end + 2..];
        let (split, rest) = match rest.strip_prefix(" {}") {
            Some(r) => (true, r),
            None => (false, rest),
        };
        let blank = match rest {
            "" => Blank::Empty,
            BLANK_ABSENT => Blank::Absent,
            rest => {
                let name = rest.strip_prefix(BLANK_SAME)?.strip_suffix(')')?;
                Blank::Same(columns.iter().position(|c| c.name() == name)?)
            }
        };
        if split && blank != Blank::Empty {
            return None;
        }
        columns.push(Column {
            prefix: prefix.to_owned(),
            blank,
            split,
        });
    }
    if columns.is_empty() || columns[0].blank != Blank::Empty || columns[0].split {
        return None;
    }
    Some(columns)
}

pub fn decode(encoded: &str) -> Option<String> {
    let mut lines = encoded.split('\n');
    if lines.next()? != LEGEND {
        return None;
    }
    let columns = parse_columns(lines.next()?)?;
    let mut out = String::with_capacity(encoded.len() * 2);
    let slots: usize = columns.iter().map(|c| 1 + usize::from(c.split)).sum();
    // The values of each field of the previous row (for `^`).
    let mut prev: Vec<Option<String>> = vec![None; slots];
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
        let fields: Vec<&str> = row.split(ROW_SEP).collect();
        if fields.len() > slots {
            return None;
        }
        let mut this: Vec<Option<String>> = Vec::with_capacity(slots);
        let mut values: Vec<Option<String>> = Vec::with_capacity(columns.len());
        for c in &columns {
            let mut field = |blank: Blank, values: &[Option<String>]| -> Option<Option<String>> {
                let k = this.len();
                let v = match fields.get(k).copied().unwrap_or("") {
                    DITTO => Some(prev[k].clone()?),
                    "" => match blank {
                        Blank::Empty => Some(String::new()),
                        Blank::Absent => None,
                        Blank::Same(d) => Some(values.get(d)?.clone()?),
                    },
                    v => Some(v.to_owned()),
                };
                this.push(v.clone());
                Some(v)
            };
            let v = if c.split {
                let head = field(Blank::Empty, &values)?;
                let tail = field(Blank::Empty, &values)?;
                Some(format!("{} {}", head?, tail?))
            } else {
                field(c.blank, &values)?
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
        prev = this;
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
    const PIP: &str = include_str!("testdata/pip-show.txt");

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
            let commits = text
                .lines()
                .filter(|l| git_start_value(l).is_some())
                .count();
            let rows = e.text.lines().filter(|l| l.starts_with(ROW)).count();
            assert!(rows * 4 >= commits * 3, "{name}\n{}", e.text);
            // Trimmed variants: no trailing newline, CRLF.
            round_trip(text.trim_end()).unwrap();
            round_trip(&text.replace('\n', "\r\n")).unwrap();
        }
    }

    /// The encodings of the fixtures, as reviewed (`UPDATE_GOLDEN=1` rewrites them).
    #[test]
    fn goldens() {
        for (name, text) in [
            ("git-log", LOG),
            ("git-log-fuller", FULLER),
            ("pip-show", PIP),
        ] {
            let e = round_trip(text).unwrap();
            let path = format!(
                "{}/src/text/testdata/{name}.encoded",
                env!("CARGO_MANIFEST_DIR")
            );
            if std::env::var_os("UPDATE_GOLDEN").is_some() {
                std::fs::write(&path, &e.text).unwrap();
            }
            assert_eq!(e.text, std::fs::read_to_string(&path).unwrap(), "{name}");
        }
        let e = round_trip(FULLER).unwrap();
        let mut lines = e.text.lines().skip(1);
        assert_eq!(
            lines.next(),
            Some(
                "@columns commit {} | Merge: {} (blank = no line) | Author:     {} | AuthorDate: {} {} \
| Commit:     {} (blank = Author) | CommitDate: {} (blank = AuthorDate)"
            )
        );
        assert_eq!(
            lines.next(),
            Some(
                "@ 827a315bf2198558f0325b07bcc1e2cd973aba2f||David Tolnay <dtolnay@gmail.com>|\
Tue Jun 23 20:02:38|2026 -0700"
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
        let mut text = [
            rec(hs[0], "A | B <a@b>"),
            rec(hs[1], "^"),
            rec(hs[2], "Zoë Ünïcødé <z@ë.example>"),
            rec(hs[3], "Zoë Ünïcødé <z@ë.example>"),
        ]
        .concat();
        for i in 0..12 {
            text.push_str(&rec(
                &format!("{i:040x}"),
                &format!("Dev {} <d@e.org>", i % 3),
            ));
        }
        let e = round_trip(&text).unwrap();
        assert!(
            e.text.contains(
                "\ncommit 1111111111111111111111111111111111111111\nAuthor: A | B <a@b>\n"
            )
        );
        assert!(
            e.text
                .contains("\ncommit 2222222222222222222222222222222222222222\nAuthor: ^\n")
        );
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
        let info_log = "INFO: starting worker\nINFO: worker ready\nWARN: slow\n".repeat(40);
        for text in [
            "",
            "\n",
            "hello world\n",
            "827a315 Update actions/upload-artifact@v6 -> v7\ncea36a5 Update actions/checkout@v6 -> v7\n",
            "commit 827a315bf2198558f0325b07bcc1e2cd973aba2f\nAuthor: A <a@b>\nDate:   x\n\n    one\n",
            "Name: requests\nVersion: 2.31.0\n",
            info_log.as_str(),
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
        for bad in [
            "@columns commit {}\n@ ^\n",
            "@columns commit {} | A: {} (blank = B)\n@ x\n",
            "@columns commit {} | A: {} (blank = A)\n@ x\n",
            "@columns commit {}\n@ a | b | c\n",
            "@columns commit {} (blank = no line)\n@ x\n",
            "@columns commit {} | {}{}\n@ x | y\n",
            "@columns \n@ \n",
        ] {
            let _ = decode(&format!("{LEGEND}\n{bad}"));
        }
    }

    fn arb_record() -> impl Strategy<Value = String> {
        // Mostly realistic values (so that tables, splits and savings happen), some adversarial.
        let value = prop_oneof![
            12 => Just("David Tolnay <dtolnay@gmail.com>".to_owned()),
            4 => Just("Zoë <z@ë>".to_owned()),
            1 => Just("^".to_owned()),
            1 => Just("".to_owned()),
            1 => Just("a | b".to_owned()),
            1 => Just("x|".to_owned()),
            1 => "[ -~é]{0,12}",
        ];
        let date = prop_oneof![
            1 => value.clone(),
            60 => "(Mon|Tue) Jan [1-3] 0[0-9]:00:00 2024 (\\+0000|-0700)",
            1 => Just("^ 2024 +0000".to_owned()),
            1 => Just("Tue ^ 2024".to_owned()),
            1 => Just("x  y".to_owned()),
            1 => Just("  ".to_owned()),
        ];
        (
            prop_oneof!["[0-9a-f]{40}", "[0-9a-f]{7,39}"],
            prop_oneof![8 => Just(""), 1 => Just(" (HEAD -> main, tag: v1)"), 1 => Just("\r")],
            proptest::option::of("[0-9a-f]{7} [0-9a-f]{7}"),
            value.clone(),
            prop_oneof![20 => Just("Date:   "), 1 => Just("Date: "), 1 => Just("AuthorDate: ")],
            date,
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

    /// The generator below reaches tables with optional, split and raw records (not just `None`).
    #[test]
    fn generator_reaches_tables() {
        use proptest::strategy::ValueTree;
        let mut runner = proptest::test_runner::TestRunner::deterministic();
        let strategy = proptest::collection::vec(arb_record(), 2..24);
        let (mut tables, mut split, mut optional, mut raw, mut encoded) = (0, 0, 0, 0, 0);
        for _ in 0..300 {
            let text = strategy.new_tree(&mut runner).unwrap().current().concat();
            if let Some((_, c)) = candidate(&text) {
                assert_eq!(decode(&c).as_deref(), Some(text.as_str()));
                tables += 1;
                let columns = c.lines().nth(1).unwrap();
                split += usize::from(columns.contains("{} {}"));
                optional += usize::from(columns.contains(BLANK_ABSENT));
                raw += usize::from(c.lines().any(|l| l.starts_with(START)));
            }
            encoded += usize::from(encode(&text).is_some());
        }
        assert!(
            tables > 150 && split > 10 && optional > 10 && raw > 50 && encoded > 10,
            "{tables} {split} {optional} {raw} {encoded}"
        );
    }

    proptest! {
        #[test]
        fn generated_logs_round_trip(
            records in proptest::collection::vec(arb_record(), 0..24),
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
            // Every table (cheaper or not) decodes back exactly.
            if let Some((_, c)) = candidate(&text) {
                prop_assert_eq!(decode(&c), Some(text.clone()));
            }
            if let Some(e) = encode(&text) {
                prop_assert_eq!(decode(&e.text), Some(text.clone()));
                prop_assert!(estimate_tokens(&e.text) < estimate_tokens(&text));
            }
        }

        #[test]
        fn arbitrary_text_never_panics(text in "(commit [0-9a-f]{7}|[A-Z][a-z]{0,3}: ?[ -~]{0,8}|@ |\\^|\\||\r|\n|[ -~é]{0,5}){0,40}") {
            if let Some((_, c)) = candidate(&text) {
                prop_assert_eq!(decode(&c), Some(text.clone()));
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
            ("pip-show.txt", PIP),
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
