use super::*;
use proptest::prelude::*;

fn check(input: &str) -> Option<Encoded> {
    let enc = encode(input);
    if let Some(e) = &enc {
        assert_eq!(
            decode(&e.text),
            strip_ansi(input),
            "round trip of {input:?}"
        );
        assert!(estimate_tokens(&e.text) < estimate_tokens(input));
    }
    enc
}

fn saved_pct(input: &str, e: &Encoded) -> f64 {
    100.0 * (1.0 - estimate_tokens(&e.text) as f64 / estimate_tokens(input) as f64)
}

fn grep_rn() -> String {
    let mut s = String::new();
    let files = [
        ("crates/proxy/src/handler.rs", 9),
        ("crates/proxy/src/upstream/anthropic.rs", 6),
        ("crates/compress/src/request.rs", 4),
        ("README.md", 1),
        ("crates/proxy/tests/e2e_streaming.rs", 7),
    ];
    let mut k = 0;
    for (f, n) in files {
        for _ in 0..n {
            let name = NAMES[k % NAMES.len()];
            s.push_str(&format!(
                "{f}:{}:    let {name} = Compressor::new(mode).rewrite(&{name}_req)?;\n",
                12 + k * 17
            ));
            k += 1;
        }
    }
    s
}

#[test]
fn grep_golden() {
    let input = "src/a/handler.rs:12:use crate::config::Config;\n\
                 src/a/handler.rs:48:    let cfg = Config::load()?;\n\
                 src/a/handler.rs:97:        Config::default()\n\
                 src/a/handler.rs:130:    // Config is cloned per request\n\
                 src/a/handler.rs:131:    let c = cfg.clone();\n\
                 src/a/handler.rs:140:    let d = Config::merge(c, env);\n\
                 src/a/handler.rs:152:    Config::validate(&d)?;\n\
                 src/config.rs:3:pub struct Config {\n\
                 src/main.rs:7:    let config = Config::from_env();\n";
    let e = check(input).expect("grep output groups");
    assert_eq!(e.transforms, vec!["grep-group"]);
    let body: Vec<&str> = e.text.lines().skip(1).collect();
    assert_eq!(
        body,
        [
            "@file src/a/handler.rs",
            "12:use crate::config::Config;",
            "48:    let cfg = Config::load()?;",
            "97:        Config::default()",
            "130:    // Config is cloned per request",
            "131:    let c = cfg.clone();",
            "140:    let d = Config::merge(c, env);",
            "152:    Config::validate(&d)?;",
            "src/config.rs:3:pub struct Config {",
            "src/main.rs:7:    let config = Config::from_env();",
        ]
    );
    assert!(e.text.starts_with(LEGEND_START));
    assert!(e.text.lines().next().unwrap().contains("\"@file P\""));
    assert!(!e.text.lines().next().unwrap().contains("@prefix"));

    let big = grep_rn();
    let e = check(&big).unwrap();
    assert_eq!(e.transforms, vec!["grep-group"]);
    assert_eq!(
        e.text.lines().filter(|l| l.starts_with("@file ")).count(),
        4,
        "{}",
        e.text
    );
    eprintln!("grep -rn: {:.0}% saved", saved_pct(&big, &e));
}

#[test]
fn grep_context_lines() {
    let input = "src/lib.rs-10-// before\n\
                 src/lib.rs:11:fn target() {}\n\
                 src/lib.rs-12-// after\n\
                 --\n\
                 src/lib.rs-40-// before again\n\
                 src/lib.rs:41:    target();\n\
                 src/lib.rs-42-}\n\
                 --\n\
                 src/my-mod.rs-3-use x;\n\
                 src/my-mod.rs:4:    target();\n\
                 src/my-mod.rs-5-\n";
    let mut input = input.to_owned();
    for k in 0..4 {
        input.push_str(&format!(
            "--\ncrates/proxy/src/server.rs-{0}-    // handle\ncrates/proxy/src/server.rs:{1}:    target();\ncrates/proxy/src/server.rs-{2}-    Ok(())\n",
            k * 50 + 1,
            k * 50 + 2,
            k * 50 + 3
        ));
    }
    let e = check(&input).expect("grep -C output groups");
    let body: Vec<&str> = e.text.lines().skip(1).take(14).collect();
    assert_eq!(
        body,
        [
            "@file src/lib.rs",
            "10-// before",
            "11:fn target() {}",
            "12-// after",
            "--",
            "40-// before again",
            "41:    target();",
            "42-}",
            "--",
            "@file src/my-mod.rs",
            "3-use x;",
            "4:    target();",
            "5-",
            "--",
        ]
    );
    assert_eq!(
        e.text.lines().nth(15).unwrap(),
        "@file crates/proxy/src/server.rs"
    );
}

