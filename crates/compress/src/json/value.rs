//! A strict JSON value model: ordered objects, number literals kept as written, duplicate keys
//! rejected. Exactness matters more than convenience here: the encoders promise that decoding gives
//! back this exact value, so the model must not normalise anything a reader could tell apart.

use std::borrow::Cow;
use std::collections::HashSet;

use super::MAX_DEPTH;

#[derive(Debug, Clone, PartialEq, Eq)]
/// Strings borrow from the parsed text unless they hold escapes, so parsing allocates little.
pub enum Value<'a> {
    Null,
    Bool(bool),
    /// The literal as written (`1.0` stays `1.0`, `1e3` stays `1e3`).
    Number(Cow<'a, str>),
    String(Cow<'a, str>),
    Array(Vec<Value<'a>>),
    /// Keys in document order; never two equal keys.
    Object(Vec<(Cow<'a, str>, Value<'a>)>),
}

impl Value<'_> {
    /// A copy that owns its strings.
    pub fn into_owned(self) -> Value<'static> {
        let own = |c: Cow<str>| Cow::Owned(c.into_owned());
        match self {
            Value::Null => Value::Null,
            Value::Bool(b) => Value::Bool(b),
            Value::Number(n) => Value::Number(own(n)),
            Value::String(s) => Value::String(own(s)),
            Value::Array(a) => Value::Array(a.into_iter().map(Value::into_owned).collect()),
            Value::Object(o) => Value::Object(
                o.into_iter()
                    .map(|(k, v)| (own(k), v.into_owned()))
                    .collect(),
            ),
        }
    }
}

/// Parses exactly one JSON value, optionally surrounded by whitespace; `None` for anything else.
pub fn parse(text: &str) -> Option<Value<'_>> {
    Parser::new(text, false).document()
}

/// A recursive-descent parser whose recursion is bounded by [`MAX_DEPTH`]. With `tables` set it
/// also accepts the table blocks of [`super::table`] at value positions (used only by `decode`).
pub(super) struct Parser<'a> {
    pub s: &'a str,
    pub pos: usize,
    pub tables: bool,
}

impl<'a> Parser<'a> {
    pub fn new(s: &'a str, tables: bool) -> Self {
        Parser { s, pos: 0, tables }
    }

    pub fn peek(&self) -> Option<u8> {
        self.s.as_bytes().get(self.pos).copied()
    }

    pub fn eat(&mut self, lit: &str) -> bool {
        if self.s.as_bytes()[self.pos..].starts_with(lit.as_bytes()) {
            self.pos += lit.len();
            true
        } else {
            false
        }
    }

    pub fn document(&mut self) -> Option<Value<'a>> {
        self.ws();
        let v = self.value(0)?;
        self.ws();
        (self.pos == self.s.len()).then_some(v)
    }

    pub fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    /// `depth` is the nesting of the container this value sits in (0 at top level).
    pub fn value(&mut self, depth: usize) -> Option<Value<'a>> {
        match self.peek()? {
            b'{' => self.object(depth + 1),
            b'[' => self.array(depth + 1),
            b'"' => self.string().map(Value::String),
            b't' => self.eat("true").then_some(Value::Bool(true)),
            b'f' => self.eat("false").then_some(Value::Bool(false)),
            b'n' => self.eat("null").then_some(Value::Null),
            b'-' | b'0'..=b'9' => self.number().map(|n| Value::Number(Cow::Borrowed(n))),
            b'@' if self.tables && self.at_line_start() => {
                super::table::parse_block(self, depth + 1)
            }
            _ => None,
        }
    }

    fn at_line_start(&self) -> bool {
        self.pos == 0 || self.s.as_bytes()[self.pos - 1] == b'\n'
    }

    fn array(&mut self, depth: usize) -> Option<Value<'a>> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.pos += 1;
        let mut items = Vec::new();
        self.ws();
        if self.peek()? == b']' {
            self.pos += 1;
            return Some(Value::Array(items));
        }
        loop {
            self.ws();
            items.push(self.value(depth)?);
            self.ws();
            match self.peek()? {
                b',' => self.pos += 1,
                b']' => {
                    self.pos += 1;
                    return Some(Value::Array(items));
                }
                _ => return None,
            }
        }
    }

    fn object(&mut self, depth: usize) -> Option<Value<'a>> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.pos += 1;
        let mut entries = Vec::new();
        self.ws();
        if self.peek()? == b'}' {
            self.pos += 1;
            return Some(Value::Object(entries));
        }
        loop {
            self.ws();
            if self.peek()? != b'"' {
                return None;
            }
            let k = self.string()?;
            self.ws();
            if self.peek()? != b':' {
                return None;
            }
            self.pos += 1;
            self.ws();
            let v = self.value(depth)?;
            entries.push((k, v));
            self.ws();
            match self.peek()? {
                b',' => self.pos += 1,
                b'}' => {
                    self.pos += 1;
                    return has_unique_keys(&entries).then_some(Value::Object(entries));
                }
                _ => return None,
            }
        }
    }

    /// A JSON string starting at the current `"`; returns its decoded contents.
    pub fn string(&mut self) -> Option<Cow<'a, str>> {
        let b = self.s.as_bytes();
        self.pos += 1;
        let start = self.pos;
        self.plain_run();
        if b.get(self.pos) == Some(&b'"') {
            self.pos += 1;
            // Only ever split at ASCII bytes, so slices are valid UTF-8.
            return Some(Cow::Borrowed(&self.s[start..self.pos - 1]));
        }
        let mut out = String::from(&self.s[start..self.pos]);
        loop {
            match *b.get(self.pos)? {
                b'"' => {
                    self.pos += 1;
                    return Some(Cow::Owned(out));
                }
                b'\\' => {
                    let e = *b.get(self.pos + 1)?;
                    self.pos += 2;
                    match e {
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'/' => out.push('/'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'n' => out.push('\n'),
                        b'r' => out.push('\r'),
                        b't' => out.push('\t'),
                        b'u' => {
                            let hi = self.hex4()?;
                            let c = match hi {
                                0xD800..=0xDBFF => {
                                    if !self.eat("\\u") {
                                        return None;
                                    }
                                    let lo = self.hex4()?;
                                    if !(0xDC00..=0xDFFF).contains(&lo) {
                                        return None;
                                    }
                                    0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                                }
                                0xDC00..=0xDFFF => return None,
                                _ => hi,
                            };
                            out.push(char::from_u32(c)?);
                        }
                        _ => return None,
                    }
                }
                _ => return None, // raw control character
            }
            let start = self.pos;
            self.plain_run();
            out.push_str(&self.s[start..self.pos]);
        }
    }

    /// Skips string bytes that need no decoding.
    fn plain_run(&mut self) {
        let b = self.s.as_bytes();
        while let Some(&c) = b.get(self.pos) {
            if c == b'"' || c == b'\\' || c < 0x20 {
                break;
            }
            self.pos += 1;
        }
    }

    fn hex4(&mut self) -> Option<u32> {
        let h = self.s.get(self.pos..self.pos + 4)?;
        if !h.bytes().all(|c| c.is_ascii_hexdigit()) {
            return None;
        }
        self.pos += 4;
        u32::from_str_radix(h, 16).ok()
    }

    fn number(&mut self) -> Option<&'a str> {
        let len = number_len(&self.s.as_bytes()[self.pos..])?;
        let n = &self.s[self.pos..self.pos + len];
        self.pos += len;
        Some(n)
    }
}

