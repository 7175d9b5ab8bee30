//! `headroom wrap <tool>`: run a tool routed through headroom. A persistent deployment on the
//! port is reused when healthy and recovered when stopped; otherwise an ephemeral proxy lives
//! exactly as long as the tool.

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use headroom_deploy::health::{self, PortOwner};
use headroom_deploy::lifecycle;
use headroom_deploy::profile::ProfileName;
use headroom_plugins::HostOptions;

/// How a tool is routed: its binary, environment and leading arguments.
pub struct Routing {
    pub binary: &'static str,
    pub env: Vec<(&'static str, String)>,
    pub args: Vec<String>,
}

/// How to route `tool` for one session through environment variables and arguments, for the
/// tools that allow it; `None` for a tool that reads its routing only from its config files
/// (its adapter's edits route it instead; see [`crate::cli::wrap`]). Which tools exist at all
/// is the adapters' manifests' business ([`crate::tools::catalogue`]).
///
/// Where the tool can send a header of its own, it also names the session's project
/// ([`project`]) for the proxy's usage history: Claude Code, Codex and OpenCode can; Copilot,
/// Aider and Cursor have no per-session header setting, so their requests have no project.
pub fn session_routing(tool: &str, port: u16, home: &Path) -> Option<Routing> {
    let base = format!("http://127.0.0.1:{port}");
    let v1 = format!("{base}/v1");
    let project = project(
        &|n| std::env::var(n).ok(),
        std::env::current_dir().ok().as_deref(),
    );
    Some(match tool {
        "claude" => {
            let mut env = vec![
                ("ANTHROPIC_BASE_URL", base),
                ("ENABLE_TOOL_SEARCH", "true".into()),
            ];
            if let Some(name) = &project {
                // Newline-separated `Name: value` lines; the user's own headers are kept.
                let mine = format!("{PROJECT_HEADER}: {name}");
                let headers = match std::env::var(CLAUDE_HEADERS) {
                    Ok(theirs) if theirs.to_ascii_lowercase().contains(PROJECT_HEADER) => theirs,
                    Ok(theirs) if !theirs.trim().is_empty() => format!("{theirs}\n{mine}"),
                    _ => mine,
                };
                env.push((CLAUDE_HEADERS, headers));
            }
            Routing {
                binary: "claude",
                env,
                args: vec![],
            }
        }
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
            ]
            .into_iter()
            .chain(project.as_deref().map(|name| {
                // A TOML inline table; a JSON string is a valid TOML basic string here (ASCII).
                format!(
                    "model_providers.headroom.http_headers={{ \"{PROJECT_HEADER}\" = {} }}",
                    serde_json::Value::from(name)
                )
            })) {
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
                        "options": match &project {
                            Some(name) => serde_json::json!({
                                "baseURL": v1,
                                "headers": { PROJECT_HEADER: name },
                            }),
                            None => serde_json::json!({ "baseURL": v1 }),
                        },
                    } }
                })
                .to_string(),
            )],
            args: vec![],
        },
        _ => return None,
    })
}

/// The header the proxy files a request's project under (`headroom_proxy::headers`).
const PROJECT_HEADER: &str = headroom_proxy::headers::PROJECT_HEADER;
/// Claude Code's extra request headers.
const CLAUDE_HEADERS: &str = "ANTHROPIC_CUSTOM_HEADERS";
/// Names the project instead of the working directory (e.g. from a container, whose working
/// directory is not the user's).
const PROJECT_ENV: &str = "HEADROOM_PROJECT";

/// The session's project: `HEADROOM_PROJECT`, else the working directory's name. Printable
/// ASCII only (others become `_`), because tools refuse header values beyond it (Node throws on
/// them); at most 100 characters, the proxy's cap. `None` for `/` or an empty name.
pub fn project(env: &dyn Fn(&str) -> Option<String>, cwd: Option<&Path>) -> Option<String> {
    let name = env(PROJECT_ENV)
        .filter(|v| !v.trim().is_empty())
        .or_else(|| Some(cwd?.file_name()?.to_string_lossy().into_owned()))?;
    let clean: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .take(100)
        .collect();
    let clean = clean.trim();
    (!clean.is_empty()).then(|| clean.to_owned())
}

/// What `tool` offers only against its own API and so loses behind the session's custom base
/// URL: said once, before the session starts. (`install apply` and `doctor` get the same line
/// from the claude adapter, which owns Claude Code's knowledge there.)
pub fn session_warning(tool: &str) -> Option<&'static str> {
    match tool {
        "claude" => Some(
            "Claude Code's Remote Control (and other claude.ai-only features) are not available behind a custom ANTHROPIC_BASE_URL",
        ),
        _ => None,
    }
}

/// Whether Codex signs in with a ChatGPT account: the host's one bounded reading of auth.json
/// (the same answer adapters get through API 0.2's `facts` import).
fn codex_chatgpt_login(home: &Path) -> bool {
    let env = |n: &str| std::env::var(n).ok();
    headroom_plugins::facts::codex_login(&env, &home.to_string_lossy())
        == headroom_plugins::facts::LoginKind::Chatgpt
}

/// What serves the port while the tool runs.
pub enum Proxy {
    /// A persistent deployment or another headroom: left running afterwards.
    Existing(String),
    /// Started for this tool; stopped when it exits.
    Ephemeral(Child),
}

