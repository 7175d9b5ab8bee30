//! The built-in adapters' routing (adapter API 0.3), through `AdapterHost::routing`: where each
//! tool really sends its requests, resolved with the tool's own precedence, over hand-made
//! config files and real login shells (bash; zsh and fish when installed). Edits are made the
//! way users make them: `headroom plugins apply` (and by hand).

mod support;

use std::collections::HashMap;
use std::fs;
use std::path::Path;
use std::sync::Arc;

use headroom_plugins::{AdapterContext, AdapterHost, HostOptions, Route, RouteSource, Scope};
use support::{ok, run_in};

const PROXY: &str = "http://127.0.0.1:8787";
const PROXY_V1: &str = "http://127.0.0.1:8787/v1";
const REMOTE_CONTROL: &str = "Claude Code's Remote Control (and other claude.ai-only features) are not available behind a custom ANTHROPIC_BASE_URL";
const LATER_ONLY: &str = "only shells and programs started after the install see it";

/// A host for `home` whose environment (what `env.get` and the login shell's `$SHELL` come
/// from) is exactly `env`.
fn host(home: &Path, env: &[(&str, &str)]) -> AdapterHost {
    let vars: HashMap<String, String> = env
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let mut opts = HostOptions::for_home(home.to_path_buf());
    opts.env = Arc::new(move |n: &str| vars.get(n).cloned());
    opts.path_env = Some("/usr/bin:/bin".into());
    AdapterHost::load(opts)
}

fn ctx(scope: Scope, targets: &[&str]) -> AdapterContext {
    AdapterContext {
        port: 8787,
        scope,
        profile: "default".into(),
        targets: targets.iter().map(|t| (*t).to_owned()).collect(),
    }
}

/// The one route `id` reports for `target`.
fn route(home: &Path, env: &[(&str, &str)], id: &str, scope: Scope, target: &str) -> Route {
    let routes = host(home, env)
        .routing(id, &ctx(scope, &[target]))
        .unwrap_or_else(|e| panic!("routing of {id}: {e:#}"));
    assert_eq!(routes.len(), 1, "{routes:?}");
    let r = routes.into_iter().next().unwrap();
    assert_eq!(r.target, target);
    r
}

fn routing_error(home: &Path, env: &[(&str, &str)], id: &str, target: &str) -> String {
    let e = host(home, env)
        .routing(id, &ctx(Scope::Provider, &[target]))
        .expect_err("routing should fail");
    format!("{e:#}")
}

fn write(path: &Path, text: &str) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, text).unwrap();
}

const BASH: &[(&str, &str)] = &[("SHELL", "/bin/bash")];

/// `$SHELL` for a shell that may not be installed: None (after saying so) when it is not.
fn shell(name: &str) -> Option<String> {
    let found = ["/usr/bin", "/bin", "/usr/local/bin"]
        .iter()
        .map(|d| format!("{d}/{name}"))
        .find(|p| Path::new(p).exists());
    if found.is_none() {
        eprintln!("skipped: {name} is not installed");
    }
    found
}

// ---- claude ------------------------------------------------------------------------------

#[test]
fn claude_defaults_to_anthropic_without_settings_or_exports() {
    let dir = tempfile::tempdir().unwrap();
    let r = route(dir.path(), BASH, "claude", Scope::Provider, "claude");
    assert_eq!(r.url, None);
    assert_eq!(r.source, RouteSource::Default);
    assert_eq!(r.via, "built-in default https://api.anthropic.com");
    assert!(r.notes.is_empty(), "{:?}", r.notes);
}

#[test]
fn claude_is_routed_by_settings_json_and_says_what_a_custom_url_costs() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path();
    let out = ok(&run_in(
        home,
        &["plugins", "apply", "claude", "--port", "8787"],
        &[],
    ));
    assert!(out.contains(&format!("note: {REMOTE_CONTROL}")), "{out}");
    let r = route(home, BASH, "claude", Scope::Provider, "claude");
    assert_eq!(r.url.as_deref(), Some(PROXY));
    assert_eq!(r.source, RouteSource::Config);
    assert_eq!(r.via, "~/.claude/settings.json env.ANTHROPIC_BASE_URL");
    assert_eq!(r.notes, [REMOTE_CONTROL]);

    // After a revert it is the default again.
    ok(&run_in(home, &["plugins", "revert", "claude"], &[]));
    let r = route(home, BASH, "claude", Scope::Provider, "claude");
    assert_eq!((r.url, r.source), (None, RouteSource::Default));
}

