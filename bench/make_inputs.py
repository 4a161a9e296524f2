#!/usr/bin/env python3
"""Writes the benchmark inputs in bench/inputs/ (deterministic; committed).

- claude-2k.json, claude-60k.json: Claude-Code-like Messages requests (system
  blocks with cache_control, tools with JSON schemas, a tool loop, an image).
- stream-<dialect>.sse: a long upstream stream in each dialect: 1,000 text
  deltas, then a tool call whose arguments arrive in 200 fragments (Gemini:
  whole calls, as Gemini sends them), then the end of the message.
"""
import json, os, random

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "inputs")
rnd = random.Random(7)
WORDS = ("the file function test error value return module request response stream token model tool call "
         "result index state config server client upstream header body json parse encode decode cache").split()

def prose(n):
    out = []
    while len(" ".join(out)) < n:
        out.append(rnd.choice(WORDS))
    return " ".join(out)[:n]

def tool(i, desc_len):
    return {"name": "tool_%02d" % i, "description": prose(desc_len),
            "input_schema": {"type": "object", "properties": {
                "path": {"type": "string", "description": prose(80)},
                "pattern": {"type": "string", "description": prose(60)},
                "limit": {"type": "integer", "description": "max results"},
                "options": {"type": "object", "properties": {"recursive": {"type": "boolean"}, "depth": {"type": "integer"}}}},
                "required": ["path"], "additionalProperties": False}}

PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg=="

def claude_request(system_len, ntools, desc_len, turns, image_b64, result_len=900, reminder_len=300):
    msgs = [{"role": "user", "content": [{"type": "text", "text": "<system-reminder>" + prose(reminder_len) + "</system-reminder>"},
                                         {"type": "text", "text": "Please fix the failing test in the parser module."}]}]
    for t in range(turns):
        tid = "toolu_01%022d" % t
        msgs.append({"role": "assistant", "content": [
            {"type": "text", "text": prose(200)},
            {"type": "tool_use", "id": tid, "name": "tool_%02d" % (t % max(ntools, 1)),
             "input": {"path": "/repo/src/file_%d.py" % t, "pattern": "def .*", "limit": 50}}]})
        msgs.append({"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": tid, "content": prose(result_len)}]})
    if image_b64:
        msgs.append({"role": "user", "content": [{"type": "text", "text": "Here is a screenshot of the failure."},
                                                 {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": image_b64}}]})
    else:
        msgs.append({"role": "user", "content": "Go on."})
    return {"model": "claude-sonnet-4-20250514", "max_tokens": 32000,
            "system": [{"type": "text", "text": "You are Claude Code, Anthropic's official CLI for Claude."},
                       {"type": "text", "text": prose(system_len), "cache_control": {"type": "ephemeral"}}],
            "messages": msgs, "tools": [tool(i, desc_len) for i in range(ntools)],
            "metadata": {"user_id": "user_bench_account__session_0001"}, "stream": True}

def write_json(name, obj):
    text = json.dumps(obj, ensure_ascii=False)
    open(os.path.join(OUT, name), "w").write(text)
    return len(text)

def sse(events, crlf=False):
    nl = "\r\n" if crlf else "\n"
    out = []
    for name, data in events:
        s = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"), ensure_ascii=False)
        out.append((("event: %s" % name + nl) if name else "") + "data: " + s + nl + nl)
    return "".join(out)

def fragments(text, n):
    step = max(1, len(text) // n)
    return [text[i:i + step] for i in range(0, len(text), step)]

TEXT = [prose(rnd.randint(3, 12)) + " " for _ in range(1000)]
ARGS = json.dumps({"path": "/repo/src/" + prose(40).replace(" ", "_") + ".py", "content": prose(1400)})
ARGFRAGS = fragments(ARGS, 200)

def claude_stream():
    ev = [("message_start", {"type": "message_start", "message": {"id": "msg_01Bench", "type": "message", "role": "assistant", "model": "claude-sonnet-4-20250514", "content": [], "stop_reason": None, "stop_sequence": None, "usage": {"input_tokens": 5000, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 4000, "output_tokens": 1}}}),
          ("content_block_start", {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}})]
    ev += [("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": t}}) for t in TEXT]
    ev += [("content_block_stop", {"type": "content_block_stop", "index": 0}),
           ("content_block_start", {"type": "content_block_start", "index": 1, "content_block": {"type": "tool_use", "id": "toolu_01Bench", "name": "tool_01", "input": {}}})]
    ev += [("content_block_delta", {"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": f}}) for f in ARGFRAGS]
    ev += [("content_block_stop", {"type": "content_block_stop", "index": 1}),
           ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": None}, "usage": {"output_tokens": 2500}}),
           ("message_stop", {"type": "message_stop"})]
    return sse(ev)

def openai_stream():
    base = {"id": "chatcmpl-Bench", "object": "chat.completion.chunk", "created": 1782321897, "model": "gpt-4o-2024-08-06", "system_fingerprint": "fp_bench"}
    def ch(delta, finish=None): return (None, dict(base, choices=[{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}], usage=None))
    ev = [ch({"role": "assistant", "content": "", "refusal": None})]
    ev += [ch({"content": t}) for t in TEXT]
    ev += [ch({"tool_calls": [{"index": 0, "id": "call_Bench", "type": "function", "function": {"name": "tool_01", "arguments": ""}}]})]
    ev += [ch({"tool_calls": [{"index": 0, "function": {"arguments": f}}]}) for f in ARGFRAGS]
    ev += [ch({}, "tool_calls"), (None, dict(base, choices=[], usage={"prompt_tokens": 9000, "completion_tokens": 2500, "total_tokens": 11500, "prompt_tokens_details": {"cached_tokens": 4000, "audio_tokens": 0}, "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0, "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}})), (None, "[DONE]")]
    return sse(ev)

