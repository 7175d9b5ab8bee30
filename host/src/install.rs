//! `install` as use cases: apply, status, start, stop, restart, remove of a persistent
//! deployment together with the tool files it routes. The deploy crate supervises the proxy,
//! [`crate::tools`] decides which adapter edits which file; this module orders them and undoes
//! exactly its own run when a step fails. The CLI (`cli/install.rs`) parses and prints.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use headroom_core::FileLock;
use headroom_deploy::agent::{self, EnsureOutcome};
use headroom_deploy::lifecycle::{self, Report};
use headroom_deploy::manifest::{
    Manifest, NETWORK_ENV, Preset, ProviderMode, Runtime, SupervisorKind, UpstreamRecord,
    is_proxy_url_var,
};
use headroom_deploy::planner::{self, ApplyRequest};
use headroom_deploy::routing_state::{FAILURES_BEFORE_UNROUTE, Failures, OffReason, Routing};
use headroom_deploy::status::{self, Status};
use headroom_deploy::supervisors::docker::Docker;
use headroom_deploy::{Deployment, ProfileName, ProfilePaths};
use headroom_edits::Applied as EditsApplied;
use headroom_plugins::{AdapterHost, HostOptions};
use headroom_proxy::config::Upstream;
use headroom_proxy::egress::{CA_FILE_FLAG, Egress, EgressOptions, UPSTREAM_PROXY_FLAG};
use headroom_proxy::errors::Provider;
use headroom_proxy::probe;

use crate::{routing, tools};

/// What `install apply` was asked for: the deployment's settings as typed (`targets` are the
/// `--target` names, resolved here against the adapters' manifests), the upstreams and network
/// options the user chose, and whether to only show the plan.
pub struct Request {
    pub deploy: ApplyRequest,
    pub dry_run: bool,
    /// `--anthropic-api-url` / `--openai-api-url`: the upstream chosen, beating a tool's own.
    pub anthropic_api_url: Option<String>,
    pub openai_api_url: Option<String>,
    /// `--upstream-proxy` / `--ca-file`, passed on to `headroom proxy`.
    pub upstream_proxy: Option<String>,
    pub ca_files: Vec<PathBuf>,
}

/// What `install apply` did (or, for a dry run, would do), in lines for the user.
pub enum Outcome {
    /// The plan, every file's diff; nothing was changed.
    DryRun {
        notes: Vec<String>,
        /// The upstreams and network settings recorded (`upstream anthropic: …`), masked.
        network: Vec<String>,
        text: String,
        /// The same plan as data (`install apply --dry-run --json`), masked the same way.
        json: serde_json::Value,
    },
    Applied {
        notes: Vec<String>,
        network: Vec<String>,
        report: Report,
        /// One line per tool file written or put back.
        files: Vec<String>,
        /// Each selected tool's effective routing read back after the edits (the proof; a
        /// tool is never called configured on the strength of a written file alone).
        routes: Vec<RouteLine>,
    },
}

/// One tool's routing as `install apply` found it after writing.
pub struct RouteLine {
    pub routed: bool,
    pub line: String,
}

impl Outcome {
    /// How many selected tools do not point at the deployment after all (exit status 1).
    pub fn unrouted(&self) -> usize {
        match self {
            Outcome::DryRun { .. } => 0,
            Outcome::Applied { routes, .. } => routes.iter().filter(|r| !r.routed).count(),
        }
    }
}

