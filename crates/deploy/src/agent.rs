//! The supervisor entry points. `run` becomes the proxy (same PID, so systemd/launchd/docker
//! supervise the proxy itself); `ensure` starts it only when it is not already healthy.

use std::fs::OpenOptions;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::deployment::Deployment;
use crate::fsutil;
use crate::health::{self, PortOwner};
use crate::procs;
use headroom_core::FileLock;

/// How long a proxy that runs but is not ready yet gets before `ensure` gives up on it.
pub const GRACE: Duration = Duration::from_secs(20);
/// How long `stop` waits after SIGTERM before SIGKILL.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// Replace this process with `headroom proxy …` carrying the deployment's environment.
pub fn run(d: &Deployment) -> anyhow::Error {
    // The supervisor may have opened it for us already: this run then writes to the moved copy.
    crate::logs::bound_startup(&d.paths.startup_log());
    let err = crate::platform::exec(
        Command::new(&d.exe)
            .args(d.proxy_args())
            .envs(d.proxy_env()),
    );
    anyhow::Error::new(err).context(format!("cannot exec {}", d.exe.display()))
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnsureOutcome {
    AlreadyHealthy,
    /// Another `ensure` holds the start lock and is starting it.
    AnotherStarting,
    Started {
        pid: u32,
        ready: bool,
    },
}

impl EnsureOutcome {
    pub fn describe(&self) -> String {
        match self {
            EnsureOutcome::AlreadyHealthy => "the proxy is already healthy".to_owned(),
            EnsureOutcome::AnotherStarting => {
                "another `agent ensure` is starting the proxy".to_owned()
            }
            EnsureOutcome::Started { pid, ready: true } => {
                format!("started the proxy (pid {pid}), ready")
            }
            EnsureOutcome::Started { pid, ready: false } => {
                format!("started the proxy (pid {pid}), not ready yet")
            }
        }
    }
}

/// Healthy? Done. Otherwise, under a non-blocking start lock, give a starting proxy its grace
/// period and start one if there is none. Never kills a healthy proxy; never starts a second
/// one while the port is held by anything else.
pub fn ensure(d: &Deployment) -> anyhow::Result<EnsureOutcome> {
    let (host, port) = (d.probe_host().to_owned(), d.manifest.port);
    let profile = d.profile().as_str();
    if check_port(d, &host, port)? {
        return Ok(EnsureOutcome::AlreadyHealthy);
    }
    let Some(_lock) = FileLock::try_acquire(&d.paths.start_lock())? else {
        return Ok(EnsureOutcome::AnotherStarting);
    };
    // Someone may have finished starting it between our probe and the lock.
    if check_port(d, &host, port)? {
        return Ok(EnsureOutcome::AlreadyHealthy);
    }
    if let Some(pid) = started_pid(d) {
        if health::wait_ready(&host, port, profile, GRACE) {
            return Ok(EnsureOutcome::AlreadyHealthy);
        }
        // Ours, alive, and still not ready after the grace period: replace it.
        terminate(pid);
    }
    if check_port(d, &host, port)? {
        return Ok(EnsureOutcome::AlreadyHealthy);
    }

    // The proxy logs to its own rotated file; its stdout/stderr (output before the logger is
    // up, a panic) go to the small startup file.
    let log = d.paths.startup_log();
    fsutil::create_private_dir(&d.paths.dir)?;
    crate::logs::bound_startup(&log);
    let out = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log)
        .with_context(|| format!("cannot open {}", log.display()))?;
    let err = out
        .try_clone()
        .with_context(|| format!("cannot open {}", log.display()))?;
    let mut cmd = Command::new(&d.exe);
    // Its own process group: a terminal's ^C or hang-up aimed at us must not reach it.
    crate::platform::detach(&mut cmd);
    let mut child = cmd
        .args(d.agent_args("run"))
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .with_context(|| format!("cannot start {}", d.exe.display()))?;
    let pid = child.id();
    fsutil::write_atomic(&d.paths.pid_file(), format!("{pid}\n").as_bytes(), 0o600)?;

    let deadline = Instant::now() + GRACE;
    loop {
        if health::port_owner(&host, port).is_ready_profile(profile) {
            return Ok(EnsureOutcome::Started { pid, ready: true });
        }
        if let Ok(Some(status)) = child.try_wait() {
            let _ = fsutil::remove_file_if_exists(&d.paths.pid_file());
            anyhow::bail!("the proxy exited at once ({status}); see {}", log.display());
        }
        if Instant::now() >= deadline {
            return Ok(EnsureOutcome::Started { pid, ready: false });
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `Ok(true)` when our proxy is ready; an error when the port belongs to someone else.
fn check_port(d: &Deployment, host: &str, port: u16) -> anyhow::Result<bool> {
    match health::port_owner(host, port) {
        PortOwner::Free => Ok(false),
        PortOwner::Deployment { profile, ready } if profile == d.profile().as_str() => Ok(ready),
        other => anyhow::bail!(
            "port {port} is held by {}; not starting profile {}",
            other.describe(),
            d.profile()
        ),
    }
}

/// The PID `ensure` recorded, if that process is alive and still ours (not a reused PID).
pub fn started_pid(d: &Deployment) -> Option<u32> {
    let text = std::fs::read_to_string(d.paths.pid_file()).ok()?;
    let pid: u32 = text.trim().parse().ok()?;
    (procs::alive(pid) && is_our_process(d, pid)).then_some(pid)
}

/// Before `exec` the agent's argv is `<exe> install agent run --profile P`; after it, the
/// proxy carries `HEADROOM_DEPLOYMENT_PROFILE=P` in its environment (what a reused PID lacks).
fn is_our_process(d: &Deployment, pid: u32) -> bool {
    let profile = d.profile().as_str();
    let argv = procs::argv(pid);
    if argv.is_empty() && !cfg!(target_os = "linux") {
        // No /proc to check against: the PID file is ours, trust it.
        return true;
    }
    argv.windows(2)
        .any(|w| w[0] == "--profile" && w[1] == profile)
        || procs::environ_var(pid, headroom_core::env::DEPLOYMENT_PROFILE).as_deref()
            == Some(profile)
}

/// Stop the proxy `ensure` started (SIGTERM, then SIGKILL after a timeout). Returns its PID.
pub fn stop_started(d: &Deployment) -> anyhow::Result<Option<u32>> {
    let pid = started_pid(d);
    if let Some(pid) = pid {
        terminate(pid);
    }
    fsutil::remove_file_if_exists(&d.paths.pid_file())?;
    Ok(pid)
}

fn terminate(pid: u32) {
    crate::platform::request_stop(pid);
    let deadline = Instant::now() + STOP_TIMEOUT;
    while procs::alive(pid) {
        if Instant::now() >= deadline {
            crate::platform::force_stop(pid);
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The last line the proxy (or its supervisor) wrote to the deployment's log: what a failing
/// proxy said last, for the reason its tools were un-routed.
pub fn last_output(d: &Deployment) -> Option<String> {
    use std::io::{Read, Seek, SeekFrom};
    const TAIL: u64 = 16 * 1024;
    // Whichever was written last: a proxy that cannot start says why on stderr (the startup
    // file), one that ran logs to its own file.
    let mut candidates = vec![d.paths.startup_log()];
    if let crate::logs::LogSource::Files { log, .. } = crate::logs::source(d) {
        candidates.push(log);
    }
    let newest = candidates
        .into_iter()
        .filter_map(|p| Some((std::fs::metadata(&p).ok()?.modified().ok()?, p)))
        .max_by_key(|(t, _)| *t)?
        .1;
    let mut f = std::fs::File::open(newest).ok()?;
    let len = f.metadata().ok()?.len();
    f.seek(SeekFrom::Start(len.saturating_sub(TAIL))).ok()?;
    let mut tail = Vec::new();
    f.read_to_end(&mut tail).ok()?;
    String::from_utf8_lossy(&tail)
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .map(|l| l.chars().take(300).collect())
}

/// What a supervisor's failure hook finds once the manager has made up its mind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The manager stopped restarting the proxy (systemd: the unit stays `failed`).
    GaveUp,
    /// The proxy is healthy again.
    Healthy,
    /// Neither within the timeout, or the unit was stopped: leave the tools alone.
    Undecided,
}

/// Wait until the manager gave up on the proxy or the proxy is healthy again. systemd before
/// v254 runs `OnFailure=` on every failed start, restart or not; only a unit that stays failed
/// (its start limit hit) means nobody will bring the proxy back.
pub fn await_verdict(d: &Deployment, timeout: Duration) -> Verdict {
    let m = &d.manifest;
    let sup = crate::supervisors::for_kind(m.supervisor_kind, m.scope, m.preset);
    let deadline = Instant::now() + timeout;
    loop {
        let st = sup.state(d);
        if st.state.starts_with("failed") {
            return Verdict::GaveUp;
        }
        if health::port_owner(d.probe_host(), m.port).is_ready_profile(d.profile().as_str()) {
            return Verdict::Healthy;
        }
        if (!st.running && !st.crash_looping) || Instant::now() >= deadline {
            return Verdict::Undecided;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}
