#!/usr/bin/env python3
"""Step 3 of build-corpus.sh: assemble bench/compression/corpus/*.json from $SRC.

* `*-session-*` payloads are the last request body a real client sent in sessions.sh, copied
  byte for byte.
* the other payloads put real command output gathered by gather.sh into the request skeleton a
  real client sent (system, tools, first messages taken verbatim from the first request of a
  session), in the same block shapes the real clients use. Only the assistant turns (tool calls,
  thinking text) and the user questions are ours.
File prefix = API: cc-* -> /v1/messages, codex-* -> /v1/responses, chat-* -> /v1/chat/completions.
"""
import copy, json, os, sys

SRC = os.environ.get("SRC", "/var/tmp/headroom-corpus-src")
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")
os.makedirs(OUT, exist_ok=True)


def txt(name, limit=None):
    s = open(os.path.join(SRC, name), encoding="utf-8").read()
    if limit and len(s) > limit:  # cut at a line boundary
        s = s[: s.rfind("\n", 0, limit) + 1]
    return s


def dump(obj):
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()


def write(name, data):
    with open(os.path.join(OUT, name + ".json"), "wb") as f:
        f.write(data)
    print(f"{name}.json {len(data)}")


def last_request(session):
    d = os.path.join(SRC, "sessions", session)
    files = sorted(f for f in os.listdir(d) if f.endswith(".json") and "count_tokens" not in f)
    return open(os.path.join(d, files[-1]), "rb").read()


def first_request(session):
    d = os.path.join(SRC, "sessions", session)
    return json.load(open(os.path.join(d, sorted(f for f in os.listdir(d) if f.endswith(".json"))[0])))


# 1. real sessions, byte for byte
for out, session in [
    ("cc-session-grep-read-log", "claude-1"),
    ("cc-session-builderr-diff-image", "claude-2"),
    ("cc-session-unittest-persisted", "claude-3"),
    ("codex-session-exec-log-grep-ls", "codex-1"),
    ("codex-session-unittest-find", "codex-2"),
]:
    write(out, last_request(session))

# 2. Claude Code skeleton (first request of claude-1), real outputs as Bash/Read results
CC = first_request("claude-1")
SIG = "EqQBCkgIBxABGAIiQ" + "Rec" * 60  # opaque signature (shape only)
SEQ = [0]


def tid():
    SEQ[0] += 1
    return f"toolu_01Bench{SEQ[0]:05d}"


def claude_payload(question, calls, list_form=()):
    """calls: [(tool, input, output, is_error)]; list_form: indexes whose result is a list of text blocks."""
    b = copy.deepcopy(CC)
    b["messages"][0]["content"][-1]["text"] = question
    for i, (tool, inp, output, err) in enumerate(calls):
        t = tid()
        blocks = []
        if i == 0:
            blocks.append({"type": "thinking", "thinking": "Start by running the command the user asked about and read its output.", "signature": SIG})
        blocks.append({"type": "tool_use", "id": t, "name": tool, "input": inp})
        b["messages"].append({"role": "assistant", "content": blocks})
        content = [{"type": "text", "text": output}] if i in list_form else output
        res = {"tool_use_id": t, "type": "tool_result", "content": content}
        if tool == "Bash":
            res["is_error"] = err
        b["messages"].append({"role": "user", "content": [res]})
    b["messages"][-1]["content"][-1]["cache_control"] = {"type": "ephemeral"}
    return dump(b)


def bash(cmd, desc, out, err=False):
    return ("Bash", {"command": cmd, "description": desc}, out, err)


def read_result(text):  # Claude Code's Read format, as in cc-session-grep-read-log: "N\t" + line
    return "".join(f"{i}\t{l}\n" for i, l in enumerate(text.split("\n")[:-1] if text.endswith("\n") else text.split("\n"), 1))