#[test]
fn claude_settings_env_beats_the_login_shells_export() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path();
    write(
        &home.join(".profile"),
        "export ANTHROPIC_BASE_URL=https://gw.corp/anthropic\n",
    );
    write(
        &home.join(".claude/settings.json"),
        &format!("{{\"env\": {{\"ANTHROPIC_BASE_URL\": \"{PROXY}\"}}}}"),
    );
    let r = route(home, BASH, "claude", Scope::Provider, "claude");
    assert_eq!(r.url.as_deref(), Some(PROXY));
    assert_eq!(r.source, RouteSource::Config);

    // The other way round: the user's own gateway in settings.json beats headroom's export.
    write(
        &home.join(".profile"),
        &format!("export ANTHROPIC_BASE_URL={PROXY}\n"),
    );
    write(
        &home.join(".claude/settings.json"),
        "{\"env\": {\"ANTHROPIC_BASE_URL\": \"https://gw.corp/anthropic\"}}",
    );
    let r = route(home, BASH, "claude", Scope::Provider, "claude");
    assert_eq!(r.url.as_deref(), Some("https://gw.corp/anthropic"));
    assert_eq!(r.via, "~/.claude/settings.json env.ANTHROPIC_BASE_URL");
    assert_eq!(r.notes, [REMOTE_CONTROL]);

    // settings.json naming the default URL: no custom-URL note.
    write(
        &home.join(".claude/settings.json"),
        "{\"env\": {\"ANTHROPIC_BASE_URL\": \"https://api.anthropic.com/\"}}",
    );
    let r = route(home, BASH, "claude", Scope::Provider, "claude");
    assert_eq!(r.url.as_deref(), Some("https://api.anthropic.com/"));
    assert!(r.notes.is_empty(), "{:?}", r.notes);
}

#[test]
fn claude_without_settings_follows_the_login_shell() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path();
    // settings.json without env.ANTHROPIC_BASE_URL decides nothing.
    write(&home.join(".claude/settings.json"), "{\"model\": \"opus\"}");
    write(
        &home.join(".profile"),
        &format!("export ANTHROPIC_BASE_URL={PROXY}\n"),
    );
    let r = route(home, BASH, "claude", Scope::Provider, "claude");
    assert_eq!(r.url.as_deref(), Some(PROXY));
    assert_eq!(r.source, RouteSource::Environment);
    assert_eq!(r.via, "ANTHROPIC_BASE_URL (login shell)");
    // This process does not have it: only what starts after the install does.
    assert_eq!(r.notes, [REMOTE_CONTROL, LATER_ONLY]);

    let here = [("SHELL", "/bin/bash"), ("ANTHROPIC_BASE_URL", PROXY)];
    let r = route(home, &here, "claude", Scope::Provider, "claude");
    assert_eq!(r.notes, [REMOTE_CONTROL]);

    // Exported in this process only (e.g. typed in this terminal): the default, and why.
    fs::remove_file(home.join(".profile")).unwrap();
    let r = route(home, &here, "claude", Scope::Provider, "claude");
    assert_eq!((r.url.as_deref(), r.source), (None, RouteSource::Default));
    assert_eq!(
        r.notes,
        [format!(
            "ANTHROPIC_BASE_URL={PROXY} is set in this environment only: a new login shell does not export it"
        )]
    );
}

