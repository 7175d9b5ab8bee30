//! `headroom uninstall`: every deployment (real cron and systemd --user where available), every
//! direct `plugins apply`/`wrap openclaw` journal, installed plugins, the compile cache and
//! `~/.headroom` itself, with the user's files byte-identical to before headroom touched them.
//! Bad state (a corrupt manifest or journal, a missing journal, a read-only `~/.headroom`, a
//! file the user broke since) is one line each, the rest still done, and a non-zero exit. Also
//! `install remove` of the last profile, which leaves only the usage history.

mod support;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use support::*;

const CLAUDE: &str = "{\n    \"model\": \"opus\",\n    \"env\": {\"A\": \"1\"}\n}\n";
const OPENCLAW: &str = "{\n  \"models\": {\n    \"providers\": {\n      \"openai\": {\"baseUrl\": \"https://api.openai.com/v1\", \"api\": \"openai-completions\"}\n    }\n  }\n}\n";

/// A HOME with the user's own Claude Code, OpenClaw and hostile-fixture configs.
fn user_home() -> Home {
    let h = Home::new();
    for (file, text) in [
        (".claude/settings.json", CLAUDE),
        (".openclaw/openclaw.json", OPENCLAW),
        (".hostile/config.json", "{ \"mine\": 1 }\n"),
        (".bashrc", "# mine\n"),
    ] {
        let p = h.path().join(file);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, text).unwrap();
    }
    h
}

fn state(h: &Home) -> PathBuf {
    h.path().join(".headroom")
}

