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
    suite script example-adapter env HEADROOM_EXAMPLE_TARGET="$target/examples" \
        tests/e2e/example-adapter.sh "$target/debug/headroom"
}
example_adapter
