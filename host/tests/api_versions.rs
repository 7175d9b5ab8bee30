//! Every adapter API this headroom serves keeps working: components built against API 0.1, 0.2
//! and 0.3 (`plugins/fixtures/api-0-{1,2,3}`, bound to their `wit/` with wit-bindgen, not the
//! SDK) install, list, detect, report status, apply and revert; the routing of a 0.1/0.2 adapter
//! is derived from its status, a 0.3 adapter's is what it reports for the targets it was asked
//! about, and its `env.login-get` answers from a new login shell; an adapter learns a credential
//! fact only when it declares it and the user grants it, and never the credential.

mod support;

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use headroom_plugins::{
    AdapterContext, AdapterHost, EntryStatus, HostOptions, Route, RouteSource, Scope,
};
use support::*;

fn fixture(name: &str) -> PathBuf {
    Path::new(headroom_plugins::builtin::FIXTURES_DIR).join(format!("{name}.wasm"))
}

const API01_TOML: &str = include_str!("../../plugins/fixtures/api-0-1/adapter.toml");
const API02_TOML: &str = include_str!("../../plugins/fixtures/api-0-2/adapter.toml");
const API03_TOML: &str = include_str!("../../plugins/fixtures/api-0-3/adapter.toml");

/// `toml` with its `api = "…"` line replaced.
fn with_api(toml: &str, api: &str) -> String {
    toml.lines()
        .map(|l| {
            if l.starts_with("api = ") {
                format!("api = \"{api}\"")
            } else {
                l.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Host options for `home` whose environment is exactly `env` (plus HOME).
fn options(home: &Path, env: &[(&str, &str)]) -> HostOptions {
    let mut vars: HashMap<String, String> = env
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    vars.insert("HOME".into(), home.to_string_lossy().into_owned());
    let mut opts = HostOptions::for_home(home.to_path_buf());
    opts.path_env = Some("/usr/bin:/bin".into());
    opts.env = Arc::new(move |n: &str| vars.get(n).cloned());
    opts
}

/// An adapter host for `home` whose environment is exactly `env` (plus HOME), as the CLI would
/// load it: installed plugins with their consent records.
fn host(home: &Path, env: &[(&str, &str)]) -> AdapterHost {
    let mut host = AdapterHost::load(options(home, env));
    host.verify();
    host
}

fn ctx(port: u16, targets: &[&str]) -> AdapterContext {
    AdapterContext {
        port,
        scope: Scope::Provider,
        profile: "default".into(),
        targets: targets.iter().map(|t| (*t).to_owned()).collect(),
    }
}

fn install(home: &Path, fixture_name: &str) {
    let f = fixture(fixture_name);
    ok(&run_in(
        home,
        &["plugins", "install", "--yes", f.to_str().unwrap()],
        &[],
    ));
}

/// The API versions' fixtures, installed in `home` with their configs present: (id, target,
/// config file, api).
fn install_every_api(home: &Path) -> Vec<(&'static str, &'static str, PathBuf, &'static str)> {
    let all = [
        ("api-0-1", "api-0-1", ".api01", "0.1.0"),
        ("api-0-2", "api-0-2", ".api02", "0.2.0"),
        ("api-0-3", "api03", ".api03", "0.3.0"),
    ];
    all.iter()
        .map(|(id, target, dir, api)| {
            fs::create_dir_all(home.join(dir)).unwrap();
            let config = home.join(dir).join("config.json");
            fs::write(&config, "{\"mine\": 1}\n").unwrap();
            install(home, &format!("headroom_fixture_{}", id.replace('-', "_")));
            (*id, *target, config, *api)
        })
        .collect()
}

#[test]
fn every_api_loads_detects_reports_and_applies() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let fixtures = install_every_api(&home);
    let h = host(&home, &[]);
    for (id, target, config, api) in &fixtures {
        let e = h.entries().iter().find(|e| e.id == *id).expect(id);
        assert_eq!(e.status, EntryStatus::Ok, "{id}");
        assert_eq!(e.manifest.as_ref().unwrap().api, *api);
        let d = h.detect(id).unwrap();
        assert!(d.detected, "{id}: {:?}", d.evidence);
        let c = ctx(8799, &[target]);
        assert!(!h.status(id, &c).unwrap().routed, "{id}");
        let plan = h.plan_apply(id, &c).unwrap();
        let plan = format!("{plan:?}");
        assert!(plan.contains("/base_url"), "{id}: {plan}");
        assert!(plan.contains("http://127.0.0.1:8799"), "{id}: {plan}");
        // What the plan would write, written by the host's executor through the CLI.
        ok(&run_in(
            &home,
            &["plugins", "apply", id, "--port", "8799"],
            &[],
        ));
        let v: serde_json::Value =
            serde_json::from_str(&fs::read_to_string(config).unwrap()).unwrap();
        assert_eq!(v["base_url"], "http://127.0.0.1:8799", "{id}");
        assert!(h.status(id, &c).unwrap().routed, "{id}");
        assert!(!h.status(id, &ctx(8800, &[target])).unwrap().routed, "{id}");
        ok(&run_in(&home, &["plugins", "revert", id], &[]));
        assert_eq!(fs::read_to_string(config).unwrap(), "{\"mine\": 1}\n");
    }
}

/// A 0.1/0.2 adapter has no `routing` export: its one bit (status) becomes the route, the proxy
/// URL when routed, said to be so in a note.
#[test]
fn the_routing_of_0_1_and_0_2_adapters_is_derived_from_their_status() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    install_every_api(&home);
    for (id, api) in [("api-0-1", "0.1.0"), ("api-0-2", "0.2.0")] {
        let h = host(&home, &[]);
        let c = ctx(8799, &[id]);
        let note = format!("adapter API {api} reports only routed or not (its status)");
        let before = h.routing(id, &c).unwrap();
        assert_eq!(before.len(), 1, "{before:?}");
        assert_eq!(before[0].target, id);
        assert_eq!(before[0].url, None, "not routed: no URL");
        assert_eq!(before[0].source, RouteSource::Config);
        assert_eq!(before[0].notes, [note.as_str()]);
        ok(&run_in(
            &home,
            &["plugins", "apply", id, "--port", "8799"],
            &[],
        ));
        let after = h.routing(id, &c).unwrap();
        assert_eq!(
            after,
            [Route {
                target: id.to_owned(),
                url: Some("http://127.0.0.1:8799".into()),
                source: RouteSource::Config,
                via: if id == "api-0-2" {
                    "~/.api02/config.json base_url; is http://127.0.0.1:8799".into()
                } else {
                    String::new()
                },
                notes: vec![note.clone()],
            }]
        );
        // Routed elsewhere than this deployment's port: not this proxy's URL.
        assert_eq!(h.routing(id, &ctx(8800, &[id])).unwrap()[0].url, None);
        // The run is recorded like status's.
        let runs = ok(&run_in(&home, &["plugins", "list", "-v"], &[]));
        assert!(runs.contains("last run status"), "{runs}");
        ok(&run_in(&home, &["plugins", "revert", id], &[]));
    }
}

/// A 0.3 adapter's own routes are kept only for the targets it was asked about (the first for
/// each), in the context's order; one it left out falls back to its status; what it says is
/// sanitized; `env.login-get` follows `env.get`'s name policy.
#[test]
fn a_0_3_adapter_reports_only_the_targets_it_was_asked_about() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    install_every_api(&home);
    fs::write(
        home.join(".api03/config.json"),
        "{\"base_url\": \"https://gateway.corp/v1\"}\n",
    )
    .unwrap();
    let h = host(&home, &[]);
    let routes = h
        .routing("api-0-3", &ctx(8799, &["api03-left-out", "api03"]))
        .unwrap();
    let targets: Vec<&str> = routes.iter().map(|r| r.target.as_str()).collect();
    assert_eq!(targets, ["api03-left-out", "api03"], "no not-a-target");
    let left_out = &routes[0];
    assert_eq!(left_out.url, None, "its status says not routed");
    assert_eq!(left_out.via, "~/.api03/config.json base_url");
    assert_eq!(
        left_out.notes,
        [
            "adapter api-0-3 did not report this tool's routing: read from its status (routed or not only)"
        ]
    );
    let mine = &routes[1];
    assert_eq!(
        mine.url.as_deref(),
        Some("https://gateway.corp/v1"),
        "the first route wins"
    );
    assert_eq!(mine.source, RouteSource::Config);
    assert_eq!(mine.via, "~/.api03/config.json base_url");
    assert_eq!(
        mine.notes,
        [
            "undeclared: Err(HostError::Denied(\"read env API03_UNDECLARED\"))",
            "a bell  and a bidi \\u{202e} override",
        ]
    );
    let runs = ok(&run_in(&home, &["plugins", "list", "-v"], &[]));
    let block: Vec<&str> = runs
        .lines()
        .skip_while(|l| !l.starts_with("api-0-3"))
        .collect();
    assert!(
        block.iter().any(|l| l.contains("last run status")),
        "the left-out target asked its status last: {runs}"
    );

    // Asked about its tool only: no status run is needed, and the route is its own.
    let only = h.routing("api-0-3", &ctx(8799, &["api03"])).unwrap();
    assert_eq!(only.len(), 1);
    assert_eq!(only[0].url.as_deref(), Some("https://gateway.corp/v1"));
    let runs = ok(&run_in(&home, &["plugins", "list", "-v"], &[]));
    let block: Vec<&str> = runs
        .lines()
        .skip_while(|l| !l.starts_with("api-0-3"))
        .collect();
    assert!(
        block.iter().any(|l| l.contains("last run routing")),
        "{runs}"
    );
    // Not asked about anything: nothing.
    assert!(h.routing("api-0-3", &ctx(8799, &[])).unwrap().is_empty());
}

/// `env.login-get` answers from a new login shell of `$SHELL` (not this process's environment),
/// once per host, and the time the shell takes is not the adapter's: a login shell slower than
/// the call's 2 s limit still answers.
#[test]
fn login_get_answers_from_a_new_login_shell() {
    let Some(bash) = ["/bin/bash", "/usr/bin/bash"]
        .into_iter()
        .find(|b| Path::new(b).exists())
    else {
        return skip("bash is not installed");
    };
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    install_every_api(&home);
    fs::write(home.join(".api03/config.json"), "{}\n").unwrap();
    let runs = dir.path().join("shell-runs");
    fs::write(
        home.join(".bash_profile"),
        format!(
            "echo run >> '{}'\nsleep 3\nexport API03_BASE_URL=http://127.0.0.1:8799\n",
            runs.display()
        ),
    )
    .unwrap();
    // This process's own value is not what a new login shell exports.
    let env = [
        ("SHELL", bash),
        ("API03_BASE_URL", "http://inherited.invalid"),
    ];
    let opts = options(&home, &env);
    let h = AdapterHost::load(opts.clone());
    let started = Instant::now();
    let routes = h.routing("api-0-3", &ctx(8799, &["api03"])).unwrap();
    assert!(started.elapsed() >= Duration::from_secs(3));
    assert_eq!(routes[0].url.as_deref(), Some("http://127.0.0.1:8799"));
    assert_eq!(routes[0].source, RouteSource::Environment);
    assert_eq!(routes[0].via, "API03_BASE_URL (login shell)");
    // Once per command: a second call, and another host loaded from the same options, do not
    // run the shell again.
    let again = Instant::now();
    h.routing("api-0-3", &ctx(8799, &["api03"])).unwrap();
    let other = AdapterHost::load(opts.clone());
    let routes = other.routing("api-0-3", &ctx(8799, &["api03"])).unwrap();
    assert_eq!(routes[0].url.as_deref(), Some("http://127.0.0.1:8799"));
    assert!(
        again.elapsed() < Duration::from_secs(3),
        "{:?}",
        again.elapsed()
    );
    assert_eq!(fs::read_to_string(&runs).unwrap(), "run\n");

    // Nothing exported anywhere: the tool's default.
    fs::write(home.join(".bash_profile"), "true\n").unwrap();
    let h = host(&home, &env);
    let routes = h.routing("api-0-3", &ctx(8799, &["api03"])).unwrap();
    assert_eq!(routes[0].url, None);
    assert_eq!(routes[0].source, RouteSource::Default);

    // A login shell that never answers is killed at the bound, and the adapter hears `io`.
    fs::write(home.join(".bash_profile"), "sleep 60\n").unwrap();
    let slow = [("SHELL", bash), ("HEADROOM_LOGIN_SHELL_TIMEOUT", "1")];
    let h = host(&home, &slow);
    let started = Instant::now();
    let err = format!(
        "{:#}",
        h.routing("api-0-3", &ctx(8799, &["api03"])).unwrap_err()
    );
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    assert!(
        err.contains(&format!(
            "login-get: HostError::Io(\"{bash} -l -i did not answer within 1 s\")"
        )),
        "{err}"
    );
}

#[test]
fn an_adapter_built_against_api_0_1_is_still_served() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    fs::create_dir_all(home.join(".api01")).unwrap();
    let original = "{\n  \"mine\": 1\n}\n";
    fs::write(home.join(".api01/config.json"), original).unwrap();
    let f = fixture("headroom_fixture_api_0_1");

    let inspect = ok(&run_in(
        &home,
        &["plugins", "inspect", f.to_str().unwrap()],
        &[],
    ));
    assert!(inspect.contains("0.1.0"), "{inspect}");
    let screen = ok(&run_in(
        &home,
        &["plugins", "install", "--yes", f.to_str().unwrap()],
        &[],
    ));
    assert!(
        screen.contains(
            "edit ~/.api01/config.json [follows $API01_HOME]: the JSON key /base_url only"
        ),
        "{screen}"
    );

    let list = ok(&run_in(&home, &["plugins", "list"], &[]));
    let row = list
        .lines()
        .find(|l| l.starts_with("api-0-1"))
        .expect(&list);
    assert!(row.contains("installed") && row.contains(" ok "), "{row}");
    // `plugins list` compiled it and checked its imports against the 0.1 world: detect ran.
    let json: serde_json::Value =
        serde_json::from_str(&ok(&run_in(&home, &["plugins", "list", "--json"], &[]))).unwrap();
    let e = json
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["id"] == "api-0-1")
        .unwrap();
    assert_eq!(e["status"]["state"], "ok", "{e}");
    assert_eq!(e["manifest"]["api"], "0.1.0");
    assert_eq!(e["detected"], "yes", "{e}");

    let before = user_files(&home);
    let diff = ok(&run_in(
        &home,
        &["plugins", "apply", "api-0-1", "--port", "8799", "--dry-run"],
        &[],
    ));
    assert!(diff.contains("+++ b/~/.api01/config.json"), "{diff}");
    assert_eq!(user_files(&home), before, "a dry run changes nothing");
    ok(&run_in(
        &home,
        &["plugins", "apply", "api-0-1", "--port", "8799"],
        &[],
    ));
    let v: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(home.join(".api01/config.json")).unwrap())
            .unwrap();
    assert_eq!(v["base_url"], "http://127.0.0.1:8799");
    assert_eq!(v["mine"], 1);
    ok(&run_in(&home, &["plugins", "revert", "api-0-1"], &[]));
    assert_eq!(
        fs::read_to_string(home.join(".api01/config.json")).unwrap(),
        original,
        "byte-exact revert"
    );

    // `$API01_HOME` is followed through the 0.1 `env` import.
    let alt = home.join("alt");
    fs::create_dir_all(&alt).unwrap();
    ok(&run_in(
        &home,
        &["plugins", "apply", "api-0-1"],
        &[("API01_HOME", alt.to_str().unwrap())],
    ));
    assert!(
        fs::read_to_string(alt.join("config.json"))
            .unwrap()
            .contains("127.0.0.1:8787")
    );
    ok(&run_in(&home, &["plugins", "remove", "api-0-1"], &[]));
    assert!(!alt.join("config.json").exists(), "remove reverts first");
}

