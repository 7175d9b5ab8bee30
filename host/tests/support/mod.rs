//! Shared helpers of the host's integration tests: the real `headroom` binary run with a
//! chosen HOME (inheriting the caller's environment, or with a cleared one), a temp HOME (with
//! a space), byte-exact tree snapshots, free ports, a test proxy and its `/health`, supervisor availability and a
//! cross-process lock so suites sharing one manager never run at once.
//!
//! Each test binary declares `mod support;` and uses a subset, hence `dead_code` is allowed.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub fn headroom() -> &'static str {
    env!("CARGO_BIN_EXE_headroom")
}

/// `headroom ARGS` with `HOME=home`, `HEADROOM_PORT` removed and the rest of the caller's
/// environment inherited.
pub fn headroom_cmd(home: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(headroom());
    c.args(args).env("HOME", home).env_remove("HEADROOM_PORT");
    c
}

/// Clear `cmd`'s environment down to `HOME=home` and `PATH=/usr/bin:/bin`.
pub fn isolate<'a>(cmd: &'a mut Command, home: &Path) -> &'a mut Command {
    cmd.env_clear()
        .env("HOME", home)
        .env("PATH", "/usr/bin:/bin")
}

/// `headroom ARGS` in a cleared environment: `HOME=home`, `PATH=/usr/bin:/bin`, then `env`.
pub fn isolated(home: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(headroom());
    isolate(c.args(args), home);
    c
}

/// Run [`isolated`] with the extra variables `env`.
pub fn run_in(home: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = isolated(home, args);
    c.envs(env.iter().copied());
    c.output().unwrap()
}

/// Require success (printing stderr otherwise) and return stdout, which must be UTF-8.
pub fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout.clone()).unwrap()
}

/// Write `text` to `path` with mode 0755 (a stand-in tool).
pub fn write_executable(path: &Path, text: &str) {
    fs::write(path, text).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).unwrap();
}

/// The shared CI scripts (`../shared/ci` beside the checkout, or `$HEADROOM_SHARED_DIR/ci`).
pub fn shared_ci() -> Option<PathBuf> {
    let dir = std::env::var_os("HEADROOM_SHARED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared"))
        .join("ci");
    dir.is_dir().then_some(dir)
}

/// `$XDG_RUNTIME_DIR`, or `/run/user/<uid>` (where `systemd --user` puts its private bus).
pub fn runtime_dir() -> String {
    static DIR: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        std::env::var("XDG_RUNTIME_DIR")
            .ok()
            .filter(|d| !d.is_empty())
            .unwrap_or_else(|| {
                let uid = Command::new("id").arg("-u").output().unwrap().stdout;
                format!("/run/user/{}", String::from_utf8_lossy(&uid).trim())
            })
    })
    .clone()
}

pub struct Home {
    pub dir: tempfile::TempDir,
}

impl Home {
    /// A fresh HOME whose path contains a space.
    pub fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("headroom home ")
            .tempdir()
            .unwrap();
        Self { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// [`headroom_cmd`] with `XDG_RUNTIME_DIR` set to [`runtime_dir`].
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = headroom_cmd(self.path(), args);
        c.env("XDG_RUNTIME_DIR", runtime_dir());
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }

    /// Run and require success, printing both streams on failure.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "headroom {args:?} failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Run and require a failure with exactly one line on stderr; returns that line.
    pub fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args);
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(!out.status.success(), "headroom {args:?} succeeded: {err}");
        assert_eq!(err.lines().count(), 1, "not one line: {err:?}");
        err
    }

    /// Removes the profile when dropped, so a failing assertion leaves nothing registered on
    /// the shared manager. Declare it after the `Home` (it must drop first).
    pub fn remove_on_drop(&self, profile: &str) -> RemoveOnDrop {
        RemoveOnDrop {
            home: self.path().to_path_buf(),
            profile: profile.to_owned(),
        }
    }

    pub fn status_json(&self, profile: &str) -> (bool, serde_json::Value) {
        let out = self.run(&["install", "status", "--json", "--profile", profile]);
        let v = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "status --json: {e}: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
        });
        (out.status.success(), v)
    }
}

