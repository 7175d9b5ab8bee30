//! The request walker over real-shaped bodies of the three APIs: what changes, what never does,
//! determinism and the grown-session prefix.

use headroom_compress::{Compressor, Mode, Shape};
use serde_json::value::RawValue;
use serde_json::{Value, json};

/// A `grep -rn` over this crate's own sources: real lines, many per file.
fn grep_output() -> String {
    let mut out = String::new();
    for (path, text) in [
        ("src/request.rs", include_str!("../src/request.rs")),
        ("src/block.rs", include_str!("../src/block.rs")),
    ] {
        for (i, line) in text.lines().enumerate() {
            if line.contains("self") || line.contains("fn ") {
                out.push_str(&format!("crates/compress/{path}:{}:{line}\n", i + 1));
            }
        }
    }
    out
}

/// A pretty-printed API answer: an array of uniform records.
fn json_output() -> String {
    let items: Vec<Value> = (0..60)
        .map(|i| {
            json!({
                "id": 1000 + i,
                "name": format!("package-{i}"),
                "version": format!("1.{i}.0"),
                "license": "MIT",
                "owner": {"login": format!("user{}", i % 7), "type": "User"},
                "private": false
            })
        })
        .collect();
    serde_json::to_string_pretty(&json!({ "total_count": 60, "items": items })).unwrap()
}

fn anthropic_body(turns: usize) -> Vec<u8> {
    let file = "{\n  \"name\": \"demo\",\n  \"version\": \"1.0.0\"\n}\n".repeat(20);
    let diff =
        "diff --git a/a.rs b/a.rs\n--- a/a.rs\n+++ b/a.rs\n@@ -1,3 +1,3 @@\n-old line\n+new line\n"
            .repeat(20);
    let mut messages = vec![
        json!({"role": "user", "content": [
            {"type": "text", "text": "find where the walker splices bytes"},
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}}
        ]}),
        json!({"role": "assistant", "content": [
            {"type": "thinking", "thinking": "I should grep.", "signature": "EqQBCkYIARgCIkB+sig=="},
            {"type": "text", "text": "Let me search."},
            {"type": "tool_use", "id": "toolu_grep", "name": "Bash", "input": {"command": "grep -rn self crates/compress"}}
        ]}),
        json!({"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_grep", "content": grep_output(),
             "cache_control": {"type": "ephemeral"}}
        ]}),
        json!({"role": "assistant", "content": [
            {"type": "tool_use", "id": "toolu_read", "name": "Read", "input": {"file_path": "/repo/package.json"}},
            {"type": "tool_use", "id": "toolu_api", "name": "mcp__github__search", "input": {"q": "x"}},
            {"type": "tool_use", "id": "toolu_diff", "name": "Bash", "input": {"command": "git diff"}},
            {"type": "tool_use", "id": "toolu_err", "name": "Bash", "input": {"command": "false"}}
        ]}),
        json!({"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_read", "content": file},
            {"type": "tool_result", "tool_use_id": "toolu_api", "content": [{"type": "text", "text": json_output()}]},
            {"type": "tool_result", "tool_use_id": "toolu_diff", "content": diff},
            {"type": "tool_result", "tool_use_id": "toolu_err", "is_error": true, "content": "error: exit status 1\n".repeat(20)}
        ]}),
        json!({"role": "assistant", "content": [
            {"type": "tool_use", "id": "toolu_grep2", "name": "Bash", "input": {"command": "grep -rn self crates/compress"}}
        ]}),
        json!({"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_grep2", "content": grep_output()}
        ]}),
    ];
    for i in 0..turns {
        messages.push(json!({"role": "assistant", "content": [
            {"type": "tool_use", "id": format!("toolu_more{i}"), "name": "Bash", "input": {"command": "ls -l"}}
        ]}));
        messages.push(json!({"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": format!("toolu_more{i}"), "content": json_output().replace("package", &format!("turn{i}"))}
        ]}));
    }
    // `system` and `tools` in unusual spacing: they must come out byte for byte.
    let head = r#"{"model":"claude-sonnet-4-5","max_tokens":1024,"system":[{"type":"text","text":"You are Claude Code.","cache_control":{"type":"ephemeral","ttl":"1h"}}],"tools":[{"name":"Bash","description":"Run a command","input_schema":{"$schema":"http://json-schema.org/draft-07/schema#","type":"object"}} ],"stream":true,"messages":"#;
    let mut body = head.as_bytes().to_vec();
    body.extend(serde_json::to_vec(&messages).unwrap());
    body.push(b'}');
    body
}

