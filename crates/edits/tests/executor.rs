//! The executor on real files in a temporary home: apply → revert restores every byte.

use std::fs;
use std::path::{Path, PathBuf};

use headroom_edits::{
    Authorized, BlockPlacement, Edit, EditGrant, Executor, Format, MarkerStyle, Plan, Roots,
};

struct Home {
    _dir: tempfile::TempDir,
    home: PathBuf,
    exec: Executor,
    journal: PathBuf,
}

fn home() -> Home {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    fs::create_dir_all(&home).unwrap();
    let exec = Executor::new(
        Roots {
            home: home.clone(),
            system: dir.path().join("root"),
        },
        dir.path().join("locks/edits.lock"),
    );
    let journal = dir.path().join("journal.json");
    Home {
        _dir: dir,
        home,
        exec,
        journal,
    }
}

const SETTINGS: &str = "~/.claude/settings.json";

fn claude_plan(port: u16) -> Authorized {
    Authorized::new(
        Plan {
            source: "claude".into(),
            edits: vec![
                Edit::JsonSet {
                    file: SETTINGS.into(),
                    pointer: "/env/ANTHROPIC_BASE_URL".into(),
                    value: format!("\"http://127.0.0.1:{port}\""),
                },
                Edit::JsonSet {
                    file: SETTINGS.into(),
                    pointer: "/env/ENABLE_TOOL_SEARCH".into(),
                    value: "\"true\"".into(),
                },
            ],
            notes: vec![],
        },
        vec![EditGrant {
            file: SETTINGS.into(),
            format: Format::Json,
            keys: vec![
                "/env/ANTHROPIC_BASE_URL".into(),
                "/env/ENABLE_TOOL_SEARCH".into(),
            ],
        }],
    )
}

fn settings(h: &Home) -> PathBuf {
    h.home.join(".claude/settings.json")
}

fn snapshot(dir: &Path) -> Vec<(PathBuf, Option<Vec<u8>>)> {
    let mut out = Vec::new();
    fn walk(d: &Path, out: &mut Vec<(PathBuf, Option<Vec<u8>>)>) {
        let mut entries: Vec<_> = fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        entries.sort();
        for p in entries {
            let m = fs::symlink_metadata(&p).unwrap();
            if m.is_dir() {
                out.push((p.clone(), None));
                walk(&p, out);
            } else {
                out.push((p.clone(), fs::read(&p).ok()));
            }
        }
    }
    walk(dir, &mut out);
    out
}

#[test]
fn claude_settings_edge_cases_round_trip_byte_for_byte() {
    let cases: &[(&str, Option<&str>)] = &[
        ("absent file", None),
        ("empty file", Some("")),
        ("no env key", Some("{\n  \"model\": \"opus\"\n}\n")),
        (
            "four-space indent",
            Some("{\n    \"env\": {\n        \"FOO\": \"1\"\n    },\n    \"x\": [1, 2]\n}\n"),
        ),
        ("tabs", Some("{\n\t\"env\": {}\n}\n")),
        (
            "non-ASCII",
            Some(
                "{\n  \"statusLine\": \"héllo — 世界 🚀\",\n  \"env\": {\"LANG\": \"fr_FR.UTF-8\"}\n}\n",
            ),
        ),
        (
            "no final newline",
            Some("{\"permissions\": {\"allow\": []}}"),
        ),
        (
            "existing base URL",
            Some(
                "{\n  \"env\": {\n    \"ANTHROPIC_BASE_URL\": \"https://corp-gateway.example\",\n    \"ENABLE_TOOL_SEARCH\": \"false\"\n  }\n}\n",
            ),
        ),
        (
            "CRLF",
            Some("{\r\n  \"env\": {\r\n    \"A\": \"1\"\r\n  }\r\n}\r\n"),
        ),
    ];
    for (name, original) in cases {
        let h = home();
        if let Some(text) = original {
            fs::create_dir_all(h.home.join(".claude")).unwrap();
            fs::write(settings(&h), text).unwrap();
        }
        let before = snapshot(&h.home);
        let changes = h.exec.apply(&[claude_plan(8787)], &h.journal).unwrap();
        let after: serde_json::Value =
            serde_json::from_slice(&fs::read(settings(&h)).unwrap()).unwrap();
        assert_eq!(
            after["env"]["ANTHROPIC_BASE_URL"], "http://127.0.0.1:8787",
            "{name}"
        );
        assert_eq!(after["env"]["ENABLE_TOOL_SEARCH"], "true", "{name}");
        assert!(changes[0].unified_diff().contains("+"), "{name}");
        if let Some(text) = original {
            let new = fs::read_to_string(settings(&h)).unwrap();
            assert_eq!(
                new.ends_with('\n'),
                text.ends_with('\n') || text.is_empty(),
                "{name}: final newline"
            );
            if text.contains("世界") {
                assert!(
                    new.contains("héllo — 世界 🚀"),
                    "{name}: non-ASCII kept literally"
                );
            }
        }
        // Idempotent: a second apply changes nothing and the journal keeps the original bytes.
        let again = h.exec.apply(&[claude_plan(8787)], &h.journal).unwrap();
        assert!(again.iter().all(|c| c.is_noop()), "{name}");
        // A re-apply with another port, then one revert: still the original.
        h.exec.apply(&[claude_plan(9999)], &h.journal).unwrap();
        let report = h.exec.revert(&h.journal).unwrap();
        assert_eq!(report.restored, vec![SETTINGS.to_owned()], "{name}");
        assert_eq!(
            snapshot(&h.home),
            before,
            "{name}: every byte restored, created dirs removed"
        );
        assert!(!h.journal.exists());
        // Revert again: a no-op.
        assert_eq!(h.exec.revert(&h.journal).unwrap(), Default::default());
    }
}