/// `install apply`. Refusals that need no guest code come first (arguments, targets matched to
/// the adapters' manifests, an existing manifest, the port, the supervisor); then adapters
/// detect and plan, every file is previewed (a config that cannot be edited stops everything),
/// the deployment is replaced and healthy, and only then are tools pointed at it. The journal
/// then records exactly what this deployment routes: what a previous apply of the profile
/// routed and this one does not is put back in the same transaction. If the tool edits fail,
/// the files are as they were and the previous deployment is back.
///
/// The URLs the tools used before (a company gateway) stay the upstreams, and the network
/// environment of this command is recorded for the proxy: routing through headroom never
/// changes where or how the traffic finally goes.
pub fn apply(req: Request, opts: &HostOptions) -> anyhow::Result<Outcome> {
    let mode = req.deploy.providers;
    let mut deploy = req.deploy.clone();
    let mut notes = Vec::new();
    let mut network = egress_flags(&req, &mut deploy)?;
    network.extend(capture_network_env(opts, &mut deploy, &mut notes)?);
    // Adapters are read (manifests only; nothing compiles) only when tools are configured.
    let adapters = (mode != ProviderMode::None).then(|| AdapterHost::load(opts.clone()));
    let scope = tools::scope(deploy.scope);
    let deploy_request = |deploy: &ApplyRequest, targets: Vec<String>, adapters| ApplyRequest {
        targets,
        adapters,
        ..deploy.clone()
    };
    // Manifests only: `auto` cannot know its targets before adapters detect.
    let early = tools::select(adapters.as_ref(), mode, scope, &deploy.targets, None)?;
    let preflight = planner::plan(&deploy_request(
        &deploy,
        early.targets.clone(),
        Default::default(),
    ))?;
    if !req.dry_run {
        lifecycle::preflight(&preflight)?;
    }
    let selection = match (&adapters, mode) {
        (Some(host), ProviderMode::Auto) => {
            let found = tools::detected(host, scope);
            tools::select(Some(host), mode, scope, &[], Some(&found))?
        }
        _ => early,
    };
    let port = preflight.deployment.manifest.port;
    let profile = preflight.deployment.manifest.profile.clone();
    let bind = preflight.deployment.manifest.host.clone();
    let tool_plans = tools::plan(adapters.as_ref(), &selection, scope, port, &profile)?;
    // Where each tool sends its requests now, before anything is written.
    let reported: Vec<routing::ToolRoute> = match &adapters {
        Some(host) => routing::routes(host, &selection.targets, scope, &bind, port, &profile)
            .into_iter()
            .filter_map(Result::ok)
            .collect(),
        None => Vec::new(),
    };
    // A setting of higher precedence (the tool's own config, when this install writes the
    // environment) would beat the edit: refuse before anything is written, naming the fix.
    let blocked = routing::blocked(&selection.writers(), &reported, scope, &profile);
    if !blocked.is_empty() {
        let lines: Vec<String> = blocked.into_iter().map(|b| b.line).collect();
        anyhow::bail!("{}; nothing was changed", lines.join("; "));
    }
    let (found, unknown) = routing::gateways(&reported);
    notes.extend(unknown);
    let previous = Manifest::load(&preflight.deployment.paths.manifest()).ok();
    let upstreams = choose_upstreams(
        &req,
        &mut deploy,
        &found,
        previous.as_ref(),
        &selection.targets,
    )?;
    validate_egress(&deploy)?;
    let mut plan = planner::plan(&deploy_request(
        &deploy,
        selection.targets.clone(),
        tool_plans.adapters.clone(),
    ))?;
    let mut settings: Vec<String> = upstreams
        .iter()
        .map(|(provider, u)| {
            format!(
                "upstream {provider}: {} ({})",
                masked(&u.url),
                shown_from(u)
            )
        })
        .collect();
    settings.extend(network);
    plan.deployment.manifest.upstreams = upstreams;
    let exec = tools::executor(opts);
    let journal = plan.deployment.paths.journal();
    notes.splice(0..0, selection.skipped.iter().cloned());
    for n in tool_plans.plans.iter().flat_map(|p| &p.plan().notes) {
        if !notes.contains(n) {
            notes.push(n.clone());
        }
    }
    // Every file's new contents first: a config we cannot edit stops the install here.
    let preview = exec.preview_exclusive(&tool_plans.plans, &journal)?;
    if req.dry_run {
        let mut text = plan.describe(&masked);
        let mut tool_files = Vec::new();
        for c in preview.changed.iter().chain(&preview.reverted) {
            if !c.is_noop() {
                text.push_str(&c.unified_diff());
                tool_files.push(serde_json::json!({
                    "file": c.logical,
                    "diff": c.unified_diff(),
                }));
            }
        }
        let json = plan.describe_json(&masked, tool_files, &notes, &settings);
        return Ok(Outcome::DryRun {
            notes,
            network: settings,
            text,
            json,
        });
    }
    // The proxy is up and healthy before any tool is pointed at it.
    let applied = lifecycle::apply(plan)?;
    match exec.apply_exclusive(&tool_plans.plans, &journal) {
        Ok(done) => {
            // Read back by a new login shell: the one before the edits knows nothing of them.
            let routes = match &adapters {
                Some(_) => route_lines(
                    routing::routes(
                        &AdapterHost::load(opts.with_fresh_login()),
                        &selection.targets,
                        scope,
                        &bind,
                        port,
                        &profile,
                    ),
                    &mut notes,
                ),
                None => Vec::new(),
            };
            Ok(Outcome::Applied {
                notes,
                network: settings,
                report: applied.report,
                files: file_lines(&done),
                routes,
            })
        }
        // The executor has put every file and the journal back; undo the deployment too.
        Err(e) => {
            let restored = applied.rollback();
            anyhow::bail!("{e}; no tool file was changed and {restored}")
        }
    }
}

/// The one masking rule for proxy URLs (a password becomes `***`).
fn masked(url: &str) -> String {
    headroom_proxy::egress::outbound::masked(url)
}

