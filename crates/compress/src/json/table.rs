//! The document writer (minified JSON, long arrays one element per line, uniform arrays/objects as
//! tables) and the parser of table blocks.
//!
//! A table block replaces one array or object value; the JSON around it stays JSON:
//! ```text
//! {"total_count":3,"items":
//! @table 3 rows; columns: id:int|name:str|private=false|owner.login:str
//! 1|headroom|alice
//! 2|"null"|bob
//! 3|x|"a|b"
//! @end
//! ,"incomplete_results":false}
//! ```
//! Our minified JSON never contains a raw newline, so a line starting with `@` is always ours.
//! Columns are paths into the row objects (`owner.login` = key `login` inside `owner`); a column
//! written `k=v` is the same in every row and left out of the rows. A cell is plain text when that
//! cannot be mistaken for anything else, otherwise a minified JSON value; an empty cell means
//! the row has no such key (rows may lack keys as long as all rows order keys alike). `@object N
//! entries` is the same for an object of objects, its first cell being the key.
//!
//! Each candidate is weighed against the same value written as JSON with tables allowed further
//! down (an array of packages each holding a list of dependencies is cheaper as JSON around
//! dependency tables than as a package table with JSON cells).

use super::value::{Parser, Value, is_number, min_len_upto, write_min, write_str};
use crate::estimate_tokens;
use std::borrow::Cow;

const DELIM: char = '|';
/// Rows need at least this many objects for a header to pay off.
const MIN_ROWS: usize = 3;
/// Arrays written one element per line: longer than this (minified) and with enough elements.
const LINES_MIN_CHARS: usize = 200;
const LINES_MIN_ITEMS: usize = 8;
/// Nested objects are flattened into dotted columns at most this deep.
const MAX_FLATTEN: usize = 6;
/// Candidate tables nested in candidate tables are weighed only this deep, which bounds the
/// work at a few passes over the input.
const MAX_NEST: usize = 3;

#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Used {
    pub table: bool,
    pub keyed: bool,
    pub lines: bool,
    pub sparse: bool,
    pub affix: bool,
    /// Some table's column order came from merging the rows' key orders.
    pub merged: bool,
}

/// Writes `v` as our document format; `tables` allows table blocks.
pub(super) fn render(v: &Value, tables: bool) -> (String, Used) {
    render_with(v, tables, false)
}

/// `force`: every table candidate becomes a table, cheaper or not (to test the grammar).
pub(super) fn render_with(v: &Value, tables: bool, force: bool) -> (String, Used) {
    render_opts(v, tables, force, true)
}

/// `affix`: string columns may state a shared prefix/suffix once in the header.
pub(super) fn render_opts(v: &Value, tables: bool, force: bool, affix: bool) -> (String, Used) {
    let mut w = Writer {
        out: String::new(),
        tables,
        force,
        affix,
        nest: 0,
        used: Used::default(),
    };
    w.value(v);
    let text = w.out.trim_matches('\n').to_owned();
    (text, w.used)
}

struct Writer {
    out: String,
    tables: bool,
    force: bool,
    affix: bool,
    /// Tables considered around this point (each renders its subtree once more as JSON).
    nest: usize,
    used: Used,
}

impl Used {
    fn merge(&mut self, o: Used) {
        self.table |= o.table;
        self.keyed |= o.keyed;
        self.lines |= o.lines;
        self.sparse |= o.sparse;
        self.affix |= o.affix;
        self.merged |= o.merged;
    }
}

impl Writer {
    fn value(&mut self, v: &Value) {
        let plan = match v {
            Value::Array(items) if self.tables && self.nest < MAX_NEST => {
                plan_array(items, self.affix)
            }
            Value::Object(entries) if self.tables && self.nest < MAX_NEST => {
                plan_keyed(entries, self.affix)
            }
            _ => None,
        };
        match plan {
            Some(t) => self.table_or_json(&t, v),
            None => self.json(v),
        }
    }

