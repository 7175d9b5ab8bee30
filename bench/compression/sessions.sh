#!/usr/bin/env bash
# Step 2 of build-corpus.sh: drive the REAL Claude Code / Codex CLIs (installed by
# tests/e2e/install-clients.sh under /var/tmp/headroom-e2e/npm) against recorder.py with a script of
# tool calls (sessions/*.json), inside a network namespace with only loopback. The clients run
# the tools themselves; every request body they send is kept in $SRC/sessions/<name>/.
set -u
SRC=${SRC:-/var/tmp/headroom-corpus-src}
HERE=$(cd "$(dirname "$0")" && pwd)
CLIENTS=${CLIENTS:-/var/tmp/headroom-e2e/npm/bin}
if [ "${HR_IN_NETNS:-}" != 1 ]; then exec unshare -n env HR_IN_NETNS=1 bash -c 'ip link set lo up && exec bash "$0" "$@"' "$HERE/sessions.sh" "$@"; fi
export PATH="$CLIENTS:$PATH"
W=/tmp/hr-sess; rm -rf "$W"; mkdir -p "$W/ut" "$W/home"
cp -r ~/.cargo/registry/src/index.crates.io-*/serde_json-1.0.154 "$W/"
cp /root/.pyenv/versions/3.11.7/lib/python3.11/test/test_ast.py "$W/ut/test_ast_311.py"
cp /root/.pyenv/versions/3.11.7/lib/python3.11/test/test_enum.py "$W/ut/test_enum_311.py"
run() { # name command...
    local name=$1; shift
    local out="$SRC/sessions/$name"; rm -rf "$out"; mkdir -p "$out"
    python3 "$HERE/recorder.py" --port 18901 --out "$out" --script "$HERE/sessions/$name.json" > "$W/rec.out" 2>&1 &
    local rp=$!
    for _ in $(seq 50); do grep -q listening "$W/rec.out" && break; sleep 0.1; done
    timeout 600 "$@" > "$out/client.log" 2>&1; echo "$name: client rc=$?"
    kill "$rp"; wait "$rp" 2>/dev/null
}
H=$W/home; mkdir -p "$H/.claude" "$H/.codex"
CL="env -i PATH=$PATH HOME=$H ANTHROPIC_BASE_URL=http://127.0.0.1:18901 ANTHROPIC_API_KEY=sk-ant-bench CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1 CLAUDE_CODE_MAX_RETRIES=0"
cd "$W/serde_json-1.0.154"
run claude-1 $CL claude -p "Which public functions does serde_json offer for reading input, and what changed recently?" --allowedTools "Bash Read"
run claude-2 $CL CARGO_HOME=/root/.cargo RUSTUP_HOME=/root/.rustup claude -p "Does this crate build offline, and what changed between v1.0.120 and v1.0.122? Also show me the diagram image3.png." --allowedTools "Bash Read"
run claude-3 $CL BASH_MAX_OUTPUT_LENGTH=150000 claude -p "Why does the 3.11 test_ast fail on Python 3.13? Also survey unsafe code in tokio's runtime and serde_json's history." --allowedTools "Bash Read"
cat > "$H/.codex/config.toml" <<T
model = "gpt-5-codex"
model_provider = "rec"
[model_providers.rec]
name = "rec"
base_url = "http://127.0.0.1:18901/v1"
env_key = "OPENAI_API_KEY"
wire_api = "responses"
T
CX="env -i PATH=$PATH HOME=$H CODEX_HOME=$H/.codex OPENAI_API_KEY=sk-bench codex exec -c analytics.enabled=false --disable plugins --skip-git-repo-check"
run codex-1 $CX "Summarise recent serde_json history, hyper's trait impls and the stdlib json/email package layout." < /dev/null
cd "$W/ut"
run codex-2 $CX "Why does the 3.11 test_enum fail on Python 3.13? Then list the asyncio sources." < /dev/null
