//! `headroom proxy`: run the proxy in the foreground until SIGTERM/SIGINT.
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use headroom_compress::Mode;
use headroom_core::env as vars;
use headroom_proxy::config::AllowedUpstream;
use headroom_proxy::config::{DEFAULT_ANTHROPIC_URL, DEFAULT_OPENAI_URL, UsageSettings};
use headroom_proxy::egress::{Egress, EgressOptions};
use headroom_proxy::probe;
use headroom_proxy::{BindError, DeploymentInfo, ProxyConfig, Upstream};

#[derive(Debug, clap::Args)]
pub struct ProxyArgs {
    /// Address to listen on. Anything but loopback needs HEADROOM_PROXY_TOKEN.
    #[arg(long, env = "HEADROOM_HOST", default_value = "127.0.0.1")]
    host: IpAddr,
    #[arg(long, env = "HEADROOM_PORT", default_value_t = 8787)]
    port: u16,
    /// Where Anthropic API requests go (a trailing /v1 is fine).
    #[arg(long, env = probe::ANTHROPIC_URL_ENV, default_value = DEFAULT_ANTHROPIC_URL)]
    anthropic_api_url: String,
    /// Where OpenAI API requests go (a trailing /v1 is fine).
    #[arg(long, env = probe::OPENAI_URL_ENV, default_value = DEFAULT_OPENAI_URL)]
    openai_api_url: String,
    /// Seconds an upstream may take to send response headers before the client gets a 504.
    #[arg(long, default_value_t = 600)]
    upstream_timeout: u64,
    /// Seconds in-flight requests may keep running after SIGTERM/SIGINT.
    #[arg(long, default_value_t = 10)]
    drain_timeout: u64,
    /// Worker threads serving connections, each with its own event loop (default: one per CPU
    /// core).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=1024))]
    workers: Option<u16>,
    /// Listen beyond loopback without HEADROOM_PROXY_TOKEN (anyone who reaches the port can use
    /// your credentials' upstream).
    #[arg(long)]
    allow_unauthenticated_remote: bool,
    /// How much tool outputs may be changed on the way upstream: off (byte for byte), lossless
    /// (re-encodings that decode back exactly) or full (lossless, plus cutting very large
    /// outputs, every dropped line kept in the retrieve dir). See docs/compression.md.
    #[arg(
        long,
        env = vars::COMPRESS,
        value_name = "MODE",
        default_value_t = Mode::Lossless,
        value_parser = super::values::one_of::<Mode>()
    )]
    compress: Mode,
    /// Where `full` keeps what it cut [default: ~/.headroom/retrieve].
    #[arg(
        long,
        env = vars::RETRIEVE_DIR,
        value_name = "PATH",
        value_parser = super::absolute_path
    )]
    retrieve_dir: Option<PathBuf>,
    /// Send upstream connections through this HTTP proxy (CONNECT; `http://user:pass@host:port`
    /// for basic auth). Default: HTTPS_PROXY / HTTP_PROXY / ALL_PROXY, minus NO_PROXY.
    #[arg(long, value_name = "URL")]
    upstream_proxy: Option<String>,
    /// Also trust the CA certificates in this PEM file upstream (repeatable), beside the
    /// system's store (SSL_CERT_FILE / SSL_CERT_DIR where set).
    #[arg(long = "ca-file", value_name = "PEM")]
    ca_files: Vec<PathBuf>,
    /// An upstream a local caller may choose per request with the x-headroom-upstream header
    /// (repeatable). None by default: the header is then refused.
    #[arg(long = "allow-upstream", value_name = "URL")]
    allow_upstreams: Vec<String>,
    /// The usage history's SQLite file, one metadata row per request (`headroom stats`)
    /// [default: ~/.headroom/usage.db].
    #[arg(
        long,
        env = "HEADROOM_USAGE_DB",
        value_name = "PATH",
        value_parser = usage_db_path
    )]
    usage_db: Option<PathBuf>,
    /// Days of usage history kept; older rows are deleted.
    #[arg(
        long,
        value_name = "DAYS",
        default_value_t = 90,
        value_parser = clap::value_parser!(u64).range(1..=36_500)
    )]
    usage_retention: u64,
    /// Keep no usage history: no database is opened or written (wins over --usage-db).
    #[arg(long)]
    no_usage_history: bool,
    /// Write the log to this file instead of stderr, rotated by size (`PATH` → `PATH.1` …).
    /// Supervised deployments get `~/.headroom/deploy/<profile>/headroom.log`.
    #[arg(long, value_name = "PATH", value_parser = log_file_path)]
    log_file: Option<PathBuf>,
    /// Rotate the log file when it would grow past this size (KB, MB, GB; KiB, MiB, GiB).
    #[arg(long, value_name = "SIZE", default_value = "10MB", value_parser = crate::logs::parse_size)]
    log_max_size: u64,
    /// Rotated log files kept beside the current one (0: none).
    #[arg(long, value_name = "N", default_value_t = headroom_deploy::logs::DEFAULT_KEEP)]
    log_keep: usize,
}

