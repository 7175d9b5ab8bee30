//! Plain-text tool outputs (logs, grep, listings): lossless line encodings.
//!
//! Contract:
//! * [`encode`] returns `None` when nothing saves tokens by [`crate::estimate_tokens`]; otherwise
//!   the encoded text, verified inside `encode` by `decode(encoded) == normalized(original)`,
//!   where the only normalization is removing ANSI escape sequences ([`strip_ansi`]).
//! * [`decode`] inverts [`encode`]; text without the legend line decodes to itself.
//!
//! The encoded form is one legend line naming the directives used, then the lines, where a line
//! starting with a directive stands for several original lines:
//! * `@file P` (grep-group): the following `N:text` / `N-text` lines (and `--` separators) are
//!   `P:N:text` / `P-N-text` (`grep -rn`, `rg -n`, with `-C` context lines);
//! * `@N× L` (repeat-collapse): the line `L`, `N` times;
//! * `@N× T | V` (template-collapse): `N` lines `T`, the k-th with its `{}` filled from the k-th
//!   `,`-separated item of `V` (`/` between the values of one line);
//! * `@prefix N "P"` (prefix-factor): each of the next `N` lines (read verbatim) starts with `P`.
//!
//! Everything is a linear scan over lines (runs are precomputed back to front, the prefix search
//! looks at most [`PREFIX_WINDOW`] lines ahead and never re-examines a rejected run).

mod ansi;
pub mod records;
#[cfg(test)]
mod tests;

pub use ansi::strip_ansi;

use crate::{Encoded, estimate_tokens};

/// The first line of every encoded text starts with this (and ends with `]`).
pub const LEGEND_START: &str = "[headroom: lossless shorthand.";

const KEY_GREP: &str = "\"@file P\"";
const KEY_REPEAT: &str = "\"@N× L\"";
const KEY_TEMPLATE: &str = "\"@N× T | V\"";
const KEY_PREFIX: &str = "\"@prefix N \"P\"\"";

const DOC_GREP: &str = " \"@file P\" = the next \"N:…\" lines are \"P:N:…\"";
const DOC_GREP_CONTEXT: &str =
    " \"@file P\" = the next \"N:…\"/\"N-…\" lines are \"P:N:…\"/\"P-N-…\"";
const DOC_REPEAT: &str = " \"@N× L\" = line L N times";
const DOC_TEMPLATE: &str = " \"@N× T | V\" = N lines T, {} filled from V (\",\" between lines)";
const DOC_TEMPLATE_MULTI: &str =
    " \"@N× T | V\" = N lines T, {} filled from V (\",\" between lines, \"/\" between values)";
const DOC_TEMPLATE_RANGE: &str =
    " in V, \"A..B\" = A, A+1 … B and \"A..B by S\" = A, A+S … B (one per line)";
const DOC_PREFIX: &str = " \"@prefix N \"P\"\" = the next N lines each start with P";
const DOC_PREFIX_NESTED: &str =
    " \"@prefix N \"P\"\" = the next N lines (counted after expanding @ lines) each start with P";
/// How deep `@prefix` blocks nest.
const MAX_DEPTH: u8 = 3;

/// Minimum run lengths and prefix length.
const MIN_REPEAT: usize = 3;
const MIN_TEMPLATE: usize = 4;
/// Longer runs take several template lines: each stays readable, and the lossy cut (which works on
/// lines) can still drop some of them.
const MAX_TEMPLATE: usize = 50;
const MIN_PREFIX_LINES: usize = 4;
const MIN_PREFIX_BYTES: usize = 12;
/// Inside a `@prefix` block the shared part is already gone: shorter prefixes pay there.
const MIN_NESTED_PREFIX_BYTES: usize = 6;
/// How far ahead a common prefix is looked for from one line.
pub const PREFIX_WINDOW: usize = 512;
/// Decoding refuses counts above this (a corrupt directive must not allocate without bound).
const MAX_COUNT: usize = 10_000_000;

/// Which directives a text uses (and its legend names).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Used {
    grep: bool,
    /// Some `@file` group has `N-…` context lines (the legend says so).
    grep_context: bool,
    repeat: bool,
    template: bool,
    /// Some template has several `{}` (the legend explains `/`).
    template_multi: bool,
    /// Some template states its values as ranges (`A..B by S`).
    template_range: bool,
    prefix: bool,
    /// Some `@prefix` block holds directives of its own (the legend says how to count).
    prefix_nested: bool,
}