    /// `v` with JSON brackets; its children still go through `value` (they may become tables).
    fn json(&mut self, v: &Value) {
        match v {
            Value::Array(items)
                if items.len() >= LINES_MIN_ITEMS
                    && min_len_upto(v, LINES_MIN_CHARS) > LINES_MIN_CHARS =>
            {
                // One element per line, so a later stage can cut whole lines.
                self.used.lines = true;
                self.out.push_str("[\n");
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        self.out.push_str(",\n");
                    }
                    self.value(item);
                }
                self.out.push_str("\n]");
            }
            Value::Array(items) => {
                self.out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        self.out.push(',');
                    }
                    self.value(item);
                }
                self.out.push(']');
            }
            Value::Object(entries) => {
                self.out.push('{');
                for (i, (k, item)) in entries.iter().enumerate() {
                    if i > 0 {
                        self.out.push(',');
                    }
                    write_str(k, &mut self.out);
                    self.out.push(':');
                    self.value(item);
                }
                self.out.push('}');
            }
            _ => write_min(v, &mut self.out),
        }
    }

    /// Emits `v` as the table `t` or as JSON (which may hold tables further down), whichever
    /// is cheaper.
    fn table_or_json(&mut self, t: &Table, v: &Value) {
        let mut block = String::new();
        t.write(&mut block);
        if !self.force {
            let mut alt = Writer {
                out: String::new(),
                tables: self.tables,
                force: false,
                affix: self.affix,
                nest: self.nest + 1,
                used: Used::default(),
            };
            alt.json(v);
            // Counting tokens is the costly part; a 40 % difference in bytes decides alone.
            let (b, a) = (block.len(), alt.out.len());
            let json_wins = if b * 5 <= a * 3 {
                false
            } else if a * 5 <= b * 3 {
                true
            } else {
                estimate_tokens(&alt.out) <= estimate_tokens(&block)
            };
            if json_wins {
                // `alt` starts with a bracket, so its blocks already start on lines of their own.
                self.out.push_str(&alt.out);
                self.used.merge(alt.used);
                return;
            }
        }
        if !self.out.is_empty() && !self.out.ends_with('\n') {
            self.out.push('\n');
        }
        self.out.push_str(&block);
        self.out.push('\n');
        if t.keys.is_some() {
            self.used.keyed = true;
        } else {
            self.used.table = true;
        }
        self.used.sparse |= t.sparse;
        self.used.affix |= t.columns.iter().any(|c| c.affix.is_some());
        self.used.merged |= t.merged;
    }
}

/// An object's entries.
type Entries<'a> = [(Cow<'a, str>, Value<'a>)];

struct Column<'a> {
    path: Vec<&'a str>,
    /// `None`: the row object has no such key.
    cells: Vec<Option<&'a Value<'a>>>,
    constant: bool,
    /// Prefix and suffix shared by every string cell, stated once in the header.
    affix: Option<(&'a str, &'a str)>,
}

struct Table<'a> {
    /// Keys of an `@object` table; `None` for an array.
    keys: Option<Vec<&'a str>>,
    rows: usize,
    columns: Vec<Column<'a>>,
    /// Some row lacks some column (written as an empty cell).
    sparse: bool,
    /// The column order is [`merged_order`]'s.
    merged: bool,
}

fn same_keys(a: &[(Cow<str>, Value)], b: &[(Cow<str>, Value)]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.0 == y.0)
}

fn non_empty_objects<'a>(rows: &[&'a Value<'a>]) -> Option<Vec<&'a Entries<'a>>> {
    rows.iter()
        .map(|r| match r {
            Value::Object(e) if !e.is_empty() => Some(e.as_slice()),
            _ => None,
        })
        .collect()
}

/// Rows that are all non-empty objects with the same keys in the same order (nested flattening).
fn uniform<'a>(rows: &[&'a Value<'a>]) -> Option<Vec<&'a Entries<'a>>> {
    let out = non_empty_objects(rows)?;
    let first = *out.first()?;
    out.iter().all(|e| same_keys(first, e)).then_some(out)
}

/// At most this many columns before flattening.
const MAX_COLUMNS: usize = 64;