def responses_stream():
    seq = [0]
    def e(obj):
        obj["sequence_number"] = seq[0]; seq[0] += 1
        return (obj["type"], obj)
    resp = {"id": "resp_Bench", "object": "response", "created_at": 1782321687, "status": "in_progress", "model": "gpt-5.1-codex", "output": [], "usage": None}
    text = "".join(TEXT)
    msg = {"id": "msg_Bench", "type": "message", "status": "completed", "role": "assistant", "content": [{"type": "output_text", "annotations": [], "logprobs": [], "text": text}]}
    fc = {"id": "fc_Bench", "type": "function_call", "status": "completed", "arguments": ARGS, "call_id": "call_Bench", "name": "tool_01"}
    ev = [e({"type": "response.created", "response": resp}), e({"type": "response.in_progress", "response": resp}),
          e({"type": "response.output_item.added", "output_index": 0, "item": {"id": "msg_Bench", "type": "message", "status": "in_progress", "content": [], "role": "assistant"}}),
          e({"type": "response.content_part.added", "item_id": "msg_Bench", "output_index": 0, "content_index": 0, "part": {"type": "output_text", "annotations": [], "logprobs": [], "text": ""}})]
    ev += [e({"type": "response.output_text.delta", "item_id": "msg_Bench", "output_index": 0, "content_index": 0, "delta": t, "logprobs": []}) for t in TEXT]
    ev += [e({"type": "response.output_text.done", "item_id": "msg_Bench", "output_index": 0, "content_index": 0, "text": text, "logprobs": []}),
           e({"type": "response.content_part.done", "item_id": "msg_Bench", "output_index": 0, "content_index": 0, "part": msg["content"][0]}),
           e({"type": "response.output_item.done", "output_index": 0, "item": msg}),
           e({"type": "response.output_item.added", "output_index": 1, "item": dict(fc, status="in_progress", arguments="")})]
    ev += [e({"type": "response.function_call_arguments.delta", "item_id": "fc_Bench", "output_index": 1, "delta": f}) for f in ARGFRAGS]
    ev += [e({"type": "response.function_call_arguments.done", "item_id": "fc_Bench", "output_index": 1, "arguments": ARGS}),
           e({"type": "response.output_item.done", "output_index": 1, "item": fc}),
           e({"type": "response.completed", "response": dict(resp, status="completed", output=[msg, fc], usage={"input_tokens": 9000, "input_tokens_details": {"cached_tokens": 4000}, "output_tokens": 2500, "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 11500})})]
    return sse(ev)

def gemini_stream():
    def ch(parts, finish=None, out=1):
        c = {"content": {"parts": parts, "role": "model"}, "index": 0}
        if finish: c["finishReason"] = finish
        return (None, {"candidates": [c], "usageMetadata": {"promptTokenCount": 9000, "candidatesTokenCount": out, "totalTokenCount": 9000 + out, "cachedContentTokenCount": 4000}, "modelVersion": "gemini-2.5-pro", "responseId": "BenchResponseId"})
    ev = [ch([{"text": t}], out=i + 1) for i, t in enumerate(TEXT)]
    ev += [ch([{"functionCall": {"name": "tool_01", "args": json.loads(ARGS)}}], "STOP", out=2500)]
    return sse(ev, crlf=True)

os.makedirs(OUT, exist_ok=True)
print("claude-2k.json:", write_json("claude-2k.json", claude_request(250, 1, 120, 1, None, result_len=300, reminder_len=100)), "bytes")
print("claude-60k.json:", write_json("claude-60k.json", claude_request(10000, 20, 550, 20, PNG * 60, result_len=700)), "bytes")
for d, f in [("claude", claude_stream), ("openai", openai_stream), ("responses", responses_stream), ("gemini", gemini_stream)]:
    text = f()
    open(os.path.join(OUT, "stream-%s.sse" % d), "w").write(text)
    print("stream-%s.sse: %d events, %d bytes" % (d, text.count("data: "), len(text)))
