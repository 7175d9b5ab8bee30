#!/usr/bin/env python3
"""Recording upstream stand-in for the compression benchmark (loopback only).

    recorder.py --port P --out DIR [--script FILE]

Saves the raw bytes of every request body it receives as DIR/NNNN<path>.json (NNNN = arrival
order, path with '/' -> '_'), and answers a minimal valid reply for each API: Anthropic
/v1/messages (JSON or SSE), OpenAI /v1/chat/completions and /v1/responses (JSON or SSE),
count_tokens, /v1/models. WebSocket upgrades are refused (404) so Codex falls back to POST.
Prints "listening on 127.0.0.1:PORT" once ready. TCP_NODELAY on every connection.

--script FILE (used by build-corpus.sh to drive a real Claude Code / Codex session): JSON
{"anthropic": [TURN...], "responses": [TURN...]}. Each main-agent request (one that carries
more than 3 tools) pops the next TURN of its API and answers it as a stream, so the real client
runs the tools itself and sends their real results in its next request:
  anthropic TURN: {"thinking": str?, "text": str?, "tool_use": [{"name":..., "input": {...}}]}
  responses TURN: {"function_call": [{"name":..., "arguments": {...}}]}
When a queue is empty the reply is a plain "ok".
"""
import argparse, http.server, json, os, socket, socketserver, threading

ap = argparse.ArgumentParser()
ap.add_argument("--port", type=int, default=0)
ap.add_argument("--out", required=True)
ap.add_argument("--script")
args = ap.parse_args()
script = json.load(open(args.script)) if args.script else {}
ids = [0]


def next_id():
    ids[0] += 1
    return ids[0]


def sse(events):
    return "".join(f"event: {e}\ndata: {json.dumps(d)}\n\n" for e, d in events)


def anthropic_turn_sse(model, turn):
    m = anthropic_msg(model); m["content"] = []; m["stop_reason"] = None; m["id"] = f"msg_rec{next_id():04d}"
    ev = [("message_start", {"type": "message_start", "message": m})]
    i = 0
    def block(start, deltas):
        nonlocal i
        ev.append(("content_block_start", {"type": "content_block_start", "index": i, "content_block": start}))
        for d in deltas:
            ev.append(("content_block_delta", {"type": "content_block_delta", "index": i, "delta": d}))
        ev.append(("content_block_stop", {"type": "content_block_stop", "index": i}))
        i += 1
    if turn.get("thinking"):
        n = next_id()
        sig = "Er" + ("%08x" % (n * 2654435761 % 2**32)) * 40
        block({"type": "thinking", "thinking": "", "signature": ""},
              [{"type": "thinking_delta", "thinking": turn["thinking"]}, {"type": "signature_delta", "signature": sig}])
    if turn.get("text"):
        block({"type": "text", "text": ""}, [{"type": "text_delta", "text": turn["text"]}])
    for tu in turn.get("tool_use", []):
        block({"type": "tool_use", "id": f"toolu_01Rec{next_id():06d}", "name": tu["name"], "input": {}},
              [{"type": "input_json_delta", "partial_json": json.dumps(tu["input"])}])
    stop = "tool_use" if turn.get("tool_use") else "end_turn"
    ev.append(("message_delta", {"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": None}, "usage": {"output_tokens": 50}}))
    ev.append(("message_stop", {"type": "message_stop"}))
    return sse(ev)


def responses_turn_sse(model, turn):
    r = response(model); r["id"] = f"resp_rec{next_id():04d}"
    items = []
    for fc in turn.get("function_call", []):
        n = next_id()
        items.append({"type": "function_call", "id": f"fc_rec{n:04d}", "call_id": f"call_rec{n:04d}",
                      "name": fc["name"], "arguments": json.dumps(fc["arguments"]), "status": "completed"})
    ev = [("response.created", {"type": "response.created", "response": dict(r, status="in_progress", output=[])})]
    for k, it in enumerate(items):
        ev.append(("response.output_item.added", {"type": "response.output_item.added", "output_index": k, "item": dict(it, status="in_progress")}))
        ev.append(("response.output_item.done", {"type": "response.output_item.done", "output_index": k, "item": it}))
    ev.append(("response.completed", {"type": "response.completed", "response": dict(r, output=items)}))
    return sse(ev)
os.makedirs(args.out, exist_ok=True)
lock = threading.Lock()
counter = [0]


def anthropic_msg(model):
    return {"id": "msg_rec", "type": "message", "role": "assistant", "model": model,
            "content": [{"type": "text", "text": "ok"}], "stop_reason": "end_turn",
            "stop_sequence": None, "usage": {"input_tokens": 1, "output_tokens": 1}}


