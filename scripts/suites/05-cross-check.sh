# `cargo check` of the host for the Windows and macOS targets: the platform layers (Windows SCM
# service, launchd) are compiled and type-checked here even though their tests run on Linux.
cross_check() {
    local t
    for t in x86_64-pc-windows-gnu aarch64-apple-darwin; do
        step "cargo check --target $t"
        if ! rustup target add "$t" >/dev/null 2>&1; then
            skip "cargo check --target $t: rustup could not install the target"
            continue
        fi
        if cargo check --target "$t" $CROSS_CHECK_PACKAGES 2>&1 | tee "$LOG_DIR/check-$t.log" | tail -3 \
            && ! grep -q '^error' "$LOG_DIR/check-$t.log"; then
            PASSED=$((PASSED + 1))
        else
            FAILURES+=("check-$t"); FAILED=$((FAILED + 1))
        fi
    done
}
# Crates whose code has platform branches (the proxy's TLS stack builds C code that needs a
# cross C toolchain, so the host binary itself is checked where that toolchain exists).
CROSS_CHECK_PACKAGES="-p headroom-deploy -p headroom-edits"
cross_check