/// One key order that every row's keys follow (each row is a subsequence of it), so rows that
/// lack some keys still fit one table. `None` when rows order keys inconsistently or the union
/// is too wide or too sparse to read as a table.
fn key_union<'a>(objs: &[&'a Entries<'a>]) -> Option<(Vec<&'a str>, bool)> {
    let (cols, merged) = match greedy_order(objs) {
        Some(cols) => (cols, false),
        None => (merged_order(objs)?, true),
    };
    let present: usize = objs.iter().map(|o| o.len()).sum();
    // At most 40 % empty cells: a mostly empty grid is harder to read than JSON.
    (present * 5 >= objs.len() * cols.len() * 3).then_some((cols, merged))
}

/// The union built row by row, each new key placed as late as its row allows.
fn greedy_order<'a>(objs: &[&'a Entries<'a>]) -> Option<Vec<&'a str>> {
    let first = objs.first()?;
    let mut cols: Vec<&str> = first.iter().map(|(k, _)| k.as_ref()).collect();
    let index = |cols: &[&'a str]| -> std::collections::HashMap<&'a str, usize> {
        cols.iter().enumerate().map(|(i, k)| (*k, i)).collect()
    };
    let mut at = index(&cols);
    let mut prev = *first;
    for o in objs {
        if same_keys(prev, o) {
            continue;
        }
        prev = o;
        let mut pos = 0;
        for (n, (k, _)) in o.iter().enumerate() {
            match at.get(k.as_ref()) {
                Some(&i) if i >= pos => pos = i + 1,
                Some(_) => return None,
                None => {
                    // As late as this row allows (before its next known key): optional keys
                    // seen earlier stay in front, as when APIs append fields.
                    let next = o[n + 1..].iter().find_map(|(k2, _)| at.get(k2.as_ref()));
                    let i = next.copied().unwrap_or(cols.len());
                    // A later key of this row sits before an earlier one: no order fits.
                    if i < pos {
                        return None;
                    }
                    cols.insert(i, k);
                    if cols.len() > MAX_COLUMNS {
                        return None;
                    }
                    at = index(&cols);
                    pos = i + 1;
                }
            }
        }
    }
    Some(cols)
}

/// When the greedy pass placed a key too early for a later row (npm's `versions`: `author`
/// first seen right after `tap`, later after `engines`), the rows' orders merged into one:
/// Kahn's algorithm over "comes right before" in some row, earliest-seen key first. `None`
/// when no order fits every row (a cycle).
fn merged_order<'a>(objs: &[&'a Entries<'a>]) -> Option<Vec<&'a str>> {
    let mut keys: Vec<&'a str> = Vec::new();
    let mut at: std::collections::HashMap<&'a str, usize> = std::collections::HashMap::new();
    let mut succ: Vec<Vec<usize>> = Vec::new();
    let mut indeg: Vec<usize> = Vec::new();
    let mut prev: Option<&Entries> = None;
    for o in objs {
        if prev.is_some_and(|p| same_keys(p, o)) {
            continue;
        }
        prev = Some(o);
        let mut last: Option<usize> = None;
        for (k, _) in o.iter() {
            let i = match at.get(k.as_ref()) {
                Some(&i) => i,
                None => {
                    if keys.len() >= MAX_COLUMNS {
                        return None;
                    }
                    keys.push(k.as_ref());
                    at.insert(k.as_ref(), keys.len() - 1);
                    succ.push(Vec::new());
                    indeg.push(0);
                    keys.len() - 1
                }
            };
            if let Some(l) = last.filter(|&l| l != i && !succ[l].contains(&i)) {
                succ[l].push(i);
                indeg[i] += 1;
            }
            last = Some(i);
        }
    }
    let mut done = vec![false; keys.len()];
    let mut out = Vec::with_capacity(keys.len());
    while out.len() < keys.len() {
        let i = (0..keys.len()).find(|&i| !done[i] && indeg[i] == 0)?;
        done[i] = true;
        out.push(keys[i]);
        for &j in &succ[i] {
            indeg[j] -= 1;
        }
    }
    Some(out)
}

fn plan_array<'a>(items: &'a [Value<'a>], affix: bool) -> Option<Table<'a>> {
    if items.len() < MIN_ROWS {
        return None;
    }
    let rows: Vec<&Value> = items.iter().collect();
    plan(None, &non_empty_objects(&rows)?, affix)
}

fn plan_keyed<'a>(entries: &'a Entries<'a>, affix: bool) -> Option<Table<'a>> {
    if entries.len() < MIN_ROWS {
        return None;
    }
    let rows: Vec<&Value> = entries.iter().map(|(_, v)| v).collect();
    let keys = entries.iter().map(|(k, _)| k.as_ref()).collect();
    plan(Some(keys), &non_empty_objects(&rows)?, affix)
}

fn plan<'a>(
    keys: Option<Vec<&'a str>>,
    objs: &[&'a Entries<'a>],
    with_affix: bool,
) -> Option<Table<'a>> {
    let (union, merged) = key_union(objs)?;
    // Column-major cells; each row's keys are a subsequence of `union`.
    let mut grid: Vec<Vec<Option<&Value>>> = vec![Vec::with_capacity(objs.len()); union.len()];
    for o in objs {
        let mut j = 0;
        for (ci, k) in union.iter().enumerate() {
            let hit = o.get(j).filter(|(k2, _)| k2 == k);
            grid[ci].push(hit.map(|(_, v)| v));
            j += usize::from(hit.is_some());
        }
    }
    let mut columns = Vec::new();
    let mut sparse = false;
    for (k, cells) in union.into_iter().zip(grid) {
        match cells.iter().copied().collect::<Option<Vec<&Value>>>() {
            Some(all) => flatten(k, all, &mut Vec::new(), &mut columns),
            None => {
                sparse = true;
                columns.push(Column {
                    path: vec![k],
                    cells,
                    constant: false,
                    affix: None,
                });
            }
        }
    }
    for c in &mut columns {
        c.constant = c.cells[0].is_some() && c.cells.iter().all(|v| *v == c.cells[0]);
    }
    // Rows need at least one cell to be lines of their own.
    if columns.iter().all(|c| c.constant) {
        columns[0].constant = false;
    }
    for c in columns.iter_mut().filter(|c| with_affix && !c.constant) {
        c.affix = affix(&c.cells);
    }
    Some(Table {
        keys,
        rows: objs.len(),
        columns,
        sparse,
        merged,
    })
}