/// Reuse, recover, or start a proxy on `port`.
pub fn ensure_proxy(opts: &HostOptions, exe: &Path, port: u16) -> anyhow::Result<Proxy> {
    if let Some(how) = ensure_persistent_proxy(opts, exe, port)? {
        return Ok(Proxy::Existing(how));
    }
    spawn_ephemeral(exe, port)
}

/// A proxy on `port` that outlives this command: a ready headroom reused, or a stopped deployment
/// recorded for the port recovered (by `install start`: its tools are routed to it again, as
/// after any start); `None` when there is neither.
pub fn ensure_persistent_proxy(
    opts: &HostOptions,
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
    if let Some(profile) = deployment_on_port(&opts.home, exe, port) {
        let report = crate::install::start(opts, profile.as_str(), exe)
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
    let dir = headroom_core::StateDir::new(home).deploy_dir();
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

/// How `wrap` routes a tool the adapters know.
pub enum Plan {
    /// For this session only: environment and arguments.
    Session(Routing),
    /// The tool reads its routing from its config only: the adapter `adapter` edits it (journaled
    /// like `plugins apply`), against a proxy that outlives this command.
    Persistent { adapter: String },
}

/// Decide how to route `tool`: the adapters' manifests say which tools exist.
pub fn plan(
    host: &headroom_plugins::AdapterHost,
    tool: &str,
    port: u16,
    home: &Path,
) -> anyhow::Result<Plan> {
    let known = crate::tools::catalogue(host);
    if !known.iter().any(|(t, _)| t == tool) {
        bail!(
            "unknown tool {tool:?} (known: {}; see `headroom plugins list`)",
            known
                .iter()
                .map(|(t, _)| t.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    if let Some(r) = session_routing(tool, port, home) {
        return Ok(Plan::Session(r));
    }
    match host.for_target(tool, headroom_plugins::Scope::Provider) {
        Some(e) => Ok(Plan::Persistent {
            adapter: e.id.clone(),
        }),
        None => bail!(
            "{tool} can only be routed through its shell environment; use `headroom install apply --providers manual --target {tool}`"
        ),
    }
}

/// What [`route_persistently`] did, for the user.
pub struct Persisted {
    /// Which lasting proxy serves the tool (reused or recovered).
    pub proxy: String,
    pub notes: Vec<String>,
    /// Logical paths of the files now pointing at the proxy.
    pub routed: Vec<String>,
}

/// Route a config-only tool persistently: the proxy on `port` must outlive this command (a
/// deployment reused or recovered), then the adapter's edits are applied and journaled.
pub fn route_persistently(
    opts: &HostOptions,
    host: &headroom_plugins::AdapterHost,
    exe: &Path,
    tool: &str,
    adapter: &str,
    port: u16,
) -> anyhow::Result<Persisted> {
    let Some(proxy) = ensure_persistent_proxy(opts, exe, port)? else {
        bail!(
            "no headroom proxy on port {port}; {tool}'s routing is persistent, so start one that stays up: `headroom install apply --port {port}`"
        );
    };
    let ctx = headroom_plugins::AdapterContext {
        port,
        scope: headroom_plugins::Scope::Provider,
        profile: "wrap".into(),
        targets: vec![tool.to_owned()],
    };
    let plan = host.plan_apply(adapter, &ctx)?;
    let changes = crate::tools::executor(opts).apply(
        std::slice::from_ref(&plan),
        &crate::tools::plugin_journal(opts, adapter),
    )?;
    Ok(Persisted {
        proxy,
        notes: plan.plan().notes.clone(),
        routed: changes
            .iter()
            .filter(|c| !c.is_noop())
            .map(|c| c.logical.clone())
            .collect(),
    })
}

/// Undo [`route_persistently`] from its journal (works after the adapter is gone); the proxy is
/// never stopped here (it may serve other tools).
pub fn unroute(
    opts: &HostOptions,
    host: &headroom_plugins::AdapterHost,
    tool: &str,
) -> anyhow::Result<Vec<String>> {
    let adapter = host
        .for_target(tool, headroom_plugins::Scope::Provider)
        .map_or_else(|| tool.to_owned(), |e| e.id.clone());
    let journal = crate::tools::plugin_journal(opts, &adapter);
    if !journal.exists() {
        bail!(
            "{tool} is not persistently wrapped: `wrap` routes a tool only while it runs (for persistent routing use `headroom install apply`/`remove`)"
        );
    }
    crate::tools::revert(&crate::tools::executor(opts), &journal)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_project_is_the_working_directory_unless_named_and_always_a_safe_header_value() {
        let none = |_: &str| None;
        let dir = |d: &str| Some(Path::new(d).to_path_buf());
        assert_eq!(
            project(&none, dir("/home/a/web-app").as_deref()).as_deref(),
            Some("web-app")
        );
        assert_eq!(project(&none, dir("/").as_deref()), None);
        assert_eq!(project(&none, None), None);
        let named = |n: &str| (n == PROJECT_ENV).then(|| "api server".to_owned());
        assert_eq!(
            project(&named, dir("/workspace").as_deref()).as_deref(),
            Some("api server")
        );
        let hostile = project(
            &none,
            dir(&format!("/x/café\r\n{}", "y".repeat(300))).as_deref(),
        )
        .unwrap();
        assert!(hostile.starts_with("caf__"), "{hostile}");
        assert_eq!(hostile.chars().count(), 100);
        assert!(hostile.bytes().all(|b| b.is_ascii_graphic() || b == b' '));
    }
}