impl Used {
    fn merge(&mut self, o: Used) {
        self.grep |= o.grep;
        self.grep_context |= o.grep_context;
        self.repeat |= o.repeat;
        self.template |= o.template;
        self.template_multi |= o.template_multi;
        self.template_range |= o.template_range;
        self.prefix |= o.prefix;
        self.prefix_nested |= o.prefix_nested;
    }

    fn any(self) -> bool {
        self.grep || self.repeat || self.template || self.prefix
    }

    fn legend(self) -> String {
        let mut parts: Vec<&str> = Vec::new();
        if self.grep {
            parts.push(if self.grep_context {
                DOC_GREP_CONTEXT
            } else {
                DOC_GREP
            });
        }
        if self.repeat {
            parts.push(DOC_REPEAT);
        }
        if self.template {
            parts.push(if self.template_multi {
                DOC_TEMPLATE_MULTI
            } else {
                DOC_TEMPLATE
            });
            if self.template_range {
                parts.push(DOC_TEMPLATE_RANGE);
            }
        }
        if self.prefix {
            parts.push(if self.prefix_nested {
                DOC_PREFIX_NESTED
            } else {
                DOC_PREFIX
            });
        }
        format!("{LEGEND_START}{}]", parts.join(";"))
    }

    fn from_legend(legend: &str) -> Used {
        Used {
            grep: legend.contains(KEY_GREP),
            repeat: legend.contains(KEY_REPEAT),
            template: legend.contains(KEY_TEMPLATE),
            prefix: legend.contains(KEY_PREFIX),
            ..Used::default()
        }
    }

    fn transforms(self) -> impl Iterator<Item = &'static str> {
        [
            (self.grep, "grep-group"),
            (self.repeat, "repeat-collapse"),
            (self.template, "template-collapse"),
            (self.prefix, "prefix-factor"),
        ]
        .into_iter()
        .filter_map(|(on, name)| on.then_some(name))
    }
}

/// Lines of `text` split on `\n`, and whether it ended with one (`""` is one empty line).
fn split_lines(text: &str) -> (Vec<&str>, bool) {
    let (body, trailing) = match text.strip_suffix('\n') {
        Some(b) => (b, true),
        None => (text, false),
    };
    (body.split('\n').collect(), trailing)
}

pub fn encode(text: &str) -> Option<Encoded> {
    let stripped = strip_ansi(text);
    let ansi = stripped.len() != text.len();
    let lines = encode_lines(&stripped);
    let stripped_cost = match &lines {
        Some(l) => l.input_cost,
        None if ansi => estimate_tokens(&stripped),
        None => return None,
    };
    let original_cost = if ansi {
        estimate_tokens(text)
    } else {
        stripped_cost
    };
    let mut options: Vec<(usize, String, Used)> = Vec::with_capacity(2);
    if let Some(l) = lines.and_then(|l| l.encoded) {
        options.push(l);
    }
    if ansi {
        options.push((
            stripped_cost,
            stripped.clone().into_owned(),
            Used::default(),
        ));
    }
    options.sort_by_key(|o| o.0);
    for (cost, candidate, used) in options {
        debug_assert_eq!(cost, estimate_tokens(&candidate));
        // Verified: the encoding must decode back to the ANSI-free input exactly.
        if cost < original_cost
            && decode_bounded(&candidate, stripped.len()).is_some_and(|d| d == *stripped)
        {
            let mut transforms = Vec::new();
            if ansi {
                transforms.push("ansi-strip");
            }
            transforms.extend(used.transforms());
            return Some(Encoded {
                text: candidate,
                transforms,
            });
        }
    }
    None
}

struct LinesEncoding {
    /// `estimate_tokens` of the input.
    input_cost: usize,
    /// The encoded text, its directives and its `estimate_tokens`, if any directive applied.
    encoded: Option<(usize, String, Used)>,
}

