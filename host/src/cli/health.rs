//! `headroom health`: exit 0 when the proxy on the port answers `/readyz` with 200. The container
//! image's HEALTHCHECK (there is no curl in a `FROM scratch` image); `--json` says the same for
//! scripts, with the proxy's version, uptime and deployment when it answers.
use std::process::ExitCode;

use headroom_deploy::health::http_get;

#[derive(Debug, clap::Args)]
pub struct HealthArgs {
    #[arg(long, env = "HEADROOM_HOST", default_value = "127.0.0.1")]
    host: String,
    #[arg(long, env = "HEADROOM_PORT", default_value_t = 8787)]
    port: u16,
    /// Print the readiness as JSON, ready or not (the exit code stays the verdict):
    /// { ready, address, readyz_status, error, version, uptime_seconds, compress, profile }.
    #[arg(long)]
    json: bool,
}

/// What `health --json` prints (docs/proxy.md#health lists the fields).
#[derive(Debug)]
struct Readiness {
    /// `/readyz` answered 200: the one condition the exit code reports.
    ready: bool,
    /// The `host:port` asked (a wildcard bind address is asked on loopback).
    address: String,
    /// The HTTP status `/readyz` answered; `null` when nothing answered HTTP.
    readyz_status: Option<u16>,
    /// Why it is not ready, in one line; `null` when it is.
    error: Option<String>,
    /// From the proxy's `/health`, when a headroom proxy answered it; `null` otherwise.
    version: Option<String>,
    uptime_seconds: Option<f64>,
    compress: Option<String>,
    /// The deployment profile that started it; `null` for a `headroom proxy` in a terminal.
    profile: Option<String>,
}

pub fn run(args: HealthArgs) -> anyhow::Result<ExitCode> {
    // A proxy bound to every address is asked on loopback.
    let host = match args.host.as_str() {
        "0.0.0.0" | "::" => "127.0.0.1",
        h => h,
    };
    let r = probe(host, args.port);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&r.to_json())?);
        return Ok(if r.ready {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        });
    }
    match r.error {
        None => Ok(ExitCode::SUCCESS),
        Some(why) => anyhow::bail!("no ready headroom proxy on {}: {why}", r.address),
    }
}

impl Readiness {
    fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "ready": self.ready,
            "address": self.address,
            "readyz_status": self.readyz_status,
            "error": self.error,
            "version": self.version,
            "uptime_seconds": self.uptime_seconds,
            "compress": self.compress,
            "profile": self.profile,
        })
    }
}

fn probe(host: &str, port: u16) -> Readiness {
    let address = format!("{host}:{port}");
    let (readyz_status, error) = match http_get(host, port, "/readyz") {
        Ok(r) if r.status == 200 => (Some(200), None),
        Ok(r) => {
            // `{"status":"draining"}` from a headroom proxy shutting down; anything else verbatim.
            let said = serde_json::from_str::<serde_json::Value>(&r.body)
                .ok()
                .and_then(|v| v.get("status")?.as_str().map(str::to_owned));
            let why = match said {
                Some(s) => format!("/readyz answered {} ({s})", r.status),
                None => format!("/readyz answered {}", r.status),
            };
            (Some(r.status), Some(why))
        }
        Err(e) => (None, Some(e.to_string())),
    };
    let mut out = Readiness {
        ready: error.is_none(),
        address,
        readyz_status,
        error,
        version: None,
        uptime_seconds: None,
        compress: None,
        profile: None,
    };
    if readyz_status.is_some()
        && let Ok(h) = http_get(host, port, "/health")
        && let Ok(v) = serde_json::from_str::<serde_json::Value>(&h.body)
        && v.get("service").and_then(|s| s.as_str()) == Some("headroom")
    {
        let text = |p: &str| v.pointer(p).and_then(|s| s.as_str()).map(str::to_owned);
        out.version = text("/version");
        out.uptime_seconds = v.get("uptime_seconds").and_then(|u| u.as_f64());
        out.compress = text("/compress");
        out.profile = text("/deployment/profile");
    }
    out
}
