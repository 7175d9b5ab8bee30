use super::value::to_min;
use super::*;
use proptest::prelude::*;

/// Two-space pretty printing, as `gh api` / `jq .` show JSON.
fn pretty(v: &Value) -> String {
    fn go(v: &Value, ind: usize, out: &mut String) {
        let pad = |n: usize, out: &mut String| out.extend(std::iter::repeat_n(' ', n));
        match v {
            Value::Array(items) if !items.is_empty() => {
                out.push_str("[\n");
                for (i, x) in items.iter().enumerate() {
                    pad(ind + 2, out);
                    go(x, ind + 2, out);
                    out.push_str(if i + 1 < items.len() { ",\n" } else { "\n" });
                }
                pad(ind, out);
                out.push(']');
            }
            Value::Object(e) if !e.is_empty() => {
                out.push_str("{\n");
                for (i, (k, x)) in e.iter().enumerate() {
                    pad(ind + 2, out);
                    value::write_str(k, out);
                    out.push_str(": ");
                    go(x, ind + 2, out);
                    out.push_str(if i + 1 < e.len() { ",\n" } else { "\n" });
                }
                pad(ind, out);
                out.push('}');
            }
            _ => value::write_min(v, out),
        }
    }
    let mut s = String::new();
    go(v, 0, &mut s);
    s
}

type V = Value<'static>;

fn s(x: &str) -> V {
    Value::String(x.to_owned().into())
}
fn n(x: impl ToString) -> V {
    Value::Number(x.to_string().into())
}
fn obj(e: Vec<(&str, V)>) -> V {
    Value::Object(
        e.into_iter()
            .map(|(k, v)| (k.to_owned().into(), v))
            .collect(),
    )
}

/// Like GitHub's `GET /users/{u}/repos` items (trimmed to the fields that vary in kind).
fn github_repo(i: usize) -> V {
    let login = ["alice", "bob", "carol"][i % 3];
    let name = format!("project-{i}");
    let owner = obj(vec![
        ("login", s(login)),
        ("id", n(1000 + i % 3)),
        ("node_id", s(&format!("MDQ6VXNlcj{}", 1000 + i % 3))),
        (
            "avatar_url",
            s(&format!(
                "https://avatars.githubusercontent.com/u/{}?v=4",
                1000 + i % 3
            )),
        ),
        ("gravatar_id", s("")),
        ("url", s(&format!("https://api.github.com/users/{login}"))),
        ("html_url", s(&format!("https://github.com/{login}"))),
        ("type", s("User")),
        ("site_admin", Value::Bool(false)),
    ]);
    let license = if i.is_multiple_of(4) {
        Value::Null
    } else {
        obj(vec![
            ("key", s("mit")),
            ("name", s("MIT License")),
            ("spdx_id", s("MIT")),
        ])
    };
    obj(vec![
        ("id", n(48_000_000 + i * 7919)),
        (
            "node_id",
            s(&format!("MDEwOlJlcG9zaXRvcnk{}", 48_000_000 + i * 7919)),
        ),
        ("name", s(&name)),
        ("full_name", s(&format!("{login}/{name}"))),
        ("private", Value::Bool(false)),
        ("owner", owner),
        ("html_url", s(&format!("https://github.com/{login}/{name}"))),
        (
            "description",
            if i.is_multiple_of(5) {
                Value::Null
            } else {
                s(&format!("Tools for {name}, fast | small"))
            },
        ),
        ("fork", Value::Bool(i.is_multiple_of(7))),
        (
            "url",
            s(&format!("https://api.github.com/repos/{login}/{name}")),
        ),
        (
            "created_at",
            s(&format!(
                "2021-0{}-1{}T10:2{}:00Z",
                1 + i % 9,
                i % 10,
                i % 6
            )),
        ),
        (
            "updated_at",
            s(&format!("2024-0{}-2{}T08:1{}:33Z", 1 + i % 9, i % 8, i % 6)),
        ),
        (
            "homepage",
            if i.is_multiple_of(3) {
                s("")
            } else {
                Value::Null
            },
        ),
        ("size", n(i * 37 % 5000)),
        ("stargazers_count", n(i * 13 % 400)),
        (
            "language",
            if i.is_multiple_of(6) {
                Value::Null
            } else {
                s(["Rust", "Go", "TypeScript"][i % 3])
            },
        ),
        ("has_issues", Value::Bool(true)),
        ("archived", Value::Bool(false)),
        ("license", license),
        (
            "topics",
            Value::Array(if i.is_multiple_of(2) {
                vec![]
            } else {
                vec![s("cli"), s("rust")]
            }),
        ),
        ("visibility", s("public")),
        ("forks", n(i % 11)),
        ("score", n("1.0")),
        ("default_branch", s("main")),
    ])
}

fn github_search(rows: usize) -> V {
    obj(vec![
        ("total_count", n(rows)),
        ("incomplete_results", Value::Bool(false)),
        ("items", Value::Array((0..rows).map(github_repo).collect())),
    ])
}

