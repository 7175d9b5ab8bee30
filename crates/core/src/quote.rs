//! POSIX shell quoting, for every command line headroom writes (crontabs, scripts) or prints for
//! the user to paste.

/// Single-quote `value` for a POSIX shell when it needs it: `it's` → `'it'\''s'`. Nothing inside
/// is expanded; plain words (letters, digits, `/._-=:@,+`) stay as they are.
pub fn sh(value: &str) -> String {
    if !value.is_empty()
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/._-=:@,+".contains(&b))
    {
        return value.to_owned();
    }
    format!("'{}'", value.replace('\'', r"'\''"))
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    fn sh_echo(line: &str) -> String {
        let out = std::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(format!("printf %s {line}"))
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap()
    }

    #[test]
    fn shell_quoting_survives_a_real_shell() {
        for v in [
            "plain",
            "with space",
            "it's",
            "$(touch /tmp/pwned)",
            "`id`",
            "a\"b",
            "back\\slash",
            "*",
            "",
            "~",
        ] {
            assert_eq!(sh_echo(&sh(v)), v, "{v:?} -> {}", sh(v));
        }
    }
}
