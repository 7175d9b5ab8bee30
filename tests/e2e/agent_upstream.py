#!/usr/bin/env python3
"""A scripted Anthropic upstream that plays the model for tests/e2e/retrieval.sh.

    agent_upstream.py --record DIR --verdict FILE [--lines N]

Listens on 127.0.0.1 (a free port; prints "listening on 127.0.0.1:PORT"), answers
`POST /v1/messages` (SSE when `stream` is true), `/v1/messages/count_tokens`, `HEAD /` and
anything else harmlessly. The script, keyed on what the last user message carries:

1. the prompt: a `tool_use` of Claude Code's `Bash` tool printing a large, deterministic
   pytest-style log (one FAILED test in the middle);
2. that command's `tool_result`: it must hold headroom cut markers
   (`lines A–B of /abs/path.txt`); answers `Read` tool_uses selecting exactly the dropped lines
   (in chunks Claude Code's Read limits accept);
3. the Read results: strips Claude Code's `   41→` prefixes, compares every line with what the
   command really prints (the stand-in runs the same command itself), also rebuilds the whole
   output from the cut one, and answers `RETRIEVAL OK <n> lines` or `RETRIEVAL FAIL: <why>`,
   which it also writes to the verdict file.

Every request is recorded: DIR/NNN.body (the bytes as received), DIR/requests.jsonl (one line each:
n, method, path, query, turn, body file, headers). Python 3 stdlib only.
"""

import argparse
import json
import os
import re
import socket
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

BASH_ID = "toolu_e2e_bash_01"
READ_PREFIX = "toolu_e2e_read_"
PROMPT = "run the test log"
MODEL_FALLBACK = "claude-sonnet-4-5"
# Lines per Read call: well inside Read's token limit for ~75-char lines.
READ_CHUNK = 400

# `lines 41–2940 of /root/.headroom/retrieve/3f2a…c9.txt` (en dash or hyphen, maybe 1,234 commas).
MARKER = re.compile(r"lines\s+(\d[\d,]*)\s*[–-]\s*(\d[\d,]*)\s+of\s+(/[^\s,;()\[\]]*?\.txt)")
# Claude Code's Read output: `    41→text` (cat -n style with an arrow; a tab on older releases).
NUMBERED = re.compile(r"^\s*(\d+)(?:→|\t)(.*)$")


def command(lines):
    """A realistic pytest -v log no lossless line encoding applies to: the test module changes
    every line (no shared prefix, no number-only differences), deterministic (integer LCG).
    ~68 bytes a line: 400 lines stay under Claude Code's default 30,000-char inline Bash limit."""
    fail = lines * 3 // 5
    prog = (
        'BEGIN{split("api core db auth cli jobs net ui billing search",d," ");'
        'split("user order invoice session token cache queue report widget payment account config schema router worker",n," ");'
        'split("create update delete fetch list validate parse render retry merge export import sync resolve encode",v," ");'
        f"N={lines};K={fail};x=7;p=0;"
        "for(i=1;i<=N;i++){x=(x*69069+1)%4294967296;p=(p+1+int(x/65536)%9)%10;"
        "a=n[1+int(x/256)%15];b=v[1+int(x/16)%15];c=n[1+int(x/4096)%15];"
        'if(i==K){printf "tests/%s/test_%s.py::test_%s_%s[case%d] FAILED [%3d%%]\\n",d[p+1],a,b,c,i,int(i*100/N);'
        'print "E       AssertionError: assert response.status_code == 200 (got 500)"}'
        'else printf "tests/%s/test_%s.py::test_%s_%s[case%d] PASSED [%3d%%]\\n",d[p+1],a,b,c,i,int(i*100/N)}'
        'printf "=========== 1 failed, %d passed in 41.27s ===========\\n",N-1}'
    )
    # Wrapped in a function: headroom leaves file viewers' output (`awk …` among them) alone.
    return "run_tests() { awk '" + prog + "'; }; run_tests"


