//! `headroom health`: exit 0 when the proxy on the port answers `/readyz` with 200. The container
//! image's HEALTHCHECK (there is no curl in a `FROM scratch` image).
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct HealthArgs {
    #[arg(long, env = "HEADROOM_HOST", default_value = "127.0.0.1")]
    host: String,
    #[arg(long, env = "HEADROOM_PORT", default_value_t = 8787)]
    port: u16,
}

pub fn run(args: HealthArgs) -> anyhow::Result<ExitCode> {
    // A proxy bound to every address is asked on loopback.
    let host = match args.host.as_str() {
        "0.0.0.0" | "::" => "127.0.0.1",
        h => h,
    };
    if headroom_deploy::health::is_ready(host, args.port) {
        Ok(ExitCode::SUCCESS)
    } else {
        anyhow::bail!("no ready headroom proxy on {host}:{}", args.port)
    }
}