/// How an upstream's origin is shown: the tool setting it was kept from, or the option.
fn shown_from(u: &UpstreamRecord) -> String {
    match u.tool {
        Some(_) => format!("kept from {}", u.from),
        None => u.from.clone(),
    }
}

/// `--upstream-proxy` and `--ca-file` become `headroom proxy`'s own flags; a line each for
/// the output.
fn egress_flags(req: &Request, deploy: &mut ApplyRequest) -> anyhow::Result<Vec<String>> {
    let mut lines = Vec::new();
    let mut args = Vec::new();
    let given = EgressOptions::from_args(&deploy.proxy_args);
    if let Some(url) = &req.upstream_proxy {
        if given.upstream_proxy.is_some() {
            anyhow::bail!(
                "{UPSTREAM_PROXY_FLAG} is given to install apply and after `--`: keep one"
            );
        }
        args.extend([UPSTREAM_PROXY_FLAG.to_owned(), url.clone()]);
        lines.push(format!("network {UPSTREAM_PROXY_FLAG} {}", masked(url)));
    }
    for ca in &req.ca_files {
        if !ca.is_absolute() {
            anyhow::bail!(
                "{CA_FILE_FLAG} {} is not an absolute path (the supervisor runs the proxy from another directory): give the full path",
                ca.display()
            );
        }
        if is_docker(deploy) {
            anyhow::bail!(
                "{CA_FILE_FLAG} is not supported with persistent-docker (the file is not in the container): build the CA into the image, or use persistent-service"
            );
        }
        let path = ca.to_string_lossy().into_owned();
        lines.push(format!("network {CA_FILE_FLAG} {path}"));
        args.extend([CA_FILE_FLAG.to_owned(), path]);
    }
    args.append(&mut deploy.proxy_args);
    deploy.proxy_args = args;
    Ok(lines)
}

/// The proxy runs in a container (whose files are not this machine's).
fn is_docker(deploy: &ApplyRequest) -> bool {
    deploy.preset == Some(Preset::Docker) || deploy.runtime == Some(Runtime::Docker)
}

/// The outbound-proxy and trust variables of this command's environment, recorded for the
/// proxy (a supervisor does not inherit them) unless the user set the key with `--env`. A
/// container gets no host paths (`SSL_CERT_*`): a note says so.
fn capture_network_env(
    opts: &HostOptions,
    deploy: &mut ApplyRequest,
    notes: &mut Vec<String>,
) -> anyhow::Result<Vec<String>> {
    let user = planner::parse_env(&deploy.env)?;
    let docker = is_docker(deploy);
    let mut lines = Vec::new();
    for key in NETWORK_ENV {
        let Some(value) = (opts.env)(key).filter(|v| !v.is_empty()) else {
            continue;
        };
        if user.contains_key(*key) {
            continue;
        }
        if docker && key.starts_with("SSL_CERT_") {
            notes.push(format!(
                "{key}={value} is not passed to the container (a path on this machine); the image's trust store is used"
            ));
            continue;
        }
        let shown = if is_proxy_url_var(key) {
            masked(&value)
        } else {
            value.clone()
        };
        lines.push(format!(
            "network {key}={shown} (recorded from this environment)"
        ));
        deploy.env.push(format!("{key}={value}"));
    }
    Ok(lines)
}

/// The network options as the proxy will read them (its recorded arguments and environment),
/// checked now: a bad proxy URL or CA file stops the install before anything is written.
fn validate_egress(deploy: &ApplyRequest) -> anyhow::Result<()> {
    let env = planner::parse_env(&deploy.env)?;
    let options = EgressOptions::from_args(&deploy.proxy_args);
    Egress::load(&options, &|k: &str| env.get(k).cloned())
        .map(drop)
        .map_err(|e| anyhow::anyhow!("{e}; nothing was changed"))
}

