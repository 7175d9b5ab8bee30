//! `headroom plugins list|inspect|apply|revert`
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use headroom_plugins::{AdapterContext, AdapterHost, EntryStatus, HostOptions, Scope};

use crate::tools;

#[derive(Debug, clap::Subcommand)]
pub enum PluginsCommand {
    /// Every built-in and installed adapter: version, API, status, detection, capabilities.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Show a .wasm file's manifest and capabilities without running it.
    Inspect { file: PathBuf },
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

pub fn run(cmd: PluginsCommand) -> anyhow::Result<ExitCode> {
    let opts = HostOptions::from_env()?;
    match cmd {
        PluginsCommand::List { json } => {
            let mut host = AdapterHost::load(opts);
            host.verify();
            list(host, json)
        }
        PluginsCommand::Inspect { file } => inspect(&file),
        PluginsCommand::Apply(args) => apply(opts, args),
        PluginsCommand::Revert(args) => revert(&opts, args),
    }
}

fn list(host: AdapterHost, json: bool) -> anyhow::Result<ExitCode> {
    let mut rows = Vec::new();
    for e in host.entries() {
        let detected = match e.status {
            EntryStatus::Ok => match host.detect(&e.id) {
                Ok(d) if d.detected => "yes".to_owned(),
                Ok(_) => "no".to_owned(),
                Err(err) => format!("error: {err:#}"),
            },
            _ => "-".to_owned(),
        };
        rows.push((e, detected));
    }
    if json {
        let v: Vec<serde_json::Value> = rows
            .iter()
            .map(|(e, detected)| {
                let mut v = serde_json::to_value(e).unwrap_or_default();
                v["detected"] = detected.clone().into();
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
    for (e, detected) in rows {
        let (version, api) = e
            .manifest
            .as_ref()
            .map(|m| (m.version.as_str(), m.api.as_str()))
            .unwrap_or(("-", "-"));
        let status = match &e.status {
            EntryStatus::Ok => "ok".to_owned(),
            EntryStatus::Incompatible(r) => format!("incompatible: {r}"),
            EntryStatus::Error(r) => format!("error: {r}"),
        };
        let source = match e.source {
            headroom_plugins::Source::Builtin => "built-in",
            headroom_plugins::Source::Installed => "installed",
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
    }
    Ok(ExitCode::SUCCESS)
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
    for note in &plan.plan.notes {
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
