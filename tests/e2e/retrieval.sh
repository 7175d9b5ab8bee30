#!/usr/bin/env bash
# The `--compress full` claim, end to end with the real Claude Code CLI: a client can redeem a part
# headroom cut from a tool output and gets the original bytes. Runs inside a network namespace
# where only loopback exists (nothing can leave the machine).
#
#   tests/e2e/retrieval.sh HEADROOM CLIENT_DIR
#
# HEADROOM: the headroom binary; CLIENT_DIR: where tests/e2e/install-clients.sh put the npm
# clients (bin/claude). tests/e2e/agent_upstream.py plays the model: it has Claude Code run a
# Bash command printing a ~27 KB pytest log (under Claude Code's 30,000-char inline limit), then
# Read back every range headroom's markers say was dropped, and checks those lines (and the whole
# output rebuilt from them) against what the command really printed. The same session (fixed
# session id and user id, fresh HOME, same cwd: Claude Code then sends identical bodies) runs
# through `--compress full` twice (two proxy processes), once through `--compress off` (= what
# Claude Code itself sent), once with a ~116 KB output, and once with Read granted only inside the
# retrieve dir. Claude Code runs `claude -p` with `--allowedTools Bash,Read` (no
# --dangerously-skip-permissions, refused as root). Prints "N passed, N failed, N skipped" last;
# HEADROOM_E2E_KEEP=1 keeps the work dir (recorded bodies, logs).
set -uo pipefail
[ $# = 2 ] || { echo "usage: $0 HEADROOM CLIENT_DIR" >&2; exit 2; }
HEADROOM=$1 CLIENTS=$2
HERE=$(cd "$(dirname "$0")" && pwd)
if [ "${HEADROOM_E2E_IN_NETNS:-}" != 1 ]; then
    exec unshare -n env HEADROOM_E2E_IN_NETNS=1 bash -c 'ip link set lo up && exec "$0" "$@"' "$0" "$@"
fi
PASSED=0 FAILED=0 SKIPPED=0
pass() { echo "PASS $*"; PASSED=$((PASSED + 1)); }
fail() { echo "FAIL $*"; FAILED=$((FAILED + 1)); }
skip() { echo "SKIP $*"; SKIPPED=$((SKIPPED + 1)); }
summary() { echo "$PASSED passed, $FAILED failed, $SKIPPED skipped"; [ "$FAILED" = 0 ]; exit; }
CLAUDE=$CLIENTS/bin/claude
[ -x "$CLAUDE" ] || { skip "claude-code not installed (run tests/e2e/install-clients.sh)"; summary; }
command -v python3 >/dev/null || { skip "python3 not installed"; summary; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/headroom-retrieval.XXXXXX")
RETRIEVE=$WORK/retrieve
PIDS=()
stop() { kill "$1" 2>/dev/null; wait "$1" 2>/dev/null; }
cleanup() { for p in "${PIDS[@]}"; do stop "$p"; done; if [ -n "${HEADROOM_E2E_KEEP:-}" ]; then echo "kept $WORK" >&2; else rm -rf "$WORK"; fi; }
trap cleanup EXIT
# Wait (bounded) for a line matching $2 in file $1.
wait_for() { for _ in $(seq 1 100); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done; return 1; }
# The one line of requests.jsonl in record dir $1 for turn $2 (the first if several): its body file.
body_of() {
    python3 - "$1" "$2" <<'EOF'
import json, os, sys
for line in open(os.path.join(sys.argv[1], "requests.jsonl")):
    d = json.loads(line)
    if d["turn"] == int(sys.argv[2]):
        print(os.path.join(sys.argv[1], d["body"]))
        break
EOF
}
size() { wc -c <"$1" | tr -d ' '; }

# stand-in NAME [args]: start agent_upstream.py recording into $WORK/NAME; sets UPSTREAM.
standin() {
    local name=$1; shift
    python3 "$HERE/agent_upstream.py" --record "$WORK/$name" --verdict "$WORK/$name.verdict" "$@" \
        >"$WORK/$name.stub.out" 2>&1 &
    PIDS+=($!)
    wait_for "$WORK/$name.stub.out" "listening on" || { fail "$name: upstream stand-in did not start"; sed 's/^/    /' "$WORK/$name.stub.out"; summary; }
    UPSTREAM="http://$(sed -n 's/^listening on //p' "$WORK/$name.stub.out")"
}
# proxy NAME PORT MODE: a headroom proxy to the current $UPSTREAM; sets PROXY_PID.
proxy() {
    "$HEADROOM" proxy --port "$2" --compress "$3" --retrieve-dir "$RETRIEVE" --anthropic-api-url "$UPSTREAM" \
        >"$WORK/$1.proxy.log" 2>&1 &
    PROXY_PID=$!
    PIDS+=("$PROXY_PID")
    for _ in $(seq 1 200); do curl -fs "http://127.0.0.1:$2/readyz" >/dev/null && return 0; sleep 0.05; done
    fail "$1: headroom proxy --compress $3 did not become ready"; sed 's/^/    /' "$WORK/$1.proxy.log" | tail -5
    summary
}
# session NAME PORT [SETTINGS_JSON [ALLOWED_TOOLS]]: the scripted session, in a fresh HOME at the
# same path each time, the same cwd, a fixed user id and session id (so Claude Code sends
# byte-identical bodies every time).
SESSION_ID=0e2e0e2e-0000-4000-8000-00000000c0de
session() {
    local home=$WORK/home
    rm -rf "$home"; mkdir -p "$home" "$WORK/project"
    printf '{"userID": "%064d"}\n' 7 >"$home/.claude.json"
    [ -n "${3:-}" ] && mkdir -p "$home/.claude" && printf '%s\n' "$3" >"$home/.claude/settings.json"
    (cd "$WORK/project" && timeout 180 env -i PATH="$PATH" HOME="$home" \
        ANTHROPIC_BASE_URL="http://127.0.0.1:$2" ANTHROPIC_API_KEY=sk-ant-e2e \
        CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1 CLAUDE_CODE_MAX_RETRIES=0 \
        "$CLAUDE" -p "run the test log" --allowedTools "${4:-Bash,Read}" \
        --session-id "$SESSION_ID" --no-session-persistence </dev/null >"$WORK/$1.claude.out" 2>&1)
    echo $? >"$WORK/$1.claude.rc"
}
verdict() { cat "$WORK/$1.verdict" 2>/dev/null || echo "no verdict (the session never reached the Bash result)"; }

# 1. The session through --compress full.
standin full1
proxy full1 18797 full
FULL1_PORT=18797
session full1 $FULL1_PORT
v=$(verdict full1)
if [ "$(cat "$WORK/full1.claude.rc")" = 0 ] && [[ $v == "RETRIEVAL OK"* ]] && grep -qF "$v" "$WORK/full1.claude.out"; then
    pass "claude-code redeemed every dropped line through headroom: $v"
else
    fail "claude-code retrieval (claude rc $(cat "$WORK/full1.claude.rc")): $v"
    sed 's/^/    /' "$WORK/full1.claude.out" | tail -10
fi

# 2. The retrieve file(s) the markers cite: under --retrieve-dir, private.
if [ -s "$WORK/full1/markers.json" ]; then
    files=$(python3 -c 'import json,sys; print("\n".join(sorted({m["path"] for m in json.load(open(sys.argv[1]))})))' "$WORK/full1/markers.json")
    ok=1 why=
    for f in $files; do
        case $f in "$RETRIEVE"/*.txt) ;; *) ok=0 why="$why $f is not under --retrieve-dir;" ;; esac
        if [ ! -f "$f" ]; then ok=0 why="$why $f missing;"
        else
            mode=$(stat -c %a "$f"); [ "$mode" = 600 ] || { ok=0 why="$why $f has mode $mode;"; }
        fi
    done
    dmode=$(stat -c %a "$RETRIEVE" 2>/dev/null)
    [ "$dmode" = 700 ] || { ok=0 why="$why $RETRIEVE has mode ${dmode:-none};"; }
    if [ $ok = 1 ]; then pass "retrieve file(s) cited by the markers exist with mode 0600 in a 0700 --retrieve-dir: $(for f in $files; do basename "$f"; done | paste -sd ' ')"
    else fail "retrieve file:$why"; fi
else
    fail "retrieve file: no marker reached the upstream, so none to check"
fi

# 3. The same session through --compress off: the bodies exactly as Claude Code sent them.
standin off
proxy off 18798 off
session off 18798
OFF2=$(body_of "$WORK/off" 2)
FULL2=$(body_of "$WORK/full1" 2)
if [ -z "$OFF2" ] || [ -z "$FULL2" ]; then
    fail "turn 2 missing (off: ${OFF2:-none}, full: ${FULL2:-none})"
else
    # The retrieve file must hold the whole output exactly as Claude Code sent it.
    if [ -n "${files:-}" ]; then
        python3 - "$OFF2" $files >"$WORK/whole.check" 2>&1 <<'EOF'
import json, sys
body = json.load(open(sys.argv[1], "rb"))
sent = [b for m in body["messages"] if isinstance(m.get("content"), list) for b in m["content"]
        if b.get("type") == "tool_result" and b.get("tool_use_id") == "toolu_e2e_bash_01"][0]["content"]
sent = sent if isinstance(sent, str) else "".join(b.get("text", "") for b in sent)
for f in sys.argv[2:]:
    held = open(f, encoding="utf-8").read()
    print(("same" if held == sent else "differs"), f, len(held.encode()), "bytes held,", len(sent.encode()), "bytes sent")
EOF
        if ! grep -qv '^same' "$WORK/whole.check"; then pass "retrieve file holds the Bash output byte for byte as Claude Code sent it ($(grep -o '[0-9]* bytes held' "$WORK/whole.check" | head -1))"
        else fail "retrieve file content: $(cat "$WORK/whole.check")"; fi
    fi
    before=$(size "$OFF2") after=$(size "$FULL2")
    if [ "$after" -lt "$before" ]; then pass "turn 2 reached the upstream smaller: $after bytes instead of the $before Claude Code sent (-$(( (before - after) * 100 / before ))%)"
    else fail "turn 2 not smaller upstream: $after bytes vs $before sent by Claude Code"; fi

    # Replay Claude Code's own turn 2 through the full proxy: its token headers, and the same bytes.
    hdrs=$WORK/replay.headers
    curl -s -o "$WORK/replay.out" -D "$hdrs" "http://127.0.0.1:$FULL1_PORT/v1/messages?beta=true" \
        -H 'content-type: application/json' -H 'x-api-key: sk-ant-e2e' -H 'anthropic-version: 2023-06-01' \
        --data-binary @"$OFF2"
    tb=$(sed -n 's/^x-headroom-tokens-before: *\([0-9]*\).*/\1/ip' "$hdrs") ta=$(sed -n 's/^x-headroom-tokens-after: *\([0-9]*\).*/\1/ip' "$hdrs")
    if [ -n "$tb" ] && [ -n "$ta" ] && [ "$ta" -lt "$tb" ]; then pass "headroom's headers on turn 2: x-headroom-tokens-before $tb, after $ta"
    else fail "turn 2 token headers: before '${tb:-absent}', after '${ta:-absent}'"; fi
    REPLAY=$(python3 -c '
import json, os, sys
rows = [json.loads(l) for l in open(os.path.join(sys.argv[1], "requests.jsonl"))]
print(os.path.join(sys.argv[1], [r for r in rows if r["turn"] == 2][-1]["body"]))' "$WORK/full1")
    if [ "$REPLAY" != "$FULL2" ] && cmp -s "$REPLAY" "$FULL2"; then pass "determinism: Claude Code's turn 2 replayed by curl reached the upstream byte-identical"
    else fail "determinism: replayed turn 2 differs upstream ($(size "$REPLAY") vs $(size "$FULL2") bytes)"; fi
fi

# 4. The same session again, through a second --compress full proxy process (same retrieve dir).
stop "$PROXY_PID"   # the off proxy
standin full2
proxy full2 18799 full
session full2 18799
FULL2B=$(body_of "$WORK/full2" 2)
if [ -n "$FULL2B" ] && [ -n "$FULL2" ] && cmp -s "$FULL2" "$FULL2B"; then
    pass "determinism: the same session twice (two proxy processes) sent byte-identical turn 2 bodies upstream ($(size "$FULL2") bytes)"
else
    fail "determinism: turn 2 differs between the two runs ($(size "${FULL2:-/dev/null}") vs $(size "${FULL2B:-/dev/null}") bytes)"
    [ -n "$FULL2" ] && [ -n "$FULL2B" ] && cmp "$FULL2" "$FULL2B" | sed 's/^/    /'
fi
v2=$(verdict full2)
if [[ $v2 == "RETRIEVAL OK"* ]]; then pass "second session (retrieve file already present) redeemed too: $v2"
else fail "second session: $v2"; fi

# 5. A larger output (~116 KB; Claude Code inlines up to 128,000 chars with bashOutputMaxChars):
# the dropped lines come back in several Read calls, and headroom must not cut what Read returns.
standin big --lines 1700
proxy big 18801 full
session big 18801 '{"bashOutputMaxChars": 128000}'
v3=$(verdict big)
if [[ $v3 == "RETRIEVAL OK"* ]]; then pass "large output: $v3"
else fail "large output: $v3"; sed 's/^/    /' "$WORK/big.claude.out" | tail -5; fi

# 6. Read allowed only inside the retrieve dir, the way an adapter could grant it in settings.json.
# (Claude Code applies additionalDirectories / --add-dir only to directories that exist when it
# starts; here the earlier sessions made it.)
standin grant
proxy grant 18802 full
session grant 18802 "{\"permissions\": {\"additionalDirectories\": [\"$RETRIEVE\"]}}" Bash
v4=$(verdict grant)
if [[ $v4 == "RETRIEVAL OK"* ]]; then pass "with only the retrieve dir granted (permissions.additionalDirectories, Bash allowed, Read not): $v4"
else fail "with only the retrieve dir granted: $v4"; fi

# Not counted: when headroom cut nothing, show that the client side works with a cut made the same
# way by the stand-in itself (so a "no marker" failure is headroom's, not this harness's).
if [[ $v == *"no marker"* ]]; then
    standin sim --simulate-cut "$WORK/sim-retrieve"
    proxy sim 18800 off
    session sim 18800
    echo "INFO with the stand-in's own cut (headroom cut nothing): $(verdict sim)"
fi
summary