fn members(body: &[u8]) -> Vec<(String, String)> {
    let m: serde_json::Map<String, Value> = serde_json::from_slice(body).unwrap();
    let raw: std::collections::BTreeMap<String, Box<RawValue>> =
        serde_json::from_slice(body).unwrap();
    m.keys()
        .map(|k| (k.clone(), raw[k].get().to_owned()))
        .collect()
}

fn raw_messages(body: &[u8], key: &str) -> Vec<String> {
    let raw: std::collections::BTreeMap<String, Box<RawValue>> =
        serde_json::from_slice(body).unwrap();
    let list: Vec<Box<RawValue>> = serde_json::from_str(raw[key].get()).unwrap();
    list.into_iter().map(|v| v.get().to_owned()).collect()
}

fn lossless() -> Compressor {
    Compressor::new(Mode::Lossless, None)
}

#[test]
fn anthropic_tool_outputs_shrink_and_everything_else_is_byte_exact() {
    let body = anthropic_body(0);
    let out = lossless().compress(Shape::AnthropicMessages, &body);
    let new = out.body.expect("the grep and JSON outputs compress");
    assert!(new.len() < body.len());
    // Every top-level member but `messages` is byte-identical (system, tools, cache_control, stream).
    let (before, after) = (members(&body), members(&new));
    assert_eq!(
        before.iter().map(|(k, _)| k).collect::<Vec<_>>(),
        after.iter().map(|(k, _)| k).collect::<Vec<_>>()
    );
    for ((k, a), (_, b)) in before.iter().zip(&after) {
        if k != "messages" {
            assert_eq!(a, b, "{k} changed");
        }
    }
    let (old_m, new_m) = (
        raw_messages(&body, "messages"),
        raw_messages(&new, "messages"),
    );
    assert_eq!(old_m.len(), new_m.len());
    // Prose, thinking + signature, images, tool_use ids and inputs: untouched.
    for i in [0, 1, 3, 5] {
        assert_eq!(old_m[i], new_m[i], "message {i} changed");
    }
    let blocks = |raw: &str| -> Vec<Value> {
        let v: Value = serde_json::from_str(raw).unwrap();
        v["content"].as_array().unwrap().clone()
    };
    let (o2, n2) = (blocks(&old_m[2]), blocks(&new_m[2]));
    assert_ne!(o2[0]["content"], n2[0]["content"], "grep output compressed");
    assert_eq!(o2[0]["cache_control"], n2[0]["cache_control"]);
    assert_eq!(o2[0]["tool_use_id"], n2[0]["tool_use_id"]);
    let restored = headroom_compress::restore(n2[0]["content"].as_str().unwrap()).unwrap();
    assert_eq!(restored, o2[0]["content"].as_str().unwrap());

    let (o4, n4) = (blocks(&old_m[4]), blocks(&new_m[4]));
    assert_eq!(o4[0], n4[0], "a Read result is file content: untouched");
    assert_ne!(o4[1], n4[1], "the JSON API answer is re-encoded");
    assert_eq!(o4[2], n4[2], "a diff is untouched");
    assert_eq!(o4[3], n4[3], "a small error is untouched");

    // The repeated grep is a reference to the first one.
    let n6 = blocks(&new_m[6]);
    let text = n6[0]["content"].as_str().unwrap();
    assert!(text.contains("toolu_grep"), "{text}");
    assert!(out.report.transforms.contains(&"duplicate-ref"));
}

#[test]
fn same_history_same_bytes_and_a_grown_session_keeps_its_prefix() {
    let short = anthropic_body(1);
    let long = anthropic_body(3);
    let a = lossless()
        .compress(Shape::AnthropicMessages, &short)
        .body
        .unwrap();
    let b = Compressor::new(Mode::Lossless, None)
        .compress(Shape::AnthropicMessages, &short)
        .body
        .unwrap();
    assert_eq!(a, b, "deterministic across compressors");
    let grown = lossless()
        .compress(Shape::AnthropicMessages, &long)
        .body
        .unwrap();
    let (ma, mg) = (
        raw_messages(&a, "messages"),
        raw_messages(&grown, "messages"),
    );
    assert_eq!(ma[..], mg[..ma.len()], "earlier messages identical");
    let (ha, hg) = (members(&a), members(&grown));
    assert_eq!(ha[..2], hg[..2]);
    assert_eq!(ha[3], hg[3], "system and tools identical");
}

