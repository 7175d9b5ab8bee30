//! `headroom proxy`'s own flags, end to end through the real binary: a refused value is one line
//! and exit 2; what it was told shows in `/health`. Cheap: one proxy, no supervisor.

mod support;

use support::*;

#[test]
fn a_bad_compression_mode_is_one_line_naming_the_three_modes() {
    let home = Home::new();
    for (args, env) in [
        (&["proxy", "--compress", "bogus"][..], None),
        (&["proxy"][..], Some("bogus")),
    ] {
        let mut cmd = home.cmd(args);
        if let Some(v) = env {
            cmd.env("HEADROOM_COMPRESS", v);
        }
        let out = cmd.output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert_eq!(err.lines().count(), 1, "not one line: {err:?}");
        assert!(
            err.starts_with("headroom: error: invalid value 'bogus' for '--compress <MODE>'")
                && err.contains("(use off, lossless or full)"),
            "{err}"
        );
    }
}

#[test]
fn health_shows_the_mode_to_everyone_and_the_retrieve_dir_to_loopback() {
    let dir = tempfile::tempdir().unwrap();
    let retrieve = dir.path().join("retrieve here");
    let port = free_port();
    let mut proxy = start_proxy_with(
        port,
        &[
            "--compress",
            "full",
            "--retrieve-dir",
            retrieve.to_str().unwrap(),
        ],
    );
    let health = health_json(port);
    let _ = proxy.kill();
    let _ = proxy.wait();
    assert_eq!(health["compress"], "full", "{health}");
    assert_eq!(
        health["config"]["retrieve_dir"],
        retrieve.to_str().unwrap(),
        "{health}"
    );
    // Created at start, private: a client can be granted read access to it before the first cut.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&retrieve).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
    }
}

#[test]
fn network_settings_it_cannot_use_stop_the_start_with_one_line_naming_them() {
    let home = Home::new();
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("key.pem");
    std::fs::write(
        &key,
        "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
    )
    .unwrap();
    let key = key.to_str().unwrap();
    let port = free_port().to_string();
    for (args, env, named) in [
        (
            vec!["--upstream-proxy", "socks5://127.0.0.1:1080"],
            None,
            "--upstream-proxy",
        ),
        (
            vec![],
            Some(("HTTPS_PROXY", "http://ann:s3cret@[bad")),
            "HTTPS_PROXY",
        ),
        (
            vec!["--ca-file", "/nonexistent/corp.pem"],
            None,
            "/nonexistent/corp.pem",
        ),
        (vec!["--ca-file", key], None, key),
        (
            vec![],
            Some(("SSL_CERT_FILE", "/nonexistent/bundle.pem")),
            "/nonexistent/bundle.pem",
        ),
        (
            vec!["--allow-upstream", "ftp://x"],
            None,
            "--allow-upstream",
        ),
    ] {
        let mut all = vec!["proxy", "--port", &port];
        all.extend(&args);
        let mut cmd = home.cmd(&all);
        if let Some((k, v)) = env {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "not one line: {err:?}");
        assert!(
            err.starts_with("headroom: error: ") && err.contains(named),
            "{err}"
        );
        assert!(!err.contains("s3cret"), "the password was printed: {err}");
    }
}

#[test]
fn health_shows_the_outbound_proxy_masked_and_the_allowed_upstreams_to_loopback() {
    let port = free_port();
    let mut cmd = std::process::Command::new(headroom());
    cmd.args([
        "proxy",
        "--port",
        &port.to_string(),
        "--allow-upstream",
        "https://gw.corp.example/anthropic/",
    ])
    .env("HTTPS_PROXY", "http://ann:s3cret@127.0.0.1:3128")
    .env("NO_PROXY", "localhost,10.0.0.0/8")
    .stdout(std::process::Stdio::null())
    .stderr(std::process::Stdio::null());
    let mut proxy = cmd.spawn().unwrap();
    assert!(wait_until(std::time::Duration::from_secs(15), || {
        proxy_ready(port)
    }));
    let (_, body) = http_get(port, "/health").unwrap();
    let _ = proxy.kill();
    let _ = proxy.wait();
    assert!(!body.contains("s3cret"), "{body}");
    let health: serde_json::Value = serde_json::from_str(&body).unwrap();
    let egress = &health["config"]["egress"];
    assert_eq!(
        egress["proxy"]["url"], "http://ann:***@127.0.0.1:3128",
        "{health}"
    );
    assert_eq!(egress["proxy"]["source"], "HTTPS_PROXY", "{health}");
    assert_eq!(
        egress["proxy"]["no_proxy"], "localhost,10.0.0.0/8",
        "{health}"
    );
    assert_eq!(
        health["config"]["allowed_upstreams"],
        serde_json::json!(["https://gw.corp.example/anthropic"]),
        "{health}"
    );
}