/// Each provider's upstream: the user's explicit choice (`--anthropic-api-url`, `--env
/// ANTHROPIC_TARGET_API_URL=…`, `-- --anthropic-api-url …`), else the gateway the selected
/// tools used until now (two different ones: refused, naming both and the option), else the
/// gateway the profile's previous apply kept (its tools point at headroom by now). A gateway
/// not already given to the proxy is added to its environment.
fn choose_upstreams(
    req: &Request,
    deploy: &mut ApplyRequest,
    found: &[routing::Gateway],
    previous: Option<&Manifest>,
    targets: &[String],
) -> anyhow::Result<BTreeMap<String, UpstreamRecord>> {
    let user_env = planner::parse_env(&deploy.env)?;
    let mut chosen = BTreeMap::new();
    for (provider, option) in [
        (Provider::Anthropic, &req.anthropic_api_url),
        (Provider::OpenAi, &req.openai_api_url),
    ] {
        let (name, flag, var) = (provider.as_str(), probe_flag(provider), probe_var(provider));
        let in_args = deploy
            .proxy_args
            .iter()
            .any(|a| a == flag || a.starts_with(&format!("{flag}=")));
        let explicit: Vec<(String, String)> = [
            option.clone().map(|u| (u, flag.to_owned())),
            in_args.then(|| {
                (
                    probe::upstream_url(provider, &deploy.proxy_args, |_| None),
                    format!("-- {flag}"),
                )
            }),
            user_env
                .get(var)
                .map(|u| (u.clone(), format!("--env {var}"))),
        ]
        .into_iter()
        .flatten()
        .collect();
        if option.is_some() && explicit.len() > 1 {
            anyhow::bail!(
                "{flag} and {} both choose the {name} upstream: keep one",
                explicit[1].1
            );
        }
        let record = if let Some((url, from)) = explicit.into_iter().next() {
            UpstreamRecord {
                url,
                from,
                tool: None,
            }
        } else {
            let mut candidates: Vec<UpstreamRecord> = found
                .iter()
                .filter(|g| g.provider == provider)
                .map(|g| UpstreamRecord {
                    url: g.url.clone(),
                    from: g.via.clone(),
                    tool: Some(g.target.clone()),
                })
                .collect();
            let kept = previous
                .and_then(|m| m.upstreams.get(name))
                .filter(|u| u.tool.as_ref().is_some_and(|t| targets.contains(t)));
            candidates.extend(kept.cloned());
            let Some(first) = candidates.first().cloned() else {
                continue;
            };
            let same =
                |u: &UpstreamRecord| routing::normalise(&u.url).unwrap_or_else(|| u.url.clone());
            if let Some(other) = candidates.iter().find(|u| same(u) != same(&first)) {
                let who = |u: &UpstreamRecord| {
                    format!(
                        "{} uses {} ({})",
                        u.tool.as_deref().unwrap_or("?"),
                        u.url,
                        u.from
                    )
                };
                anyhow::bail!(
                    "two different {name} gateways: {} and {}; the deployment forwards {name} to one: choose it with `{flag} URL`; nothing was changed",
                    who(&first),
                    who(other)
                );
            }
            first
        };
        if let Err(e) = Upstream::parse(&record.url) {
            anyhow::bail!(
                "the {name} upstream ({}) is not usable: {e:#}; set it with `{flag} URL`",
                shown_from(&record)
            );
        }
        // What the user gave the proxy themselves (`--env`, `--`) is already there.
        if !in_args && !user_env.contains_key(var) {
            deploy.env.push(format!("{var}={}", record.url));
        }
        chosen.insert(name.to_owned(), record);
    }
    Ok(chosen)
}

/// "routed claude: … → URL" or "NOT routed codex: …" per selected tool; the routes' notes join
/// `notes` (each once: the same warning from a plan and a route is shown one time).
fn route_lines(
    found: Vec<Result<routing::ToolRoute, routing::RouteError>>,
    notes: &mut Vec<String>,
) -> Vec<RouteLine> {
    found
        .into_iter()
        .map(|r| match r {
            Ok(t) => {
                for n in &t.route.notes {
                    if !notes.contains(n) {
                        notes.push(n.clone());
                    }
                }
                let url = t.route.url.as_deref().unwrap_or("its built-in endpoint");
                RouteLine {
                    routed: t.routed,
                    line: if t.routed {
                        format!("routed {}: {} = {url}", t.target, t.route.via)
                    } else {
                        format!(
                            "NOT routed {}: it still uses {url} ({})",
                            t.target, t.route.via
                        )
                    },
                }
            }
            Err(e) => RouteLine {
                routed: false,
                line: format!("NOT routed {}: {}", e.target, e.message),
            },
        })
        .collect()
}

/// One line per tool file an apply of the edits wrote or put back.
fn file_lines(done: &EditsApplied) -> Vec<String> {
    let mut files: Vec<String> = done
        .changed
        .iter()
        .filter(|c| !c.is_noop())
        .map(|c| format!("configured {}", c.logical))
        .collect();
    files.extend(done.reverted.iter().map(|c| {
        format!(
            "restored {} (this deployment no longer routes it)",
            c.logical
        )
    }));
    files
}

