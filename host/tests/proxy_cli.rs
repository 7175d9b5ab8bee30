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
