#!/usr/bin/env python3
"""Validate IR values against Rules/ir.schema.json (JSON Schema 2020-12).

  scripts/ir_check.py DIR          every DIR/**/*.json whose name says its kind:
                                   *.request.json   an IR Request
                                   *.response.json  an IR Response
                                   *.events.json    an array of IR stream events
                                   *.error.json     an IR Error

The IR files come from the runtime itself: `cliproxy rules test --emit-ir DIR`
writes, for every fixture case, what the client's decoder made of
client_request.json and what the upstream's decoders made of
upstream_response.json (or the error reply) and upstream_stream.sse.

Besides the schema, two promises of Rules/README.md are checked because a
schema cannot express them: a tool_call's `arguments` is the JSON text of an
object, and a decoded stream keeps the event order of "Stream events".

Prints one line per failure (`file: /json/pointer: message`), then a summary;
exits 1 when anything failed. Needs the `jsonschema` package (scripts/
requirements-sdk.txt; the script re-runs itself under .venv/bin/python when the
current interpreter lacks it).
"""
import glob, json, os, sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV_PY = os.path.join(ROOT, ".venv", "bin", "python")
try:
    import jsonschema
except ImportError:  # pragma: no cover - environment dependent
    if os.path.exists(VENV_PY) and os.path.realpath(sys.prefix) != os.path.realpath(os.path.dirname(os.path.dirname(VENV_PY))):
        os.execv(VENV_PY, [VENV_PY] + sys.argv)
    sys.exit("ir_check: the jsonschema package is missing: python3 -m venv .venv && "
             ".venv/bin/pip install -r scripts/requirements-sdk.txt")

SCHEMA_PATH = os.path.join(ROOT, "Rules", "ir.schema.json")
KINDS = {  # file-name suffix -> $defs entry
    ".request.json": "Request",
    ".response.json": "Response",
    ".events.json": "Events",
    ".error.json": "Error",
}

# ---------------------------------------------------------------- validation

_validators = {}


def validator(kind):
    if kind not in _validators:
        schema = json.load(open(SCHEMA_PATH, encoding="utf-8"))
        jsonschema.Draft202012Validator.check_schema(schema)
        sub = {"$schema": schema["$schema"], "$defs": schema["$defs"], "$ref": "#/$defs/" + kind}
        _validators[kind] = jsonschema.Draft202012Validator(sub)
    return _validators[kind]


def pointer(parts):
    return "/" + "/".join(str(p).replace("~", "~0").replace("/", "~1") for p in parts) if parts else "/"


def schema_errors(kind, value):
    """[(pointer, message)] for `value` against #/$defs/<kind>."""
    out = []
    for err in validator(kind).iter_errors(value):
        out.append((pointer(err.absolute_path), err.message))
    seen, uniq = set(), []
    for e in sorted(out):
        if e not in seen:
            seen.add(e)
            uniq.append(e)
    return uniq


def _arguments_errors(parts, base):
    out = []
    for i, p in enumerate(parts or []):
        if isinstance(p, dict) and p.get("type") == "tool_call" and isinstance(p.get("arguments"), str):
            try:
                v = json.loads(p["arguments"])
            except ValueError as e:
                out.append((pointer(base + [i, "arguments"]), "not JSON text (%s)" % e))
                continue
            if not isinstance(v, dict):
                out.append((pointer(base + [i, "arguments"]), "JSON text of a %s, not of an object" % type(v).__name__))
    return out


def semantic_errors(kind, value):
    """Promises of Rules/README.md that the schema cannot express."""
    out = []
    if kind == "Request" and isinstance(value, dict):
        for m, msg in enumerate(value.get("messages") or []):
            if isinstance(msg, dict):
                out += _arguments_errors(msg.get("parts"), ["messages", m, "parts"])
    elif kind == "Response" and isinstance(value, dict):
        out += _arguments_errors(value.get("parts"), ["parts"])
    elif kind == "Events" and isinstance(value, list):
        out += event_order_errors(value)
    return out


DELTA_FOR = {"text": {"text", "signature"}, "reasoning": {"text", "signature"},
             "refusal": {"text"}, "tool_call": {"arguments", "signature"}}


