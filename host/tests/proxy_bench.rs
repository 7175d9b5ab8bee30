//! Side-by-side proxy benchmark: the same requests straight to the loopback upstream stand-in and
//! through a real `headroom proxy` process, in one run. Prints a table; asserts nothing (timings
//! on shared machines are noise, not test failures).
//!
//!   cargo test --release -p headroom --test proxy_bench -- --ignored --nocapture
//!
//! `HEADROOM_BENCH_N` (sequential requests per row, default 1000) and `HEADROOM_BENCH_SECS`
//! (seconds per throughput cell, default 2) scale it. A second table runs the same proxy with
//! the usage history on and off side by side, and the history's bytes per request.

mod support;

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use headroom_proxy::stub::Stub;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use support::{free_port, headroom, proxy_ready};

type HttpClient = Client<HttpConnector, Full<Bytes>>;

#[derive(Clone, Copy)]
struct Kind {
    name: &'static str,
    path: &'static str,
    body: &'static str,
    headers: &'static [(&'static str, &'static str)],
}

const KINDS: [Kind; 4] = [
    Kind {
        name: "anthropic json",
        path: "/v1/messages",
        body: r#"{"model":"m","max_tokens":8,"messages":[{"role":"user","content":"hi"}]}"#,
        headers: &[("x-api-key", "k"), ("anthropic-version", "2023-06-01")],
    },
    Kind {
        name: "anthropic sse",
        path: "/v1/messages",
        body: r#"{"model":"m","max_tokens":8,"stream":true,"messages":[{"role":"user","content":"hi"}]}"#,
        headers: &[("x-api-key", "k"), ("anthropic-version", "2023-06-01")],
    },
    Kind {
        name: "openai json",
        path: "/v1/chat/completions",
        body: r#"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#,
        headers: &[("authorization", "Bearer k")],
    },
    Kind {
        name: "openai sse",
        path: "/v1/chat/completions",
        body: r#"{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}"#,
        headers: &[("authorization", "Bearer k")],
    },
];

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// One request; returns (time to response headers + first body byte, total time).
async fn one(client: &HttpClient, base: &str, kind: Kind) -> (Duration, Duration) {
    let mut b = Request::post(format!("{base}{}", kind.path));
    for (k, v) in kind.headers {
        b = b.header(*k, *v);
    }
    let start = Instant::now();
    let resp = client
        .request(
            b.body(Full::new(Bytes::from_static(kind.body.as_bytes())))
                .unwrap(),
        )
        .await
        .expect("request");
    assert!(resp.status().is_success(), "{}", resp.status());
    let mut body = resp.into_body();
    let mut first = None;
    while let Some(frame) = body.frame().await {
        let frame = frame.expect("body");
        if first.is_none() && frame.data_ref().is_some_and(|d| !d.is_empty()) {
            first = Some(start.elapsed());
        }
    }
    let total = start.elapsed();
    (first.unwrap_or(total), total)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

async fn sequential(
    client: &HttpClient,
    base: &str,
    kind: Kind,
    n: u64,
) -> (Vec<Duration>, Vec<Duration>) {
    for _ in 0..50 {
        one(client, base, kind).await; // warm the connection pools
    }
    let (mut ttfb, mut total) = (Vec::new(), Vec::new());
    for _ in 0..n {
        let (f, t) = one(client, base, kind).await;
        ttfb.push(f);
        total.push(t);
    }
    ttfb.sort();
    total.sort();
    (ttfb, total)
}

async fn throughput(base: &str, kind: Kind, clients: usize, secs: u64) -> f64 {
    let done = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (done, base) = (done.clone(), base.to_owned());
        tasks.push(tokio::spawn(async move {
            // One keep-alive connection per simulated client.
            let client: HttpClient = Client::builder(TokioExecutor::new())
                .pool_max_idle_per_host(1)
                .build(HttpConnector::new());
            while Instant::now() < deadline {
                one(&client, &base, kind).await;
                done.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    done.load(Ordering::Relaxed) as f64 / secs as f64
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

struct Proc(Child);
impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Start `headroom proxy` and time spawn → `/readyz` 200. `usage_db`: the history's file, or
/// none (`--no-usage-history`, so a run never writes into the caller's `~/.headroom`).
fn start_headroom(upstream: &str, usage_db: Option<&std::path::Path>) -> (Proc, u16, Duration) {
    let port = free_port();
    let start = Instant::now();
    let history: Vec<&std::ffi::OsStr> = match usage_db {
        Some(db) => vec!["--usage-db".as_ref(), db.as_os_str()],
        None => vec!["--no-usage-history".as_ref()],
    };
    let child = Command::new(headroom())
        .args(["proxy", "--port", &port.to_string()])
        .args([
            "--anthropic-api-url",
            upstream,
            "--openai-api-url",
            upstream,
        ])
        .args(history)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn headroom proxy");
    let proc = Proc(child);
    for _ in 0..10_000 {
        if proxy_ready(port) {
            return (proc, port, start.elapsed());
        }
        std::thread::sleep(Duration::from_micros(500));
    }
    panic!("headroom proxy did not become ready");
}

fn ms(d: Duration) -> String {
    format!("{:.3}", d.as_secs_f64() * 1000.0)
}

#[test]
#[ignore = "benchmark: run with --ignored --nocapture (release build recommended)"]
fn proxy_side_by_side() {
    let n = env_num("HEADROOM_BENCH_N", 1000);
    let secs = env_num("HEADROOM_BENCH_SECS", 2);
    let stub = Stub::start().unwrap();
    let mut ready = Vec::new();
    for _ in 0..5 {
        let (_p, _, t) = start_headroom(&stub.url(), None);
        ready.push(t);
    }
    ready.sort();
    let (proc, port, _) = start_headroom(&stub.url(), None);
    let pid = proc.0.id();
    std::thread::sleep(Duration::from_millis(200));
    let rss_idle = rss_kib(pid);
    let direct = stub.url();
    let via = format!("http://127.0.0.1:{port}");

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let client: HttpClient = Client::builder(TokioExecutor::new()).build(HttpConnector::new());
        println!("\nheadroom proxy benchmark: {n} sequential requests per row, {secs} s per throughput cell, loopback stub upstream");
        println!("(client, stub and proxy share this machine's cores: read ratios and deltas, not absolutes)\n");
        println!(
            "{:<15} {:>10} {:>10} {:>10} {:>10} {:>11} {:>11} {:>12}",
            "request", "direct p50", "direct p99", "via p50", "via p99", "added p50", "added p99", "TTFB added"
        );
        for kind in KINDS {
            let (d_ttfb, d) = sequential(&client, &direct, kind, n).await;
            let (v_ttfb, v) = sequential(&client, &via, kind, n).await;
            let (dp50, dp99, vp50, vp99) = (
                percentile(&d, 0.5),
                percentile(&d, 0.99),
                percentile(&v, 0.5),
                percentile(&v, 0.99),
            );
            let ttfb_added = percentile(&v_ttfb, 0.5).saturating_sub(percentile(&d_ttfb, 0.5));
            println!(
                "{:<15} {:>10} {:>10} {:>10} {:>10} {:>11} {:>11} {:>12}",
                kind.name,
                ms(dp50),
                ms(dp99),
                ms(vp50),
                ms(vp99),
                ms(vp50.saturating_sub(dp50)),
                ms(vp99.saturating_sub(dp99)),
                ms(ttfb_added)
            );
        }
        println!("(milliseconds)\n");
        println!(
            "{:<15} {:>8} {:>12} {:>12} {:>8}",
            "throughput", "clients", "direct r/s", "via r/s", "ratio"
        );
        for kind in [KINDS[0], KINDS[1]] {
            for clients in [1, 16, 64] {
                let d = throughput(&direct, kind, clients, secs).await;
                let v = throughput(&via, kind, clients, secs).await;
                println!(
                    "{:<15} {:>8} {:>12.0} {:>12.0} {:>8.2}",
                    kind.name,
                    clients,
                    d,
                    v,
                    v / d
                );
            }
        }
        let mut extra = 0;
        while extra < 10_000 {
            one(&client, &via, KINDS[extra % 4]).await;
            extra += 1;
        }
    });
    let rss_after = rss_kib(pid);
    println!(
        "\nstart -> /readyz 200: median {} ms (min {} ms, max {} ms, 5 starts)",
        ms(ready[2]),
        ms(ready[0]),
        ms(ready[4])
    );
    println!(
        "RSS: idle {:.1} MiB, after the throughput runs + 10,000 more requests {:.1} MiB",
        rss_idle as f64 / 1024.0,
        rss_after as f64 / 1024.0
    );
    println!(
        "targets: added p50 <= 0.2 ms, p99 <= 0.5 ms; >= 0.9x throughput at 64 clients; ready <= 50 ms; idle RSS <= 15 MB"
    );
    drop(proc);
    usage_history_on_and_off(&stub, n, secs);
}

/// The same proxy with the usage history off and on: added latency (vs. the stub directly),
/// throughput at 64 clients, and the database's size per recorded request.
fn usage_history_on_and_off(stub: &Stub, n: u64, secs: u64) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("usage.db");
    let (off, off_port, _) = start_headroom(&stub.url(), None);
    let (on, on_port, _) = start_headroom(&stub.url(), Some(&db));
    let direct = stub.url();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let client: HttpClient = Client::builder(TokioExecutor::new()).build(HttpConnector::new());
        println!("\nusage history: the same requests through a proxy with it off and on");
        println!(
            "{:<15} {:>13} {:>13} {:>13} {:>13} {:>12} {:>12} {:>7}",
            "request",
            "off added p50",
            "on added p50",
            "off added p99",
            "on added p99",
            "off r/s (64)",
            "on r/s (64)",
            "ratio"
        );
        for kind in [KINDS[0], KINDS[1]] {
            let (_, d) = sequential(&client, &direct, kind, n).await;
            let base = |port: u16| format!("http://127.0.0.1:{port}");
            let (_, v_off) = sequential(&client, &base(off_port), kind, n).await;
            let (_, v_on) = sequential(&client, &base(on_port), kind, n).await;
            let added = |v: &[Duration], p| percentile(v, p).saturating_sub(percentile(&d, p));
            let t_off = throughput(&base(off_port), kind, 64, secs).await;
            let t_on = throughput(&base(on_port), kind, 64, secs).await;
            println!(
                "{:<15} {:>13} {:>13} {:>13} {:>13} {:>12.0} {:>12.0} {:>7.2}",
                kind.name,
                ms(added(&v_off, 0.5)),
                ms(added(&v_on, 0.5)),
                ms(added(&v_off, 0.99)),
                ms(added(&v_on, 0.99)),
                t_off,
                t_on,
                t_on / t_off
            );
        }
        // Enough rows that the file's fixed pages (schema, name table) hardly count.
        let mut sent = 0u64;
        while sent < 5_000 {
            one(
                &client,
                &format!("http://127.0.0.1:{on_port}"),
                KINDS[(sent % 4) as usize],
            )
            .await;
            sent += 1;
        }
    });
    // SIGTERM: the proxy flushes its queue and checkpoints, so the file size is settled.
    // SAFETY: signalling our own child by its PID.
    unsafe { libc::kill(on.0.id() as i32, libc::SIGTERM) };
    let mut on = on;
    let _ = on.0.wait();
    drop(off);
    let rows = db_rows(&db);
    let wal = std::fs::metadata(db.with_extension("db-wal")).map_or(0, |m| m.len());
    // The WAL holds every commit's pages until a checkpoint; the settled size is the file's
    // after one (by the sqlite3 shell when it is installed).
    let checkpointed = Command::new("sqlite3")
        .arg(&db)
        .arg("PRAGMA wal_checkpoint(TRUNCATE);")
        .output()
        .is_ok_and(|o| o.status.success());
    let settled = db_bytes(&db);
    println!(
        "(milliseconds; r/s at 64 clients; target: on within 5 % of off)\nhistory database: {rows} rows, WAL {wal} bytes at exit; {} {settled} bytes = {:.0} bytes per request (target <= 100)",
        if checkpointed {
            "after a checkpoint"
        } else {
            "no sqlite3 shell to checkpoint, file + WAL"
        },
        settled as f64 / rows.max(1) as f64
    );
}

/// The history's size on disk, its write-ahead log included.
fn db_bytes(db: &std::path::Path) -> u64 {
    let wal = db.with_extension("db-wal");
    [db, wal.as_path()]
        .iter()
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum()
}

fn db_rows(db: &std::path::Path) -> u64 {
    headroom_usage::query::Reader::open(db)
        .and_then(|r| {
            r.stats(
                headroom_usage::query::Since::All,
                None,
                std::time::SystemTime::now(),
            )
        })
        .map_or(0, |s| s.requests)
}
