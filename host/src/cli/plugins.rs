//! `headroom plugins list|inspect|install|remove|grant|revoke|enable|disable|apply|revert`
use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use headroom_plugins::candidate::{self, Candidate};
use headroom_plugins::consent::{Capability, Consent, declared};
use headroom_plugins::grants::{EnvLookup, expand, leading_var};
use headroom_plugins::runtime::sanitize;
use headroom_plugins::store::Store;
use headroom_plugins::{
    AdapterContext, AdapterHost, Detection, EntryStatus, HostOptions, PluginEntry, Scope, Source,
};

use crate::tools;

#[derive(Debug, clap::Subcommand)]
pub enum PluginsCommand {
    /// Every built-in and installed adapter: version, API, status, detection, capabilities.
    /// With -v: declared, granted, pending, revoked and denied capabilities, and the last run.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Show a .wasm file's manifest and capabilities without running it.
    Inspect { file: PathBuf },
    /// Install (or upgrade) an adapter from a .wasm file, after showing what it may touch.
    Install {
        file: PathBuf,
        /// Approve without asking (for scripts).
        #[arg(long, short = 'y')]
        yes: bool,
        /// Allow the plugin to take the place of the built-in adapter with the same id.
        #[arg(long)]
        replace_builtin: bool,
    },
    /// Undo what the plugin applied (from its journal), then delete it and its grants.
    Remove { id: String },
    /// Approve an installed plugin's pending capabilities (or a changed file), or grant single
    /// capabilities by their spec as `plugins list -v` shows it (e.g. "env FOO_HOME").
    Grant {
        id: String,
        capabilities: Vec<String>,
        #[arg(long, short = 'y')]
        yes: bool,
    },
    /// Take single capabilities away; the plugin keeps running without them.
    Revoke {
        id: String,
        #[arg(required = true)]
        capabilities: Vec<String>,
    },
    /// Let an installed plugin run again.
    Enable { id: String },
    /// Keep an installed plugin (and its grants) but never run it.
    Disable { id: String },
    /// Run one adapter's apply through the executor (journaled; `revert` undoes it).
    Apply(RunArgs),
    /// Undo what `plugins apply <id>` did, from its journal (works even if the plugin is gone).
    Revert(RunArgs),
}

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    id: String,
    #[arg(long, env = "HEADROOM_PORT", default_value_t = 8787)]
    port: u16,
    /// provider, user or system.
    #[arg(long, default_value = "provider")]
    scope: String,
    /// Targets handed to the adapter (for the shell-env adapter), comma separated.
    #[arg(long, value_delimiter = ',')]
    targets: Vec<String>,
    /// Print the diff of every file; change nothing.
    #[arg(long)]
    dry_run: bool,
}

impl PluginsCommand {
    /// Whether `-v` changes this command's output (rather than its log level).
    pub fn takes_verbose(&self) -> bool {
        matches!(self, PluginsCommand::List { .. })
    }
}

pub fn run(cmd: PluginsCommand, verbose: u8) -> anyhow::Result<ExitCode> {
    let opts = tools::host_options()?;
    match cmd {
        PluginsCommand::List { json } => {
            let mut host = AdapterHost::load(opts);
            host.verify();
            list(host, json, verbose > 0)
        }
        PluginsCommand::Inspect { file } => inspect(&file),
        PluginsCommand::Install {
            file,
            yes,
            replace_builtin,
        } => install(&opts, &file, yes, replace_builtin),
        PluginsCommand::Remove { id } => remove(&opts, &id),
        PluginsCommand::Grant {
            id,
            capabilities,
            yes,
        } => grant(&opts, &id, &capabilities, yes),
        PluginsCommand::Revoke { id, capabilities } => revoke(&opts, &id, &capabilities),
        PluginsCommand::Enable { id } => set_enabled(&opts, &id, true),
        PluginsCommand::Disable { id } => set_enabled(&opts, &id, false),
        PluginsCommand::Apply(args) => apply(opts, args),
        PluginsCommand::Revert(args) => revert(&opts, args),
    }
}