#[test]
fn off_and_unparseable_bodies_pass_through() {
    let body = anthropic_body(0);
    assert!(
        Compressor::new(Mode::Off, None)
            .compress(Shape::AnthropicMessages, &body)
            .body
            .is_none()
    );
    let c = lossless();
    let grep = serde_json::to_string(&grep_output()).unwrap();
    let tool = |content: &str| {
        format!(
            r#"{{"messages":[{{"role":"assistant","content":[{{"type":"tool_use","id":"t","name":"Bash","input":{{}}}}]}},{{"role":"user","content":[{{"type":"tool_result","tool_use_id":"t","content":{content}}}]}}]}}"#
        )
    };
    assert!(
        c.compress(Shape::AnthropicMessages, tool(&grep).as_bytes())
            .body
            .is_some()
    );
    let bad: Vec<Vec<u8>> = vec![
        b"not json".to_vec(),
        tool(&grep).replace("}]}]}", "}]}]").into_bytes(),
        // Duplicate keys at any level we walk.
        tool(&grep)
            .replacen(r#"{"messages":"#, r#"{"messages":[],"messages":"#, 1)
            .into_bytes(),
        tool(&grep)
            .replace(
                r#""tool_use_id":"t","#,
                r#""tool_use_id":"t","tool_use_id":"u","#,
            )
            .into_bytes(),
        // Nesting deeper than any parser should follow.
        format!(
            r#"{{"metadata":{}1{},{}"#,
            "[".repeat(5000),
            "]".repeat(5000),
            &tool(&grep)[1..]
        )
        .into_bytes(),
    ];
    let mut invalid_utf8 = tool(&grep).into_bytes();
    let at = invalid_utf8
        .windows(6)
        .position(|w| w == b"crates")
        .unwrap();
    invalid_utf8[at + 1] = 0xff;
    for body in bad.iter().chain([&invalid_utf8]) {
        assert!(
            c.compress(Shape::AnthropicMessages, body).body.is_none(),
            "{}",
            String::from_utf8_lossy(&body[..body.len().min(80)]).to_string()
                + &format!(" len {}", body.len())
        );
    }
}

#[test]
fn unknown_blocks_and_json_lookalikes_are_left_alone() {
    let c = lossless();
    let lookalike =
        serde_json::to_string(&format!("{{ this is not JSON {}", "x ".repeat(300))).unwrap();
    let body = format!(
        r#"{{"messages":[{{"role":"user","content":[{{"type":"mystery_block","content":"{}"}},{{"type":"tool_result","tool_use_id":"x","content":{lookalike}}}]}}]}}"#,
        "a".repeat(500)
    );
    let out = c.compress(Shape::AnthropicMessages, body.as_bytes());
    // Whatever the text encoders do with the lookalike, the unknown block is byte-identical.
    let after = out.body.unwrap_or_else(|| body.clone().into_bytes());
    let s = String::from_utf8(after).unwrap();
    assert!(s.contains(&format!(
        r#"{{"type":"mystery_block","content":"{}"}}"#,
        "a".repeat(500)
    )));
}

#[test]
fn openai_chat_and_responses_shapes() {
    let c = lossless();
    let chat = json!({"model": "gpt-5", "messages": [
        {"role": "system", "content": "be brief"},
        {"role": "assistant", "tool_calls": [{"id": "call_1", "type": "function",
            "function": {"name": "search", "arguments": "{\"q\":\"x\"}"}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": json_output()}
    ]});
    let body = serde_json::to_vec(&chat).unwrap();
    let out = c.compress(Shape::ChatCompletions, &body).body.unwrap();
    let v: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["messages"][0], chat["messages"][0]);
    assert_eq!(v["messages"][1], chat["messages"][1]);
    assert_ne!(v["messages"][2]["content"], chat["messages"][2]["content"]);

    // Codex: shell output wrapped as {"output": …, "metadata": …}, and a `sed` file read.
    let wrapped = serde_json::to_string(
        &json!({"output": grep_output(), "metadata": {"exit_code": 0, "duration_seconds": 0.2}}),
    )
    .unwrap();
    let resp = json!({"model": "gpt-5-codex", "instructions": "You are Codex.", "input": [
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "look"}]},
        {"type": "function_call", "call_id": "c1", "name": "shell", "arguments": "{\"command\":[\"bash\",\"-lc\",\"grep -rn self .\"]}"},
        {"type": "function_call_output", "call_id": "c1", "output": wrapped},
        {"type": "function_call", "call_id": "c2", "name": "shell", "arguments": "{\"command\":[\"bash\",\"-lc\",\"sed -n 1,200p src/lib.rs\"]}"},
        {"type": "function_call_output", "call_id": "c2", "output": grep_output()},
        {"type": "reasoning", "encrypted_content": "gAAAAB..."}
    ], "prompt_cache_key": "k"});
    let body = serde_json::to_vec(&resp).unwrap();
    let out = c.compress(Shape::Responses, &body).body.unwrap();
    let v: Value = serde_json::from_slice(&out).unwrap();
    let inner: Value = serde_json::from_str(v["input"][2]["output"].as_str().unwrap()).unwrap();
    assert_eq!(
        inner["metadata"],
        json!({"exit_code": 0, "duration_seconds": 0.2})
    );
    assert_eq!(
        headroom_compress::restore(inner["output"].as_str().unwrap()).unwrap(),
        grep_output()
    );
    assert_eq!(
        v["input"][4], resp["input"][4],
        "sed output is file content"
    );
    assert_eq!(v["input"][5], resp["input"][5]);
    assert_eq!(v["prompt_cache_key"], "k");

    // The same request as a WebSocket `response.create` message.
    let mut frame = resp.clone();
    frame["type"] = json!("response.create");
    let ws = c.compress_ws_message(&serde_json::to_vec(&frame).unwrap());
    assert!(ws.body.is_some());
    let mut other = frame.clone();
    other["type"] = json!("response.cancel");
    assert!(
        c.compress_ws_message(&serde_json::to_vec(&other).unwrap())
            .body
            .is_none()
    );
}

