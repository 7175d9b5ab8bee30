//! Issue #13, the read side: hostile adapters written against the public SDK, in an ordinary
//! HOME, must not read through symlinks or FIFOs, follow a `${VAR}` somewhere its default could
//! not go, block the host, spoof the consent screen, read secret-looking variables or the tools'
//! own credential files. Each case checks the secret never came back, nothing changed (inside
//! HOME or beside it), and the call ended within its bound.

mod support;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use support::*;

/// Generous: a call is bounded by ~2 s; this only keeps a regression from hanging the suite.
const BOUND: Duration = Duration::from_secs(30);

const HOSTILE_TOML: &str = include_str!("../../plugins/fixtures/hostile/adapter.toml");
const PRIVATE_KEY: &str = "-----BEGIN OPENSSH PRIVATE KEY----- hostile-test";

struct Home {
    _dir: tempfile::TempDir,
    /// Beside HOME: where an escape outside it would land.
    outside: PathBuf,
    path: PathBuf,
}

fn home() -> Home {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("home");
    let outside = dir.path().join("outside");
    fs::create_dir_all(&path).unwrap();
    fs::create_dir_all(&outside).unwrap();
    fs::create_dir_all(path.join(".ssh")).unwrap();
    fs::write(path.join(".ssh/id_rsa"), PRIVATE_KEY).unwrap();
    fs::write(
        path.join(".bash_history"),
        "curl -H 'Authorization: hunter2'\n",
    )
    .unwrap();
    fs::create_dir_all(path.join(".hostile")).unwrap();
    fs::write(path.join(".hostile/config.json"), "{}\n").unwrap();
    Home {
        _dir: dir,
        outside,
        path,
    }
}

fn sha256(p: &Path) -> String {
    headroom_core::sha256_hex(&fs::read(p).unwrap())
}

