//! The `full` tier: cut very large (already losslessly encoded) outputs down to their head, their
//! tail and the lines that look like errors, replacing each dropped range by one marker line that
//! cites the exact line range of a file holding the whole encoded output.
//!
//! Kept, in this order of priority until [`MAX_KEPT`] lines: the first [`HEAD_LINES`] and last
//! [`TAIL_LINES`] lines (at most [`HEAD_BYTES`] / [`TAIL_BYTES`] of them); legend and table header lines (`[headroom…`, `@table…`); every line that
//! looks like an error or failure with the line before it and the indented lines after it (a
//! traceback's frames, a compiler's `-->`/`|` snippet) plus the line ending that run (the
//! exception line), at most [`MAX_BLOCK`] lines each; then warnings the same way. A kept line
//! inside an `@file`/`@prefix` block of the lossless text keeps that block's header line too.
//!
//! Each dropped range of at least [`MIN_DROP`] lines becomes one marker line
//! `[headroom: N lines omitted here (lines A-B of FILE, which holds this whole output); read those
//! lines of that file to see them]` with 1-based line numbers of the file; shorter gaps are kept.
//! [`restore`] / [`restore_from`] put the cited lines back. Deterministic and linear.

/// Whether `text` is large enough for the lossy tier; `cut` returns `None` below it.
pub const MIN_BYTES: usize = 16 * 1024;
/// Lines always kept from the start and from the end.
pub const HEAD_LINES: usize = 40;
pub const TAIL_LINES: usize = 20;
/// ... and at most this many bytes of them (encoded lines can be long: a template line stands
/// for up to 50 lines); at least one line each.
pub const HEAD_BYTES: usize = 4096;
pub const TAIL_BYTES: usize = 2048;
/// At most this many lines are kept (beyond it, the first error lines win).
pub const MAX_KEPT: usize = 200;
/// Gaps shorter than this are kept rather than replaced by a marker.
pub const MIN_DROP: usize = 4;
/// At most this many lines are kept for one error (its context and traceback).
pub const MAX_BLOCK: usize = 30;
/// The cut must cost at most this share (in %) of the text's estimated tokens.
pub const MAX_COST_PERCENT: usize = 70;

const MARKER_START: &str = "[headroom: ";
const MARKER_MID: &str = " lines omitted here (lines ";
const MARKER_END: &str =
    ", which holds this whole output); read those lines of that file to see them]";

/// The tunables of [`cut`] (tests use small ones).
#[derive(Debug, Clone, Copy)]
pub struct Params {
    pub min_bytes: usize,
    pub head: usize,
    pub tail: usize,
    pub head_bytes: usize,
    pub tail_bytes: usize,
    pub max_kept: usize,
    pub max_cost_percent: usize,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            min_bytes: MIN_BYTES,
            head: HEAD_LINES,
            tail: TAIL_LINES,
            head_bytes: HEAD_BYTES,
            tail_bytes: TAIL_BYTES,
            max_kept: MAX_KEPT,
            max_cost_percent: MAX_COST_PERCENT,
        }
    }
}

/// `locator` is where the whole `text` is kept (an absolute path the client can read). Returns the
/// kept lines with markers, or `None` when cutting would not save enough.
pub fn cut(text: &str, locator: &str) -> Option<String> {
    cut_with(text, locator, &Params::default())
}

fn split_lines(text: &str) -> (Vec<&str>, bool) {
    let (body, trailing) = match text.strip_suffix('\n') {
        Some(b) => (b, true),
        None => (text, false),
    };
    (body.split('\n').collect(), trailing)
}

/// One marker line.
pub fn marker(first: usize, last: usize, locator: &str) -> String {
    format!(
        "{MARKER_START}{}{MARKER_MID}{first}-{last} of {locator}{MARKER_END}",
        last + 1 - first
    )
}

/// The 1-based inclusive line range a marker line cites.
pub fn parse_marker(line: &str) -> Option<(usize, usize)> {
    parse_marker_at(line).map(|(a, b, _)| (a, b))
}

