//! System scope (`/etc/systemd/system`) against a REAL system systemd running as PID 1 of its
//! own namespace (`../shared/ci/systemd-system-ns-up.sh`; run this binary ALONE). Every
//! `headroom` and `systemctl` call enters that namespace with nsenter. Skips with a reason when
//! the manager is not up or `headroom proxy` cannot serve yet.

mod support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use support::*;

const STATE: &str = "/var/tmp/ci-systemd-system/ns1.pid";

/// One test at a time: each compares /etc/systemd/system and /etc/profile.d before and after,
/// and system-scope routing writes the one /etc/profile.d/headroom.sh.
static MANAGER: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    MANAGER.lock().unwrap_or_else(|e| e.into_inner())
}

fn ns1() -> Option<String> {
    let pid = std::fs::read_to_string(STATE).ok()?.trim().to_owned();
    let out = Command::new("nsenter")
        .args([
            "-t",
            &pid,
            "-m",
            "-p",
            "--",
            "systemctl",
            "show",
            "-p",
            "SystemState",
            "--value",
        ])
        .output()
        .ok()?;
    matches!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "running" | "degraded"
    )
    .then_some(pid)
}

fn in_ns(ns: &str, home: &Home, args: &[&str]) -> std::process::Output {
    Command::new("nsenter")
        .args(["-t", ns, "-m", "-p", "--"])
        .arg(headroom())
        .args(args)
        .env("HOME", home.path())
        .env_remove("XDG_RUNTIME_DIR")
        .output()
        .unwrap()
}

fn ok_in_ns(ns: &str, home: &Home, args: &[&str]) -> String {
    let out = in_ns(ns, home, args);
    assert!(
        out.status.success(),
        "{args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn systemctl(ns: &str, args: &[&str]) -> String {
    let out = Command::new("nsenter")
        .args(["-t", ns, "-m", "-p", "--", "systemctl"])
        .args(args)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Removes the profile (inside the namespace) when dropped: a failing assertion must not leave
/// units in /etc/systemd/system or a block in /etc/profile.d, which every later login shell on
/// the machine would read. Declare it after the `Home` (it must drop first).
struct RemoveInNs<'a> {
    ns: &'a str,
    home: &'a Home,
    profile: String,
}

impl Drop for RemoveInNs<'_> {
    fn drop(&mut self) {
        let _ = in_ns(
            self.ns,
            self.home,
            &["install", "remove", "--profile", &self.profile],
        );
    }
}

fn healthy(ns: &str, home: &Home, profile: &str) -> bool {
    in_ns(ns, home, &["install", "status", "--profile", profile])
        .status
        .success()
}

#[test]
fn system_service_lifecycle_leaves_etc_byte_identical() {
    let _serial = serial();
    let Some(ns) = ns1() else {
        return skip(
            "no namespaced system systemd (run ../shared/ci/systemd-system-ns-up.sh, alone)",
        );
    };
    if let Some(why) = proxy_unavailable() {
        return skip(&why);
    }
    let home = Home::new();
    let etc_before = snapshot(Path::new("/etc/systemd/system"));
    let home_before = snapshot(home.path());
    let profile = format!("it-sys-{}", std::process::id());
    let _cleanup = RemoveInNs {
        ns: &ns,
        home: &home,
        profile: profile.clone(),
    };
    let unit = format!("headroom-{profile}.service");
    let port = free_port().to_string();

    let out = ok_in_ns(
        &ns,
        &home,
        &apply_args(&profile, &port, &["--scope", "system"]),
    );
    assert!(out.contains("is up"), "{out}");
    let unit_path = format!("/etc/systemd/system/{unit}");
    let text = std::fs::read_to_string(&unit_path).unwrap();
    assert!(text.contains("WantedBy=multi-user.target"), "{text}");
    assert!(
        Path::new(&format!(
            "/etc/systemd/system/multi-user.target.wants/{unit}"
        ))
        .exists()
    );
    let verify = Command::new("nsenter")
        .args([
            "-t",
            &ns,
            "-m",
            "-p",
            "--",
            "systemd-analyze",
            "verify",
            &unit_path,
        ])
        .output()
        .unwrap();
    assert!(verify.status.success(), "{verify:?}");
    assert_eq!(
        String::from_utf8_lossy(&verify.stderr),
        "",
        "systemd-analyze warnings"
    );

    // kill -9 (by the PID the namespace's manager reports, which is the same process) → back.
    let pid = systemctl(&ns, &["show", "-p", "MainPID", "--value", &unit]);
    let killed = Command::new("nsenter")
        .args(["-t", &ns, "-m", "-p", "--", "kill", "-9", &pid])
        .status()
        .unwrap();
    assert!(killed.success());
    assert!(
        wait_until(Duration::from_secs(20), || {
            systemctl(&ns, &["show", "-p", "MainPID", "--value", &unit]) != pid
                && healthy(&ns, &home, &profile)
        }),
        "not healthy again after kill -9"
    );

    // Simulated reboot: the whole namespace goes down and boots again.
    if let Some(ci) = shared_ci() {
        assert!(
            Command::new(ci.join("systemd-system-ns-down.sh"))
                .status()
                .unwrap()
                .success()
        );
        assert_eq!(
            http_status(port.parse().unwrap(), "/livez"),
            None,
            "proxy outlived the reboot"
        );
        // The script masks every enabled unit except the prefixes in SD_SYS_KEEP.
        let up = Command::new(ci.join("systemd-system-ns-up.sh"))
            .env("SD_SYS_KEEP", "myproxy headroom-")
            .status()
            .unwrap();
        assert!(up.success());
    } else {
        skip("reboot step: ../shared/ci not found");
    }
    let ns = ns1().expect("manager back up");
    assert!(
        wait_until(Duration::from_secs(30), || healthy(&ns, &home, &profile)),
        "not healthy after the reboot"
    );

    ok_in_ns(&ns, &home, &["install", "stop", "--profile", &profile]);
    std::thread::sleep(Duration::from_secs(2));
    assert!(!healthy(&ns, &home, &profile));
    ok_in_ns(&ns, &home, &["install", "start", "--profile", &profile]);
    assert!(healthy(&ns, &home, &profile));

    ok_in_ns(&ns, &home, &["install", "remove", "--profile", &profile]);
    assert_eq!(
        systemctl(&ns, &["show", "-p", "LoadState", "--value", &unit]),
        "not-found"
    );
    assert_same_tree(
        &etc_before,
        &snapshot(Path::new("/etc/systemd/system")),
        "/etc/systemd/system after remove",
    );
    assert_same_tree(&home_before, &snapshot(home.path()), "HOME after remove");
}