/// Column(s) for key `k` whose values (one per row) are `cells`: dotted columns when every row
/// holds an object with the same keys, else one column.
fn flatten<'a>(
    k: &'a str,
    cells: Vec<&'a Value>,
    prefix: &mut Vec<&'a str>,
    out: &mut Vec<Column<'a>>,
) {
    prefix.push(k);
    let nested = if prefix.len() <= MAX_FLATTEN {
        uniform(&cells).filter(|n| n[0].iter().all(|(k, _)| !k.contains(['.', DELIM])))
    } else {
        None
    };
    match nested {
        Some(objs) => {
            for (i, (k2, _)) in objs[0].iter().enumerate() {
                let sub = objs.iter().map(|o| &o[i].1).collect();
                flatten(k2, sub, prefix, out);
            }
        }
        None => out.push(Column {
            path: prefix.clone(),
            cells: cells.into_iter().map(Some).collect(),
            constant: false,
            affix: None,
        }),
    }
    prefix.pop();
}

impl Table<'_> {
    fn write(&self, out: &mut String) {
        match &self.keys {
            None => out.push_str(&format!("@table {} rows; columns: ", self.rows)),
            Some(_) => out.push_str(&format!("@object {} entries; columns: (key)|", self.rows)),
        }
        for (i, c) in self.columns.iter().enumerate() {
            if i > 0 {
                out.push(DELIM);
            }
            for (j, seg) in c.path.iter().enumerate() {
                if j > 0 {
                    out.push('.');
                }
                if plain_segment(seg) {
                    out.push_str(seg);
                } else {
                    write_str(seg, out);
                }
            }
            if c.constant {
                out.push('=');
                if let Some(v) = c.cells[0] {
                    write_cell(v, out);
                }
            } else {
                out.push(':');
                out.push_str(type_hint(&c.cells));
                if let Some((pre, suf)) = c.affix {
                    out.push('=');
                    write_str(&format!("{pre}{{}}{suf}"), out);
                }
            }
        }
        for r in 0..self.rows {
            out.push('\n');
            let mut first = true;
            if let Some(keys) = &self.keys {
                if plain_key(keys[r]) {
                    out.push_str(keys[r]);
                } else {
                    write_str(keys[r], out);
                }
                first = false;
            }
            for c in self.columns.iter().filter(|c| !c.constant) {
                if !first {
                    out.push(DELIM);
                }
                first = false;
                if let Some(v) = c.cells[r] {
                    write_affixed(v, c.affix, out);
                }
            }
        }
        out.push_str("\n@end");
    }
}