#[test]
fn repeat_and_template_golden() {
    let mut input = String::from("Collecting numpy\n");
    for p in [10, 20, 30, 40, 50, 60, 70, 80, 90, 100] {
        input.push_str(&format!("Downloading numpy {p}% of 120 MB\n"));
    }
    for _ in 0..6 {
        input.push_str("warning: unused import: `std::io`\n");
    }
    input.push_str("Successfully installed numpy-1.26.4");
    let e = check(&input).unwrap();
    assert_eq!(e.transforms, vec!["repeat-collapse", "template-collapse"]);
    let body: Vec<&str> = e.text.lines().skip(1).collect();
    assert_eq!(
        body,
        [
            "Collecting numpy",
            "@10× Downloading numpy {}% of 120 MB | 10..100 by 10",
            "@6× warning: unused import: `std::io`",
            "Successfully installed numpy-1.26.4",
        ]
    );
    assert!(!e.text.ends_with('\n'));
    assert!(e.text.lines().next().unwrap().contains("\"A..B by S\""));
    // Values that do not count up evenly are listed.
    let input: String = [3, 17, 42, 42, 88, 100]
        .iter()
        .map(|p| format!("Receiving objects: {p}% (1234/5678), 2.1 MiB | 3.4 MiB/s\n"))
        .collect();
    let e = check(&input).unwrap();
    assert_eq!(
        e.text.lines().nth(1).unwrap(),
        "@6× Receiving objects: {}% (1234/5678), 2.1 MiB | 3.4 MiB/s | 3,17,42,42,88,100"
    );
    assert!(!e.text.contains(".."));
}

#[test]
fn template_needs_only_numbers_to_differ() {
    // `test a::b ... ok` lines differ in text: no template.
    let tests: String = ["alpha", "beta", "gamma", "delta", "eps"]
        .iter()
        .map(|t| format!("test proxy::tests::{t} ... ok\n"))
        .collect();
    assert!(encode(&tests).is_none_or(|e| !e.transforms.contains(&"template-collapse")));
    // Several holes, decimals, constant numbers stay literal.
    let input: String = (1..=6)
        .map(|k| {
            format!(
                "[{k}/6] Building CXX object src/CMakeFiles/core.dir/unit{}.cpp.o (took {}.{}s)\n",
                k * 3,
                k,
                k * 7
            )
        })
        .collect();
    let e = check(&input).unwrap();
    assert_eq!(e.transforms, vec!["template-collapse"]);
    assert!(
        e.text
            .lines()
            .next()
            .unwrap()
            .contains("\"/\" between values")
    );
    assert_eq!(
        e.text.lines().nth(1).unwrap(),
        "@6× [{}/6] Building CXX object src/CMakeFiles/core.dir/unit{}.cpp.o (took {}s) | 1/3/1.7,2/6/2.14,3/9/3.21,4/12/4.28,5/15/5.35,6/18/6.42"
    );
}

const NAMES: [&str; 24] = [
    "serde",
    "tokio",
    "hyper",
    "bytes",
    "http",
    "mio",
    "libc",
    "memchr",
    "itoa",
    "ryu",
    "log",
    "regex",
    "anyhow",
    "thiserror",
    "tracing",
    "futures",
    "pin-project",
    "socket2",
    "slab",
    "smallvec",
    "once_cell",
    "cfg-if",
    "proc-macro2",
    "quote",
];

fn cargo_log() -> String {
    let mut s = String::new();
    s.push_str("    Updating crates.io index\n");
    for (k, name) in NAMES.iter().enumerate() {
        s.push_str(&format!("  Downloaded {name} v1.0.{}\n", 100 + k * 7));
    }
    for (k, name) in NAMES.iter().enumerate() {
        s.push_str(&format!("   Compiling {name} v0.{}.3\n", k % 7));
    }
    for _ in 0..12 {
        s.push_str("warning: `headroom-proxy` (lib) generated 1 warning\n");
    }
    s.push_str("    Finished `dev` profile [unoptimized + debuginfo] target(s) in 41.87s\n");
    s
}

