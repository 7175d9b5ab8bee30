//! The loopback Anthropic/OpenAI stand-in as a process, for end-to-end suites and benchmarks:
//! `upstream_stub [--port P] [--record FILE] [--no-websocket] [--tls-cert PEM --tls-key PEM]`;
//! prints `listening on ADDR`. With the TLS pair it serves HTTPS (a gateway behind a private CA).
use headroom_proxy::stub::{StubOptions, StubTls, serve_forever};

fn main() -> std::io::Result<()> {
    let mut options = StubOptions::default();
    let (mut cert, mut key) = (None, None);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--port" => options.port = args.next().and_then(|p| p.parse().ok()).unwrap_or(0),
            "--record" => options.record_file = args.next().map(Into::into),
            "--no-websocket" => options.no_websocket = true,
            "--tls-cert" => cert = args.next(),
            "--tls-key" => key = args.next(),
            other => {
                eprintln!("upstream_stub: unknown argument {other:?}");
                std::process::exit(2);
            }
        }
    }
    options.tls = match (cert, key) {
        (None, None) => None,
        (Some(cert), Some(key)) => Some(StubTls {
            cert_chain_pem: read(&cert)?,
            key_pem: read(&key)?,
        }),
        _ => {
            eprintln!("upstream_stub: --tls-cert and --tls-key go together");
            std::process::exit(2);
        }
    };
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?
        .block_on(serve_forever(options))
}

fn read(path: &str) -> std::io::Result<String> {
    std::fs::read_to_string(path).map_err(|e| {
        std::io::Error::new(e.kind(), format!("upstream_stub: cannot read {path}: {e}"))
    })
}