fn package_lock(rows: usize) -> V {
    let pkgs = (0..rows)
        .map(|i| {
            let name = format!("node_modules/pkg-{i}");
            let v = obj(vec![
                ("version", s(&format!("{}.{}.{}", i % 5, i % 17, i % 3))),
                (
                    "resolved",
                    s(&format!(
                        "https://registry.npmjs.org/pkg-{i}/-/pkg-{i}-{}.{}.{}.tgz",
                        i % 5,
                        i % 17,
                        i % 3
                    )),
                ),
                (
                    "integrity",
                    s(&format!("sha512-{:x}Qz{:x}w==", i * 2654435761, i * 40503)),
                ),
                ("dev", Value::Bool(true)),
            ]);
            let Value::Object(mut e) = v else {
                unreachable!()
            };
            // Like npm: optional flags and fields on some packages only.
            if i.is_multiple_of(3) {
                e.retain(|(k, _)| k != "dev");
            }
            if i % 4 == 1 {
                e.push(("license".into(), s("MIT")));
            }
            if i % 10 == 7 {
                e.push(("engines".into(), obj(vec![("node", s(">=14"))])));
            }
            (name.into(), Value::Object(e))
        })
        .collect();
    obj(vec![
        ("name", s("headroom-ui")),
        ("lockfileVersion", n(3)),
        ("packages", Value::Object(pkgs)),
    ])
}

fn logs(rows: usize) -> V {
    Value::Array(
        (0..rows)
            .map(|i| {
                obj(vec![
                    (
                        "ts",
                        s(&format!(
                            "2026-12-01T23:{:02}:{:02}.{:03}Z",
                            i / 60 % 60,
                            i % 60,
                            i * 7 % 1000
                        )),
                    ),
                    ("level", s(["info", "info", "warn", "error"][i % 4])),
                    ("target", s("headroom::proxy")),
                    (
                        "msg",
                        s(&format!("forwarded request {i} to upstream\nstatus=200")),
                    ),
                    ("latency_ms", n(format!("{}.{}", i % 90, i % 10))),
                    ("span", obj(vec![("id", n(i / 4)), ("name", s("request"))])),
                    (
                        "error",
                        if i % 9 == 4 {
                            s("upstream timed out")
                        } else {
                            Value::Null
                        },
                    ),
                ])
            })
            .collect(),
    )
}

fn roundtrips(text: &str) -> Option<Encoded> {
    let v = parse(text).expect("test input parses");
    let e = encode(text)?;
    let d = decode(&e.text).expect("decodes");
    assert_eq!(
        parse(&d).as_ref(),
        Some(&v),
        "round trip of {text}\n-> {}",
        e.text
    );
    assert_eq!(encode(text), Some(e.clone()), "deterministic");
    Some(e)
}

// ---- parser ----