pub struct RemoveOnDrop {
    home: PathBuf,
    profile: String,
}

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = Command::new(headroom())
            .args(["install", "remove", "--profile", &self.profile])
            .env("HOME", &self.home)
            .env("XDG_RUNTIME_DIR", runtime_dir())
            .output();
    }
}

/// `install apply --providers none --profile P --port N <extra…>`: the proxy-only deployment
/// the supervisor tests use.
pub fn apply_args<'a>(profile: &'a str, port: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec![
        "install",
        "apply",
        "--providers",
        "none",
        "--profile",
        profile,
        "--port",
        port,
    ];
    v.extend_from_slice(extra);
    v
}

/// `install apply --profile P --port N <rest…>` (the caller chooses providers and scope).
pub fn install_apply<'a>(profile: &'a str, port: &'a str, rest: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec!["install", "apply", "--profile", profile, "--port", port];
    v.extend_from_slice(rest);
    v
}

/// The message of a command that failed with exactly one line on stderr, without its
/// `headroom: error: ` prefix.
pub fn err_line(o: &Output) -> String {
    assert!(
        !o.status.success(),
        "stdout: {}",
        String::from_utf8_lossy(&o.stdout)
    );
    let e = String::from_utf8(o.stderr.clone()).unwrap();
    let lines: Vec<&str> = e.lines().collect();
    assert_eq!(lines.len(), 1, "one line expected, got: {e}");
    assert!(lines[0].starts_with("headroom: error: "), "{e}");
    lines[0]["headroom: error: ".len()..].to_owned()
}

/// Claude routed through its own settings file (the provider scope's built-in adapter).
pub const CLAUDE_AT_PROVIDER: &[&str] = &[
    "--scope",
    "provider",
    "--providers",
    "manual",
    "--target",
    "claude",
];

/// A [`snapshot`]: relative path → (kind, bytes or link target, permission bits).
pub type Tree = BTreeMap<PathBuf, (String, Vec<u8>, u32)>;

/// Every entry under `root`: file bytes, symlink targets, directories, and permission bits.
pub fn snapshot(root: &Path) -> Tree {
    let mut out = BTreeMap::new();
    fn walk(root: &Path, dir: &Path, out: &mut Tree) {
        let Ok(entries) = fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            let meta = fs::symlink_metadata(&p).unwrap();
            let rel = p.strip_prefix(root).unwrap().to_path_buf();
            let mode = meta.permissions().mode() & 0o7777;
            if meta.file_type().is_symlink() {
                let t = fs::read_link(&p).unwrap();
                out.insert(
                    rel,
                    ("link".into(), t.into_os_string().into_encoded_bytes(), 0),
                );
            } else if meta.is_dir() {
                out.insert(rel, ("dir".into(), vec![], mode));
                walk(root, &p, out);
            } else {
                out.insert(rel, ("file".into(), fs::read(&p).unwrap(), mode));
            }
        }
    }
    walk(root, root, &mut out);
    without_usage_history(out)
}

/// The usage history (`~/.headroom/usage.db` and its WAL files) outlives `install remove` on
/// purpose (docs/stats.md: "what it saved me" across reinstalls); a HOME is compared without it,
/// and without a `.headroom` that holds nothing else.
fn without_usage_history(mut tree: Tree) -> Tree {
    tree.retain(|p, _| {
        let in_state = p.parent().and_then(|d| d.file_name()) == Some(".headroom".as_ref());
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
        !(in_state && name.starts_with("usage.db"))
    });
    let empty_state: Vec<PathBuf> = tree
        .keys()
        .filter(|p| p.file_name() == Some(".headroom".as_ref()))
        .filter(|d| !tree.keys().any(|k| k != *d && k.starts_with(d)))
        .cloned()
        .collect();
    for d in empty_state {
        tree.remove(&d);
    }
    tree
}

/// [`snapshot`] of a HOME without headroom's own state (`~/.headroom`: compile cache, runs,
/// journals, locks), which is not the user's configuration.
pub fn user_files(home: &Path) -> Tree {
    snapshot(home)
        .into_iter()
        .filter(|(p, _)| !p.starts_with(".headroom"))
        .collect()
}

