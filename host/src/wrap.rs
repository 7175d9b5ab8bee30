//! `headroom wrap <tool>`: run a tool routed through headroom. A persistent deployment on the
//! port is reused when healthy and recovered when stopped; otherwise an ephemeral proxy lives
//! exactly as long as the tool.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use headroom_deploy::health::{self, PortOwner};
use headroom_deploy::lifecycle;
use headroom_deploy::profile::ProfileName;

/// How a tool is routed: its binary, environment and leading arguments.
pub struct Routing {
    pub binary: &'static str,
    pub env: Vec<(&'static str, String)>,
    pub args: Vec<String>,
}

pub const TOOLS: &[&str] = &["claude", "codex", "copilot", "aider", "cursor", "opencode"];

pub fn routing(tool: &str, port: u16, home: &Path) -> anyhow::Result<Routing> {
    let base = format!("http://127.0.0.1:{port}");
    let v1 = format!("{base}/v1");
    Ok(match tool {
        "claude" => Routing {
            binary: "claude",
            env: vec![
                ("ANTHROPIC_BASE_URL", base),
                ("ENABLE_TOOL_SEARCH", "true".into()),
            ],
            args: vec![],
        },
        // Codex ignores OPENAI_BASE_URL: a provider defined with -c overrides routes it.
        "codex" => {
            let credentials = if codex_chatgpt_login(home) {
                "model_providers.headroom.requires_openai_auth=true".to_owned()
            } else {
                "model_providers.headroom.env_key=\"OPENAI_API_KEY\"".to_owned()
            };
            let mut args = Vec::new();
            for c in [
                "model_provider=\"headroom\"".to_owned(),
                "model_providers.headroom.name=\"headroom\"".to_owned(),
                format!("model_providers.headroom.base_url=\"{v1}\""),
                "model_providers.headroom.wire_api=\"responses\"".to_owned(),
                "model_providers.headroom.supports_websockets=true".to_owned(),
                credentials,
            ] {
                args.push("-c".to_owned());
                args.push(c);
            }
            Routing {
                binary: "codex",
                env: vec![],
                args,
            }
        }
        "copilot" => Routing {
            binary: "copilot",
            env: vec![
                ("COPILOT_PROVIDER_TYPE", "anthropic".into()),
                ("COPILOT_PROVIDER_BASE_URL", base),
            ],
            args: vec![],
        },
        "aider" => Routing {
            binary: "aider",
            env: vec![("OPENAI_API_BASE", v1), ("ANTHROPIC_BASE_URL", base)],
            args: vec![],
        },
        "cursor" => Routing {
            binary: "cursor-agent",
            env: vec![("OPENAI_BASE_URL", v1), ("ANTHROPIC_BASE_URL", base)],
            args: vec![],
        },
        "opencode" => Routing {
            binary: "opencode",
            env: vec![(
                "OPENCODE_CONFIG_CONTENT",
                serde_json::json!({
                    "provider": { "headroom": {
                        "npm": "@ai-sdk/openai-compatible",
                        "name": "headroom",
                        "options": { "baseURL": v1 },
                    } }
                })
                .to_string(),
            )],
            args: vec![],
        },
        "openclaw" => bail!(
            "openclaw keeps its routing in openclaw.json: use `headroom install apply --scope provider --providers manual --target openclaw` once its adapter exists"
        ),
        other => bail!("unknown tool {other:?} (known: {})", TOOLS.join(", ")),
    })
}

fn codex_chatgpt_login(home: &Path) -> bool {
    let dir = std::env::var_os("CODEX_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| home.join(".codex"));
    std::fs::read(dir.join("auth.json"))
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .and_then(|v| v.get("tokens").cloned())
        .is_some_and(|t| !t.is_null())
}

pub fn find_on_path(binary: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(binary))
        .find(|p| {
            use std::os::unix::fs::PermissionsExt;
            std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

/// What serves the port while the tool runs.
pub enum Proxy {
    /// A persistent deployment or another headroom: left running afterwards.
    Existing(String),
    /// Started for this tool; stopped when it exits.
    Ephemeral(Child),
}

/// Reuse, recover, or start a proxy on `port`.
pub fn ensure_proxy(home: &Path, exe: &Path, port: u16) -> anyhow::Result<Proxy> {
    if let Some(how) = ensure_persistent_proxy(home, exe, port)? {
        return Ok(Proxy::Existing(how));
    }
    spawn_ephemeral(exe, port)
}

/// A proxy on `port` that outlives this command: a ready headroom reused, or a stopped deployment
/// recorded for the port recovered; `None` when there is neither.
pub fn ensure_persistent_proxy(
    home: &Path,
    exe: &Path,
    port: u16,
) -> anyhow::Result<Option<String>> {
    match health::port_owner("127.0.0.1", port) {
        PortOwner::Deployment {
            profile,
            ready: true,
        } => {
            return Ok(Some(format!(
                "reusing the headroom deployment {profile:?} on port {port}"
            )));
        }
        PortOwner::Headroom { ready: true } => {
            return Ok(Some(format!(
                "reusing the headroom proxy already on port {port}"
            )));
        }
        PortOwner::Free => {}
        other => bail!(
            "port {port} is held by {}; stop it or pick another --port",
            other.describe()
        ),
    }
    if let Some(profile) = deployment_on_port(home, exe, port) {
        let report = lifecycle::start(home, &profile, exe)
            .with_context(|| format!("recovering the headroom deployment {profile}"))?;
        if health::wait_ready("127.0.0.1", port, profile.as_str(), Duration::from_secs(20)) {
            return Ok(Some(format!(
                "recovered the stopped headroom deployment \"{profile}\" ({})",
                report.done.join("; ")
            )));
        }
        bail!(
            "the headroom deployment {profile} did not become ready on port {port}; see `headroom install status --profile {profile}`"
        );
    }
    Ok(None)
}

fn spawn_ephemeral(exe: &Path, port: u16) -> anyhow::Result<Proxy> {
    let child = Command::new(exe)
        .args(["proxy", "--port", &port.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        // Its own process group: Ctrl-C in the terminal is for the tool, not for the proxy.
        .process_group(0)
        .spawn()
        .context("starting an ephemeral headroom proxy")?;
    let mut proxy = Proxy::Ephemeral(child);
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if health::is_ready("127.0.0.1", port) {
            return Ok(proxy);
        }
        if let Proxy::Ephemeral(c) = &mut proxy
            && let Some(status) = c.try_wait()?
        {
            bail!("the ephemeral proxy exited ({status}) before it was ready");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    stop(proxy);
    bail!("the ephemeral proxy on port {port} did not become ready within 10 s")
}

/// A persistent deployment recorded for this port (stopped, or it would own the port).
fn deployment_on_port(home: &Path, exe: &Path, port: u16) -> Option<ProfileName> {
    let dir = home.join(".headroom/deploy");
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names.into_iter().find_map(|n| {
        let name = ProfileName::new(&n).ok()?;
        let d = lifecycle::load(home, &name, exe).ok()?;
        (d.manifest.port == port).then_some(name)
    })
}

/// Stop an ephemeral proxy: SIGTERM (it drains), then SIGKILL after 5 s.
pub fn stop(proxy: Proxy) {
    let Proxy::Ephemeral(mut child) = proxy else {
        return;
    };
    // SAFETY: signalling our own child by its PID.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

static FORWARD: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(0);

extern "C" fn remember(sig: libc::c_int) {
    FORWARD.store(sig, std::sync::atomic::Ordering::SeqCst);
}

/// Run the tool in the foreground and wait for it. SIGINT/SIGTERM sent to headroom are handed
/// to the tool (a handler, not SIG_IGN, so the tool itself starts with default dispositions).
pub fn run_tool(path: &Path, routing: &Routing, args: &[String]) -> anyhow::Result<ExitStatus> {
    for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        // SAFETY: installing an async-signal-safe handler that only stores an integer.
        unsafe { libc::signal(sig, remember as *const () as libc::sighandler_t) };
    }
    let mut child = Command::new(path)
        .args(&routing.args)
        .args(args)
        .envs(routing.env.iter().map(|(k, v)| (*k, v.as_str())))
        .spawn()
        .with_context(|| format!("starting {}", path.display()))?;
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(status);
        }
        let sig = FORWARD.swap(0, std::sync::atomic::Ordering::SeqCst);
        if sig != 0 {
            // SAFETY: signalling our own child by its PID.
            unsafe { libc::kill(child.id() as i32, sig) };
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The exit code a shell would report for the tool's status.
pub fn exit_code(status: ExitStatus) -> u8 {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(c), _) => c as u8,
        (None, Some(s)) => 128u8.wrapping_add(s as u8),
        _ => 1,
    }
}