#[test]
fn parser_accepts_strict_json() {
    assert_eq!(
        parse(" [1.0, -0, 1e5, 2E-3] \n"),
        Some(Value::Array(vec![n("1.0"), n("-0"), n("1e5"), n("2E-3")]))
    );
    assert_eq!(parse(r#""a\u00e9\ud83d\ude00\n\/""#), Some(s("aé😀\n/")));
    assert_eq!(
        parse(r#"{"a":{},"b":[]}"#),
        Some(obj(vec![("a", obj(vec![])), ("b", Value::Array(vec![]))]))
    );
    assert_eq!(
        to_min(&parse(r#"{"k" : "\u0001\t\"\\é"}"#).unwrap()),
        r#"{"k":"\u0001\t\"\\é"}"#
    );
}

#[test]
fn parser_rejects_non_json() {
    for bad in [
        "",
        " ",
        "{ not json",
        "[1,2] and more",
        r#"{"a":1}{"b":2}"#,
        r#"{"a":1} trailing"#,
        r#"{"a":1,"a":2}"#,
        "[01]",
        "[1.]",
        "[.5]",
        "[+1]",
        "[1e]",
        "[-]",
        r#"["\x"]"#,
        r#"["\ud800"]"#,
        r#"["\udc00x"]"#,
        r#"["\ud800\u0041"]"#,
        "[\"a\nb\"]",
        "[\"\t\"]",
        "[1,]",
        "{\"a\"}",
        "{,}",
        "[true false]",
        "nul",
        "NaN",
        "'a'",
        "{'a':1}",
        "[1]\u{a0}",
        "@table 3 rows; columns: a:int\n1\n2\n3\n@end",
    ] {
        assert_eq!(parse(bad), None, "{bad:?}");
        assert_eq!(encode(bad), None, "{bad:?}");
    }
    let many: String = (0..20).map(|i| format!("\"k{}\":1,", i % 19)).collect();
    assert_eq!(
        parse(&format!("{{{}\"z\":0}}", many)),
        None,
        "duplicate among many keys"
    );
}

#[test]
fn parser_depth_limit() {
    let nest = |d: usize| format!("{}{}", "[".repeat(d), "]".repeat(d));
    assert!(parse(&nest(MAX_DEPTH)).is_some());
    assert_eq!(parse(&nest(MAX_DEPTH + 1)), None);
    assert_eq!(parse(&nest(100_000)), None, "no stack overflow");
    let objs = format!(
        "{}1{}",
        "{\"a\":".repeat(MAX_DEPTH + 1),
        "}".repeat(MAX_DEPTH + 1)
    );
    assert_eq!(parse(&objs), None);
    assert_eq!(decode(&nest(100_000)), None);
}

// ---- goldens ----

#[test]
fn golden_search_result_table() {
    let t = r#"{"total_count":3,"items":[{"id":1,"name":"headroom","private":false,"owner":{"login":"alice","type":"User"}},{"id":2,"name":"tools","private":false,"owner":{"login":"bob","type":"User"}},{"id":3,"name":"null","private":false,"owner":{"login":"c|d","type":"User"}}],"incomplete_results":false}"#;
    let (body, used) = table::render_with(&parse(t).unwrap(), true, true);
    assert!(used.table);
    assert_eq!(
        body,
        r#"{"total_count":3,"items":
@table 3 rows; columns: id:int|name:str|private=false|owner.login:str|owner.type=User
1|headroom|alice
2|tools|bob
3|"null"|"c|d"
@end
,"incomplete_results":false}"#
    );
    assert_eq!(decode(&body).as_deref(), Some(t));
}

#[test]
fn golden_keyed_table() {
    let t = r#"{"lodash":{"version":"4.17.21","dev":true},"react":{"version":"18.2.0","dev":true},"123":{"version":"1","dev":true}}"#;
    let (body, used) = table::render_with(&parse(t).unwrap(), true, true);
    assert!(used.keyed && !used.table);
    assert_eq!(
        body,
        "@object 3 entries; columns: (key)|version:str|dev=true\nlodash|4.17.21\nreact|18.2.0\n123|\"1\"\n@end"
    );
    assert_eq!(decode(&body).as_deref(), Some(t));
}

#[test]
fn golden_tricky_cells() {
    let rows = [
        r#"{"a":"1","b":"true","c":"","d":" x","e":"a\nb","f":[],"g":{},"h":"é 😀","i":"@end","j":null}"#,
        r#"{"a":"x","b":"null","c":"[1]","d":"{","e":"\"q","f":[1,"|"],"g":{"k":1},"h":"plain text","i":"-","j":1.50}"#,
        r#"{"a":"1e3","b":false,"c":"01","d":"|","e":"tab\there","f":[{}],"g":{"k":2},"h":"NaN","i":"x ","j":"1.50"}"#,
    ];
    let t = format!("[{}]", rows.join(","));
    let (body, _) = table::render_with(&parse(&t).unwrap(), true, true);
    let want = [
        "@table 3 rows; columns: a:str|b:mixed|c:str|d:str|e:str|f:arr|g:obj|h:str|i:str|j:mixed",
        r#""1"|"true"|""|" x"|"a\nb"|[]|{}|é 😀|"@end"|null"#,
        r#"x|"null"|"[1]"|"{"|"\"q"|[1,"|"]|{"k":1}|plain text|-|1.50"#,
        r#""1e3"|false|01|"|"|"tab\there"|[{}]|{"k":2}|NaN|"x "|"1.50""#,
        "@end",
    ];
    // g is not flattened: the first row's g is an empty object.
    let want = want.join("\n");
    assert_eq!(body, want);
    assert_eq!(decode(&body).as_deref(), Some(t.as_str()));
}

#[test]
fn golden_nested_flattening_and_refusals() {
    // `m` has a key with a dot: kept as a JSON cell. Keys needing quotes are quoted in the header.
    let t = r#"[{"u":{"n":{"x":1,"y":"a"}},"m":{"a.b":1},"k:1":2,"":3},{"u":{"n":{"x":2,"y":"b"}},"m":{"a.b":2},"k:1":3,"":4},{"u":{"n":{"x":3,"y":"c"}},"m":{"a.b":3},"k:1":4,"":5}]"#;
    let (body, _) = table::render_with(&parse(t).unwrap(), true, true);
    assert_eq!(
        body,
        "@table 3 rows; columns: u.n.x:int|u.n.y:str|m:obj|\"k:1\":int|\"\":int\n1|a|{\"a.b\":1}|2|3\n2|b|{\"a.b\":2}|3|4\n3|c|{\"a.b\":3}|4|5\n@end"
    );
    assert_eq!(decode(&body).as_deref(), Some(t));
}

#[test]
fn golden_absent_keys() {
    let t = r#"[{"a":1,"b":2},{"a":2,"c":"x"},{"b":3,"c":"y"},{"a":4,"b":5,"c":"z"}]"#;
    let (body, _) = table::render_with(&parse(t).unwrap(), true, true);
    assert_eq!(
        body,
        "@table 4 rows; columns: a:int|b:int|c:str\n1|2|\n2||x\n|3|y\n4|5|z\n@end"
    );
    assert_eq!(decode(&body).as_deref(), Some(t));
    // Keys in contradicting orders, or a mostly empty grid: no table.
    for t in [
        r#"[{"a":1,"b":2},{"b":1,"a":2},{"a":1,"b":2}]"#,
        r#"[{"a":1},{"b":1},{"c":1},{"d":1}]"#,
    ] {
        let (body, used) = table::render_with(&parse(t).unwrap(), true, true);
        assert!(!used.table, "{body}");
    }
}

#[test]
fn golden_constant_everything_keeps_one_column() {
    let t = r#"[{"a":1,"b":2},{"a":1,"b":2},{"a":1,"b":2}]"#;
    let (body, _) = table::render_with(&parse(t).unwrap(), true, true);
    assert_eq!(body, "@table 3 rows; columns: a:int|b=2\n1\n1\n1\n@end");
    assert_eq!(decode(&body).as_deref(), Some(t));
}

#[test]
fn golden_long_array_one_element_per_line() {
    let items: Vec<Value> = (0..10)
        .map(|i| Value::Array(vec![n(i), s("some words that take room")]))
        .collect();
    let text = pretty(&Value::Array(items));
    let e = roundtrips(&text).unwrap();
    assert_eq!(e.transforms, vec!["json-lines"]);
    assert!(
        e.text
            .starts_with("[\n[0,\"some words that take room\"],\n[1,"),
        "{}",
        e.text
    );
    assert!(e.text.ends_with("],\n[9,\"some words that take room\"]\n]"));
    assert_eq!(e.text.lines().count(), 12);
    // Plain JSON: any JSON reader takes it.
    assert_eq!(parse(&e.text), parse(&text));
}

#[test]
fn minify_only_when_it_saves() {
    assert_eq!(encode(r#"{"a":1}"#), None, "already minified");
    let e = roundtrips("{\n  \"a\": 1,\n  \"b\": [true, null]\n}").unwrap();
    assert_eq!(e.text, r#"{"a":1,"b":[true,null]}"#);
    assert_eq!(e.transforms, vec!["json-minify"]);
    assert_eq!(decode(r#"{"a" : 1}"#).as_deref(), Some(r#"{"a":1}"#));
}

#[test]
fn realistic_inputs_round_trip_and_save() {
    for (name, v, transform) in [
        ("github", github_search(300), "json-table"),
        ("lock", package_lock(200), "json-keyed-table"),
        ("logs", logs(200), "json-table"),
    ] {
        for text in [pretty(&v), to_min(&v)] {
            let e = roundtrips(&text).unwrap();
            assert!(
                e.transforms.contains(&transform),
                "{name}: {:?}",
                e.transforms
            );
            assert!(e.text.starts_with(LEGEND_TAG));
            let (a, b) = (estimate_tokens(&text), estimate_tokens(&e.text));
            assert!(b < a, "{name}");
        }
    }
}

#[test]
fn github_repos_list_saves_40_percent() {
    let v = Value::Array((0..300).map(github_repo).collect());
    for text in [pretty(&v), to_min(&v)] {
        let e = roundtrips(&text).unwrap();
        let (a, b) = (estimate_tokens(&text), estimate_tokens(&e.text));
        assert!(b * 10 <= a * 6, "{a} -> {b}");
    }
}

#[test]
fn sigil_in_data_is_safe() {
    // Our minified JSON never holds a raw newline, so data cannot fake a block.
    let rows: Vec<Value> = (0..5)
        .map(|i| obj(vec![("t", s(&format!("\n@end\n@table {i} rows")))]))
        .collect();
    roundtrips(&pretty(&Value::Array(rows)));
    assert_eq!(decode("[\n@end\n]"), None);
    assert_eq!(
        decode("[\n@table 2 rows; columns: a:int\n1\n@end\n]"),
        None,
        "row count"
    );
    assert_eq!(
        decode("@table 1 rows; columns: a:int\n1|2\n@end"),
        None,
        "extra cell"
    );
    assert_eq!(
        decode("@table 1 rows; columns: a:int\n\n@end").as_deref(),
        Some("[{}]"),
        "empty cell: key absent"
    );
    assert_eq!(decode("x@table 1 rows; columns: a:int\n1\n@end"), None);
    assert_eq!(
        decode("@table 99999999999999999999999 rows; columns: a:int\n1\n@end"),
        None
    );
    assert_eq!(
        decode("@table 1 rows; columns: a:int\n1\n@end").as_deref(),
        Some(r#"[{"a":1}]"#)
    );
}

#[test]
#[ignore = "prints timings and writes samples to /tmp/headroom-json for token measurement"]
fn timing_and_samples() {
    let dir = std::path::Path::new("/tmp/headroom-json");
    std::fs::create_dir_all(dir).unwrap();
    let mut big = Value::Array((0..1400).map(github_repo).collect());
    for (name, v) in [
        ("github", github_search(300)),
        ("github5", github_search(5)),
        ("github10", github_search(10)),
        ("lock", package_lock(300)),
        ("logs", logs(300)),
        ("big", std::mem::replace(&mut big, Value::Null)),
    ] {
        for (form, text) in [("pretty", pretty(&v)), ("min", to_min(&v))] {
            let t = std::time::Instant::now();
            let e = encode(&text).unwrap();
            let el = t.elapsed();
            println!(
                "{name}-{form}: {} bytes, est {} -> {} tokens, {:?} in {el:?}",
                text.len(),
                estimate_tokens(&text),
                estimate_tokens(&e.text),
                e.transforms
            );
            std::fs::write(dir.join(format!("{name}-{form}.json")), &text).unwrap();
            std::fs::write(dir.join(format!("{name}-{form}.enc")), &e.text).unwrap();
        }
    }
}

// ---- properties ----

/// `parse`, owning the result (proptest's asserts outlive temporaries).
fn po(s: &str) -> Option<V> {
    parse(s).map(Value::into_owned)
}

fn leaf() -> impl Strategy<Value = V> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        prop::sample::select(vec![
            "0",
            "-1",
            "1.0",
            "1e5",
            "-0.5E-3",
            "12345678901234567890",
            "7"
        ])
        .prop_map(n),
        "[a-z|\" \\\\\n\t@{\\[0-9.:=é😀\u{1}-]{0,8}".prop_map(|x: String| Value::String(x.into())),
        prop::sample::select(vec![
            "null", "true", "1", "", " x", "@end", "-", "a|b", "{}"
        ])
        .prop_map(s),
    ]
}

/// A column's shared prefix and suffix, as URL and path columns have (to reach affix templates).
fn affixes() -> impl Strategy<Value = Option<(&'static str, &'static str)>> {
    prop::option::weighted(
        0.5,
        (
            prop::sample::select(vec![
                "https://registry.npmjs.org/x/-/x-",
                "/données/é",
                "a{}b/c{",
                "{{",
                "",
            ]),
            prop::sample::select(vec![".tgz", "", "/forks{/x}", "}", "é"]),
        ),
    )
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "id", "name", "a.b", "k:1", "", "x=y", "@", "(key)", "é"
        ])
        .prop_map(str::to_owned),
        "[a-z.|:\"]{1,4}",
    ]
}

fn dedup(e: Vec<(String, V)>) -> Vec<(std::borrow::Cow<'static, str>, V)> {
    let mut out: Vec<(std::borrow::Cow<'static, str>, V)> = Vec::new();
    for (k, v) in e {
        if !out.iter().any(|(k2, _)| *k2 == k) {
            out.push((k.into(), v));
        }
    }
    out
}

fn json_value() -> impl Strategy<Value = V> {
    leaf().prop_recursive(5, 200, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..10).prop_map(Value::Array),
            prop::collection::vec((key(), inner.clone()), 0..6)
                .prop_map(|e| Value::Object(dedup(e))),
            // Uniform objects, as an array or as an object's values, to reach the table paths.
            (
                prop::collection::vec(key(), 1..5),
                prop::collection::vec(
                    prop::collection::vec(
                        prop::option::weighted(
                            0.85,
                            prop_oneof![
                                2 => inner.clone(),
                                1 => "[0-9a-z.|\"{}é\n-]{0,4}"
                                    .prop_map(|x: String| Value::String(x.into())),
                            ]
                        ),
                        5
                    ),
                    3..9
                ),
                any::<bool>(),
                prop::collection::vec(key(), 9),
                prop::collection::vec(affixes(), 5),
                prop::collection::vec(prop::bool::weighted(0.15), 9),
            )
                .prop_map(|(keys, rows, keyed, rkeys, affixes, rotate)| {
                    let mut keys = keys;
                    keys.sort();
                    keys.dedup();
                    let rows: Vec<Value> = rows
                        .into_iter()
                        .zip(rotate.into_iter().chain(std::iter::repeat(false)))
                        .map(|(cells, rotate)| {
                            let cells =
                                cells.into_iter().zip(&affixes).map(|(c, a)| match (c, a) {
                                    (Some(Value::String(m)), Some((p, x))) => {
                                        Some(Value::String(format!("{p}{m}{x}").into()))
                                    }
                                    (c, _) => c,
                                });
                            let e = keys.iter().cloned().zip(cells);
                            let mut e: Vec<_> =
                                e.filter_map(|(k, v)| Some((k.into(), v?))).collect();
                            // Rows whose key order differs (no column order or a merged one).
                            if rotate && !e.is_empty() {
                                e.rotate_left(1);
                            }
                            Value::Object(e)
                        })
                        .collect();
                    if keyed {
                        Value::Object(dedup(rkeys.into_iter().zip(rows).collect()))
                    } else {
                        Value::Array(rows)
                    }
                }),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn prop_minified_reparses(v in json_value()) {
        prop_assert_eq!(po(&to_min(&v)), Some(v.clone()));
        prop_assert_eq!(po(&pretty(&v)), Some(v));
    }

    #[test]
    fn prop_encode_round_trips(v in json_value(), pretty_input: bool) {
        let text = if pretty_input { pretty(&v) } else { to_min(&v) };
        if let Some(e) = encode(&text) {
            let d = decode(&e.text);
            prop_assert_eq!(d.as_deref().and_then(po), Some(v.clone()));
        }
        // The table writer itself must round-trip, whether or not it is cheaper.
        let (body, _) = table::render_with(&v, true, true);
        prop_assert_eq!(decode(&body).as_deref().and_then(po), Some(v));
    }

    #[test]
    fn prop_rejects_trailing_and_duplicates(v in json_value(), k in key()) {
        let t = to_min(&v);
        prop_assert_eq!(po(&format!("{t} trailing")), None);
        prop_assert_eq!(po(&format!("{t} {t}")), None);
        let mut dk = String::new();
        value::write_str(&k, &mut dk);
        prop_assert_eq!(po(&format!("{{{dk}:{t},{dk}:1}}")), None);
    }

    #[test]
    fn prop_mutated_encodings_never_panic(
        v in json_value(),
        at in any::<prop::sample::Index>(),
        op in 0..4usize,
        c in prop::sample::select(vec!['|', '\n', '"', '@', '=', '.', ':', '\\', 'é']),
    ) {
        let (body, _) = table::render_with(&v, true, true);
        let mut chars: Vec<char> = body.chars().collect();
        if !chars.is_empty() {
            let i = at.index(chars.len());
            match op {
                0 => chars.truncate(i),
                1 => { chars.remove(i); }
                2 => chars.insert(i, c),
                _ => chars[i] = c,
            }
        }
        let m: String = chars.into_iter().collect();
        if let Some(d) = decode(&m) {
            // Whatever decodes is JSON (duplicate keys aside, which only a forged text has).
            let _ = parse(&d);
        }
    }

    #[test]
    fn prop_never_panics(text in "[\\[\\]{}\",:0-9a-z@|\n .\\\\-]{0,60}") {
        let _ = encode(&text);
        let _ = decode(&text);
    }
}

#[test]
#[ignore = "timing breakdown"]
fn timing_breakdown() {
    let text = match std::env::var("HEADROOM_JSON_FILES") {
        Ok(f) => std::fs::read_to_string(f.trim()).unwrap(),
        Err(_) => to_min(&Value::Array((0..1400).map(github_repo).collect())),
    };
    let t = std::time::Instant::now();
    let v = parse(&text).unwrap();
    println!("parse {:?}", t.elapsed());
    let t = std::time::Instant::now();
    let sv: serde_json::Value = serde_json::from_str(&text).unwrap();
    println!("serde_json parse (reference) {:?}", t.elapsed());
    drop(sv);
    let t = std::time::Instant::now();
    let m = to_min(&v);
    println!("to_min {:?}", t.elapsed());
    let t = std::time::Instant::now();
    let k = estimate_tokens(&m);
    println!("estimate {:?} {k}", t.elapsed());
    let t = std::time::Instant::now();
    let (b, _) = table::render(&v, true);
    println!("render tables {:?}", t.elapsed());
    let t = std::time::Instant::now();
    let (p, _) = table::render(&v, false);
    println!("render plain {:?}", t.elapsed());
    let t = std::time::Instant::now();
    estimate_tokens(&p);
    println!("estimate plain {:?}", t.elapsed());
    let t = std::time::Instant::now();
    let d = decode_value(&b).unwrap();
    println!("decode {:?}", t.elapsed());
    let t = std::time::Instant::now();
    assert!(d == v);
    println!("eq {:?}", t.elapsed());
}

#[test]
fn golden_log_records_full_output() {
    let text = pretty(&logs(6));
    let e = roundtrips(&text).unwrap();
    assert_eq!(e.transforms, vec!["json-table"]);
    let want = format!(
        "{LEGEND}{LEGEND_AFFIX}]\n{}",
        r#"@table 6 rows; columns: ts:str="2026-12-01T23:00:{}Z"|level:str|target=headroom::proxy|msg:str="forwarded {} to upstream\nstatus=200"|latency_ms:num|span.id:int|span.name=request|error:str?
00.000|info|request 0|0.0|0|null
01.007|info|request 1|1.1|0|null
02.014|warn|request 2|2.2|0|null
03.021|error|request 3|3.3|0|null
04.028|info|request 4|4.4|1|upstream timed out
05.035|info|request 5|5.5|1|null
@end"#
    );
    assert_eq!(e.text, want);
}

#[test]
#[ignore = "encodes the files in $HEADROOM_JSON_FILES (space separated) into $file.enc"]
fn encode_files() {
    let files = std::env::var("HEADROOM_JSON_FILES").unwrap_or_default();
    for f in files.split_whitespace() {
        let text = std::fs::read_to_string(f).unwrap();
        let t = std::time::Instant::now();
        let e = encode(&text);
        let el = t.elapsed();
        let out = e.as_ref().map_or(text.as_str(), |e| e.text.as_str());
        let tr = e.as_ref().map(|e| e.transforms.clone());
        println!("{f}: {} -> {} bytes, {tr:?}, {el:?}", text.len(), out.len());
        std::fs::write(format!("{f}.enc"), out).unwrap();
    }
}

#[test]
fn golden_quoted_nested_segments() {
    let t = r#"[{"o":{"k:1":1,"a b":"x","":null}},{"o":{"k:1":2,"a b":"y","":null}},{"o":{"k:1":3,"a b":"z","":true}}]"#;
    let (body, _) = table::render_with(&parse(t).unwrap(), true, true);
    assert_eq!(
        body,
        "@table 3 rows; columns: o.\"k:1\":int|o.a b:str|o.\"\":bool?\n1|x|null\n2|y|null\n3|z|true\n@end"
    );
    assert_eq!(decode(&body).as_deref(), Some(t));
}

// ---- affix templates ----

/// Like `GET https://registry.npmjs.org/semver`: versions keyed by version, tarball URLs.
fn npm_registry(rows: usize) -> V {
    let versions = (0..rows)
        .map(|i| {
            let ver = format!("{}.{}.{}", i / 4, i % 4, i % 2);
            let v = obj(vec![
                ("name", s("semver")),
                ("version", s(&ver)),
                (
                    "dist",
                    obj(vec![
                        (
                            "shasum",
                            s(&format!(
                                "{:016x}",
                                (i as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15)
                            )),
                        ),
                        (
                            "tarball",
                            s(&format!(
                                "https://registry.npmjs.org/semver/-/semver-{ver}.tgz"
                            )),
                        ),
                    ]),
                ),
            ]);
            (ver.into(), v)
        })
        .collect();
    obj(vec![
        ("_id", s("semver")),
        ("versions", Value::Object(versions)),
    ])
}

#[test]
fn golden_affix_npm_registry_tarballs() {
    let v = npm_registry(4);
    let t = to_min(&v);
    let (body, used) = table::render(&v, true);
    assert!(used.keyed && used.affix, "{body}");
    assert_eq!(
        body,
        "{\"_id\":\"semver\",\"versions\":\n@object 4 entries; columns: (key)|name=semver|version:str|dist.shasum:str|dist.tarball:str=\"https://registry.npmjs.org/semver/-/semver-{}.tgz\"\n0.0.0|0.0.0|9e3779b97f4a7c15|0.0.0\n0.1.1|0.1.1|3c6ef372fe94f82a|0.1.1\n0.2.0|0.2.0|daa66d2c7ddf743f|0.2.0\n0.3.1|0.3.1|78dde6e5fd29f054|0.3.1\n@end\n}"
    );
    assert_eq!(decode(&body).as_deref(), Some(t.as_str()));
    let e = roundtrips(&pretty(&npm_registry(40))).unwrap();
    assert!(e.text.contains(LEGEND_AFFIX), "{}", e.text);
}

/// Like GitHub's `GET /repos/{o}/{r}/forks` items: many `*_url` columns around owner/name.
fn github_urls(i: usize) -> V {
    let full = format!("{}/tool-{i}", ["alice", "bob", "carol"][i % 3]);
    let api = format!("https://api.github.com/repos/{full}");
    obj(vec![
        ("id", n(1000 + i)),
        ("full_name", s(&full)),
        ("html_url", s(&format!("https://github.com/{full}"))),
        ("forks_url", s(&format!("{api}/forks"))),
        ("keys_url", s(&format!("{api}/keys{{/key_id}}"))),
        ("tags_url", s(&format!("{api}/tags"))),
        ("issues_url", s(&format!("{api}/issues{{/number}}"))),
        ("clone_url", s(&format!("https://github.com/{full}.git"))),
    ])
}

#[test]
fn golden_affix_github_url_columns() {
    let v = Value::Array((0..4).map(github_urls).collect());
    let t = to_min(&v);
    let (body, used) = table::render(&v, true);
    assert!(used.table && used.affix, "{body}");
    assert_eq!(
        body,
        "@table 4 rows; columns: id:int|full_name:str|html_url:str=\"https://github.com/{}\"|forks_url:str=\"https://api.github.com/repos/{}/forks\"|keys_url:str=\"https://api.github.com/repos/{}/keys{/key_id}\"|tags_url:str=\"https://api.github.com/repos/{}/tags\"|issues_url:str=\"https://api.github.com/repos/{}/issues{/number}\"|clone_url:str=\"https://github.com/{}.git\"\n1000|alice/tool-0|alice/tool-0|alice/tool-0|alice/tool-0|alice/tool-0|alice/tool-0|alice/tool-0\n1001|bob/tool-1|bob/tool-1|bob/tool-1|bob/tool-1|bob/tool-1|bob/tool-1|bob/tool-1\n1002|carol/tool-2|carol/tool-2|carol/tool-2|carol/tool-2|carol/tool-2|carol/tool-2|carol/tool-2\n1003|alice/tool-3|alice/tool-3|alice/tool-3|alice/tool-3|alice/tool-3|alice/tool-3|alice/tool-3\n@end"
    );
    assert_eq!(decode(&body).as_deref(), Some(t.as_str()));
}

#[test]
fn golden_affix_refusals_and_tricky_middles() {
    // One row lacks the prefix: no template for `u`; `w` keeps its template around nulls and
    // absent cells; middles that read as numbers or literals are quoted.
    let t = r#"[{"u":"https://example.com/a/0","w":"https://example.com/v/1.0.0/x.tgz"},{"u":"http://example.com/a/1","w":null},{"u":"https://example.com/a/2"},{"u":"https://example.com/a/3","w":"https://example.com/v/123/x.tgz"},{"u":"https://example.com/a/4","w":"https://example.com/v/null/x.tgz"},{"u":"https://example.com/a/5","w":"https://example.com/v/2.1.3/x.tgz"},{"u":"https://example.com/a/6","w":"https://example.com/v//x.tgz"},{"u":"https://example.com/a/7","w":"https://example.com/v/3.2.1/x.tgz"},{"u":"https://example.com/a/8","w":"https://example.com/v/0.9.4/x.tgz"},{"u":"https://example.com/a/9","w":"https://example.com/v/4.4.2/x.tgz"}]"#;
    let (body, _) = table::render_with(&parse(t).unwrap(), true, true);
    assert_eq!(
        body,
        "@table 10 rows; columns: u:str|w:str?=\"https://example.com/v/{}/x.tgz\"\nhttps://example.com/a/0|1.0.0\nhttp://example.com/a/1|null\nhttps://example.com/a/2|\nhttps://example.com/a/3|\"123\"\nhttps://example.com/a/4|\"null\"\nhttps://example.com/a/5|2.1.3\nhttps://example.com/a/6|\"\"\nhttps://example.com/a/7|3.2.1\nhttps://example.com/a/8|0.9.4\nhttps://example.com/a/9|4.4.2\n@end"
    );
    assert_eq!(decode(&body).as_deref(), Some(t));
}

#[test]
fn golden_affix_unicode() {
    // Common bytes end inside "é"/"è" (both start with 0xC3): the affixes stop before them.
    let rows: Vec<String> = (0..6)
        .map(|i| {
            let c = ["é", "è"][i % 2];
            format!(
                r#"{{"p":"/données/équipe/rapport-{c}{i}.txt","q":"Änderungsprotokoll{c}{i}"}}"#
            )
        })
        .collect();
    let t = format!("[{}]", rows.join(","));
    let (body, _) = table::render_with(&parse(&t).unwrap(), true, true);
    assert_eq!(
        body,
        "@table 6 rows; columns: p:str=\"/données/équipe/rapport-{}.txt\"|q:str=\"Änderungsprotokoll{}\"\né0|é0\nè1|è1\né2|é2\nè3|è3\né4|é4\nè5|è5\n@end"
    );
    assert_eq!(decode(&body).as_deref(), Some(t.as_str()));
}

#[test]
fn prop_generator_reaches_affix_templates() {
    use proptest::strategy::ValueTree;
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let hits = (0..300)
        .filter(|_| {
            let v = json_value().new_tree(&mut runner).unwrap().current();
            table::render_with(&v, true, true).1.affix
        })
        .count();
    assert!(hits >= 10, "{hits} of 300 generated values use a template");
    println!("{hits} of 300");
}

// ---- merged key orders ----

/// Like the `versions` of `GET https://registry.npmjs.org/semver`: optional keys (`tap`,
/// `engines`, `author`) first seen in an order that a later row refines, nested objects whose
/// keys differ per row.
fn npm_versions(rows: usize) -> V {
    let versions = (0..rows)
        .map(|i| {
            let ver = format!("1.{i}.0");
            let mut e = vec![("name", s("s")), ("version", s(&ver))];
            let scripts = if i % 3 == 1 {
                obj(vec![("test", s("tap")), ("lint", s("eslint"))])
            } else {
                obj(vec![("test", s("tap"))])
            };
            e.push(("scripts", scripts));
            if i % 4 != 0 {
                let tap = if i % 2 == 0 {
                    obj(vec![("check", Value::Bool(true))])
                } else {
                    obj(vec![("timeout", n(30))])
                };
                e.push(("tap", tap));
            }
            if i % 4 >= 2 {
                e.push(("engines", obj(vec![("node", s(">=10"))])));
            }
            if i % 4 == 1 || i % 4 == 3 {
                e.push(("author", s("GitHub Inc.")));
            }
            e.push(("_id", s(&format!("s@{ver}"))));
            (ver.into(), obj(e))
        })
        .collect();
    obj(vec![("_id", s("s")), ("versions", Value::Object(versions))])
}

#[test]
fn golden_merged_key_order_npm_versions() {
    // Row 1 puts `author` right after `tap`, row 2 `engines` after `tap`, row 3 `author` after
    // `engines`: the columns follow the merged order; differing nested objects stay JSON cells.
    let v = npm_versions(4);
    let t = to_min(&v);
    let (body, used) = table::render_with(&v, true, true);
    assert!(used.keyed && used.merged && used.sparse, "{body}");
    assert_eq!(
        body,
        "{\"_id\":\"s\",\"versions\":\n@object 4 entries; columns: (key)|name=s|version:str|scripts:obj|tap:obj|engines:obj|author:str|_id:str\n1.0.0|1.0.0|{\"test\":\"tap\"}||||s@1.0.0\n1.1.0|1.1.0|{\"test\":\"tap\",\"lint\":\"eslint\"}|{\"timeout\":30}||GitHub Inc.|s@1.1.0\n1.2.0|1.2.0|{\"test\":\"tap\"}|{\"check\":true}|{\"node\":\">=10\"}||s@1.2.0\n1.3.0|1.3.0|{\"test\":\"tap\"}|{\"timeout\":30}|{\"node\":\">=10\"}|GitHub Inc.|s@1.3.0\n@end\n}"
    );
    assert_eq!(decode(&body).as_deref(), Some(t.as_str()));
    let e = roundtrips(&pretty(&npm_versions(40))).unwrap();
    assert!(e.transforms.contains(&"json-keyed-table"), "{}", e.text);
}

#[test]
fn golden_inconsistent_key_orders_stay_json() {
    // `a` before `b`, then `b` before `a`: no column order fits, so the rows stay JSON.
    let t = r#"[{"a":1,"b":2},{"b":3,"a":4},{"a":5,"b":6}]"#;
    let (body, used) = table::render_with(&parse(t).unwrap(), true, true);
    assert!(!used.table, "{body}");
    assert_eq!(body, t);
}

#[test]
fn prop_generator_reaches_merged_key_orders() {
    use proptest::strategy::ValueTree;
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let hits = (0..1000)
        .filter(|_| {
            let v = json_value().new_tree(&mut runner).unwrap().current();
            table::render_with(&v, true, true).1.merged
        })
        .count();
    assert!(
        hits >= 5,
        "{hits} of 1000 generated values merge key orders"
    );
    println!("{hits} of 1000");
}