#[test]
fn a_file_the_user_changed_since_gets_only_our_keys_back() {
    let h = home();
    fs::create_dir_all(h.home.join(".claude")).unwrap();
    fs::write(
        settings(&h),
        "{\n  \"env\": {\n    \"ANTHROPIC_BASE_URL\": \"https://mine\"\n  }\n}\n",
    )
    .unwrap();
    h.exec.apply(&[claude_plan(8787)], &h.journal).unwrap();
    let mut v: serde_json::Value =
        serde_json::from_slice(&fs::read(settings(&h)).unwrap()).unwrap();
    v["model"] = "sonnet".into();
    fs::write(settings(&h), serde_json::to_string_pretty(&v).unwrap()).unwrap();
    assert_eq!(h.exec.drift(&h.journal).unwrap().len(), 1);
    let report = h.exec.revert(&h.journal).unwrap();
    assert_eq!(report.merged, vec![SETTINGS.to_owned()]);
    let v: serde_json::Value = serde_json::from_slice(&fs::read(settings(&h)).unwrap()).unwrap();
    assert_eq!(
        v["env"]["ANTHROPIC_BASE_URL"], "https://mine",
        "the user's value is back"
    );
    assert!(
        v["env"].get("ENABLE_TOOL_SEARCH").is_none(),
        "our added key is gone"
    );
    assert_eq!(v["model"], "sonnet", "the user's later change is kept");
}

#[test]
fn bad_files_stop_everything_before_any_write() {
    let h = home();
    fs::create_dir_all(h.home.join(".claude")).unwrap();
    // Two files in one apply: the second is invalid, so the first must not be written either.
    fs::write(h.home.join(".bashrc"), "alias x=y\n").unwrap();
    fs::write(settings(&h), "{\n  \"env\": {\n    \"A\": 1,\n  }\n}\n").unwrap();
    let rc_plan = Authorized::new(
        Plan {
            source: "shell-env".into(),
            edits: vec![Edit::BlockSet {
                file: "~/.bashrc".into(),
                id: "persistent env".into(),
                style: MarkerStyle::Arrows,
                comment: "#".into(),
                body: "export A='1'".into(),
                placement: BlockPlacement::End,
            }],
            notes: vec![],
        },
        vec![EditGrant {
            file: "~/.bashrc".into(),
            format: Format::Text,
            keys: vec!["persistent env".into()],
        }],
    );
    let before = snapshot(&h.home);
    let err = h
        .exec
        .apply(&[rc_plan, claude_plan(8787)], &h.journal)
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "~/.claude/settings.json: invalid JSON at line 4, column 3: trailing comma"
    );
    assert_eq!(snapshot(&h.home), before);
    assert!(!h.journal.exists());

    // A directory where the file should be; a read-only file.
    fs::remove_file(settings(&h)).unwrap();
    fs::create_dir(settings(&h)).unwrap();
    let err = h
        .exec
        .apply(&[claude_plan(1)], &h.journal)
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "~/.claude/settings.json: is a directory, expected a file"
    );
    fs::remove_dir(settings(&h)).unwrap();
    fs::write(settings(&h), "{}").unwrap();
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(settings(&h), fs::Permissions::from_mode(0o444)).unwrap();
    let err = h
        .exec
        .apply(&[claude_plan(1)], &h.journal)
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("~/.claude/settings.json: is read-only"),
        "{err}"
    );
    assert_eq!(fs::read_to_string(settings(&h)).unwrap(), "{}");
}