class Script:
    def __init__(self, args):
        self.record = args.record
        self.verdict_path = args.verdict
        self.simulate = args.simulate_cut
        self.cmd = command(args.lines)
        out = subprocess.run(["bash", "-c", self.cmd], capture_output=True, check=True, text=True)
        self.expected_text = out.stdout
        self.expected = out.stdout.rstrip("\n").split("\n")
        self.n = 0
        self.lock = threading.Lock()

    def next_n(self):
        with self.lock:
            self.n += 1
            return self.n

    def verdict(self, text):
        with open(self.verdict_path, "w") as f:
            f.write(text + "\n")
        return text


def blocks(message):
    c = message.get("content")
    if isinstance(c, str):
        return [{"type": "text", "text": c}]
    return c if isinstance(c, list) else []


def result_text(block):
    c = block.get("content")
    if isinstance(c, str):
        return c
    if isinstance(c, list):
        return "".join(b.get("text", "") for b in c if isinstance(b, dict) and b.get("type") == "text")
    return ""


def last_user(messages):
    for m in reversed(messages):
        if m.get("role") == "user":
            return m
    return None


def tool_results(message):
    return [b for b in blocks(message) if b.get("type") == "tool_result"]


def classify(body):
    """Which step of the script a /v1/messages request is: 1, 2, 3 or 0 (anything else)."""
    messages = body.get("messages") or []
    user = last_user(messages)
    if user is None:
        return 0
    ids = [b.get("tool_use_id", "") for b in tool_results(user)]
    if BASH_ID in ids:
        return 2
    if any(i.startswith(READ_PREFIX) for i in ids):
        return 3
    text = "".join(b.get("text", "") for b in blocks(user) if b.get("type") == "text")
    tools = [t.get("name") for t in body.get("tools") or []]
    if PROMPT in text and "Bash" in tools:
        return 1
    return 0


def markers(text):
    return [(int(a.replace(",", "")), int(b.replace(",", "")), p) for a, b, p in MARKER.findall(text)]