/// The ANSI-free `text` with the line directives applied (unverified); `None` if too short.
fn encode_lines(text: &str) -> Option<LinesEncoding> {
    let (lines, trailing) = split_lines(text);
    if lines.len() < MIN_REPEAT.min(MIN_TEMPLATE) {
        return None;
    }
    let mut enc = LineEncoder::new(&lines);
    // `estimate_tokens` is additive over lines joined by `\n` (one token each).
    let input_cost = (enc.cum[lines.len()] - 1 + i64::from(trailing)) as usize;
    let (body, body_cost, used) = enc.run();
    if !used.any() {
        return Some(LinesEncoding {
            input_cost,
            encoded: None,
        });
    }
    let mut out = used.legend();
    let cost = estimate_tokens(&out) + body_cost as usize + usize::from(trailing);
    out.reserve(body.len() + 2);
    out.push('\n');
    out.push_str(&body);
    if trailing {
        out.push('\n');
    }
    Some(LinesEncoding {
        input_cost,
        encoded: Some((cost, out, used)),
    })
}

/// Appends the byte spans of the numbers of a line to `spans`: maximal `[0-9]+(\.[0-9]+)*`.
fn number_spans(line: &str, spans: &mut Vec<(usize, usize)>) {
    let b = line.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if !b[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        while i + 1 < b.len() && b[i] == b'.' && b[i + 1].is_ascii_digit() {
            i += 1;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
        }
        spans.push((start, i));
    }
}

/// Whether two lines differ at most in their numbers (same text between them, same count).
fn same_skeleton(a: &str, sa: &[(usize, usize)], b: &str, sb: &[(usize, usize)]) -> bool {
    if sa.len() != sb.len() {
        return false;
    }
    let (mut pa, mut pb) = (0, 0);
    for (&(a0, a1), &(b0, b1)) in sa.iter().zip(sb) {
        if a[pa..a0] != b[pb..b0] {
            return false;
        }
        pa = a1;
        pb = b1;
    }
    a[pa..] == b[pb..]
}

/// `line` is `PATH:DIGITS:…` with a non-empty PATH free of `:`: the length of PATH.
fn grep_match_path(line: &str) -> Option<usize> {
    let p = line.find(':')?;
    if p == 0 {
        return None;
    }
    digits_then(&line[p + 1..], b':').then_some(p)
}

/// `s` starts with one or more ASCII digits followed by `sep`.
fn digits_then(s: &str, sep: u8) -> bool {
    let b = s.as_bytes();
    let d = b.iter().take_while(|c| c.is_ascii_digit()).count();
    d > 0 && b.get(d) == Some(&sep)
}

/// A line inside an `@file` group: `DIGITS:…` or `DIGITS-…`; the separator.
fn group_line_sep(s: &str) -> Option<char> {
    let b = s.as_bytes();
    let d = b.iter().take_while(|c| c.is_ascii_digit()).count();
    match b.get(d) {
        Some(b':') if d > 0 => Some(':'),
        Some(b'-') if d > 0 => Some('-'),
        _ => None,
    }
}

/// A candidate encoding of the lines `i..i + len`.
struct Candidate {
    len: usize,
    gain: i64,
    out: Vec<String>,
    /// After `out`, the lines `i..i + len` from this byte on (a `@prefix` block's lines).
    rest_from: Option<usize>,
    kind: Kind,
}

#[derive(Clone, Copy)]
enum Kind {
    Grep { context: bool },
    Repeat,
    Template { multi: bool, range: bool },
    Prefix { q: usize },
}

struct LineEncoder<'a> {
    lines: &'a [&'a str],
    /// Number spans of all lines; those of line `i` are `spans[span_at[i]..span_at[i + 1]]`.
    spans: Vec<(usize, usize)>,
    span_at: Vec<usize>,
    /// `grep_match_path` of each line.
    grep_path: Vec<Option<usize>>,
    /// Token estimate of lines `..i` (each plus its newline).
    cum: Vec<i64>,
    /// Length of the run of identical lines starting at `i`.
    rep_run: Vec<usize>,
    /// Length of the run of same-skeleton lines starting at `i`.
    skel_run: Vec<usize>,
    template_rejected_until: usize,
    prefix_rejected_until: usize,
    /// Nesting level inside `@prefix` blocks (0 at the top; no `@file` groups inside blocks).
    depth: u8,
}

fn cost(line: &str) -> i64 {
    estimate_tokens(line) as i64 + 1
}