impl ProxyArgs {
    /// The log file to write (opened now, so a path that cannot be written is one line before
    /// anything starts), or `None` for stderr.
    pub fn log_target(&self) -> anyhow::Result<Option<crate::logs::RotatingFile>> {
        self.log_file
            .as_deref()
            .map(|p| crate::logs::RotatingFile::open(p, self.log_max_size, self.log_keep))
            .transpose()
            .context("--log-file")
    }
}

/// `headroom 0.1.0 proxy listening on http://…; upstreams …; compression …; usage history …`:
/// where it listens and what it does, no secret (a password in an upstream URL is masked).
fn start_line(config: &ProxyConfig, workers: usize, log_file: Option<&std::path::Path>) -> String {
    let mut line = format!(
        "headroom {} proxy listening on http://{} ({workers} worker threads); upstreams anthropic {}, openai {}; compression {}; usage history {}",
        env!("CARGO_PKG_VERSION"),
        config.listen,
        headroom_proxy::egress::outbound::masked(&config.anthropic.display()),
        headroom_proxy::egress::outbound::masked(&config.openai.display()),
        config.compress,
        config
            .usage
            .db
            .as_ref()
            .map_or_else(|| "off".to_owned(), |p| p.display().to_string()),
    );
    if let Some(p) = log_file {
        line.push_str(&format!("; log {}", p.display()));
    }
    line
}

fn log_file_path(text: &str) -> Result<PathBuf, String> {
    if text.is_empty() {
        return Err("expected a file path".to_owned());
    }
    std::path::absolute(text).map_err(|e| e.to_string())
}

fn usage_db_path(text: &str) -> Result<PathBuf, String> {
    if text.is_empty() {
        return Err("expected a file path (or --no-usage-history to keep none)".to_owned());
    }
    std::path::absolute(text).map_err(|e| e.to_string())
}

pub fn run(args: ProxyArgs) -> anyhow::Result<ExitCode> {
    let egress = Egress::load(
        &EgressOptions {
            upstream_proxy: args.upstream_proxy.clone(),
            ca_files: args.ca_files.clone(),
        },
        &|name| std::env::var(name).ok(),
    )?;
    let config = ProxyConfig {
        listen: SocketAddr::new(args.host, args.port),
        anthropic: Upstream::parse(&args.anthropic_api_url).context("--anthropic-api-url")?,
        openai: Upstream::parse_openai(&args.openai_api_url).context("--openai-api-url")?,
        token: std::env::var("HEADROOM_PROXY_TOKEN")
            .ok()
            .filter(|t| !t.is_empty()),
        upstream_timeout: Duration::from_secs(args.upstream_timeout.max(1)),
        drain_timeout: Duration::from_secs(args.drain_timeout),
        deployment: DeploymentInfo::from_env(),
        compress: args.compress,
        retrieve_dir: args
            .retrieve_dir
            .or_else(headroom_proxy::config::default_retrieve_dir),
        egress,
        allowed_upstreams: args
            .allow_upstreams
            .iter()
            .map(|u| AllowedUpstream::parse(u).context("--allow-upstream"))
            .collect::<anyhow::Result<_>>()?,
        usage: UsageSettings {
            db: if args.no_usage_history {
                None
            } else {
                args.usage_db
                    .or_else(headroom_proxy::config::default_usage_db)
            },
            retention: Duration::from_secs(args.usage_retention * 24 * 3600),
        },
    };
    config.check_exposure(args.allow_unauthenticated_remote)?;
    // This thread accepts and handles signals; the workers serve the connections.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let workers = args.workers.map_or_else(
        || std::thread::available_parallelism().map_or(1, |n| n.get()),
        usize::from,
    );
    let start_line = start_line(&config, workers, args.log_file.as_deref());
    let workers =
        headroom_proxy::Workers::per_core(workers).context("starting the worker threads")?;
    runtime.block_on(async {
        let listener = match headroom_proxy::bind(config.listen).await {
            Ok(l) => l,
            Err(BindError::InUse { host, port }) => {
                let owner = headroom_deploy::health::port_owner(&host, port);
                anyhow::bail!(
                    "port {port} on {host} is already in use by {}; stop it or pick another --port",
                    owner.describe()
                );
            }
            Err(e) => return Err(e.into()),
        };
        // The start line: what a supervised proxy's log begins with (never empty when healthy).
        tracing::info!("{start_line}");
        if args.log_file.is_some() && std::io::IsTerminal::is_terminal(&std::io::stderr()) {
            eprintln!("{start_line}");
        }
        headroom_proxy::serve_on(config, listener, headroom_proxy::shutdown_signal(), workers).await
    })?;
    Ok(ExitCode::SUCCESS)
}
