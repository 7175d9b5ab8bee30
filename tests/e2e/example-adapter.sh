#!/usr/bin/env bash
# The out-of-tree example adapter (examples/adapter-crush) through its whole life, as a plugin
# author and then a user would run it: build it on its own, inspect, install (refused without a
# terminal or --yes, then --yes), revoke and grant back capabilities, apply, revert byte for byte,
# apply again, remove (which reverts).
#
#   tests/e2e/example-adapter.sh HEADROOM
#
# Prints "N passed, N failed" last. Everything happens in a temporary HOME that is deleted after.
set -uo pipefail
HEADROOM=$1
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
EXAMPLE=$ROOT/examples/adapter-crush
PASSED=0 FAILED=0 SKIPPED=0
WORK=$(mktemp -d "${TMPDIR:-/tmp}/headroom-example.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
pass() { echo "PASS $*"; PASSED=$((PASSED + 1)); }
fail() { echo "FAIL $*"; FAILED=$((FAILED + 1)); }
check() { # name command... (passes when the command succeeds)
    local name=$1; shift
    if "$@" >"$WORK/last.out" 2>&1; then pass "$name"; else fail "$name"; sed 's/^/    /' "$WORK/last.out" | tail -15; fi
}
finish() { echo "$PASSED passed, $FAILED failed, $SKIPPED skipped"; [ "$FAILED" = 0 ]; exit $?; }

# 1. Build it the way its README says, in its own target directory.
TARGET=${HEADROOM_EXAMPLE_TARGET:-$ROOT/target/examples}
if cargo build --release --locked --quiet --manifest-path "$EXAMPLE/Cargo.toml" \
    --target wasm32-wasip2 --target-dir "$TARGET"; then
    pass "example builds out of tree"
else
    fail "example builds out of tree"; finish
fi
WASM=$TARGET/wasm32-wasip2/release/headroom_adapter_crush.wasm

export HOME=$WORK/home
export PATH=/usr/bin:/bin
unset XDG_CONFIG_HOME
hr() { "$HEADROOM" "$@"; }
CONFIG=$HOME/.config/crush/crush.json
mkdir -p "$(dirname "$CONFIG")"
# A user's real-looking file: schema, their own provider key reference, options, non-ASCII, and
# no final newline; every byte of it must come back.
printf '{\n  "$schema": "https://charm.land/crush.json",\n  "providers": {\n    "anthropic": { "api_key": "$ANTHROPIC_API_KEY" }\n  },\n  "options": { "debug": false, "context_paths": ["NOTES-é.md"] }\n}' >"$CONFIG"
cp "$CONFIG" "$WORK/original.json"

check "inspect names the plugin without running it" \
    sh -c "'$HEADROOM' plugins inspect '$WASM' | grep -q '^id: *crush'"

# 2. No terminal, no --yes: refused with the exact command, nothing installed.
hr plugins install "$WASM" </dev/null >"$WORK/install.out" 2>"$WORK/install.err"
if grep -qx "headroom: error: not approved: no terminal to ask on; to approve, run: headroom plugins install --yes $WASM" "$WORK/install.err" \
    && grep -qF 'edit ~/.config/crush/crush.json [follows $XDG_CONFIG_HOME]: the JSON key /providers/openai/base_url only' "$WORK/install.out" \
    && [ ! -e "$HOME/.headroom/plugins/crush" ]; then
    pass "install without consent is refused with the command to run"
else
    fail "install without consent is refused with the command to run"; cat "$WORK/install.err" "$WORK/install.out" | tail -20
fi

check "install --yes" hr plugins install --yes "$WASM"
check "list shows it installed, ok and detected" \
    sh -c "'$HEADROOM' plugins list | grep -E '^crush +0\.1\.0 +0\.3\.0 +installed +yes +ok '"

# 3. The user takes capabilities back: the adapter runs without them, and what it can no longer do
#    is said in one line (the SDK turns a host refusal into "not granted: …"), with nothing written.
READ='read ${XDG_CONFIG_HOME:-~/.config}/crush/**'
EDITS=('edit ${XDG_CONFIG_HOME:-~/.config}/crush/crush.json /providers/anthropic/base_url'
    'edit ${XDG_CONFIG_HOME:-~/.config}/crush/crush.json /providers/openai/base_url')
check "revoke its read and edit capabilities" hr plugins revoke crush "$READ" "${EDITS[@]}"
hr plugins apply crush >"$WORK/denied.out" 2>"$WORK/denied.err"; rc=$?
if [ $rc = 1 ] && [ "$(cat "$WORK/denied.err")" = "headroom: error: adapter crush failed: not granted: read ~/.config/crush/crush.json" ] \
    && cmp -s "$CONFIG" "$WORK/original.json"; then
    pass "apply without its grants: one line naming what was not granted, nothing written"
else
    fail "apply without its grants (rc=$rc)"; cat "$WORK/denied.err"
fi
check "revoke locate" hr plugins revoke crush "locate crush"
if hr plugins list >"$WORK/list.out" 2>&1 && grep -Eq '^crush +0\.1\.0 +0\.3\.0 +installed +error +ok ' "$WORK/list.out" \
    && grep -qx '    detect failed: adapter crush failed: not granted: locate crush' "$WORK/list.out"; then
    pass "list: a failed detection keeps the table's columns and says why below the row"
else
    fail "list with a failed detection"; cat "$WORK/list.out"
fi
check "grant them back" hr plugins grant crush "$READ" "${EDITS[@]}" "locate crush"

# 4. Apply: only the two base_url keys change.
check "apply" hr plugins apply crush --port 8787
if python3 - "$CONFIG" "$WORK/original.json" <<'PY'
import json, sys
now, before = (json.load(open(p, encoding="utf-8")) for p in sys.argv[1:3])
assert now["providers"]["anthropic"] == {"api_key": "$ANTHROPIC_API_KEY", "base_url": "http://127.0.0.1:8787"}, now
assert now["providers"]["openai"] == {"base_url": "http://127.0.0.1:8787/v1"}, now
for k in before:
    if k != "providers":
        assert now[k] == before[k], k
assert list(now) == list(before), "key order changed"
PY
then pass "crush.json routes anthropic and openai through headroom, the rest unchanged"
else fail "crush.json routes anthropic and openai through headroom, the rest unchanged"; fi

# 5. Revert: byte for byte.
check "revert" hr plugins revert crush
check "revert restores every byte" cmp "$CONFIG" "$WORK/original.json"

# 6. Its target is an install target like a built-in's (the adapters' manifests decide, not a
#    list in headroom): a persistent deployment routes crush, and removing it puts every byte back.
#    Needs a real systemd --user (the suite starts one when it can).
if [ -n "${HEADROOM_EXAMPLE_SYSTEMD:-}" ]; then
    PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    tree() { (cd "$HOME" && find . -path ./.headroom -prune -o -print0 | sort -z | xargs -0 sha256sum 2>/dev/null; find . -path ./.headroom -prune -o -printf '%p %m %y\n' | sort); }
    tree >"$WORK/tree.before"
    INSTALL=(install apply --profile example-crush --port "$PORT" --scope provider --providers manual --target crush)
    check "install apply --target crush" env XDG_RUNTIME_DIR=/run/user/0 "$HEADROOM" "${INSTALL[@]}"
    check "the deployment routes crush.json to its port" grep -q "http://127.0.0.1:$PORT/v1" "$CONFIG"
    check "install status lists crush.json as headroom wrote it" sh -c \
        "XDG_RUNTIME_DIR=/run/user/0 '$HEADROOM' install status --profile example-crush | grep -q 'edit  *~/.config/crush/crush.json: as headroom wrote it'"
    check "install remove" env XDG_RUNTIME_DIR=/run/user/0 "$HEADROOM" install remove --profile example-crush
    tree >"$WORK/tree.after"
    check "HOME is byte-identical after remove" cmp "$WORK/tree.before" "$WORK/tree.after"
    check "no deployment left" test ! -e "$HOME/.headroom/deploy/example-crush"
    # `wrap` knows crush from the same manifests; its routing lives in crush.json, so wrapping it
    # edits that file against the lasting proxy, and `unwrap` puts every byte back.
    check "a proxy-only deployment" env XDG_RUNTIME_DIR=/run/user/0 "$HEADROOM" install apply --profile example-wrap --port "$PORT" --providers none
    check "wrap crush routes crush.json through the lasting proxy" sh -c \
        "'$HEADROOM' wrap crush --port $PORT | grep -qx 'routed ~/.config/crush/crush.json through http://127.0.0.1:$PORT'"
    check "unwrap crush" hr unwrap crush
    check "unwrap restored every byte" cmp "$CONFIG" "$WORK/original.json"
    check "remove the proxy-only deployment" env XDG_RUNTIME_DIR=/run/user/0 "$HEADROOM" install remove --profile example-wrap
else
    echo "SKIP install apply --target crush: no systemd --user here"; SKIPPED=$((SKIPPED + 1))
fi

# 7. Apply again, then remove: reverts first, then deletes the plugin and its grants.
check "apply again" hr plugins apply crush
check "remove" hr plugins remove crush
check "remove restored every byte" cmp "$CONFIG" "$WORK/original.json"
if [ ! -e "$HOME/.headroom/plugins/crush" ] && ! hr plugins list | grep -q '^crush '; then
    pass "remove left no plugin behind"
else
    fail "remove left no plugin behind"
fi
finish
