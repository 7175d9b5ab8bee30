//! TOML editing through toml_edit: comments, key order and formatting of everything not edited
//! are kept by the library's format-preserving document model.

use toml_edit::{DocumentMut, Item, Table, TableLike, Value};

use crate::error::EditError;

fn parse(file: &str, text: &str) -> Result<DocumentMut, EditError> {
    text.parse::<DocumentMut>().map_err(|e| {
        let (line, col) = e.span().map(|s| line_col(text, s.start)).unwrap_or((1, 1));
        EditError::Parse {
            file: file.to_owned(),
            format: "TOML",
            detail: format!("line {line}, column {col}: {}", e.message().trim()),
        }
    })
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    (line, col)
}

fn parse_value(file: &str, key: &[String], value: &str) -> Result<Value, EditError> {
    value.parse::<Value>().map_err(|e| EditError::Invalid {
        file: file.to_owned(),
        detail: format!(
            "value for {} is not TOML: {}",
            key.join("."),
            e.message().trim()
        ),
    })
}

/// The table holding `key`'s last segment, created (as needed) when `create`.
fn parent<'d>(
    file: &str,
    doc: &'d mut DocumentMut,
    key: &[String],
    create: bool,
) -> Result<Option<&'d mut dyn TableLike>, EditError> {
    let mut table: &mut dyn TableLike = doc.as_table_mut();
    let parents = &key[..key.len() - 1];
    for (i, seg) in parents.iter().enumerate() {
        if table.get(seg).is_none() {
            if !create {
                return Ok(None);
            }
            let mut t = Table::new();
            // Only the table that receives keys gets a `[header]`; its ancestors stay implicit.
            t.set_implicit(i + 1 < parents.len());
            table.insert(seg, Item::Table(t));
        }
        let item = table.get_mut(seg).expect("just ensured");
        table = match item.as_table_like_mut() {
            Some(t) => t,
            None => {
                return Err(EditError::Invalid {
                    file: file.to_owned(),
                    detail: format!(
                        "cannot set {}: {} is not a table",
                        key.join("."),
                        parents[..=i].join(".")
                    ),
                });
            }
        };
    }
    Ok(Some(table))
}

fn check_key(file: &str, key: &[String]) -> Result<(), EditError> {
    if key.is_empty() {
        return Err(EditError::Invalid {
            file: file.to_owned(),
            detail: "empty TOML key path".into(),
        });
    }
    Ok(())
}

/// The value at `key` as TOML text without decoration, or None when absent.
pub fn get(file: &str, text: &str, key: &[String]) -> Result<Option<String>, EditError> {
    check_key(file, key)?;
    let mut doc = parse(file, text)?;
    let Some(table) = parent(file, &mut doc, key, false)? else {
        return Ok(None);
    };
    Ok(table.get(&key[key.len() - 1]).map(|item| match item {
        Item::Value(v) => {
            let mut v = v.clone();
            v.decor_mut().clear();
            v.to_string()
        }
        other => other.to_string(),
    }))
}

pub fn set(file: &str, text: &str, key: &[String], value: &str) -> Result<String, EditError> {
    check_key(file, key)?;
    let mut new = parse_value(file, key, value)?;
    let mut doc = parse(file, text)?;
    let table = parent(file, &mut doc, key, true)?.expect("created");
    let last = &key[key.len() - 1];
    match table.get_mut(last) {
        Some(Item::Value(old)) => {
            *new.decor_mut() = old.decor().clone();
            *old = new;
        }
        Some(_) => {
            return Err(EditError::Invalid {
                file: file.to_owned(),
                detail: format!("cannot set {}: it is a table", key.join(".")),
            });
        }
        None => {
            table.insert(last, Item::Value(new));
        }
    }
    Ok(doc.to_string())
}

pub fn remove(file: &str, text: &str, key: &[String]) -> Result<String, EditError> {
    check_key(file, key)?;
    let mut doc = parse(file, text)?;
    let Some(table) = parent(file, &mut doc, key, false)? else {
        return Ok(text.to_owned());
    };
    if table.remove(&key[key.len() - 1]).is_none() {
        return Ok(text.to_owned());
    }
    Ok(doc.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(s: &str) -> Vec<String> {
        s.split('.').map(str::to_owned).collect()
    }

    const F: &str = "~/.codex/config.toml";

    #[test]
    fn keeps_comments_and_order() {
        let text = "# my settings\nmodel = \"o3\" # the best\n\n[profiles.work]\n# work stuff\nmodel = \"x\"\n";
        let out = set(
            F,
            text,
            &k("model_providers.headroom.base_url"),
            "\"http://127.0.0.1:8787/v1\"",
        )
        .unwrap();
        assert!(out.starts_with(text), "{out}");
        assert!(
            out.ends_with("[model_providers.headroom]\nbase_url = \"http://127.0.0.1:8787/v1\"\n"),
            "{out}"
        );
        let out2 = set(F, text, &k("model"), "\"gpt-5\"").unwrap();
        assert_eq!(out2, text.replace("\"o3\"", "\"gpt-5\""));
        assert_eq!(
            get(F, text, &k("model")).unwrap().as_deref(),
            Some("\"o3\"")
        );
        let removed = remove(F, &out, &k("model_providers.headroom.base_url")).unwrap();
        assert_eq!(
            get(F, &removed, &k("model_providers.headroom.base_url")).unwrap(),
            None
        );
        assert!(removed.starts_with(text));
    }

    #[test]
    fn errors_name_the_position() {
        let err = set(F, "a = 1\nb = = 2\n", &k("c"), "1")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("~/.codex/config.toml: invalid TOML at line 2"),
            "{err}"
        );
        let err = set(F, "a = 1\n", &k("a.b"), "1").unwrap_err().to_string();
        assert!(err.contains("a is not a table"), "{err}");
        let err = set(F, "", &k("a"), "not toml").unwrap_err().to_string();
        assert!(err.contains("is not TOML"), "{err}");
    }
}