#[test]
fn a_system_proxy_systemd_gives_up_on_is_unrouted_and_start_routes_it_again() {
    let _serial = serial();
    let Some(ns) = ns1() else {
        return skip(
            "no namespaced system systemd (run ../shared/ci/systemd-system-ns-up.sh, alone)",
        );
    };
    if let Some(why) = proxy_unavailable() {
        return skip(&why);
    }
    let home = Home::new();
    let profile_d = Path::new("/etc/profile.d");
    let etc_before = snapshot(Path::new("/etc/systemd/system"));
    let profile_d_before = snapshot(profile_d);
    let profile = format!("it-sys-limit-{}", std::process::id());
    let _cleanup = RemoveInNs {
        ns: &ns,
        home: &home,
        profile: profile.clone(),
    };
    let unit = format!("headroom-{profile}.service");
    let unroute_unit = format!("headroom-{profile}-unroute.service");
    let port = free_port();
    let port_s = port.to_string();
    ok_in_ns(
        &ns,
        &home,
        &install_apply(
            &profile,
            &port_s,
            &[
                "--scope",
                "system",
                "--providers",
                "manual",
                "--target",
                "claude",
            ],
        ),
    );
    let block = profile_d.join("headroom.sh");
    let routed = std::fs::read(&block).expect("the system shell block");
    for u in [&unit, &unroute_unit] {
        let verify = Command::new("nsenter")
            .args(["-t", &ns, "-m", "-p", "--", "systemd-analyze", "verify"])
            .arg(format!("/etc/systemd/system/{u}"))
            .output()
            .unwrap();
        assert!(verify.status.success(), "{verify:?}");
        assert_eq!(String::from_utf8_lossy(&verify.stderr), "", "{u}");
    }
    let status = |ns: &str| -> serde_json::Value {
        let out = in_ns(
            ns,
            &home,
            &["install", "status", "--json", "--profile", &profile],
        );
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "install status --json: {e}: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
        })
    };

    // The proxy dies and its port is taken: systemd gives up and the unroute unit runs.
    let pid = systemctl(&ns, &["show", "-p", "MainPID", "--value", &unit]);
    assert!(
        Command::new("nsenter")
            .args(["-t", &ns, "-m", "-p", "--", "kill", "-9", &pid])
            .status()
            .unwrap()
            .success()
    );
    let mut squatter = None;
    assert!(wait_until(Duration::from_secs(5), || {
        squatter = std::net::TcpListener::bind(("127.0.0.1", port)).ok();
        squatter.is_some()
    }));
    assert!(
        wait_until(Duration::from_secs(40), || status(&ns)["routing"]["routed"]
            == false),
        "not un-routed: {}",
        status(&ns)
    );
    assert_eq!(
        systemctl(&ns, &["show", "-p", "ActiveState", "--value", &unit]),
        "failed"
    );
    assert_same_tree(
        &profile_d_before,
        &snapshot(profile_d),
        "/etc/profile.d after systemd gave up",
    );
    let st = status(&ns);
    assert_eq!(st["routing"]["supervisor"], "systemd", "{st}");

    drop(squatter);
    let out = ok_in_ns(&ns, &home, &["install", "start", "--profile", &profile]);
    assert!(
        out.contains("configured /etc/profile.d/headroom.sh"),
        "{out}"
    );
    assert_eq!(std::fs::read(&block).unwrap(), routed);
    assert_eq!(status(&ns)["routing"]["routed"], true);

    ok_in_ns(&ns, &home, &["install", "remove", "--profile", &profile]);
    assert_same_tree(
        &profile_d_before,
        &snapshot(profile_d),
        "/etc/profile.d after remove",
    );
    assert_same_tree(
        &etc_before,
        &snapshot(Path::new("/etc/systemd/system")),
        "/etc/systemd/system after remove",
    );
}