/// `install status`, with each journaled tool file's state and this binary's version.
/// `None`: no deployment of that name ([`not_installed`] says so).
pub fn status(opts: &HostOptions, profile: &str, exe: &Path) -> anyhow::Result<Option<Status>> {
    let name = ProfileName::new(profile)?;
    let d = match lifecycle::load(&opts.home, &name, exe) {
        Ok(d) => d,
        Err(headroom_deploy::manifest::ManifestError::NotFound(_)) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let mut st = status::status(&d);
    st.edits = tools::edit_states(&tools::executor(opts), &d.paths.journal())?;
    st.upstreams = upstream_rows(&d);
    st.network = network_settings(&d);
    st.usage = Some(usage_line(&d));
    st.compare_version(env!("CARGO_PKG_VERSION"));
    st.compare_binary(&d, exe);
    Ok(Some(st))
}

/// `install status` for a profile that is not installed: which ones are (`--json` prints
/// this, so a script always gets JSON).
#[derive(Debug)]
pub struct NotInstalled {
    pub installed: bool,
    pub profile: String,
    /// Every installed profile.
    pub profiles: Vec<String>,
    pub problems: Vec<String>,
}

impl NotInstalled {
    /// `{"installed": false, "profile": …, "profiles": […], "problems": […]}`.
    pub fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "installed": self.installed,
            "profile": self.profile,
            "profiles": self.profiles,
            "problems": self.problems,
        })
    }
}

pub fn not_installed(opts: &HostOptions, profile: &str) -> NotInstalled {
    let profiles = headroom_deploy::profile::installed(&headroom_core::StateDir::new(&opts.home));
    let hint = if profiles.is_empty() {
        "nothing is installed; `headroom install apply` creates it".to_owned()
    } else {
        format!("installed: {} (`--profile NAME`)", profiles.join(", "))
    };
    NotInstalled {
        installed: false,
        profile: profile.to_owned(),
        problems: vec![format!("no deployment named \"{profile}\"; {hint}")],
        profiles,
    }
}

/// The deployment's usage history over the last 7 days, on one line, read from the file its
/// proxy writes (it works while the proxy is stopped).
fn usage_line(d: &Deployment) -> String {
    use headroom_usage::UsageError;
    use headroom_usage::query::{Reader, Since};
    let args = d.proxy_args();
    if args.iter().any(|a| a == "--no-usage-history") {
        return "off (--no-usage-history)".to_owned();
    }
    let flag = headroom_deploy::deployment::USAGE_DB_FLAG;
    let db = headroom_proxy::config::flag_values(&args, flag)
        .pop()
        .map(PathBuf::from)
        .unwrap_or_else(|| d.paths.state.usage_db());
    let week = Reader::open(&db)
        .and_then(|r| r.stats(Since::Hours(7 * 24), None, std::time::SystemTime::now()));
    match week {
        Ok(s) => format!("last 7 days: {} (`headroom stats`)", s.summary()),
        Err(UsageError::Missing { .. }) => "no request recorded yet".to_owned(),
        Err(e) => e.to_string(),
    }
}

/// Each provider's upstream as the deployment's proxy resolves it (its arguments and
/// environment), with the setting the manifest says it came from.
fn upstream_rows(d: &Deployment) -> Vec<status::UpstreamRow> {
    let env: BTreeMap<String, String> = d.proxy_env().into_iter().collect();
    let args = d.proxy_args();
    [Provider::Anthropic, Provider::OpenAi]
        .into_iter()
        .map(|p| {
            let url = probe::upstream_url(p, &args, |k| env.get(k).cloned());
            let recorded = d
                .manifest
                .upstreams
                .get(p.as_str())
                .filter(|u| routing::normalise(&u.url) == routing::normalise(&url));
            let from = match recorded {
                Some(u) => shown_from(u),
                None if args.iter().any(|a| a.starts_with(probe_flag(p))) => {
                    format!("-- {}", probe_flag(p))
                }
                None if env.contains_key(probe_var(p)) => format!("--env {}", probe_var(p)),
                None => "default".to_owned(),
            };
            status::UpstreamRow {
                provider: p.as_str().to_owned(),
                url: masked(&url),
                from,
            }
        })
        .collect()
}

fn probe_flag(p: Provider) -> &'static str {
    match p {
        Provider::Anthropic => probe::ANTHROPIC_URL_FLAG,
        Provider::OpenAi => probe::OPENAI_URL_FLAG,
    }
}

fn probe_var(p: Provider) -> &'static str {
    match p {
        Provider::Anthropic => probe::ANTHROPIC_URL_ENV,
        Provider::OpenAi => probe::OPENAI_URL_ENV,
    }
}

/// The outbound-proxy and trust settings the deployment gives its proxy, proxy URLs masked.
fn network_settings(d: &Deployment) -> Vec<status::NetworkSetting> {
    let m = &d.manifest;
    let mut out: Vec<status::NetworkSetting> = NETWORK_ENV
        .iter()
        .filter_map(|k| {
            let v = m.base_env.get(*k)?;
            Some(status::NetworkSetting {
                name: (*k).to_owned(),
                value: if is_proxy_url_var(k) {
                    masked(v)
                } else {
                    v.clone()
                },
            })
        })
        .collect();
    let given = EgressOptions::from_args(&m.proxy_args);
    out.extend(given.upstream_proxy.map(|u| status::NetworkSetting {
        name: UPSTREAM_PROXY_FLAG.to_owned(),
        value: masked(&u),
    }));
    out.extend(given.ca_files.iter().map(|p| status::NetworkSetting {
        name: CA_FILE_FLAG.to_owned(),
        value: p.display().to_string(),
    }));
    out
}

