//! The compression benchmark over `bench/compression/corpus/` (real Claude Code / Codex / chat
//! request bodies, see `bench/compression/README.md`), side by side with the Python reference's
//! recorded upstream bodies in `bench/compression/reference/<mode>/` when present.
//!
//!     cargo bench -p headroom-compress --bench corpus [-- FILTER]
//!
//! Env: `HEADROOM_BENCH_MS` (time budget per payload and mode for the latency loop, default 600),
//! `HEADROOM_BENCH_CORPUS` / `HEADROOM_BENCH_REFERENCE` (other directories), `HEADROOM_BENCH_DUMP=DIR`
//! (write each output body and every changed block's original / replacement / restored text there).
//!
//! Per payload, for `lossless`, `full` (retrieve dir = `$TMPDIR/headroom-bench-retrieve`, emptied first) and the reference's
//! `--mode token` / default `--mode cache`:
//! * bytes and tokens (tiktoken cl100k_base and o200k_base over the whole body) before/after, % saved;
//! * words / lines of the original tool outputs still present verbatim in the output's tool outputs;
//! * rec: changed blocks for which `headroom_compress::restore(replacement) == original`
//!   (`+Na`: N more equal after stripping ANSI escapes, the one normalization the text encoders make;
//!   `+Nj`: N more equal as JSON values, e.g. pretty-printed JSON restored minified);
//! * det: same body twice on one `Compressor` and once on a fresh one give equal bytes
//!   (reference: its two sends gave equal upstream bodies);
//! * prefix: the body without its last turn, compressed, keeps every earlier message and every other
//!   top-level field (`system`, `tools`, …) byte-equal to the full body's output;
//! * guard: everything that must never change (system/tools/other top-level fields, thinking +
//!   signatures, images, tool ids, `is_error`, `cache_control`, prose, reasoning items) is equal;
//! * latency: cold (first call of a fresh `Compressor`), warm p50/p99 and p50 per 100 KB.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use headroom_compress::{Compressor, Mode, Shape};
use serde_json::Value;
use serde_json::value::RawValue;
use tiktoken_rs::CoreBPE;

struct Payload {
    name: String,
    path: &'static str,
    shape: Shape,
    body: Vec<u8>,
}

fn path_of(name: &str) -> &'static str {
    if name.starts_with("cc-") {
        "/v1/messages"
    } else if name.starts_with("codex-") {
        "/v1/responses"
    } else {
        "/v1/chat/completions"
    }
}

fn conversation_key(shape: Shape) -> &'static str {
    match shape {
        Shape::Responses => "input",
        _ => "messages",
    }
}

fn repo_dir(env: &str, rel: &str) -> PathBuf {
    std::env::var_os(env).map(PathBuf::from).unwrap_or_else(|| {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../..")
            .join(rel)
    })
}

// ---------------------------------------------------------------------------------------------
// Reading bodies: borrowed raw values, so comparisons are byte comparisons.

fn top_level(body: &[u8]) -> Option<Vec<(String, &RawValue)>> {
    let map: HashMap<String, &RawValue> = serde_json::from_slice(body).ok()?;
    let mut v: Vec<_> = map.into_iter().collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    Some(v)
}

fn elements(raw: &RawValue) -> Option<Vec<&RawValue>> {
    serde_json::from_str(raw.get()).ok()
}