/// The 1-based inclusive line range a marker line cites, and the file it cites.
pub fn parse_marker_at(line: &str) -> Option<(usize, usize, &str)> {
    let rest = line.strip_prefix(MARKER_START)?;
    let (count, rest) = split_number(rest)?;
    let rest = rest.strip_prefix(MARKER_MID)?;
    let (first, rest) = split_number(rest)?;
    let (last, rest) = split_number(rest.strip_prefix('-')?)?;
    let locator = rest.strip_prefix(" of ")?.strip_suffix(MARKER_END)?;
    (first >= 1 && last >= first && count == last - first + 1 && !locator.is_empty())
        .then_some((first, last, locator))
}

fn split_number(s: &str) -> Option<(usize, &str)> {
    let d = s.bytes().take_while(|c| c.is_ascii_digit()).count();
    if d == 0 || d > 15 {
        return None;
    }
    Some((s[..d].parse().ok()?, &s[d..]))
}

/// The words (any case) that make a line an error line (`severity` matches them; tested).
pub const ERROR_WORDS: [&str; 10] = [
    "error",
    "fail",
    "panic",
    "exception",
    "traceback",
    "fatal",
    "denied",
    "not found",
    "segmentation fault",
    "abort",
];

#[derive(Clone, Copy, PartialEq, Eq)]
enum Severity {
    None,
    Warning,
    Error,
}

fn severity(line: &str) -> Severity {
    if line.starts_with("E ")
        || line.starts_with("FAILED")
        || line.starts_with("ERROR")
        || line.contains('✗')
        || line.contains('✘')
    {
        return Severity::Error;
    }
    // One pass, case-insensitive; the first two letters pick the words to compare.
    let b = line.as_bytes();
    let mut warn = false;
    for i in 0..b.len().saturating_sub(3) {
        let words: &[&str] = match [b[i].to_ascii_lowercase(), b[i + 1].to_ascii_lowercase()] {
            [b'e', b'r'] => &["error"],
            [b'e', b'x'] => &["exception"],
            [b'f', b'a'] => &["fail", "fatal"],
            [b'p', b'a'] => &["panic"],
            [b't', b'r'] => &["traceback"],
            [b'd', b'e'] => &["denied"],
            [b'n', b'o'] => &["not found"],
            [b's', b'e'] => &["segmentation fault"],
            [b'a', b'b'] => &["abort"],
            [b'w', b'a'] => &["warn"],
            _ => continue,
        };
        for w in words {
            if b.len() - i >= w.len() && b[i..i + w.len()].eq_ignore_ascii_case(w.as_bytes()) {
                if *w == "warn" {
                    warn = true;
                } else {
                    return Severity::Error;
                }
            }
        }
    }
    if warn {
        Severity::Warning
    } else {
        Severity::None
    }
}

fn is_sticky(line: &str) -> bool {
    line.starts_with("[headroom") || line.starts_with("@table")
}

fn indented(line: &str) -> bool {
    line.starts_with(' ') || line.starts_with('\t')
}

/// For each line of a losslessly encoded text, the header line of the innermost `@file` /
/// `@prefix` block it is in (for a header line: of the block around it), so that a kept line keeps
/// the headers that give it its meaning. `@prefix N` counts decoded lines, so `@N× …` lines count N.
fn block_headers(lines: &[&str]) -> Vec<Option<usize>> {
    let mut owner = vec![None; lines.len()];
    if !lines
        .first()
        .is_some_and(|l| l.starts_with(crate::text::LEGEND_START))
    {
        return owner;
    }
    let mut stack: Vec<(usize, usize)> = Vec::new(); // (header line, decoded lines left)
    let mut file_group: Option<usize> = None;
    for (i, l) in lines.iter().enumerate().skip(1) {
        while stack.last().is_some_and(|f| f.1 == 0) {
            stack.pop();
        }
        if let Some(h) = file_group {
            let d = l.bytes().take_while(|c| c.is_ascii_digit()).count();
            let group_line =
                *l == "--" || (d > 0 && matches!(l.as_bytes().get(d), Some(b':' | b'-')));
            if group_line {
                owner[i] = Some(h);
                continue;
            }
            file_group = None;
        }
        owner[i] = stack.last().map(|f| f.0);
        let produced = if stack.is_empty() && l.starts_with("@file ") {
            file_group = Some(i);
            0
        } else if let Some((n, _)) = crate::text::parse_prefix_directive(l) {
            stack.push((i, n));
            0
        } else if let Some((n, _)) = crate::text::parse_count_directive(l) {
            n
        } else {
            1
        };
        for f in &mut stack {
            f.1 = f.1.saturating_sub(produced);
        }
    }
    owner
}

