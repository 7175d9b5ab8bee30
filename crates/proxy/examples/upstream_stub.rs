//! The loopback Anthropic/OpenAI stand-in as a process, for end-to-end suites and benchmarks:
//! `upstream_stub [--port P] [--record FILE] [--no-websocket]`; prints `listening on ADDR`.
use headroom_proxy::stub::{StubOptions, serve_forever};

fn main() -> std::io::Result<()> {
    let mut options = StubOptions::default();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--port" => options.port = args.next().and_then(|p| p.parse().ok()).unwrap_or(0),
            "--record" => options.record_file = args.next().map(Into::into),
            "--no-websocket" => options.no_websocket = true,
            other => {
                eprintln!("upstream_stub: unknown argument {other:?}");
                std::process::exit(2);
            }
        }
    }
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?
        .block_on(serve_forever(options))
}