def simulate_cut(text, directory):
    """--simulate-cut: what headroom's `full` cut would look like (head, tail, error lines kept),
    with the file written here; checks the client side alone while the real cut is not there."""
    import hashlib
    lines = text.split("\n")
    path = os.path.join(directory, hashlib.sha256(text.encode()).hexdigest()[:32] + ".txt")
    if not os.path.exists(path):
        os.makedirs(directory, mode=0o700, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(text)
    keep = [i < 20 or i >= len(lines) - 20 or "FAILED" in l or "Error" in l for i, l in enumerate(lines)]
    out, i = [], 0
    while i < len(lines):
        if keep[i]:
            out.append(lines[i])
            i += 1
            continue
        j = i
        while j < len(lines) and not keep[j]:
            j += 1
        out.append(f"[headroom: {j - i} lines omitted here (lines {i + 1}–{j} of {path}, which holds "
                   "this whole output); read those lines of that file to see them]")
        i = j
    return "\n".join(out)


def step2(s, body):
    """The Bash result arrived: ask for every dropped range with Read."""
    user = last_user(body["messages"])
    res = next(b for b in tool_results(user) if b.get("tool_use_id") == BASH_ID)
    found = markers(result_text(res))
    if not found and s.simulate:
        found = markers(simulate_cut(result_text(res), s.simulate))
    if not found:
        return text_answer(s.verdict("RETRIEVAL FAIL: no marker"))
    with open(os.path.join(s.record, "markers.json"), "w") as f:
        json.dump([{"first": a, "last": b, "path": p} for a, b, p in found], f)
    tools = {t.get("name"): t for t in body.get("tools") or []}
    props = ((tools.get("Read") or {}).get("input_schema") or {}).get("properties") or {}
    if not {"file_path", "offset", "limit"} <= set(props):
        return text_answer(s.verdict(f"RETRIEVAL FAIL: Read tool schema lacks file_path/offset/limit: {sorted(props)}"))
    uses = []
    for a, b, path in found:
        if not os.path.isabs(path) or a < 1 or b < a:
            return text_answer(s.verdict(f"RETRIEVAL FAIL: bad marker lines {a}-{b} of {path}"))
        start = a
        while start <= b:
            count = min(READ_CHUNK, b - start + 1)
            # Read's offset is the 1-based line number to start at.
            uses.append({"file_path": path, "offset": start, "limit": count})
            start += count
    calls = [(f"{READ_PREFIX}{i + 1:02d}", "Read", u) for i, u in enumerate(uses)]
    return tool_answer("Reading the omitted lines back.", calls)


def step3(s, body):
    """The Read results arrived: compare them (and the rebuilt output) with the real output."""
    messages = body["messages"]
    user = last_user(messages)
    results = {b.get("tool_use_id"): b for b in tool_results(user)}
    # The Read inputs we asked for, and the (cut) Bash output, from the history.
    asked = {}
    cut = None
    for m in messages:
        for b in blocks(m):
            if b.get("type") == "tool_use" and str(b.get("id", "")).startswith(READ_PREFIX):
                asked[b["id"]] = b.get("input") or {}
            if b.get("type") == "tool_result" and b.get("tool_use_id") == BASH_ID:
                cut = result_text(b)
    if cut is None:
        return text_answer(s.verdict("RETRIEVAL FAIL: the Bash tool_result is gone from the history"))
    if not markers(cut) and s.simulate:
        cut = simulate_cut(cut, s.simulate)
    got = {}  # line number -> text, from every Read result
    for tid, inp in sorted(asked.items()):
        res = results.get(tid)
        if res is None:
            return text_answer(s.verdict(f"RETRIEVAL FAIL: no result for {tid}"))
        text = result_text(res)
        if res.get("is_error"):
            return text_answer(s.verdict(f"RETRIEVAL FAIL: Read {inp} failed: {text[:300]!r}"))
        nums = []
        for line in text.split("\n"):
            m = NUMBERED.match(line)
            if m:
                got[int(m.group(1))] = m.group(2)
                nums.append(int(m.group(1)))
        off, lim = inp["offset"], inp["limit"]
        if nums != list(range(off, off + lim)):
            shown = f"{nums[0]}..{nums[-1]} ({len(nums)} lines)" if nums else "none"
            return text_answer(s.verdict(
                f"RETRIEVAL FAIL: Read offset={off} limit={lim} returned lines {shown}: {text[:200]!r}"))
    total = 0
    for a, b, path in markers(cut):
        for k in range(a, b + 1):
            want = s.expected[k - 1] if k <= len(s.expected) else None
            if got.get(k) != want:
                return text_answer(s.verdict(
                    f"RETRIEVAL FAIL: line {k} of {path} is {got.get(k)!r}, the command printed {want!r}"))
        total += b - a + 1
    # The cut output with each marker line replaced by the lines it cites is the whole output.
    rebuilt = []
    for line in cut.split("\n"):
        found = markers(line)
        if found:
            a, b, _ = found[0]
            rebuilt.extend(got[k] for k in range(a, b + 1))
        else:
            rebuilt.append(line)
    while rebuilt and rebuilt[-1] == "":
        rebuilt.pop()
    if rebuilt != s.expected:
        first = next((i for i, (x, y) in enumerate(zip(rebuilt, s.expected)) if x != y),
                     min(len(rebuilt), len(s.expected)))
        return text_answer(s.verdict(
            f"RETRIEVAL FAIL: rebuilt output differs at line {first + 1} ({len(rebuilt)} vs "
            f"{len(s.expected)} lines): {rebuilt[first:first + 1]!r} vs {s.expected[first:first + 1]!r}"))
    return text_answer(s.verdict(
        f"RETRIEVAL OK {total} lines ({len(markers(cut))} cut range(s), {len(asked)} Read call(s); the whole "
        f"{len(s.expected)}-line output rebuilt byte for byte)"))


# --- Anthropic answers -------------------------------------------------------------------------

def text_answer(text):
    return {"stop_reason": "end_turn", "content": [{"type": "text", "text": text}]}


def tool_answer(text, calls):
    content = [{"type": "text", "text": text}]
    content += [{"type": "tool_use", "id": i, "name": name, "input": inp} for i, name, inp in calls]
    return {"stop_reason": "tool_use", "content": content}


def message(n, model, answer):
    return {
        "id": f"msg_e2e_{n:03d}", "type": "message", "role": "assistant", "model": model,
        "content": answer["content"], "stop_reason": answer["stop_reason"], "stop_sequence": None,
        "usage": {"input_tokens": 10, "output_tokens": 10},
    }


def sse(n, model, answer):
    out = []

    def ev(kind, data):
        out.append(f"event: {kind}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n")

    start = message(n, model, answer)
    start.update(content=[], stop_reason=None, usage={"input_tokens": 10, "output_tokens": 1})
    ev("message_start", {"type": "message_start", "message": start})
    for i, block in enumerate(answer["content"]):
        if block["type"] == "text":
            ev("content_block_start", {"type": "content_block_start", "index": i,
                                       "content_block": {"type": "text", "text": ""}})
            ev("content_block_delta", {"type": "content_block_delta", "index": i,
                                       "delta": {"type": "text_delta", "text": block["text"]}})
        else:
            ev("content_block_start", {"type": "content_block_start", "index": i, "content_block": {
                "type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}})
            ev("content_block_delta", {"type": "content_block_delta", "index": i, "delta": {
                "type": "input_json_delta", "partial_json": json.dumps(block["input"])}})
        ev("content_block_stop", {"type": "content_block_stop", "index": i})
    ev("message_delta", {"type": "message_delta",
                         "delta": {"stop_reason": answer["stop_reason"], "stop_sequence": None},
                         "usage": {"output_tokens": 10}})
    ev("message_stop", {"type": "message_stop"})
    return "".join(out).encode()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    script = None  # set in main

    def log_message(self, fmt, *args):
        pass

    def send(self, status, body, ctype="application/json"):
        self.send_response(status)
        self.send_header("content-type", ctype)
        self.send_header("content-length", str(len(body)))
        self.send_header("request-id", "req_e2e")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def record(self, raw, turn):
        s = self.script
        n = s.next_n()
        name = f"{n:03d}.body"
        with open(os.path.join(s.record, name), "wb") as f:
            f.write(raw)
        url = urlsplit(self.path)
        line = {"n": n, "method": self.command, "path": url.path, "query": url.query, "turn": turn,
                "body": name, "bytes": len(raw), "headers": {k.lower(): v for k, v in self.headers.items()}}
        with s.lock, open(os.path.join(s.record, "requests.jsonl"), "a") as f:
            f.write(json.dumps(line) + "\n")
        return n

    def do_HEAD(self):
        self.record(b"", None)
        self.send(200, b"")

    def do_GET(self):
        self.record(b"", None)
        self.send(200, b"{}")

    def do_POST(self):
        raw = self.rfile.read(int(self.headers.get("content-length") or 0))
        path = urlsplit(self.path).path
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            body = {}
        if path.endswith("/count_tokens"):
            self.record(raw, None)
            return self.send(200, b'{"input_tokens": 1}')
        if not path.endswith("/v1/messages"):
            self.record(raw, None)
            return self.send(200, b"{}")
        try:
            turn = classify(body)
        except (AttributeError, TypeError):
            turn = 0
        n = self.record(raw, turn)
        s = self.script
        try:
            if turn == 1:
                answer = tool_answer("Running the test log.", [(BASH_ID, "Bash", {
                    "command": s.cmd, "description": "Print the test log"})])
            elif turn == 2:
                answer = step2(s, body)
            elif turn == 3:
                answer = step3(s, body)
            else:
                answer = text_answer("ok")
        except Exception as e:  # a bug here must show up as a verdict, not a hang
            answer = text_answer(s.verdict(f"RETRIEVAL FAIL: stand-in error {type(e).__name__}: {e}"))
        model = body.get("model") or MODEL_FALLBACK
        if body.get("stream"):
            self.send(200, sse(n, model, answer), "text/event-stream")
        else:
            self.send(200, json.dumps(message(n, model, answer)).encode())


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def get_request(self):
        sock, addr = super().get_request()
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock, addr


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--record", required=True)
    ap.add_argument("--verdict", required=True)
    ap.add_argument("--lines", type=int, default=400)
    ap.add_argument("--simulate-cut", metavar="DIR",
                    help="when the Bash result has no marker, cut it here the way headroom would")
    ap.add_argument("--print-command", action="store_true", help="print the Bash command and exit")
    args = ap.parse_args()
    if args.print_command:
        print(command(args.lines))
        return
    os.makedirs(args.record, exist_ok=True)
    Handler.script = Script(args)
    srv = Server(("127.0.0.1", 0), Handler)
    print(f"listening on 127.0.0.1:{srv.server_address[1]}", flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