/// Point a recorded deployment's tools at its proxy again: its manifest's targets, at its
/// scope, planned by the adapters installed now and written through the profile's journal
/// (what the journal recorded and these plans no longer touch is put back). Records the
/// deployment as routed. A deployment without targets has nothing to route.
fn route(opts: &HostOptions, d: &Deployment) -> anyhow::Result<Vec<String>> {
    let m = &d.manifest;
    if m.targets.is_empty() {
        return Ok(Vec::new());
    }
    let host = AdapterHost::load(opts.clone());
    let scope = tools::scope(m.scope);
    let selection = tools::select(Some(&host), ProviderMode::Manual, scope, &m.targets, None)?;
    let plans = tools::plan(Some(&host), &selection, scope, m.port, &m.profile)?;
    let done = tools::executor(opts).apply_exclusive(&plans.plans, &d.paths.journal())?;
    Routing::on().save(&d.paths.routing())?;
    let mut lines = file_lines(&done);
    // Read back like `apply` does: a line per tool, "routed" only when it really is.
    let mut notes = Vec::new();
    let found = routing::routes(
        &AdapterHost::load(opts.with_fresh_login()),
        &m.targets,
        scope,
        &m.host,
        m.port,
        &m.profile,
    );
    let routes = route_lines(found, &mut notes);
    let unrouted = routes.iter().filter(|r| !r.routed).count();
    lines.extend(routes.into_iter().map(|r| r.line));
    if unrouted > 0 {
        lines.push(format!(
            "{unrouted} tool(s) are not routed through this deployment; `headroom doctor --profile {}` explains",
            m.profile
        ));
    }
    Ok(lines)
}

/// Put every tool file the profile's journal records back as it was before headroom (byte for
/// byte, under the edits lock) and record why. What cannot be restored is returned, never
/// hidden. A deployment without targets has nothing to un-route.
fn unroute(
    opts: &HostOptions,
    d: &Deployment,
    reason: OffReason,
) -> anyhow::Result<tools::Reverted> {
    if d.manifest.targets.is_empty() {
        return Ok(tools::Reverted::default());
    }
    let mut done = tools::revert_salvaging(&tools::executor(opts), &d.paths.journal())?;
    let current = Routing::load(&d.paths.routing());
    if current.stopped_by_user() && reason == OffReason::Stopped {
        // A second stop: the tools are off since the first one.
        return Ok(done);
    }
    Routing::off(reason).save(&d.paths.routing())?;
    done.lines.push(format!(
        "the tools ({}) no longer point at this proxy",
        d.manifest.targets.join(", ")
    ));
    Ok(done)
}

/// What `install stop`/`restart` did, and the tool files it could not put back (the user must
/// restore those by hand, one line each).
pub struct Done {
    pub report: Report,
    pub unrestored: Vec<String>,
}

/// `install start`: the proxy up and healthy, then its tools routed to it again.
pub fn start(opts: &HostOptions, profile: &str, exe: &Path) -> anyhow::Result<Report> {
    let name = ProfileName::new(profile)?;
    lifecycle::start(&opts.home, &name, exe, &mut |d, report| {
        routed_again(opts, d, report)
    })
}

fn routed_again(opts: &HostOptions, d: &Deployment, report: &mut Report) -> anyhow::Result<()> {
    Failures::clear(&d.paths.ensure_failures())?;
    let lines =
        route(opts, d).context("the proxy is up, but its tools could not be routed to it")?;
    report.done.extend(lines);
    Ok(())
}

/// `install stop`: the proxy down, then its tools put back as they were before headroom, so no
/// tool is left pointing at a port nobody listens on. Stopping twice is harmless.
pub fn stop(opts: &HostOptions, profile: &str, exe: &Path) -> anyhow::Result<Done> {
    let name = ProfileName::new(profile)?;
    let mut unrestored = Vec::new();
    let report = lifecycle::stop(&opts.home, &name, exe, &mut |d, report| {
        let done = unroute(opts, d, OffReason::Stopped)?;
        report.done.extend(done.lines);
        unrestored = done.unrestored;
        Ok(())
    })?;
    Ok(Done { report, unrestored })
}

/// `install restart`: stop (un-routing), the supervisor moved to this binary if it runs
/// another, start, and the tools routed again.
pub fn restart(opts: &HostOptions, profile: &str, exe: &Path) -> anyhow::Result<Done> {
    let name = ProfileName::new(profile)?;
    let mut unrestored = Vec::new();
    let report = lifecycle::restart(
        &opts.home,
        &name,
        exe,
        &mut |d, report| {
            let done = unroute(opts, d, OffReason::Stopped)?;
            report.done.extend(done.lines);
            unrestored = done.unrestored;
            Ok(())
        },
        &mut |d, report| routed_again(opts, d, report),
    )?;
    Ok(Done { report, unrestored })
}