#[test]
fn claude_follows_a_custom_config_dir_and_a_symlinked_settings_file() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path();
    let alt = home.join("alt claude");
    let env = [
        ("SHELL", "/bin/bash"),
        ("CLAUDE_CONFIG_DIR", alt.to_str().unwrap()),
    ];
    // The settings file is a link into the user's dotfiles: Claude reads the target.
    write(
        &home.join("dotfiles/claude.json"),
        "{\"env\": {\"ANTHROPIC_BASE_URL\": \"https://gw.corp\"}}",
    );
    fs::create_dir_all(&alt).unwrap();
    std::os::unix::fs::symlink("../dotfiles/claude.json", alt.join("settings.json")).unwrap();
    let r = route(home, &env, "claude", Scope::Provider, "claude");
    assert_eq!(r.url.as_deref(), Some("https://gw.corp"));
    assert_eq!(
        r.via,
        format!("{}/settings.json env.ANTHROPIC_BASE_URL", alt.display())
    );
    // Applying edits the link's target (the link stays), and the routing sees it there.
    ok(&run_in(
        home,
        &["plugins", "apply", "claude", "--port", "8787"],
        &[("CLAUDE_CONFIG_DIR", alt.to_str().unwrap())],
    ));
    assert!(
        fs::symlink_metadata(alt.join("settings.json"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert!(
        fs::read_to_string(home.join("dotfiles/claude.json"))
            .unwrap()
            .contains(PROXY)
    );
    let r = route(home, &env, "claude", Scope::Provider, "claude");
    assert_eq!(r.url.as_deref(), Some(PROXY));
    ok(&run_in(
        home,
        &["plugins", "revert", "claude"],
        &[("CLAUDE_CONFIG_DIR", alt.to_str().unwrap())],
    ));
    // ~/.claude is not what Claude reads with CLAUDE_CONFIG_DIR set.
    write(
        &home.join(".claude/settings.json"),
        &format!("{{\"env\": {{\"ANTHROPIC_BASE_URL\": \"{PROXY}\"}}}}"),
    );
    let r = route(home, &env, "claude", Scope::Provider, "claude");
    assert_eq!(r.url.as_deref(), Some("https://gw.corp"));
}

#[test]
fn a_broken_settings_json_is_one_error_naming_file_and_position() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path();
    let broken = "{\n  \"env\": {\"ANTHROPIC_BASE_URL\": \"x\",}\n}\n";
    write(&home.join(".claude/settings.json"), broken);
    let e = routing_error(home, BASH, "claude", "claude");
    assert!(
        e.contains("~/.claude/settings.json: invalid JSON at line 2, column"),
        "{e}"
    );
    assert_eq!(e.lines().count(), 1, "{e}");
    let o = run_in(home, &["plugins", "apply", "claude"], &[]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("~/.claude/settings.json: invalid JSON at line 2"),
        "{err}"
    );
    assert_eq!(
        fs::read_to_string(home.join(".claude/settings.json")).unwrap(),
        broken,
        "nothing written"
    );
    // A value Claude Code could not use as a URL is named too.
    write(
        &home.join(".claude/settings.json"),
        "{\"env\": {\"ANTHROPIC_BASE_URL\": 8787}}",
    );
    let e = routing_error(home, BASH, "claude", "claude");
    assert!(e.contains("env.ANTHROPIC_BASE_URL is not a string"), "{e}");
}

#[test]
fn a_login_shell_that_does_not_answer_is_named_and_does_not_hide_a_config() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path();
    write(
        &home.join(".profile"),
        "sleep 30
",
    );
    let env = [
        ("SHELL", "/bin/bash"),
        ("HEADROOM_LOGIN_SHELL_TIMEOUT", "1"),
    ];
    // Claude without settings depends on the login shell: one error naming the variable.
    let e = routing_error(home, &env, "claude", "claude");
    assert!(
        e.contains("ANTHROPIC_BASE_URL of a new login shell: "),
        "{e}"
    );
    assert!(e.contains("did not answer within"), "{e}");
    assert_eq!(e.lines().count(), 1, "{e}");
    // Claude with settings, and Codex (for which the variable is only a note), still answer.
    write(
        &home.join(".claude/settings.json"),
        &format!("{{\"env\": {{\"ANTHROPIC_BASE_URL\": \"{PROXY}\"}}}}"),
    );
    assert_eq!(
        route(home, &env, "claude", Scope::Provider, "claude")
            .url
            .as_deref(),
        Some(PROXY)
    );
    let r = route(home, &env, "codex", Scope::Provider, "codex");
    assert_eq!((r.url.as_deref(), r.source), (None, RouteSource::Default));
}

// ---- codex -------------------------------------------------------------------------------

fn codex_config(home: &Path) -> std::path::PathBuf {
    home.join(".codex/config.toml")
}

#[test]
fn codex_defaults_to_openai_and_is_routed_by_its_block() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path();
    let r = route(home, BASH, "codex", Scope::Provider, "codex");
    assert_eq!((r.url.as_deref(), r.source), (None, RouteSource::Default));
    assert_eq!(r.via, "built-in default https://api.openai.com/v1");
    assert!(r.notes.is_empty(), "{:?}", r.notes);

    ok(&run_in(
        home,
        &["plugins", "apply", "codex", "--port", "8787"],
        &[],
    ));
    let r = route(home, BASH, "codex", Scope::Provider, "codex");
    assert_eq!(r.url.as_deref(), Some(PROXY_V1));
    assert_eq!(r.source, RouteSource::Config);
    assert_eq!(
        r.via,
        "~/.codex/config.toml model_providers.headroom.base_url"
    );
    assert_eq!(
        r.notes,
        ["model_provider \"headroom\" is chosen by ~/.codex/config.toml model_provider"]
    );
}

