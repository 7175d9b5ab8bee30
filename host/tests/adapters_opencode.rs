//! The built-in OpenCode adapter: `provider.headroom` added, the user's file restored exactly.

mod support;

use std::fs;

use support::run_in;

#[test]
fn provider_entry_round_trips() {
    let cases: &[(&str, Option<&str>)] = &[
        ("absent", None),
        (
            "the user's providers and model",
            Some(
                "{\n  \"$schema\": \"https://opencode.ai/config.json\",\n  \"model\": \"anthropic/claude-sonnet\",\n  \"provider\": {\n    \"ollama\": {\n      \"options\": { \"baseURL\": \"http://localhost:11434/v1\" }\n    }\n  }\n}\n",
            ),
        ),
        (
            "no final newline, non-ASCII",
            Some("{\"theme\": \"tokyonight\", \"username\": \"Zoë\"}"),
        ),
    ];
    for (name, original) in cases {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path();
        let file = home.join(".config/opencode/opencode.json");
        if let Some(t) = original {
            fs::create_dir_all(file.parent().unwrap()).unwrap();
            fs::write(&file, t).unwrap();
        }
        let o = run_in(
            home,
            &["plugins", "apply", "opencode", "--port", "8787"],
            &[],
        );
        assert!(
            o.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&fs::read(&file).unwrap()).unwrap();
        assert_eq!(
            v["provider"]["headroom"]["options"]["baseURL"], "http://127.0.0.1:8787/v1",
            "{name}"
        );
        assert_eq!(
            v["provider"]["headroom"]["npm"],
            "@ai-sdk/openai-compatible"
        );
        if original.is_some_and(|t| t.contains("ollama")) {
            assert_eq!(v["model"], "anthropic/claude-sonnet");
            assert_eq!(
                v["provider"]["ollama"]["options"]["baseURL"],
                "http://localhost:11434/v1"
            );
        }
        assert!(
            run_in(home, &["plugins", "revert", "opencode"], &[])
                .status
                .success()
        );
        match original {
            Some(t) => assert_eq!(fs::read_to_string(&file).unwrap(), *t, "{name}"),
            None => assert!(
                !home.join(".config").exists(),
                "{name}: created directories removed"
            ),
        }
    }
}

#[test]
fn opencode_config_is_honoured_and_bad_files_refused() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path();
    let alt = home.join("work/opencode.json");
    fs::create_dir_all(alt.parent().unwrap()).unwrap();
    fs::write(&alt, "{\"provider\": \"oops\"}\n").unwrap();
    let env = [("OPENCODE_CONFIG", alt.to_str().unwrap())];
    let o = run_in(home, &["plugins", "apply", "opencode"], &env);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.lines().count() == 1, "{err}");
    assert!(
        err.contains("opencode.json: \"provider\" is not an object"),
        "{err}"
    );
    fs::write(&alt, "{}\n").unwrap();
    assert!(
        run_in(home, &["plugins", "apply", "opencode"], &env)
            .status
            .success()
    );
    assert!(
        fs::read_to_string(&alt)
            .unwrap()
            .contains("127.0.0.1:8787/v1")
    );
    assert!(!home.join(".config").exists());
}