/// The body without its last turn (the last assistant tool call and everything after it),
/// spliced out of the original bytes so every other byte is unchanged. `None` if there is no
/// earlier turn to keep. Returns the truncated body and how many conversation items it keeps.
fn without_last_turn(p: &Payload) -> Option<(Vec<u8>, usize)> {
    let key = conversation_key(p.shape);
    let top = top_level(&p.body)?;
    let conv = top.iter().find(|(k, _)| k == key)?.1;
    let items = elements(conv)?;
    let is_turn_start = |raw: &RawValue| -> bool {
        let v: Value = serde_json::from_str(raw.get()).unwrap_or(Value::Null);
        match p.shape {
            Shape::AnthropicMessages => v["role"] == "assistant",
            Shape::Responses => v["type"] == "function_call",
            Shape::ChatCompletions => v["role"] == "assistant" && v.get("tool_calls").is_some(),
        }
    };
    let mut cut = items.iter().rposition(|r| is_turn_start(r))?;
    // Responses: a turn may start with a reasoning item before its function call.
    while p.shape == Shape::Responses && cut > 0 {
        let v: Value = serde_json::from_str(items[cut - 1].get()).ok()?;
        if v["type"] == "reasoning" {
            cut -= 1
        } else {
            break;
        }
    }
    if cut < 2 {
        return None;
    }
    let start = conv.get().as_ptr() as usize - p.body.as_ptr() as usize;
    let end = start + conv.get().len();
    let mut out = Vec::with_capacity(p.body.len());
    out.extend_from_slice(&p.body[..start]);
    out.push(b'[');
    for (i, item) in items[..cut].iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(item.get().as_bytes());
    }
    out.push(b']');
    out.extend_from_slice(&p.body[end..]);
    Some((out, cut))
}

/// Earlier conversation items and all other top-level fields byte-equal between the compressed
/// full body and the compressed truncated body.
fn prefix_check(
    shape: Shape,
    full_out: &[u8],
    trunc_out: &[u8],
    keep: usize,
) -> Result<(), String> {
    let key = conversation_key(shape);
    let (a, b) = (
        top_level(full_out).ok_or("full output is not a JSON object")?,
        top_level(trunc_out).ok_or("truncated output is not a JSON object")?,
    );
    if a.len() != b.len() {
        return Err("top-level keys differ".into());
    }
    for ((ka, va), (kb, vb)) in a.iter().zip(&b) {
        if ka != kb {
            return Err("top-level keys differ".into());
        }
        if ka == key {
            let (ea, eb) = (
                elements(va).unwrap_or_default(),
                elements(vb).unwrap_or_default(),
            );
            if eb.len() != keep || ea.len() < keep {
                return Err(format!("{key} length"));
            }
            for i in 0..keep {
                if ea[i].get() != eb[i].get() {
                    return Err(format!("{key}[{i}]"));
                }
            }
        } else if va.get() != vb.get() {
            return Err(ka.clone());
        }
    }
    Ok(())
}

/// Everything that must never change, in order, as text.
fn guarded(shape: Shape, body: &[u8]) -> Vec<String> {
    let key = conversation_key(shape);
    let mut out = Vec::new();
    let Some(top) = top_level(body) else {
        return vec![String::from_utf8_lossy(body).into_owned()];
    };
    for (k, v) in &top {
        if k != key {
            out.push(format!("{k}={}", v.get()));
        }
    }
    let Some(conv) = top
        .iter()
        .find(|(k, _)| k == key)
        .and_then(|(_, v)| elements(v))
    else {
        return out;
    };
    let keep_but = |v: &Value, skip: &str, out: &mut Vec<String>| {
        if let Value::Object(m) = v {
            for (k, x) in m {
                if k != skip {
                    out.push(format!("{k}={x}"));
                }
            }
        }
    };
    for (i, item) in conv.iter().enumerate() {
        let v: Value = serde_json::from_str(item.get()).unwrap_or(Value::Null);
        match shape {
            Shape::AnthropicMessages => match &v["content"] {
                Value::Array(blocks) => {
                    out.push(format!("{i}.role={}", v["role"]));
                    for b in blocks {
                        if b["type"] == "tool_result" {
                            keep_but(b, "content", &mut out);
                            if let Value::Array(inner) = &b["content"] {
                                for x in inner.iter().filter(|x| x["type"] != "text") {
                                    out.push(x.to_string());
                                }
                            }
                        } else {
                            out.push(b.to_string());
                        }
                    }
                }
                _ => out.push(v.to_string()),
            },
            Shape::Responses => {
                if v["type"] == "function_call_output" {
                    keep_but(&v, "output", &mut out)
                } else {
                    out.push(v.to_string())
                }
            }
            Shape::ChatCompletions => {
                if v["role"] == "tool" {
                    keep_but(&v, "content", &mut out)
                } else {
                    out.push(v.to_string())
                }
            }
        }
    }
    out
}