#[test]
fn edits_outside_the_grants_are_refused_before_reading() {
    let h = home();
    let (mut p, grants) = claude_plan(1).into_parts();
    p.edits.push(Edit::JsonSet {
        file: SETTINGS.into(),
        pointer: "/permissions/allow".into(),
        value: "[\"Bash(*)\"]".into(),
    });
    let plan = Authorized::new(p, grants);
    let err = h.exec.apply(&[plan], &h.journal).unwrap_err().to_string();
    assert_eq!(
        err,
        "claude may not edit JSON key /permissions/allow of ~/.claude/settings.json (no grant covers it)"
    );
    let (mut p, grants) = claude_plan(1).into_parts();
    p.edits[0] = Edit::JsonSet {
        file: "~/.ssh/config".into(),
        pointer: "/x".into(),
        value: "1".into(),
    };
    let plan = Authorized::new(p, grants);
    assert!(
        h.exec
            .apply(&[plan], &h.journal)
            .unwrap_err()
            .to_string()
            .contains("~/.ssh/config")
    );
    assert!(!h.home.join(".claude").exists() && !h.home.join(".ssh").exists());
    for f in ["~/../etc/passwd", "relative/x", "~/a/../../b"] {
        let (mut p, mut grants) = claude_plan(1).into_parts();
        p.edits = vec![Edit::JsonRemove {
            file: f.into(),
            pointer: "/x".into(),
        }];
        grants[0].file = f.into();
        grants[0].keys = vec!["/x".into()];
        let plan = Authorized::new(p, grants);
        let err = h.exec.apply(&[plan], &h.journal).unwrap_err().to_string();
        assert!(err.starts_with(&format!("invalid path {f:?}")), "{err}");
    }
}