impl<'a> LineEncoder<'a> {
    fn new(lines: &'a [&'a str]) -> Self {
        let costs = lines.iter().map(|l| cost(l)).collect();
        Self::with_costs(lines, costs)
    }

    /// `costs[i]` must be `cost(lines[i])`.
    fn with_costs(lines: &'a [&'a str], costs: Vec<i64>) -> Self {
        let n = lines.len();
        let mut spans = Vec::new();
        let mut span_at = Vec::with_capacity(n + 1);
        for l in lines {
            span_at.push(spans.len());
            number_spans(l, &mut spans);
        }
        span_at.push(spans.len());
        let sp = |i: usize| &spans[span_at[i]..span_at[i + 1]];
        let grep_path = lines.iter().map(|l| grep_match_path(l)).collect();
        let mut cum = Vec::with_capacity(n + 1);
        cum.push(0i64);
        for c in &costs {
            let last = *cum.last().unwrap_or(&0);
            cum.push(last + c);
        }
        let mut rep_run = vec![1usize; n];
        let mut skel_run = vec![1usize; n];
        for i in (0..n.saturating_sub(1)).rev() {
            if lines[i] == lines[i + 1] {
                rep_run[i] = rep_run[i + 1] + 1;
            }
            if same_skeleton(lines[i], sp(i), lines[i + 1], sp(i + 1)) {
                skel_run[i] = skel_run[i + 1] + 1;
            }
        }
        LineEncoder {
            lines,
            spans,
            span_at,
            grep_path,
            cum,
            rep_run,
            skel_run,
            template_rejected_until: 0,
            prefix_rejected_until: 0,
            depth: 0,
        }
    }

    /// The chosen `@prefix` block `c` at `i`: encodes the rest of its lines too, when that saves.
    fn nest(&self, i: usize, q: usize, c: &mut Candidate, used: &mut Used) {
        let Some(rests) = self.lines[i..i + c.len]
            .iter()
            .map(|l| l.get(q..))
            .collect::<Option<Vec<&str>>>()
        else {
            return;
        };
        let prefix = &self.lines[i][..q];
        let prefix = (estimate_tokens(prefix) as i64, prefix.ends_with(' '));
        let costs = (i..i + c.len)
            .zip(&rests)
            .map(|(k, rest)| self.rest_cost(k, prefix, rest))
            .collect();
        let mut inner = LineEncoder::with_costs(&rests, costs);
        inner.depth = self.depth + 1;
        let (body, body_cost, inner_used) = inner.run();
        if !inner_used.any() {
            return;
        }
        let header = cost(&c.out[0]);
        let gain = self.raw_cost(i, c.len) - header - body_cost;
        if gain > c.gain {
            c.out.truncate(1);
            c.out.push(body);
            c.rest_from = None;
            c.gain = gain;
            used.merge(inner_used);
            used.prefix_nested = true;
        }
    }

    /// `cost(rest)` where line `k` is `prefix + rest` and `prefix` ends in an ASCII non-alphanumeric
    /// byte: the estimate is additive there, except after a space before another space.
    fn rest_cost(&self, k: usize, prefix: (i64, bool), rest: &str) -> i64 {
        let (prefix_cost, ends_in_space) = prefix;
        if ends_in_space && rest.starts_with(' ') {
            cost(rest)
        } else {
            self.cum[k + 1] - self.cum[k] - prefix_cost
        }
    }

    fn line_spans(&self, i: usize) -> &[(usize, usize)] {
        &self.spans[self.span_at[i]..self.span_at[i + 1]]
    }

    fn raw_cost(&self, i: usize, len: usize) -> i64 {
        self.cum[i + len] - self.cum[i]
    }

    fn candidate(&self, i: usize, len: usize, out: Vec<String>, kind: Kind) -> Candidate {
        let enc: i64 = out.iter().map(|l| cost(l)).sum();
        Candidate {
            len,
            gain: self.raw_cost(i, len) - enc,
            out,
            rest_from: None,
            kind,
        }
    }

    /// The encoded lines, their cost (`estimate_tokens` + 1 per line) and the directives used.
    fn run(&mut self) -> (String, i64, Used) {
        let n = self.lines.len();
        let mut out = String::new();
        let mut total = 0i64;
        let mut used = Used::default();
        let mut i = 0;
        let mut first = true;
        while i < n {
            let mut best: Option<Candidate> = None;
            let cands = [
                self.grep(i),
                self.repeat(i),
                self.template(i),
                self.prefix(i),
            ];
            for c in cands.into_iter().flatten() {
                if c.gain > 0 && best.as_ref().is_none_or(|b| c.gain > b.gain) {
                    best = Some(c);
                }
            }
            match best {
                Some(mut c) => {
                    match c.kind {
                        Kind::Grep { context } => {
                            used.grep = true;
                            used.grep_context |= context;
                        }
                        Kind::Repeat => used.repeat = true,
                        Kind::Template { multi, range } => {
                            used.template = true;
                            used.template_multi |= multi;
                            used.template_range |= range;
                        }
                        Kind::Prefix { q } => {
                            used.prefix = true;
                            if self.depth < MAX_DEPTH {
                                self.nest(i, q, &mut c, &mut used);
                            }
                        }
                    }
                    for l in &c.out {
                        if !first {
                            out.push('\n');
                        }
                        first = false;
                        out.push_str(l);
                    }
                    if let Some(q) = c.rest_from {
                        for l in &self.lines[i..i + c.len] {
                            out.push('\n');
                            out.push_str(&l[q..]);
                        }
                    }
                    total += self.raw_cost(i, c.len) - c.gain;
                    i += c.len;
                }
                None => {
                    if !first {
                        out.push('\n');
                    }
                    first = false;
                    out.push_str(self.lines[i]);
                    total += self.raw_cost(i, 1);
                    i += 1;
                }
            }
        }
        (out, total, used)
    }

    fn repeat(&self, i: usize) -> Option<Candidate> {
        let r = self.rep_run[i];
        let line = self.lines[i];
        if r < MIN_REPEAT || line.contains("{}") {
            return None;
        }
        Some(self.candidate(i, r, vec![format!("@{r}× {line}")], Kind::Repeat))
    }

    fn template(&mut self, i: usize) -> Option<Candidate> {
        let t = self.skel_run[i].min(MAX_TEMPLATE);
        if t < MIN_TEMPLATE || i < self.template_rejected_until {
            return None;
        }
        let c = self.build_template(i, t);
        if c.as_ref().is_none_or(|c| c.gain <= 0) {
            self.template_rejected_until = i + t;
        }
        c
    }

    fn build_template(&self, i: usize, t: usize) -> Option<Candidate> {
        let first = self.lines[i];
        let spans = self.line_spans(i);
        let run = i..i + t;
        let value = |k: usize, h: usize| -> &str {
            let (s, e) = self.line_spans(k)[h];
            &self.lines[k][s..e]
        };
        let holes: Vec<usize> = (0..spans.len())
            .filter(|&h| run.clone().any(|k| value(k, h) != value(i, h)))
            .collect();
        if holes.is_empty() {
            return None;
        }
        let mut tpl = String::with_capacity(first.len());
        let mut pos = 0;
        let mut hole_iter = holes.iter().peekable();
        for (h, &(s, e)) in spans.iter().enumerate() {
            if hole_iter.peek() == Some(&&h) {
                hole_iter.next();
                tpl.push_str(&first[pos..s]);
                tpl.push_str("{}");
                pos = e;
            }
        }
        tpl.push_str(&first[pos..]);
        if tpl.matches("{}").count() != holes.len() {
            return None;
        }
        // Every hole counting up by a fixed step: its range, else the values line by line.
        let ranges: Option<Vec<String>> = holes
            .iter()
            .map(|&h| {
                let column: Vec<&str> = run.clone().map(|k| value(k, h)).collect();
                as_range(&column)
            })
            .collect();
        let range = ranges.is_some();
        let mut vals = ranges.map(|r| r.join("/")).unwrap_or_default();
        for k in run.clone().filter(|_| !range) {
            if k > i {
                vals.push(',');
            }
            for (j, &h) in holes.iter().enumerate() {
                if j > 0 {
                    vals.push('/');
                }
                vals.push_str(value(k, h));
            }
        }
        let line = format!("@{t}× {tpl} | {vals}");
        // Local check: the directive must decode to exactly these lines.
        let decoded = decode_template(&line[line.find("× ")? + "× ".len()..], t, usize::MAX)?;
        if decoded.len() != t || decoded.iter().zip(run).any(|(d, k)| d != self.lines[k]) {
            return None;
        }
        let multi = holes.len() > 1;
        Some(self.candidate(i, t, vec![line], Kind::Template { multi, range }))
    }

    fn grep(&self, i: usize) -> Option<Candidate> {
        if self.depth > 0 {
            return None;
        }
        let n = self.lines.len();
        let line = self.lines[i];
        let path: &str = match self.grep_path[i] {
            Some(p) => &line[..p],
            None if !line.contains('-') => return None,
            None => {
                // Context lines of `grep -C` before a file's first match: take the path from it.
                let mut found = None;
                for k in i + 1..n.min(i + 32) {
                    if self.lines[k] == "--" {
                        break;
                    }
                    if let Some(p) = self.grep_path[k] {
                        found = Some(&self.lines[k][..p]);
                        break;
                    }
                }
                found?
            }
        };
        let context_rest = |l: &'a str| -> Option<&'a str> {
            let rest = l.strip_prefix(path)?.strip_prefix('-')?;
            digits_then(rest, b'-').then_some(rest)
        };
        let match_rest = |k: usize| -> Option<&'a str> {
            let l = self.lines[k];
            let p = self.grep_path[k]?;
            (&l[..p] == path).then(|| &l[p + 1..])
        };
        let mut out = vec![format!("@file {path}")];
        let mut j = i;
        let mut with_path = 0;
        let mut context = false;
        while j < n {
            let l = self.lines[j];
            if let Some(rest) = match_rest(j) {
                out.push(rest.to_owned());
                with_path += 1;
            } else if let Some(rest) = context_rest(l) {
                out.push(rest.to_owned());
                with_path += 1;
                context = true;
            } else if l == "--" && j > i {
                out.push(l.to_owned());
            } else {
                break;
            }
            j += 1;
        }
        if with_path < 2 {
            return None;
        }
        // A raw line right after the group must not read as part of it.
        if j < n && group_line_sep(self.lines[j]).is_some() {
            return None;
        }
        Some(self.candidate(i, j - i, out, Kind::Grep { context }))
    }

    fn prefix(&mut self, i: usize) -> Option<Candidate> {
        if i < self.prefix_rejected_until {
            return None;
        }
        let n = self.lines.len();
        let first = self.lines[i];
        let fb = first.as_bytes();
        // Boundaries: a prefix ends just after an ASCII non-alphanumeric byte (never mid-word).
        let cut = |p: usize| -> usize {
            (1..=p)
                .rev()
                .find(|&q| fb[q - 1].is_ascii() && !fb[q - 1].is_ascii_alphanumeric())
                .unwrap_or(0)
        };
        let min_bytes = if self.depth == 0 {
            MIN_PREFIX_BYTES
        } else {
            MIN_NESTED_PREFIX_BYTES
        };
        let mut p = fb.len();
        let mut q = cut(p);
        let mut q_cost = estimate_tokens(&first[..q]) as i64;
        let mut best: Option<(i64, usize, usize)> = None; // (gain estimate, count, q)
        let mut j = i + 1;
        while j < n.min(i + PREFIX_WINDOW) {
            if self.rep_run[j] >= MIN_REPEAT && j > i + 1 {
                break; // leave repeated lines to repeat-collapse
            }
            let lb = self.lines[j].as_bytes();
            let common = fb[..p].iter().zip(lb).take_while(|(a, b)| a == b).count();
            if common < p {
                p = common;
                let nq = cut(p);
                if nq != q {
                    q = nq;
                    q_cost = estimate_tokens(&first[..q]) as i64;
                }
            }
            if q < min_bytes {
                break;
            }
            let count = j - i + 1;
            if count >= MIN_PREFIX_LINES {
                let gain = (count as i64 - 1) * q_cost - 6;
                if best.is_none_or(|(g, _, _)| gain >= g) {
                    best = Some((gain, count, q));
                }
            }
            j += 1;
        }
        let c = best.map(|(_, count, q)| {
            let prefix = &first[..q];
            let header = format!("@prefix {count} \"{prefix}\"");
            let pc = (estimate_tokens(prefix) as i64, prefix.ends_with(' '));
            let rests: i64 = (i..i + count)
                .map(|k| self.rest_cost(k, pc, &self.lines[k][q..]))
                .sum();
            Candidate {
                len: count,
                gain: self.raw_cost(i, count) - cost(&header) - rests,
                out: vec![header],
                rest_from: Some(q),
                kind: Kind::Prefix { q },
            }
        });
        if c.as_ref().is_none_or(|c| c.gain <= 0) {
            self.prefix_rejected_until = j.max(i + 1);
        }
        c
    }
}

