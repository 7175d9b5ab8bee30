#!/usr/bin/env bash
# Run the Python reference (headroom-ai[proxy]==0.42.0) offline on the corpus and keep what the
# upstream received: reference/<mode>/<payload>.json (mode = token | cache, cache is its default),
# plus reference/<mode>/summary.json (status, latency of the first and second send, determinism).
#
#   bench/compression/reference.sh            # venv cached in /var/tmp/headroom-ref/venv
#
# Everything runs inside a network namespace with only loopback up (nothing can leave).
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
VENV=${HEADROOM_REF_VENV:-/var/tmp/headroom-ref/venv}
if [ ! -x "$VENV/bin/headroom" ]; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q 'headroom-ai[proxy]==0.42.0'
fi
if [ "${HR_IN_NETNS:-}" != 1 ]; then
    exec unshare -n env HR_IN_NETNS=1 bash -c 'ip link set lo up && exec bash "$0" "$@"' "$HERE/reference.sh" "$@"
fi
SITE=$("$VENV/bin/python" -c 'import litellm, os; print(os.path.dirname(litellm.__file__))')
export LITELLM_LOCAL_MODEL_COST_MAP=True HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
export TIKTOKEN_CACHE_DIR="$SITE/litellm_core_utils/tokenizers"
W=$(mktemp -d /tmp/headroom-ref.XXXXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; rm -rf "$W"; }
trap cleanup EXIT
U=18911 P=18912
python3 "$HERE/recorder.py" --port $U --out "$W/rec" > "$W/rec.out" 2>&1 &
PIDS+=($!)
for mode in token cache; do
    HOME="$W/home-$mode" "$VENV/bin/headroom" proxy --port $P --no-rate-limit --mode $mode \
        --anthropic-api-url "http://127.0.0.1:$U" --openai-api-url "http://127.0.0.1:$U/v1" > "$W/proxy-$mode.log" 2>&1 &
    PP=$!; PIDS+=($PP)
    t0=$(date +%s)
    until curl -s -o /dev/null "http://127.0.0.1:$P/health"; do
        sleep 0.2
        if ! kill -0 $PP 2>/dev/null || [ $(( $(date +%s) - t0 )) -gt 120 ]; then
            echo "reference proxy ($mode) did not start:"; tail -30 "$W/proxy-$mode.log"; exit 1
        fi
    done
    echo "reference proxy ($mode) up after $(( $(date +%s) - t0 )) s"
    mkdir -p "$HERE/reference/$mode"; rm -f "$HERE/reference/$mode/"*.json
    "$VENV/bin/python" - "$HERE/corpus" "$HERE/reference/$mode" "$W/rec" $P <<'PY'
import http.client, json, os, socket, sys, time
corpus, out, rec, port = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
def path_of(name):
    return "/v1/messages" if name.startswith("cc-") else "/v1/responses" if name.startswith("codex-") else "/v1/chat/completions"
def newest():
    fs = sorted(os.listdir(rec)) if os.path.isdir(rec) else []
    return fs[-1] if fs else None
summary = {}
for f in sorted(os.listdir(corpus)):
    if not f.endswith(".json"):
        continue
    name, body = f[:-5], open(os.path.join(corpus, f), "rb").read()
    path = path_of(name)
    headers = {"content-type": "application/json"}
    if path == "/v1/messages":
        headers.update({"x-api-key": "sk-ant-bench", "anthropic-version": "2023-06-01"})
    else:
        headers["authorization"] = "Bearer sk-bench"
    got, entry = [], {"path": path}
    for attempt in range(2):
        before = newest()
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
        c.connect(); c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        t = time.perf_counter()
        c.request("POST", path, body=body, headers=headers)
        r = c.getresponse(); data = r.read()
        ms = (time.perf_counter() - t) * 1000
        c.close()
        after = newest()
        entry.setdefault("status", []).append(r.status)
        entry.setdefault("ms", []).append(round(ms, 1))
        entry.setdefault("response_headers", {k: v for k, v in r.getheaders() if k.lower().startswith("x-headroom")})
        if after and after != before:
            got.append(open(os.path.join(rec, after), "rb").read())
        else:
            got.append(None)
            entry.setdefault("error", data[:500].decode("utf-8", "replace"))
    if got[0] is not None:
        open(os.path.join(out, f), "wb").write(got[0])
        entry["upstream_bytes"] = len(got[0])
        entry["deterministic"] = got[0] == got[1]
    summary[name] = entry
    print(f"  {name}: status {entry['status']} {entry['ms']} ms upstream {entry.get('upstream_bytes')} B (input {len(body)} B)", flush=True)
json.dump(summary, open(os.path.join(out, "summary.json"), "w"), indent=1, sort_keys=True)
PY
    kill $PP; wait $PP 2>/dev/null || true
    cp "$W/proxy-$mode.log" "/tmp/headroom-ref-proxy-$mode.log"
done
exit 0
