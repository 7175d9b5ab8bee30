//! Issue #13 at the CLI: journals are validated before use and one owner holds each setting.
//! The `plugins` cases need no supervisor; the `install` cases drive a REAL `systemd --user`
//! (`XDG_RUNTIME_DIR=/run/user/0`, scripts/suites/10-supervisors.sh) and skip with a reason
//! without one.

mod support;

use std::fs;
use std::path::{Path, PathBuf};

use headroom_core::sha256_hex;
use support::*;

const ORIGINAL: &str = "{\n  \"model\": \"opus\"\n}\n";

fn with_settings(home: &Home) -> PathBuf {
    let settings = home.path().join(".claude/settings.json");
    fs::create_dir_all(settings.parent().unwrap()).unwrap();
    fs::write(&settings, ORIGINAL).unwrap();
    settings
}

fn sha(p: &Path) -> String {
    sha256_hex(&fs::read(p).unwrap())
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn plugins_apply_is_refused_for_a_key_a_deployment_holds() {
    let home = Home::new();
    let settings = with_settings(&home);
    home.ok(&["plugins", "apply", "claude", "--port", "8787"]);
    // What a deployment's journal holds (the same entries, at the deployment's place).
    let deploy = home.path().join(".headroom/deploy/default");
    fs::create_dir_all(&deploy).unwrap();
    fs::rename(
        home.path().join(".headroom/journal/plugin-claude.json"),
        deploy.join("journal.json"),
    )
    .unwrap();
    let routed = sha(&settings);
    for args in [
        &["plugins", "apply", "claude", "--port", "9999"][..],
        &["plugins", "apply", "claude", "--port", "9999", "--dry-run"][..],
    ] {
        let line = home.fails(args);
        assert!(
            line.contains(
                "~/.claude/settings.json /env/ANTHROPIC_BASE_URL is set by the deployment \"default\"; run `headroom install remove --profile default` first, or skip claude"
            ),
            "{line}"
        );
    }
    assert_eq!(sha(&settings), routed);
    assert!(
        !home
            .path()
            .join(".headroom/journal/plugin-claude.json")
            .exists()
    );
}

#[test]
fn plugins_revert_with_a_hand_edited_journal_writes_nothing_outside_home() {
    let home = Home::new();
    let settings = with_settings(&home);
    let outside = tempfile::tempdir().unwrap();
    let victim = outside.path().join("passwd");
    fs::write(&victim, "root:x:0:0\n").unwrap();
    let victim_sha = sha(&victim);
    home.ok(&["plugins", "apply", "claude", "--port", "8787"]);
    let routed = sha(&settings);
    let journal = home.path().join(".headroom/journal/plugin-claude.json");
    let mut v: serde_json::Value = serde_json::from_slice(&fs::read(&journal).unwrap()).unwrap();
    v["entries"][0]["path"] = victim.display().to_string().into();
    v["entries"][0]["written_sha256"] = victim_sha.clone().into();
    fs::write(&journal, serde_json::to_vec_pretty(&v).unwrap()).unwrap();

    let line = home.fails(&["plugins", "revert", "claude"]);
    assert!(line.contains("changed by hand"), "{line}");
    assert!(
        line.contains("restore ~/.claude/settings.json yourself"),
        "{line}"
    );
    assert!(line.contains(".headroom/damaged/plugin-claude"), "{line}");
    assert_eq!(sha(&victim), victim_sha, "nothing written outside HOME");
    assert_eq!(fs::read_dir(outside.path()).unwrap().count(), 1);
    assert_eq!(sha(&settings), routed, "nothing written back from it");
    // The journal is aside: nothing blocks the next command.
    let again = home.ok(&["plugins", "revert", "claude"]);
    assert!(again.contains("nothing to revert"), "{again}");
}

#[test]
fn install_remove_with_a_truncated_journal_still_removes_the_deployment() {
    let Some(_lock) = lock_systemd_user() else {
        return;
    };
    let home = Home::new();
    let settings = with_settings(&home);
    let profile = format!("it-damaged-{}", std::process::id());
    let _cleanup = home.remove_on_drop(&profile);
    let port = free_port().to_string();
    home.ok(&install_apply(&profile, &port, CLAUDE_AT_PROVIDER));
    let unit = format!("headroom-{profile}.service");
    let profile_dir = home.path().join(".headroom/deploy").join(&profile);
    let journal = profile_dir.join("journal.json");
    let routed = sha(&settings);
    let bytes = fs::read(&journal).unwrap();
    fs::write(&journal, &bytes[..bytes.len() / 2]).unwrap();

    let out = home.run(&["install", "remove", "--profile", &profile]);
    let err = stderr(&out);
    // Everything that could be done was; the exit code says the machine is not clean.
    assert!(!out.status.success(), "{err}");
    assert!(
        err.lines().last().unwrap_or("").starts_with(
            "headroom: error: the deployment was removed, but 1 tool file(s) could not be restored"
        ),
        "{err}"
    );
    assert!(err.contains("unreadable"), "{err}");
    assert!(
        err.contains("restore ~/.claude/settings.json yourself"),
        "{err}"
    );
    assert!(err.contains(".headroom/damaged/deploy-"), "{err}");
    // Everything else was done: unregistered, stopped, the profile deleted.
    assert_eq!(
        systemctl(&["show", "-p", "LoadState", "--value", &unit]),
        "not-found"
    );
    assert!(!profile_dir.exists());
    assert_eq!(http_status(port.parse().unwrap(), "/livez"), None);
    // Nothing was written back from the damaged journal; it is kept for the user.
    assert_eq!(sha(&settings), routed);
    let kept: Vec<PathBuf> = fs::read_dir(home.path().join(".headroom/damaged"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(kept.len(), 1);
    assert_eq!(
        fs::read(kept[0].join("journal.json")).unwrap(),
        &bytes[..bytes.len() / 2]
    );
}

#[test]
fn a_deployment_and_a_direct_plugin_apply_never_own_the_same_setting() {
    let Some(_lock) = lock_systemd_user() else {
        return;
    };
    let home = Home::new();
    let settings = with_settings(&home);
    let profile = format!("it-owners-{}", std::process::id());
    let _cleanup = home.remove_on_drop(&profile);
    let port = free_port().to_string();

    // The plugin first: the deployment may not take its key (and installs nothing).
    home.ok(&["plugins", "apply", "claude", "--port", "8787"]);
    let by_plugin = sha(&settings);
    let line = home.fails(&install_apply(&profile, &port, CLAUDE_AT_PROVIDER));
    assert!(
        line.contains("is set by `headroom plugins apply claude` (or `wrap`); run `headroom plugins revert claude` first, or skip claude"),
        "{line}"
    );
    assert_eq!(sha(&settings), by_plugin);
    assert!(!home.path().join(".headroom/deploy").join(&profile).exists());
    home.ok(&["plugins", "revert", "claude"]);
    assert_eq!(fs::read_to_string(&settings).unwrap(), ORIGINAL);

    // The deployment first: the plugin may not take its key, and nothing un-routes it.
    home.ok(&install_apply(&profile, &port, CLAUDE_AT_PROVIDER));
    let routed = sha(&settings);
    assert!(fs::read_to_string(&settings).unwrap().contains(&port));
    let line = home.fails(&["plugins", "apply", "claude", "--port", "8787"]);
    assert!(
        line.contains(&format!(
            "is set by the deployment \"{profile}\"; run `headroom install remove --profile {profile}` first, or skip claude"
        )),
        "{line}"
    );
    let again = home.ok(&["plugins", "revert", "claude"]);
    assert!(again.contains("nothing to revert"), "{again}");
    assert_eq!(sha(&settings), routed, "the deployment is still routed");

    // remove puts back every byte: no dead port left behind.
    home.ok(&["install", "remove", "--profile", &profile]);
    assert_eq!(fs::read_to_string(&settings).unwrap(), ORIGINAL);
}