struct Keeper<'a> {
    lines: &'a [&'a str],
    owner: Vec<Option<usize>>,
    keep: Vec<bool>,
    kept: usize,
    max: usize,
}

impl Keeper<'_> {
    /// Keeps line `i` (and the headers of the blocks it is in); false when the budget is spent.
    fn add(&mut self, i: usize) -> bool {
        let mut h = self.owner[i];
        while let Some(k) = h {
            if !self.keep[k] {
                if self.kept >= self.max {
                    return false;
                }
                self.keep[k] = true;
                self.kept += 1;
            }
            h = self.owner[k];
        }
        if !self.keep[i] {
            if self.kept >= self.max {
                return false;
            }
            self.keep[i] = true;
            self.kept += 1;
        }
        true
    }

    /// Keeps the context of the error line `i`; false when the budget is spent.
    fn add_error(&mut self, i: usize) -> bool {
        let n = self.lines.len();
        let start = i.saturating_sub(1);
        let mut end = i + 1; // exclusive
        while end < n && end - start < MAX_BLOCK && indented(self.lines[end]) {
            end += 1;
        }
        // The line closing the run (a traceback's exception line), or the line after.
        if end < n && end - start < MAX_BLOCK {
            end += 1;
        }
        (start..end).all(|k| self.add(k))
    }
}

/// [`cut`] with explicit tunables.
pub fn cut_with(text: &str, locator: &str, p: &Params) -> Option<String> {
    if text.len() < p.min_bytes || locator.is_empty() || locator.contains('\n') {
        return None;
    }
    let (lines, trailing) = split_lines(text);
    let n = lines.len();
    // Head and tail: up to `head`/`tail` lines and `head_bytes`/`tail_bytes` (at least one line).
    let within = |max_lines: usize, max_bytes: usize, it: &mut dyn Iterator<Item = &&str>| {
        let mut bytes = 0usize;
        let mut count = 0usize;
        for l in it.take(max_lines) {
            bytes += l.len() + 1;
            if count > 0 && bytes > max_bytes {
                break;
            }
            count += 1;
        }
        count
    };
    let head_end = within(p.head, p.head_bytes, &mut lines.iter());
    let tail_start = n - within(p.tail, p.tail_bytes, &mut lines.iter().rev());
    if tail_start < head_end + MIN_DROP {
        return None;
    }
    // A line that already reads as a marker would make `restore` ambiguous.
    if lines.iter().any(|l| parse_marker(l).is_some()) {
        return None;
    }
    let mut k = Keeper {
        lines: &lines,
        owner: block_headers(&lines),
        keep: vec![false; n],
        kept: 0,
        max: p.max_kept.max(head_end + n - tail_start),
    };
    for i in (0..head_end).chain(tail_start..n) {
        k.add(i);
    }
    for (i, l) in lines.iter().enumerate() {
        if is_sticky(l) && !k.add(i) {
            break;
        }
    }
    let sev: Vec<Severity> = lines.iter().map(|l| severity(l)).collect();
    'outer: for level in [Severity::Error, Severity::Warning] {
        for (i, &s) in sev.iter().enumerate() {
            if s == level && !k.add_error(i) {
                break 'outer;
            }
        }
    }
    // Short gaps are kept: a marker would cost more than them.
    let keep = &mut k.keep;
    let mut i = 0;
    while i < n {
        if keep[i] {
            i += 1;
            continue;
        }
        let start = i;
        while i < n && !keep[i] {
            i += 1;
        }
        if i - start < MIN_DROP {
            keep[start..i].iter_mut().for_each(|x| *x = true);
        }
    }
    let mut out = String::with_capacity(text.len() / 4);
    let mut i = 0;
    let mut first = true;
    while i < n {
        if !first {
            out.push('\n');
        }
        first = false;
        if keep[i] {
            out.push_str(lines[i]);
            i += 1;
            continue;
        }
        let start = i;
        while i < n && !keep[i] {
            i += 1;
        }
        out.push_str(&marker(start + 1, i, locator));
    }
    if trailing {
        out.push('\n');
    }
    let before = crate::estimate_tokens(text);
    let after = crate::estimate_tokens(&out);
    (after * 100 <= before * p.max_cost_percent).then_some(out)
}

