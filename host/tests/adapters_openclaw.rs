//! The built-in OpenClaw adapter and `wrap`/`unwrap openclaw`: providers routed through a
//! running headroom, previous baseUrls restored exactly, no proxy ever stopped by unwrap.

mod support;

use std::fs;

use support::{free_port, proxy_ready, run_in, start_proxy};

const CONFIG: &str = "{\n  \"meta\": {\"lastTouchedVersion\": \"2026.9.6\"},\n  \"models\": {\n    \"providers\": {\n      \"openai\": {\"baseUrl\": \"https://api.openai.com/v1\", \"api\": \"openai-completions\"},\n      \"claude\": {\"api\": \"anthropic-messages\", \"models\": []}\n    }\n  }\n}\n";

#[test]
fn providers_are_routed_by_api_style_and_restored() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path();
    let file = home.join(".openclaw/openclaw.json");
    fs::create_dir_all(file.parent().unwrap()).unwrap();
    fs::write(&file, CONFIG).unwrap();
    let o = run_in(
        home,
        &["plugins", "apply", "openclaw", "--port", "8787"],
        &[],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&fs::read(&file).unwrap()).unwrap();
    assert_eq!(
        v["models"]["providers"]["openai"]["baseUrl"],
        "http://127.0.0.1:8787/v1"
    );
    assert_eq!(
        v["models"]["providers"]["claude"]["baseUrl"],
        "http://127.0.0.1:8787"
    );
    assert_eq!(v["meta"]["lastTouchedVersion"], "2026.9.6");
    assert!(
        run_in(home, &["plugins", "revert", "openclaw"], &[])
            .status
            .success()
    );
    assert_eq!(fs::read_to_string(&file).unwrap(), CONFIG);
}

#[test]
fn wrap_needs_a_lasting_proxy_and_unwrap_never_stops_one() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path();
    let file = home.join(".openclaw/openclaw.json");
    fs::create_dir_all(file.parent().unwrap()).unwrap();
    fs::write(&file, CONFIG).unwrap();
    let port = free_port();
    let p = port.to_string();

    let o = run_in(home, &["wrap", "openclaw", "--port", &p], &[]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("no headroom proxy on port"));
    assert_eq!(
        fs::read_to_string(&file).unwrap(),
        CONFIG,
        "nothing routed to a dead port"
    );

    let mut proxy = start_proxy(port);
    let o = run_in(home, &["wrap", "openclaw", "--port", &p], &[]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        fs::read_to_string(&file)
            .unwrap()
            .contains(&format!("http://127.0.0.1:{port}/v1"))
    );
    let o = run_in(home, &["unwrap", "openclaw"], &[]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(fs::read_to_string(&file).unwrap(), CONFIG);
    assert!(proxy_ready(port), "unwrap left the proxy alone");
    proxy.kill().unwrap();
    proxy.wait().unwrap();
}