/// `headroom ARGS` in an isolated environment, killed if it outlives [`BOUND`].
fn bounded(home: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c: Command = isolated(home, args);
    c.envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > BOUND {
            let _ = child.kill();
            panic!("headroom {args:?} still running after {BOUND:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

fn fixture() -> PathBuf {
    Path::new(headroom_plugins::builtin::FIXTURES_DIR).join("headroom_fixture_hostile.wasm")
}

/// The hostile fixture with `manifest` embedded instead of its own (same code).
fn variant(h: &Home, name: &str, manifest: &str) -> PathBuf {
    let base = fs::read(fixture()).unwrap();
    let path = h.outside.parent().unwrap().join(format!("{name}.wasm"));
    fs::write(&path, with_manifest(&base, manifest)).unwrap();
    path
}

fn install(home: &Path, wasm: &Path) -> String {
    ok(&bounded(
        home,
        &["plugins", "install", "--yes", wasm.to_str().unwrap()],
        &[],
    ))
}

/// `plugins apply hostile` in `mode`: the one error line, after checking nothing leaked.
fn attempt(h: &Home, mode: &str, env: &[(&str, &str)]) -> String {
    let mut all = vec![("HOSTILE_MODE", mode)];
    all.extend_from_slice(env);
    let o = bounded(&h.path, &["plugins", "apply", "hostile"], &all);
    let line = err_line(&o);
    for secret in [PRIVATE_KEY, "hunter2", "root:", "sk-"] {
        assert!(!line.contains(secret), "{mode} leaked {secret}: {line}");
    }
    line
}

/// What must hold after every attempt: the key is untouched, nothing appeared beside HOME.
fn unchanged(h: &Home, key_sha: &str, before: &Tree) {
    assert_eq!(sha256(&h.path.join(".ssh/id_rsa")), key_sha);
    assert_same_tree(before, &user_files(&h.path), "HOME");
    assert_eq!(fs::read_dir(&h.outside).unwrap().count(), 0, "beside HOME");
}

#[test]
fn symlinks_leaving_a_granted_directory_and_special_files_are_refused() {
    let h = home();
    install(&h.path, &fixture());
    let d = h.path.join(".hostile");
    std::os::unix::fs::symlink("../.ssh/id_rsa", d.join("rel-link")).unwrap();
    std::os::unix::fs::symlink("..", d.join("up")).unwrap();
    std::os::unix::fs::symlink("../.bash_history", d.join("history")).unwrap();
    std::os::unix::fs::symlink("config.json", d.join("inside")).unwrap();
    let key = sha256(&h.path.join(".ssh/id_rsa"));
    let before = user_files(&h.path);

    for path in [
        "~/.hostile/rel-link",
        "~/.hostile/up/.ssh/id_rsa",
        "~/.hostile/up/.bash_history",
        "~/.hostile/history",
    ] {
        let line = attempt(&h, &format!("read:{path}"), &[]);
        assert!(line.contains("Denied("), "{path}: {line}");
        unchanged(&h, &key, &before);
    }
    let line = attempt(&h, "list:~/.hostile/up", &[]);
    assert!(line.contains("Denied("), "{line}");
    // A FIFO is refused before anything is read: the call neither hangs nor reads. (Removed
    // again before the tree is compared: reading it would hang the snapshot.)
    let fifo = d.join("fifo");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let line = attempt(&h, "read:~/.hostile/fifo", &[]);
    assert!(line.contains("not a regular file"), "{line}");
    fs::remove_file(&fifo).unwrap();
    // A link that stays inside the granted directory still works.
    let line = attempt(&h, "read:~/.hostile/inside", &[]);
    assert!(line.contains("Ok(Some(\"{}\\n\"))"), "{line}");
    unchanged(&h, &key, &before);
}

#[test]
fn a_variable_path_is_judged_by_its_value_at_every_use() {
    // Following a variable it does not declare: refused before anything is installed.
    let h = home();
    let undeclared = variant(
        &h,
        "undeclared",
        &HOSTILE_TOML.replace("\"~/.hostile/**\"", "\"${HOME:-~/.hostile}/**\""),
    );
    let line = err_line(&bounded(
        &h.path,
        &["plugins", "install", "--yes", undeclared.to_str().unwrap()],
        &[],
    ));
    assert!(line.contains("which it does not declare"), "{line}");
    assert!(!h.path.join(".headroom/plugins/hostile").exists());

    // Declared, and pointed at the whole home, the filesystem, or outside the home: the grant
    // is worth nothing now (the screen says so), each attempt is denied and counted.
    for (var, value, path) in [
        ("HOME", None, "~/.bash_history"),
        ("PWD", Some("/"), "/etc/passwd"),
        ("PWD", Some("/"), "~/.bash_history"),
        ("HOSTILE_DIR", Some("@outside"), "@outside/secret"),
    ] {
        let h = home();
        fs::write(h.outside.join("secret"), "sk-outside").unwrap();
        let outside = h.outside.to_str().unwrap().to_owned();
        let value = value.map(|v| v.replace("@outside", &outside));
        let path = path.replace("@outside", &outside);
        let manifest = HOSTILE_TOML
            .replace(
                "env = [\"HOSTILE_MODE\"]",
                &format!("env = [\"HOSTILE_MODE\", \"{var}\"]"),
            )
            .replace(
                "\"~/.hostile/**\"",
                &format!("\"${{{var}:-~/.hostile}}/**\""),
            );
        let wasm = variant(&h, var, &manifest);
        let env: Vec<(&str, &str)> = value.iter().map(|v| (var, v.as_str())).collect();
        let o = bounded(
            &h.path,
            &["plugins", "install", "--yes", wasm.to_str().unwrap()],
            &env,
        );
        let screen = ok(&o);
        assert!(
            screen.contains(&format!("[follows ${var}; refused now:")),
            "{var}: {screen}"
        );
        let key = sha256(&h.path.join(".ssh/id_rsa"));
        let before = user_files(&h.path);
        let line = attempt(&h, &format!("read:{path}"), &env);
        assert!(line.contains("Denied("), "{var}: {line}");
        assert_eq!(sha256(&h.path.join(".ssh/id_rsa")), key);
        assert_same_tree(&before, &user_files(&h.path), "HOME");
        let list = ok(&bounded(&h.path, &["plugins", "list", "-v"], &env));
        assert!(
            list.lines()
                .any(|l| l.contains("last run apply") && l.ends_with(": 1 denial")),
            "{var}: {list}"
        );
    }

    // A provider-scope adapter whose edit follows a variable pointed outside the home: the
    // executor never gets a grant there, and nothing is created outside.
    let h = home();
    let manifest = HOSTILE_TOML
        .replace(
            "env = [\"HOSTILE_MODE\"]",
            "env = [\"HOSTILE_MODE\", \"HOSTILE_DIR\"]",
        )
        .replace(
            "file = \"~/.hostile/config.json\"",
            "file = \"${HOSTILE_DIR:-~/.hostile}/config.json\"",
        );
    let wasm = variant(&h, "edit-var", &manifest);
    install(&h.path, &wasm);
    let key = sha256(&h.path.join(".ssh/id_rsa"));
    let before = user_files(&h.path);
    let outside = h.outside.to_str().unwrap().to_owned();
    let target = format!("{outside}/config.json");
    let line = attempt(
        &h,
        &format!("edit:{target}"),
        &[("HOSTILE_DIR", outside.as_str())],
    );
    assert!(line.contains("no grant covers it"), "{line}");
    unchanged(&h, &key, &before);
    // Pointed at the home itself: `~/config.json` is not the tool's file either.
    let home_s = h.path.to_str().unwrap().to_owned();
    let line = attempt(
        &h,
        "edit:~/config.json",
        &[("HOSTILE_DIR", home_s.as_str())],
    );
    assert!(line.contains("no grant covers it"), "{line}");
    unchanged(&h, &key, &before);
}

#[test]
fn a_sleeping_adapter_is_stopped_at_its_time_limit() {
    let h = home();
    install(&h.path, &fixture());
    let key = sha256(&h.path.join(".ssh/id_rsa"));
    let before = user_files(&h.path);
    let line = attempt(&h, "sleep", &[]);
    assert!(line.contains("exceeded its 2 s time limit"), "{line}");
    unchanged(&h, &key, &before);
    // `plugins list` runs every adapter's detect; a sleeping one is reported, not waited for.
    let o = bounded(&h.path, &["plugins", "list"], &[("HOSTILE_MODE", "sleep")]);
    let list = ok(&o);
    let row = list
        .lines()
        .skip_while(|l| !l.starts_with("hostile "))
        .take(2)
        .collect::<Vec<_>>()
        .join("\n");
    assert!(row.contains(" error "), "{list}");
    assert!(row.contains("exceeded its 2 s time limit"), "{list}");
    unchanged(&h, &key, &before);
}

/// Any raw Unicode format or separator character (what could reorder or hide text).
fn raw_invisible(s: &str) -> Option<char> {
    s.chars()
        .find(|c| headroom_plugins::runtime::is_invisible(*c) || (*c != '\n' && c.is_control()))
}

#[test]
fn manifest_strings_cannot_spoof_the_screen_and_secret_names_are_refused() {
    let h = home();
    let spoof =
        "\\u202Eevil\\u2066x\\u2069\\u200B\\u200D\\u2060\\uFEFF\\u2028\\u2029\\u200F\\u00AD";
    let manifest = HOSTILE_TOML
        .replace(
            "name = \"Hostile fixture\"",
            &format!("name = \"Hostile {spoof}\"\nauthor = \"{spoof}\"\nlicense = \"{spoof}\""),
        )
        .replace(
            "targets = [\"hostile\"]",
            &format!("targets = [\"hostile{spoof}\"]"),
        );
    let wasm = variant(&h, "painted", &manifest);
    // Without a terminal the install is refused, after the screen was printed.
    let o = bounded(
        &h.path,
        &["plugins", "install", wasm.to_str().unwrap()],
        &[],
    );
    err_line(&o);
    let screen = String::from_utf8(o.stdout).unwrap();
    assert_eq!(raw_invisible(&screen), None, "{screen:?}");
    assert!(
        screen.contains("\\u{202e}evil\\u{2066}x\\u{2069}\\u{200b}"),
        "{screen}"
    );
    let inspect = ok(&bounded(
        &h.path,
        &["plugins", "inspect", wasm.to_str().unwrap()],
        &[],
    ));
    assert_eq!(raw_invisible(&inspect), None, "{inspect:?}");
    assert!(inspect.contains("\\u{2028}"), "{inspect}");
    install(&h.path, &wasm);
    for args in [&["plugins", "list"][..], &["plugins", "list", "-v"]] {
        let list = ok(&bounded(&h.path, args, &[]));
        assert_eq!(raw_invisible(&list), None, "{list:?}");
    }

    // Secret-looking names are refused at install, and never served at run time.
    for name in [
        "AZURE_OPENAI_KEY",
        "GITHUB_PAT",
        "ANTHROPIC_CUSTOM_HEADERS",
        "OPENAI_AUTH_TOKEN",
    ] {
        let wasm = variant(
            &h,
            name,
            &HOSTILE_TOML.replace(
                "env = [\"HOSTILE_MODE\"]",
                &format!("env = [\"HOSTILE_MODE\", \"{name}\"]"),
            ),
        );
        let line = err_line(&bounded(
            &h.path,
            &["plugins", "install", "--yes", wasm.to_str().unwrap()],
            &[],
        ));
        assert!(line.contains("secret"), "{name}: {line}");
        let line = attempt(&h, &format!("env:{name}"), &[(name, "sk-very-secret")]);
        assert!(line.contains("Denied("), "{name}: {line}");
    }
}

#[test]
fn credential_files_are_never_read_wherever_their_directory_is() {
    let h = home();
    let alt = h.path.join("alt-codex");
    for d in [h.path.join(".claude"), h.path.join(".codex"), alt.clone()] {
        fs::create_dir_all(&d).unwrap();
    }
    let creds = [
        h.path.join(".claude/.credentials.json"),
        h.path.join(".codex/auth.json"),
        alt.join("auth.json"),
    ];
    for c in &creds {
        fs::write(c, "{\"tokens\": {\"access_token\": \"sk-oauth\"}}").unwrap();
    }
    let manifest = HOSTILE_TOML
        .replace(
            "env = [\"HOSTILE_MODE\"]",
            "env = [\"HOSTILE_MODE\", \"CODEX_HOME\"]",
        )
        .replace(
            "read = [\"~/.hostile/**\"]",
            "read = [\"~/.hostile/**\", \"~/.claude/**\", \"${CODEX_HOME:-~/.codex}/**\"]",
        );
    let wasm = variant(&h, "creds", &manifest);
    install(&h.path, &wasm);
    std::os::unix::fs::symlink(
        "../.claude/.credentials.json",
        h.path.join(".claude/linked.json"),
    )
    .unwrap();
    let sums: Vec<String> = creds.iter().map(|c| sha256(c)).collect();
    let alt_s = alt.to_str().unwrap().to_owned();
    for (path, env) in [
        ("~/.claude/.credentials.json", vec![]),
        ("~/.claude/linked.json", vec![]),
        ("~/.codex/auth.json", vec![]),
        (
            "~/alt-codex/auth.json",
            vec![("CODEX_HOME", alt_s.as_str())],
        ),
    ] {
        let line = attempt(&h, &format!("read:{path}"), &env);
        assert!(line.contains("Denied("), "{path}: {line}");
    }
    // What Codex needs to know about its login, the host answers without the credential, and
    // only to an adapter that declares (and was granted) the fact.
    let line = attempt(&h, "fact:codex-login", &[]);
    assert!(
        line.contains("Denied(\"fact codex-login\")"),
        "not declared: {line}"
    );
    // Declared and granted: the kind of login, never the token.
    let with_fact = manifest.replace(
        "[capabilities]",
        "[capabilities]\nfacts = [\"codex-login\"]",
    );
    install(&h.path, &variant(&h, "creds-fact", &with_fact));
    let line = attempt(&h, "fact:codex-login", &[]);
    assert!(line.contains("Ok(") && line.contains("Chatgpt"), "{line}");
    assert!(!line.contains("oauth"), "{line}");
    let sums_after: Vec<String> = creds.iter().map(|c| sha256(c)).collect();
    assert_eq!(sums, sums_after);
}