#[test]
fn cargo_build_log() {
    let log = cargo_log();
    let e = check(&log).unwrap();
    assert!(
        e.transforms.contains(&"repeat-collapse"),
        "{:?}",
        e.transforms
    );
    assert!(
        e.transforms.contains(&"prefix-factor"),
        "{:?}",
        e.transforms
    );
    eprintln!(
        "cargo build: {:.0}% saved {:?}",
        saved_pct(&log, &e),
        e.transforms
    );
}

fn pip_log() -> String {
    let mut s = String::new();
    for pkg in [
        "requests",
        "urllib3",
        "idna",
        "certifi",
        "charset-normalizer",
    ] {
        s.push_str(&format!("Collecting {pkg}\n"));
        for p in (0..=100).step_by(10) {
            s.push_str(&format!(
                "  Downloading {pkg}-2.31.0-py3-none-any.whl ({p}/62 kB)\n"
            ));
        }
    }
    for pkg in [
        "pip",
        "setuptools",
        "wheel",
        "six",
        "packaging",
        "pyparsing",
    ] {
        s.push_str(&format!(
            "Requirement already satisfied: {pkg} in /usr/lib/python3/dist-packages (from -r requirements.txt (line 3))\n"
        ));
    }
    s.push_str(
        "Installing collected packages: urllib3, idna, certifi, charset-normalizer, requests\n",
    );
    s
}

#[test]
fn pip_install_log() {
    let log = pip_log();
    let e = check(&log).unwrap();
    assert!(e.transforms.contains(&"template-collapse"));
    assert!(e.transforms.contains(&"prefix-factor"));
    assert!(
        e.text
            .contains("@prefix 6 \"Requirement already satisfied: \""),
        "{}",
        e.text
    );
    eprintln!(
        "pip install: {:.0}% saved {:?}",
        saved_pct(&log, &e),
        e.transforms
    );
}

fn npm_log() -> String {
    let mut s = String::new();
    for k in 0..8 {
        s.push_str(&format!(
            "\x1b[37;40mnpm\x1b[0m \x1b[0m\x1b[30;43mWARN\x1b[0m \x1b[0m\x1b[35mdeprecated\x1b[0m pkg{k}@1.0.{k}: this library is no longer supported\n"
        ));
    }
    s.push_str("\n\x1b[1madded 1274 packages\x1b[22m, and audited 1275 packages in 21s\n\n");
    s.push_str(
        "\x1b[1m148\x1b[22m packages are looking for funding\n  run `npm fund` for details\n\n",
    );
    s.push_str("\x1b[31m\x1b[1m2\x1b[22m\x1b[39m \x1b[1mhigh\x1b[22m severity vulnerabilities\n");
    s
}

#[test]
fn npm_install_with_ansi() {
    let log = npm_log();
    let e = check(&log).unwrap();
    assert_eq!(e.transforms[0], "ansi-strip");
    assert!(!e.text.contains('\x1b'));
    eprintln!(
        "npm install: {:.0}% saved {:?}",
        saved_pct(&log, &e),
        e.transforms
    );
    // ANSI alone: emitted without a legend.
    let e = check("\x1b[32mok\x1b[0m 3 tests passed\n").unwrap();
    assert_eq!(e.text, "ok 3 tests passed\n");
    assert_eq!(e.transforms, vec!["ansi-strip"]);
}

fn ls_lr() -> String {
    let mut s = String::new();
    for dir in ["./src", "./src/text", "./tests"] {
        s.push_str(&format!("{dir}:\ntotal 96\n"));
        s.push_str("drwxr-xr-x 2 root root  4096 Dec  1 23:10 .\n");
        s.push_str("drwxr-xr-x 5 root root  4096 Dec  1 23:10 ..\n");
        for (k, name) in NAMES[..9].iter().enumerate() {
            s.push_str(&format!(
                "-rw-r--r-- 1 root root {:>5} Dec  1 23:{:02} {name}.rs\n",
                1000 + k * 731,
                k * 5
            ));
        }
        s.push('\n');
    }
    s
}