fn type_hint(cells: &[Option<&Value>]) -> &'static str {
    let (mut null, mut int, mut num, mut s, mut b, mut arr, mut obj) =
        (false, false, false, false, false, false, false);
    for c in cells.iter().flatten() {
        match c {
            Value::Null => null = true,
            Value::Number(n) if !n.contains(['.', 'e', 'E']) => int = true,
            Value::Number(_) => num = true,
            Value::String(_) => s = true,
            Value::Bool(_) => b = true,
            Value::Array(_) => arr = true,
            Value::Object(_) => obj = true,
        }
    }
    let kinds = [int || num, s, b, arr, obj].iter().filter(|k| **k).count();
    let base = if kinds != 1 {
        if kinds == 0 { "null" } else { "mixed" }
    } else if num {
        "num"
    } else if int {
        "int"
    } else if s {
        "str"
    } else if b {
        "bool"
    } else if arr {
        "arr"
    } else {
        "obj"
    };
    match (null && kinds == 1, base) {
        (false, _) => base,
        (true, "num") => "num?",
        (true, "int") => "int?",
        (true, "str") => "str?",
        (true, "bool") => "bool?",
        (true, "arr") => "arr?",
        (true, _) => "obj?",
    }
}

/// Text that no reader could take for a JSON value, a delimiter, a line break or one of our sigils.
fn plain_text(s: &str) -> bool {
    let (Some(f), Some(l)) = (s.chars().next(), s.chars().last()) else {
        return false;
    };
    !f.is_whitespace()
        && !l.is_whitespace()
        && !matches!(f, '"' | '[' | '{' | '@')
        && !s.chars().any(|c| c == DELIM || c.is_control())
}

fn plain_key(s: &str) -> bool {
    plain_text(s)
}

fn plain_segment(s: &str) -> bool {
    plain_text(s) && !s.contains(['.', ':', '=', '('])
}

fn write_cell(v: &Value, out: &mut String) {
    match v {
        Value::String(s)
            if plain_text(s)
                && !matches!(s.as_ref(), "true" | "false" | "null")
                && !is_number(s) =>
        {
            out.push_str(s)
        }
        _ => write_min(v, out),
    }
}

/// Combined prefix + suffix below this many bytes is not worth a template.
const AFFIX_MIN: usize = 8;

/// Whether the byte before a prefix's end / at a suffix's start is a good place to cut.
fn cut_byte(b: u8) -> bool {
    matches!(b, b'/' | b'-' | b'.' | b'_' | b':' | b' ' | b'@')
}