/// `agent unroute`: a supervisor's failure hook (systemd's `OnFailure=` unit). Once the manager
/// has really given up on the proxy (it may still be restarting it), the tools are put back,
/// under the profile lock: a proxy that is healthy again (an `install start` got there first)
/// keeps its tools, and tools already un-routed keep their first reason.
pub fn agent_unroute(
    opts: &HostOptions,
    d: &Deployment,
    supervisor: &str,
    detail: &str,
) -> anyhow::Result<String> {
    if d.manifest.targets.is_empty() {
        return Ok("no tools to un-route".to_owned());
    }
    match agent::await_verdict(d, UNROUTE_VERDICT_TIMEOUT) {
        agent::Verdict::GaveUp => {}
        agent::Verdict::Healthy => {
            return Ok("the proxy is healthy again: the tools stay routed".to_owned());
        }
        agent::Verdict::Undecided => {
            return Ok(format!(
                "{supervisor} has not given up on the proxy: the tools stay routed"
            ));
        }
    }
    let _lock = FileLock::acquire(&d.paths.profile_lock(), &d.paths.lock_name())?;
    if !Routing::load(&d.paths.routing()).routed {
        return Ok("the tools are already un-routed".to_owned());
    }
    if headroom_deploy::health::port_owner(d.probe_host(), d.manifest.port)
        .is_ready_profile(d.profile().as_str())
    {
        return Ok("the proxy is healthy again: the tools stay routed".to_owned());
    }
    let error = match agent::last_output(d) {
        Some(line) => format!("{detail}; its last output: {line}"),
        None => detail.to_owned(),
    };
    let reverted = unroute(
        opts,
        d,
        OffReason::ProxyFailing {
            supervisor: supervisor.to_owned(),
            error,
        },
    )?;
    finish_unroute(reverted)
}

/// How long `agent unroute` waits for the manager to either bring the proxy back or give up
/// (systemd's whole start-limit burst fits in it).
const UNROUTE_VERDICT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);

/// `agent run` (every supervised start): when a failure hook un-routed the tools (systemd gave
/// up on the proxy, and this is a boot or a manager restart since), start `agent reroute` beside
/// the proxy this process is about to become. Nothing is spawned otherwise.
pub fn reroute_in_background(d: &Deployment) {
    let routing = Routing::load(&d.paths.routing());
    if d.manifest.targets.is_empty() || routing.routed || routing.stopped_by_user() {
        return;
    }
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(d.paths.startup_log());
    let mut cmd = std::process::Command::new(&d.exe);
    cmd.args(d.agent_args("reroute"))
        .stdin(std::process::Stdio::null());
    if let Ok(out) = log {
        if let Ok(err) = out.try_clone() {
            cmd.stderr(err);
        }
        cmd.stdout(out);
    }
    headroom_deploy::platform::detach(&mut cmd);
    // The proxy matters more than the re-route: a failure to spawn is only logged.
    if let Err(e) = cmd.spawn() {
        eprintln!("headroom: warning: cannot start `agent reroute`: {e}");
    }
}

/// `agent reroute` (started by `agent run`): tools a failure hook un-routed point at the proxy
/// again once it is healthy. Tools the user un-routed with `install stop` stay as they are; a
/// command holding the profile (`install start`, `apply`, cron's `agent ensure`) routes them
/// itself, so this never waits for it. An empty line: there was nothing to do.
pub fn agent_reroute(opts: &HostOptions, d: &Deployment) -> anyhow::Result<String> {
    let routing = Routing::load(&d.paths.routing());
    // Nothing to do (every start of every unit gets here): say nothing in the proxy's log.
    if d.manifest.targets.is_empty() || routing.routed {
        return Ok(String::new());
    }
    if routing.stopped_by_user() {
        return Ok(format!(
            "stopped by `headroom install stop`: the tools stay un-routed (`headroom install start --profile {}` routes them)",
            d.profile()
        ));
    }
    let Some(_lock) = FileLock::try_acquire(&d.paths.profile_lock())? else {
        return Ok("another headroom command holds the deployment and routes its tools".to_owned());
    };
    if !headroom_deploy::health::wait_ready(
        d.probe_host(),
        d.manifest.port,
        d.profile().as_str(),
        lifecycle::READY_TIMEOUT,
    ) {
        return Ok("the proxy is not healthy: the tools stay un-routed".to_owned());
    }
    if Routing::load(&d.paths.routing()).routed {
        return Ok("the tools are routed".to_owned());
    }
    Failures::clear(&d.paths.ensure_failures())?;
    Ok(route(opts, d)?.join("; "))
}