/// `rest` is what follows `@N× ` in a template directive: its `N` lines.
/// A plain integer as written by `to_string` (no sign, no leading zero).
fn plain_int(v: &str) -> Option<u64> {
    let ok = !v.is_empty()
        && v.len() <= 18
        && v.bytes().all(|c| c.is_ascii_digit())
        && (v.len() == 1 || !v.starts_with('0'));
    ok.then(|| v.parse().ok()).flatten()
}

/// `values` counting up by a fixed step: `A..B` (step 1) or `A..B by S`.
fn as_range(values: &[&str]) -> Option<String> {
    let nums: Vec<u64> = values.iter().map(|v| plain_int(v)).collect::<Option<_>>()?;
    let step = nums.get(1)?.checked_sub(nums[0]).filter(|&s| s > 0)?;
    if nums
        .windows(2)
        .any(|w| w[1].checked_sub(w[0]) != Some(step))
    {
        return None;
    }
    let (a, b) = (nums[0], nums[nums.len() - 1]);
    Some(if step == 1 {
        format!("{a}..{b}")
    } else {
        format!("{a}..{b} by {step}")
    })
}

/// The `n` values of `A..B` / `A..B by S`.
fn expand_range(desc: &str, n: usize) -> Option<Vec<String>> {
    let (range, step) = match desc.split_once(" by ") {
        Some((r, s)) => (r, plain_int(s)?),
        None => (desc, 1),
    };
    let (a, b) = range.split_once("..")?;
    let (a, b) = (plain_int(a)?, plain_int(b)?);
    if step == 0 || b < a || (b - a) % step != 0 || (b - a) / step + 1 != n as u64 {
        return None;
    }
    Some((0..n as u64).map(|k| (a + k * step).to_string()).collect())
}

