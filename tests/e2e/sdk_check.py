"""Real Python SDKs through headroom: `python3 sdk_check.py <anthropic|openai> <base_url>`.
Prints one line per check; exits non-zero on the first failure."""
import sys

EXPECTED = "Hello from the headroom test upstream."


def check(name, got):
    if EXPECTED not in got:
        print(f"FAIL {name}: got {got!r}")
        sys.exit(1)
    print(f"ok {name}")


def anthropic_checks(base):
    import anthropic

    client = anthropic.Anthropic(base_url=base, api_key="sk-ant-e2e", max_retries=0)
    msg = client.messages.create(
        model="claude-e2e", max_tokens=16, messages=[{"role": "user", "content": "hi"}]
    )
    check("anthropic messages.create", msg.content[0].text)
    with client.messages.stream(
        model="claude-e2e", max_tokens=16, messages=[{"role": "user", "content": "hi"}]
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    check("anthropic messages.stream", text)
    assert final.usage.output_tokens == 9, final.usage
    print(f"ok anthropic count_tokens={client.messages.count_tokens(model='claude-e2e', messages=[{'role': 'user', 'content': 'hi'}]).input_tokens}")


def openai_checks(base):
    import openai

    client = openai.OpenAI(base_url=base + "/v1", api_key="sk-e2e", max_retries=0)
    chat = client.chat.completions.create(
        model="gpt-e2e", messages=[{"role": "user", "content": "hi"}]
    )
    check("openai chat.completions.create", chat.choices[0].message.content)
    parts = []
    for chunk in client.chat.completions.create(
        model="gpt-e2e", messages=[{"role": "user", "content": "hi"}], stream=True
    ):
        if chunk.choices and chunk.choices[0].delta.content:
            parts.append(chunk.choices[0].delta.content)
    check("openai chat.completions stream", "".join(parts))
    resp = client.responses.create(model="gpt-e2e", input="hi")
    check("openai responses.create", resp.output_text)
    emb = client.embeddings.create(model="e", input="hi")
    assert len(emb.data[0].embedding) == 3
    print("ok openai embeddings")
    # An upstream error comes back once, in OpenAI's shape, as the SDK's typed error.
    try:
        client.chat.completions.create(
            model="gpt-e2e",
            messages=[{"role": "user", "content": "hi"}],
            extra_headers={"x-stub-fault": "status:429"},
        )
        print("FAIL openai 429: no error raised")
        sys.exit(1)
    except openai.RateLimitError:
        print("ok openai 429 -> RateLimitError")


{"anthropic": anthropic_checks, "openai": openai_checks}[sys.argv[1]](sys.argv[2])
