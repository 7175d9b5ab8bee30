//! Build the built-in adapters of the guest workspace (`plugins/`) for wasm32-wasip2 and embed
//! them.
//!
//! The guests get their own cargo invocation and target directory (sharing the outer one would
//! deadlock on cargo's lock), with every host-only flag removed from the environment.
//!
//! The test fixtures (`plugins/fixtures/`: hostile and edge-case adapters) are built too, in
//! the same invocation, only for debug-profile builds (what `cargo test` uses) or when
//! `HEADROOM_BUILD_FIXTURES=1`: a release build (`cargo install`) never compiles them.

use std::path::{Path, PathBuf};
use std::process::Command;

/// (adapter id, guest package); the artifact is the package name with `_` for `-`.
const BUILTINS: &[(&str, &str)] = &[
    ("claude", "headroom-adapter-claude"),
    ("codex", "headroom-adapter-codex"),
    ("opencode", "headroom-adapter-opencode"),
    ("openclaw", "headroom-adapter-openclaw"),
    ("shell-env", "headroom-adapter-shell-env"),
];

/// Guest packages only tests use (their artifacts land beside the built-ins').
const FIXTURES: &[&str] = &[
    "headroom-fixture-hostile",
    "headroom-fixture-future-api",
    "headroom-fixture-api-0-1",
    "headroom-fixture-api-0-2",
    "headroom-fixture-api-0-3",
];

fn main() {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let root = manifest_dir.join("../..").canonicalize().unwrap();
    let guests = root.join("plugins");
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").unwrap());
    // <target>/<profile>/build/<pkg>/out → <target>/<profile>/guests: shared by check, clippy and
    // test builds of the same profile, so the guests build once.
    let target_dir = out_dir
        .ancestors()
        .nth(3)
        .map(|p| p.join("guests"))
        .unwrap_or_else(|| out_dir.join("guests"));
    println!("cargo:rerun-if-changed={}", guests.display());
    println!("cargo:rerun-if-changed={}", root.join("wit").display());
    println!("cargo:rerun-if-env-changed=HEADROOM_BUILD_FIXTURES");
    // Cargo's PROFILE is "debug" for every profile that inherits from dev (test, check, clippy).
    let fixtures = std::env::var("PROFILE").as_deref() != Ok("release")
        || std::env::var("HEADROOM_BUILD_FIXTURES").as_deref() == Ok("1");

    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args(["build", "--release", "--quiet", "--target", "wasm32-wasip2"]);
    let packages = BUILTINS
        .iter()
        .map(|(_, pkg)| *pkg)
        .chain(FIXTURES.iter().copied().filter(|_| fixtures));
    for pkg in packages {
        cmd.args(["-p", pkg]);
    }
    cmd.arg("--manifest-path")
        .arg(guests.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&target_dir);
    for var in [
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "CARGO_BUILD_RUSTFLAGS",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_MAKEFLAGS",
        "CARGO_LLVM_COV",
        "LLVM_PROFILE_FILE",
    ] {
        cmd.env_remove(var);
    }
    let status = cmd.status().expect("running cargo for the guest adapters");
    if !status.success() {
        panic!(
            "building the built-in adapters (plugins/) for wasm32-wasip2 failed; if the target is missing: rustup target add wasm32-wasip2"
        );
    }
    let wasm_dir = target_dir.join("wasm32-wasip2/release");
    let mut code = String::from(
        "/// (id, component bytes) of every built-in adapter.\npub const BUILTINS: &[(&str, &[u8])] = &[\n",
    );
    for (id, pkg) in BUILTINS {
        let path = wasm_dir.join(format!("{}.wasm", pkg.replace('-', "_")));
        assert!(path.exists(), "missing {}", path.display());
        code.push_str(&format!(
            "    ({id:?}, include_bytes!({:?})),\n",
            path.display().to_string()
        ));
    }
    code.push_str("];\n");
    write_if_changed(&out_dir.join("builtins.rs"), &code);
    println!(
        "cargo:rustc-env=HEADROOM_FIXTURES_DIR={}",
        wasm_dir.display()
    );
}

fn write_if_changed(path: &Path, contents: &str) {
    if std::fs::read_to_string(path).ok().as_deref() != Some(contents) {
        std::fs::write(path, contents).unwrap();
    }
}
