//! The listener, per-connection serving, request dispatch and graceful shutdown.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use http::{Method, Request, Response, StatusCode, header};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use thiserror::Error;
use tokio::net::TcpListener;

use crate::body::{Body, Flight, empty, full};
use crate::compression::Stage;
use crate::config::{ProxyConfig, is_loopback};
use crate::errors::{Provider, ProxyFault, error_response};
use crate::forward::{Forward, Upstreams, route};
use crate::health;
use crate::metrics::Metrics;

/// A slow client gets this long to send its request headers (slowloris).
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Shared by every connection of one proxy process.
pub struct State {
    pub config: ProxyConfig,
    pub metrics: Arc<Metrics>,
    pub started: Instant,
    /// False once shutdown began: `/readyz` then answers 503 so supervisors and load balancers
    /// stop sending new work while streams drain.
    pub ready: AtomicBool,
    pub compression: Arc<Stage>,
    /// The usage history (disabled when `config.usage.db` is `None`).
    pub usage: headroom_usage::Recorder,
    /// One upstream connection pool per worker: a pooled connection is driven by the runtime
    /// that opened it, so a request never crosses threads to reach it.
    upstreams: Vec<Upstreams>,
}

#[derive(Debug, Error)]
pub enum BindError {
    #[error("port {port} on {host} is already in use")]
    InUse { host: String, port: u16 },
    #[error("cannot listen on {addr}: {source}")]
    Other {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// Bind the listening socket (separately from serving, so the caller can report a busy port with
/// the name of whoever holds it).
pub async fn bind(addr: SocketAddr) -> Result<TcpListener, BindError> {
    TcpListener::bind(addr).await.map_err(|source| {
        if source.kind() == std::io::ErrorKind::AddrInUse {
            BindError::InUse {
                host: addr.ip().to_string(),
                port: addr.port(),
            }
        } else {
            BindError::Other { addr, source }
        }
    })
}

/// Serve until `shutdown` resolves, then stop accepting, let in-flight requests finish within
/// the configured drain bound, and return. Connections are served on the calling runtime.
pub async fn serve(
    config: ProxyConfig,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    serve_on(config, listener, shutdown, Workers::calling()).await
}

/// [`serve`], with connections dealt round-robin to `workers`.
pub async fn serve_on(
    config: ProxyConfig,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
    workers: Workers,
) -> anyhow::Result<()> {
    let drain = config.drain_timeout;
    let compression = Arc::new(Stage::new(&config));
    compression.warm();
    let upstreams = (0..workers.handles.len().max(1))
        .map(|_| Upstreams::new(&config.egress))
        .collect();
    let usage = open_usage(&config.usage);
    let metrics = match config.usage.db {
        Some(_) => Metrics::with_history(usage.clone()),
        None => Metrics::default(),
    };
    let state = Arc::new(State {
        compression,
        config,
        usage,
        metrics: Arc::new(metrics),
        started: Instant::now(),
        ready: AtomicBool::new(true),
        upstreams,
    });
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .keep_alive(true);
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    let mut next = 0usize;
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning; keep serving the rest.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let worker = next % state.upstreams.len();
        next = next.wrapping_add(1);
        let handle = workers.handles.get(worker);
        // A worker's connection is registered with that worker's reactor, so its I/O, timers
        // and the upstream connections it opens all stay on that one thread.
        let stream = match handle {
            None => stream,
            Some(handle) => {
                let moved = stream.into_std().and_then(|std| {
                    let _entered = handle.enter();
                    tokio::net::TcpStream::from_std(std)
                });
                match moved {
                    Ok(s) => s,
                    Err(e) => {
                        tracing::debug!("connection from {peer} dropped: {e}");
                        continue;
                    }
                }
            }
        };
        let state = state.clone();
        let service = service_fn(move |req| {
            let state = state.clone();
            async move { Ok::<_, Infallible>(dispatch(&state, worker, peer, req).await) }
        });
        let conn = builder
            .serve_connection_with_upgrades(TokioIo::new(stream), service)
            .into_owned();
        let conn = graceful.watch(conn);
        let task = async move {
            if let Err(e) = conn.await {
                tracing::debug!("connection from {peer} ended: {e}");
            }
        };
        match handle {
            None => drop(tokio::spawn(task)),
            Some(handle) => drop(handle.spawn(task)),
        }
    }
    state.ready.store(false, Ordering::SeqCst);
    drop(listener);
    tracing::info!("shutting down: draining in-flight requests (up to {drain:?})");
    let draining = Instant::now();
    if tokio::time::timeout(drain, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            "{} request(s) still running after {drain:?}; closing them",
            state.metrics.in_flight()
        );
    }
    // The queued history rows get what is left of the drain bound.
    let usage = state.usage.clone();
    let left = drain.saturating_sub(draining.elapsed());
    let _ = tokio::task::spawn_blocking(move || usage.flush(left)).await;
    drop(workers);
    Ok(())
}

