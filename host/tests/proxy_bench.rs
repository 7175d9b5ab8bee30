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
    start_headroom_with(upstream, usage_db, &[])
}

/// The binary under test: `HEADROOM_BENCH_BINARY` (e.g. a saved build from before a change, to
/// compare two builds with one bench binary), else this workspace's `headroom`.
fn headroom_binary() -> String {
    std::env::var("HEADROOM_BENCH_BINARY").unwrap_or_else(|_| headroom().to_owned())
}

/// [`start_headroom`] with more `headroom proxy` arguments.
fn start_headroom_with(
    upstream: &str,
    usage_db: Option<&std::path::Path>,
    extra: &[&str],
) -> (Proc, u16, Duration) {
    let port = free_port();
    let start = Instant::now();
    let history: Vec<&std::ffi::OsStr> = match usage_db {
        Some(db) => vec!["--usage-db".as_ref(), db.as_os_str()],
        None => vec!["--no-usage-history".as_ref()],
    };
    let child = Command::new(headroom_binary())
        .args(["proxy", "--port", &port.to_string()])
        .args(extra)
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
/// throughput and CPU per request at 64 clients, and the database's size per recorded request.
///
/// The two proxies share two cores with the load generator, so one cell of each is mostly noise:
/// ±10 % between back-to-back runs, and as much between two processes of the same binary (where
/// their threads and memory happen to land). The throughput cells are therefore
/// `HEADROOM_BENCH_ROUNDS` (default 5) rounds, each with a fresh pair of proxies measured off/on,
/// then on/off, and the table shows their medians; the CPU µs each proxy process spent per
/// request, read from /proc, is the cost the history adds, with its writer thread's share.
fn usage_history_on_and_off(stub: &Stub, n: u64, secs: u64) {
    let rounds = env_num("HEADROOM_BENCH_ROUNDS", 5).max(1) as usize;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("usage.db");
    let (off, off_port, _) = start_headroom(&stub.url(), None);
    let (on, on_port, _) = start_headroom(&stub.url(), Some(&db));
    let rounds_db = dir.path().join("rounds.db");
    let base = |port: u16| format!("http://127.0.0.1:{port}");
    let urls = [base(off_port), base(on_port)];
    let direct = stub.url();
    let with_wrk = wrk_installed();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let scripts = tempfile::tempdir().unwrap();
    let loads = loads();
    println!(
        "\nusage history: the same requests through a proxy with it off and on ({rounds} rounds of {secs} s at 64 clients, a fresh pair of proxies each, by {}; medians)",
        if with_wrk {
            "wrk"
        } else {
            "this process (wrk is not installed)"
        }
    );
    println!(
        "{:<15} {:>9} {:>9} {:>9} {:>9} | {:>8} {:>8} {:>6} | {:>7} {:>7} {:>6} {:>7}",
        "request",
        "off p50+",
        "on p50+",
        "off p99+",
        "on p99+",
        "off r/s",
        "on r/s",
        "ratio",
        "off cpu",
        "on cpu",
        "ratio",
        "writer"
    );
    for (i, kind) in [KINDS[0], KINDS[1]].into_iter().enumerate() {
        let latency = rt.block_on(async {
            let client: HttpClient =
                Client::builder(TokioExecutor::new()).build(HttpConnector::new());
            let (_, d) = sequential(&client, &direct, kind, n).await;
            let (_, v_off) = sequential(&client, &urls[0], kind, n).await;
            let (_, v_on) = sequential(&client, &urls[1], kind, n).await;
            let added = |v: &[Duration], p| percentile(v, p).saturating_sub(percentile(&d, p));
            [
                added(&v_off, 0.5),
                added(&v_on, 0.5),
                added(&v_off, 0.99),
                added(&v_on, 0.99),
            ]
        });
        let script = wrk_script(scripts.path(), i, &loads[i]);
        let mut cells: [Vec<Cell>; 2] = [Vec::new(), Vec::new()];
        // The history's writer thread's share of the "on" proxy's CPU.
        let (mut writer_ticks, mut on_requests) = (0u64, 0f64);
        for round in 0..rounds {
            let (p_off, port_off, _) = start_headroom(&stub.url(), None);
            let (p_on, port_on, _) = start_headroom(&stub.url(), Some(&rounds_db));
            let pids = [p_off.0.id(), p_on.0.id()];
            let urls = [base(port_off), base(port_on)];
            if with_wrk {
                for url in &urls {
                    wrk(url, &script, 64, 1, &[]); // warm the pools
                }
            }
            // Alternate who goes first, so a drift in the machine's load favours neither.
            let order = if round % 2 == 0 { [0, 1] } else { [1, 0] };
            for which in order {
                let writer_before = thread_ticks(pids[1], "headroom-usage");
                let cell = if with_wrk {
                    wrk(&urls[which], &script, 64, secs, &[pids[which]])
                } else {
                    let before = cpu_ticks(&[pids[which]]);
                    let rps = rt.block_on(throughput(&urls[which], kind, 64, secs));
                    let ticks = (cpu_ticks(&[pids[which]]) - before) as f64;
                    Cell {
                        rps,
                        cpu_us: ticks / ticks_per_sec() * 1e6 / (rps * secs as f64).max(1.0),
                        ..Cell::default()
                    }
                };
                assert_eq!(cell.errors, 0, "{} failed requests", cell.errors);
                if which == 1 {
                    writer_ticks += thread_ticks(pids[1], "headroom-usage") - writer_before;
                    on_requests += cell.rps * secs as f64;
                }
                cells[which].push(cell);
            }
            stub.clear_requests();
            drop((p_off, p_on));
        }
        let median = |which: usize, f: fn(&Cell) -> f64| {
            let mut v: Vec<f64> = cells[which].iter().map(f).collect();
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        let (rps_off, rps_on) = (median(0, |c| c.rps), median(1, |c| c.rps));
        let (cpu_off, cpu_on) = (median(0, |c| c.cpu_us), median(1, |c| c.cpu_us));
        let writer_us = writer_ticks as f64 / ticks_per_sec() * 1e6 / on_requests.max(1.0);
        println!(
            "{:<15} {:>9} {:>9} {:>9} {:>9} | {:>8.0} {:>8.0} {:>6.3} | {:>7.1} {:>7.1} {:>6.3} {:>7.1}",
            kind.name,
            ms(latency[0]),
            ms(latency[1]),
            ms(latency[2]),
            ms(latency[3]),
            rps_off,
            rps_on,
            rps_on / rps_off,
            cpu_off,
            cpu_on,
            cpu_on / cpu_off,
            writer_us
        );
    }
    // Enough rows that the file's fixed pages (schema, name table) hardly count.
    rt.block_on(async {
        let client: HttpClient = Client::builder(TokioExecutor::new()).build(HttpConnector::new());
        for sent in 0..5_000 {
            one(&client, &urls[1], KINDS[sent % 4]).await;
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
        "(p50+/p99+: milliseconds added to the stub's own, {n} sequential requests; cpu: CPU µs of the proxy process per request, writer: of that, the history's writer thread; target: on within 5 % of off)\nhistory database: {rows} rows, WAL {wal} bytes at exit; {} {settled} bytes = {:.0} bytes per request (target <= 100)",
        if checkpointed {
            "after a checkpoint"
        } else {
            "no sqlite3 shell to checkpoint, file + WAL"
        },
        settled as f64 / rows.max(1) as f64
    );
}

#[test]
#[ignore = "benchmark: run with --ignored --nocapture (release build; wrk for the throughput cells)"]
fn usage_history_side_by_side() {
    let stub = Stub::start().unwrap();
    usage_history_on_and_off(
        &stub,
        env_num("HEADROOM_BENCH_N", 1000),
        env_num("HEADROOM_BENCH_SECS", 2),
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

// ---- Side by side with nginx, under wrk ------------------------------------------------------
//
//   cargo test --release -p headroom --test proxy_bench -- --ignored --nocapture proxy_vs_nginx
//
// The same fixed-answer upstream (the stub, in this process) reached three ways: directly, through
// Debian's nginx (`proxy_pass`, keep-alive upstream pool) and through `headroom proxy`. The load
// generator is `wrk` (a separate C process, not the code under test). Per cell: requests per
// second, p50/p99 from wrk's own latency histogram, and the CPU time the target process spent
// (utime + stime from /proc/<pid>/stat, summed over nginx's master and workers) per request.
// `HEADROOM_BENCH_SECS` sets each cell's length; `HEADROOM_BENCH_PROXY_ARGS` replaces headroom's
// extra arguments (default `--compress off`: the pass-through path nginx is compared with).

/// A wrk workload: the request and the body it POSTs.
struct Load {
    name: &'static str,
    path: &'static str,
    headers: &'static [(&'static str, &'static str)],
    body: String,
}

fn loads() -> Vec<Load> {
    let anthropic: &[(&str, &str)] = &[("x-api-key", "k"), ("anthropic-version", "2023-06-01")];
    // A conversation's history: one large user turn of prose (what an agent's request mostly is).
    let big = |bytes: usize| {
        let sentence = "The quick brown fox jumps over the lazy dog while the build runs. ";
        let text: String = sentence.repeat(bytes / sentence.len() + 1)[..bytes].to_owned();
        format!(
            r#"{{"model":"m","max_tokens":8,"messages":[{{"role":"user","content":"{text}"}}]}}"#
        )
    };
    vec![
        Load {
            name: "small json",
            path: KINDS[0].path,
            headers: anthropic,
            body: KINDS[0].body.to_owned(),
        },
        Load {
            name: "sse",
            path: KINDS[1].path,
            headers: anthropic,
            body: KINDS[1].body.to_owned(),
        },
        Load {
            name: "100 KB body",
            path: "/v1/messages",
            headers: anthropic,
            body: big(100 * 1024),
        },
        Load {
            name: "1 MB body",
            path: "/v1/messages",
            headers: anthropic,
            body: big(1024 * 1024),
        },
    ]
}

/// The wrk script of one workload; its `done` prints one machine-readable line.
fn wrk_script(dir: &std::path::Path, i: usize, load: &Load) -> std::path::PathBuf {
    let body = dir.join(format!("body{i}.json"));
    std::fs::write(&body, &load.body).unwrap();
    let mut lua = String::from("wrk.method = \"POST\"\n");
    lua += &format!("wrk.path = \"{}\"\n", load.path);
    lua += "wrk.headers[\"content-type\"] = \"application/json\"\n";
    for (k, v) in load.headers {
        lua += &format!("wrk.headers[\"{k}\"] = \"{v}\"\n");
    }
    lua += &format!(
        "local f = io.open(\"{}\", \"rb\")\nwrk.body = f:read(\"*a\")\nf:close()\n",
        body.display()
    );
    lua += r#"
done = function(summary, latency, requests)
  local e = summary.errors
  local non2xx = summary.errors.status
  io.write(string.format("RESULT %d %d %d %d %d\n", summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(99), e.connect + e.read + e.write + e.timeout + non2xx))
end
"#;
    let script = dir.join(format!("load{i}.lua"));
    std::fs::write(&script, lua).unwrap();
    script
}

/// One wrk run's figures.
#[derive(Clone, Copy, Default)]
struct Cell {
    rps: f64,
    p50_us: f64,
    p99_us: f64,
    /// CPU µs of the target process per request.
    cpu_us: f64,
    errors: u64,
}

/// utime + stime of these processes, in clock ticks.
fn cpu_ticks(pids: &[u32]) -> u64 {
    pids.iter()
        .filter_map(|pid| std::fs::read_to_string(format!("/proc/{pid}/stat")).ok())
        .map(|s| stat_ticks(&s))
        .sum()
}

/// utime + stime from a /proc `stat` line: fields 14 and 15, counted after the parenthesised
/// command name (which may hold spaces).
fn stat_ticks(stat: &str) -> u64 {
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
}

/// utime + stime of the threads of `pid` named `name`, in clock ticks.
fn thread_ticks(pid: u32, name: &str) -> u64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    tasks
        .flatten()
        .filter(|t| std::fs::read_to_string(t.path().join("comm")).is_ok_and(|c| c.trim() == name))
        .filter_map(|t| std::fs::read_to_string(t.path().join("stat")).ok())
        .map(|s| stat_ticks(&s))
        .sum()
}

fn ticks_per_sec() -> f64 {
    // SAFETY: sysconf reads a constant.
    unsafe { libc::sysconf(libc::_SC_CLK_TCK) as f64 }
}

fn wrk(url: &str, script: &std::path::Path, conns: u32, secs: u64, pids: &[u32]) -> Cell {
    let before = cpu_ticks(pids);
    let out = Command::new("wrk")
        .args([
            "-t1",
            &format!("-c{conns}"),
            &format!("-d{secs}s"),
            "--latency",
            "-s",
        ])
        .arg(script)
        .arg(url)
        .output()
        .expect("run wrk");
    let after = cpu_ticks(pids);
    let text = String::from_utf8_lossy(&out.stdout);
    let Some(line) = text.lines().find_map(|l| l.strip_prefix("RESULT ")) else {
        panic!(
            "wrk printed no result: {text} {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let v: Vec<f64> = line
        .split_whitespace()
        .map(|x| x.parse().unwrap())
        .collect();
    let (requests, duration_us) = (v[0], v[1]);
    Cell {
        rps: requests / (duration_us / 1e6),
        p50_us: v[2],
        p99_us: v[3],
        cpu_us: (after - before) as f64 / ticks_per_sec() * 1e6 / requests.max(1.0),
        errors: v[4] as u64,
    }
}

/// nginx in the foreground with its own configuration and temp dirs; killed (by PID) on drop.
struct Nginx {
    proc: Proc,
    port: u16,
    /// The master and its workers.
    pids: Vec<u32>,
    workers: usize,
    _dir: tempfile::TempDir,
}

fn nginx_binary() -> Option<&'static str> {
    ["/usr/sbin/nginx", "/usr/bin/nginx"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
}

fn start_nginx(upstream: std::net::SocketAddr, workers: usize) -> Result<Nginx, String> {
    let bin = nginx_binary().ok_or("nginx is not installed (apt-get install nginx-light)")?;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let d = dir.path().display();
    // As close as nginx gets to headroom's path: HTTP/1.1 keep-alive to the upstream, answers
    // relayed unbuffered (SSE frame by frame), request bodies read whole in memory (1 MB too).
    let conf = format!(
        r#"daemon off;
master_process on;
worker_processes {workers};
pid {d}/nginx.pid;
error_log {d}/error.log error;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    client_max_body_size 64m;
    client_body_buffer_size 2m;
    keepalive_requests 1000000;
    upstream stub {{
        server {upstream};
        keepalive 128;
        keepalive_requests 1000000;
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://stub;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering off;
        }}
    }}
}}
"#
    );
    let conf_path = dir.path().join("nginx.conf");
    std::fs::write(&conf_path, conf).unwrap();
    let child = Command::new(bin)
        .arg("-p")
        .arg(dir.path())
        .arg("-c")
        .arg(&conf_path)
        .arg("-e")
        .arg(dir.path().join("error.log"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start nginx: {e}"))?;
    let mut proc = Proc(child);
    let master = proc.0.id();
    for _ in 0..2000 {
        if let Ok(Some(status)) = proc.0.try_wait() {
            let log = std::fs::read_to_string(dir.path().join("error.log")).unwrap_or_default();
            return Err(format!("nginx exited ({status}): {log}"));
        }
        let children = children_of(master);
        if children.len() >= workers && std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            let mut pids = vec![master];
            pids.extend(children);
            return Ok(Nginx {
                proc,
                port,
                pids,
                workers,
                _dir: dir,
            });
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    Err("nginx did not start listening within 10 s".into())
}

/// The PIDs whose parent is `pid`.
fn children_of(pid: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|child| {
            std::fs::read_to_string(format!("/proc/{child}/stat")).is_ok_and(|s| {
                s[s.rfind(')').unwrap() + 2..]
                    .split_whitespace()
                    .nth(1)
                    .and_then(|p| p.parse::<u32>().ok())
                    == Some(pid)
            })
        })
        .collect()
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // The master is `proc` (killed by its PID when that drops); its workers by theirs, so
        // none outlives the run even when the master dies first.
        for pid in &self.pids[1..] {
            // SAFETY: signalling processes this benchmark started, by PID.
            unsafe { libc::kill(*pid as i32, libc::SIGKILL) };
        }
        let _ = &self.proc;
    }
}

fn wrk_installed() -> bool {
    Command::new("wrk")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

fn cell_text(c: Option<Cell>) -> [String; 4] {
    match c {
        Some(c) => [
            format!("{:.0}", c.rps),
            format!("{:.3}", c.p50_us / 1000.0),
            format!("{:.3}", c.p99_us / 1000.0),
            format!("{:.1}", c.cpu_us),
        ],
        None => ["-".into(), "-".into(), "-".into(), "-".into()],
    }
}

#[test]
#[ignore = "benchmark: run with --ignored --nocapture (release build; needs wrk, nginx-light for the nginx columns)"]
fn proxy_vs_nginx() {
    if !wrk_installed() {
        println!("\nproxy_vs_nginx skipped: wrk is not installed (apt-get install wrk)");
        return;
    }
    let secs = env_num("HEADROOM_BENCH_SECS", 2);
    let proxy_args = std::env::var("HEADROOM_BENCH_PROXY_ARGS").unwrap_or("--compress off".into());
    let extra: Vec<&str> = proxy_args.split_whitespace().collect();
    let stub = Stub::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (hr, hr_port, _) = start_headroom_with(&stub.url(), None, &extra);
    let hr_pid = hr.0.id();
    // headroom: one worker thread (event loop) per core; nginx gets as many worker processes.
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    let nginx = start_nginx(stub.addr, workers);
    if let Err(why) = &nginx {
        println!("\nnginx columns skipped: {why}");
    }
    let nginx = nginx.ok();
    let me = std::process::id();
    let direct_url = stub.url();
    let hr_url = format!("http://127.0.0.1:{hr_port}");
    let nginx_url = nginx
        .as_ref()
        .map(|n| format!("http://127.0.0.1:{}", n.port));

    println!(
        "\nproxy vs nginx: wrk -t1, {secs} s per cell, loopback stub upstream (in the bench process: its CPU is the \"direct\" column)"
    );
    println!(
        "headroom: `headroom proxy --no-usage-history {proxy_args}`, {workers} worker threads (one event loop each); nginx: {} worker process(es) + master, proxy_pass with an upstream keepalive pool, proxy_buffering off",
        nginx.as_ref().map_or(0, |n| n.workers)
    );
    println!(
        "(r/s; p50/p99 ms; cpu = CPU µs of that process per request; added = p50 minus direct p50; hr/ngx = headroom ÷ nginx)\n"
    );
    println!(
        "{:<12} {:>3} | {:>7} {:>7} {:>6} | {:>7} {:>7} {:>7} {:>6} {:>6} | {:>7} {:>7} {:>7} {:>6} {:>6} | {:>6} {:>6}",
        "request",
        "c",
        "direct",
        "p50",
        "cpu",
        "nginx",
        "p50",
        "p99",
        "cpu",
        "added",
        "headrm",
        "p50",
        "p99",
        "cpu",
        "added",
        "r/s",
        "cpu"
    );
    let mut hr_requests = 0.0;
    for (i, load) in loads().iter().enumerate() {
        let script = wrk_script(dir.path(), i, load);
        // Warm every pool (and nginx's upstream keep-alive connections) before measuring.
        wrk(&direct_url, &script, 64, 1, &[me]);
        if let Some(url) = &nginx_url {
            wrk(url, &script, 64, 1, &[]);
        }
        wrk(&hr_url, &script, 64, 1, &[]);
        for conns in [1, 16, 64] {
            let d = wrk(&direct_url, &script, conns, secs, &[me]);
            let n = nginx_url
                .as_ref()
                .map(|url| wrk(url, &script, conns, secs, &nginx.as_ref().unwrap().pids));
            let h = wrk(&hr_url, &script, conns, secs, &[hr_pid]);
            hr_requests += h.rps * secs as f64;
            // The stand-in records every request; a long run would hold them all.
            stub.clear_requests();
            let errors = d.errors + n.map_or(0, |n| n.errors) + h.errors;
            let added = |c: Option<Cell>| {
                c.map_or("-".into(), |c| {
                    format!("{:.3}", (c.p50_us - d.p50_us) / 1000.0)
                })
            };
            let [nr, n50, n99, ncpu] = cell_text(n);
            let [hrr, h50, h99, hcpu] = cell_text(Some(h));
            let ratio =
                |f: fn(&Cell) -> f64| n.map_or("-".into(), |n| format!("{:.2}", f(&h) / f(&n)));
            println!(
                "{:<12} {:>3} | {:>7.0} {:>7.3} {:>6.1} | {:>7} {:>7} {:>7} {:>6} {:>6} | {:>7} {:>7} {:>7} {:>6} {:>6} | {:>6} {:>6}{}",
                load.name,
                conns,
                d.rps,
                d.p50_us / 1000.0,
                d.cpu_us,
                nr,
                n50,
                n99,
                ncpu,
                added(n),
                hrr,
                h50,
                h99,
                hcpu,
                added(Some(h)),
                ratio(|c| c.rps),
                ratio(|c| c.cpu_us),
                if errors > 0 {
                    format!("  ({errors} errors)")
                } else {
                    String::new()
                }
            );
        }
    }
    let nginx_rss: u64 = nginx
        .as_ref()
        .map_or(0, |n| n.pids.iter().map(|p| rss_kib(*p)).sum());
    println!(
        "\nRSS after {:.0}k requests: headroom {:.1} MiB, nginx (master + workers) {:.1} MiB",
        hr_requests / 1000.0,
        rss_kib(hr_pid) as f64 / 1024.0,
        nginx_rss as f64 / 1024.0
    );
    println!(
        "targets: headroom cpu <= 1.2x nginx (small, 100 KB); r/s at 64 >= 0.9x nginx; added p50 (100 KB, c=1) <= 0.15 ms; RSS after 100k requests <= 20 MB"
    );
    drop(nginx);
    drop(hr);
}
