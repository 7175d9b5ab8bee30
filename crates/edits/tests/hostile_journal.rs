//! Issue #13, the journal: journals are validated before use (a hand-edited or truncated one
//! writes nothing back and is kept aside; legacy version-1 journals are still honoured), and one
//! owner per setting (a second journal claiming a key another one holds is refused).

use std::fs;
use std::path::PathBuf;

use headroom_core::{StateDir, sha256_hex};
use headroom_edits::{Authorized, Edit, EditError, EditGrant, Executor, Format, Plan, Roots};

struct Home {
    dir: tempfile::TempDir,
    home: PathBuf,
    state: StateDir,
    exec: Executor,
}

fn home() -> Home {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    fs::create_dir_all(home.join(".claude")).unwrap();
    fs::write(
        home.join(".claude/settings.json"),
        "{\n  \"model\": \"opus\"\n}\n",
    )
    .unwrap();
    fs::create_dir_all(dir.path().join("outside")).unwrap();
    fs::write(dir.path().join("outside/passwd"), "root:x:0:0\n").unwrap();
    let state = StateDir::new(&home);
    let exec = Executor::new(
        Roots {
            home: home.clone(),
            system: dir.path().join("root"),
        },
        state.edits_lock(),
    )
    .with_state(state.clone());
    Home {
        dir,
        home,
        state,
        exec,
    }
}

impl Home {
    fn settings(&self) -> PathBuf {
        self.home.join(".claude/settings.json")
    }
    fn sha(&self, p: &std::path::Path) -> String {
        sha256_hex(&fs::read(p).unwrap())
    }
    fn passwd(&self) -> PathBuf {
        self.dir.path().join("outside/passwd")
    }
}

const SETTINGS: &str = "~/.claude/settings.json";

fn claude(port: u16) -> Authorized {
    Authorized::new(
        Plan {
            source: "claude".into(),
            edits: vec![Edit::JsonSet {
                file: SETTINGS.into(),
                pointer: "/env/ANTHROPIC_BASE_URL".into(),
                value: format!("\"http://127.0.0.1:{port}\""),
            }],
            notes: vec![],
        },
        vec![EditGrant {
            file: SETTINGS.into(),
            format: Format::Json,
            keys: vec!["/env".into()],
        }],
    )
}