def anthropic_sse(model):
    m = anthropic_msg(model); m["content"] = []; m["stop_reason"] = None
    ev = [("message_start", {"type": "message_start", "message": m}),
          ("content_block_start", {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
          ("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "ok"}}),
          ("content_block_stop", {"type": "content_block_stop", "index": 0}),
          ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None}, "usage": {"output_tokens": 1}}),
          ("message_stop", {"type": "message_stop"})]
    return "".join(f"event: {e}\ndata: {json.dumps(d)}\n\n" for e, d in ev)


def chat(model):
    return {"id": "chatcmpl-rec", "object": "chat.completion", "created": 0, "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}


def chat_sse(model):
    c = {"id": "chatcmpl-rec", "object": "chat.completion.chunk", "created": 0, "model": model}
    a = dict(c, choices=[{"index": 0, "delta": {"role": "assistant", "content": "ok"}, "finish_reason": None}])
    b = dict(c, choices=[{"index": 0, "delta": {}, "finish_reason": "stop"}])
    return f"data: {json.dumps(a)}\n\ndata: {json.dumps(b)}\n\ndata: [DONE]\n\n"


def response(model):
    return {"id": "resp_rec", "object": "response", "created_at": 0, "status": "completed", "model": model,
            "output": [{"type": "message", "id": "msg_rec", "status": "completed", "role": "assistant",
                        "content": [{"type": "output_text", "text": "ok", "annotations": []}]}],
            "usage": {"input_tokens": 1, "output_tokens": 1, "total_tokens": 2,
                      "input_tokens_details": {"cached_tokens": 0}, "output_tokens_details": {"reasoning_tokens": 0}}}


def response_sse(model):
    r = response(model); item = r["output"][0]
    ev = [("response.created", {"type": "response.created", "response": dict(r, status="in_progress", output=[])}),
          ("response.output_item.added", {"type": "response.output_item.added", "output_index": 0, "item": dict(item, content=[], status="in_progress")}),
          ("response.output_text.delta", {"type": "response.output_text.delta", "item_id": "msg_rec", "output_index": 0, "content_index": 0, "delta": "ok"}),
          ("response.output_item.done", {"type": "response.output_item.done", "output_index": 0, "item": item}),
          ("response.completed", {"type": "response.completed", "response": r})]
    return "".join(f"event: {e}\ndata: {json.dumps(d)}\n\n" for e, d in ev)


class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self):
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, *a):
        pass

    def reply(self, code, body, ctype="application/json"):
        data = body.encode() if isinstance(body, str) else body
        self.send_response(code)
        self.send_header("content-type", ctype)
        self.send_header("content-length", str(len(data)))
        self.send_header("request-id", "req_rec")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def do_HEAD(self):
        self.reply(200, b"")

    def do_GET(self):
        if self.headers.get("upgrade"):
            return self.reply(404, json.dumps({"error": {"message": "no websocket here"}}))
        if self.path.startswith("/v1/models"):
            return self.reply(200, json.dumps({"object": "list", "data": [{"id": "rec", "object": "model", "created": 0, "owned_by": "rec"}]}))
        self.reply(200, "{}")

    def do_POST(self):
        n = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(n)
        path = self.path.split("?")[0]
        with lock:
            counter[0] += 1
            name = f"{counter[0]:04d}{path.replace('/', '_')}.json"
        with open(os.path.join(args.out, name), "wb") as f:
            f.write(raw)
        try:
            body = json.loads(raw)
        except Exception:
            body = {}
        model = body.get("model", "rec-model") if isinstance(body, dict) else "rec-model"
        stream = isinstance(body, dict) and body.get("stream") is True
        sse = "text/event-stream"
        if path.endswith("/count_tokens"):
            return self.reply(200, json.dumps({"input_tokens": 1}))
        main = isinstance(body, dict) and len(body.get("tools") or []) > 3 and stream
        with lock:
            q = script.get("anthropic" if path.endswith("/messages") else "responses", [])
            turn = q.pop(0) if main and q and path.endswith(("/messages", "/responses")) else None
        if turn is not None and path.endswith("/messages"):
            return self.reply(200, anthropic_turn_sse(model, turn), sse)
        if turn is not None:
            return self.reply(200, responses_turn_sse(model, turn), sse)
        if path.endswith("/messages"):
            return self.reply(200, anthropic_sse(model), sse) if stream else self.reply(200, json.dumps(anthropic_msg(model)))
        if path.endswith("/chat/completions"):
            return self.reply(200, chat_sse(model), sse) if stream else self.reply(200, json.dumps(chat(model)))
        if path.endswith("/responses"):
            return self.reply(200, response_sse(model), sse) if stream else self.reply(200, json.dumps(response(model)))
        self.reply(404, json.dumps({"error": {"message": "not found"}}))


class S(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


srv = S(("127.0.0.1", args.port), H)
print(f"listening on 127.0.0.1:{srv.server_address[1]}", flush=True)
srv.serve_forever()
