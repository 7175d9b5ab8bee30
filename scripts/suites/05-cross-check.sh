# `cargo check` for the Windows and macOS targets: the platform layers (Windows SCM service,
# launchd, sc.exe/schtasks driving) are type-checked here even though their tests run on Linux.
#
# Windows: the whole `headroom` binary (ring and wasmtime build C code: Debian's mingw-w64 is the
# cross C compiler). macOS: the crates without C dependencies (deploy, edits); ring and wasmtime's
# helpers need Apple's SDK, which no Debian package provides.
cross_check() {
    local t packages
    for t in x86_64-pc-windows-gnu aarch64-apple-darwin; do
        step "cargo check --target $t"
        if ! rustup target add "$t" >/dev/null 2>&1; then
            skip "cargo check --target $t: rustup could not install the target"
            continue
        fi
        packages="-p headroom-deploy -p headroom-edits"
        if [ "$t" = x86_64-pc-windows-gnu ]; then
            if is_root; then apt_install gcc-mingw-w64-x86-64 || true; fi
            command -v x86_64-w64-mingw32-gcc >/dev/null && packages="-p headroom"
        fi
        echo "checking: $packages"
        if cargo check --target "$t" $packages 2>&1 | tee "$LOG_DIR/check-$t.log" | tail -3 \
            && ! grep -E '^(error|warning)' "$LOG_DIR/check-$t.log" | grep -qv 'profile package spec'; then
            PASSED=$((PASSED + 1))
        else
            FAILURES+=("check-$t"); FAILED=$((FAILED + 1))
        fi
    done
}
cross_check
