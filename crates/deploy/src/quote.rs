//! Quoting for every place a path or value is written into another language: POSIX shell (cron
//! lines, scripts), systemd unit settings, XML (launchd/Task Scheduler). Values we cannot quote
//! faithfully (control characters) are refused instead of mangled.

use thiserror::Error;

#[derive(Debug, Error, PartialEq, Eq)]
#[error(
    "{what} contains a control character (newline, tab, ...), which cannot be written safely: {value:?}"
)]
pub struct Unquotable {
    pub what: String,
    pub value: String,
}

pub fn reject_control(what: &str, value: &str) -> Result<(), Unquotable> {
    if value.chars().any(char::is_control) {
        return Err(Unquotable {
            what: what.to_owned(),
            value: value.to_owned(),
        });
    }
    Ok(())
}

/// POSIX shell single-quoting (headroom-core's, shared with the CLI's printed commands).
pub use headroom_core::quote::sh;

/// A shell command line for a crontab: cron turns an unescaped `%` into a newline, so escape it.
pub fn crontab_command(shell_line: &str) -> String {
    shell_line.replace('%', r"\%")
}

/// One systemd command-line word (ExecStart=): double-quoted, with `\`, `"` escaped, `%`
/// specifiers and `$` variable expansion disabled.
pub fn systemd_word(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '\\' => out.push_str(r"\\"),
            '"' => out.push_str("\\\""),
            '%' => out.push_str("%%"),
            '$' => out.push_str("$$"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// One `Environment=` assignment, quoted (no `$` expansion happens in Environment=).
pub fn systemd_env(key: &str, value: &str) -> String {
    let mut out = String::from("\"");
    for c in format!("{key}={value}").chars() {
        match c {
            '\\' => out.push_str(r"\\"),
            '"' => out.push_str("\\\""),
            '%' => out.push_str("%%"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A path in a unit setting that takes a plain path (StandardOutput=append:…): only `%` needs escaping.
pub fn systemd_path(value: &str) -> String {
    value.replace('%', "%%")
}

/// XML text and attribute content.
pub fn xml(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn systemd_words_escape_specifiers_and_variables() {
        assert_eq!(systemd_word("/a b/x"), "\"/a b/x\"");
        assert_eq!(systemd_word("50%$HOME\"\\"), r#""50%%$$HOME\"\\""#);
        assert_eq!(systemd_env("HOME", "/h %i"), "\"HOME=/h %%i\"");
    }

    #[test]
    fn control_characters_are_refused() {
        assert!(reject_control("HOME", "/a\nb").is_err());
        assert!(reject_control("HOME", "/a b").is_ok());
    }

    #[test]
    fn crontab_percent_is_escaped_and_xml_is_escaped() {
        assert_eq!(crontab_command("date +%s"), r"date +\%s");
        assert_eq!(xml("<a&'\">"), "&lt;a&amp;&apos;&quot;&gt;");
    }
}
