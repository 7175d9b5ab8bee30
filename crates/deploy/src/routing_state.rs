//! Whether a deployment's tools point at its proxy right now (`routing.json`), and the count of
//! consecutive failed `agent ensure` runs (`failures.json`) that un-routes them under cron.
//! The deploy crate only records and reads these; the host reverts and re-applies the tool
//! edits (it owns the journal).

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::fsutil;
use crate::manifest::now_rfc3339;

/// How many `agent ensure` runs in a row may fail before the tools are un-routed.
pub const FAILURES_BEFORE_UNROUTE: u32 = 3;

/// Why a deployment's tools do not point at its proxy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "kebab-case")]
pub enum OffReason {
    /// `headroom install stop`.
    Stopped,
    /// The supervised proxy kept failing: `supervisor` said so, `error` is the last thing it
    /// reported.
    ProxyFailing { supervisor: String, error: String },
}

/// `routing.json`. A missing file means routed (every deployment older than this file).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Routing {
    pub routed: bool,
    /// When it last changed (RFC 3339, UTC).
    pub since: String,
    #[serde(flatten, default, skip_serializing_if = "Option::is_none")]
    pub off: Option<OffReason>,
}

impl Routing {
    pub fn on() -> Self {
        Self {
            routed: true,
            since: now_rfc3339(),
            off: None,
        }
    }

    pub fn off(reason: OffReason) -> Self {
        Self {
            routed: false,
            since: now_rfc3339(),
            off: Some(reason),
        }
    }

    /// The recorded state; missing, or unreadable, is routed (a state we cannot read must not
    /// keep tools un-routed forever, and `install start` rewrites it).
    pub fn load(path: &Path) -> Self {
        std::fs::read(path)
            .ok()
            .and_then(|b| serde_json::from_slice::<Routing>(&b).ok())
            .filter(|r| r.routed || r.off.is_some())
            .unwrap_or_else(|| Self {
                routed: true,
                since: String::new(),
                off: None,
            })
    }

    pub fn save(&self, path: &Path) -> anyhow::Result<()> {
        let mut text = serde_json::to_string_pretty(self)?;
        text.push('\n');
        fsutil::write_atomic(path, text.as_bytes(), 0o600)
    }

    /// `install stop` put the tools back: nothing may route them again but `install start`.
    pub fn stopped_by_user(&self) -> bool {
        matches!(self.off, Some(OffReason::Stopped))
    }

    /// The `routing` row of `install status`.
    pub fn describe(&self, profile: &str) -> String {
        match &self.off {
            None => "on (tools point at this proxy)".to_owned(),
            Some(reason) => {
                let why = match reason {
                    OffReason::Stopped => "stopped by `headroom install stop`".to_owned(),
                    OffReason::ProxyFailing { supervisor, error } => {
                        format!("the proxy kept failing ({supervisor}: {error})")
                    }
                };
                format!(
                    "off since {}: {why}; `headroom install start --profile {profile}` routes them again",
                    self.since
                )
            }
        }
    }
}

/// `failures.json`: consecutive failed `agent ensure` runs and the last error.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failures {
    pub count: u32,
    pub last_error: String,
    pub since: String,
}

impl Failures {
    pub fn load(path: &Path) -> Self {
        std::fs::read(path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    /// Count one more failure; returns the new count.
    pub fn record(path: &Path, error: &str) -> anyhow::Result<u32> {
        let mut f = Self::load(path);
        if f.count == 0 {
            f.since = now_rfc3339();
        }
        f.count = f.count.saturating_add(1);
        f.last_error = error.to_owned();
        let mut text = serde_json::to_string_pretty(&f)?;
        text.push('\n');
        fsutil::write_atomic(path, text.as_bytes(), 0o600)?;
        Ok(f.count)
    }

    /// A success ends the run of failures.
    pub fn clear(path: &Path) -> anyhow::Result<()> {
        fsutil::remove_file_if_exists(path).map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_or_unreadable_file_is_routed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("routing.json");
        assert!(Routing::load(&path).routed);
        std::fs::write(&path, "{").unwrap();
        assert!(Routing::load(&path).routed);
        // Off without a reason is not a state we wrote.
        std::fs::write(&path, r#"{"routed":false,"since":"x"}"#).unwrap();
        assert!(Routing::load(&path).routed);
    }

    #[test]
    fn off_round_trips_with_its_reason_and_reads_as_the_status_row() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p/routing.json");
        let off = Routing::off(OffReason::ProxyFailing {
            supervisor: "cron".into(),
            error: "port 1 is held".into(),
        });
        off.save(&path).unwrap();
        let back = Routing::load(&path);
        assert_eq!(back, off);
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(v["reason"], "proxy-failing");
        assert_eq!(v["supervisor"], "cron");
        let row = back.describe("p");
        assert!(
            row.starts_with(&format!("off since {}: the proxy kept failing (cron: port 1 is held); `headroom install start --profile p` routes them again", off.since)),
            "{row}"
        );
        assert!(!back.stopped_by_user());
        let stopped = Routing::off(OffReason::Stopped);
        assert!(stopped.stopped_by_user());
        assert!(
            stopped
                .describe("p")
                .contains("stopped by `headroom install stop`")
        );
        assert_eq!(
            Routing::on().describe("p"),
            "on (tools point at this proxy)"
        );
    }

    #[test]
    fn failures_count_up_and_clear() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("failures.json");
        assert_eq!(Failures::record(&path, "a").unwrap(), 1);
        assert_eq!(Failures::record(&path, "b").unwrap(), 2);
        assert_eq!(Failures::load(&path).last_error, "b");
        Failures::clear(&path).unwrap();
        assert_eq!(Failures::load(&path).count, 0);
        Failures::clear(&path).unwrap();
    }
}
