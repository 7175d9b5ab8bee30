//! Re-applying a profile against a REAL `systemd --user` (`../shared/ci/systemd-user-up.sh`;
//! `XDG_RUNTIME_DIR=/run/user/0`): what the new deployment no longer routes is put back, and a
//! re-apply whose tool edit fails leaves the previous deployment and its edits exactly as they
//! were. Skips with a reason when there is no user manager or `headroom proxy` cannot serve.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use support::*;

/// A directory nothing may be created in, not even by root (`chattr +i`); undone on drop so the
/// temporary HOME can be deleted.
struct Immutable(PathBuf);

impl Immutable {
    fn new(dir: &Path) -> Option<Self> {
        let ok = Command::new("chattr")
            .arg("+i")
            .arg(dir)
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| Self(dir.to_path_buf()))
    }
}

impl Drop for Immutable {
    fn drop(&mut self) {
        let _ = Command::new("chattr").arg("-i").arg(&self.0).status();
    }
}

#[test]
fn a_reapply_whose_tool_write_fails_leaves_the_previous_deployment_and_its_edits() {
    let Some(_lock) = lock_systemd_user() else {
        return;
    };
    let home = Home::new();
    let claude = home.path().join(".claude");
    let settings = claude.join("settings.json");
    std::fs::create_dir_all(&claude).unwrap();
    let original = "{\n  \"model\": \"opus\"\n}\n";
    std::fs::write(&settings, original).unwrap();
    let before = user_files(home.path());
    let profile = format!("it-reapply-fail-{}", std::process::id());
    let _cleanup = home.remove_on_drop(&profile);
    let (port_a, port_b) = (free_port().to_string(), free_port().to_string());
    home.ok(&install_apply(&profile, &port_a, CLAUDE_AT_PROVIDER));
    let journal = home
        .path()
        .join(".headroom/deploy")
        .join(&profile)
        .join("journal.json");
    let routed = std::fs::read(&settings).unwrap();
    let journaled = std::fs::read_to_string(&journal).unwrap();
    assert!(String::from_utf8_lossy(&routed).contains(&port_a));

    // The second apply previews fine (reading works) but cannot write into ~/.claude.
    let Some(frozen) = Immutable::new(&claude) else {
        skip("chattr +i does not work on this filesystem");
        return;
    };
    let err = home.fails(&install_apply(&profile, &port_b, CLAUDE_AT_PROVIDER));
    drop(frozen);
    assert_eq!(std::fs::read(&settings).unwrap(), routed, "settings.json");
    assert_eq!(
        std::fs::read_to_string(&journal).ok(),
        Some(journaled),
        "the journal that can undo the first apply"
    );
    let (ok, st) = home.status_json(&profile);
    assert!(ok, "the previous deployment is healthy again: {st}");
    assert_eq!(st["port"].to_string(), port_a);
    assert!(err.contains("no tool file was changed"), "{err}");
    assert!(
        err.contains("the previous deployment was restored"),
        "{err}"
    );

    // And its edits can still be undone byte for byte.
    let out = home.ok(&["install", "remove", "--profile", &profile]);
    assert!(out.contains("restored ~/.claude/settings.json"), "{out}");
    assert_eq!(std::fs::read_to_string(&settings).unwrap(), original);
    assert_same_tree(&before, &user_files(home.path()), "HOME after remove");
}

#[test]
fn a_reapply_with_providers_none_unroutes_the_shell_block_and_a_new_mode_reaches_the_proxy() {
    let Some(_lock) = lock_systemd_user() else {
        return;
    };
    let home = Home::new();
    let rc = home.path().join(".bashrc");
    let original = "# ~/.bashrc\nexport EDITOR=vim\n";
    std::fs::write(&rc, original).unwrap();
    let before = user_files(home.path());
    let profile = format!("it-reapply-none-{}", std::process::id());
    let _cleanup = home.remove_on_drop(&profile);
    let port = free_port().to_string();
    let out = home.ok(&install_apply(
        &profile,
        &port,
        &["--providers", "manual", "--target", "claude"],
    ));
    assert!(out.contains("configured ~/.bashrc"), "{out}");
    let status = home.ok(&["install", "status", "--profile", &profile]);
    assert!(status.contains("\ncompression  lossless\n"), "{status}");

    // A changed mode is a changed setting: the running proxy is replaced and says so.
    let out = home.ok(&install_apply(
        &profile,
        &port,
        &["--providers", "none", "--compress", "off"],
    ));
    assert!(
        out.contains("restored ~/.bashrc (this deployment no longer routes it)"),
        "{out}"
    );
    assert_eq!(std::fs::read_to_string(&rc).unwrap(), original);
    let (ok, st) = home.status_json(&profile);
    assert!(ok, "{st}");
    assert_eq!(st["targets"], serde_json::json!([]));
    assert_eq!(st["edits"], serde_json::json!([]));
    assert_eq!(st["compress"], "off");
    let health = health_json(port.parse().unwrap());
    assert_eq!(health["compress"], "off", "{health}");
    let retrieve = home.path().join(".headroom/retrieve");
    assert_eq!(
        health["config"]["retrieve_dir"],
        retrieve.to_str().unwrap(),
        "{health}"
    );

    home.ok(&["install", "remove", "--profile", &profile]);
    assert_same_tree(&before, &user_files(home.path()), "HOME after remove");
}

#[test]
fn a_reapply_at_provider_scope_unroutes_the_user_scope_block() {
    let Some(_lock) = lock_systemd_user() else {
        return;
    };
    let home = Home::new();
    let rc = home.path().join(".bashrc");
    let original = "# ~/.bashrc\nalias ll='ls -l'";
    std::fs::write(&rc, original).unwrap();
    let settings = home.path().join(".claude/settings.json");
    std::fs::create_dir_all(settings.parent().unwrap()).unwrap();
    std::fs::write(&settings, "{}\n").unwrap();
    let before = user_files(home.path());
    let profile = format!("it-reapply-scope-{}", std::process::id());
    let _cleanup = home.remove_on_drop(&profile);
    let port = free_port().to_string();
    home.ok(&install_apply(
        &profile,
        &port,
        &["--providers", "manual", "--target", "claude"],
    ));
    assert!(std::fs::read_to_string(&rc).unwrap().contains(&port));

    let out = home.ok(&install_apply(&profile, &port, CLAUDE_AT_PROVIDER));
    assert!(out.contains("configured ~/.claude/settings.json"), "{out}");
    assert!(out.contains("restored ~/.bashrc"), "{out}");
    assert_eq!(std::fs::read_to_string(&rc).unwrap(), original);
    let (ok, st) = home.status_json(&profile);
    assert!(ok, "{st}");
    let files: Vec<&str> = st["edits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["file"].as_str().unwrap())
        .collect();
    assert_eq!(files, ["~/.claude/settings.json"]);

    home.ok(&["install", "remove", "--profile", &profile]);
    assert_same_tree(&before, &user_files(home.path()), "HOME after remove");
}