#[test]
fn codex_reports_the_users_own_provider_and_openai_base_url() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path();
    write(
        &codex_config(home),
        "openai_base_url = \"https://gw.corp/v1\"\n",
    );
    let r = route(home, BASH, "codex", Scope::Provider, "codex");
    assert_eq!(r.url.as_deref(), Some("https://gw.corp/v1"));
    assert_eq!(r.via, "~/.codex/config.toml openai_base_url");

    write(
        &codex_config(home),
        "model_provider = \"azure\"\n[model_providers.azure]\nname = \"Azure\"\nbase_url = \"https://x.openai.azure.com/openai\"\n",
    );
    let r = route(home, BASH, "codex", Scope::Provider, "codex");
    assert_eq!(r.url.as_deref(), Some("https://x.openai.azure.com/openai"));
    assert_eq!(r.via, "~/.codex/config.toml model_providers.azure.base_url");
}

#[test]
fn codex_ignores_an_exported_openai_base_url_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path();
    write(
        &home.join(".profile"),
        &format!("export OPENAI_BASE_URL={PROXY_V1}\n"),
    );
    let r = route(home, BASH, "codex", Scope::Provider, "codex");
    assert_eq!(r.url, None, "NOT routed: Codex ignores the variable");
    assert_eq!(r.source, RouteSource::Default);
    assert_eq!(
        r.notes,
        ["OPENAI_BASE_URL is exported but Codex ignores it"]
    );
}

#[test]
fn codex_with_a_profile_choosing_another_provider_is_not_routed() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path();
    ok(&run_in(
        home,
        &["plugins", "apply", "codex", "--port", "8787"],
        &[],
    ));
    // The user then activates a profile that picks their own provider.
    let mut text = fs::read_to_string(codex_config(home)).unwrap();
    text = format!(
        "profile = \"work\"\n{text}\n[model_providers.azure]\nbase_url = \"https://x.openai.azure.com/openai\"\n\n[profiles.work]\nmodel_provider = \"azure\"\n"
    );
    fs::write(codex_config(home), &text).unwrap();
    let r = route(home, BASH, "codex", Scope::Provider, "codex");
    assert_eq!(r.url.as_deref(), Some("https://x.openai.azure.com/openai"));
    assert_eq!(
        r.notes,
        ["model_provider \"azure\" is chosen by ~/.codex/config.toml profiles.work.model_provider"]
    );
    // Its status (what API 0.1/0.2 callers read) agrees.
    let st = host(home, BASH)
        .status("codex", &ctx(Scope::Provider, &["codex"]))
        .unwrap();
    assert!(!st.routed, "{st:?}");
    assert!(
        st.details
            .iter()
            .any(|d| d.contains("profiles.work.model_provider = azure")),
        "{st:?}"
    );
}

#[test]
fn codex_follows_codex_home_and_a_symlinked_config() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path();
    let codex_home = home.join("work codex");
    let env = [
        ("SHELL", "/bin/bash"),
        ("CODEX_HOME", codex_home.to_str().unwrap()),
    ];
    write(
        &home.join("dotfiles/codex.toml"),
        "openai_base_url = \"https://gw.corp/v1\"\n",
    );
    fs::create_dir_all(&codex_home).unwrap();
    // A relative link (stow's kind): resolved inside HOME, as the sandbox allows.
    std::os::unix::fs::symlink("../dotfiles/codex.toml", codex_home.join("config.toml")).unwrap();
    // ~/.codex is not read with CODEX_HOME set.
    write(&codex_config(home), "openai_base_url = \"http://wrong\"\n");
    let r = route(home, &env, "codex", Scope::Provider, "codex");
    assert_eq!(r.url.as_deref(), Some("https://gw.corp/v1"));
    assert_eq!(
        r.via,
        format!("{}/config.toml openai_base_url", codex_home.display())
    );
}

#[test]
fn a_broken_config_toml_is_one_error_naming_file_and_position() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path();
    write(&codex_config(home), "model = \"o3\"\nmodel = = 1\n");
    let e = routing_error(home, BASH, "codex", "codex");
    assert!(
        e.contains("~/.codex/config.toml: invalid TOML at line 2, column"),
        "{e}"
    );
    assert_eq!(e.lines().count(), 1, "{e}");
}

// ---- shell-env ---------------------------------------------------------------------------