fn edit_journal(path: &std::path::Path, f: impl FnOnce(&mut serde_json::Value)) {
    let mut v: serde_json::Value = serde_json::from_slice(&fs::read(path).unwrap()).unwrap();
    f(&mut v);
    fs::write(path, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
}

#[test]
fn new_journals_are_version_2_with_a_checksum() {
    let h = home();
    let journal = h.state.journal("default");
    h.exec.apply(&[claude(1)], &journal).unwrap();
    let v: serde_json::Value = serde_json::from_slice(&fs::read(&journal).unwrap()).unwrap();
    assert_eq!(v["version"], 2);
    assert_eq!(v["checksum"].as_str().unwrap().len(), 64);
}

#[test]
fn a_hand_edited_path_writes_nothing_outside_home_and_the_journal_is_kept_aside() {
    let h = home();
    let journal = h.state.journal("default");
    h.exec.apply(&[claude(1)], &journal).unwrap();
    let (routed, passwd) = (h.sha(&h.settings()), h.sha(&h.passwd()));
    let outside = h.passwd();
    edit_journal(&journal, |v| {
        v["entries"][0]["path"] = outside.display().to_string().into();
        v["entries"][0]["written_sha256"] = sha256_hex(&fs::read(&outside).unwrap()).into();
    });
    let err = h.exec.revert(&journal).unwrap_err();
    let line = err.to_string();
    assert!(matches!(err, EditError::JournalDamaged { .. }), "{line}");
    assert!(line.contains("changed by hand"), "{line}");
    assert!(line.contains(SETTINGS), "names the file to restore: {line}");
    assert!(line.contains(".headroom/damaged/deploy-default"), "{line}");
    assert_eq!(h.sha(&h.passwd()), passwd, "nothing written outside HOME");
    assert_eq!(h.sha(&h.settings()), routed, "nothing written back at all");
    assert!(!journal.exists(), "moved aside");
    let kept: Vec<_> = fs::read_dir(h.state.damaged_dir()).unwrap().collect();
    assert_eq!(kept.len(), 1);
    let kept = kept[0].as_ref().unwrap().path();
    assert!(kept.join("journal.json").is_file());
    // The original it recorded is there to restore by hand.
    assert_eq!(
        fs::read_to_string(kept.join("1-settings.json.original")).unwrap(),
        "{\n  \"model\": \"opus\"\n}\n"
    );
}

#[test]
fn a_legacy_journal_with_an_edited_path_skips_that_entry_only() {
    let h = home();
    let journal = h.state.journal("default");
    fs::write(h.home.join(".zshrc"), "# zsh\n").unwrap();
    let rc = Authorized::new(
        Plan {
            source: "shell-env".into(),
            edits: vec![Edit::BlockSet {
                file: "~/.zshrc".into(),
                id: "persistent env".into(),
                style: headroom_edits::MarkerStyle::Arrows,
                comment: "#".into(),
                body: "export X=1\n".into(),
                placement: Default::default(),
            }],
            notes: vec![],
        },
        vec![EditGrant {
            file: "~/.zshrc".into(),
            format: Format::Text,
            keys: vec!["persistent env".into()],
        }],
    );
    h.exec.apply(&[claude(1), rc], &journal).unwrap();
    let passwd = h.sha(&h.passwd());
    let outside = h.passwd();
    // What today's code writes: version 1, no checksum. Then its first path is pointed away.
    edit_journal(&journal, |v| {
        v["version"] = 1.into();
        v.as_object_mut().unwrap().remove("checksum");
        v["entries"][0]["path"] = outside.display().to_string().into();
        v["entries"][0]["written_sha256"] = sha256_hex(&fs::read(&outside).unwrap()).into();
    });
    let report = h.exec.revert(&journal).unwrap();
    assert_eq!(report.restored, vec!["~/.zshrc".to_owned()]);
    assert_eq!(report.unrestored.len(), 1);
    assert_eq!(report.unrestored[0].logical, SETTINGS);
    assert!(report.unrestored[0].line().contains("restore it yourself"));
    assert!(report.kept.is_some());
    assert_eq!(h.sha(&h.passwd()), passwd, "nothing written outside HOME");
    assert_eq!(
        fs::read_to_string(h.home.join(".zshrc")).unwrap(),
        "# zsh\n"
    );
}

#[test]
fn a_legacy_journal_is_honoured() {
    let h = home();
    let before = h.sha(&h.settings());
    let journal = h.state.plugin_journal("claude");
    h.exec.apply(&[claude(1)], &journal).unwrap();
    edit_journal(&journal, |v| {
        v["version"] = 1.into();
        v.as_object_mut().unwrap().remove("checksum");
        v.as_object_mut().unwrap().remove("system");
    });
    let report = h.exec.revert(&journal).unwrap();
    assert_eq!(report.restored, vec![SETTINGS.to_owned()]);
    assert_eq!(h.sha(&h.settings()), before);
}

#[test]
fn a_truncated_journal_ends_the_revert_with_one_line_and_writes_nothing() {
    let h = home();
    let journal = h.state.journal("default");
    h.exec.apply(&[claude(1)], &journal).unwrap();
    let routed = h.sha(&h.settings());
    let bytes = fs::read(&journal).unwrap();
    fs::write(&journal, &bytes[..bytes.len() / 2]).unwrap();
    let err = h.exec.revert(&journal).unwrap_err();
    let line = err.to_string();
    assert!(matches!(err, EditError::JournalDamaged { .. }), "{line}");
    assert!(line.contains("unreadable"), "{line}");
    assert!(line.contains(SETTINGS), "salvaged the file name: {line}");
    assert!(!line.contains('\n'));
    assert_eq!(h.sha(&h.settings()), routed);
    assert!(!journal.exists());
    // Nothing left to block the next command.
    assert!(h.exec.revert(&journal).unwrap().restored.is_empty());
}

#[test]
fn a_journal_entry_pointing_at_a_system_file_from_a_user_journal_is_refused() {
    let h = home();
    let journal = h.state.journal("default");
    h.exec.apply(&[claude(1)], &journal).unwrap();
    let (routed, passwd) = (h.sha(&h.settings()), h.sha(&h.passwd()));
    edit_journal(&journal, |v| {
        v["entries"][0]["logical"] = "/etc/passwd".into();
    });
    assert!(h.exec.revert(&journal).is_err());
    assert_eq!(h.sha(&h.settings()), routed);
    assert_eq!(h.sha(&h.passwd()), passwd);
}

#[test]
fn a_second_owner_of_a_key_is_refused_naming_the_first_and_how_to_release_it() {
    let h = home();
    let deploy = h.state.journal("default");
    let plugin = h.state.plugin_journal("claude");
    h.exec.apply_exclusive(&[claude(8787)], &deploy).unwrap();
    let routed = h.sha(&h.settings());
    let err = h.exec.apply(&[claude(9999)], &plugin).unwrap_err();
    let line = err.to_string();
    assert!(matches!(err, EditError::Owned { .. }), "{line}");
    assert_eq!(
        line,
        "~/.claude/settings.json /env/ANTHROPIC_BASE_URL is set by the deployment \"default\"; \
         run `headroom install remove --profile default` first, or skip claude"
    );
    assert!(h.exec.preview_into(&[claude(9999)], &plugin).is_err());
    assert_eq!(h.sha(&h.settings()), routed);
    assert!(!plugin.exists());
    // The other way round: the plugin first, then the deployment.
    h.exec.revert(&deploy).unwrap();
    h.exec.apply(&[claude(9999)], &plugin).unwrap();
    let err = h
        .exec
        .preview_exclusive(&[claude(8787)], &deploy)
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("`headroom plugins apply claude` (or `wrap`); run `headroom plugins revert claude` first"),
        "{err}"
    );
    assert!(h.exec.apply_exclusive(&[claude(8787)], &deploy).is_err());
    // The owner itself may re-apply.
    h.exec.apply(&[claude(7777)], &plugin).unwrap();
}

#[test]
fn a_plugin_may_not_claim_a_block_another_owner_holds() {
    let h = home();
    let block = |source: &str| {
        Authorized::new(
            Plan {
                source: source.into(),
                edits: vec![Edit::BlockSet {
                    file: "~/.bashrc".into(),
                    id: "persistent env".into(),
                    style: headroom_edits::MarkerStyle::Arrows,
                    comment: "#".into(),
                    body: format!("export BY={source}\n"),
                    placement: Default::default(),
                }],
                notes: vec![],
            },
            vec![EditGrant {
                file: "~/.bashrc".into(),
                format: Format::Text,
                keys: vec!["persistent env".into()],
            }],
        )
    };
    h.exec
        .apply_exclusive(&[block("shell-env")], &h.state.journal("default"))
        .unwrap();
    let rc = h.sha(&h.home.join(".bashrc"));
    let err = h
        .exec
        .apply(&[block("evil")], &h.state.plugin_journal("evil"))
        .unwrap_err();
    assert!(matches!(err, EditError::Owned { .. }), "{err}");
    assert!(err.to_string().contains("persistent env"), "{err}");
    assert_eq!(h.sha(&h.home.join(".bashrc")), rc);
}
