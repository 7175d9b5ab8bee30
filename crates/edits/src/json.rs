//! JSON editing by splicing: only the bytes of the member being set or removed change; key order,
//! indentation style, non-ASCII text and the final-newline state of everything else stay as
//! they were. The file is validated with serde_json first, so a parse error names line:column.

use serde_json::Value;

use crate::error::EditError;

/// A parsed value's byte span and, for objects, its members.
#[derive(Debug)]
struct Node {
    start: usize,
    end: usize,
    members: Option<Vec<Member>>,
}

#[derive(Debug)]
struct Member {
    key: String,
    /// Start of the key's opening quote.
    key_start: usize,
    value: Node,
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn ws(&mut self) {
        while self.i < self.s.len() && matches!(self.s[self.i], b' ' | b'\t' | b'\n' | b'\r') {
            self.i += 1;
        }
    }

    fn string(&mut self) -> Option<usize> {
        // self.s[self.i] == b'"'
        let start = self.i;
        self.i += 1;
        while self.i < self.s.len() {
            match self.s[self.i] {
                b'\\' => self.i += 2,
                b'"' => {
                    self.i += 1;
                    return Some(start);
                }
                _ => self.i += 1,
            }
        }
        None
    }

    fn value(&mut self) -> Option<Node> {
        self.ws();
        let start = self.i;
        match *self.s.get(self.i)? {
            b'{' => {
                self.i += 1;
                let mut members = Vec::new();
                loop {
                    self.ws();
                    match *self.s.get(self.i)? {
                        b'}' => {
                            self.i += 1;
                            break;
                        }
                        b',' => self.i += 1,
                        b'"' => {
                            let key_start = self.string()?;
                            let key: String =
                                serde_json::from_slice(&self.s[key_start..self.i]).ok()?;
                            self.ws();
                            if self.s.get(self.i) != Some(&b':') {
                                return None;
                            }
                            self.i += 1;
                            let value = self.value()?;
                            members.push(Member {
                                key,
                                key_start,
                                value,
                            });
                        }
                        _ => return None,
                    }
                }
                Some(Node {
                    start,
                    end: self.i,
                    members: Some(members),
                })
            }
            b'[' => {
                self.i += 1;
                loop {
                    self.ws();
                    match *self.s.get(self.i)? {
                        b']' => {
                            self.i += 1;
                            break;
                        }
                        b',' => self.i += 1,
                        _ => {
                            self.value()?;
                        }
                    }
                }
                Some(Node {
                    start,
                    end: self.i,
                    members: None,
                })
            }
            b'"' => {
                self.string()?;
                Some(Node {
                    start,
                    end: self.i,
                    members: None,
                })
            }
            _ => {
                while self.i < self.s.len()
                    && !matches!(
                        self.s[self.i],
                        b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r'
                    )
                {
                    self.i += 1;
                }
                Some(Node {
                    start,
                    end: self.i,
                    members: None,
                })
            }
        }
    }
}

/// RFC 6901 pointer → unescaped segments. `""` is the whole document.
pub fn pointer_segments(pointer: &str) -> Result<Vec<String>, String> {
    if pointer.is_empty() {
        return Ok(Vec::new());
    }
    let rest = pointer
        .strip_prefix('/')
        .ok_or_else(|| format!("JSON pointer {pointer:?} must start with '/'"))?;
    Ok(rest
        .split('/')
        .map(|s| s.replace("~1", "/").replace("~0", "~"))
        .collect())
}

/// How the document indents: the unit (e.g. two spaces, four, a tab) and its line ending.
struct Style {
    unit: String,
    newline: &'static str,
}

fn detect_style(text: &str) -> Style {
    let newline = if text.contains("\r\n") { "\r\n" } else { "\n" };
    let unit = text
        .lines()
        .map(|l| &l[..l.len() - l.trim_start_matches([' ', '\t']).len()])
        .find(|ws| !ws.is_empty())
        .map(|ws| {
            if ws.starts_with('\t') {
                "\t".to_owned()
            } else {
                ws.to_owned()
            }
        })
        .unwrap_or_else(|| "  ".to_owned());
    Style { unit, newline }
}

/// The whitespace at the start of the line holding byte `pos`.
fn line_indent(text: &str, pos: usize) -> &str {
    let line_start = text[..pos].rfind('\n').map_or(0, |i| i + 1);
    let line = &text[line_start..];
    &line[..line.len() - line.trim_start_matches([' ', '\t']).len()]
}

/// Pretty-print `value` for insertion at nesting `indent` using the file's style.
fn render(value: &Value, indent: &str, style: &Style) -> String {
    match value {
        Value::Object(map) if !map.is_empty() => {
            let inner = format!("{indent}{}", style.unit);
            let parts: Vec<String> = map
                .iter()
                .map(|(k, v)| {
                    format!(
                        "{inner}{}: {}",
                        serde_json::to_string(k).unwrap(),
                        render(v, &inner, style)
                    )
                })
                .collect();
            format!(
                "{{{nl}{}{nl}{indent}}}",
                parts.join(&format!(",{}", style.newline)),
                nl = style.newline
            )
        }
        Value::Array(items) if !items.is_empty() => {
            let inner = format!("{indent}{}", style.unit);
            let parts: Vec<String> = items
                .iter()
                .map(|v| format!("{inner}{}", render(v, &inner, style)))
                .collect();
            format!(
                "[{nl}{}{nl}{indent}]",
                parts.join(&format!(",{}", style.newline)),
                nl = style.newline
            )
        }
        other => serde_json::to_string(other).unwrap(),
    }
}