/// Compare two snapshots, naming only the entries that differ.
pub fn assert_same_tree(before: &Tree, after: &Tree, what: &str) {
    let mut diffs = Vec::new();
    for (k, v) in before {
        match after.get(k) {
            None => diffs.push(format!("missing {}", k.display())),
            Some(w) if w != v => diffs.push(format!("changed {}", k.display())),
            _ => {}
        }
    }
    for k in after.keys().filter(|k| !before.contains_key(*k)) {
        diffs.push(format!("added {}", k.display()));
    }
    assert!(diffs.is_empty(), "{what} differs: {diffs:?}");
}

/// A port nothing listens on right now (never 8787).
pub fn free_port() -> u16 {
    loop {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        if port != 8787 {
            return port;
        }
    }
}

pub fn wait_until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if f() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

pub fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// A headroom proxy answers `/readyz` 200 on the loopback `port`.
pub fn proxy_ready(port: u16) -> bool {
    headroom_deploy::health::is_ready("127.0.0.1", port)
}

/// `headroom proxy --port PORT` (stderr discarded, the caller's environment), once it is
/// ready or 10 s have passed. The caller kills it.
pub fn start_proxy(port: u16) -> Child {
    start_proxy_with(port, &[])
}

/// [`start_proxy`] with more arguments (`--compress full`, …).
pub fn start_proxy_with(port: u16, extra: &[&str]) -> Child {
    // Never into the real `~/.headroom/usage.db` of whoever runs the tests.
    let proxy = Command::new(headroom())
        .args(["proxy", "--port", &port.to_string(), "--no-usage-history"])
        .args(extra)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !proxy_ready(port) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    proxy
}

/// `GET path` on loopback; the status code, if anything answered HTTP.
pub fn http_status(port: u16, path: &str) -> Option<u16> {
    http_get(port, path).map(|(status, _)| status)
}

/// `GET path` on loopback; the status code and the body, if anything answered HTTP.
pub fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut buf = String::new();
    let _ = s.read_to_string(&mut buf);
    let status = buf.split_whitespace().nth(1)?.parse().ok()?;
    let body = buf.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    Some((status, body.to_owned()))
}

/// `GET /health` of the loopback proxy on `port`, as JSON.
pub fn health_json(port: u16) -> serde_json::Value {
    let (status, body) = http_get(port, "/health").expect("the proxy answers /health");
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("/health: {e}: {body}"))
}

