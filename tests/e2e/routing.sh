#!/usr/bin/env bash
# "Did my tool really go through it": the default user-scope install with the real Claude Code and
# Codex CLIs, proven by their own requests reaching the loopback stand-in upstream through headroom,
# and `headroom doctor` telling the truth before and after. Runs inside a network namespace where
# only loopback exists, with a cron daemon started in that namespace (a persistent-task deployment:
# the one supervisor that can live in it), so nothing can leave the machine.
#
#   tests/e2e/routing.sh HEADROOM STUB CLIENT_DIR
#
# The user's HOME is a fresh directory with a Debian-style ~/.bashrc (the "not interactive: return"
# guard), a ~/.profile sourcing it, their own Claude settings.json and Codex config.toml, and an
# `export OPENAI_BASE_URL=…` line of their own (what an older headroom wrote; Codex ignores it).
# Every file must be byte-identical after `install stop` and after `install remove`.
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
    { skip "routing: claude-code and codex not installed (run tests/e2e/install-clients.sh)"; summary; }
command -v cron >/dev/null && command -v crontab >/dev/null ||
    { skip "routing: cron is not installed (../shared/ci/cron-up.sh installs it)"; summary; }
# A cron daemon outside this namespace would run the deployment's watchdog out there.
if [ -s /run/crond.pid ] && kill -0 "$(cat /run/crond.pid)" 2>/dev/null; then
    skip "routing: a cron daemon is already running outside this network namespace"; summary
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/headroom-routing.XXXXXX")
PIDS=() CRON_STARTED=
CRONTAB_BEFORE=$WORK/crontab.before
crontab -l >"$CRONTAB_BEFORE" 2>/dev/null || : >"$CRONTAB_BEFORE.absent"
export HOME=$WORK/home SHELL=/bin/bash
H() { env XDG_RUNTIME_DIR= "$HEADROOM" "$@"; }
cleanup() {
    H install remove --profile e2e-routing >/dev/null 2>&1
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
    [ -n "$CRON_STARTED" ] && /etc/init.d/cron stop >/dev/null 2>&1
    if [ -e "$CRONTAB_BEFORE.absent" ]; then crontab -r 2>/dev/null; else crontab "$CRONTAB_BEFORE"; fi
    if [ -n "${HEADROOM_E2E_KEEP:-}" ]; then echo "kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
wait_for() { for _ in $(seq 1 100); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done; return 1; }

/etc/init.d/cron start >"$WORK/cron.out" 2>&1 && CRON_STARTED=1 ||
    { skip "routing: cron could not start here (see $WORK/cron.out)"; summary; }

"$STUB" --port 0 --record "$WORK/upstream.jsonl" >"$WORK/stub.out" 2>&1 &
PIDS+=($!)
wait_for "$WORK/stub.out" "listening on" || { fail "upstream stub did not start"; summary; }
UPSTREAM="http://$(sed -n 's/^listening on //p' "$WORK/stub.out")"
upstream_count() { local n; n=$(grep -c "\"path\":\"$1\"" "$WORK/upstream.jsonl" 2>/dev/null); echo "${n:-0}"; }

PORT=18797
mkdir -p "$HOME/.claude" "$HOME/.codex"
cat >"$HOME/.bashrc" <<EOF
# ~/.bashrc: executed by bash(1) for non-login shells.
case \$- in
    *i*) ;;
      *) return;;
