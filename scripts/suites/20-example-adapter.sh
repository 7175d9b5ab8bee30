# The out-of-tree example adapter (examples/adapter-crush): fmt and clippy like the built-ins, then
# its whole install/apply/revert/remove life against the headroom binary the cargo tests built.
example_adapter() {
    step "example adapter, built out of tree (examples/adapter-crush)"
    local target
    target=$(target_dir)
    if ! cargo fmt --manifest-path examples/adapter-crush/Cargo.toml -- --check; then
        FAILURES+=("fmt-example"); FAILED=$((FAILED + 1))
    fi
    if ! cargo clippy --locked --release --manifest-path examples/adapter-crush/Cargo.toml \
        --target wasm32-wasip2 --target-dir "$target/examples" -- -D warnings; then
        FAILURES+=("clippy-example"); FAILED=$((FAILED + 1))
    fi
    cargo build -q -p headroom
    # A real user manager, so the adapter's target can back a persistent deployment too.
    local systemd=""
    if is_root && [ -d "$SHARED/ci" ] && "$SHARED/ci/systemd-user-up.sh" >"$LOG_DIR/example-systemd-up.log" 2>&1; then
        systemd=1
    fi
    suite script example-adapter env HEADROOM_EXAMPLE_TARGET="$target/examples" HEADROOM_EXAMPLE_SYSTEMD="$systemd" \
        tests/e2e/example-adapter.sh "$target/debug/headroom"
    if [ -n "$systemd" ]; then "$SHARED/ci/systemd-user-down.sh" >>"$LOG_DIR/example-systemd-up.log" 2>&1 || true; fi
}
example_adapter