#[test]
fn ls_lr_listing() {
    let ls = ls_lr();
    let e = check(&ls).unwrap();
    assert!(
        e.transforms.contains(&"prefix-factor"),
        "{:?}",
        e.transforms
    );
    assert!(
        e.text.contains("@prefix 9 \"-rw-r--r-- 1 root root "),
        "{}",
        e.text
    );
    assert!(e.text.ends_with("\n\n"));
    eprintln!(
        "ls -lR: {:.0}% saved {:?}",
        saved_pct(&ls, &e),
        e.transforms
    );
}

fn find_out() -> String {
    let mut s = String::from(".\n./package.json\n");
    for (dir, files) in [
        ("./node_modules/@babel/core/lib/config/", 12),
        ("./node_modules/@babel/parser/lib/", 5),
        ("./src/components/", 8),
    ] {
        for name in &NAMES[..files] {
            s.push_str(&format!("{dir}{name}.js\n"));
        }
    }
    s
}

#[test]
fn find_listing() {
    let f = find_out();
    let e = check(&f).unwrap();
    assert!(
        e.text
            .contains("@prefix 12 \"./node_modules/@babel/core/lib/config/\""),
        "{}",
        e.text
    );
    assert!(e.text.contains("@prefix 8 \"./src/components/\""));
    // Nested blocks: the shared "./node_modules/@babel/" is stated once around both.
    let mut nested = String::new();
    for sub in ["core/lib/config/", "parser/lib/", "types/lib/definitions/"] {
        for name in &NAMES[..6] {
            nested.push_str(&format!("./node_modules/@babel/{sub}{name}.js\n"));
        }
    }
    let e = check(&nested).unwrap();
    let body: Vec<&str> = e.text.lines().skip(1).take(3).collect();
    assert_eq!(
        body,
        [
            "@prefix 18 \"./node_modules/@babel/\"",
            "@prefix 6 \"core/lib/config/\"",
            "serde.js"
        ]
    );
    assert!(
        e.text
            .lines()
            .next()
            .unwrap()
            .contains("counted after expanding")
    );
    eprintln!("find: {:.0}% saved {:?}", saved_pct(&f, &e), e.transforms);
}

#[test]
fn nothing_to_do() {
    assert!(encode("").is_none());
    assert!(encode("hello\n").is_none());
    assert!(encode("a\nb\nc\nd\n").is_none());
    assert_eq!(decode("plain text\nmore"), "plain text\nmore");
    // Input that already looks like our shorthand is left alone (or still round-trips).
    let tricky = "[headroom: lossless shorthand. \"@N× L\" = line L N times]\n@3× x\n";
    assert!(check(tricky).is_none());
}

#[test]
fn crlf_and_trailing_newlines() {
    for end in ["", "\n", "\r\n"] {
        let mut s = String::new();
        for k in 0..8 {
            s.push_str(&format!("Downloading part {k} of 8\r\n"));
        }
        s.push_str("done");
        s.push_str(end);
        check(&s);
    }
    let s = "x\n\n\n\n\n\n\ny";
    check(s);
}

#[test]
fn directive_lookalikes_in_the_input_cannot_blow_up() {
    let mut s = "same line\n".repeat(50);
    s.push_str("@9999999× aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n");
    let t = std::time::Instant::now();
    assert!(check(&s).is_none());
    assert!(t.elapsed() < std::time::Duration::from_secs(1));
    let mut s = "same line\n".repeat(50);
    s.push_str(&format!("@prefix 99999 \"{}\"\n", "p".repeat(10_000)));
    s.push_str(&"x\n".repeat(2000));
    // Only repeat-collapse is in the legend: the look-alike line stays literal.
    assert!(check(&s).is_some());
    for k in 0..6 {
        s.push_str(&format!(
            "-rw-r--r-- 1 root root 4096 Dec  1 2{k}:00 file{k}\n"
        ));
    }
    let t = std::time::Instant::now();
    assert!(check(&s).is_none_or(|e| !e.transforms.contains(&"prefix-factor")));
    assert!(t.elapsed() < std::time::Duration::from_secs(1));
}