#[test]
fn full_cuts_only_with_a_retrieve_dir_and_the_file_holds_the_whole() {
    let dir = tempfile_dir();
    let log: String = (0..3000)
        .map(|i| {
            if i == 1777 {
                "ERROR test_parser.py::test_unicode - AssertionError: expected 3\n".to_owned()
            } else {
                format!("PASSED tests/test_module_{}.py::test_case_{i}\n", i % 37)
            }
        })
        .collect();
    let body = serde_json::to_vec(&json!({"messages": [
        {"role": "assistant", "content": [{"type": "tool_use", "id": "t", "name": "Bash", "input": {"command": "pytest -v"}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t", "content": log}]}
    ]}))
    .unwrap();
    let lossless_len = lossless()
        .compress(Shape::AnthropicMessages, &body)
        .body
        .map_or(body.len(), |b| b.len());
    let full = Compressor::new(Mode::Full, Some(dir.clone()));
    let out = full.compress(Shape::AnthropicMessages, &body);
    let new = out.body.expect("a 3000-line log is cut in full mode");
    assert!(
        new.len() < lossless_len / 2,
        "{} vs {lossless_len}",
        new.len()
    );
    assert!(out.report.transforms.contains(&"lossy-cut"));
    let v: Value = serde_json::from_slice(&new).unwrap();
    let text = v["messages"][1]["content"][0]["content"].as_str().unwrap();
    assert!(
        text.contains("test_unicode - AssertionError"),
        "error lines kept"
    );
    assert!(
        text.contains(dir.to_str().unwrap()),
        "marker cites the file"
    );
    assert_eq!(
        headroom_compress::restore(text).unwrap(),
        log,
        "retrievable"
    );
    // Without a retrieve dir, full is lossless.
    let no_dir = Compressor::new(Mode::Full, None).compress(Shape::AnthropicMessages, &body);
    assert_eq!(no_dir.body.map_or(body.len(), |b| b.len()), lossless_len);
    let _ = std::fs::remove_dir_all(&dir);
}

fn tempfile_dir() -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("headroom-compress-test-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}