/// `rest` is what follows `@N× ` in a template directive: its `N` lines (`None` if it is not a
/// valid template, or if they would take more than `budget` bytes).
fn decode_template(rest: &str, n: usize, budget: usize) -> Option<Vec<String>> {
    let bar = rest.rfind(" | ")?;
    let (tpl, vals) = (&rest[..bar], &rest[bar + 3..]);
    let parts: Vec<&str> = tpl.split("{}").collect();
    let holes = parts.len() - 1;
    if holes == 0 || n.saturating_mul(tpl.len() - holes + 1) > budget {
        return None;
    }
    if vals.contains("..") {
        let columns: Vec<Vec<String>> = vals
            .split('/')
            .map(|d| expand_range(d, n))
            .collect::<Option<_>>()?;
        if columns.len() != holes {
            return None;
        }
        let lines = (0..n).map(|r| {
            let mut line = String::from(parts[0]);
            for (c, part) in columns.iter().zip(&parts[1..]) {
                line.push_str(&c[r]);
                line.push_str(part);
            }
            line
        });
        return Some(lines.collect());
    }
    let items: Vec<&str> = vals.split(',').collect();
    if items.len() != n {
        return None;
    }
    let mut out = Vec::with_capacity(n);
    for item in items {
        let values: Vec<&str> = item.split('/').collect();
        if values.len() != holes
            || values
                .iter()
                .any(|v| v.is_empty() || !v.bytes().all(|c| c.is_ascii_digit() || c == b'.'))
        {
            return None;
        }
        let mut line = String::with_capacity(tpl.len() + item.len());
        line.push_str(parts[0]);
        for (v, part) in values.iter().zip(&parts[1..]) {
            line.push_str(v);
            line.push_str(part);
        }
        out.push(line);
    }
    Some(out)
}