#[test]
fn never_panics_on_odd_input() {
    for s in [
        "@file \n1:2\n",
        "@5× {} | 1,2\n",
        "@0× x",
        "@99999999999× x",
        "@prefix 3 \"",
        "\u{1b}",
        "é:1:x\né:2:y\né:3:z",
        "a:1:é\na:2:é\n12:x",
    ] {
        let _ = decode(&format!(
            "{}\n{s}",
            Used {
                grep: true,
                repeat: true,
                template: true,
                prefix: true,
                ..Used::default()
            }
            .legend()
        ));
        check(s);
    }
}

fn piece() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "a",
        "b",
        "x y",
        "1",
        "23",
        "7.5",
        ":",
        "-",
        " ",
        "@",
        "×",
        "{}",
        " | ",
        "@file ",
        "@3× ",
        "@prefix 4 \"",
        "\"",
        "--",
        ",",
        "/",
        ".",
        "é",
        "\r",
        "\x1b[31m",
        "\x1b[0m",
        "\x1b]0;t\x07",
        "\x1b",
        "src/a.rs:",
        "src/a.rs-",
        "12:",
        "3-",
        "-rw-r--r-- 1 root root ",
    ])
}

fn line() -> impl Strategy<Value = String> {
    prop::collection::vec(piece(), 0..6).prop_map(|v| v.concat())
}

/// Lines drawn from a small pool (so runs, templates and groups occur), some with a number.
fn doc() -> impl Strategy<Value = String> {
    (
        prop::collection::vec(line(), 1..5),
        prop::collection::vec((0usize..5, 0u32..4, 0u8..4, 1usize..7), 0..60),
        prop::bool::ANY,
    )
        .prop_map(|(pool, picks, trailing)| {
            let mut lines = Vec::new();
            for (idx, num, kind, run) in picks {
                for r in 0..run {
                    let mut l = String::new();
                    if kind == 1 {
                        // grep -n / -C lines of two files
                        let sep = if r % 3 == 2 { '-' } else { ':' };
                        l.push_str(&format!(
                            "src/f{}.rs{sep}{}{sep}",
                            idx % 2,
                            num as usize + r
                        ));
                    }
                    if kind == 2 {
                        l.push_str("-rw-r--r-- 1 root root ");
                    }
                    l.push_str(&pool[idx % pool.len()]);
                    if num > 0 {
                        // same line (repeat) or a counter (template)
                        let v = if kind == 3 { r as u32 * 10 } else { num * 10 };
                        l.push_str(&format!(" {v}% done"));
                    }
                    lines.push(l);
                }
            }
            let mut s = lines.join("\n");
            if trailing {
                s.push('\n');
            }
            s
        })
}

