//! Records rows in a loop and prints, after each flush, how many are on disk, so the crash
//! test can `kill -9` it mid-batch and check what survived. Not a tool for users.
//!
//! usage_writer <db path>

use std::io::Write;
use std::time::{Duration, SystemTime};

use headroom_usage::{Client, Options, Provider, Record, Recorder};

/// A bound so an orphaned writer stops by itself (about a minute of writing).
const ROUNDS: usize = 20_000;

fn main() {
    let Some(path) = std::env::args_os().nth(1) else {
        eprintln!("usage: usage_writer <db path>");
        std::process::exit(2);
    };
    let recorder = Recorder::open(path.as_ref(), Options::default());
    let mut out = std::io::stdout().lock();
    for round in 0..ROUNDS {
        for i in 0..100u64 {
            recorder.record(Record {
                at: SystemTime::now(),
                client: Client::ClaudeCode,
                provider: Provider::Anthropic,
                model: Some("claude-sonnet-4-5-20250929".into()),
                project: Some("crash".into()),
                status: 200,
                error: None,
                ttfb: Some(Duration::from_millis(300 + i)),
                total: Some(Duration::from_millis(2_000 + i)),
                added: Duration::from_micros(150),
                input_tokens: 1_000 + round as u64,
                output_tokens: 200,
                cache_read_tokens: 20_000,
                cache_write_tokens: 0,
                tokens_before: 5_000,
                tokens_after: 1_000,
                transforms: vec!["json".into()],
            });
        }
        recorder.flush(Duration::from_secs(10));
        let written = recorder.health()["written"].as_u64().unwrap_or(0);
        if writeln!(out, "{written}")
            .and_then(|()| out.flush())
            .is_err()
        {
            return;
        }
    }
}