/// The world a component is served by is its manifest's `api`: a component that claims another
/// API than it was built against is refused at install, before any of it runs.
#[test]
fn a_component_whose_manifest_names_another_api_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    fs::create_dir_all(&home).unwrap();
    let cases = [
        ("headroom_fixture_api_0_1", API01_TOML, "0.2.0", "api-0-1"),
        ("headroom_fixture_api_0_2", API02_TOML, "0.1.0", "api-0-2"),
        ("headroom_fixture_api_0_2", API02_TOML, "0.3.0", "api-0-2"),
        ("headroom_fixture_api_0_3", API03_TOML, "0.2.0", "api-0-3"),
    ];
    for (wasm, toml, claims, id) in cases {
        let lie = dir.path().join(format!("{id}-claims-{claims}.wasm"));
        fs::write(
            &lie,
            with_manifest(&fs::read(fixture(wasm)).unwrap(), &with_api(toml, claims)),
        )
        .unwrap();
        let line = err_line(&run_in(
            &home,
            &["plugins", "install", "--yes", lie.to_str().unwrap()],
            &[],
        ));
        assert!(
            line.contains(": imports: "),
            "{id} claiming {claims}: {line}"
        );
        assert!(!home.join(".headroom/plugins").join(id).exists());
    }
}

/// The Codex fact is a capability like any other: shown in plain words, granted, revocable, and
/// a denial when revoked; the built-in Codex adapter asks for it instead of reading auth.json.
#[test]
fn a_credential_fact_is_consented_to_and_revocable() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    fs::create_dir_all(home.join(".hostile")).unwrap();
    fs::write(home.join(".hostile/config.json"), "{}\n").unwrap();
    fs::create_dir_all(home.join(".codex")).unwrap();
    fs::write(
        home.join(".codex/auth.json"),
        r#"{"OPENAI_API_KEY": "sk-secret-key", "tokens": null}"#,
    )
    .unwrap();
    let hostile = include_str!("../../plugins/fixtures/hostile/adapter.toml").replace(
        "[capabilities]",
        "[capabilities]\nfacts = [\"codex-login\"]",
    );
    let wasm = dir.path().join("fact.wasm");
    fs::write(
        &wasm,
        with_manifest(
            &fs::read(fixture("headroom_fixture_hostile")).unwrap(),
            &hostile,
        ),
    )
    .unwrap();
    let o = run_in(&home, &["plugins", "install", wasm.to_str().unwrap()], &[]);
    let screen = String::from_utf8_lossy(&o.stdout);
    assert!(
        screen.contains(
            "learn whether Codex signs in with an API key or a ChatGPT account (never the key or token itself)"
        ),
        "{screen}"
    );
    ok(&run_in(
        &home,
        &["plugins", "install", "--yes", wasm.to_str().unwrap()],
        &[],
    ));
    let mode = [("HOSTILE_MODE", "fact:codex-login")];
    let line = err_line(&run_in(&home, &["plugins", "apply", "hostile"], &mode));
    assert!(line.contains("Ok(") && line.contains("ApiKey"), "{line}");
    assert!(!line.contains("sk-"), "{line}");

    ok(&run_in(
        &home,
        &["plugins", "revoke", "hostile", "fact codex-login"],
        &[],
    ));
    let line = err_line(&run_in(&home, &["plugins", "apply", "hostile"], &mode));
    assert!(line.contains("Denied(\"fact codex-login\")"), "{line}");
    let list = ok(&run_in(&home, &["plugins", "list", "-v"], &[]));
    assert!(list.contains("    revoked  fact codex-login"), "{list}");
    let block: Vec<&str> = list
        .lines()
        .skip_while(|l| !l.starts_with("hostile"))
        .collect();
    assert!(
        block
            .iter()
            .any(|l| l.contains("last run apply") && l.ends_with(": 1 denial")),
        "{list}"
    );
}