fn parse(file: &str, text: &str) -> Result<Node, EditError> {
    if let Err(e) = serde_json::from_str::<Value>(text) {
        return Err(EditError::Parse {
            file: file.to_owned(),
            format: "JSON",
            detail: format!(
                "line {}, column {}: {}",
                e.line(),
                e.column(),
                strip_pos(&e)
            ),
        });
    }
    let mut p = Parser {
        s: text.as_bytes(),
        i: 0,
    };
    let root = p.value().ok_or_else(|| EditError::Parse {
        file: file.to_owned(),
        format: "JSON",
        detail: "unreadable structure".to_owned(),
    })?;
    Ok(root)
}

fn strip_pos(e: &serde_json::Error) -> String {
    let s = e.to_string();
    match s.find(" at line ") {
        Some(i) => s[..i].to_owned(),
        None => s,
    }
}

/// Current value at `pointer` (None when absent). Used to journal what an edit replaces.
pub fn get(file: &str, text: &str, pointer: &str) -> Result<Option<Value>, EditError> {
    let doc: Value = if text.trim().is_empty() {
        Value::Object(Default::default())
    } else {
        parse(file, text)?;
        serde_json::from_str(text).unwrap()
    };
    Ok(doc.pointer(pointer).cloned())
}

/// `text` with the value at `pointer` set (missing parent objects created). Empty text is `{}`.
pub fn set(file: &str, text: &str, pointer: &str, value: &Value) -> Result<String, EditError> {
    let segs = pointer_segments(pointer).map_err(|m| EditError::Invalid {
        file: file.to_owned(),
        detail: m,
    })?;
    if segs.is_empty() {
        return Err(EditError::Invalid {
            file: file.to_owned(),
            detail: "cannot replace the whole document".into(),
        });
    }
    if text.trim().is_empty() {
        // A new (or empty) file: two-space indentation and a final newline, like the tools write.
        let mut doc = Value::Object(Default::default());
        insert_path(&mut doc, &segs, value.clone());
        return Ok(format!("{}\n", serde_json::to_string_pretty(&doc).unwrap()));
    }
    let style = detect_style(text);
    let root = parse(file, text)?;
    let mut node = &root;
    for (depth, seg) in segs.iter().enumerate() {
        let Some(members) = &node.members else {
            return Err(EditError::Invalid {
                file: file.to_owned(),
                detail: format!(
                    "cannot set {pointer}: /{} is not an object",
                    segs[..depth].join("/")
                ),
            });
        };
        match members.iter().find(|m| &m.key == seg) {
            Some(m) if depth + 1 == segs.len() => {
                let indent = line_indent(text, m.key_start);
                let rendered = render(value, indent, &style);
                return Ok(splice(text, m.value.start, m.value.end, &rendered));
            }
            Some(m) => node = &m.value,
            None => {
                // Insert `seg` here, with the rest of the path as nested objects.
                let new_value = if depth + 1 == segs.len() {
                    value.clone()
                } else {
                    let mut obj = Value::Object(Default::default());
                    insert_path(&mut obj, &segs[depth + 1..], value.clone());
                    obj
                };
                return Ok(insert_member(text, node, members, seg, &new_value, &style));
            }
        }
    }
    unreachable!("loop returns")
}

fn insert_path(doc: &mut Value, segs: &[String], value: Value) {
    let mut cur = doc;
    for (i, seg) in segs.iter().enumerate() {
        let map = cur.as_object_mut().expect("objects only");
        if i + 1 == segs.len() {
            map.insert(seg.clone(), value);
            return;
        }
        cur = map
            .entry(seg.clone())
            .or_insert_with(|| Value::Object(Default::default()));
    }
}

fn insert_member(
    text: &str,
    obj: &Node,
    members: &[Member],
    key: &str,
    value: &Value,
    style: &Style,
) -> String {
    let key_json = serde_json::to_string(key).unwrap();
    match members.last() {
        Some(last) => {
            let indent = line_indent(text, last.key_start);
            let same_line = !text[obj.start..last.key_start].contains('\n');
            let sep = if same_line {
                " ".to_owned()
            } else {
                format!("{}{indent}", style.newline)
            };
            let item = format!(",{sep}{key_json}: {}", render(value, indent, style));
            splice(text, last.value.end, last.value.end, &item)
        }
        None => {
            let outer = line_indent(text, obj.start);
            let inner = format!("{outer}{}", style.unit);
            let item = format!(
                "{{{nl}{inner}{key_json}: {}{nl}{outer}}}",
                render(value, &inner, style),
                nl = style.newline
            );
            splice(text, obj.start, obj.end, &item)
        }
    }
}

