//! The built-in Codex adapter over hand-made config.toml files: routed, byte-exact revert, the
//! user's own provider settings kept, bad files refused with one line.

mod support;

use std::fs;
use std::path::Path;

use support::{ok, run_in};

fn config(home: &Path) -> std::path::PathBuf {
    home.join(".codex/config.toml")
}

#[test]
fn golden_configs_are_routed_and_restored_byte_for_byte() {
    let cases: &[(&str, Option<&str>)] = &[
        ("absent", None),
        ("empty", Some("")),
        (
            "top-level keys only, no final newline",
            Some("model = \"o3\"\napproval_policy = \"never\""),
        ),
        (
            "the user's own provider, comments, tables",
            Some(
                "# Codex settings\nmodel = \"gpt-5\"\nmodel_provider = \"azure\"  # work account\nopenai_base_url = \"https://gw.example/v1\"\n\n# Azure\n[model_providers.azure]\nname = \"Azure\"\nbase_url = \"https://x.openai.azure.com/openai\"\n\n[profiles.fast]\nmodel = \"o4-mini\"\n",
            ),
        ),
        (
            "non-ASCII and CRLF",
            Some("model = \"o3\" # modèle préféré\r\n\r\n[tui]\r\nnotifications = true\r\n"),
        ),
    ];
    for (name, original) in cases {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path();
        if let Some(text) = original {
            fs::create_dir_all(home.join(".codex")).unwrap();
            fs::write(config(home), text).unwrap();
        }
        ok(&run_in(
            home,
            &["plugins", "apply", "codex", "--port", "8787"],
            &[],
        ));
        let applied = fs::read_to_string(config(home)).unwrap();
        let doc: toml_edit::DocumentMut = applied
            .parse()
            .unwrap_or_else(|e| panic!("{name}: {e}\n{applied}"));
        assert_eq!(doc["model_provider"].as_str(), Some("headroom"), "{name}");
        let hr = &doc["model_providers"]["headroom"];
        assert_eq!(
            hr["base_url"].as_str(),
            Some("http://127.0.0.1:8787/v1"),
            "{name}"
        );
        assert_eq!(hr["env_key"].as_str(), Some("OPENAI_API_KEY"), "{name}");
        assert_eq!(hr["supports_websockets"].as_bool(), Some(true), "{name}");
        if let Some(text) = original
            && text.contains("azure")
        {
            assert_eq!(
                doc["openai_base_url"].as_str(),
                Some("https://gw.example/v1"),
                "kept"
            );
            assert_eq!(
                doc["model_providers"]["azure"]["name"].as_str(),
                Some("Azure")
            );
            assert!(
                applied.contains("# Azure\n[model_providers.azure]"),
                "comment kept with its table:\n{applied}"
            );
        }
        // Idempotent.
        let again = ok(&run_in(
            home,
            &["plugins", "apply", "codex", "--port", "8787"],
            &[],
        ));
        assert!(again.contains("already up to date"), "{name}: {again}");
        ok(&run_in(home, &["plugins", "revert", "codex"], &[]));
        match original {
            Some(text) => assert_eq!(fs::read_to_string(config(home)).unwrap(), *text, "{name}"),
            None => assert!(
                !home.join(".codex").exists(),
                "{name}: created file and directory removed"
            ),
        }
    }
}

#[test]
fn a_chatgpt_login_gets_openai_auth_instead_of_a_key() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path();
    fs::create_dir_all(home.join(".codex")).unwrap();
    fs::write(
        home.join(".codex/auth.json"),
        r#"{"OPENAI_API_KEY": null, "tokens": {"id_token": "x"}}"#,
    )
    .unwrap();
    ok(&run_in(home, &["plugins", "apply", "codex"], &[]));
    let doc: toml_edit::DocumentMut = fs::read_to_string(config(home)).unwrap().parse().unwrap();
    assert_eq!(
        doc["model_providers"]["headroom"]["requires_openai_auth"].as_bool(),
        Some(true)
    );
    assert!(doc["model_providers"]["headroom"].get("env_key").is_none());
}

#[test]
fn unusable_configs_are_refused_with_one_line_and_left_alone() {
    let cases: &[(&str, &str)] = &[
        (
            "model = \"o3\"\nmodel = = 1\n",
            "~/.codex/config.toml: invalid TOML at line 2",
        ),
        (
            "[model_providers.headroom]\nname = \"mine\"\n",
            "already defines model_providers.headroom",
        ),
        (
            "model_providers = { x = { name = \"x\" } }\n",
            "model_providers is an inline table",
        ),
    ];
    for (text, want) in cases {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path();
        fs::create_dir_all(home.join(".codex")).unwrap();
        fs::write(config(home), text).unwrap();
        let o = run_in(home, &["plugins", "apply", "codex"], &[]);
        assert!(!o.status.success());
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains(want), "{err}");
        assert_eq!(fs::read_to_string(config(home)).unwrap(), *text);
    }
}

#[test]
fn an_active_profile_choosing_another_provider_refuses_the_apply() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path();
    fs::create_dir_all(home.join(".codex")).unwrap();
    let text = "profile = \"work\"\n\n[model_providers.azure]\nbase_url = \"https://x.openai.azure.com/openai\"\n\n[profiles.work]\nmodel_provider = \"azure\"\n";
    fs::write(config(home), text).unwrap();
    let o = run_in(home, &["plugins", "apply", "codex"], &[]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("~/.codex/config.toml: profiles.work.model_provider = \"azure\" (profile \"work\" is active) beats the top-level model_provider headroom sets; remove it, or select another profile"),
        "{err}"
    );
    assert_eq!(
        fs::read_to_string(config(home)).unwrap(),
        text,
        "nothing written"
    );

    // A profile that does not choose a provider (or chooses headroom's) is fine.
    let fine = text.replace("model_provider = \"azure\"", "model = \"o3\"");
    fs::write(config(home), &fine).unwrap();
    ok(&run_in(home, &["plugins", "apply", "codex"], &[]));
    ok(&run_in(home, &["plugins", "revert", "codex"], &[]));
    assert_eq!(fs::read_to_string(config(home)).unwrap(), fine);
}

#[test]
fn at_user_scope_codex_is_routed_through_its_config_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path();
    let out = ok(&run_in(
        home,
        &[
            "plugins", "apply", "codex", "--scope", "user", "--port", "8787",
        ],
        &[],
    ));
    assert!(
        out.contains("note: Codex ignores OPENAI_BASE_URL, so at user scope it is routed through its own ~/.codex/config.toml too"),
        "{out}"
    );
    let doc: toml_edit::DocumentMut = fs::read_to_string(config(home)).unwrap().parse().unwrap();
    assert_eq!(doc["model_provider"].as_str(), Some("headroom"));
    ok(&run_in(home, &["plugins", "revert", "codex"], &[]));
    assert!(!home.join(".codex").exists());

    // At provider scope there is no such note; system scope is not served at all.
    let out = ok(&run_in(home, &["plugins", "apply", "codex"], &[]));
    assert!(!out.contains("note:"), "{out}");
    ok(&run_in(home, &["plugins", "revert", "codex"], &[]));
    let o = run_in(
        home,
        &["plugins", "apply", "codex", "--scope", "system"],
        &[],
    );
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("Codex ignores OPENAI_BASE_URL"), "{err}");
}