/// The runtimes connections are served on.
pub struct Workers {
    /// Empty: the calling runtime serves them all.
    handles: Vec<tokio::runtime::Handle>,
    threads: Vec<std::thread::JoinHandle<()>>,
    /// Dropped to stop the workers.
    stop: Option<tokio::sync::watch::Sender<()>>,
}

impl Workers {
    /// Every connection on the runtime that calls [`serve_on`].
    pub fn calling() -> Self {
        Self {
            handles: Vec::new(),
            threads: Vec::new(),
            stop: None,
        }
    }

    /// `n` threads, each with its own single-threaded runtime, the way nginx runs one worker
    /// process per core: a connection, its upstream connections and every wake-up between them
    /// stay on one thread. A work-stealing runtime on a small machine instead spent a third of
    /// a lone request's CPU waking its idle second worker (see docs/proxy.md, Performance).
    pub fn per_core(n: usize) -> std::io::Result<Self> {
        let (stop, stopped) = tokio::sync::watch::channel(());
        let mut workers = Self {
            handles: Vec::with_capacity(n),
            threads: Vec::with_capacity(n),
            stop: Some(stop),
        };
        for i in 0..n.max(1) {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            workers.handles.push(runtime.handle().clone());
            let mut stopped = stopped.clone();
            let thread = std::thread::Builder::new()
                .name(format!("headroom-worker-{i}"))
                .spawn(move || {
                    // Resolves when the sender is dropped; the runtime then drops what is left.
                    runtime.block_on(async move { while stopped.changed().await.is_ok() {} });
                })?;
            workers.threads.push(thread);
        }
        Ok(workers)
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        drop(self.stop.take());
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

/// The usage history's recorder. The file is checked and opened by its writer thread, so the
/// proxy serves at once even when a large history takes seconds to open (its `/health` says
/// `opening` meanwhile); rows recorded until then wait in its queue. Never fails: an unusable
/// database gives a recorder that says why in `/health`, and in the log once it is known.
fn open_usage(settings: &crate::config::UsageSettings) -> headroom_usage::Recorder {
    let Some(path) = settings.db.clone() else {
        return headroom_usage::Recorder::disabled();
    };
    let options = headroom_usage::Options {
        retention: settings.retention,
        ..headroom_usage::Options::default()
    };
    let recorder = headroom_usage::Recorder::start(&path, options);
    let watch = recorder.clone();
    // A thread of its own, not a blocking task: the runtime's shutdown must not wait for a slow
    // open just to log it.
    let _ = std::thread::Builder::new()
        .name("headroom-usage-open".into())
        .spawn(move || {
            watch.wait_opened();
            let health = watch.health();
            if health["state"] != "ok" {
                tracing::warn!(
                    "usage history unavailable: {}",
                    health["reason"].as_str().unwrap_or("unknown reason")
                );
            }
        });
    recorder
}

/// Bind and serve until SIGTERM or SIGINT.
pub async fn run(config: ProxyConfig) -> anyhow::Result<()> {
    let listener = bind(config.listen).await?;
    serve(config, listener, shutdown_signal()).await
}

/// Resolves on SIGTERM (supervisors, `docker stop`, PID 1 in a container) or SIGINT (Ctrl-C).
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).expect("install SIGTERM handler");
        let mut int = signal(SignalKind::interrupt()).expect("install SIGINT handler");
        tokio::select! {
            _ = term.recv() => {},
            _ = int.recv() => {},
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

async fn dispatch(
    state: &State,
    worker: usize,
    peer: SocketAddr,
    req: Request<Incoming>,
) -> Response<Body> {
    let local = is_loopback(peer.ip());
    let path = req.uri().path();
    match (req.method(), path) {
        (&Method::GET | &Method::HEAD, "/livez") => health::livez(),
        (&Method::GET | &Method::HEAD, "/readyz") => health::readyz(state),
        (&Method::GET | &Method::HEAD, "/health") => {
            let check_upstreams = req.uri().query().is_some_and(|q| {
                q.split('&')
                    .any(|kv| kv == "upstream=1" || kv == "upstream=true")
            });
            health::health(state, local, check_upstreams).await
        }
        // Some clients probe the base URL before their first request.
        (&Method::HEAD, "/") => empty_response(StatusCode::OK),
        // Its own loopback and token rules: a page a browser opens, not an API path.
        (_, p) if p == "/dashboard" || p.starts_with("/dashboard/") => {
            crate::dashboard::handle(state, local, req).await
        }
        _ => {
            let provider = route(path, req.headers());
            if !local && !authorized(state, &req) {
                state.metrics.unauthorized();
                // A refused `/v1/...` call is a request the client meant for its provider.
                if let Some(flight) = provider.and_then(|p| {
                    Flight::start(&state.metrics, p, path, req.headers(), Instant::now())
                }) {
                    flight.failed(
                        StatusCode::UNAUTHORIZED.as_u16(),
                        headroom_usage::ErrorKind::Unauthorized,
                    );
                }
                return error_response(
                    provider.unwrap_or(Provider::OpenAi),
                    ProxyFault::Unauthorized,
                    "this headroom proxy requires its token (x-headroom-proxy-token) from non-local callers",
                    false,
                );
            }
            if path == "/metrics" && req.method() == Method::GET {
                return metrics_response(state);
            }
            match provider {
                Some(provider) => {
                    Forward {
                        config: &state.config,
                        upstreams: &state.upstreams[worker],
                        metrics: &state.metrics,
                        compression: &state.compression,
                        local,
                        ws_transform: None,
                    }
                    .handle(provider, req)
                    .await
                }
                None => error_response(
                    Provider::OpenAi,
                    ProxyFault::NotFound,
                    &format!("headroom forwards /v1/... API paths; {path} is not one"),
                    false,
                ),
            }
        }
    }
}

/// A non-local caller must present the token (when one is configured; without one, binding
/// beyond loopback was explicitly accepted at start).
fn authorized(state: &State, req: &Request<Incoming>) -> bool {
    let Some(token) = state.config.token.as_deref() else {
        return true;
    };
    let presented = req
        .headers()
        .get("x-headroom-proxy-token")
        .and_then(|v| v.to_str().ok())
        .or_else(|| {
            req.headers()
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
        });
    presented.is_some_and(|p| constant_time_eq(p.as_bytes(), token.as_bytes()))
}

/// Compare secrets without an early exit that would leak the matching prefix length by timing.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn metrics_response(state: &State) -> Response<Body> {
    let mut resp = Response::new(full(state.metrics.render()));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; version=0.0.4"),
    );
    resp
}

fn empty_response(status: StatusCode) -> Response<Body> {
    let mut resp = Response::new(empty());
    *resp.status_mut() = status;
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_time_eq_is_equality() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secret", b"secret2"));
        assert!(!constant_time_eq(b"", b"x"));
    }
}