/// The text of every tool output in a body (Codex's JSON-wrapped shell output: its `output` field).
fn tool_outputs(shape: Shape, body: &[u8]) -> Vec<String> {
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let mut out = Vec::new();
    let texts = |c: &Value, out: &mut Vec<String>| match c {
        Value::String(s) => out.push(s.clone()),
        Value::Array(xs) => {
            for x in xs {
                if let Some(t) = x.get("text").and_then(Value::as_str) {
                    out.push(t.to_owned())
                }
            }
        }
        _ => {}
    };
    let items = v[conversation_key(shape)]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for item in &items {
        match shape {
            Shape::AnthropicMessages => {
                for b in item["content"].as_array().into_iter().flatten() {
                    if b["type"] == "tool_result" {
                        texts(&b["content"], &mut out)
                    }
                }
            }
            Shape::Responses => {
                if item["type"] == "function_call_output" {
                    match &item["output"] {
                        Value::String(s) => match serde_json::from_str::<Value>(s) {
                            Ok(Value::Object(m))
                                if m.get("output").is_some_and(Value::is_string) =>
                            {
                                out.push(m["output"].as_str().unwrap().to_owned())
                            }
                            _ => out.push(s.clone()),
                        },
                        other => texts(other, &mut out),
                    }
                }
            }
            Shape::ChatCompletions => {
                if item["role"] == "tool" {
                    texts(&item["content"], &mut out)
                }
            }
        }
    }
    out
}

/// (share of original words kept, share of original non-empty lines kept), by occurrence. The
/// originals are compared with ANSI escapes stripped (colour codes are not information).
fn kept(original: &[String], output: &[String]) -> (f64, f64) {
    let original: Vec<String> = original.iter().map(|t| strip_ansi(t)).collect();
    let words: HashSet<&str> = output.iter().flat_map(|t| t.split_whitespace()).collect();
    let lines: HashSet<&str> = output
        .iter()
        .flat_map(|t| t.lines().map(str::trim_end))
        .collect();
    let (mut w, mut wk, mut l, mut lk) = (0usize, 0usize, 0usize, 0usize);
    for t in &original {
        for x in t.split_whitespace() {
            w += 1;
            wk += words.contains(x) as usize;
        }
        for x in t.lines().map(str::trim_end).filter(|x| !x.is_empty()) {
            l += 1;
            lk += lines.contains(x) as usize;
        }
    }
    let share = |k: usize, n: usize| if n == 0 { 1.0 } else { k as f64 / n as f64 };
    (share(wk, w), share(lk, l))
}

/// Share of the JSON leaf values (strings, numbers, booleans; by occurrence) of the original tool
/// outputs that are whole JSON documents, still present verbatim in the output's tool outputs.
/// `None` when no tool output is JSON.
fn leaves_kept(original: &[String], output: &[String]) -> Option<f64> {
    fn walk(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Array(xs) => xs.iter().for_each(|x| walk(x, out)),
            Value::Object(m) => m.values().for_each(|x| walk(x, out)),
            Value::String(s) if !s.is_empty() => out.push(s.clone()),
            Value::Number(n) => out.push(n.to_string()),
            Value::Bool(b) => out.push(b.to_string()),
            _ => {}
        }
    }
    let mut leaves = Vec::new();
    for t in original {
        if let Ok(v @ (Value::Object(_) | Value::Array(_))) = serde_json::from_str::<Value>(t) {
            walk(&v, &mut leaves);
        }
    }
    if leaves.is_empty() {
        return None;
    }
    let hay = output.join("\n");
    let mut seen: HashMap<&str, bool> = HashMap::new();
    let kept = leaves
        .iter()
        .filter(|l| {
            *seen
                .entry(l.as_str())
                .or_insert_with(|| hay.contains(l.as_str()))
        })
        .count();
    Some(kept as f64 / leaves.len() as f64)
}