def event_order_errors(events):
    """README "Stream events": message_start first; blocks opened and closed one
    at a time with index 0, 1, 2, ...; exactly one message_delta after the last
    block, right before message_stop; message_stop last, or an error event after
    which nothing follows."""
    out = []

    def bad(i, msg):
        out.append((pointer([i]), msg))

    if not events:
        return [("/", "no events: a decoded stream ends with message_stop or error")]
    open_block, next_index, deltas, ended = None, 0, 0, None
    args = {}
    for i, e in enumerate(events):
        t = e.get("type") if isinstance(e, dict) else None
        if ended is not None:
            bad(i, "%s after %s: nothing may follow it" % (t, ended))
            break
        if i == 0 and t not in ("message_start", "error"):
            bad(i, "first event is %s, not message_start" % t)
        if t == "message_start":
            if i != 0:
                bad(i, "message_start is not the first event")
        elif t == "block_start":
            if open_block is not None:
                bad(i, "block %s opened while block %s is still open" % (e.get("index"), open_block[0]))
            if deltas:
                bad(i, "block_start after message_delta")
            if e.get("index") != next_index:
                bad(i, "block index %s, expected %d (0, 1, 2, ... in order)" % (e.get("index"), next_index))
            open_block = (e.get("index"), (e.get("block") or {}).get("type"))
            next_index += 1
        elif t == "block_delta":
            if open_block is None or e.get("index") != open_block[0]:
                bad(i, "delta for block %s, but the open block is %s" % (e.get("index"), open_block and open_block[0]))
            else:
                kinds = {k for k in ("text", "arguments", "signature") if k in e}
                allowed = DELTA_FOR.get(open_block[1], set())
                if kinds - allowed:
                    bad(i, "%s delta on a %s block" % ("/".join(sorted(kinds - allowed)), open_block[1]))
                if "arguments" in e:
                    args[open_block[0]] = args.get(open_block[0], "") + str(e["arguments"])
        elif t == "block_stop":
            if open_block is None or e.get("index") != open_block[0]:
                bad(i, "block_stop for block %s, but the open block is %s" % (e.get("index"), open_block and open_block[0]))
            elif open_block[1] == "tool_call":
                text = args.get(open_block[0], "")
                if text.strip():
                    try:
                        if not isinstance(json.loads(text), dict):
                            bad(i, "tool_call %s: the arguments deltas join to JSON that is not an object" % open_block[0])
                    except ValueError:
                        bad(i, "tool_call %s: the arguments deltas do not join to JSON text: %r" % (open_block[0], text[:80]))
            open_block = None
        elif t == "message_delta":
            if open_block is not None:
                bad(i, "message_delta while block %s is open" % open_block[0])
            deltas += 1
            if deltas > 1:
                bad(i, "more than one message_delta")
            if i + 1 >= len(events) or not isinstance(events[i + 1], dict) or events[i + 1].get("type") != "message_stop":
                bad(i, "message_delta is not right before message_stop")
        elif t == "message_stop":
            if open_block is not None:
                bad(i, "message_stop while block %s is open" % open_block[0])
            if deltas != 1:
                bad(i, "message_stop without exactly one message_delta before it")
            ended = t
        elif t == "error":
            ended = t
    if ended is None:
        out.append(("/", "the stream ends with %s, neither message_stop nor error (README: a decoder that reaches "
                         "final without the upstream's terminator emits an error)" %
                    (events[-1].get("type") if isinstance(events[-1], dict) else events[-1])))
    return out


def check_value(kind, value):
    return schema_errors(kind, value) + semantic_errors(kind, value)


# ---------------------------------------------------------------- mode A

def kind_of(name):
    for suffix, kind in KINDS.items():
        if name.endswith(suffix):
            return kind
    return None


def check_dir(d):
    files = sorted(glob.glob(os.path.join(d, "**", "*.json"), recursive=True))
    checked = failed = 0
    for f in files:
        kind = kind_of(os.path.basename(f))
        if kind is None:
            continue
        checked += 1
        rel = os.path.relpath(f, d)
        try:
            value = json.load(open(f, encoding="utf-8"))
        except ValueError as e:
            failed += 1
            print("%s: /: not JSON (%s)" % (rel, e))
            continue
        errs = check_value(kind, value)
        if errs:
            failed += 1
            for p, m in errs:
                print("%s: %s: %s" % (rel, p, m))
    print("%d IR files checked, %d failed" % (checked, failed))
    return 1 if failed else 0


def main(argv):
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0 if argv else 2
    if len(argv) != 1 or not os.path.isdir(argv[0]):
        print(__doc__)
        return 2
    return check_dir(argv[0])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