/// Path listings from a small tree (nested `@prefix` blocks), with some odd lines mixed in.
fn paths() -> impl Strategy<Value = String> {
    let seg = prop::sample::select(vec![
        "node_modules/",
        "node_modules/",
        "@babel/",
        "@babel/",
        "core/lib/",
        "src/",
        "a",
        "b.js",
        "b.js",
        "@3× ",
        "12:",
        "{}",
        "x y",
        "é",
        "\x1b[1m",
        "--",
    ]);
    (
        prop::collection::vec(prop::collection::vec(seg, 0..6), 0..150),
        prop::bool::ANY,
    )
        .prop_map(|(v, t)| {
            let mut lines: Vec<String> =
                v.into_iter().map(|p| format!("./{}", p.concat())).collect();
            lines.sort();
            let mut s = lines.join("\n");
            if t {
                s.push('\n');
            }
            s
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn round_trip_paths(s in paths()) {
        if let Some(e) = encode(&s) {
            prop_assert_eq!(decode(&e.text), strip_ansi(&s).into_owned());
            prop_assert!(estimate_tokens(&e.text) < estimate_tokens(&s));
        }
    }

    #[test]
    fn round_trip(s in doc()) {
        if let Some(e) = encode(&s) {
            prop_assert_eq!(decode(&e.text), strip_ansi(&s).into_owned());
            prop_assert!(estimate_tokens(&e.text) < estimate_tokens(&s));
            // The lossy cut of an encoded text restores to it (the `full` tier's path).
            let p = crate::lossy::Params {
                min_bytes: 0,
                head: 3,
                tail: 2,
                head_bytes: 200,
                tail_bytes: 100,
                max_kept: 10,
                max_cost_percent: 100,
            };
            if let Some(c) = crate::lossy::cut_with(&e.text, "/x/y.txt", &p) {
                prop_assert_eq!(crate::lossy::restore(&c, &e.text), Some(e.text.clone()));
            }
        }
    }

    #[test]
    fn round_trip_free_text(s in "(?s)[a1:@×{}|\" \n\x1b\\[\\]-]{0,200}") {
        if let Some(e) = encode(&s) {
            prop_assert_eq!(decode(&e.text), strip_ansi(&s).into_owned());
        }
        let _ = decode(&s);
    }
}

/// `cargo test -p headroom-compress --lib -- --ignored --nocapture show_examples`
#[test]
#[ignore]
fn show_examples() {
    for (name, s) in [
        ("grep", grep_rn()),
        ("cargo", cargo_log()),
        ("pip", pip_log()),
        ("npm", npm_log()),
        ("ls", ls_lr()),
        ("find", find_out()),
    ] {
        match encode(&s) {
            Some(e) => eprintln!(
                "== {name}: {} -> {} est tokens {:?}\n{}",
                estimate_tokens(&s),
                estimate_tokens(&e.text),
                e.transforms,
                e.text
            ),
            None => eprintln!("== {name}: none"),
        }
        let _ = std::fs::write(format!("/tmp/tktext/ex_{name}.in"), &s);
        if let Some(e) = encode(&s) {
            let _ = std::fs::write(format!("/tmp/tktext/ex_{name}.out"), &e.text);
        }
    }
}

/// Encodes every `*.txt` of `$HEADROOM_SAMPLES` into `*.txt.enc` beside it (for measuring).
#[test]
#[ignore]
fn encode_samples() {
    let Ok(dir) = std::env::var("HEADROOM_SAMPLES") else {
        return;
    };
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "txt"))
        .collect();
    paths.sort();
    for p in paths {
        let s = std::fs::read_to_string(&p).unwrap();
        let t = std::time::Instant::now();
        let e = encode(&s);
        let dt = t.elapsed();
        let out = e.as_ref().map_or(s.as_str(), |e| e.text.as_str());
        assert_eq!(decode(out), strip_ansi(&s));
        std::fs::write(p.with_extension("txt.enc"), out).unwrap();
        eprintln!(
            "{}: {} bytes, {:?}, {:?}",
            p.display(),
            s.len(),
            dt,
            e.map(|e| e.transforms)
        );
    }
}

/// Timing of the phases of `encode` on `$HEADROOM_SAMPLES/*.txt`.
#[test]
#[ignore]
fn time_phases() {
    let Ok(dir) = std::env::var("HEADROOM_SAMPLES") else {
        return;
    };
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "txt"))
        .collect();
    paths.sort();
    for p in paths {
        let s = std::fs::read_to_string(&p).unwrap();
        let t = std::time::Instant::now();
        let st = strip_ansi(&s);
        let t1 = t.elapsed();
        let (lines, _) = split_lines(&st);
        let mut enc = LineEncoder::new(&lines);
        let t2 = t.elapsed();
        let (body, _, _) = enc.run();
        let t3 = t.elapsed();
        let _ = decode(&body);
        let t4 = t.elapsed();
        let _ = estimate_tokens(&s);
        let t5 = t.elapsed();
        let _ = encode(&s);
        let t6 = t.elapsed();
        eprintln!(
            "{}: strip {t1:?} new {:?} run {:?} decode {:?} estimate {:?} encode {:?}",
            p.display(),
            t2 - t1,
            t3 - t2,
            t4 - t3,
            t5 - t4,
            t6 - t5
        );
    }
}

/// How often the property tests' inputs exercise each directive.
#[test]
#[ignore]
fn strategy_coverage() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let mut counts = std::collections::BTreeMap::new();
    for (name, strat) in [("doc", doc().boxed()), ("paths", paths().boxed())] {
        for _ in 0..2000 {
            let s = strat.new_tree(&mut runner).unwrap().current();
            match encode(&s) {
                Some(e) => {
                    for t in e.transforms {
                        *counts.entry((name, t)).or_insert(0) += 1;
                    }
                    if e.text.lines().next().unwrap().contains("expanding") {
                        *counts.entry((name, "nested")).or_insert(0) += 1;
                    }
                }
                None => *counts.entry((name, "none")).or_insert(0) += 1,
            }
        }
    }
    eprintln!("{counts:?}");
}
