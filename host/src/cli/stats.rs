//! `headroom stats`: what the proxy saved, read straight from its usage history (works while the
//! proxy is stopped). A history that cannot be read is one line saying why and how to reset it.
use std::path::PathBuf;
use std::process::ExitCode;
use std::str::FromStr;
use std::time::SystemTime;

use anyhow::Context;
use headroom_usage::query::{By, Group, Reader, Since, Stats, thousands};

#[derive(Debug, clap::Args)]
pub struct StatsArgs {
    /// How far back: 24h, 7d, 30d, any Nh or Nd, or all.
    #[arg(long, value_name = "PERIOD", default_value = "7d", value_parser = Since::from_str)]
    since: Since,
    /// Split the totals by day, client, model or project.
    #[arg(long, value_name = "KEY", value_parser = super::values::one_of::<By>())]
    by: Option<By>,
    /// Print the numbers as JSON (the same document as the dashboard's /dashboard/api/summary).
    #[arg(long)]
    json: bool,
    /// The usage history to read (the proxy's --usage-db) [default: ~/.headroom/usage.db].
    #[arg(
        long,
        env = "HEADROOM_USAGE_DB",
        value_name = "PATH",
        value_parser = super::absolute_path
    )]
    db: Option<PathBuf>,
}

pub fn run(args: StatsArgs) -> anyhow::Result<ExitCode> {
    let db = match args.db {
        Some(db) => db,
        None => headroom_core::StateDir::new(&headroom_core::home_dir()?).usage_db(),
    };
    // The error's Display is already the one line (cause and reset command).
    let reader = Reader::open(&db)?;
    let stats = reader.stats(args.since, args.by, SystemTime::now())?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&stats).context("writing the stats as JSON")?
        );
    } else {
        print!("{}", render(&stats, &db.display().to_string()));
    }
    Ok(ExitCode::SUCCESS)
}

/// The readable summary: totals, then the grouped table when `--by` was given.
fn render(s: &Stats, db: &str) -> String {
    let mut out = String::new();
    let mut line = |label: &str, value: String| out.push_str(&format!("{label:<18}{value}\n"));
    let period = match &s.since {
        Some(since) => format!("{} to {}", minute(since), minute(&s.until)),
        None => format!("all history, to {}", minute(&s.until)),
    };
    line("period", period);
    line("history", db.to_owned());
    line("requests", thousands(s.requests));
    line("tokens upstream", thousands(s.tokens_upstream));
    line(
        "tokens saved",
        format!("{} ({:.1} %)", thousands(s.tokens_saved), s.saved_pct),
    );
    let mut money = format!(
        "${:.2} (saved tokens at input prices of {})",
        s.money_saved_usd, s.prices_date
    );
    if !s.unpriced_models.is_empty() {
        money.push_str(&format!("; not priced: {}", s.unpriced_models.join(", ")));
    }
    line("money saved", money);
    line("errors", errors(s.requests, &s.errors));
    line(
        "latency added",
        format!(
            "p50 {} ms, p99 {} ms",
            millis(s.latency_added_ms.p50),
            millis(s.latency_added_ms.p99)
        ),
    );
    line(
        "latency total",
        format!(
            "p50 {} ms, p99 {} ms",
            millis(s.latency_total_ms.p50),
            millis(s.latency_total_ms.p99)
        ),
    );
    if !s.groups.is_empty() {
        out.push('\n');
        out.push_str(&table(&s.groups));
    }
    out
}

fn errors(requests: u64, by_kind: &std::collections::BTreeMap<String, u64>) -> String {
    let total: u64 = by_kind.values().sum();
    if total == 0 {
        return "none".to_owned();
    }
    let kinds: Vec<String> = by_kind.iter().map(|(k, n)| format!("{k} {n}")).collect();
    format!(
        "{} of {} ({})",
        thousands(total),
        thousands(requests),
        kinds.join(", ")
    )
}

fn table(groups: &[Group]) -> String {
    let header = [
        "",
        "requests",
        "upstream",
        "saved",
        "saved %",
        "USD",
        "errors",
        "added p50",
    ];
    let rows: Vec<[String; 8]> = groups
        .iter()
        .map(|g| {
            [
                g.key.chars().filter(|c| !c.is_control()).collect(),
                thousands(g.requests),
                thousands(g.tokens_upstream),
                thousands(g.tokens_saved),
                format!("{:.1}", g.saved_pct),
                format!("{:.2}", g.money_saved_usd),
                thousands(g.errors.values().sum()),
                format!("{} ms", millis(g.latency_added_ms.p50)),
            ]
        })
        .collect();
    let width = |i: usize| {
        rows.iter()
            .map(|r| r[i].chars().count())
            .chain([header[i].len()])
            .max()
            .unwrap_or(0)
    };
    let widths: Vec<usize> = (0..header.len()).map(width).collect();
    let mut out = String::new();
    let mut push = |cells: &[String]| {
        let mut l = format!("{:<w$}", cells[0], w = widths[0]);
        for (c, w) in cells.iter().zip(&widths).skip(1) {
            l.push_str(&format!("  {c:>w$}"));
        }
        out.push_str(l.trim_end());
        out.push('\n');
    };
    push(&header.map(str::to_owned));
    for r in &rows {
        push(r);
    }
    out
}

/// `2026-11-25T15:22:58.988Z` → `2026-11-25 15:22 UTC` (anything else unchanged).
fn minute(rfc3339: &str) -> String {
    match (rfc3339.get(..10), rfc3339.get(11..16)) {
        (Some(day), Some(hm)) if rfc3339.ends_with('Z') => format!("{day} {hm} UTC"),
        _ => rfc3339.to_owned(),
    }
}

/// Sub-millisecond latencies keep a decimal; the rest are whole milliseconds.
fn millis(ms: f64) -> String {
    if ms < 10.0 {
        format!("{ms:.1}")
    } else {
        format!("{ms:.0}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_grouped_by_thousands() {
        for (n, s) in [
            (0, "0"),
            (999, "999"),
            (1000, "1,000"),
            (1234567, "1,234,567"),
        ] {
            assert_eq!(thousands(n), s);
        }
        assert_eq!(millis(0.26), "0.3");
        assert_eq!(minute("2026-11-25T15:22:58.988Z"), "2026-11-25 15:22 UTC");
        assert_eq!(millis(12.6), "13");
    }
}