/// `plugins apply shell-env --scope user` for `targets` with `$SHELL` = `shell`.
fn apply_shell_env(home: &Path, shell: &str, targets: &str) -> String {
    ok(&run_in(
        home,
        &[
            "plugins",
            "apply",
            "shell-env",
            "--scope",
            "user",
            "--targets",
            targets,
            "--port",
            "8787",
        ],
        &[("SHELL", shell)],
    ))
}

/// What shell-env reports for each of its targets, with `$SHELL` = `shell`.
fn shell_env_routes(home: &Path, shell: &str) -> Vec<Route> {
    host(home, &[("SHELL", shell)])
        .routing(
            "shell-env",
            &ctx(Scope::User, &["claude", "copilot", "aider", "cursor"]),
        )
        .unwrap()
}

#[test]
fn shell_env_reports_what_a_login_shell_exports() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path();
    for r in shell_env_routes(home, "/bin/bash") {
        assert_eq!(
            (r.url.as_deref(), r.source),
            (None, RouteSource::Default),
            "{r:?}"
        );
    }
    // ~/.profile is what bash reads as a login shell.
    write(&home.join(".profile"), "# my profile\n");
    let out = apply_shell_env(home, "/bin/bash", "claude,copilot,aider");
    assert!(
        out.contains("note: already-open shells, and programs started from an IDE or the desktop session, do not see the exports (only new login shells do)"),
        "{out}"
    );
    assert!(out.contains(&format!("note: {REMOTE_CONTROL}")), "{out}");
    let routes = shell_env_routes(home, "/bin/bash");
    let by: HashMap<&str, &Route> = routes.iter().map(|r| (r.target.as_str(), r)).collect();
    assert_eq!(by["claude"].url.as_deref(), Some(PROXY));
    assert_eq!(by["claude"].source, RouteSource::Environment);
    assert_eq!(by["claude"].via, "ANTHROPIC_BASE_URL (login shell)");
    assert_eq!(by["claude"].notes, [LATER_ONLY, REMOTE_CONTROL]);
    assert_eq!(by["copilot"].url.as_deref(), Some(PROXY));
    assert_eq!(by["copilot"].via, "COPILOT_PROVIDER_BASE_URL (login shell)");
    assert_eq!(by["aider"].url.as_deref(), Some(PROXY_V1));
    assert_eq!(by["aider"].via, "OPENAI_API_BASE (login shell)");
    // cursor was not applied: its OPENAI_BASE_URL is missing, so it is not routed.
    assert_eq!(by["cursor"].url, None);
    assert_eq!(
        by["cursor"].via,
        "OPENAI_BASE_URL is not exported by a login shell (built-in default)"
    );
}

#[test]
fn shell_env_reports_the_users_own_export() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path();
    write(
        &home.join(".profile"),
        "export COPILOT_PROVIDER_BASE_URL='https://gw.corp/copilot'\n",
    );
    let routes = shell_env_routes(home, "/bin/bash");
    let copilot = routes.iter().find(|r| r.target == "copilot").unwrap();
    assert_eq!(copilot.url.as_deref(), Some("https://gw.corp/copilot"));
    assert_eq!(copilot.source, RouteSource::Environment);
}

#[test]
fn shell_env_no_longer_serves_codex() {
    let dir = tempfile::tempdir().unwrap();
    let o = run_in(
        dir.path(),
        &[
            "plugins",
            "apply",
            "shell-env",
            "--scope",
            "user",
            "--targets",
            "codex",
        ],
        &[("SHELL", "/bin/bash")],
    );
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("no environment routing for codex"), "{err}");
    let routes = host(dir.path(), BASH)
        .routing("shell-env", &ctx(Scope::User, &["codex"]))
        .unwrap();
    // Not reported by shell-env: the host derives it from status (not routed).
    assert!(routes.iter().all(|r| r.url.is_none()), "{routes:?}");
}

#[test]
fn shell_env_routes_zsh_users() {
    let Some(zsh) = shell("zsh") else { return };
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path();
    write(&home.join(".zshrc"), "setopt no_beep\n");
    apply_shell_env(home, &zsh, "claude");
    let r = &shell_env_routes(home, &zsh)[0];
    assert_eq!(
        (r.target.as_str(), r.url.as_deref()),
        ("claude", Some(PROXY))
    );
    assert_eq!(r.source, RouteSource::Environment);
    // The same file as seen by bash (which does not read ~/.zshrc): not routed.
    let r = &shell_env_routes(home, "/bin/bash")[0];
    assert_eq!(r.url, None);
}