/// `cut` with each marker replaced by the lines of `file` it cites; `None` if a marker cites lines
/// that `file` does not have.
pub fn restore(cut: &str, file: &str) -> Option<String> {
    restore_from(cut, |_| Some(file.to_owned()))
}

/// A file cited by markers: its locator, its text and the byte range of each of its lines.
type ReadFile = (String, String, Vec<(usize, usize)>);

/// [`restore`] where each marker's file is read by `read(locator)` (read once per locator); `None`
/// if a file is missing or lacks the cited lines. `cut` without markers is returned as is.
pub fn restore_from(cut: &str, mut read: impl FnMut(&str) -> Option<String>) -> Option<String> {
    // Each file read once, with the byte ranges of its lines.
    let mut files: Vec<ReadFile> = Vec::new();
    let (clines, trailing) = split_lines(cut);
    let mut out = String::with_capacity(cut.len());
    let mut first = true;
    let mut push = |out: &mut String, l: &str| {
        if !first {
            out.push('\n');
        }
        first = false;
        out.push_str(l);
    };
    for l in clines {
        match parse_marker_at(l) {
            Some((a, b, locator)) => {
                let idx = match files.iter().position(|f| f.0 == locator) {
                    Some(i) => i,
                    None => {
                        let text = read(locator)?;
                        let (lines, _) = split_lines(&text);
                        let mut at = 0;
                        let ranges = lines
                            .iter()
                            .map(|l| {
                                let r = (at, at + l.len());
                                at += l.len() + 1;
                                r
                            })
                            .collect();
                        files.push((locator.to_owned(), text, ranges));
                        files.len() - 1
                    }
                };
                let (_, text, ranges) = &files[idx];
                for &(s, e) in ranges.get(a - 1..b)? {
                    push(&mut out, &text[s..e]);
                }
            }
            None => push(&mut out, l),
        }
    }
    if trailing {
        out.push('\n');
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const LOC: &str = "/root/.headroom/retrieve/ab12cd34.txt";

    fn pytest_log() -> String {
        let mut s = String::from(
            "============================= test session starts ==============================\n\
             platform linux -- Python 3.11.6, pytest-7.4.3, pluggy-1.3.0\n\
             rootdir: /work/app\n\
             collected 612 items\n\n",
        );
        for k in 0..600 {
            s.push_str(&format!(
                "tests/test_module_{:02}.py::test_case_{k} PASSED{:>30}[{:>3}%]\n",
                k / 20,
                "",
                k * 100 / 612
            ));
        }
        s.push_str(
            "\n=================================== FAILURES ===================================\n\
             _________________________________ test_login __________________________________\n\
             \n    def test_login():\n        user = make_user()\n\
             >       assert user.login(\"pw\") is True\n\
             E       AssertionError: assert False is True\n\
             E        +  where False = <bound method User.login of <User 7>>('pw')\n\
             \n\
             tests/test_auth.py:42: AssertionError\n\
             ----------------------------- Captured stdout call -----------------------------\n\
             Traceback (most recent call last):\n\
             \x20 File \"/work/app/auth.py\", line 88, in login\n\
             \x20   token = self.backend.issue(pw)\n\
             \x20 File \"/work/app/backend.py\", line 12, in issue\n\
             \x20   raise KeyError(pw)\n\
             KeyError: 'pw'\n",
        );
        for k in 0..40 {
            s.push_str(&format!("tests/test_zz.py::test_tail_{k} PASSED\n"));
        }
        s.push_str(
            "=========================== short test summary info ============================\n\
             FAILED tests/test_auth.py::test_login - AssertionError: assert False is True\n\
             ================= 1 failed, 611 passed in 12.34s =================\n",
        );
        s
    }

    #[test]
    fn pytest_failure_is_kept() {
        let log = pytest_log();
        assert!(log.len() >= MIN_BYTES, "{}", log.len());
        let c = cut(&log, LOC).expect("cut");
        for needle in [
            "collected 612 items",
            ">       assert user.login(\"pw\") is True",
            "E       AssertionError: assert False is True",
            "E        +  where False",
            "tests/test_auth.py:42: AssertionError",
            "Traceback (most recent call last):",
            "  File \"/work/app/auth.py\", line 88, in login",
            "    raise KeyError(pw)",
            "KeyError: 'pw'",
            "FAILED tests/test_auth.py::test_login",
            "1 failed, 611 passed",
        ] {
            assert!(c.contains(needle), "{needle} missing in\n{c}");
        }
        let markers: Vec<&str> = c.lines().filter(|l| parse_marker(l).is_some()).collect();
        assert!(!markers.is_empty());
        assert_eq!(
            markers[0],
            format!(
                "[headroom: 565 lines omitted here (lines 41-605 of {LOC}, which holds this whole output); read those lines of that file to see them]"
            )
        );
        assert_eq!(restore(&c, &log).as_deref(), Some(log.as_str()));
        let (b, a) = (crate::estimate_tokens(&log), crate::estimate_tokens(&c));
        eprintln!(
            "pytest log: {b} -> {a} est tokens, {} lines kept",
            c.lines().count()
        );
        assert!(a * 100 <= b * 30, "{a} vs {b}");
    }

    #[test]
    fn rustc_errors_keep_their_snippets() {
        let mut s = String::new();
        for k in 0..400 {
            s.push_str(&format!("   Compiling crate_{k} v0.1.{k}\n"));
        }
        s.push_str(
            "error[E0425]: cannot find function `restore` in crate `headroom_compress`\n\
             \x20  --> crates/compress/tests/request.rs:145:39\n\
             \x20   |\n\
             145 |     let restored = headroom_compress::restore(x).unwrap();\n\
             \x20   |                                       ^^^^^^^ not found\n\
             \n",
        );
        for k in 0..400 {
            s.push_str(&format!("   Compiling other_{k} v0.2.{k}\n"));
        }
        s.push_str("error: could not compile `headroom-compress` due to 1 previous error\n");
        let c = cut(&s, LOC).unwrap();
        assert!(c.contains("   --> crates/compress/tests/request.rs:145:39"));
        assert!(c.contains("145 |     let restored"));
        assert!(c.contains("^^^^^^^ not found"));
        assert_eq!(restore(&c, &s).unwrap(), s);
    }

    #[test]
    fn headers_of_lossless_blocks_are_kept() {
        let mut s = String::from(
            "[headroom: lossless shorthand. \"@file P\" = the next \"N:…\" lines are \"P:N:…\"]\n",
        );
        for f in 0..50 {
            s.push_str(&format!("@file src/mod_{f}.rs\n"));
            for l in 0..20 {
                let word = if f == 30 && l == 10 {
                    "panic!(\"boom\")"
                } else {
                    "let x = y;"
                };
                s.push_str(&format!("{}:    {word}\n", l * 3 + 1));
            }
        }
        let c = cut(&s, LOC).unwrap();
        assert!(c.starts_with("[headroom: lossless shorthand."));
        let at = c.find("31:    panic!").unwrap();
        let before = &c[..at];
        let header = before.rfind("\n@file ").unwrap();
        assert!(
            before[header..].starts_with(
                "\n@file src/mod_30.rs\n[headroom: 9 lines omitted here (lines 633-641 of"
            ),
            "{c}"
        );
        assert!(before.ends_with("\n28:    let x = y;\n"), "{c}");
        assert_eq!(restore(&c, &s).unwrap(), s);
    }

    #[test]
    fn nested_prefix_headers_are_kept() {
        let words = [
            "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india",
            "juliet", "kilo", "lima", "mike", "november", "oscar", "papa", "quebec", "romeo",
            "sierra", "tango", "uniform", "victor", "whiskey", "xray", "yankee", "zulu",
        ];
        let mut listing = String::new();
        for sub in &words[..19] {
            for name in &words {
                let name = if *sub == "romeo" && *name == "kilo" {
                    "fatal_kilo"
                } else {
                    name
                };
                listing.push_str(&format!("./node_modules/@babel/{sub}/lib/{name}.js\n"));
            }
        }
        let enc = crate::text::encode(&listing).unwrap().text;
        assert!(
            enc.contains("@prefix 494 \"./node_modules/@babel/\"\n@prefix 26 \"alpha/lib/\""),
            "{enc}"
        );
        let p = Params {
            min_bytes: 0,
            ..Params::default()
        };
        let c = cut_with(&enc, LOC, &p).unwrap();
        let at = c.find("\nfatal_kilo.js\n").unwrap();
        let before: Vec<&str> = c[..at].lines().collect();
        let kept_headers: Vec<&&str> = before.iter().filter(|l| l.starts_with("@prefix")).collect();
        assert_eq!(
            kept_headers.first().unwrap(),
            &&"@prefix 494 \"./node_modules/@babel/\""
        );
        assert_eq!(kept_headers.last().unwrap(), &&"@prefix 26 \"romeo/lib/\"");
        assert_eq!(restore(&c, &enc).unwrap(), enc);
        assert_eq!(crate::text::decode(&restore(&c, &enc).unwrap()), listing);
    }

    #[test]
    fn small_or_unhelpful_inputs_are_left_alone() {
        assert_eq!(cut("short\n", LOC), None);
        // One huge line: nothing to drop.
        let one = "x".repeat(MIN_BYTES * 2);
        assert_eq!(cut(&one, LOC), None);
        // Everything is an error line: kept lines are capped, but if it doesn't save, None.
        let errs: String = (0..300).map(|k| format!("error: e{k}\n")).collect();
        let p = Params {
            min_bytes: 0,
            ..Params::default()
        };
        assert_eq!(cut_with(&errs, LOC, &p), None);
        // A line that looks like a marker: refuse.
        let mut m = "ok line here\n".repeat(2000);
        m.push_str(&marker(1, 4, "/x"));
        assert_eq!(cut(&m, LOC), None);
        assert_eq!(cut(&"ok line here\n".repeat(2000), ""), None);
    }

    #[test]
    fn error_cap_keeps_the_first_ones() {
        let mut s = String::new();
        for k in 0..3000 {
            if k % 10 == 5 {
                s.push_str(&format!("ERROR request {k} failed\n"));
            } else {
                s.push_str(&format!("INFO request {k} ok\n"));
            }
        }
        let c = cut(&s, LOC).unwrap();
        let kept = c.lines().filter(|l| parse_marker(l).is_none()).count();
        assert!(kept <= MAX_KEPT + 3 * 20, "{kept}");
        assert!(c.contains("ERROR request 45 failed"));
        assert!(!c.contains("ERROR request 2505 failed"));
        assert_eq!(restore(&c, &s).unwrap(), s);
        assert_eq!(cut(&s, LOC), Some(c), "deterministic");
    }

    #[test]
    fn severity_words() {
        for w in ERROR_WORDS {
            assert!(
                severity(&format!("x {} y", w.to_uppercase())) == Severity::Error,
                "{w}"
            );
            assert!(severity(w) == Severity::Error, "{w}");
        }
        assert!(severity("npm WARN deprecated") == Severity::Warning);
        assert!(severity("E   assert 1 == 2") == Severity::Error);
        assert!(severity("all good, 3 passed") == Severity::None);
        assert!(severity("errr fai") == Severity::None);
    }

    #[test]
    fn restore_from_reads_each_cited_file() {
        let log = pytest_log();
        let c = cut(&log, LOC).unwrap();
        let mut reads = 0;
        let r = restore_from(&c, |p| {
            reads += 1;
            (p == LOC).then(|| log.clone())
        });
        assert_eq!(r.as_deref(), Some(log.as_str()));
        assert_eq!(reads, 1);
        assert_eq!(restore_from(&c, |_| None), None);
        assert_eq!(
            restore_from("no markers\n", |_| None).as_deref(),
            Some("no markers\n")
        );
    }

    #[test]
    fn restore_rejects_bad_citations() {
        assert_eq!(restore(&marker(3, 9, LOC), "a\nb\n"), None);
        assert_eq!(restore("plain\n", "a"), Some("plain\n".into()));
        assert_eq!(
            parse_marker(
                "[headroom: 2 lines omitted here (lines 1-5 of /x, which holds this whole output); read those lines of that file to see them]"
            ),
            None
        );
        assert_eq!(parse_marker(&marker(2, 5, LOC)), Some((2, 5)));
    }

    /// Cuts every `*.enc` of `$HEADROOM_SAMPLES` into `*.cut` (and `pytest.log.cut`), for measuring.
    #[test]
    #[ignore]
    fn cut_samples() {
        let Ok(dir) = std::env::var("HEADROOM_SAMPLES") else {
            return;
        };
        let dir = std::path::PathBuf::from(dir);
        std::fs::write(dir.join("pytest.log"), pytest_log()).unwrap();
        let mut paths: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "enc" || x == "log"))
            .collect();
        paths.sort();
        for p in paths {
            let s = std::fs::read_to_string(&p).unwrap();
            let t = std::time::Instant::now();
            let c = cut(&s, LOC);
            let dt = t.elapsed();
            if let Some(c) = &c {
                assert_eq!(restore(c, &s).as_deref(), Some(s.as_str()));
                std::fs::write(p.with_extension("cut"), c).unwrap();
            }
            eprintln!(
                "{}: {} bytes, {dt:?}, cut: {}",
                p.display(),
                s.len(),
                c.is_some()
            );
        }
    }

    fn doc() -> impl Strategy<Value = String> {
        let line = prop::sample::select(vec![
            "ok",
            "error: boom",
            "  at frame",
            "",
            "Traceback (most recent call last):",
            "warning: w",
            "E   assert",
            "@file a.rs",
            "1:x",
            "@prefix 3 \"p\"",
            "é ü",
            "--",
            "[headroom: x]",
            "\tindented",
        ]);
        (prop::collection::vec(line, 0..400), prop::bool::ANY).prop_map(|(v, t)| {
            let mut s = v.join("\n");
            if t {
                s.push('\n');
            }
            s
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(500))]
        #[test]
        fn cut_restores(s in doc(), head in 0usize..50, tail in 0usize..30, max in 0usize..250) {
            let p = Params {
                min_bytes: 0,
                head,
                tail,
                head_bytes: head * 8,
                tail_bytes: tail * 8,
                max_kept: max,
                max_cost_percent: 100,
            };
            if let Some(c) = cut_with(&s, LOC, &p) {
                prop_assert_eq!(restore(&c, &s), Some(s.clone()));
            }
        }
    }
}
#[cfg(test)]
mod timing {
    #[test]
    #[ignore]
    fn lossy_phases() {
        let Ok(f) = std::env::var("HEADROOM_CUT_FILE") else {
            return;
        };
        let s = std::fs::read_to_string(f).unwrap();
        for _ in 0..3 {
            let t = std::time::Instant::now();
            let (lines, _) = super::split_lines(&s);
            let t1 = t.elapsed();
            let sev: Vec<_> = lines.iter().map(|l| super::severity(l)).collect();
            let t2 = t.elapsed();
            let owners = super::block_headers(&lines);
            let t3 = t.elapsed();
            let _ = crate::estimate_tokens(&s);
            let t4 = t.elapsed();
            let _ = super::cut(&s, "/x");
            let t5 = t.elapsed();
            eprintln!(
                "split {t1:?} sev {:?} owners {:?} est {:?} cut {:?} {}",
                t2 - t1,
                t3 - t2,
                t4 - t3,
                t5 - t4,
                sev.len() + owners.len()
            );
        }
    }
}