write("cc-npm-install-color", claude_payload("Install express 4.19.2 and show what body-parser ships.", [
    bash("npm install --color=always --loglevel=http --no-fund --no-audit express@4.19.2", "Install express with http logging", txt("npm-install-color.txt")),
    bash("ls -lR node_modules/express node_modules/body-parser", "List installed package files", txt("ls-lR-node_modules.txt")),
]))
write("cc-build-logs", claude_payload("Install rich 13.7.1 verbosely, build markupsafe from source, then build fancy-regex.", [
    bash("pip install -v --no-cache-dir 'rich==13.7.1'", "Verbose pip install", txt("pip-install-v.txt")),
    bash("pip install -v --no-cache-dir --no-binary=:all: 'markupsafe==2.1.5'", "Build markupsafe from sdist", txt("pip-install-v-sdist.txt")),
    bash("cd /tmp/hr-cb/fancy-regex-0.13.0 && cargo build -j1 2>&1", "Build fancy-regex", txt("cargo-build-fancy-regex.txt")),
]))
write("cc-registry-json", claude_payload("What versions of semver exist, and what does express 4.19.2 depend on?", [
    bash("curl -s https://registry.npmjs.org/semver | jq '.versions |= with_entries(select(.key | test(\"^[5-9]\\\\.\")))'", "Fetch semver metadata, versions 5 and later", txt("npm-semver-v5plus.json")),
    bash("curl -s https://registry.npmjs.org/express/4.19.2", "Fetch express 4.19.2 manifest", txt("npm-express-4.19.2.json")),
    bash("curl -s https://registry.npmjs.org/left-pad", "Fetch left-pad metadata", txt("npm-left-pad.json")),
]))
write("cc-big-mixed", claude_payload("Review tokio's unsafe code, serde_json's history and why test_ast fails on 3.13.", [
    bash("grep -rn \"unsafe\" tokio-1.54.1/src/runtime/ | head -500", "Find unsafe in tokio runtime", txt("grep-tokio-unsafe.txt")),
    bash("git --git-dir /work/.mirror/serde-rs+json/repo log -n 120 --format=fuller", "Full upstream log", txt("git-log-fuller.txt")),
    bash("cd /tmp/hr-ut && python3.13 -m unittest -v test_ast_311 2>&1 | head -c 40000", "Run 3.11 test_ast under 3.13", "Exit code 1\n" + txt("unittest-test_ast.txt", 40000), True),
], list_form=(1,)))
write("cc-pip-json", claude_payload("Which packages are installed in the reference venv and what do they require?", [
    bash("pip list --format=json", "Installed packages as JSON", txt("pip-list-json.json")),
    bash("pip inspect | jq '[.installed[] | {name: .metadata.name, version: .metadata.version, summary: .metadata.summary, requires_python: .metadata.requires_python, requires_dist: .metadata.requires_dist, installer, requested}]'", "Installed package metadata", txt("pip-inspect-jq.json")),
]))
write("cc-read-and-diff-only", claude_payload("Explain read.rs as of v1.0.122 and the diff from v1.0.120.", [
    ("Read", {"file_path": "/tmp/serde_json-v1.0.122/src/read.rs"}, read_result(txt("read-rs.txt")), False),
    bash("git --git-dir /work/.mirror/serde-rs+json/repo diff v1.0.120 v1.0.122 -- src/", "Diff src between releases", txt("git-diff.txt")),
]))

# 3. Codex skeleton (first request of codex-1); older Codex `shell` tool whose output is a JSON string
CX = first_request("codex-1")
SHELL_TOOL = {"type": "function", "name": "shell", "description": "Runs a shell command and returns its output.", "strict": False,
              "parameters": {"type": "object", "properties": {"command": {"type": "array", "items": {"type": "string"}},
                             "workdir": {"type": "string"}, "timeout_ms": {"type": "number"}}, "required": ["command"], "additionalProperties": False}}