fn uninstall(h: &Home, args: &[&str]) -> Output {
    let mut all = vec!["uninstall"];
    all.extend_from_slice(args);
    h.cmd(&all).stdin(Stdio::null()).output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Every entry under `dir`, relative, sorted.
fn tree(dir: &Path) -> Vec<String> {
    snapshot_all(dir)
        .into_iter()
        .map(|p| p.strip_prefix(dir).unwrap().display().to_string())
        .collect()
}

fn snapshot_all(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut items: Vec<PathBuf> = fs::read_dir(dir)
        .map(|rd| rd.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    items.sort();
    for p in items {
        out.push(p.clone());
        if p.is_dir() && !p.is_symlink() {
            out.extend(snapshot_all(&p));
        }
    }
    out
}

fn fixture(name: &str) -> PathBuf {
    Path::new(headroom_plugins::builtin::FIXTURES_DIR).join(format!("{name}.wasm"))
}

#[test]
fn everything_applied_directly_is_undone_byte_for_byte_and_dot_headroom_is_gone() {
    let h = user_home();
    let before = snapshot(h.path());
    let port = free_port();
    let p = port.to_string();
    let hostile = fixture("headroom_fixture_hostile");
    h.ok(&["plugins", "install", "--yes", hostile.to_str().unwrap()]);
    h.ok(&["plugins", "apply", "hostile"]);
    h.ok(&["plugins", "apply", "claude", "--port", &p]);
    let mut proxy = start_proxy(port);
    h.ok(&["wrap", "openclaw", "--port", &p]);
    h.ok(&["plugins", "list"]);
    fs::write(state(&h).join("usage.db"), "history").unwrap();
    assert!(state(&h).join("cache").is_dir() && state(&h).join("runs").is_dir());
    let applied = snapshot(h.path());
    assert_ne!(user_files(h.path()), user_files_of(&before));

    let out = uninstall(&h, &["--dry-run"]);
    let listing = ok(&out);
    for want in [
        "revert `headroom plugins apply claude` (or `wrap`) and restore ~/.claude/settings.json",
        "revert `headroom plugins apply openclaw` (or `wrap`) and restore ~/.openclaw/openclaw.json",
        "revert `headroom plugins apply hostile` (or `wrap`) and restore ~/.hostile/config.json",
        "remove the plugin hostile (~/.headroom/plugins/hostile/adapter.wasm)",
        "delete the usage history ~/.headroom/usage.db",
        "delete ~/.headroom",
        "dry run: nothing was changed",
    ] {
        assert!(listing.contains(want), "{want:?} not in:\n{listing}");
    }
    assert_same_tree(&applied, &snapshot(h.path()), "after --dry-run");

    // No terminal and no --yes: one line naming --yes, nothing changed.
    let out = uninstall(&h, &[]);
    assert_eq!(
        err_line(&out),
        "not uninstalled: no terminal to ask on; run `headroom uninstall --yes` to proceed"
    );
    assert!(text(&out.stdout).contains("headroom uninstall will:"));
    assert_same_tree(&applied, &snapshot(h.path()), "after a refusal");
    // On a terminal, anything but yes changes nothing.
    let (success, out) = on_terminal(&h, "n\n");
    assert!(!success && out.contains("Proceed? [y/N]"), "{out}");
    assert!(
        out.contains("not uninstalled; nothing was changed"),
        "{out}"
    );
    assert_same_tree(&applied, &snapshot(h.path()), "after answering no");

    let out = uninstall(&h, &["--yes"]);
    let done = ok(&out);
    assert!(done.contains("restored ~/.claude/settings.json"), "{done}");
    assert!(done.contains("removed the plugin hostile"), "{done}");
    assert!(done.contains("deleted the usage history"), "{done}");
    assert!(!state(&h).exists(), "left: {:?}", tree(&state(&h)));
    assert_same_tree(&before, &snapshot(h.path()), "HOME after uninstall");
    assert!(
        proxy_ready(port),
        "a proxy headroom did not install is left alone"
    );
    proxy.kill().unwrap();
    proxy.wait().unwrap();

    // Again: nothing to do.
    let out = ok(&uninstall(&h, &["--yes"]));
    assert!(out.starts_with("nothing to uninstall"), "{out}");
}

fn user_files_of(t: &Tree) -> Tree {
    t.iter()
        .filter(|(p, _)| !p.starts_with(".headroom"))
        .map(|(p, v)| (p.clone(), v.clone()))
        .collect()
}

/// `headroom uninstall` under `script` (a pseudo-terminal), answering `answer`.
fn on_terminal(h: &Home, answer: &str) -> (bool, String) {
    use std::io::Write as _;
    let cmd = format!("{} uninstall", headroom());
    let mut child = Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .env("HOME", h.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(answer.as_bytes())
        .unwrap();
    let o = child.wait_with_output().unwrap();
    (o.status.success(), text(&o.stdout))
}

#[test]
fn keep_history_keeps_the_usage_history_and_nothing_else() {
    let h = user_home();
    let before = user_files(h.path());
    h.ok(&["plugins", "apply", "claude", "--port", "8787"]);
    fs::write(state(&h).join("usage.db"), "history").unwrap();
    fs::write(state(&h).join("usage.db-wal"), "wal").unwrap();
    let listing = ok(&uninstall(&h, &["--dry-run", "--keep-history"]));
    assert!(
        listing.contains("keep the usage history ~/.headroom/usage.db"),
        "{listing}"
    );
    let out = ok(&uninstall(&h, &["--yes", "--keep-history"]));
    assert!(
        out.contains("kept the usage history ~/.headroom/usage.db"),
        "{out}"
    );
    assert_eq!(tree(&state(&h)), ["usage.db", "usage.db-wal"]);
    assert_eq!(fs::read(state(&h).join("usage.db")).unwrap(), b"history");
    assert_same_tree(&before, &user_files(h.path()), "user files");
}

/// A deployment manifest headroom would read (systemd user: removing it is lenient), with
/// tools recorded as routed.
fn manifest(profile: &str) -> String {
    format!(
        r#"{{"profile": "{profile}", "preset": "persistent-service", "runtime_kind": "native",
  "supervisor_kind": "systemd", "scope": "provider", "provider_mode": "manual",
  "targets": ["claude"], "port": 1, "host": "127.0.0.1",
  "health_url": "http://127.0.0.1:1/readyz", "base_env": {{}}, "tool_envs": {{}},
  "proxy_args": [], "mutations": [], "artifacts": [], "state": "installed",
  "created_at": "2026-10-01T10:00:00Z", "updated_at": "2026-10-01T10:00:00Z"}}"#
    )
}

#[test]
fn bad_state_is_one_line_each_and_the_rest_is_still_done() {
    let h = user_home();
    let before = user_files(h.path());
    h.ok(&["plugins", "apply", "claude", "--port", "8787"]);
    let deploy = state(&h).join("deploy");
    fs::create_dir_all(deploy.join("un-corrupt")).unwrap();
    fs::write(deploy.join("un-corrupt/manifest.json"), "{ not json").unwrap();
    fs::create_dir_all(deploy.join("un-nojournal")).unwrap();
    fs::write(
        deploy.join("un-nojournal/manifest.json"),
        manifest("un-nojournal"),
    )
    .unwrap();
    fs::write(
        state(&h).join("journal/plugin-broken.json"),
        "{\"version\": 2, \"entries\": [{\"logical\": \"~/.x\"",
    )
    .unwrap();

    let listing = ok(&uninstall(&h, &["--dry-run"]));
    for want in [
        "remove the deployment \"un-corrupt\" (corrupt deployment manifest",
        "remove the deployment \"un-nojournal\" (persistent-service, systemd)",
        "routes tools but its journal is missing",
        "revert `headroom plugins apply broken` (or `wrap`) (its journal cannot be trusted",
    ] {
        assert!(listing.contains(want), "{want:?} not in:\n{listing}");
    }

    let out = uninstall(&h, &["--yes"]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    let problems: Vec<&str> = err
        .lines()
        .skip_while(|l| *l != "headroom: could not undo:")
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .collect();
    assert_eq!(problems.len(), 3, "{err}");
    assert!(
        problems[0].contains("corrupt deployment manifest")
            && problems[0].contains("removing everything named after the profile"),
        "{err}"
    );
    assert!(
        problems[1].contains("\"un-nojournal\" had no journal: check its tools' files yourself"),
        "{err}"
    );
    assert!(
        problems[2].contains("plugin-broken.json") && problems[2].contains("kept at"),
        "{err}"
    );
    let last = err.lines().last().unwrap();
    assert!(
        last.starts_with("headroom: error: uninstall did everything else, but 3 thing(s)")
            && last.contains("~/.headroom keeps only what that needs: ~/.headroom/damaged"),
        "{err}"
    );
    // The rest was done: the good journal reverted, both profiles gone.
    assert_same_tree(&before, &user_files(h.path()), "user files");
    let left = tree(&state(&h));
    assert!(
        left[0] == "damaged" && left.iter().all(|p| p.starts_with("damaged")),
        "{left:?}"
    );
    // Running it again says what is still kept (the damaged journal's originals), and why.
    let again = uninstall(&h, &["--yes"]);
    assert!(!again.status.success());
    assert!(
        text(&again.stderr).contains("kept ~/.headroom/damaged"),
        "{}",
        text(&again.stderr)
    );
}

#[test]
fn a_file_broken_since_is_listed_and_dot_headroom_keeps_only_its_journal() {
    let h = user_home();
    let before = user_files(h.path());
    h.ok(&["plugins", "apply", "claude", "--port", "8787"]);
    h.ok(&["plugins", "list"]);
    let settings = h.path().join(".claude/settings.json");
    fs::write(&settings, "{ broken by the user").unwrap();
    let listing = ok(&uninstall(&h, &["--dry-run"]));
    assert!(
        listing.contains("~/.claude/settings.json (changed since headroom wrote it"),
        "{listing}"
    );
    let out = uninstall(&h, &["--yes"]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("could not revert `headroom plugins apply claude` (or `wrap`):")
            && err.contains("its journal is kept"),
        "{err}"
    );
    assert!(
        err.contains(
            "~/.headroom keeps only what that needs: ~/.headroom/journal/plugin-claude.json"
        ),
        "{err}"
    );
    assert_eq!(tree(&state(&h)), ["journal", "journal/plugin-claude.json"]);
    assert_eq!(
        fs::read_to_string(&settings).unwrap(),
        "{ broken by the user"
    );

    // Fixed by the user (their own keys only): the retry puts headroom's keys back and finishes.
    fs::write(&settings, CLAUDE).unwrap();
    ok(&uninstall(&h, &["--yes"]));
    assert!(!state(&h).exists());
    assert_same_tree(&before, &user_files(h.path()), "user files");
}

#[test]
fn a_read_only_dot_headroom_is_one_line_and_the_tools_are_still_restored() {
    let h = user_home();
    let before = user_files(h.path());
    h.ok(&["plugins", "apply", "claude", "--port", "8787"]);
    h.ok(&["plugins", "list"]);
    // Root ignores permission bits: make the directory immutable instead.
    let st = state(&h);
    if !Command::new("chattr")
        .arg("+i")
        .arg(&st)
        .status()
        .is_ok_and(|s| s.success())
    {
        skip("chattr +i is not available here");
        return;
    }
    struct Mutable(PathBuf);
    impl Drop for Mutable {
        fn drop(&mut self) {
            let _ = Command::new("chattr").arg("-i").arg(&self.0).status();
        }
    }
    let guard = Mutable(st.clone());
    let out = uninstall(&h, &["--yes"]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    let problems: Vec<&str> = err.lines().filter(|l| l.starts_with("  ")).collect();
    assert_eq!(problems.len(), 1, "{err}");
    assert!(
        problems[0].contains("cannot delete ~/.headroom/")
            && problems[0].ends_with("make it writable and run `headroom uninstall` again"),
        "{err}"
    );
    assert_same_tree(&before, &user_files(h.path()), "tools restored anyway");
    drop(guard);
    ok(&uninstall(&h, &["--yes"]));
    assert!(!st.exists());
}

// ---- real supervisors ----

/// Apply `profile` routing Claude Code at provider scope, check it serves, then build the
/// compile cache and run records (`plugins list`).
fn deploy(h: &Home, profile: &str, port: &str, extra: &[&str]) {
    let mut args = install_apply(profile, port, CLAUDE_AT_PROVIDER);
    args.extend_from_slice(extra);
    let out = h.ok(&args);
    assert!(out.contains("is up"), "{out}");
    assert!(proxy_ready(port.parse().unwrap()));
    h.ok(&["plugins", "list"]);
    let settings = fs::read_to_string(h.path().join(".claude/settings.json")).unwrap();
    assert!(
        settings.contains(&format!("127.0.0.1:{port}")),
        "{settings}"
    );
}

#[test]
fn a_cron_profile_is_uninstalled_with_its_crontab_block_and_its_tools() {
    let Some(_lock) = lock_cron() else { return };
    let _restore = RestoreCrontab(crontab_l());
    let users = "MAILTO=\"\"\n# the user's own   comment\t\n17 3 * * * /bin/true  # keep 100%\n";
    crontab_set(Some(users));
    let h = user_home();
    let before = snapshot(h.path());
    let profile = format!("un-cron-{}", std::process::id());
    let _cleanup = h.remove_on_drop(&profile);
    let port = free_port().to_string();
    deploy(&h, &profile, &port, &["--preset", "persistent-task"]);
    assert!(
        crontab_l()
            .unwrap()
            .contains(&format!("headroom {profile}"))
    );

    let listing = ok(&uninstall(&h, &["--dry-run"]));
    assert!(
        listing.contains(&format!(
            "remove the deployment \"{profile}\" (persistent-task, cron) and restore ~/.claude/settings.json"
        )),
        "{listing}"
    );
    let out = ok(&uninstall(&h, &["--yes"]));
    assert!(out.contains("restored ~/.claude/settings.json"), "{out}");
    assert_eq!(crontab_l().as_deref(), Some(users), "the user's crontab");
    assert!(wait_until(Duration::from_secs(10), || !proxy_ready(
        port.parse().unwrap()
    )));
    assert!(!state(&h).exists(), "left: {:?}", tree(&state(&h)));
    assert_same_tree(&before, &snapshot(h.path()), "HOME after uninstall");
}

#[test]
fn install_remove_of_the_last_profile_leaves_only_the_usage_history() {
    let Some(_lock) = lock_cron() else { return };
    let _restore = RestoreCrontab(crontab_l());
    let h = user_home();
    let before = user_files(h.path());
    let profile = format!("un-last-{}", std::process::id());
    let _cleanup = h.remove_on_drop(&profile);
    let port = free_port().to_string();
    deploy(&h, &profile, &port, &["--preset", "persistent-task"]);
    // One request, so the proxy has a history to keep.
    let _ = http_status(port.parse().unwrap(), "/v1/models");
    for dir in ["cache", "locks", "runs", "deploy"] {
        assert!(state(&h).join(dir).exists(), "{dir} before remove");
    }
    h.ok(&["install", "remove", "--profile", &profile]);
    let left = tree(&state(&h));
    assert!(
        left.iter()
            .all(|p| ["usage.db", "usage.db-wal", "usage.db-shm"].contains(&p.as_str())),
        "{left:?}"
    );
    assert_same_tree(&before, &user_files(h.path()), "user files");
}

#[test]
fn install_remove_keeps_the_cache_while_a_plugin_is_still_applied() {
    let h = user_home();
    h.ok(&["plugins", "apply", "claude", "--port", "8787"]);
    h.ok(&["plugins", "list"]);
    // A profile that never got further than its directory.
    fs::create_dir_all(state(&h).join("deploy/un-half")).unwrap();
    h.ok(&["install", "remove", "--profile", "un-half"]);
    for dir in ["cache", "journal/plugin-claude.json"] {
        assert!(
            state(&h).join(dir).exists(),
            "{dir}: {:?}",
            tree(&state(&h))
        );
    }
    ok(&uninstall(&h, &["--yes"]));
    assert!(!state(&h).exists());
}

#[test]
fn a_systemd_user_profile_is_uninstalled_with_its_unit_and_its_tools() {
    let Some(_lock) = lock_systemd_user() else {
        return;
    };
    let h = user_home();
    let before = snapshot(h.path());
    let profile = format!("un-sd-{}", std::process::id());
    let _cleanup = h.remove_on_drop(&profile);
    let port = free_port().to_string();
    deploy(&h, &profile, &port, &[]);
    let unit = format!("headroom-{profile}.service");
    assert_eq!(systemctl(&["is-active", &unit]), "active");
    let listing = ok(&uninstall(&h, &["--dry-run"]));
    assert!(
        listing.contains(&format!(
            "remove the deployment \"{profile}\" (persistent-service, systemd)"
        )),
        "{listing}"
    );
    ok(&uninstall(&h, &["--yes"]));
    assert_ne!(systemctl(&["is-active", &unit]), "active");
    assert!(
        systemctl(&["list-unit-files", &unit]).contains("0 unit files"),
        "{}",
        systemctl(&["list-unit-files", &unit])
    );
    assert!(!proxy_ready(port.parse().unwrap()));
    assert!(!state(&h).exists(), "left: {:?}", tree(&state(&h)));
    assert_same_tree(&before, &snapshot(h.path()), "HOME after uninstall");
}