/// `@N× REST`: N and REST.
pub(crate) fn parse_count_directive(line: &str) -> Option<(usize, &str)> {
    let rest = line.strip_prefix('@')?;
    let d = rest.bytes().take_while(|c| c.is_ascii_digit()).count();
    if d == 0 || d > 8 || rest.starts_with('0') {
        return None;
    }
    let n: usize = rest[..d].parse().ok()?;
    let body = rest[d..].strip_prefix("× ")?;
    (n <= MAX_COUNT).then_some((n, body))
}

/// `@prefix N "P"`: N and P.
pub(crate) fn parse_prefix_directive(line: &str) -> Option<(usize, &str)> {
    let rest = line.strip_prefix("@prefix ")?;
    let d = rest.bytes().take_while(|c| c.is_ascii_digit()).count();
    if d == 0 || d > 8 || rest.starts_with('0') {
        return None;
    }
    let n: usize = rest[..d].parse().ok()?;
    let quoted = rest[d..].strip_prefix(" \"")?.strip_suffix('"')?;
    (n <= MAX_COUNT).then_some((n, quoted))
}

pub fn decode(encoded: &str) -> String {
    decode_bounded(encoded, usize::MAX).unwrap_or_else(|| encoded.to_owned())
}

/// [`decode`], or `None` as soon as the result would exceed `limit` bytes (a line of the input that
/// reads as `@99999999× …` must not make the verification allocate without bound).
fn decode_bounded(encoded: &str, limit: usize) -> Option<String> {
    let Some(nl) = encoded.find('\n') else {
        return Some(encoded.to_owned());
    };
    let legend = &encoded[..nl];
    if !(legend.starts_with(LEGEND_START) && legend.ends_with(']')) {
        return Some(encoded.to_owned());
    }
    let on = Used::from_legend(legend);
    if !on.any() {
        // Some other encoder's legend (`records`), or none of ours: not ours to decode.
        return Some(encoded.to_owned());
    }
    let (lines, trailing) = split_lines(&encoded[nl + 1..]);
    let mut d = Decoder {
        lines,
        k: 0,
        on,
        limit,
        out: String::with_capacity(encoded.len() * 2),
        first: true,
        prefixes: Vec::new(),
    };
    d.block(usize::MAX)?;
    if trailing {
        d.out.push('\n');
    }
    Some(d.out)
}

