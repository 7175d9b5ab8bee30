//! `persistent-docker` against a REAL container engine through the stock `docker` CLI (on CI:
//! podman behind the docker CLI, `../shared/ci/podman-docker-up.sh`). The image is built
//! offline `FROM scratch` around this build's `headroom` binary and the shared libraries it
//! links (no registry, no RUN step). Skips with a reason when no engine answers or `headroom
//! proxy` cannot serve yet. Podman has no daemon, so there is no reboot step here.

mod support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use support::*;

fn docker(args: &[&str]) -> std::process::Output {
    Command::new("docker").args(args).output().unwrap()
}

fn engine_answers() -> bool {
    Command::new("docker")
        .args(["version", "--format", "{{.Server.Version}}"])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Copy `headroom` and every library `ldd` lists into a build context, and build it.
fn build_image(tag: &str) -> Result<(), String> {
    let ctx = tempfile::tempdir().unwrap();
    std::fs::copy(headroom(), ctx.path().join("headroom")).unwrap();
    let ldd = Command::new("ldd")
        .arg(headroom())
        .output()
        .map_err(|e| e.to_string())?;
    for line in String::from_utf8_lossy(&ldd.stdout).lines() {
        let path = line
            .split_whitespace()
            .find(|w| w.starts_with('/'))
            .map(Path::new);
        if let Some(lib) = path {
            let dest = ctx.path().join(lib.strip_prefix("/").unwrap());
            std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
            std::fs::copy(lib, &dest).map_err(|e| format!("{}: {e}", lib.display()))?;
        }
    }
    std::fs::write(
        ctx.path().join("Dockerfile"),
        "FROM scratch\nCOPY . /\nENTRYPOINT [\"/headroom\"]\n",
    )
    .unwrap();
    let out = docker(&["build", "--quiet", "-t", tag, &ctx.path().to_string_lossy()]);
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_owned())
    }
}

fn container_pid(name: &str) -> Option<u32> {
    let out = docker(&["inspect", "--format", "{{.State.Pid}}", name]);
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .ok()
        .filter(|p| *p != 0)
}

#[test]
fn docker_lifecycle_restarts_after_kill_and_removes_the_container() {
    if !engine_answers() {
        return skip(
            "no container engine answers the docker CLI (run ../shared/ci/podman-docker-up.sh)",
        );
    }
    let Some(_lock) = lock_with_serving_proxy("docker") else {
        return;
    };
    let tag = format!("localhost/headroom-it:{}", std::process::id());
    if let Err(why) = build_image(&tag) {
        return skip(&format!("cannot build the test image: {why}"));
    }
    let home = Home::new();
    let before = snapshot(home.path());
    let profile = format!("it-docker-{}", std::process::id());
    let _cleanup = home.remove_on_drop(&profile);
    let name = format!("headroom-{profile}");
    let port = free_port().to_string();
    let env_arg = "HEADROOM_TEST_VALUE=a\"b $(id) `x`\nline2";

    // A secret in the caller's environment must not reach the container: only what is asked for.
    let args = apply_args(
        &profile,
        &port,
        &[
            "--preset",
            "persistent-docker",
            "--image",
            &tag,
            "--env",
            env_arg,
        ],
    );
    let out = home
        .cmd(&args)
        .env("HEADROOM_TEST_CALLER_SECRET", "do-not-forward")
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&out.stdout);
    assert!(out.contains("is up"), "{out}");
    let (ok, st) = home.status_json(&profile);
    assert!(ok, "{st}");
    assert_eq!(st["runtime"], "docker");
    let restart = docker(&[
        "inspect",
        "--format",
        "{{.HostConfig.RestartPolicy.Name}}",
        &name,
    ]);
    assert_eq!(
        String::from_utf8_lossy(&restart.stdout).trim(),
        "unless-stopped"
    );
    let config = docker(&[
        "inspect",
        "--format",
        "{{.HostConfig.NetworkMode}} {{len .Mounts}}",
        &name,
    ]);
    assert_eq!(
        String::from_utf8_lossy(&config.stdout).trim(),
        "host 0",
        "host network, no bind mounts"
    );
    let pid = container_pid(&name).expect("container pid");
    let env = environ(pid);
    assert_eq!(env["HEADROOM_DEPLOYMENT_SUPERVISOR"], "docker");
    assert_eq!(env["HEADROOM_TEST_VALUE"], "a\"b $(id) `x`\nline2");
    assert!(
        !env.contains_key("HEADROOM_TEST_CALLER_SECRET"),
        "the caller's environment was forwarded: {env:?}"
    );

    kill9(pid);
    assert!(
        wait_until(Duration::from_secs(20), || {
            container_pid(&name).is_some_and(|p| p != pid) && home.status_json(&profile).0
        }),
        "not healthy again after kill -9"
    );

    home.ok(&["install", "stop", "--profile", &profile]);
    std::thread::sleep(Duration::from_secs(3));
    let (ok, st) = home.status_json(&profile);
    assert!(!ok);
    assert_eq!(st["port_owner"]["kind"], "free");
    home.ok(&["install", "start", "--profile", &profile]);
    assert!(home.status_json(&profile).0);

    home.ok(&["install", "remove", "--profile", &profile]);
    assert!(
        !docker(&["inspect", &name]).status.success(),
        "container left behind"
    );
    assert_same_tree(&before, &snapshot(home.path()), "HOME after remove");
    let _ = docker(&["rmi", "--force", &tag]);
}
