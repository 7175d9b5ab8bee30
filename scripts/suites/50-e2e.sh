# Real clients (anthropic/openai Python SDKs, Claude Code, Codex) through a real headroom proxy,
# inside a loopback-only network namespace.
e2e_clients() {
    step "real clients through headroom (loopback-only network namespace)"
    if ! unshare -n true 2>/dev/null; then skip "e2e clients: cannot create a network namespace (needs root)"; return 0; fi
    tests/e2e/install-clients.sh /var/tmp/headroom-e2e
    if ! cargo build -q -p headroom -p headroom-proxy --features headroom-proxy/stub --example upstream_stub; then
        FAILURES+=("e2e-build"); FAILED=$((FAILED + 1)); return 0
    fi
    local target; target=$(target_dir)
    suite script e2e-clients tests/e2e/clients.sh "$target/debug/headroom" \
        "$target/debug/examples/upstream_stub" /var/tmp/headroom-e2e/npm
}
e2e_clients
