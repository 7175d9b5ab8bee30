//! Every adapter API this headroom serves keeps working: a component built against API 0.1
//! (`plugins/fixtures/api-0-1`, bound to `wit/v0.1` with wit-bindgen, not the SDK) installs,
//! lists, applies and reverts beside the 0.2 built-ins; a 0.2 adapter learns a credential fact
//! only when it declares it and the user grants it, and never the credential.

mod support;

use std::fs;
use std::path::{Path, PathBuf};

use support::*;

fn fixture(name: &str) -> PathBuf {
    Path::new(headroom_plugins::builtin::FIXTURES_DIR).join(format!("{name}.wasm"))
}

const API01_TOML: &str = include_str!("../../plugins/fixtures/api-0-1/adapter.toml");

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

/// The world a component is served by is its manifest's `api`: a 0.1 component that claims 0.2
/// (or the other way round) is refused at install, before any of it runs.
#[test]
fn a_component_whose_manifest_names_another_api_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    fs::create_dir_all(&home).unwrap();
    let old = fs::read(fixture("headroom_fixture_api_0_1")).unwrap();
    let claims_new = dir.path().join("claims-0-2.wasm");
    fs::write(
        &claims_new,
        with_manifest(
            &old,
            &API01_TOML.replace("api = \"0.1.0\"", "api = \"0.2.0\""),
        ),
    )
    .unwrap();
    let line = err_line(&run_in(
        &home,
        &["plugins", "install", "--yes", claims_new.to_str().unwrap()],
        &[],
    ));
    assert!(
        line.contains(": imports: component imports instance `headroom:adapter/"),
        "{line}"
    );

    let new = fs::read(fixture("headroom_fixture_hostile")).unwrap();
    let hostile = include_str!("../../plugins/fixtures/hostile/adapter.toml");
    let claims_old = dir.path().join("claims-0-1.wasm");
    fs::write(
        &claims_old,
        with_manifest(&new, &hostile.replace("api = \"0.2.0\"", "api = \"0.1.0\"")),
    )
    .unwrap();
    let line = err_line(&run_in(
        &home,
        &["plugins", "install", "--yes", claims_old.to_str().unwrap()],
        &[],
    ));
    assert!(
        line.contains(": imports: component imports instance `headroom:adapter/"),
        "{line}"
    );
    assert!(!home.join(".headroom/plugins/api-0-1").exists());
    assert!(!home.join(".headroom/plugins/hostile").exists());
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