fn finish_unroute(reverted: tools::Reverted) -> anyhow::Result<String> {
    if !reverted.unrestored.is_empty() {
        anyhow::bail!(
            "un-routed, but could not restore: {}",
            reverted.unrestored.join("; ")
        );
    }
    Ok(reverted.lines.join("; "))
}

/// `agent ensure` (cron): start the proxy unless it is healthy, and keep the tools honest.
/// [`FAILURES_BEFORE_UNROUTE`] failed runs in a row un-route the tools (the last error is the
/// reason); the next successful run routes them again. A deployment the user stopped is
/// neither started nor routed.
pub fn agent_ensure(opts: &HostOptions, d: &Deployment) -> anyhow::Result<String> {
    if Routing::load(&d.paths.routing()).stopped_by_user() {
        return Ok(format!(
            "stopped by `headroom install stop`: not starting it (`headroom install start --profile {}` does)",
            d.profile()
        ));
    }
    let failures = d.paths.ensure_failures();
    // A container's engine restarts it: its watchdog only judges whether it serves.
    let outcome = if d.manifest.supervisor_kind == SupervisorKind::Docker {
        Docker::judge(d).map(|()| EnsureOutcome::AlreadyHealthy)
    } else {
        agent::ensure(d)
    };
    let error = match outcome {
        Ok(o @ (EnsureOutcome::AlreadyHealthy | EnsureOutcome::Started { ready: true, .. })) => {
            Failures::clear(&failures)?;
            let mut line = o.describe();
            let _lock = FileLock::acquire(&d.paths.profile_lock(), &d.paths.lock_name())?;
            let routing = Routing::load(&d.paths.routing());
            if !routing.routed && !routing.stopped_by_user() {
                route(opts, d).context("the proxy is healthy, but routing its tools failed")?;
                line.push_str("; the tools point at it again");
            }
            return Ok(line);
        }
        Ok(o @ EnsureOutcome::AnotherStarting) => return Ok(o.describe()),
        Ok(EnsureOutcome::Started { pid, ready: false }) => anyhow::anyhow!(
            "the proxy (pid {pid}) did not become ready within {} s",
            agent::GRACE.as_secs()
        ),
        Err(e) => e,
    };
    let message = format!("{error:#}");
    let count = Failures::record(&failures, &message)?;
    if count < FAILURES_BEFORE_UNROUTE {
        return Err(error);
    }
    let _lock = FileLock::acquire(&d.paths.profile_lock(), &d.paths.lock_name())?;
    let routing = Routing::load(&d.paths.routing());
    if !routing.routed || d.manifest.targets.is_empty() {
        return Err(error);
    }
    let reverted = unroute(
        opts,
        d,
        OffReason::ProxyFailing {
            supervisor: if d.manifest.supervisor_kind == SupervisorKind::Docker {
                "docker (cron watchdog)".to_owned()
            } else {
                "cron".to_owned()
            },
            error: format!("{count} failed `agent ensure` runs in a row: {message}"),
        },
    )?;
    finish_unroute(reverted)?;
    Err(error.context(format!(
        "un-routed the tools after {count} failed runs in a row; `headroom install start --profile {}` routes them again",
        d.profile()
    )))
}

/// `install remove`: tool files first, from the journal alone (the manifest may be corrupt and
/// the adapters gone); if a file cannot be written back (an I/O error), nothing else is removed
/// either, so the command can be run again. A journal that cannot be trusted (unreadable,
/// changed by hand, an entry that no longer resolves where headroom wrote it) never blocks the
/// rest: nothing is written back from it, it is kept under `~/.headroom/damaged/`, the
/// deployment is removed, and the warnings say which files to restore by hand.
pub fn remove(opts: &HostOptions, profile: &str, exe: &Path) -> anyhow::Result<Removed> {
    let name = ProfileName::new(profile)?;
    let journal = ProfilePaths::new(&opts.home, &name).journal();
    let reverted = tools::revert_salvaging(&tools::executor(opts), &journal)?;
    let mut report = lifecycle::remove(&opts.home, &name, exe)?;
    report.done.splice(0..0, reverted.lines);
    Ok(Removed {
        report,
        unrestored: reverted.unrestored,
    })
}

/// What `install remove` did. The deployment is gone even when `unrestored` is not empty: those
/// are the tool files the user must put back by hand (a damaged journal), one line each.
pub struct Removed {
    pub report: Report,
    pub unrestored: Vec<String>,
}

/// The running executable, resolved (what a supervisor is told to run).
pub fn current_exe() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe().context("cannot find the headroom executable")?;
    Ok(exe.canonicalize().unwrap_or(exe))
}