fn strip_ansi(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == 0x1b && i + 1 < b.len() && b[i + 1] == b'[' {
            let mut j = i + 2;
            while j < b.len() && (0x20..0x40).contains(&b[j]) {
                j += 1;
            }
            if j < b.len() && (0x40..0x7f).contains(&b[j]) {
                i = j + 1;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8(out).unwrap_or_else(|_| s.to_owned())
}

/// How many changed blocks `restore()` gives back: exactly, equal after stripping ANSI escapes,
/// equal as JSON values (e.g. a pretty-printed original restored minified).
#[derive(Default)]
struct Recovered {
    exact: usize,
    ansi: usize,
    json: usize,
    total: usize,
}

impl Recovered {
    fn of(changed: &[(String, String)]) -> Self {
        let mut r = Recovered {
            total: changed.len(),
            ..Self::default()
        };
        for (original, replacement) in changed {
            let Some(restored) = headroom_compress::restore(replacement) else {
                continue;
            };
            if &restored == original {
                r.exact += 1;
            } else if restored == strip_ansi(original) {
                r.ansi += 1;
            } else if matches!(
                (serde_json::from_str::<Value>(original), serde_json::from_str::<Value>(&restored)),
                (Ok(a), Ok(b)) if a == b
            ) {
                r.json += 1;
            }
        }
        r
    }

    fn show(&self) -> String {
        if self.total == 0 {
            return "-".into();
        }
        let mut s = self.exact.to_string();
        if self.ansi > 0 {
            s += &format!("+{}a", self.ansi);
        }
        if self.json > 0 {
            s += &format!("+{}j", self.json);
        }
        format!("{s}/{}", self.total)
    }
}

// ---------------------------------------------------------------------------------------------

struct Tok {
    cl: &'static CoreBPE,
    o2: &'static CoreBPE,
}

impl Tok {
    fn count(&self, body: &[u8]) -> (usize, usize) {
        let s = String::from_utf8_lossy(body);
        (
            self.cl.encode_ordinary(&s).len(),
            self.o2.encode_ordinary(&s).len(),
        )
    }
}

#[derive(Default, Clone)]
struct Row {
    label: String,
    bytes: usize,
    cl: usize,
    o2: usize,
    words: Option<(f64, f64)>,
    leaves: Option<f64>,
    rec: String,
    det: String,
    prefix: String,
    guard: String,
    latency: String,
    per100k: Option<f64>,
    transforms: String,
}

fn pct(before: usize, after: usize) -> String {
    if before == 0 {
        return "n/a".into();
    }
    format!(
        "{:.1}%",
        100.0 * (before as f64 - after as f64) / before as f64
    )
}

fn fmt_us(d: Duration) -> String {
    let us = d.as_secs_f64() * 1e6;
    if us >= 10_000.0 {
        format!("{:.1}ms", us / 1000.0)
    } else {
        format!("{us:.0}µs")
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn run_mode(p: &Payload, mode: Mode, tok: &Tok, budget: Duration, orig_tools: &[String]) -> Row {
    // A fixed retrieve dir (emptied first), so `full` output (which cites paths in it) is the same
    // from run to run.
    let dir = std::env::temp_dir().join("headroom-bench-retrieve");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("retrieve dir");
    let retrieve = (mode == Mode::Full).then(|| dir.clone());
    let fresh = || Compressor::new(mode, retrieve.clone());

    let c = fresh();
    let t = Instant::now();
    let first = c.compress(p.shape, &p.body);
    let cold = t.elapsed();
    let second = c.compress(p.shape, &p.body);
    let third = fresh().compress(p.shape, &p.body);
    let out = first.body.clone().unwrap_or_else(|| p.body.clone());
    let bytes_of =
        |o: &headroom_compress::Outcome| o.body.clone().unwrap_or_else(|| p.body.clone());
    let same = bytes_of(&second) == out;
    let same_fresh = bytes_of(&third) == out;
    let det = match (same, same_fresh) {
        (true, true) => "ok".to_owned(),
        (false, _) => "FAIL(twice)".to_owned(),
        (true, false) => "FAIL(fresh)".to_owned(),
    };

    let prefix = match without_last_turn(p) {
        None => "n/a".to_owned(),
        Some((trunc, keep)) => {
            let o = fresh().compress(p.shape, &trunc);
            let trunc_out = o.body.unwrap_or(trunc);
            match prefix_check(p.shape, &out, &trunc_out, keep) {
                Ok(()) => "ok".to_owned(),
                Err(e) => format!("FAIL({e})"),
            }
        }
    };
    let guard = guard_check(p, &out);

    if let Some(d) = std::env::var_os("HEADROOM_BENCH_DUMP") {
        // For debugging an encoder: the output body and every changed block, original and replacement.
        let d = Path::new(&d).join(format!("{}.{mode}", p.name));
        let _ = std::fs::create_dir_all(&d);
        let _ = std::fs::write(d.join("body.json"), &out);
        for (i, (o, r)) in first.report.changed.iter().enumerate() {
            let _ = std::fs::write(d.join(format!("{i}.original")), o);
            let _ = std::fs::write(d.join(format!("{i}.replacement")), r);
            let restored =
                headroom_compress::restore(r).unwrap_or_else(|| "<restore: None>".into());
            let _ = std::fs::write(d.join(format!("{i}.restored")), restored);
        }
    }
    let rec = Recovered::of(&first.report.changed).show();

    // Warm latency.
    let mut samples = Vec::new();
    let start = Instant::now();
    while (start.elapsed() < budget || samples.len() < 30) && samples.len() < 5000 {
        let t = Instant::now();
        let o = std::hint::black_box(c.compress(p.shape, std::hint::black_box(&p.body)));
        samples.push(t.elapsed());
        drop(o);
    }
    samples.sort();
    let (p50, p99) = (percentile(&samples, 0.5), percentile(&samples, 0.99));

    let (cl, o2) = tok.count(&out);
    let mut transforms: Vec<&str> = first.report.transforms.clone();
    transforms.sort();
    transforms.dedup();
    Row {
        label: mode.to_string(),
        bytes: out.len(),
        cl,
        o2,
        words: Some(kept(orig_tools, &tool_outputs(p.shape, &out))),
        leaves: leaves_kept(orig_tools, &tool_outputs(p.shape, &out)),
        rec: if first.report.failures > 0 {
            format!("{rec} ({} enc. failed)", first.report.failures)
        } else {
            rec
        },
        det,
        prefix,
        guard,
        latency: format!("{} {}/{}", fmt_us(cold), fmt_us(p50), fmt_us(p99)),
        per100k: Some(p50.as_secs_f64() * 1e6 * 102_400.0 / p.body.len() as f64),
        transforms: transforms.join(","),
    }
}

fn guard_check(p: &Payload, out: &[u8]) -> String {
    let (a, b) = (guarded(p.shape, &p.body), guarded(p.shape, out));
    if a == b {
        return "ok".into();
    }
    let diff = a.iter().zip(&b).filter(|(x, y)| x != y).count() + a.len().abs_diff(b.len());
    // Name the first field that differs (top-level key, or the block's leading key).
    let first = a
        .iter()
        .zip(&b)
        .find(|(x, y)| x != y)
        .map(|(x, _)| {
            x.split('=')
                .next()
                .unwrap_or("")
                .chars()
                .take(24)
                .collect::<String>()
        })
        .unwrap_or_else(|| "count".into());
    format!("FAIL({diff}: {first})")
}

fn reference_row(
    p: &Payload,
    mode: &str,
    dir: &Path,
    tok: &Tok,
    summaries: &mut HashMap<String, Value>,
    orig_tools: &[String],
) -> Row {
    let label = format!("py {mode}");
    let Ok(body) = std::fs::read(dir.join(mode).join(format!("{}.json", p.name))) else {
        return Row {
            label,
            ..Row::default()
        };
    };
    let summary = summaries
        .entry(mode.to_owned())
        .or_insert_with(|| {
            std::fs::read(dir.join(mode).join("summary.json"))
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok())
                .unwrap_or(Value::Null)
        })
        .get(&p.name)
        .cloned()
        .unwrap_or(Value::Null);
    let (cl, o2) = tok.count(&body);
    let det = match summary["deterministic"].as_bool() {
        Some(true) => "ok".to_owned(),
        Some(false) => "FAIL(twice)".to_owned(),
        None => "n/a".to_owned(),
    };
    let ms = summary["ms"].as_array().cloned().unwrap_or_default();
    let latency = if ms.len() == 2 {
        format!("{}ms {}ms (HTTP)", ms[0], ms[1])
    } else {
        "n/a".to_owned()
    };
    Row {
        label,
        bytes: body.len(),
        cl,
        o2,
        words: Some(kept(orig_tools, &tool_outputs(p.shape, &body))),
        leaves: leaves_kept(orig_tools, &tool_outputs(p.shape, &body)),
        rec: "n/a".into(),
        det,
        prefix: "n/a".into(),
        guard: guard_check(p, &body),
        latency,
        per100k: None,
        transforms: String::new(),
    }
}

fn main() {
    let filter: Option<String> = std::env::args().skip(1).find(|a| !a.starts_with("--"));
    let budget = Duration::from_millis(
        std::env::var("HEADROOM_BENCH_MS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(600),
    );
    let corpus_dir = repo_dir("HEADROOM_BENCH_CORPUS", "bench/compression/corpus");
    let reference_dir = repo_dir("HEADROOM_BENCH_REFERENCE", "bench/compression/reference");
    let mut names: Vec<String> = std::fs::read_dir(&corpus_dir)
        .unwrap_or_else(|e| panic!("{}: {e}", corpus_dir.display()))
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".json"))
        .map(|n| n.trim_end_matches(".json").to_owned())
        .filter(|n| filter.as_ref().is_none_or(|f| n.contains(f.as_str())))
        .collect();
    names.sort();
    let payloads: Vec<Payload> = names
        .into_iter()
        .map(|name| {
            let path = path_of(&name);
            Payload {
                body: std::fs::read(corpus_dir.join(format!("{name}.json"))).unwrap(),
                shape: Shape::of_path(path).unwrap(),
                path,
                name,
            }
        })
        .collect();
    let tok = Tok {
        cl: tiktoken_rs::cl100k_base_singleton(),
        o2: tiktoken_rs::o200k_base_singleton(),
    };
    let mut summaries = HashMap::new();

    println!(
        "headroom-compress v{} corpus benchmark: {} payloads from {}; latency budget {} ms per payload and mode",
        headroom_compress::VERSION,
        payloads.len(),
        corpus_dir.display(),
        budget.as_millis()
    );
    println!(
        "latency = cold (fresh Compressor, first call) warm p50/p99; µs/100KB = warm p50 per 100 KiB of body; \
         rec = changed blocks restore()d exactly (+Na: N more equal after ANSI strip, +Nj: N more equal as JSON values); words/lines = share of the original \
         tool outputs' words / lines (ANSI stripped) / JSON leaf values still present verbatim; det = same bytes twice and \
         from a fresh Compressor; prefix = body minus its last turn keeps earlier items + system/tools byte-equal; \
         guard = never-change fields equal (FAIL names the first that differs)"
    );
    println!();
    println!(
        "| payload | API | mode | bytes | cl100k | saved | o200k | saved | words | lines | JSON leaves | rec | det | prefix | guard | latency | µs/100KB | transforms |"
    );
    println!("|---|---|---|--:|--:|--:|--:|--:|--:|--:|--:|---|---|---|---|---|--:|---|");
    let labels = ["original", "lossless", "full", "py token", "py cache"];
    let mut totals: HashMap<&str, (usize, usize, usize, usize, usize, usize)> = HashMap::new();
    let mut anthropic_totals: HashMap<&str, (usize, usize)> = HashMap::new();
    let mut checks: HashMap<&str, (usize, usize)> = HashMap::new();
    let mut per100k: HashMap<&str, Vec<f64>> = HashMap::new();
    for p in &payloads {
        let orig_tools = tool_outputs(p.shape, &p.body);
        let (cl0, o20) = tok.count(&p.body);
        let mut rows = vec![Row {
            label: "original".into(),
            bytes: p.body.len(),
            cl: cl0,
            o2: o20,
            ..Row::default()
        }];
        rows.push(run_mode(p, Mode::Lossless, &tok, budget, &orig_tools));
        rows.push(run_mode(p, Mode::Full, &tok, budget, &orig_tools));
        for m in ["token", "cache"] {
            rows.push(reference_row(
                p,
                m,
                &reference_dir,
                &tok,
                &mut summaries,
                &orig_tools,
            ));
        }
        for (i, r) in rows.iter().enumerate() {
            let label = labels[i];
            let have = r.bytes > 0;
            if have {
                let t = totals.entry(label).or_default();
                *t = (
                    t.0 + p.body.len(),
                    t.1 + r.bytes,
                    t.2 + cl0,
                    t.3 + r.cl,
                    t.4 + o20,
                    t.5 + r.o2,
                );
                if p.shape == Shape::AnthropicMessages {
                    let a = anthropic_totals.entry(label).or_default();
                    *a = (a.0 + cl0, a.1 + r.cl);
                }
                let c = checks.entry(label).or_default();
                for s in [&r.det, &r.prefix, &r.guard] {
                    if s == "ok" {
                        c.0 += 1;
                        c.1 += 1;
                    } else if s.starts_with("FAIL") {
                        c.1 += 1;
                    }
                }
                if let Some(x) = r.per100k {
                    per100k.entry(label).or_default().push(x);
                }
            }
            let (name, api) = if i == 0 {
                (p.name.as_str(), p.path)
            } else {
                ("", "")
            };
            if !have {
                println!(
                    "| {name} | {api} | {} | n/a | n/a | n/a | n/a | n/a | | | | | | | | | |",
                    r.label
                );
                continue;
            }
            let (words, lines) = match r.words {
                Some((w, l)) => (format!("{:.1}%", 100.0 * w), format!("{:.1}%", 100.0 * l)),
                None => (String::new(), String::new()),
            };
            let saved = |b: usize, a: usize| if i == 0 { String::new() } else { pct(b, a) };
            println!(
                "| {name} | {api} | {} | {} | {} | {} | {} | {} | {words} | {lines} | {} | {} | {} | {} | {} | {} | {} | {} |",
                r.label,
                r.bytes,
                r.cl,
                saved(cl0, r.cl),
                r.o2,
                saved(o20, r.o2),
                r.leaves
                    .map(|x| format!("{:.1}%", 100.0 * x))
                    .unwrap_or_default(),
                r.rec,
                r.det,
                r.prefix,
                r.guard,
                r.latency,
                r.per100k.map(|x| format!("{x:.0}")).unwrap_or_default(),
                r.transforms,
            );
        }
    }
    println!();
    println!("Totals (reference totals cover only the payloads it has outputs for):");
    println!();
    println!(
        "| mode | payloads | bytes before → after | cl100k before → after | saved | o200k saved | Anthropic cl100k saved | checks ok | µs/100KB median |"
    );
    println!("|---|--:|---|---|--:|--:|--:|--:|--:|");
    for label in &labels[1..] {
        let Some(t) = totals.get(label) else {
            println!("| {label} | 0 | n/a | n/a | n/a | n/a | n/a | n/a | n/a |");
            continue;
        };
        let n = payloads
            .iter()
            .filter(|p| {
                *label != "py token" && *label != "py cache"
                    || reference_dir
                        .join(&label[3..])
                        .join(format!("{}.json", p.name))
                        .exists()
            })
            .count();
        let a = anthropic_totals.get(label).copied().unwrap_or_default();
        let c = checks.get(label).copied().unwrap_or_default();
        let med = per100k.get(label).map(|v| {
            let mut v = v.clone();
            v.sort_by(|a, b| a.total_cmp(b));
            format!("{:.0}", v[v.len() / 2])
        });
        println!(
            "| {label} | {n} | {} → {} | {} → {} | {} | {} | {} | {}/{} | {} |",
            t.0,
            t.1,
            t.2,
            t.3,
            pct(t.2, t.3),
            pct(t.4, t.5),
            pct(a.0, a.1),
            c.0,
            c.1,
            med.unwrap_or_else(|| "n/a".into())
        );
    }
    let rss = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(|l| l[6..].trim().to_owned())
        });
    println!();
    println!(
        "peak RSS of this benchmark process (corpus, outputs and tokenizers included): {}",
        rss.unwrap_or_else(|| "n/a".into())
    );
}
