//! `headroom plugins list|inspect|install|remove|grant|revoke|enable|disable|apply|revert`
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::bail;
use headroom_deploy::manifest::Scope as DeployScope;
use headroom_plugins::candidate::Candidate;
use headroom_plugins::consent::Capability;
use headroom_plugins::grants::{EnvLookup, expand, expand_checked, leading_var};
use headroom_plugins::runtime::sanitize;
use headroom_plugins::{HostOptions, PluginEntry, Source};

use crate::plugins::{
    self, Committed, Detected, GrantCheck, Inspected, InstallCheck, Listed, Prepared,
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
    /// Show an adapter's manifest and capabilities without running it: a built-in or installed
    /// adapter by its id (`headroom plugins list`), or a .wasm file.
    Inspect {
        #[arg(value_name = "ID|FILE")]
        adapter: PathBuf,
    },
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
    /// Which configuration the adapter edits: provider (the tool's own settings), user or system.
    #[arg(long, default_value = "provider", value_parser = super::values::one_of::<DeployScope>())]
    scope: DeployScope,
    /// Targets handed to the adapter (for the shell-env adapter), comma separated.
    #[arg(long, value_delimiter = ',', value_name = "TOOL", value_parser = super::values::tool())]
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
        PluginsCommand::List { json } => list(&opts, json, verbose > 0)?,
        PluginsCommand::Inspect { adapter } => inspect(&opts, &adapter)?,
        PluginsCommand::Install {
            file,
            yes,
            replace_builtin,
        } => install(&opts, &file, yes, replace_builtin)?,
        PluginsCommand::Remove { id } => {
            for line in plugins::remove(&opts, &id)? {
                println!("{line}");
            }
            println!("removed {id}");
        }
        PluginsCommand::Grant {
            id,
            capabilities,
            yes,
        } => grant(&opts, &id, &capabilities, yes)?,
        PluginsCommand::Revoke { id, capabilities } => {
            for cap in plugins::revoke(&opts, &id, &capabilities)? {
                println!("revoked: {} ({id} runs without it)", sanitize(&cap.spec()));
            }
        }
        PluginsCommand::Enable { id } => set_enabled(&opts, &id, true)?,
        PluginsCommand::Disable { id } => set_enabled(&opts, &id, false)?,
        PluginsCommand::Apply(args) => apply(&opts, args)?,
        PluginsCommand::Revert(args) => revert(&opts, &args)?,
    }
    Ok(ExitCode::SUCCESS)
}

fn list(opts: &HostOptions, json: bool, verbose: bool) -> anyhow::Result<()> {
    let rows: Vec<_> = plugins::list(opts)
        .into_iter()
        .map(|Listed { entry, detected }| {
            // (the DETECTED column, why detection failed, what the adapter found)
            let (detected, why, evidence) = match detected {
                Detected::Ran { detected, evidence } => {
                    (if detected { "yes" } else { "no" }, None, evidence)
                }
                Detected::Failed(why) => ("error", Some(why), vec![]),
                Detected::NotRun => ("-", None, vec![]),
            };
            (entry, (detected, why), evidence)
        })
        .collect();
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
        return Ok(());
    }
    println!(
        "{:<12} {:<9} {:<6} {:<10} {:<9} {:<14} CAPABILITIES",
        "ID", "VERSION", "API", "SOURCE", "DETECTED", "STATUS"
    );
    for (e, (detected, why), evidence) in &rows {
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
            sanitize(version),
            sanitize(api),
            source,
            detected,
            sanitize(&status),
            sanitize(&e.capabilities.join("; "))
        );
        // Below the row, so a long reason never pushes the columns apart.
        if let Some(why) = why {
            println!("    detect failed: {}", sanitize(why));
        }
        if verbose {
            if !evidence.is_empty() {
                println!("    evidence {}", sanitize(&evidence.join("; ")));
            }
            print_decisions(e);
        }
    }
    Ok(())
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
            println!("    {label:<8} {}", sanitize(&caps.join("; ")));
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

fn inspect(opts: &HostOptions, what: &Path) -> anyhow::Result<()> {
    let m = match plugins::inspect(opts, what)? {
        Inspected::File(m) => m,
        Inspected::Adapter { manifest, entry } => {
            let source = match (&entry.source, &entry.path) {
                (Source::Builtin, _) => "built-in".to_owned(),
                (Source::Installed, Some(p)) if entry.replaces_builtin => {
                    format!("installed at {} (replaces the built-in)", p.display())
                }
                (Source::Installed, Some(p)) => format!("installed at {}", p.display()),
                (Source::Installed, None) => "installed".to_owned(),
            };
            println!("source:      {}", sanitize(&source));
            println!("status:      {}", sanitize(&entry.status.to_string()));
            println!("sha256:      {}", entry.sha256);
            manifest
        }
    };
    println!("id:          {}", sanitize(&m.id));
    println!("name:        {}", sanitize(&m.name));
    println!("version:     {}", sanitize(&m.version));
    println!(
        "adapter API: {} (this headroom: {})",
        sanitize(&m.api),
        headroom_plugins::manifest::SUPPORTED_APIS.join(", ")
    );
    println!("author:      {}", sanitize(&m.author));
    println!("license:     {}", sanitize(&m.license));
    println!(
        "targets:     {} (scopes: {})",
        sanitize(&m.targets.join(", ")),
        sanitize(&m.scopes.join(", "))
    );
    println!("capabilities:");
    for c in headroom_plugins::grants::describe(&m) {
        println!("  - {}", sanitize(&c));
    }
    Ok(())
}