esac
HISTSIZE=1000
export OPENAI_BASE_URL=http://127.0.0.1:$PORT/v1
EOF
printf '# ~/.profile\nif [ -n "$BASH_VERSION" ] && [ -f "$HOME/.bashrc" ]; then\n    . "$HOME/.bashrc"\nfi\n' >"$HOME/.profile"
printf '{\n   "model": "sonnet",\n   "env": { "GREETING": "caf\xc3\xa9" }\n}' >"$HOME/.claude/settings.json"
printf 'model = "gpt-e2e" # mine\n\n# my profiles\n[profiles.work]\nmodel = "o3"\n' >"$HOME/.codex/config.toml"
FILES=(.bashrc .profile .claude/settings.json .codex/config.toml)
mkdir -p "$WORK/orig"
for f in "${FILES[@]}"; do mkdir -p "$WORK/orig/$(dirname "$f")"; cp -p "$HOME/$f" "$WORK/orig/$f"; done
identical() { # what
    local f bad=
    for f in "${FILES[@]}"; do cmp -s "$HOME/$f" "$WORK/orig/$f" || { bad=1; echo "    $f differs:"; diff "$WORK/orig/$f" "$HOME/$f" | head -10; }; done
    [ -z "$bad" ] && pass "$1: every file byte-identical to the user's" || fail "$1: files differ"
}

# The clients as a user runs them from a new terminal: an interactive login shell, nothing else set.
CLIENT_ENV=(env -i PATH="$CLIENTS/bin:/usr/bin:/bin" HOME="$HOME" SHELL=/bin/bash TERM=dumb
    ANTHROPIC_API_KEY=sk-ant-e2e OPENAI_API_KEY=sk-e2e
    CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1 CLAUDE_CODE_MAX_RETRIES=0)
# (By absolute path: the system's /etc/profile resets PATH in a login shell.)
claude_run() { timeout 90 "${CLIENT_ENV[@]}" bash -l -i -c "$CLIENTS/bin/claude -p 'say hi'" </dev/null >"$WORK/run-$1.out" 2>&1; }
codex_run() {
    timeout 90 "${CLIENT_ENV[@]}" bash -l -i -c "$CLIENTS/bin/codex --strict-config exec -c analytics.enabled=false --disable plugins --skip-git-repo-check 'say hi'" \
        </dev/null >"$WORK/run-$1.out" 2>&1
}
# Run a client; PASS when its request reached the stand-in THROUGH headroom (the proxy's own
# counter moved and the stand-in saw the path).
through_headroom() { # name provider path runner
    local name=$1 provider=$2 path=$3 runner=$4 before_up before_h after_h
    before_up=$(upstream_count "$path")
    before_h=$(curl -fs "http://127.0.0.1:$PORT/metrics" | sed -n "s/^headroom_requests_total{provider=\"$provider\"} //p")
    "$runner" "$name"
    after_h=$(curl -fs "http://127.0.0.1:$PORT/metrics" | sed -n "s/^headroom_requests_total{provider=\"$provider\"} //p")
    if [ "$(upstream_count "$path")" -gt "$before_up" ] && [ "${after_h:-0}" -gt "${before_h:-0}" ]; then
        pass "$name: the real CLI's request reached the upstream through headroom"
    else
        fail "$name: not through headroom (headroom ${before_h:-0} -> ${after_h:-0})"; tail -5 "$WORK/run-$name.out" | sed 's/^/    /'
    fi
}
APPLY=(install apply --profile e2e-routing --preset persistent-task --port "$PORT"
    --env "ANTHROPIC_TARGET_API_URL=$UPSTREAM" --env "OPENAI_TARGET_API_URL=$UPSTREAM/v1")
DOCTOR=(doctor --profile e2e-routing)

# 1. Claude only. Codex is on PATH, its shell exports OPENAI_BASE_URL at the proxy, and yet it is
#    not routed: doctor must say so.
if H "${APPLY[@]}" --providers manual --target claude >"$WORK/apply1.out" 2>&1; then
    pass "install apply --target claude (user scope)"
else fail "install apply --target claude"; sed 's/^/    /' "$WORK/apply1.out"; summary; fi
H "${DOCTOR[@]}" >"$WORK/doctor1.out" 2>&1
if grep -i "codex" "$WORK/doctor1.out" | grep -qi "not routed" && grep -i codex "$WORK/doctor1.out" | grep -qi "ignores"; then
    pass "doctor: codex not routed, and OPENAI_BASE_URL named as ignored"
else fail "doctor did not report codex as not routed"; sed 's/^/    /' "$WORK/doctor1.out"; fi
if grep -q "^ok *claude is routed to http://127.0.0.1:$PORT" "$WORK/doctor1.out"; then
    pass "doctor: claude routed"