/// The prefix and suffix every string cell shares, when all present non-null cells are strings
/// and writing only their middles saves tokens despite the longer header.
fn affix<'a>(cells: &[Option<&'a Value<'a>>]) -> Option<(&'a str, &'a str)> {
    let mut strs: Vec<&'a str> = Vec::new();
    for v in cells.iter().flatten() {
        match v {
            Value::String(s) => strs.push(s.as_ref()),
            Value::Null => {}
            _ => return None,
        }
    }
    let first = *strs.first()?;
    if strs.len() < 2 {
        return None;
    }
    let min = strs.iter().map(|s| s.len()).min()?;
    let mut raw_p = strs.iter().fold(first.len(), |n, s| {
        let (a, b) = (&first.as_bytes()[..n], s.as_bytes());
        a.iter().zip(b).take_while(|(x, y)| x == y).count()
    });
    while !strs.iter().all(|s| s.is_char_boundary(raw_p)) {
        raw_p -= 1;
    }
    // The decoder splits the template at its first "{}".
    if let Some(i) = first[..raw_p].find("{}") {
        raw_p = i;
    }
    // Prefix ends after a cut byte (the last few such places) or, failing those, anywhere.
    let mut prefixes: Vec<usize> = (1..=raw_p)
        .rev()
        .filter(|&i| cut_byte(first.as_bytes()[i - 1]))
        .take(3)
        .collect();
    prefixes.push(raw_p);
    let suffix = |p: usize, cut: bool| -> usize {
        let mut raw = strs.iter().fold(min - p, |n, s| {
            let (a, b) = (first.as_bytes(), s.as_bytes());
            a.iter()
                .rev()
                .zip(b.iter().rev())
                .take(n)
                .take_while(|(x, y)| x == y)
                .count()
        });
        while !strs.iter().all(|s| s.is_char_boundary(s.len() - raw)) {
            raw -= 1;
        }
        let tail = &first.as_bytes()[first.len() - raw..];
        match tail.iter().position(|&b| cut_byte(b)) {
            Some(j) if cut => raw - j,
            _ => raw,
        }
    };
    let plain = {
        let mut t = String::new();
        for v in cells.iter().flatten() {
            write_cell(v, &mut t);
            t.push(DELIM);
        }
        estimate_tokens(&t)
    };
    let last = prefixes.len() - 1;
    prefixes
        .into_iter()
        .enumerate()
        .map(|(i, p)| (p, suffix(p, i < last)))
        .filter(|(p, s)| p + s >= AFFIX_MIN)
        .map(|(p, s)| {
            let (pre, suf) = (&first[..p], &first[first.len() - s..]);
            let mut t = String::from("=");
            write_str(&format!("{pre}{{}}{suf}"), &mut t);
            let mut quoted = 0usize;
            for v in cells.iter().flatten() {
                let at = t.len();
                write_affixed(v, Some((pre, suf)), &mut t);
                quoted += usize::from(t.as_bytes().get(at) == Some(&b'"'));
                t.push(DELIM);
            }
            ((estimate_tokens(&t), quoted), (pre, suf))
        })
        .filter(|((tokens, _), _)| *tokens < plain)
        // Fewest tokens, then fewest quoted middles; ties keep the longer cut-byte prefix.
        .min_by_key(|(score, _)| *score)
        .map(|(_, affix)| affix)
}

/// A cell of a column with template `affix`: a string cell is written as its middle.
fn write_affixed(v: &Value, affix: Option<(&str, &str)>, out: &mut String) {
    match (v, affix) {
        (Value::String(s), Some((pre, suf))) => {
            let mid = &s[pre.len()..s.len() - suf.len()];
            write_cell(&Value::String(Cow::Borrowed(mid)), out)
        }
        _ => write_cell(v, out),
    }
}

// ---- decoding ----