fn apply(opts: &HostOptions, args: RunArgs) -> anyhow::Result<()> {
    let req = plugins::RunRequest {
        scope: tools::scope(args.scope),
        id: args.id,
        port: args.port,
        targets: args.targets,
        dry_run: args.dry_run,
    };
    let done = plugins::apply(opts, &req)?;
    for note in &done.notes {
        println!("note: {note}");
    }
    for c in &done.changes {
        if c.is_noop() {
            println!("{}: already up to date", c.logical);
        } else if req.dry_run {
            print!("{}", c.unified_diff());
        } else {
            println!("{}: updated", c.logical);
        }
    }
    Ok(())
}

fn revert(opts: &HostOptions, args: &RunArgs) -> anyhow::Result<()> {
    if args.dry_run {
        for c in plugins::preview_revert(opts, &args.id)? {
            print!("{}", c.unified_diff());
        }
        return Ok(());
    }
    let report = plugins::revert(opts, &args.id)?;
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
    Ok(())
}

/// Ask on the terminal; never guess. `--yes` approves; without a terminal, fail with the exact
/// command that approves.
fn confirm(question: &str, yes: bool, approve_cmd: &str) -> anyhow::Result<()> {
    match super::ask(question, yes)? {
        super::Answer::Yes => Ok(()),
        super::Answer::NoTerminal => {
            bail!("not approved: no terminal to ask on; to approve, run: {approve_cmd}")
        }
        super::Answer::No => bail!("not approved; nothing changed"),
    }
}

/// Show the consent screen, ask when a yes is needed, then write.
fn review(
    opts: &HostOptions,
    prepared: Prepared,
    question: &str,
    yes: bool,
) -> anyhow::Result<Committed> {
    print!("{}", screen(prepared.candidate(), opts));
    match prepared.approve_command() {
        Some(cmd) => confirm(&format!("\n{question} {}?", prepared.id()), yes, cmd)?,
        None => println!("\nNothing new is asked for: the existing approval carries over."),
    }
    plugins::commit(opts, prepared)
}

fn install(
    opts: &HostOptions,
    file: &Path,
    yes: bool,
    replace_builtin: bool,
) -> anyhow::Result<()> {
    match plugins::prepare_install(opts, file, replace_builtin)? {
        InstallCheck::AlreadyApproved { id, version } => {
            println!("{id} {version} is already installed and approved");
        }
        InstallCheck::Review(prepared) => committed(&review(opts, *prepared, "Install", yes)?),
    }
    Ok(())
}

fn committed(done: &Committed) {
    match done {
        Committed::Installed { id, version, path } => {
            println!("installed {id} {version} at {}", path.display());
        }
        Committed::Approved { id, version } => println!("approved {id} {version}"),
    }
}

fn grant(opts: &HostOptions, id: &str, specs: &[String], yes: bool) -> anyhow::Result<()> {
    match plugins::prepare_grant(opts, id, specs)? {
        GrantCheck::Direct => {}
        GrantCheck::NothingPending => {
            println!("{id}: nothing pending; every capability it declares is decided");
            return Ok(());
        }
        GrantCheck::Review(prepared) => {
            committed(&review(opts, *prepared, "Approve", yes)?);
            if specs.is_empty() {
                return Ok(());
            }
        }
    }
    for cap in plugins::grant(opts, id, specs)? {
        println!("granted: {}", sanitize(&cap.spec()));
    }
    Ok(())
}

fn set_enabled(opts: &HostOptions, id: &str, enabled: bool) -> anyhow::Result<()> {
    let done = plugins::set_enabled(opts, id, enabled)?;
    println!("{id} {}", if enabled { "enabled" } else { "disabled" });
    if let Some(why) = done.needs_approval {
        println!("note: {id} still needs approval ({why}): headroom plugins grant {id}");
    }
    Ok(())
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
    let system = m.scopes.iter().any(|s| s == "system");
    let review = cand.review(opts);
    let section = |out: &mut String, title: &str, caps: &[Capability], mark: &str| {
        if caps.is_empty() {
            return;
        }
        let _ = writeln!(out, "\n{title}");
        for c in caps {
            let _ = writeln!(out, "  {mark} {}", s(&words(c, env, &home, system)));
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
         is shown by --dry-run, journaled, and undone by `headroom plugins remove {}`. \
         (To answer what a new login shell exports, headroom itself runs your $SHELL once, \
         as a new terminal would, and hands the plugin only the variables listed above.)",
        s(&m.id)
    );
    out
}

/// A capability in plain words, for the consent screen: paths as they resolve on this
/// machine, with the variable they follow named (the grant moves with it), and why one is
/// refused when its variable points somewhere its default could not.
fn words(cap: &Capability, env: &EnvLookup, home: &str, system: bool) -> String {
    let follows = |p: &str| {
        let tree = p.len()
            < match cap {
                Capability::Read { path } => path.len(),
                _ => 0,
            };
        match leading_var(p) {
            Some((var, ..)) => match expand_checked(p, env, home, tree, system) {
                Ok(_) => format!(" [follows ${var}]"),
                Err(why) => format!(" [follows ${var}; refused now: {why}]"),
            },
            None => String::new(),
        }
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
        Capability::Env { name } => format!(
            "read the environment variable {name} (as headroom has it, and as a new login shell exports it)"
        ),
        Capability::Fact { name } => match headroom_plugins::facts::words(name) {
            Some(words) => words.to_owned(),
            None => format!("learn the fact {name}"),
        },
    }
}