#[test]
fn a_symlinked_dotfile_is_edited_at_its_target() {
    let h = home();
    let dotfiles = h.home.join("dotfiles");
    fs::create_dir_all(&dotfiles).unwrap();
    fs::write(dotfiles.join("claude.json"), "{\"env\": {}}\n").unwrap();
    fs::create_dir_all(h.home.join(".claude")).unwrap();
    std::os::unix::fs::symlink(dotfiles.join("claude.json"), settings(&h)).unwrap();
    h.exec.apply(&[claude_plan(8787)], &h.journal).unwrap();
    assert!(
        fs::symlink_metadata(settings(&h))
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert!(
        fs::read_to_string(dotfiles.join("claude.json"))
            .unwrap()
            .contains("8787")
    );
    h.exec.revert(&h.journal).unwrap();
    assert!(
        fs::symlink_metadata(settings(&h))
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(
        fs::read_to_string(dotfiles.join("claude.json")).unwrap(),
        "{\"env\": {}}\n"
    );
}

#[test]
fn toml_and_permissions_round_trip() {
    let h = home();
    let cfg = h.home.join(".codex/config.toml");
    fs::create_dir_all(cfg.parent().unwrap()).unwrap();
    let original = "# Codex\nmodel_provider = \"openai\" # mine\nopenai_base_url = \"https://gw\"\n\n# profiles\n[profiles.a]\nmodel = \"o3\"\n";
    fs::write(&cfg, original).unwrap();
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(&cfg, fs::Permissions::from_mode(0o600)).unwrap();
    let file = "~/.codex/config.toml".to_owned();
    let plan = Authorized::new(
        Plan {
            source: "codex".into(),
            edits: vec![
                Edit::TomlRemove { file: file.clone(), key: vec!["model_provider".into()] },
                Edit::BlockSet {
                    file: file.clone(),
                    id: "persistent provider".into(),
                    style: MarkerStyle::Dashes,
                    comment: "#".into(),
                    body: "model_provider = \"headroom\"\n\n[model_providers.headroom]\nname = \"headroom\"\nbase_url = \"http://127.0.0.1:8787/v1\"".into(),
                    placement: BlockPlacement::BeforeFirstTable,
                },
            ],
            notes: vec![],
        },
        vec![
            EditGrant { file: file.clone(), format: Format::Toml, keys: vec!["model_provider".into()] },
            EditGrant { file: file.clone(), format: Format::Text, keys: vec!["persistent provider".into()] },
        ],
    );
    h.exec.apply(&[plan], &h.journal).unwrap();
    let applied = fs::read_to_string(&cfg).unwrap();
    let doc: toml_edit::DocumentMut = applied.parse().unwrap();
    assert_eq!(doc["model_provider"].as_str(), Some("headroom"));
    assert_eq!(doc["openai_base_url"].as_str(), Some("https://gw"));
    assert_eq!(doc["profiles"]["a"]["model"].as_str(), Some("o3"));
    assert!(
        applied.contains("# profiles\n[profiles.a]"),
        "comment still attached:\n{applied}"
    );
    assert_eq!(
        fs::metadata(&cfg).unwrap().permissions().mode() & 0o777,
        0o600
    );
    h.exec.revert(&h.journal).unwrap();
    assert_eq!(fs::read_to_string(&cfg).unwrap(), original);
    assert_eq!(
        fs::metadata(&cfg).unwrap().permissions().mode() & 0o777,
        0o600
    );
}

fn rc_plan(port: u16) -> Authorized {
    Authorized::new(
        Plan {
            source: "shell-env".into(),
            edits: vec![Edit::BlockSet {
                file: "~/.config/fish/conf.d/headroom.fish".into(),
                id: "persistent env".into(),
                style: MarkerStyle::Arrows,
                comment: "#".into(),
                body: format!("set -gx ANTHROPIC_BASE_URL 'http://127.0.0.1:{port}'"),
                placement: BlockPlacement::End,
            }],
            notes: vec![],
        },
        vec![EditGrant {
            file: "~/.config/fish/conf.d/headroom.fish".into(),
            format: Format::Text,
            keys: vec!["persistent env".into()],
        }],
    )
}

#[test]
fn an_exclusive_apply_puts_back_what_the_new_plans_no_longer_touch() {
    let h = home();
    fs::create_dir_all(h.home.join(".claude")).unwrap();
    fs::write(settings(&h), "{\"model\": \"opus\"}\n").unwrap();
    let before = snapshot(&h.home);
    // First run: a shell file in directories headroom creates, and settings.json.
    h.exec
        .apply_exclusive(&[rc_plan(1), claude_plan(1)], &h.journal)
        .unwrap();
    let fish = h.home.join(".config/fish/conf.d/headroom.fish");
    assert!(fish.exists());

    // The dry run says what the second run will do, and does nothing.
    let routed = snapshot(&h.home);
    let preview = h
        .exec
        .preview_exclusive(&[claude_plan(2)], &h.journal)
        .unwrap();
    assert_eq!(preview.reverted.len(), 1);
    assert_eq!(preview.reverted[0].after, None, "the fish file goes again");
    assert_eq!(snapshot(&h.home), routed);

    // Second run routes only settings.json: the fish file and its directories are gone again.
    let done = h
        .exec
        .apply_exclusive(&[claude_plan(2)], &h.journal)
        .unwrap();
    assert_eq!(
        done.reverted
            .iter()
            .map(|c| c.logical.as_str())
            .collect::<Vec<_>>(),
        ["~/.config/fish/conf.d/headroom.fish"]
    );
    assert!(!h.home.join(".config").exists());
    assert_eq!(
        Executor::journaled_files(&h.journal).unwrap(),
        [SETTINGS.to_owned()]
    );

    // Nothing routed any more: everything is back and the journal is gone.
    h.exec.apply_exclusive(&[], &h.journal).unwrap();
    assert_eq!(snapshot(&h.home), before);
    assert!(!h.journal.exists());
}

#[test]
fn a_plain_apply_keeps_what_the_journal_recorded_before() {
    let h = home();
    fs::create_dir_all(h.home.join(".claude")).unwrap();
    fs::write(settings(&h), "{}\n").unwrap();
    h.exec.apply(&[rc_plan(1)], &h.journal).unwrap();
    h.exec.apply(&[claude_plan(1)], &h.journal).unwrap();
    assert_eq!(Executor::journaled_files(&h.journal).unwrap().len(), 2);
    assert!(h.home.join(".config/fish/conf.d/headroom.fish").exists());
}

#[test]
fn an_exclusive_apply_that_fails_part_way_leaves_files_and_journal_as_they_were() {
    let h = home();
    fs::create_dir_all(h.home.join(".claude")).unwrap();
    fs::write(settings(&h), "{}\n").unwrap();
    h.exec
        .apply_exclusive(&[rc_plan(1), claude_plan(1)], &h.journal)
        .unwrap();
    let state = snapshot(&h.home);
    let journal = fs::read(&h.journal).unwrap();
    // The second run rewrites the fish file (first), then puts settings.json back (last); that
    // write fails: its temp file's name is taken by a directory.
    let blocker = h.home.join(format!(
        ".claude/.settings.json.headroom-{}.tmp",
        std::process::id()
    ));
    fs::create_dir(&blocker).unwrap();
    let err = h
        .exec
        .apply_exclusive(&[rc_plan(2)], &h.journal)
        .unwrap_err();
    assert!(err.to_string().contains("settings.json"), "{err}");
    fs::remove_dir(&blocker).unwrap();
    assert_eq!(snapshot(&h.home), state, "the fish file is rolled back too");
    assert_eq!(fs::read(&h.journal).unwrap(), journal);
}