fn list(host: AdapterHost, json: bool, verbose: bool) -> anyhow::Result<ExitCode> {
    let mut rows = Vec::new();
    for e in host.entries() {
        // (the DETECTED column, why detection failed, what the adapter found)
        let (detected, why, evidence) = match e.status {
            EntryStatus::Ok => match host.detect(&e.id) {
                Ok(Detection { detected, evidence }) => {
                    (if detected { "yes" } else { "no" }, None, evidence)
                }
                Err(err) => ("error", Some(format!("{err:#}")), vec![]),
            },
            _ => ("-", None, vec![]),
        };
        rows.push((e, (detected, why), evidence));
    }
    if json {
        let v: Vec<serde_json::Value> = rows
            .iter()
            .map(|(e, (detected, why), evidence)| {
                let mut v = serde_json::to_value(e).unwrap_or_default();
                v["detected"] = match why {
                    Some(why) => format!("error: {why}"),
                    None => detected.to_string(),
                }
                .into();
                v["evidence"] = evidence.clone().into();
                v
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:<12} {:<9} {:<6} {:<10} {:<9} {:<14} CAPABILITIES",
        "ID", "VERSION", "API", "SOURCE", "DETECTED", "STATUS"
    );
    for (e, (detected, why), evidence) in rows {
        let (version, api) = e
            .manifest
            .as_ref()
            .map(|m| (m.version.as_str(), m.api.as_str()))
            .unwrap_or(("-", "-"));
        let status = e.status.to_string();
        let source = match e.source {
            Source::Builtin => "built-in",
            Source::Installed if e.replaces_builtin => "replaces",
            Source::Installed => "installed",
        };
        println!(
            "{:<12} {:<9} {:<6} {:<10} {:<9} {:<14} {}",
            e.id,
            version,
            api,
            source,
            detected,
            status,
            e.capabilities.join("; ")
        );
        // Below the row, so a long reason never pushes the columns apart.
        if let Some(why) = why {
            println!("    detect failed: {why}");
        }
        if verbose {
            if !evidence.is_empty() {
                println!("    evidence {}", evidence.join("; "));
            }
            print_decisions(e);
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn print_decisions(e: &PluginEntry) {
    let d = &e.decisions;
    for (label, caps) in [
        ("granted", &d.granted),
        ("pending", &d.pending),
        ("revoked", &d.revoked),
        ("denied", &d.denied),
    ] {
        if !caps.is_empty() {
            println!("    {label:<8} {}", caps.join("; "));
        }
    }
    if let Some(c) = &e.consent {
        println!(
            "    approved sha256 {} from {}",
            c.sha256,
            sanitize(&c.source)
        );
    }
    match &e.last_run {
        Some(r) => println!(
            "    last run {} ({}): {} denial{}",
            r.call,
            ago(r.at),
            r.denials,
            if r.denials == 1 { "" } else { "s" }
        ),
        None => println!("    last run: never"),
    }
}

fn ago(at: u64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(at);
    let s = now.saturating_sub(at);
    match s {
        0..60 => format!("{s} s ago"),
        60..3600 => format!("{} min ago", s / 60),
        3600..86400 => format!("{} h ago", s / 3600),
        _ => format!("{} days ago", s / 86400),
    }
}

fn inspect(file: &Path) -> anyhow::Result<ExitCode> {
    let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let m = headroom_plugins::inspect(&bytes).with_context(|| file.display().to_string())?;
    println!("id:          {}", m.id);
    println!(
        "name:        {}",
        headroom_plugins::runtime::sanitize(&m.name)
    );
    println!("version:     {}", m.version);
    println!(
        "adapter API: {} (this headroom: {})",
        m.api,
        headroom_plugins::HOST_API
    );
    println!(
        "author:      {}",
        headroom_plugins::runtime::sanitize(&m.author)
    );
    println!(
        "license:     {}",
        headroom_plugins::runtime::sanitize(&m.license)
    );
    println!(
        "targets:     {} (scopes: {})",
        m.targets.join(", "),
        m.scopes.join(", ")
    );
    println!("capabilities:");
    for c in headroom_plugins::grants::describe(&m) {
        println!("  - {}", headroom_plugins::runtime::sanitize(&c));
    }
    Ok(ExitCode::SUCCESS)
}

fn parse_scope(s: &str) -> anyhow::Result<Scope> {
    Ok(match s {
        "provider" => Scope::Provider,
        "user" => Scope::User,
        "system" => Scope::System,
        other => anyhow::bail!("unknown scope {other:?} (provider, user or system)"),
    })
}

fn apply(opts: HostOptions, args: RunArgs) -> anyhow::Result<ExitCode> {
    let host = AdapterHost::load(opts.clone());
    let ctx = AdapterContext {
        port: args.port,
        scope: parse_scope(&args.scope)?,
        profile: "plugins".into(),
        targets: args.targets.clone(),
    };
    let plan = host.plan_apply(&args.id, &ctx)?;
    let exec = tools::executor(&opts);
    let changes = if args.dry_run {
        exec.preview(std::slice::from_ref(&plan))?
    } else {
        exec.apply(
            std::slice::from_ref(&plan),
            &tools::plugin_journal(&opts, &args.id),
        )?
    };
    for note in &plan.plan().notes {
        println!("note: {note}");
    }
    for c in &changes {
        if c.is_noop() {
            println!("{}: already up to date", c.logical);
        } else if args.dry_run {
            print!("{}", c.unified_diff());
        } else {
            println!("{}: updated", c.logical);
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn revert(opts: &HostOptions, args: RunArgs) -> anyhow::Result<ExitCode> {
    let exec = tools::executor(opts);
    let journal = tools::plugin_journal(opts, &args.id);
    if args.dry_run {
        for c in exec.preview_revert(&journal)? {
            print!("{}", c.unified_diff());
        }
        return Ok(ExitCode::SUCCESS);
    }
    let report = exec.revert(&journal)?;
    for f in &report.restored {
        println!("{f}: restored");
    }
    for f in &report.merged {
        println!("{f}: changed since headroom wrote it; only headroom's keys were put back");
    }
    for f in &report.missing {
        println!("{f}: deleted since; nothing to restore");
    }
    if report == Default::default() {
        println!("nothing to revert for {}", args.id);
    }
    Ok(ExitCode::SUCCESS)
}

/// Quote for a POSIX shell when needed, so the printed command can be pasted as is.
fn sh_arg(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+:=@,".contains(c))
    {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// Ask on the terminal; never guess. `--yes` approves; without a terminal, fail with the exact
/// command that approves.
fn confirm(question: &str, yes: bool, approve_cmd: &str) -> anyhow::Result<()> {
    if yes {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        bail!("not approved: no terminal to ask on; to approve, run: {approve_cmd}");
    }
    eprint!("{question} [y/N] ");
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    if matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes") {
        Ok(())
    } else {
        bail!("not approved; nothing changed")
    }
}

fn install(
    opts: &HostOptions,
    file: &Path,
    yes: bool,
    replace_builtin: bool,
) -> anyhow::Result<ExitCode> {
    let abs = std::path::absolute(file).with_context(|| file.display().to_string())?;
    let bytes = std::fs::read(&abs).with_context(|| format!("reading {}", file.display()))?;
    let shown = abs.display().to_string();
    let mut cand = candidate::check(opts, bytes, &shown, replace_builtin)
        .with_context(|| file.display().to_string())?;
    let id = cand.manifest.id.clone();
    if cand.unchanged() {
        println!(
            "{id} {} is already installed and approved",
            cand.manifest.version
        );
        return Ok(ExitCode::SUCCESS);
    }
    print!("{}", screen(&cand, opts));
    let pending = cand.pending();
    if cand.previous.is_none() || !pending.is_empty() {
        let mut cmd = String::from("headroom plugins install --yes ");
        if replace_builtin {
            cmd.push_str("--replace-builtin ");
        }
        cmd.push_str(&sh_arg(&shown));
        confirm(&format!("\nInstall {id}?"), yes, &cmd)?;
        cand.consent.approve_all(&cand.manifest);
    } else {
        println!("\nNothing new is asked for: the existing approval carries over.");
    }
    let path = Store::new(&opts.state_dir).install(&cand.bytes, &cand.consent)?;
    println!(
        "installed {id} {} at {}",
        cand.manifest.version,
        path.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// The installed (not built-in) plugin `id`, whatever its state.
fn installed<'a>(host: &'a AdapterHost, id: &str) -> anyhow::Result<&'a PluginEntry> {
    if let Some(e) = host
        .entries()
        .iter()
        .find(|e| e.id == id && e.source == Source::Installed)
    {
        return Ok(e);
    }
    if host.entries().iter().any(|e| e.id == id) {
        bail!(
            "{id} is a built-in adapter: it cannot be removed and its capabilities are fixed; leave its tools out with `install apply --providers manual --target ...`"
        );
    }
    bail!("no installed plugin {id:?} (see `headroom plugins list`)")
}

/// The consent record of an installed plugin, or the command that creates one.
fn record(e: &PluginEntry) -> anyhow::Result<Consent> {
    match (&e.consent, &e.path) {
        (Some(c), _) => Ok(c.clone()),
        (None, Some(p)) => bail!(
            "{} was not installed with `headroom plugins install`; run: headroom plugins install {}",
            e.id,
            sh_arg(&p.display().to_string())
        ),
        (None, None) => bail!("{} has no consent record", e.id),
    }
}

fn remove(opts: &HostOptions, id: &str) -> anyhow::Result<ExitCode> {
    let host = AdapterHost::load(opts.clone());
    let e = installed(&host, id)?;
    if let Some(profile) = deployment_using(opts, id) {
        bail!(
            "{id} configured tools for the deployment {profile:?}; run `headroom install remove --profile {profile}` first"
        );
    }
    let exec = tools::executor(opts);
    for line in tools::revert(&exec, &tools::plugin_journal(opts, id))? {
        println!("{line}");
    }
    let _ = std::fs::remove_file(tools::plugin_journal(opts, id));
    let path = e.path.clone().expect("installed entries have a path");
    Store::new(&opts.state_dir).remove(id, &path)?;
    println!("removed {id}");
    Ok(ExitCode::SUCCESS)
}

/// A deployment whose manifest records `id` among the adapters that wrote its tool files.
fn deployment_using(opts: &HostOptions, id: &str) -> Option<String> {
    let rd = std::fs::read_dir(opts.state_dir.deploy_dir()).ok()?;
    let mut names: Vec<String> = rd
        .filter_map(|d| d.ok())
        .map(|d| d.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names.into_iter().find(|profile| {
        let Ok(text) = std::fs::read_to_string(opts.state_dir.manifest(profile)) else {
            return false;
        };
        serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .is_some_and(|v| v.get("adapters").and_then(|a| a.get(id)).is_some())
    })
}

/// Match capability specs as typed against what the plugin declares.
fn pick(e: &PluginEntry, specs: &[String]) -> anyhow::Result<Vec<Capability>> {
    let m = e
        .manifest
        .as_ref()
        .with_context(|| format!("{}: {}", e.id, e.status))?;
    let decl = declared(m);
    specs
        .iter()
        .map(|s| {
            decl.iter()
                .find(|c| c.spec() == s.trim())
                .cloned()
                .with_context(|| {
                    format!(
                        "{} declares no capability {:?}; it declares: {}",
                        e.id,
                        sanitize(s),
                        decl.iter()
                            .map(|c| sanitize(&c.spec()))
                            .collect::<Vec<_>>()
                            .join("; ")
                    )
                })
        })
        .collect()
}

fn grant(opts: &HostOptions, id: &str, specs: &[String], yes: bool) -> anyhow::Result<ExitCode> {
    let host = AdapterHost::load(opts.clone());
    let e = installed(&host, id)?;
    let previous = record(e)?;
    let path = e.path.clone().expect("installed entries have a path");
    if specs.is_empty() || previous.sha256 != e.sha256 {
        // Review the file as it is now: the consent screen again, for what is new.
        let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        let mut cand = candidate::check(opts, bytes, &previous.source, previous.replaces_builtin)
            .with_context(|| path.display().to_string())?;
        if cand.unchanged() {
            println!("{id}: nothing pending; every capability it declares is decided");
            return Ok(ExitCode::SUCCESS);
        }
        print!("{}", screen(&cand, opts));
        confirm(
            &format!("\nApprove {id}?"),
            yes,
            &format!("headroom plugins grant --yes {id}"),
        )?;
        cand.consent.approve_all(&cand.manifest);
        Store::new(&opts.state_dir).write_consent(&cand.consent)?;
        println!("approved {id} {}", cand.manifest.version);
        if specs.is_empty() {
            return Ok(ExitCode::SUCCESS);
        }
    }
    let caps = pick(e, specs)?;
    let store = Store::new(&opts.state_dir);
    let mut c = store.consent(id).and_then(Result::ok).unwrap_or(previous);
    for cap in &caps {
        c.grant(cap);
        println!("granted: {}", sanitize(&cap.spec()));
    }
    store.write_consent(&c)?;
    Ok(ExitCode::SUCCESS)
}

fn revoke(opts: &HostOptions, id: &str, specs: &[String]) -> anyhow::Result<ExitCode> {
    let host = AdapterHost::load(opts.clone());
    let e = installed(&host, id)?;
    let mut c = record(e)?;
    for cap in pick(e, specs)? {
        c.revoke(&cap);
        println!("revoked: {} ({id} runs without it)", sanitize(&cap.spec()));
    }
    Store::new(&opts.state_dir).write_consent(&c)?;
    Ok(ExitCode::SUCCESS)
}

fn set_enabled(opts: &HostOptions, id: &str, enabled: bool) -> anyhow::Result<ExitCode> {
    let host = AdapterHost::load(opts.clone());
    let e = installed(&host, id)?;
    let mut c = record(e)?;
    c.enabled = enabled;
    Store::new(&opts.state_dir).write_consent(&c)?;
    println!("{id} {}", if enabled { "enabled" } else { "disabled" });
    if let EntryStatus::NeedsApproval(why) = &e.status {
        println!("note: {id} still needs approval ({why}): headroom plugins grant {id}");
    }
    Ok(ExitCode::SUCCESS)
}

/// The consent screen: every string from the plugin is sanitized, so nothing it ships can
/// move the cursor, clear the screen or fake a prompt.
fn screen(cand: &Candidate, opts: &HostOptions) -> String {
    use std::fmt::Write as _;
    let s = sanitize;
    let env = &*opts.env;
    let home = opts.home.to_string_lossy().into_owned();
    let m = &cand.manifest;
    let mut out = String::new();
    let what = match &cand.previous {
        Some(p) if p.sha256 == cand.sha256 => "Approve".to_owned(),
        Some(p) => format!("Upgrade (installed: {})", s(&p.version)),
        None => "Install".to_owned(),
    };
    let _ = writeln!(
        out,
        "{what} adapter plugin {:?} {}",
        s(&m.id),
        s(&m.version)
    );
    if cand.consent.replaces_builtin {
        let _ = writeln!(out, "  REPLACES the built-in adapter {:?}", s(&m.id));
    }
    for (k, v) in [
        ("name", m.name.as_str()),
        ("author", m.author.as_str()),
        ("license", m.license.as_str()),
        ("source", cand.consent.source.as_str()),
        ("sha256", cand.sha256.as_str()),
    ] {
        let v = if v.is_empty() { "(not given)" } else { v };
        let _ = writeln!(out, "  {k:<9} {}", s(v));
    }
    let _ = writeln!(
        out,
        "  {:<9} {} (scopes: {})",
        "targets",
        s(&m.targets.join(", ")),
        s(&m.scopes.join(", "))
    );
    let review = cand.review(opts);
    let section = |out: &mut String, title: &str, caps: &[Capability], mark: &str| {
        if caps.is_empty() {
            return;
        }
        let _ = writeln!(out, "\n{title}");
        for c in caps {
            let _ = writeln!(out, "  {mark} {}", s(&words(c, env, &home)));
        }
    };
    let new_title = if cand.previous.is_some() {
        "It asks for NEW permissions:"
    } else {
        "It asks to:"
    };
    section(&mut out, new_title, &review.asked, "+");
    section(&mut out, "Already approved (kept):", &review.kept, "=");
    section(
        &mut out,
        "Revoked by you (stays off):",
        &review.revoked,
        "-",
    );
    section(
        &mut out,
        "Refused whatever you answer (headroom's deny-list):",
        &review.denied,
        "x",
    );
    let _ = writeln!(
        out,
        "\nIt can never: run programs, use the network, read files or environment variables \
         not listed above, read API keys or tokens, touch ~/.ssh, ~/.aws or other \
         credentials, or change headroom's own state (including these grants). Every edit \
         is shown by --dry-run, journaled, and undone by `headroom plugins remove {}`.",
        s(&m.id)
    );
    out
}

/// A capability in plain words, for the consent screen: paths as they resolve on this
/// machine, with the variable they follow named (the grant moves with it).
fn words(cap: &Capability, env: &EnvLookup, home: &str) -> String {
    let follows = |p: &str| match leading_var(p) {
        Some((var, ..)) => format!(" [follows ${var}]"),
        None => String::new(),
    };
    let here = |p: &str| format!("{}{}", expand(p, env, home), follows(p));
    match cap {
        Capability::Read { path } => match path.strip_suffix("/**") {
            Some(dir) => format!(
                "read any file under {}/{}",
                expand(dir, env, home),
                follows(dir)
            ),
            None => format!("read {}", here(path)),
        },
        Capability::Edit { file, format, key } => {
            let what = match format.as_str() {
                "json" => "the JSON key",
                "toml" => "the TOML key",
                _ => "its own marked block",
            };
            format!("edit {}: {what} {key} only", here(file))
        }
        Capability::Locate { binary } => {
            format!("locate `{binary}` on PATH (learn its path, never run it)")
        }
        Capability::Env { name } => format!("read the environment variable {name}"),
    }
}