/// Parses a table block at `@` (line start) into the value it stands for.
pub(super) fn parse_block<'a>(p: &mut Parser<'a>, depth: usize) -> Option<Value<'a>> {
    if depth > super::MAX_DEPTH {
        return None;
    }
    let keyed = if p.eat("@table ") {
        false
    } else if p.eat("@object ") {
        true
    } else {
        return None;
    };
    let rows = count(p)?;
    if !p.eat(if keyed {
        " entries; columns: (key)|"
    } else {
        " rows; columns: "
    }) {
        return None;
    }
    // Header: path(:type[="pre{}suf"] | =cell), separated by the delimiter.
    type Affix<'a> = Option<(Cow<'a, str>, Cow<'a, str>)>;
    let mut columns: Vec<(Vec<Cow<'a, str>>, Option<Value<'a>>, Affix<'a>)> = Vec::new();
    loop {
        let mut path = Vec::new();
        loop {
            let seg = if p.peek()? == b'"' {
                p.string()?
            } else {
                let t = until(p, b".:=|\n");
                if t.is_empty() {
                    return None;
                }
                Cow::Borrowed(t)
            };
            path.push(seg);
            if p.peek()? == b'.' {
                p.pos += 1;
            } else {
                break;
            }
        }
        if path.len() > super::MAX_DEPTH {
            return None;
        }
        let mut affix = None;
        let constant = match p.peek()? {
            b':' => {
                p.pos += 1;
                until(p, b"|\n=");
                if p.peek() == Some(b'=') {
                    p.pos += 1;
                    if p.peek()? != b'"' {
                        return None;
                    }
                    let t = p.string()?;
                    // The encoder keeps "{}" out of the prefix, so the first one is the hole.
                    let i = t.find("{}")?;
                    affix = Some(match t {
                        Cow::Borrowed(t) => (Cow::Borrowed(&t[..i]), Cow::Borrowed(&t[i + 2..])),
                        Cow::Owned(t) => (
                            Cow::Owned(t[..i].to_owned()),
                            Cow::Owned(t[i + 2..].to_owned()),
                        ),
                    });
                }
                None
            }
            b'=' => {
                p.pos += 1;
                Some(cell(p, depth + path.len())?)
            }
            _ => return None,
        };
        columns.push((path, constant, affix));
        match p.peek()? {
            b'|' => p.pos += 1,
            b'\n' => break,
            _ => return None,
        }
    }
    let mut arr = Vec::new();
    let mut obj = Vec::new();
    for _ in 0..rows {
        if !p.eat("\n") {
            return None;
        }
        let mut first = true;
        let key = if keyed {
            first = false;
            Some(if p.peek()? == b'"' {
                p.string()?
            } else {
                let t = until(p, b"|\n");
                if t.is_empty() {
                    return None;
                }
                Cow::Borrowed(t)
            })
        } else {
            None
        };
        let mut row = Vec::new();
        for (path, constant, affix) in &columns {
            let v = match constant {
                Some(c) => c.clone(),
                None => {
                    if !first && !p.eat("|") {
                        return None;
                    }
                    first = false;
                    if matches!(p.peek(), None | Some(b'|' | b'\n')) {
                        continue; // empty cell: the key is absent
                    }
                    let v = cell(p, depth + path.len())?;
                    match (affix, v) {
                        (None, v) => v,
                        (Some(_), Value::Null) => Value::Null,
                        (Some((pre, suf)), Value::String(m)) => {
                            Value::String(Cow::Owned(format!("{pre}{m}{suf}")))
                        }
                        (Some(_), _) => return None,
                    }
                }
            };
            insert(&mut row, path, v);
        }
        match key {
            Some(k) => obj.push((k, Value::Object(row))),
            None => arr.push(Value::Object(row)),
        }
    }
    if !p.eat("\n@end") || !matches!(p.peek(), None | Some(b'\n')) {
        return None;
    }
    Some(if keyed {
        Value::Object(obj)
    } else {
        Value::Array(arr)
    })
}

fn count(p: &mut Parser) -> Option<usize> {
    let t = until(p, b" ");
    if t.is_empty() || !t.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    t.parse().ok()
}

/// Advances to the next byte in `stops` (or the end) and returns the text skipped.
fn until<'a>(p: &mut Parser<'a>, stops: &[u8]) -> &'a str {
    let start = p.pos;
    let b = p.s.as_bytes();
    while p.pos < b.len() && !stops.contains(&b[p.pos]) {
        p.pos += 1;
    }
    // Stops are ASCII, so this is a char boundary.
    &p.s[start..p.pos]
}

fn cell<'a>(p: &mut Parser<'a>, depth: usize) -> Option<Value<'a>> {
    if matches!(p.peek()?, b'"' | b'[' | b'{') {
        let tables = std::mem::replace(&mut p.tables, false);
        let v = p.value(depth);
        p.tables = tables;
        return v;
    }
    let t = until(p, b"|\n");
    Some(match t {
        "" => return None,
        "true" => Value::Bool(true),
        "false" => Value::Bool(false),
        "null" => Value::Null,
        _ if is_number(t) => Value::Number(Cow::Borrowed(t)),
        _ => Value::String(Cow::Borrowed(t)),
    })
}

/// Puts `v` at `path` in `row`; flattened columns of one nested object are adjacent, so the
/// object to descend into is always the last entry.
fn insert<'a>(row: &mut Vec<(Cow<'a, str>, Value<'a>)>, path: &[Cow<'a, str>], v: Value<'a>) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut cur = row;
    for seg in parents {
        let open = matches!(cur.last(), Some((k, Value::Object(_))) if k == seg);
        if !open {
            cur.push((seg.clone(), Value::Object(Vec::new())));
        }
        cur = match cur.last_mut() {
            Some((_, Value::Object(o))) => o,
            _ => return,
        };
    }
    cur.push((last.clone(), v));
}