struct Decoder<'a> {
    lines: Vec<&'a str>,
    k: usize,
    on: Used,
    limit: usize,
    out: String,
    first: bool,
    /// The prefixes of the `@prefix` blocks being decoded, outermost first.
    prefixes: Vec<&'a str>,
}

impl<'a> Decoder<'a> {
    fn emit(&mut self, parts: &[&str]) {
        if !self.first {
            self.out.push('\n');
        }
        self.first = false;
        for p in &self.prefixes {
            self.out.push_str(p);
        }
        for p in parts {
            self.out.push_str(p);
        }
    }

    /// Decodes lines until `want` lines are produced (or the input ends); how many were produced,
    /// `None` past the size limit.
    fn block(&mut self, want: usize) -> Option<usize> {
        let on = self.on;
        let mut produced = 0usize;
        let mut group: Option<&'a str> = None;
        while produced < want && self.k < self.lines.len() {
            if self.out.len() > self.limit {
                return None;
            }
            let line = self.lines[self.k];
            self.k += 1;
            if let Some(path) = group {
                if line == "--" {
                    self.emit(&[line]);
                    produced += 1;
                    continue;
                }
                match group_line_sep(line) {
                    Some(':') => {
                        self.emit(&[path, ":", line]);
                        produced += 1;
                        continue;
                    }
                    Some(_) => {
                        self.emit(&[path, "-", line]);
                        produced += 1;
                        continue;
                    }
                    None => group = None,
                }
            }
            if on.grep
                && self.prefixes.is_empty()
                && let Some(path) = line.strip_prefix("@file ").filter(|p| !p.is_empty())
            {
                group = Some(path);
                continue;
            }
            if (on.repeat || on.template)
                && let Some((n, rest)) = parse_count_directive(line)
            {
                if on.template
                    && rest.contains("{}")
                    && let Some(decoded) =
                        decode_template(rest, n, self.limit.saturating_sub(self.out.len()))
                {
                    for l in &decoded {
                        self.emit(&[l]);
                    }
                    produced += n;
                    continue;
                }
                if on.repeat {
                    let width =
                        rest.len() + 1 + self.prefixes.iter().map(|p| p.len()).sum::<usize>();
                    if n.saturating_mul(width) > self.limit.saturating_sub(self.out.len()) {
                        return None;
                    }
                    for _ in 0..n {
                        self.emit(&[rest]);
                    }
                    produced += n;
                    continue;
                }
            }
            if on.prefix
                && self.prefixes.len() < usize::from(MAX_DEPTH) + 1
                && let Some((n, prefix)) = parse_prefix_directive(line)
            {
                self.prefixes.push(prefix);
                let got = self.block(n);
                self.prefixes.pop();
                produced += got?;
                continue;
            }
            self.emit(&[line]);
            produced += 1;
        }
        (self.out.len() <= self.limit).then_some(produced)
    }
}