/// Held while a test drives a shared supervisor; other test binaries wait for it.
pub struct SupervisorLock(#[allow(dead_code)] File);

pub fn lock_supervisor(name: &str) -> SupervisorLock {
    let f = File::create(std::env::temp_dir().join(format!("headroom-test-{name}.lock"))).unwrap();
    f.lock().unwrap();
    SupervisorLock(f)
}

/// [`lock_supervisor`], then [`proxy_unavailable`]: the lock while a serving proxy can back a
/// deployment test, or `None` after saying why it cannot (the lock is released again).
pub fn lock_with_serving_proxy(name: &str) -> Option<SupervisorLock> {
    let lock = lock_supervisor(name);
    if let Some(why) = proxy_unavailable() {
        skip(&why);
        return None;
    }
    Some(lock)
}

/// Why the current `headroom proxy` cannot back a deployment test, if it cannot: it must
/// answer `/readyz` 200 within a few seconds.
pub fn proxy_unavailable() -> Option<String> {
    let port = free_port();
    let mut child = Command::new(headroom())
        .args(["proxy", "--host", "127.0.0.1", "--port", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .ok()?;
    let mut exited = None;
    let ready = wait_until(Duration::from_secs(15), || {
        exited = child.try_wait().ok().flatten();
        exited.is_some() || http_status(port, "/readyz") == Some(200)
    }) && exited.is_none();
    let _ = child.kill();
    let out = child.wait_with_output().ok();
    if ready {
        None
    } else {
        let why = out
            .map(|o| {
                String::from_utf8_lossy(&o.stderr)
                    .lines()
                    .next()
                    .unwrap_or("")
                    .to_owned()
            })
            .unwrap_or_default();
        Some(format!(
            "`headroom proxy` does not serve /readyz on this build ({why})"
        ))
    }
}

pub fn skip(reason: &str) {
    eprintln!("SKIP: {reason}");
}

/// Environment of a process (for checking what the proxy received).
pub fn environ(pid: u32) -> BTreeMap<String, String> {
    let raw = fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
    raw.split(|b| *b == 0)
        .filter_map(|kv| {
            let kv = String::from_utf8_lossy(kv);
            kv.split_once('=')
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
        })
        .collect()
}

pub fn kill9(pid: u32) {
    let ok = Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .unwrap();
    assert!(ok.success(), "kill -9 {pid}");
}

/// A real `systemd --user` answers (`is-system-running` says `offline` even then, so ask for
/// the state property).
pub fn systemd_user_running() -> bool {
    Command::new("systemctl")
        .args(["--user", "show", "-p", "SystemState", "--value"])
        .env("XDG_RUNTIME_DIR", runtime_dir())
        .output()
        .is_ok_and(|o| {
            matches!(
                String::from_utf8_lossy(&o.stdout).trim(),
                "running" | "degraded"
            )
        })
}

/// The suites driving the real `systemd --user`: [`lock_with_serving_proxy`] once
/// [`systemd_user_running`], or `None` after saying why not.
pub fn lock_systemd_user() -> Option<SupervisorLock> {
    if !systemd_user_running() {
        skip("no systemd user manager (run ../shared/ci/systemd-user-up.sh)");
        return None;
    }
    lock_with_serving_proxy("systemd-user")
}

// ---- adapter files: a built component with another embedded manifest ----

/// Append `n` as an unsigned LEB128 (WebAssembly section sizes).
pub fn leb(mut n: usize, out: &mut Vec<u8>) {
    loop {
        let b = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

fn read_leb(b: &[u8], i: &mut usize) -> usize {
    let (mut n, mut shift) = (0usize, 0);
    loop {
        let byte = b[*i];
        *i += 1;
        n |= ((byte & 0x7f) as usize) << shift;
        if byte & 0x80 == 0 {
            return n;
        }
        shift += 7;
    }
}

/// `wasm` with its embedded headroom manifest replaced by `text` (same code, new sha256): how
/// these tests make upgrades and lookalikes without building more guests.
pub fn with_manifest(wasm: &[u8], text: &str) -> Vec<u8> {
    let component = wasm[4..8] != [1, 0, 0, 0];
    let mut out = wasm[..8].to_vec();
    let mut i = 8;
    while i < wasm.len() {
        let id = wasm[i];
        i += 1;
        let size = read_leb(wasm, &mut i);
        let payload = &wasm[i..i + size];
        i += size;
        let new = match id {
            0 => {
                let mut j = 0;
                let n = read_leb(payload, &mut j);
                if &payload[j..j + n] == b"headroom:manifest" {
                    let mut p = Vec::new();
                    leb(n, &mut p);
                    p.extend_from_slice(b"headroom:manifest");
                    p.extend_from_slice(text.as_bytes());
                    p
                } else {
                    payload.to_vec()
                }
            }
            // Nested core modules and components carry the section the SDK wrote.
            1 | 4 if component => with_manifest(payload, text),
            _ => payload.to_vec(),
        };
        out.push(id);
        leb(new.len(), &mut out);
        out.extend(new);
    }
    out
}

/// `systemctl --user ARGS` against the real user manager; its trimmed stdout.
pub fn systemctl(args: &[&str]) -> String {
    let out = Command::new("systemctl")
        .arg("--user")
        .args(args)
        .env("XDG_RUNTIME_DIR", runtime_dir())
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// The user's crontab, `None` when there is none (or no `crontab`).
pub fn crontab_l() -> Option<String> {
    let out = Command::new("crontab").arg("-l").output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Install `text` as the user's crontab (`None` removes it).
pub fn crontab_set(text: Option<&str>) {
    match text {
        None => {
            let _ = Command::new("crontab")
                .arg("-r")
                .stderr(Stdio::null())
                .status();
        }
        Some(t) => {
            use std::io::Write;
            let mut c = Command::new("crontab")
                .arg("-")
                .stdin(Stdio::piped())
                .spawn()
                .unwrap();
            c.stdin.take().unwrap().write_all(t.as_bytes()).unwrap();
            assert!(c.wait().unwrap().success());
        }
    }
}

/// Puts the user's crontab back whatever happens (`RestoreCrontab(crontab_l())`).
pub struct RestoreCrontab(pub Option<String>);

impl Drop for RestoreCrontab {
    fn drop(&mut self) {
        crontab_set(self.0.as_deref());
    }
}

/// A `headroom proxy` child, killed (SIGKILL through its own handle) and reaped when dropped, so
/// a failing test leaves no proxy behind.
pub struct ProxyChild {
    pub child: Child,
    pub port: u16,
}

/// `headroom proxy --port PORT` with both upstreams at `upstream`, then `extra`, in a cleared
/// environment with `HOME=home` (so a usage history that is on is `home`'s, never the runner's),
/// output discarded. Callers add variables (`HEADROOM_PROXY_TOKEN`, …) before
/// [`ProxyChild::spawn`].
pub fn proxy_command(home: &Path, port: u16, upstream: &str, extra: &[&str]) -> Command {
    let mut cmd = Command::new(headroom());
    isolate(&mut cmd, home)
        .args(["proxy", "--port", &port.to_string()])
        .args([
            "--anthropic-api-url",
            upstream,
            "--openai-api-url",
            upstream,
        ])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    cmd
}

impl ProxyChild {
    /// [`proxy_command`] on a free port, ready (or the test fails) within 15 s.
    pub fn start(home: &Path, upstream: &str, extra: &[&str]) -> ProxyChild {
        let port = free_port();
        Self::spawn(proxy_command(home, port, upstream, extra), port)
    }

    /// Spawn `cmd`, a proxy that will serve `port`; fails the test unless ready within 15 s.
    pub fn spawn(mut cmd: Command, port: u16) -> ProxyChild {
        let proxy = ProxyChild {
            child: cmd.spawn().unwrap(),
            port,
        };
        assert!(
            wait_until(Duration::from_secs(15), || proxy_ready(port)),
            "the proxy on {port} did not become ready"
        );
        proxy
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn sigterm(&self) {
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
    }

    /// SIGTERM (the proxy drains, the usage recorder writes its last batch), then a bounded wait
    /// for the exit, which must be a success.
    pub fn stop(mut self) {
        self.sigterm();
        let mut status = None;
        wait_until(Duration::from_secs(20), || {
            status = self.child.try_wait().ok().flatten();
            status.is_some()
        });
        let status = status.expect("the proxy did not stop on SIGTERM");
        assert!(
            status.success(),
            "the proxy exited with {status} on SIGTERM"
        );
    }
}

impl Drop for ProxyChild {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether a cron daemon runs, judged as `install apply` judges it.
pub fn cron_running() -> bool {
    headroom_deploy::supervisors::cron::daemon_running()
}

/// The cron suites' lock, once crontab is installed and cron runs (else a skip with the reason).
pub fn lock_cron() -> Option<SupervisorLock> {
    if !Command::new("sh")
        .args(["-c", "command -v crontab"])
        .output()
        .unwrap()
        .status
        .success()
    {
        skip("crontab is not installed (run ../shared/ci/cron-up.sh)");
        return None;
    }
    if !cron_running() {
        skip("cron is not running (run ../shared/ci/cron-up.sh)");
        return None;
    }
    lock_with_serving_proxy("cron")
}

/// A request carrying a secret-looking key, bearer token and body (each marked with `n`), sent
/// raw to the proxy on `port`; the answer's status (0 if none). What a log must never hold.
pub fn post_secret(port: u16, n: usize) -> u16 {
    use std::io::{Read, Write};
    let body = format!(
        r#"{{"model":"claude-x","max_tokens":1,"messages":[{{"role":"user","content":"TOPSECRETBODY-{n}"}}]}}"#
    );
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    write!(
        s,
        "POST /v1/messages HTTP/1.1\r\nhost: 127.0.0.1\r\nx-api-key: sk-ant-api03-SECRETKEY{n}\r\nauthorization: Bearer SECRETBEARER\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    answer
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}