#[test]
fn shell_env_routes_fish_users() {
    let Some(fish) = shell("fish") else { return };
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path();
    let out = apply_shell_env(home, &fish, "claude,cursor");
    assert!(out.contains("headroom.fish"), "{out}");
    for r in shell_env_routes(home, &fish)
        .iter()
        .filter(|r| ["claude", "cursor"].contains(&r.target.as_str()))
    {
        assert_eq!(r.source, RouteSource::Environment, "{r:?}");
        assert!(
            r.url.as_deref().is_some_and(|u| u.starts_with(PROXY)),
            "{r:?}"
        );
    }
}

// ---- opencode, openclaw ------------------------------------------------------------------

#[test]
fn opencode_follows_the_model_it_uses() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path();
    let file = home.join(".config/opencode/opencode.json");
    let r = route(home, BASH, "opencode", Scope::Provider, "opencode");
    assert_eq!((r.url.as_deref(), r.source), (None, RouteSource::Default));

    // headroom's provider is added, but no model uses it yet.
    ok(&run_in(
        home,
        &["plugins", "apply", "opencode", "--port", "8787"],
        &[],
    ));
    let r = route(home, BASH, "opencode", Scope::Provider, "opencode");
    assert_eq!(r.url.as_deref(), Some(PROXY_V1));
    assert_eq!(
        r.via,
        "~/.config/opencode/opencode.json provider.headroom.options.baseURL"
    );
    assert!(r.notes[0].contains("sets no model"), "{:?}", r.notes);

    // The user's model picks their own provider: that is where requests go.
    let mut v: serde_json::Value = serde_json::from_slice(&fs::read(&file).unwrap()).unwrap();
    v["model"] = "anthropic/claude-sonnet".into();
    fs::write(&file, v.to_string()).unwrap();
    let r = route(home, BASH, "opencode", Scope::Provider, "opencode");
    assert_eq!((r.url.as_deref(), r.source), (None, RouteSource::Default));
    v["provider"]["anthropic"] = serde_json::json!({"options": {"baseURL": "https://gw.corp"}});
    fs::write(&file, v.to_string()).unwrap();
    let r = route(home, BASH, "opencode", Scope::Provider, "opencode");
    assert_eq!(r.url.as_deref(), Some("https://gw.corp"));
    assert_eq!(
        r.via,
        "~/.config/opencode/opencode.json provider.anthropic.options.baseURL"
    );
    v["model"] = "headroom/claude-sonnet".into();
    fs::write(&file, v.to_string()).unwrap();
    let r = route(home, BASH, "opencode", Scope::Provider, "opencode");
    assert_eq!(r.url.as_deref(), Some(PROXY_V1));
}

#[test]
fn openclaw_is_routed_only_when_every_provider_is() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path();
    let file = home.join(".openclaw/openclaw.json");
    let r = route(home, BASH, "openclaw", Scope::Provider, "openclaw");
    assert_eq!((r.url.as_deref(), r.source), (None, RouteSource::Default));

    write(
        &file,
        "{\"models\": {\"providers\": {\"openai\": {\"baseUrl\": \"https://api.openai.com/v1\"}, \"claude\": {\"api\": \"anthropic-messages\"}}}}",
    );
    let r = route(home, BASH, "openclaw", Scope::Provider, "openclaw");
    assert_eq!(r.url.as_deref(), Some("https://api.openai.com/v1"));
    assert_eq!(
        r.via,
        "~/.openclaw/openclaw.json models.providers.openai.baseUrl"
    );
    assert_eq!(r.notes, ["provider claude -> its built-in endpoint"]);

    ok(&run_in(
        home,
        &["plugins", "apply", "openclaw", "--port", "8787"],
        &[],
    ));
    let r = route(home, BASH, "openclaw", Scope::Provider, "openclaw");
    assert_eq!(r.url.as_deref(), Some(PROXY_V1));
    assert_eq!(r.notes, [format!("provider claude -> {PROXY}")]);

    // One provider moved back to the user's own endpoint: that one is reported.
    let mut v: serde_json::Value = serde_json::from_slice(&fs::read(&file).unwrap()).unwrap();
    v["models"]["providers"]["claude"]["baseUrl"] = "https://gw.corp".into();
    fs::write(&file, v.to_string()).unwrap();
    let r = route(home, BASH, "openclaw", Scope::Provider, "openclaw");
    assert_eq!(r.url.as_deref(), Some("https://gw.corp"));
    assert_eq!(
        r.via,
        "~/.openclaw/openclaw.json models.providers.claude.baseUrl"
    );
}