/// `text` without the member at `pointer`; unchanged when it is absent.
pub fn remove(file: &str, text: &str, pointer: &str) -> Result<String, EditError> {
    if text.trim().is_empty() {
        return Ok(text.to_owned());
    }
    let segs = pointer_segments(pointer).map_err(|m| EditError::Invalid {
        file: file.to_owned(),
        detail: m,
    })?;
    let root = parse(file, text)?;
    let mut node = &root;
    for (depth, seg) in segs.iter().enumerate() {
        let Some(members) = &node.members else {
            return Ok(text.to_owned());
        };
        let Some(idx) = members.iter().position(|m| &m.key == seg) else {
            return Ok(text.to_owned());
        };
        if depth + 1 < segs.len() {
            node = &members[idx].value;
            continue;
        }
        let m = &members[idx];
        // Remove from the end of the previous member (its comma goes too), or for the first
        // member up to the next one's key; an only member leaves `{}` with the object's own
        // inner whitespace removed.
        let (from, to) = if idx > 0 {
            (members[idx - 1].value.end, m.value.end)
        } else if let Some(next) = members.get(1) {
            (m.key_start, next.key_start)
        } else {
            (node.start + 1, node.end - 1)
        };
        return Ok(splice(text, from, to, ""));
    }
    Ok(text.to_owned())
}

fn splice(text: &str, from: usize, to: usize, with: &str) -> String {
    let mut out = String::with_capacity(text.len() + with.len());
    out.push_str(&text[..from]);
    out.push_str(with);
    out.push_str(&text[to..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const F: &str = "~/.claude/settings.json";

    #[test]
    fn sets_into_an_existing_object_keeping_everything_else() {
        let text =
            "{\n    \"model\": \"opus\",\n    \"env\": {\n        \"FOO\": \"bär\"\n    }\n}";
        let out = set(
            F,
            text,
            "/env/ANTHROPIC_BASE_URL",
            &json!("http://127.0.0.1:8787"),
        )
        .unwrap();
        assert_eq!(
            out,
            "{\n    \"model\": \"opus\",\n    \"env\": {\n        \"FOO\": \"bär\",\n        \"ANTHROPIC_BASE_URL\": \"http://127.0.0.1:8787\"\n    }\n}"
        );
        assert_eq!(remove(F, &out, "/env/ANTHROPIC_BASE_URL").unwrap(), text);
    }

    #[test]
    fn creates_missing_parents_in_the_files_style() {
        let text = "{\n\t\"a\": 1\n}\n";
        let out = set(F, text, "/env/X", &json!("y")).unwrap();
        assert_eq!(
            out,
            "{\n\t\"a\": 1,\n\t\"env\": {\n\t\t\"X\": \"y\"\n\t}\n}\n"
        );
        assert_eq!(remove(F, &out, "/env").unwrap(), text);
    }

    #[test]
    fn empty_objects_and_files() {
        assert_eq!(
            set(F, "", "/env/X", &json!("y")).unwrap(),
            "{\n  \"env\": {\n    \"X\": \"y\"\n  }\n}\n"
        );
        assert_eq!(
            set(F, "{}", "/a", &json!(true)).unwrap(),
            "{\n  \"a\": true\n}"
        );
        assert_eq!(remove(F, "{\n  \"a\": true\n}", "/a").unwrap(), "{}");
    }

    #[test]
    fn replaces_a_value_in_place() {
        let text = r#"{"env": {"ANTHROPIC_BASE_URL": "https://x", "B": 2}}"#;
        let out = set(
            F,
            text,
            "/env/ANTHROPIC_BASE_URL",
            &json!("http://127.0.0.1:1"),
        )
        .unwrap();
        assert_eq!(
            out,
            r#"{"env": {"ANTHROPIC_BASE_URL": "http://127.0.0.1:1", "B": 2}}"#
        );
        assert_eq!(
            get(F, text, "/env/ANTHROPIC_BASE_URL").unwrap(),
            Some(json!("https://x"))
        );
        let removed = remove(F, text, "/env/ANTHROPIC_BASE_URL").unwrap();
        assert_eq!(removed, r#"{"env": {"B": 2}}"#);
    }

    #[test]
    fn invalid_json_names_the_position_and_wrong_types_are_refused() {
        let err = set(F, "{\n  \"a\": 1,\n}", "/b", &json!(1))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("~/.claude/settings.json: invalid JSON at line 3, column 1"),
            "{err}"
        );
        let err = set(F, r#"{"env": "x"}"#, "/env/A", &json!(1))
            .unwrap_err()
            .to_string();
        assert!(err.contains("/env is not an object"), "{err}");
    }

    #[test]
    fn escaped_pointer_segments() {
        let out = set(F, "{}", "/a~1b/c~0d", &json!(1)).unwrap();
        assert_eq!(get(F, &out, "/a~1b/c~0d").unwrap(), Some(json!(1)));
    }
}