/// Length of the JSON number at the start of `b` (strict grammar), or `None`.
fn number_len(b: &[u8]) -> Option<usize> {
    let digits = |i: usize| b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
    let mut i = usize::from(b.first() == Some(&b'-'));
    match b.get(i)? {
        b'0' => i += 1,
        b'1'..=b'9' => i += digits(i),
        _ => return None,
    }
    if b.get(i) == Some(&b'.') {
        let d = digits(i + 1);
        if d == 0 {
            return None;
        }
        i += 1 + d;
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let d = digits(i);
        if d == 0 {
            return None;
        }
        i += d;
    }
    Some(i)
}

/// Whether `s` is exactly one JSON number literal.
pub fn is_number(s: &str) -> bool {
    number_len(s.as_bytes()) == Some(s.len())
}

fn has_unique_keys(entries: &[(Cow<str>, Value)]) -> bool {
    if entries.len() <= 8 {
        return entries
            .iter()
            .enumerate()
            .all(|(i, (k, _))| entries[..i].iter().all(|(k2, _)| k2 != k));
    }
    let mut seen = HashSet::with_capacity(entries.len());
    entries.iter().all(|(k, _)| seen.insert(k.as_ref()))
}

/// Minified JSON.
pub fn write_min(v: &Value, out: &mut String) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(n),
        Value::String(s) => write_str(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_min(item, out);
            }
            out.push(']');
        }
        Value::Object(entries) => {
            out.push('{');
            for (i, (k, item)) in entries.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_str(k, out);
                out.push(':');
                write_min(item, out);
            }
            out.push('}');
        }
    }
}

pub fn to_min(v: &Value) -> String {
    let mut s = String::new();
    write_min(v, &mut s);
    s
}

/// A JSON string literal, escaped canonically: `"`, `\`, control characters; the rest verbatim.
pub fn write_str(s: &str, out: &mut String) {
    out.push('"');
    let mut start = 0;
    for (i, c) in s.bytes().enumerate() {
        let esc = match c {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\t' => "\\t",
            b'\r' => "\\r",
            0x08 => "\\b",
            0x0c => "\\f",
            0..=0x1f => "",
            _ => continue,
        };
        out.push_str(&s[start..i]);
        if esc.is_empty() {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.push_str("\\u00");
            out.push(HEX[usize::from(c >> 4)] as char);
            out.push(HEX[usize::from(c & 15)] as char);
        } else {
            out.push_str(esc);
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
    out.push('"');
}

/// Length of the minified form, counting only up to `limit` (so asking "is it long?" is cheap).
pub fn min_len_upto(v: &Value, limit: usize) -> usize {
    fn go(v: &Value, acc: &mut usize, limit: usize) {
        if *acc > limit {
            return;
        }
        match v {
            Value::Null | Value::Bool(true) => *acc += 4,
            Value::Bool(false) => *acc += 5,
            Value::Number(n) => *acc += n.len(),
            Value::String(s) => *acc += s.len() + 2,
            Value::Array(items) => {
                *acc += 1 + items.len().max(1);
                for i in items {
                    go(i, acc, limit);
                }
            }
            Value::Object(entries) => {
                *acc += 1 + entries.len().max(1);
                for (k, i) in entries {
                    *acc += k.len() + 3;
                    go(i, acc, limit);
                }
            }
        }
    }
    let mut acc = 0;
    go(v, &mut acc, limit);
    acc
}