def codex_payload(question, calls):
    b = copy.deepcopy(CX)
    b["tools"] = [SHELL_TOOL] + [t for t in b["tools"] if t.get("name") != "exec_command"]
    b["input"][-1]["content"][0]["text"] = question
    for i, (cmd, output, code, secs) in enumerate(calls):
        cid = f"call_bench{SEQ[0]:05d}"; SEQ[0] += 1
        if i == 0:
            b["input"].append({"type": "reasoning", "id": f"rs_bench{SEQ[0]:05d}", "summary": [], "content": None,
                               "encrypted_content": "gAAAAABpRec" + "QmVuY2g" * 80})
        b["input"].append({"type": "function_call", "id": f"fc_bench{SEQ[0]:05d}", "name": "shell",
                           "arguments": json.dumps({"command": ["bash", "-lc", cmd], "workdir": "/tmp/hr-sess"}), "call_id": cid})
        b["input"].append({"type": "function_call_output", "call_id": cid,
                           "output": json.dumps({"output": output, "metadata": {"exit_code": code, "duration_seconds": secs}})})
    return dump(b)


write("codex-shell-npm-pip-gitstat", codex_payload("Install express, build markupsafe, and summarise serde_json's recent changes.", [
    ("npm install --color=always --loglevel=http --no-fund --no-audit express@4.19.2", txt("npm-install-color.txt"), 0, 3.1),
    ("pip install -v --no-cache-dir --no-binary=:all: 'markupsafe==2.1.5'", txt("pip-install-v-sdist.txt"), 0, 9.4),
    ("git --git-dir /work/.mirror/serde-rs+json/repo log --stat -n 45", txt("git-log-stat.txt"), 0, 0.1),
]))
pt = txt("pytest-test_enum.txt")
write("codex-shell-pytest-rerun-grep", codex_payload("Run the 3.11 enum tests under 3.13 with pytest and find public functions.", [
    ("cd /tmp/hr-ut && python -m pytest -p no:cacheprovider test_enum_311.py", pt, 1, 3.0),
    ("grep -rn \"pub fn \" serde_json-1.0.154/src/ regex-1.13.2/src/", txt("grep-pub-fn.txt"), 0, 0.0),
    ("cd /tmp/hr-ut && python -m pytest -p no:cacheprovider test_enum_311.py", pt, 1, 3.0),
]))

# 4. chat completions: role "tool" messages (exec_command definition from Codex, in chat form)
ex = next(t for t in CX["tools"] if t.get("name") == "exec_command")
CHAT_TOOLS = [{"type": "function", "function": {"name": ex["name"], "description": ex["description"], "parameters": ex["parameters"]}}]
SYSTEM = "You are a coding assistant working in a terminal. Use the exec_command tool to inspect the machine, then answer concisely."


def chat_payload(question, calls):
    msgs = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": question}]
    for cmd, output in calls:
        cid = f"call_chat{SEQ[0]:05d}"; SEQ[0] += 1
        msgs.append({"role": "assistant", "content": None, "tool_calls": [{"id": cid, "type": "function",
                     "function": {"name": "exec_command", "arguments": json.dumps({"cmd": cmd})}}]})
        msgs.append({"role": "tool", "tool_call_id": cid, "content": output})
    return dump({"model": "gpt-4.1", "messages": msgs, "tools": CHAT_TOOLS, "tool_choice": "auto", "stream": False})


write("chat-tools-diff-json-ls", chat_payload("What changed in serde_json v1.0.122, how is left-pad published, and what is in the stdlib json/email/urllib dirs?", [
    ("git --git-dir /work/.mirror/serde-rs+json/repo diff v1.0.120 v1.0.122 -- src/", txt("git-diff.txt")),
    ("curl -s https://registry.npmjs.org/left-pad", txt("npm-left-pad.json")),
    ("ls -lR /usr/lib/python3.11/email /usr/lib/python3.11/json /usr/lib/python3.11/urllib", txt("ls-lR-python.txt")),
    ("find /usr/lib/python3.11/asyncio /usr/lib/python3.11/concurrent -type f | sort", txt("find-python.txt")),
]))
write("chat-small-manifest", chat_payload("What does express 4.19.2 depend on?", [
    ("curl -s https://registry.npmjs.org/express/4.19.2", txt("npm-express-4.19.2.json")),
    ("pip --version", txt("pip-version.txt")),
]))