else fail "doctor: claude not reported routed"; sed 's/^/    /' "$WORK/doctor1.out"; fi

# 2. The default install (user scope, --providers auto): both detected tools, Codex through its
#    own config.
if H "${APPLY[@]}" >"$WORK/apply2.out" 2>&1 && grep -q "^routed claude: " "$WORK/apply2.out" &&
    grep -q "^routed codex: " "$WORK/apply2.out"; then
    pass "install apply (defaults): claude and codex reported routed"
else fail "install apply (defaults)"; sed 's/^/    /' "$WORK/apply2.out"; summary; fi
grep -q "config.toml" "$WORK/apply2.out" && grep -qi "ignores OPENAI_BASE_URL" "$WORK/apply2.out" &&
    pass "apply: says codex is routed through config.toml, and why" ||
    { fail "apply output does not say how codex is routed"; sed 's/^/    /' "$WORK/apply2.out"; }
if H "${DOCTOR[@]}" >"$WORK/doctor2.out" 2>&1; then
    pass "doctor exits 0 with both routed and the proxy healthy"
else fail "doctor after the install"; sed 's/^/    /' "$WORK/doctor2.out"; fi
H "${DOCTOR[@]}" --json >"$WORK/doctor2.json" 2>&1
python3 - "$WORK/doctor2.json" <<'EOF' && pass "doctor --json: both tools routed" || fail "doctor --json"
import json, sys
d = json.load(open(sys.argv[1]))
routed = {t["target"]: t["routed"] for t in d["tools"]}
assert routed.get("claude") is True and routed.get("codex") is True, routed
EOF
through_headroom claude anthropic /v1/messages claude_run
through_headroom codex openai /v1/responses codex_run

# 3. Stopped: no tool left pointed at a dead port; every file as the user had it.
H install stop --profile e2e-routing >"$WORK/stop.out" 2>&1 || { fail "install stop"; sed 's/^/    /' "$WORK/stop.out"; }
identical "after install stop"
H install status --profile e2e-routing >"$WORK/status-stopped.out" 2>&1
grep -q "^routing .*off" "$WORK/status-stopped.out" && pass "status: routing off after stop" ||
    { fail "status after stop"; sed 's/^/    /' "$WORK/status-stopped.out"; }
before=$(upstream_count /v1/responses)
codex_run stopped
if grep -q "127.0.0.1:$PORT" "$WORK/run-stopped.out"; then
    fail "codex after stop still tried the stopped proxy"; tail -5 "$WORK/run-stopped.out" | sed 's/^/    /'
elif [ "$(upstream_count /v1/responses)" = "$before" ] && grep -qi "api.openai.com\|error" "$WORK/run-stopped.out"; then
    pass "codex after stop: back on its own endpoint (unreachable here), not a dead port"
else fail "codex after stop"; tail -5 "$WORK/run-stopped.out" | sed 's/^/    /'; fi

# 4. Started: routed again, and the CLIs go through it.
H install start --profile e2e-routing >"$WORK/start.out" 2>&1 || { fail "install start"; sed 's/^/    /' "$WORK/start.out"; }
H "${DOCTOR[@]}" >"$WORK/doctor3.out" 2>&1 && pass "doctor after start: routed and healthy" ||
    { fail "doctor after start"; sed 's/^/    /' "$WORK/doctor3.out"; }
through_headroom codex-restarted openai /v1/responses codex_run

# 5. Removed: byte-identical, crontab back.
H install remove --profile e2e-routing >"$WORK/remove.out" 2>&1 || { fail "install remove"; sed 's/^/    /' "$WORK/remove.out"; }
identical "after install remove"
if [ -e "$CRONTAB_BEFORE.absent" ]; then
    ! crontab -l 2>/dev/null | grep -q e2e-routing && pass "crontab: no headroom block left" || fail "crontab block left"
else
    crontab -l | cmp -s - "$CRONTAB_BEFORE" && pass "crontab byte-identical" || fail "crontab differs"
fi
summary
