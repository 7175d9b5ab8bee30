#!/usr/bin/env bash
# Re-create bench/compression/corpus/ from real sources on this machine (see README.md):
#   1. gather.sh       real command output (git mirror of serde-rs/json, ~/.cargo/registry sources,
#                      pip/npm installs, npm registry JSON, listings, CPython test runs) -> $SRC
#   2. sessions.sh     real Claude Code / Codex CLI sessions against recorder.py (netns, loopback only)
#   3. build-corpus.py assemble the payloads
# Outputs change with time (registry metadata, timestamps, mirror head), so a rebuild is a new corpus.
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
export SRC=${SRC:-/var/tmp/headroom-corpus-src}
bash "$HERE/gather.sh"
bash "$HERE/sessions.sh"
python3 "$HERE/build-corpus.py"
