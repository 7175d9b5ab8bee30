#!/usr/bin/env bash
# "My company gateway stays my upstream": the user's Claude Code settings.json and Codex
# config.toml point at their own gateway (a loopback stand-in under a path prefix, /corp; Codex's
# base_url Azure-style, with the version in the base, so it calls /corp/responses). After
# `install apply` the real `claude -p` and `codex exec` requests still reach that gateway, now
# THROUGH headroom (its counters move); after `install remove` both configs are byte-identical and
# the clients reach the gateway directly again. Runs inside a network namespace where only loopback
# exists, with a cron daemon started in it (persistent-task: the one supervisor that lives there).
#
#   tests/e2e/gateway.sh HEADROOM STUB CLIENT_DIR
#
# Prints "N passed, N failed, N skipped" last; HEADROOM_E2E_KEEP=1 keeps the work dir.
set -uo pipefail
[ $# = 3 ] || { echo "usage: $0 HEADROOM STUB CLIENT_DIR" >&2; exit 2; }
HEADROOM=$1 STUB=$2 CLIENTS=$3
if [ "${HEADROOM_E2E_IN_NETNS:-}" != 1 ]; then
    exec unshare -n env HEADROOM_E2E_IN_NETNS=1 bash -c 'ip link set lo up && exec "$0" "$@"' "$0" "$@"
fi
PASSED=0 FAILED=0 SKIPPED=0
pass() { echo "PASS $*"; PASSED=$((PASSED + 1)); }
fail() { echo "FAIL $*"; FAILED=$((FAILED + 1)); }
skip() { echo "SKIP $*"; SKIPPED=$((SKIPPED + 1)); }
summary() { echo "$PASSED passed, $FAILED failed, $SKIPPED skipped"; [ "$FAILED" = 0 ]; exit; }
[ -x "$CLIENTS/bin/claude" ] && [ -x "$CLIENTS/bin/codex" ] ||
    { skip "gateway: claude-code and codex not installed (run tests/e2e/install-clients.sh)"; summary; }
command -v cron >/dev/null && command -v crontab >/dev/null ||
    { skip "gateway: cron is not installed (../shared/ci/cron-up.sh installs it)"; summary; }
# A cron daemon outside this namespace would run the deployment's watchdog out there.
if [ -s /run/crond.pid ] && kill -0 "$(cat /run/crond.pid)" 2>/dev/null; then
    skip "gateway: a cron daemon is already running outside this network namespace"; summary
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/headroom-gateway.XXXXXX")
PIDS=() CRON_STARTED=
CRONTAB_BEFORE=$WORK/crontab.before
crontab -l >"$CRONTAB_BEFORE" 2>/dev/null || : >"$CRONTAB_BEFORE.absent"
export HOME=$WORK/home SHELL=/bin/bash
H() { env XDG_RUNTIME_DIR= "$HEADROOM" "$@"; }
cleanup() {
    H install remove --profile e2e-gateway >/dev/null 2>&1
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
    [ -n "$CRON_STARTED" ] && /etc/init.d/cron stop >/dev/null 2>&1
    if [ -e "$CRONTAB_BEFORE.absent" ]; then crontab -r 2>/dev/null; else crontab "$CRONTAB_BEFORE"; fi
    if [ -n "${HEADROOM_E2E_KEEP:-}" ]; then echo "kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
wait_for() { for _ in $(seq 1 100); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done; return 1; }

/etc/init.d/cron start >"$WORK/cron.out" 2>&1 && CRON_STARTED=1 ||
    { skip "gateway: cron could not start here (see $WORK/cron.out)"; summary; }

# The "corporate gateway": the stand-in upstream, reached under /corp.
"$STUB" --port 0 --record "$WORK/gateway.jsonl" >"$WORK/stub.out" 2>&1 &
PIDS+=($!)
wait_for "$WORK/stub.out" "listening on" || { fail "gateway stand-in did not start"; summary; }
GATEWAY="http://$(sed -n 's/^listening on //p' "$WORK/stub.out")/corp"
gateway_count() { local n; n=$(grep -c "\"path\":\"/corp$1\"" "$WORK/gateway.jsonl" 2>/dev/null); echo "${n:-0}"; }

PORT=18798
mkdir -p "$HOME/.claude" "$HOME/.codex"
# The trailing slash is how users paste it; the proxy must cope.
printf '{\n   "model": "sonnet",\n   "env": { "ANTHROPIC_BASE_URL": "%s/", "GREETING": "caf\xc3\xa9" }\n}' "$GATEWAY" \
    >"$HOME/.claude/settings.json"
cat >"$HOME/.codex/config.toml" <<EOF
model = "gpt-e2e"
model_provider = "corp" # the company's

[model_providers.corp]
name = "Corp gateway"
base_url = "$GATEWAY"
env_key = "OPENAI_API_KEY"
wire_api = "responses"
EOF
FILES=(.claude/settings.json .codex/config.toml)
mkdir -p "$WORK/orig"
for f in "${FILES[@]}"; do mkdir -p "$WORK/orig/$(dirname "$f")"; cp -p "$HOME/$f" "$WORK/orig/$f"; done
identical() { # what
    local f bad=
    for f in "${FILES[@]}"; do cmp -s "$HOME/$f" "$WORK/orig/$f" || { bad=1; echo "    $f differs:"; diff "$WORK/orig/$f" "$HOME/$f" | head -10; }; done
    [ -z "$bad" ] && pass "$1: both configs byte-identical to the user's" || fail "$1: configs differ"
}

CLIENT_ENV=(env -i PATH="$CLIENTS/bin:/usr/bin:/bin" HOME="$HOME" SHELL=/bin/bash TERM=dumb
    ANTHROPIC_API_KEY=sk-ant-e2e OPENAI_API_KEY=sk-e2e
    CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1 CLAUDE_CODE_MAX_RETRIES=0)
claude_run() { timeout 90 "${CLIENT_ENV[@]}" "$CLIENTS/bin/claude" -p 'say hi' </dev/null >"$WORK/run-$1.out" 2>&1; }
codex_run() {
    timeout 90 "${CLIENT_ENV[@]}" "$CLIENTS/bin/codex" --strict-config exec -c analytics.enabled=false \
        --disable plugins --skip-git-repo-check 'say hi' </dev/null >"$WORK/run-$1.out" 2>&1
}
requests_total() { curl -fs "http://127.0.0.1:$PORT/metrics" 2>/dev/null | sed -n "s/^headroom_requests_total{provider=\"$1\"} //p"; }
# Run a client; PASS when its request reached the gateway, through headroom (`through`) or not.
reaches_gateway() { # name provider path runner through|direct
    local name=$1 provider=$2 path=$3 runner=$4 how=$5 before_gw before_h after_h
    before_gw=$(gateway_count "$path")
    before_h=$(requests_total "$provider")
    "$runner" "$name"
    after_h=$(requests_total "$provider")
    if [ "$(gateway_count "$path")" -le "$before_gw" ]; then
        fail "$name: the real CLI's request did not reach the gateway"; tail -5 "$WORK/run-$name.out" | sed 's/^/    /'
    elif [ "$how" = through ] && [ "${after_h:-0}" -le "${before_h:-0}" ]; then
        fail "$name: reached the gateway, but not through headroom (headroom ${before_h:-0} -> ${after_h:-0})"
    else
        pass "$name: the real CLI's request reached the gateway ($how)"
    fi
}

# 0. The stand-in really is the user's working route before headroom.
reaches_gateway claude-before anthropic /v1/messages claude_run direct
reaches_gateway codex-before openai /responses codex_run direct

# 1. Both tools routed through headroom at provider scope; their gateways kept as its upstreams.
APPLY=(install apply --profile e2e-gateway --preset persistent-task --port "$PORT" --scope provider
    --providers manual --target claude --target codex)
if H "${APPLY[@]}" >"$WORK/apply.out" 2>&1; then pass "install apply (claude, codex at provider scope)"
else fail "install apply"; sed 's/^/    /' "$WORK/apply.out"; summary; fi
grep -qxF "upstream anthropic: $GATEWAY/ (kept from ~/.claude/settings.json env.ANTHROPIC_BASE_URL)" "$WORK/apply.out" &&
    grep -qxF "upstream openai: $GATEWAY (kept from ~/.codex/config.toml model_providers.corp.base_url)" "$WORK/apply.out" &&
    pass "apply: both gateways named as kept, with where they came from" ||
    { fail "apply does not name the kept gateways"; sed 's/^/    /' "$WORK/apply.out"; }
H install status --profile e2e-gateway --json >"$WORK/status.json" 2>&1
python3 - "$WORK/status.json" "$GATEWAY" <<'EOF' && pass "status --json: each upstream and its origin" || fail "status --json upstreams"
import json, sys
st, gw = json.load(open(sys.argv[1])), sys.argv[2]
up = {u["provider"]: u for u in st["upstreams"]}
assert up["anthropic"]["url"] == gw + "/" and up["anthropic"]["from"].startswith("kept from ~/.claude/settings.json"), up
assert up["openai"]["url"] == gw and "config.toml" in up["openai"]["from"], up
EOF
reaches_gateway claude anthropic /v1/messages claude_run through
reaches_gateway codex openai /responses codex_run through

# 2. Removed: the configs as the user had them, pointing at the gateway directly again.
H install remove --profile e2e-gateway >"$WORK/remove.out" 2>&1 || { fail "install remove"; sed 's/^/    /' "$WORK/remove.out"; }
identical "after install remove"
reaches_gateway claude-after anthropic /v1/messages claude_run direct
if [ -e "$CRONTAB_BEFORE.absent" ]; then
    ! crontab -l 2>/dev/null | grep -q e2e-gateway && pass "crontab: no headroom block left" || fail "crontab block left"
else
    crontab -l | cmp -s - "$CRONTAB_BEFORE" && pass "crontab byte-identical" || fail "crontab differs"
fi
summary
