#!/usr/bin/env python3
"""Check every EXPECTED file of Fixtures/ against the official SDK types of its
dialect, so that a wrong golden file cannot be blessed by `rules test --update`.

  scripts/sdk_check.py [--root DIR] [--pair PAIR] [--case CASE]

DIR defaults to Fixtures/ (layout DIR/<client>-<upstream>/<case>/). Files that a
case lacks are skipped. Per case:

  upstream_request.json       the UPSTREAM dialect's request params: openai-python
                              CompletionCreateParams(Streaming|NonStreaming) and
                              ResponseCreateParams*, anthropic MessageCreateParams*
                              (TypedDicts: every key must be declared; required keys
                              present; value types checked), Gemini: google-genai types
                              (Content, Tool, ToolConfig, SafetySetting and the
                              GenerateContentConfig fields, unknown keys forbidden) plus
                              the SDK's own _to_mldev converters for placement.
  client_response.json        the CLIENT dialect's response model (ChatCompletion,
                              Response, anthropic Message, GenerateContentResponse via the
                              SDK's _GenerateContentResponse_from_mldev); unknown keys at
                              any depth fail unless ALLOW_EXTRA lists them. Error cases
                              (case.json has upstream_status): {status, headers, body} with
                              the dialect's error body.
  client_response_from_stream.json
                              {status, body}: body as client_response.json when status is
                              200, else the error envelope.
  client_stream.sse           every event with the client dialect's stream type, the framing
                              rules of the dialect, and the SDK's own accumulator over the
                              whole stream (openai ChatCompletionStreamState /
                              ResponseStreamState, anthropic accumulate_event).

Patch folders (`<client>-<patch>/`, Fixtures/README.md): the upstream dialect is
that of the provider file in Rules/providers/ naming the patch. Client files are
checked as for a dialect pair (relayed files of a same-dialect client as
passthrough). upstream_request.json is checked against what the patch promises
(the Code Assist envelope around a Gemini body, the Codex allow-list, the Claude
OAuth identity block, Qwen's single leading system message) and, for a
translating client, the inner body against the dialect's request types;
upstream_headers.json must be an object of strings with the patch's headers.

Prints `pair/case/file: message` per failure, then `N files checked, N failed`;
exits 1 on any failure. Needs the packages of scripts/requirements-sdk.txt (it
re-runs itself under .venv/bin/python when the current interpreter lacks them).
"""
import argparse, collections.abc, copy, glob, json, os, re, sys, typing

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV_PY = os.path.join(ROOT, ".venv", "bin", "python")
try:
    import pydantic
    import typing_extensions as te
    from pydantic import TypeAdapter, ValidationError
    from pydantic.alias_generators import to_snake
    import openai
    from openai import omit as _openai_omit
    from openai.types.chat import ChatCompletion, ChatCompletionChunk
    from openai.types.chat.completion_create_params import (
        CompletionCreateParamsNonStreaming, CompletionCreateParamsStreaming)
    from openai.types.responses import Response, ResponseStreamEvent
    from openai.types.responses.response_create_params import (
        ResponseCreateParamsNonStreaming, ResponseCreateParamsStreaming)
    from openai.types.shared import ErrorObject as OpenAIErrorObject
    from openai.lib.streaming.chat import ChatCompletionStreamState
    from openai.lib.streaming.responses._responses import ResponseStreamState
    from anthropic.types import Message as AnthropicMessage, RawMessageStreamEvent
    from anthropic.types.shared import ErrorResponse as AnthropicErrorResponse
    from anthropic.types.message_create_params import (
        MessageCreateParamsNonStreaming, MessageCreateParamsStreaming)
    from anthropic.lib.streaming._messages import accumulate_event as anthropic_accumulate_event
    from google.genai import types as gtypes
    from google.genai import models as gmodels
except ImportError as _e:  # pragma: no cover - environment dependent
    if os.path.exists(VENV_PY) and os.path.realpath(sys.prefix) != os.path.realpath(os.path.dirname(os.path.dirname(VENV_PY))):
        os.execv(VENV_PY, [VENV_PY] + sys.argv)
    sys.exit("sdk_check: %s: python3 -m venv .venv && .venv/bin/pip install -r scripts/requirements-sdk.txt" % _e)

DIALECTS = ("openai", "responses", "claude", "gemini")

# Unknown (extra) keys of response/stream models that are accepted anyway.
# Each entry: (dialect, where, JSON pointer pattern relative to the validated
# object with `*` = any one segment, passthrough_only, why).
# where: "response" (client_response.json, client_response_from_stream.json body)
#        or "stream" (one event/chunk of client_stream.sse).
# passthrough_only: only in <d>-<d> pairs, whose client files are the upstream's
# own bytes relayed; a translating encoder must not emit the key.
# Keep every entry justified; every other unknown key fails.
ALLOW_EXTRA = [
    ("openai", "response", "/choices/*/message/reasoning_content", False,
     "de-facto Chat extension (xAI, DeepSeek, vLLM...): the proxy emits reasoning text here on purpose "
     "(wire-formats A.5 c)"),
    ("openai", "stream", "/choices/*/delta/reasoning_content", False,
     "the same extension in stream chunks (wire-formats A.5 c)"),
    ("responses", "response", "/store", False,
     "the real API echoes `store` in every response object (wire-formats B.6, recorded traffic); "
     "openai-python 3.57's Response does not declare it"),
    ("responses", "stream", "/response/store", False,
     "the same field in the `response` of the lifecycle events (response.created ... response.completed)"),
    ("responses", "response", "/billing", True,
     "real servers add `billing: {payer: ...}` to response objects (seen in recorded 2025-2026 traffic and in "
     "the authored upstream fixtures); openai-python 3.57's Response does not declare it"),
    ("responses", "stream", "/response/billing", True,
     "the same field in the `response` of the lifecycle events"),
    ("responses", "stream", "/obfuscation", True,
     "real servers pad delta events with it (stream_options.include_obfuscation, on by default; wire-formats "
     "B.1, B.7) but openai-python 3.57's Responses delta events do not declare it; translations strip it "
     "(pitfall 58), so only relayed upstream streams may carry it"),
]

# Set per file by check_case: whether the file is the upstream's own bytes relayed
# (a passthrough: <d>-<d>, or a same-dialect client of a patch that leaves them be).
CASE = {"passthrough": False}

MAX_ERRORS = 12  # per validation, so one broken file does not bury the rest


# ------------------------------------------------------------------ helpers

def ptr(parts):
    if not parts:
        return "/"
    return "/" + "/".join(str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def join(base, rest):
    """Prefix JSON pointer `base` (string) to pointer `rest`."""
    if base in ("", "/"):
        return rest
    return base if rest == "/" else base + rest


# pydantic's union member / validator tags inside an error's loc (not JSON keys)
_TAG = re.compile(r"^[A-Z][A-Za-z0-9_]*$|^[a-z-]+\[.*\]$|^(str|int|float|bool|none|bytes)$")


def _is_tag(seg):
    return isinstance(seg, str) and bool(_TAG.match(seg))


def pyd_errors(exc, base=(), rename=None):
    """Readable pydantic errors. pydantic tries every member of a union and
    reports them all; keep only the members whose discriminator (`type`,
    `role`, `object`) matched, and drop the member tags from the paths."""
    errors = exc.errors()
    rejected = set()
    for e in errors:
        loc = tuple(e.get("loc", ()))
        if e.get("type") == "literal_error" and loc and loc[-1] in ("type", "role", "object"):
            tags = [i for i, seg in enumerate(loc) if _is_tag(seg)]
            if tags:
                rejected.add(loc[:tags[-1] + 1])
    kept = [e for e in errors if not any(tuple(e.get("loc", ()))[:len(r)] == r for r in rejected)]
    if not kept:  # no member matched: say so once per place
        lines = []
        for e in errors:
            if e.get("type") == "literal_error":
                loc = list(base) + [p for p in e.get("loc", ()) if not _is_tag(p)]
                line = "%s: %s matches no member of the SDK's union" % (ptr(loc), json.dumps(e.get("input"), ensure_ascii=False)[:60])
                if line not in lines:
                    lines.append(line)
        return cap(lines) or cap(["%s: %s" % (ptr(list(base) + list(e.get("loc", ()))), e.get("msg")) for e in errors])
    out, seen = [], set()
    for e in kept:
        loc = [p for p in e.get("loc", ()) if not _is_tag(p)]
        loc = list(base) + (rename(loc) if rename else loc)
        msg = e.get("msg", "")
        inp = e.get("input")
        if e.get("type") == "missing":
            line = "%s: %s" % (ptr(loc), msg)
        else:
            shown = json.dumps(inp, ensure_ascii=False, default=str) if not isinstance(inp, (dict, list)) else type(inp).__name__
            line = "%s: %s (got %s)" % (ptr(loc), msg, shown[:80])
        if line not in seen:
            seen.add(line)
            out.append(line)
    return cap(out)


def cap(errs):
    if len(errs) > MAX_ERRORS:
        return errs[:MAX_ERRORS] + ["... and %d more" % (len(errs) - MAX_ERRORS)]
    return errs


def _match(pattern, path):
    ps, xs = pattern.strip("/").split("/"), path.strip("/").split("/")
    return len(ps) == len(xs) and all(p == "*" or p == x for p, x in zip(ps, xs))


def allowed_extra(dialect, where, path):
    return any(d == dialect and w == where and _match(pat, path) and (CASE["passthrough"] or not only)
               for d, w, pat, only, _ in ALLOW_EXTRA)


def model_extras(obj, path=()):
    """[(pointer, key)] for every key a pydantic model kept as extra, recursively."""
    out = []
    if isinstance(obj, pydantic.BaseModel):
        for k in (obj.model_extra or {}):
            out.append((ptr(list(path) + [k]), k))
        for name, field in type(obj).model_fields.items():
            out += model_extras(getattr(obj, name, None), list(path) + [field.alias or name])
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            out += model_extras(v, list(path) + [i])
    elif isinstance(obj, dict):
        for k, v in obj.items():
            out += model_extras(v, list(path) + [k])
    return out


def extra_errors(dialect, obj, base="", where="response"):
    return ["%s: unknown key %r (not in the SDK type)" % (join(base, p), k)
            for p, k in model_extras(obj) if not allowed_extra(dialect, where, p)]


def validate_model(dialect, model, data, base="", where="response"):
    """(instance or None, [errors]) — pydantic validation plus unknown keys."""
    try:
        # strict JSON mode: the wire is JSON, and lax mode would take "28" for 28
        text = json.dumps(data)
        inst = (model.model_validate_json(text, strict=True) if isinstance(model, type)
                else model.validate_json(text, strict=True))
    except ValidationError as e:
        return None, [join(base, m) if m.startswith("/") else m for m in pyd_errors(e)]
    return inst, extra_errors(dialect, inst, base, where)


# ------------------------------------------------------------------ request TypedDicts

NoneType = type(None)
_REQ = {getattr(typing, n) for n in ("Required", "NotRequired") if hasattr(typing, n)} | {te.Required, te.NotRequired}
_REQUIRED = {x for x in (getattr(typing, "Required", None), te.Required) if x is not None}
_READONLY = {x for x in (getattr(te, "ReadOnly", None), getattr(typing, "ReadOnly", None)) if x is not None}


def _unwrap(tp):
    """-> (inner type, required flag or None, wire alias or None)."""
    required, alias = None, None
    while True:
        origin = typing.get_origin(tp)
        if origin is typing.Annotated:
            for m in getattr(tp, "__metadata__", ()):
                a = getattr(m, "alias", None)
                if isinstance(a, str):
                    alias = a
            tp = typing.get_args(tp)[0]
        elif origin in _REQ:
            required = origin in _REQUIRED
            tp = typing.get_args(tp)[0]
        elif origin in _READONLY:
            tp = typing.get_args(tp)[0]
        else:
            return tp, required, alias


_td_cache = {}


def td_fields(td):
    """{wire key: (type, required)} of a TypedDict, computed from its annotations
    (the SDKs use postponed annotations, which leave __required_keys__ wrong)."""
    if td in _td_cache:
        return _td_cache[td]
    hints = te.get_type_hints(td, include_extras=True)
    fields = {}
    # typing(_extensions) cannot see Required/NotRequired in string annotations,
    # so __required_keys__ only says whether the declaring class was total;
    # the markers, visible in the resolved hints, override it.
    declared_required = getattr(td, "__required_keys__", frozenset())
    for k, t in hints.items():
        inner, req, alias = _unwrap(t)
        if req is None:
            req = k in declared_required
        fields[alias or k] = (inner, req)
    _td_cache[td] = fields
    return fields


def _is_list_type(tp):
    origin = typing.get_origin(tp) or tp
    if origin in (list, tuple, set, frozenset):
        return True
    if getattr(origin, "__name__", "") == "SequenceNotStr":
        return True
    return isinstance(origin, type) and origin in (collections.abc.Iterable, collections.abc.Sequence,
                                                   collections.abc.MutableSequence, collections.abc.Collection)


def _is_map_type(tp):
    origin = typing.get_origin(tp) or tp
    return origin in (dict, collections.abc.Mapping, collections.abc.MutableMapping)


def _kind_ok(v, tp):
    tp = _unwrap(tp)[0]
    origin = typing.get_origin(tp)
    if tp in (typing.Any, object):
        return True
    if te.is_typeddict(tp) or _is_map_type(tp):
        return isinstance(v, dict)
    if _is_list_type(tp):
        return isinstance(v, list)
    if origin is typing.Literal:
        return any(v == a and type(v) is type(a) for a in typing.get_args(tp))
    if tp is str:
        return isinstance(v, str)
    if tp is bool:
        return isinstance(v, bool)
    if tp in (int, float):
        return isinstance(v, (int, float)) and not isinstance(v, bool)
    if tp is NoneType:
        return v is None
    return True


def _literal_mismatches(v, tp, present_only=False):
    """How far a dict is from a TypedDict's Literal (discriminator) keys."""
    tp = _unwrap(tp)[0]
    if not (te.is_typeddict(tp) and isinstance(v, dict)):
        return 0
    n = 0
    for k, (t, req) in td_fields(tp).items():
        if typing.get_origin(t) is typing.Literal:
            if k in v:
                n += 0 if _kind_ok(v[k], t) else 1
            elif req and not present_only:
                n += 1
    return n


def _literal_summary(v, tds):
    """`type` "x", expected one of "a", "b" — for the discriminating keys."""
    keys = []
    for m in tds:
        for k, (t, req) in td_fields(m).items():
            if typing.get_origin(t) is typing.Literal and k in v and k not in keys:
                keys.append(k)
    out = []
    for k in keys:
        vals = []
        for m in tds:
            t = td_fields(m).get(k, (None,))[0]
            if t is not None and typing.get_origin(t) is typing.Literal:
                vals += [a for a in typing.get_args(t) if a not in vals]
        out.append("%s %s, expected %s" % (k, json.dumps(v.get(k), ensure_ascii=False) if k in v else "absent",
                                          " | ".join(json.dumps(a) for a in vals[:12]) + (" | ..." if len(vals) > 12 else "")))
    return "; ".join(out)


_adapters = {}


def _adapter(tp):
    key = repr(tp)
    if key not in _adapters:
        _adapters[key] = TypeAdapter(tp)
    return _adapters[key]


def td_check(v, tp, path=()):
    """Strict check of a JSON value against a request TypedDict annotation:
    unknown keys, missing required keys, wrong types, wrong literals."""
    tp = _unwrap(tp)[0]
    where = ptr(list(path))
    if tp in (typing.Any, object):
        return []
    origin = typing.get_origin(tp)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", typing.Union)):
        members = [m for m in typing.get_args(tp)]
        if v is None and NoneType in members:
            return []
        cands = []
        for m in members:
            if m is NoneType:
                continue
            errs = td_check(v, m, path)
            if not errs:
                return []
            cands.append(((0 if _kind_ok(v, m) else 2, _literal_mismatches(v, m), len(errs)), errs))
        if not cands:
            return ["%s: null is not allowed" % where]
        cands.sort(key=lambda c: c[0])
        kind_ok = [m for m in members if m is not NoneType and _kind_ok(v, m)]
        tds = [m for m in (_unwrap(m)[0] for m in kind_ok) if te.is_typeddict(m)]
        if isinstance(v, dict) and tds and all(_literal_mismatches(v, m, present_only=True) for m in tds):
            return ["%s: fits none of %s (%s)" % (where, ", ".join(m.__name__ for m in tds[:6]) +
                                                  (", ..." if len(tds) > 6 else ""), _literal_summary(v, tds))]
        return cands[0][1]
    if origin is typing.Literal:
        if _kind_ok(v, tp):
            return []
        return ["%s: %s is not one of %s" % (where, json.dumps(v, ensure_ascii=False)[:60],
                                             ", ".join(json.dumps(a) for a in typing.get_args(tp)))]
    if te.is_typeddict(tp):
        if not isinstance(v, dict):
            return ["%s: expected an object (%s), got %s" % (where, tp.__name__, _jtype(v))]
        fields, errs = td_fields(tp), []
        for k in v:
            if k not in fields:
                errs.append("%s: unknown key %r (not in %s)" % (ptr(list(path) + [k]), k, tp.__name__))
        for k, (t, req) in fields.items():
            if req and k not in v:
                errs.append("%s: missing required key %r (%s)" % (where, k, tp.__name__))
        for k, val in v.items():
            if k in fields:
                errs += td_check(val, fields[k][0], list(path) + [k])
        return errs
    if _is_list_type(tp):
        if not isinstance(v, list):
            return ["%s: expected an array, got %s" % (where, _jtype(v))]
        args = typing.get_args(tp)
        item = args[0] if args else typing.Any
        errs = []
        for i, x in enumerate(v):
            errs += td_check(x, item, list(path) + [i])
        return errs
    if _is_map_type(tp):
        if not isinstance(v, dict):
            return ["%s: expected an object, got %s" % (where, _jtype(v))]
        args = typing.get_args(tp)
        errs = []
        if len(args) == 2:
            for k, x in v.items():
                errs += td_check(x, args[1], list(path) + [k])
        return errs
    if tp in (str, bool, int, float, NoneType):
        if _kind_ok(v, tp):
            return []
        return ["%s: expected %s, got %s" % (where, {str: "a string", bool: "a boolean", int: "an integer",
                                                     float: "a number", NoneType: "null"}[tp], _jtype(v))]
    try:  # anything else (file inputs, models...): let pydantic decide
        _adapter(tp).validate_python(v)
    except ValidationError as e:
        return pyd_errors(e, path)
    except Exception:
        pass
    return []


def _jtype(v):
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean", int: "an integer",
            float: "a number", NoneType: "null"}.get(type(v), type(v).__name__)


def _force(x, path, errs):
    """pydantic validates Iterable[...] lazily: consume every ValidatorIterator."""
    if type(x).__name__ == "ValidatorIterator":
        out, it, i = [], iter(x), 0
        while True:
            try:
                item = next(it)
            except StopIteration:
                break
            except ValidationError as e:
                errs += pyd_errors(e, path)
                break
            out.append(_force(item, list(path) + [i], errs))
            i += 1
        return out
    if isinstance(x, dict):
        return {k: _force(v, list(path) + [k], errs) for k, v in x.items()}
    if isinstance(x, list):
        return [_force(v, list(path) + [i], errs) for i, v in enumerate(x)]
    return x


def typeddict_request_errors(td, body):
    errs = td_check(body, td)
    if errs:
        return cap(errs)
    # second opinion: pydantic's own TypeAdapter over the same TypedDict
    out = []
    try:
        _force(_adapter(td).validate_python(body), [], out)
    except ValidationError as e:
        out += pyd_errors(e)
    return cap(out)


REQUEST_TYPES = {
    "openai": (CompletionCreateParamsStreaming, CompletionCreateParamsNonStreaming),
    "responses": (ResponseCreateParamsStreaming, ResponseCreateParamsNonStreaming),
    "claude": (MessageCreateParamsStreaming, MessageCreateParamsNonStreaming),
}


def check_request(dialect, body):
    if not isinstance(body, dict):
        return ["/: the request body is %s, not an object" % _jtype(body)]
    if dialect == "gemini":
        return gemini_request_errors(body)
    streaming, plain = REQUEST_TYPES[dialect]
    errors = []
    if dialect == "claude":
        # The Messages API documents temperature, top_p and top_k (wire-formats C.1) but
        # anthropic-python 2.14.0's request types leave them out (marked ambiguous there).
        # The encoder sends them only when the client asked: accept them, as numbers.
        body = dict(body)
        for k in CLAUDE_SAMPLING:
            if k in body:
                v = body.pop(k)
                if isinstance(v, bool) or not isinstance(v, (int, float)):
                    errors.append("/%s: expected a number, got %s" % (k, _jtype(v)))
    return errors + typeddict_request_errors(streaming if body.get("stream") is True else plain, body)


CLAUDE_SAMPLING = ("temperature", "top_p", "top_k")


# ------------------------------------------------------------------ Gemini

class _MldevClient:  # what the SDK's _to_mldev converters read from a client
    vertexai = False
    project = None
    location = None


# Subtrees whose keys are not SDK fields (JSON Schemas, call arguments, results,
# free maps): skipped by the camelCase check (pydantic types them as dicts/Any).
GEMINI_OPAQUE = {"args", "partialArgs", "response", "parametersJsonSchema", "responseJsonSchema", "labels",
                 "default", "example", "enum", "details", "metadata", "partMetadata"}
GEMINI_DATA_FIELDS = ("text", "inlineData", "fileData", "functionCall", "functionResponse", "executableCode",
                      "codeExecutionResult", "toolCall", "toolResponse")


def gemini_case_errors(v, path=()):
    """Gemini's wire is camelCase; snake_case keys only slip through pydantic's
    populate_by_name. `properties` maps hold user-chosen names."""
    out = []
    if isinstance(v, dict):
        for k, x in v.items():
            p = list(path) + [k]
            if "_" in k and not k.startswith("@"):
                out.append("%s: snake_case key %r (the Gemini wire is camelCase)" % (ptr(p), k))
            if k in GEMINI_OPAQUE:
                continue
            if k == "properties" and isinstance(x, dict):
                for name, sub in x.items():
                    out += gemini_case_errors(sub, p + [name])
                continue
            out += gemini_case_errors(x, p)
    elif isinstance(v, list):
        for i, x in enumerate(v):
            out += gemini_case_errors(x, list(path) + [i])
    return out


def _gvalidate(model, data, base):
    """google-genai models forbid extra keys; JSON mode decodes base64 bytes."""
    try:
        return model.model_validate_json(json.dumps(data), strict=True), []
    except ValidationError as e:
        return None, pyd_errors(e, base)


GEMINI_TOP = {"contents", "systemInstruction", "tools", "toolConfig", "safetySettings", "generationConfig",
              "cachedContent", "labels", "serviceTier", "store", "continuationToken"}


def gemini_parts_errors(content, base, request=True):
    out = []
    parts = content.get("parts") if isinstance(content, dict) else None
    if isinstance(parts, list):
        if not parts and request:
            out.append("%s: empty parts (Gemini rejects parts: [])" % ptr(list(base) + ["parts"]))
        for j, part in enumerate(parts):
            if isinstance(part, dict):
                data = [k for k in GEMINI_DATA_FIELDS if k in part]
                if len(data) != 1:
                    out.append("%s: a Part holds exactly one data field (%s), found %s" % (
                        ptr(list(base) + ["parts", j]), ", ".join(GEMINI_DATA_FIELDS), data or "none"))
    return out


def gemini_request_errors(body):
    errs = []
    for k in body:
        if k not in GEMINI_TOP:
            errs.append("%s: unknown key %r (not a GenerateContentRequest field)" % (ptr([k]), k))
    if "contents" not in body:
        errs.append("/: missing required key 'contents'")
    errs += gemini_case_errors(body)
    contents = body.get("contents")
    if contents is not None and not isinstance(contents, list):
        errs.append("/contents: expected an array, got %s" % _jtype(contents))
        contents = []
    for i, c in enumerate(contents or []):
        inst, e = _gvalidate(gtypes.Content, c, ["contents", i])
        errs += e
        if inst is not None:
            if "role" in c and c["role"] not in ("user", "model"):  # absent = user
                errs.append("%s: role %r, expected \"user\" or \"model\"" % (ptr(["contents", i, "role"]), c.get("role")))
            errs += gemini_parts_errors(c, ["contents", i])
            try:
                gmodels._Content_to_mldev(inst.model_dump(exclude_none=True), {}, None)
            except Exception as ex:
                errs.append("%s: the SDK cannot send this to the Gemini API: %s" % (ptr(["contents", i]), ex))
    # every other top-level field and generationConfig are GenerateContentConfig fields
    gen = body.get("generationConfig", {})
    if not isinstance(gen, dict):
        errs.append("/generationConfig: expected an object, got %s" % _jtype(gen))
        gen = {}
    top = {k: v for k, v in body.items() if k in GEMINI_TOP and k not in ("contents", "generationConfig")}
    clash = set(top) & set(gen)
    cfg = dict(gen)
    cfg.update(top)
    try:
        inst = gtypes.GenerateContentConfig.model_validate_json(json.dumps(cfg), strict=True)
    except ValidationError as e:
        inst = None
        for m in pyd_errors(e):
            key = m.split("/")[1].split(":")[0] if m.startswith("/") else ""
            errs.append(("/generationConfig" + m) if key in gen and key not in top else m)
    if isinstance(body.get("systemInstruction"), dict):
        errs += gemini_parts_errors(body["systemInstruction"], ["systemInstruction"])
    if inst is not None and not clash:
        # the SDK's own converter: Vertex-only fields raise, and it says where
        # each field belongs (top level or generationConfig)
        parent = {}
        try:
            gcfg = gmodels._GenerateContentConfig_to_mldev(_MldevClient(), inst.model_dump(exclude_none=True), parent, None)
        except Exception as ex:
            errs.append("/: the SDK cannot send this configuration to the Gemini API: %s" % ex)
        else:
            for k in gen:
                if k not in gcfg:
                    errs.append("%s: the SDK sends %r %s, not in generationConfig" % (
                        ptr(["generationConfig", k]), k, "at the top level" if k in parent else "nowhere"))
            for k in top:
                if k not in parent:
                    errs.append("%s: the SDK sends %r %s, not at the top level" % (
                        ptr([k]), k, "inside generationConfig" if k in gcfg else "nowhere"))
    return cap(errs)


def _gemini_reinsert(src, converted):
    """The _from_mldev converters copy only the keys they know; put back the
    dropped ones (under their wire name) so that model_validate sees them."""
    for k, v in src.items():
        if to_snake(k) not in converted and k not in converted:
            converted[k] = v


def gemini_response_errors(body, base="", final=True):
    """A GenerateContentResponse (or a stream chunk when final is None)."""
    if not isinstance(body, dict):
        return ["%s: expected an object, got %s" % (base or "/", _jtype(body))]
    errs = [join(base, m) for m in gemini_case_errors(body)]
    src = copy.deepcopy(body)
    conv = gmodels._GenerateContentResponse_from_mldev(src, None, None)
    _gemini_reinsert(body, conv)
    if isinstance(body.get("candidates"), list) and isinstance(conv.get("candidates"), list):
        for sc, cc in zip(body["candidates"], conv["candidates"]):
            if isinstance(sc, dict) and isinstance(cc, dict):
                _gemini_reinsert(sc, cc)
    top = {to_snake(k): k for k in body}
    cand = {to_snake(k): k for c in (body.get("candidates") or []) if isinstance(c, dict) for k in c}

    def wire_names(loc):  # the converter renamed these keys to snake_case
        loc = list(loc)
        if loc and loc[0] in top:
            loc[0] = top[loc[0]]
        if len(loc) > 2 and loc[0] == "candidates" and loc[2] in cand:
            loc[2] = cand[loc[2]]
        return loc
    try:
        inst = gtypes.GenerateContentResponse.model_validate_json(json.dumps(conv), strict=True)
    except ValidationError as e:
        return cap(errs + [join(base, m) if m.startswith("/") else m for m in pyd_errors(e, rename=wire_names)])
    cands = inst.candidates or []
    for i, c in enumerate(body.get("candidates") or []):
        if isinstance(c, dict) and isinstance(c.get("content"), dict):
            errs += [join(base, m) for m in gemini_parts_errors(c["content"], ["candidates", i, "content"], request=False)]
    if final is True:
        if not (cands and cands[0].finish_reason) and not (inst.prompt_feedback and inst.prompt_feedback.block_reason):
            errs.append("%s: no candidates[0].finishReason (nor promptFeedback.blockReason)" % (base or "/"))
    return cap(errs)


# ------------------------------------------------------------------ responses

def check_response(dialect, body):
    if not isinstance(body, dict):
        return ["/: the response body is %s, not an object" % _jtype(body)]
    if dialect == "openai":
        inst, errs = validate_model(dialect, ChatCompletion, body)
        if inst is not None and not inst.choices:
            errs.append("/choices: no choices")
        return cap(errs)
    if dialect == "responses":
        inst, errs = validate_model(dialect, Response, body)
        if inst is not None and inst.status in ("in_progress", "queued"):
            errs.append("/status: %r is not a final status" % inst.status)
        return cap(errs)
    if dialect == "claude":
        inst, errs = validate_model(dialect, AnthropicMessage, body)
        if inst is not None and inst.stop_reason is None:
            errs.append("/stop_reason: null in a final message")
        return cap(errs)
    return gemini_response_errors(body)


def _exact_keys(obj, required, optional=(), where="/"):
    errs = []
    for k in required:
        if k not in obj:
            errs.append("%s: missing key %r" % (where, k))
    for k in obj:
        if k not in required and k not in optional:
            errs.append("%s: unexpected key %r" % (ptr([p for p in where.strip("/").split("/") if p] + [k]), k))
    return errs


def error_body_errors(dialect, body, base="/body", status=None):
    """The error body a client of `dialect` gets (HTTP error, or in-stream)."""
    if not isinstance(body, dict):
        return ["%s: expected an object, got %s" % (base or "/", _jtype(body))]
    where = base or "/"
    if dialect in ("openai", "responses"):
        errs = _exact_keys(body, ["error"], where=where)
        err = body.get("error")
        if not isinstance(err, dict):
            return errs + ["%s/error: expected an object" % base]
        errs += _exact_keys(err, ["message", "type", "param", "code"], where=base + "/error")
        _, e = validate_model(dialect, OpenAIErrorObject, err, base + "/error")
        return errs + e
    if dialect == "claude":
        errs = _exact_keys(body, ["type", "error"], ["request_id"], where=where)
        err = body.get("error")
        if isinstance(err, dict):
            errs += _exact_keys(err, ["type", "message"], where=base + "/error")
        _, e = validate_model(dialect, AnthropicErrorResponse, body, base)
        return errs + e
    errs = _exact_keys(body, ["error"], where=where)
    err = body.get("error")
    if not isinstance(err, dict):
        return errs + ["%s/error: expected an object" % base]
    errs += _exact_keys(err, ["code", "message", "status"], ["details"], where=base + "/error")
    if not isinstance(err.get("code"), int) or isinstance(err.get("code"), bool):
        errs.append("%s/error/code: expected an integer (the HTTP status)" % base)
    elif status is not None and err["code"] != status:
        errs.append("%s/error/code: %s differs from the HTTP status %s" % (base, err["code"], status))
    if not isinstance(err.get("message"), str):
        errs.append("%s/error/message: expected a string" % base)
    if not (isinstance(err.get("status"), str) and re.fullmatch(r"[A-Z][A-Z_]*", err["status"])):
        errs.append("%s/error/status: expected a google.rpc code name like RESOURCE_EXHAUSTED" % base)
    if "details" in err and not (isinstance(err["details"], list) and all(isinstance(d, dict) and "@type" in d for d in err["details"])):
        errs.append("%s/error/details: expected an array of objects with \"@type\"" % base)
    errs += gemini_case_errors({k: v for k, v in err.items() if k != "details"}, [p for p in base.split("/") if p] + ["error"])
    return errs


def check_error_envelope(dialect, obj):
    """client_response.json of an error case: {status, headers, body}."""
    if not isinstance(obj, dict):
        return ["/: expected {status, headers, body}, got %s" % _jtype(obj)]
    errs = _exact_keys(obj, ["status", "headers", "body"])
    st = obj.get("status")
    if not (isinstance(st, int) and not isinstance(st, bool) and 400 <= st <= 599):
        errs.append("/status: %s is not an HTTP error status (an integer 400-599)" % json.dumps(st))
        st = None
    h = obj.get("headers")
    if "headers" in obj and not (isinstance(h, dict) and all(isinstance(v, str) for v in h.values())):
        errs.append("/headers: expected an object of strings")
    if "body" in obj:
        errs += error_body_errors(dialect, obj["body"], "/body", st)
    return cap(errs)


def check_from_stream(dialect, obj):
    """client_response_from_stream.json: {status, body}, or the error envelope."""
    if not isinstance(obj, dict):
        return ["/: expected {status, body}, got %s" % _jtype(obj)]
    st = obj.get("status")
    if st == 200 and not isinstance(st, bool):
        errs = _exact_keys(obj, ["status", "body"], ["headers"])
        if "body" in obj:
            errs += [join("/body", m) if m.startswith("/") else m for m in check_response(dialect, obj["body"])]
        return cap(errs)
    if isinstance(st, int) and not isinstance(st, bool) and 400 <= st <= 599:
        return check_error_envelope(dialect, obj)
    return ["/status: %s: expected 200 (then {status, body}) or an HTTP error status 400-599 "
            "(then {status, headers, body})" % json.dumps(st)]


# ------------------------------------------------------------------ streams

def parse_sse(text):
    """-> ([{event, data, line}], [problems]). `data` is the raw text."""
    events, problems = [], []
    name, data, start = None, [], None
    lines = text.replace("\r\n", "\n").split("\n")
    ended_blank = text.endswith("\n\n") or text.endswith("\r\n\r\n") or text == ""
    for n, line in enumerate(lines, 1):
        if line == "":
            if data:
                events.append({"event": name, "data": "\n".join(data), "line": start})
            elif name is not None:
                problems.append("line %d: event %r without data" % (start, name))
            name, data, start = None, [], None
            continue
        if start is None:
            start = n
        if line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if field == "event":
            name = value
        elif field == "data":
            data.append(value)
        elif field in ("id", "retry"):
            pass
        else:
            problems.append("line %d: not an SSE field: %r" % (n, line[:60]))
    if not ended_blank:
        problems.append("the stream does not end with a blank line (its last event may be lost)")
    return events, problems


def _json(e):
    try:
        return json.loads(e["data"]), None
    except ValueError as ex:
        return None, "event %d (line %d): data is not JSON: %s" % (e["idx"], e["line"], ex)


def stream_errors(dialect, text):
    events, errs = parse_sse(text)
    for i, e in enumerate(events):
        e["idx"] = i
    if not events:
        return errs + ["the stream has no events"]
    return cap(errs + {"openai": chat_stream_errors, "responses": responses_stream_errors,
                       "claude": claude_stream_errors, "gemini": gemini_stream_errors}[dialect](events))


def _at(e):
    return "event %d (line %d)" % (e["idx"], e["line"])


def chat_stream_errors(events):
    errs = []
    state = ChatCompletionStreamState()
    done = errored = False
    first_id = None
    role_seen, tc_seen, chunks = {}, {}, 0
    for e in events:
        if e["event"] is not None:
            errs.append("%s: `event: %s` line (Chat streams carry data: lines only)" % (_at(e), e["event"]))
        if done:
            errs.append("%s: event after data: [DONE]" % _at(e))
            break
        if e["data"] == "[DONE]":
            done = True
            continue
        if errored:
            errs.append("%s: event after the in-stream error (the SDK raises at the error)" % _at(e))
            break
        d, bad = _json(e)
        if bad:
            errs.append(bad)
            continue
        if isinstance(d, dict) and d.get("error"):
            errored = True
            errs += ["%s: %s" % (_at(e), m) for m in error_body_errors("openai", d, "")]
            continue
        chunk, ve = validate_model("openai", ChatCompletionChunk, d, where="stream")
        if ve:
            errs += ["%s: %s" % (_at(e), m) for m in ve]
        if chunk is None:
            continue
        chunks += 1
        first_id = first_id or chunk.id
        if chunk.id != first_id:
            errs.append("%s: chunk id %r differs from the first chunk's %r" % (_at(e), chunk.id, first_id))
        for ch in chunk.choices:
            if ch.delta.role is not None:
                role_seen[ch.index] = role_seen.get(ch.index, 0) + 1
                if role_seen[ch.index] > 1:
                    errs.append("%s: delta.role sent again for choice %d (the SDK concatenates it)" % (_at(e), ch.index))
            for tc in ch.delta.tool_calls or []:
                for field, val in (("id", tc.id), ("function.name", tc.function and tc.function.name)):
                    if val:
                        key = (ch.index, tc.index, field)
                        tc_seen[key] = tc_seen.get(key, 0) + 1
                        if tc_seen[key] > 1:
                            errs.append("%s: tool_calls[%d].%s sent again (the SDK concatenates repeats)" % (_at(e), tc.index, field))
        try:
            state.handle_chunk(chunk)
        except Exception as ex:
            errs.append("%s: the SDK's ChatCompletionStreamState rejects the chunk: %s: %s" % (_at(e), type(ex).__name__, ex))
    if errored:
        return errs
    if not done:
        errs.append("the stream does not end with data: [DONE]")
    if not chunks:
        return errs + ["no chunks before [DONE]"]
    try:
        final = state.get_final_completion()
    except (openai.LengthFinishReasonError, openai.ContentFilterFinishReasonError) as ex:
        # the helper refuses to *parse* a cut or filtered answer; the stream is
        # fine and the exception carries the accumulated completion
        final = ex.completion
        if final is None:
            return errs + ["the SDK's accumulator produced no completion (%s)" % type(ex).__name__]
    except Exception as ex:
        return errs + ["the SDK cannot build the final completion: %s: %s" % (type(ex).__name__, ex)]
    dump = final.model_dump(mode="json", exclude_none=False)
    for ch in dump.get("choices", []):
        ch.get("message", {}).pop("parsed", None)
        for tc in ch.get("message", {}).get("tool_calls") or []:
            (tc.get("function") or {}).pop("parsed_arguments", None)
    try:
        ChatCompletion.model_validate(dump)
    except ValidationError as ex:
        errs += ["final completion (SDK accumulator): %s" % m for m in pyd_errors(ex)]
    for ch in final.choices:
        if ch.finish_reason is None:
            errs.append("final completion: choice %d has no finish_reason" % ch.index)
        for tc in ch.message.tool_calls or []:
            args = getattr(getattr(tc, "function", None), "arguments", None)
            try:
                ok = isinstance(json.loads(args), dict)
            except (TypeError, ValueError):
                ok = False
            if not ok:
                errs.append("final completion: tool call %s arguments are not a JSON object: %r" % (tc.id, (args or "")[:80]))
    return errs


RESPONSES_TERMINAL = {"response.completed", "response.incomplete", "response.failed", "error"}
_responses_event_adapter = None


def responses_stream_errors(events):
    global _responses_event_adapter
    if _responses_event_adapter is None:
        _responses_event_adapter = TypeAdapter(ResponseStreamEvent)
    errs = []
    state = ResponseStreamState(input_tools=_openai_omit, text_format=_openai_omit)
    terminal = None
    for e in events:
        if terminal is not None:
            errs.append("%s: event after the terminal %s" % (_at(e), terminal))
            break
        d, bad = _json(e)
        if bad:
            errs.append(bad)
            continue
        t = d.get("type") if isinstance(d, dict) else None
        if e["event"] is None:
            errs.append("%s: no event: line (Responses streams name every event)" % _at(e))
        elif e["event"] != t:
            errs.append("%s: event: %s but data.type %r" % (_at(e), e["event"], t))
        if isinstance(d, dict) and d.get("sequence_number") != e["idx"]:
            errs.append("%s: sequence_number %r, expected %d (from 0, one per event)" % (_at(e), d.get("sequence_number"), e["idx"]))
        ev, ve = validate_model("responses", _responses_event_adapter, d, where="stream")
        errs += ["%s: %s" % (_at(e), m) for m in ve]
        if t in RESPONSES_TERMINAL:
            terminal = t
        if ev is None:
            continue
        try:
            state.handle_event(ev)
        except Exception as ex:
            errs.append("%s: the SDK's ResponseStreamState rejects %s: %s: %s" % (_at(e), t, type(ex).__name__, ex))
    if terminal is None:
        errs.append("the stream ends without response.completed/incomplete/failed or error")
    elif terminal == "response.completed" and getattr(state, "_completed_response", None) is None and not errs:
        errs.append("the SDK's ResponseStreamState produced no final response")
    return errs


_claude_event_adapter = None
CLAUDE_DELTAS = {"text": {"text_delta", "citations_delta"}, "thinking": {"thinking_delta", "signature_delta"},
                 "redacted_thinking": set(), "tool_use": {"input_json_delta"}, "server_tool_use": {"input_json_delta"}}


def claude_stream_errors(events):
    global _claude_event_adapter
    if _claude_event_adapter is None:
        _claude_event_adapter = TypeAdapter(RawMessageStreamEvent)
    errs = []
    snapshot, json_bufs = None, {}
    started = ended = None
    open_block, blocks, message_delta = None, {}, 0  # blocks: index -> type
    partial = {}
    for e in events:
        if ended is not None:
            errs.append("%s: event after %s" % (_at(e), ended))
            break
        d, bad = _json(e)
        if bad:
            errs.append(bad)
            continue
        t = d.get("type") if isinstance(d, dict) else None
        if e["event"] is None:
            errs.append("%s: no event: line (the anthropic SDK silently drops such events)" % _at(e))
        elif e["event"] != t:
            errs.append("%s: event: %s but data.type %r" % (_at(e), e["event"], t))
        if t == "ping":
            if d != {"type": "ping"}:
                errs.append("%s: ping carries more than {\"type\":\"ping\"}" % _at(e))
            continue
        if t == "error":
            errs += ["%s: %s" % (_at(e), m) for m in error_body_errors("claude", d, "")]
            ended = "error"
            continue
        ev, ve = validate_model("claude", _claude_event_adapter, d, where="stream")
        errs += ["%s: %s" % (_at(e), m) for m in ve]
        if ev is None:
            continue
        # the order the accumulator relies on (wire-formats C.6, F.54)
        if started is None and t != "message_start":
            errs.append("%s: %s before message_start" % (_at(e), t))
        if t == "message_start":
            if started is not None:
                errs.append("%s: second message_start" % _at(e))
            started = True
        elif t == "content_block_start":
            if open_block is not None:
                errs.append("%s: block %d started while block %d is open" % (_at(e), ev.index, open_block))
            if message_delta:
                errs.append("%s: content_block_start after message_delta" % _at(e))
            if ev.index != len(blocks):
                errs.append("%s: content_block_start index %d, expected %d (0, 1, 2, ... in start order)" % (_at(e), ev.index, len(blocks)))
            blocks[ev.index] = ev.content_block.type
            open_block = ev.index
        elif t == "content_block_delta":
            if ev.index != open_block:
                errs.append("%s: delta for block %d, but the open block is %s" % (_at(e), ev.index, open_block))
            elif ev.delta.type not in CLAUDE_DELTAS.get(blocks.get(ev.index), {ev.delta.type}):
                errs.append("%s: %s on a %s block (the SDK accumulator ignores it)" % (_at(e), ev.delta.type, blocks.get(ev.index)))
            if ev.delta.type == "input_json_delta":
                partial[ev.index] = partial.get(ev.index, "") + ev.delta.partial_json
        elif t == "content_block_stop":
            if ev.index != open_block:
                errs.append("%s: stop for block %d, but the open block is %s" % (_at(e), ev.index, open_block))
            elif ev.index in partial and partial[ev.index].strip():
                try:
                    if not isinstance(json.loads(partial[ev.index]), dict):
                        errs.append("%s: the input_json_delta fragments of block %d are not a JSON object" % (_at(e), ev.index))
                except ValueError:
                    errs.append("%s: the input_json_delta fragments of block %d do not join to JSON: %r" % (_at(e), ev.index, partial[ev.index][:80]))
            open_block = None
        elif t == "message_delta":
            if open_block is not None:
                errs.append("%s: message_delta while block %d is open" % (_at(e), open_block))
            message_delta += 1
            if message_delta > 1:
                errs.append("%s: second message_delta" % _at(e))
        elif t == "message_stop":
            if open_block is not None:
                errs.append("%s: message_stop while block %d is open" % (_at(e), open_block))
            if not message_delta:
                errs.append("%s: message_stop without message_delta (no stop_reason)" % _at(e))
            ended = "message_stop"
        try:
            snapshot = anthropic_accumulate_event(event=ev, current_snapshot=snapshot, json_bufs=json_bufs)
        except Exception as ex:
            errs.append("%s: the SDK's accumulate_event rejects %s: %s: %s" % (_at(e), t, type(ex).__name__, ex))
    if ended is None:
        errs.append("the stream ends without message_stop or error")
    elif ended == "message_stop" and snapshot is not None:
        dump = snapshot.model_dump(mode="json")
        for b in dump.get("content", []):
            b.pop("parsed_output", None)
        final, ve = validate_model("claude", AnthropicMessage, dump)
        errs += ["final message (SDK accumulator): %s" % m for m in ve if "unknown key" not in m]
        if final is not None and final.stop_reason is None:
            errs.append("final message (SDK accumulator): stop_reason is null")
    return errs


def gemini_stream_errors(events):
    errs = []
    last = None
    finish_at = []
    for e in events:
        if last == "error":
            errs.append("%s: event after the error chunk" % _at(e))
            break
        if e["event"] is not None:
            errs.append("%s: `event: %s` line (Gemini streams carry data: lines only; google-genai misreads others)" % (_at(e), e["event"]))
        d, bad = _json(e)
        if bad:
            errs.append(bad)
            continue
        if isinstance(d, dict) and "error" in d:
            errs += ["%s: %s" % (_at(e), m) for m in error_body_errors("gemini", d, "")]
            last = "error"
            continue
        last = "chunk"
        errs += ["%s: %s" % (_at(e), m) for m in gemini_response_errors(d, "", final=None)]
        if isinstance(d, dict):
            c0 = (d.get("candidates") or [{}])[0]
            if (isinstance(c0, dict) and c0.get("finishReason")) or (d.get("promptFeedback") or {}).get("blockReason"):
                finish_at.append(e["idx"])
    if last == "chunk":
        final_idx = events[-1]["idx"]
        if final_idx not in finish_at:
            errs.append("the last chunk has no finishReason (a Gemini stream ends with it; EOF without it is an error)")
        for i in finish_at:
            if i != final_idx:
                errs.append("event %d: finishReason before the last chunk" % i)
    return errs


# ------------------------------------------------------------------ driver

def load_json(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def check_case(case_dir, c, u, report, patch=None):
    """u is the upstream dialect; patch the patch module of a <client>-<patch> folder."""
    CASE["passthrough"] = c == u
    meta = {}
    if os.path.exists(os.path.join(case_dir, "case.json")):
        try:
            meta = load_json(os.path.join(case_dir, "case.json")) or {}
        except ValueError as e:
            report("case.json", ["/: not JSON: %s" % e])
    st = meta.get("upstream_status", 200) if isinstance(meta, dict) else 200
    error_case = isinstance(st, int) and st >= 400  # as the fixture runner (cliproxy rules test) decides

    def run(name, fn, is_json=True, passthrough=None):
        path = os.path.join(case_dir, name)
        if not os.path.exists(path):
            return
        CASE["passthrough"] = (c == u) if passthrough is None else passthrough
        try:
            value = load_json(path) if is_json else open(path, encoding="utf-8", newline="").read()
        except (ValueError, UnicodeDecodeError) as e:
            report(name, ["/: unreadable: %s" % e])
            return
        try:
            report(name, fn(value))
        except Exception as e:  # a checker bug must not pass silently
            report(name, ["checker error: %s: %s" % (type(e).__name__, e)])

    # A passthrough pair's upstream request is the client's own body with only the model
    # replaced: the proxy does not re-shape it (Codex sends a looser form than the SDK
    # types, wire-formats B.5), so there is nothing of ours to check in it.
    if patch is not None:
        check_patch_case(case_dir, c, u, patch, meta if isinstance(meta, dict) else {}, error_case, run)
        return
    if c != u:
        run("upstream_request.json", lambda v: check_request(u, v))
    run("client_response.json", (lambda v: check_error_envelope(c, v)) if error_case else (lambda v: check_response(c, v)))
    run("client_response_from_stream.json", lambda v: check_from_stream(c, v))
    run("client_stream.sse", lambda v: stream_errors(c, v), is_json=False)


# ------------------------------------------------------------------ provider patches

def provider_patches(rules_root):
    """patch module name -> {dialect, event}: from Rules/providers/*.json (a top-level
    `patch`, or one in the `account` section) and whether <patch>.jq has an event hook."""
    out = {}
    for path in sorted(glob.glob(os.path.join(rules_root, "providers", "*.json"))):
        try:
            spec = load_json(path)
        except ValueError:
            continue
        account = spec.get("account") if isinstance(spec.get("account"), dict) else {}
        for name, dialect in ((spec.get("patch"), spec.get("dialect")),
                              (account.get("patch"), account.get("dialect", spec.get("dialect")))):
            if isinstance(name, str) and dialect in DIALECTS and name not in out:
                jq = os.path.join(rules_root, "providers", name + ".jq")
                text = open(jq, encoding="utf-8").read() if os.path.exists(jq) else ""
                out[name] = {"dialect": dialect, "event": "def event($ctx)" in text}
    return out


CODEX_FIELDS = {"model", "instructions", "input", "tools", "tool_choice", "parallel_tool_calls", "reasoning",
                "store", "stream", "include", "prompt_cache_key", "text", "service_tier"}
CLAUDE_IDENTITY = "You are Claude Code, Anthropic's official CLI for Claude"


def _strip_cache_control(body):
    """Qwen's system parts carry DashScope's cache_control (providers.md 6.1), which the
    openai-python part types do not declare: drop it before the type check."""
    body = copy.deepcopy(body)
    for m in body.get("messages") or []:
        if isinstance(m, dict) and isinstance(m.get("content"), list):
            for part in m["content"]:
                if isinstance(part, dict):
                    part.pop("cache_control", None)
    return body


def patch_request_errors(patch, c, u, body, count):
    """What the patch promises about the body it sends (Rules/providers/<patch>.jq),
    plus the dialect's request types for the translated body."""
    if not isinstance(body, dict):
        return ["/: the request body is %s, not an object" % _jtype(body)]
    errs = []
    if patch == "gemini-cli":
        if count:  # the Gemini CLI's countTokens form (providers.md 1.2, D.8)
            if set(body) != {"request"} or not isinstance(body.get("request"), dict) or set(body["request"]) != {"model", "contents"}:
                return ["/: expected exactly {request: {model, contents}}, got keys %s" % sorted(body)]
            if not str(body["request"]["model"]).startswith("models/"):
                errs.append("/request/model: must start with models/")
            return errs + ["/request" + e for e in gemini_request_errors({"contents": body["request"]["contents"]})]
        extra = set(body) - {"model", "project", "request", "user_prompt_id"}
        if extra:
            errs.append("/: keys outside the Code Assist envelope: %s" % sorted(extra))
        if not isinstance(body.get("model"), str) or body["model"].startswith("models/"):
            errs.append("/model: must be the bare model id")
        if not isinstance(body.get("project"), str) or not body["project"]:
            errs.append("/project: the account's project is required")
        inner = body.get("request")
        if not isinstance(inner, dict):
            return errs + ["/request: must be an object"]
        inner = {k: v for k, v in inner.items() if k != "session_id"}  # the CLI's snake_case extra (D.8)
        return errs + ["/request" + e for e in gemini_request_errors(inner)]
    if patch == "codex":
        extra = set(body) - CODEX_FIELDS
        if extra:
            errs.append("/: fields outside the Codex allow-list: %s" % sorted(extra))
        if body.get("stream") is not True:
            errs.append("/stream: must be true")
        if body.get("store") is not False:
            errs.append("/store: must be false")
        if not isinstance(body.get("instructions"), str):
            errs.append("/instructions: must be a string")
        if "service_tier" in body and body["service_tier"] != "priority":
            errs.append("/service_tier: only priority is sent")
        return errs + (check_request(u, body) if c != u else [])
    if patch == "claude-oauth":
        system = body.get("system")
        if not isinstance(system, list) or not system or not isinstance(system[0], dict) \
                or system[0].get("type") != "text" or not str(system[0].get("text", "")).startswith(CLAUDE_IDENTITY):
            errs.append("/system/0: must be the Claude Code identity text block")
        elif sum(1 for b in system if isinstance(b, dict) and str(b.get("text", "")).startswith(CLAUDE_IDENTITY)) != 1:
            errs.append("/system: the identity block appears more than once")
        if "betas" in body:
            errs.append("/betas: must move to the anthropic-beta header")
        return errs + (check_request(u, body) if c != u else [])
    if patch == "qwen":
        msgs = body.get("messages")
        if not isinstance(msgs, list) or not msgs or not isinstance(msgs[0], dict) or msgs[0].get("role") != "system":
            errs.append("/messages/0: must be the system message")
        elif sum(1 for m in msgs if isinstance(m, dict) and m.get("role") in ("system", "developer")) != 1:
            errs.append("/messages: exactly one system message is sent")
        # Another dialect's stream needs the usage chunk to translate usage;
        # a Chat client's stream is relayed, so its own choice stands.
        if c != "openai" and body.get("stream") is True and (body.get("stream_options") or {}).get("include_usage") is not True:
            errs.append("/stream_options/include_usage: must be true for a stream")
        return errs + (check_request(u, _strip_cache_control(body)) if c != u else [])
    return errs + (check_request(u, body) if c != u else [])


def patch_header_errors(patch, headers):
    if not isinstance(headers, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in headers.items()):
        return ["/: must be an object of strings"]
    errs = []
    if patch == "codex":
        for k in ("chatgpt-account-id", "openai-beta", "originator"):
            if not headers.get(k):
                errs.append("/%s: missing" % k)
    if patch == "claude-oauth":
        betas = [b.strip() for b in headers.get("anthropic-beta", "").split(",")]
        for b in ("oauth-2025-04-20", "interleaved-thinking-2025-05-14"):
            if b not in betas:
                errs.append("/anthropic-beta: %s missing" % b)
        if len(betas) != len(set(betas)):
            errs.append("/anthropic-beta: a beta is named twice")
    return errs


def check_patch_case(case_dir, c, u, patch, meta, error_case, run):
    count = meta.get("count") is True
    run("upstream_request.json", lambda v: patch_request_errors(patch, c, u, v, count))
    run("upstream_headers.json", lambda v: patch_header_errors(patch, v))
    if count:  # the client's count reply
        run("client_response.json", lambda v: check_count_reply(c, v))
        return
    # A same-dialect client gets the upstream's body and stream as they came
    # (after the patch's own unwrapping or renaming: the engine writes the
    # patched events out, not a round trip through the IR). A folded stream is
    # always the rules'.
    run("client_response.json", (lambda v: check_error_envelope(c, v)) if error_case else (lambda v: check_response(c, v)),
        passthrough=(c == u))
    run("client_response_from_stream.json", lambda v: check_from_stream(c, v), passthrough=False)
    run("client_stream.sse", lambda v: stream_errors(c, v), is_json=False, passthrough=(c == u))


def check_count_reply(c, v):
    """The client's count-tokens reply: claude {input_tokens}, responses
    {object: response.input_tokens, input_tokens}, gemini {totalTokens} (pitfall 66)."""
    want = {"claude": {"input_tokens"}, "responses": {"object", "input_tokens"}, "gemini": {"totalTokens"}}.get(c)
    if want is None:
        return ["/: %s clients have no count-tokens endpoint" % c]
    if not isinstance(v, dict) or set(v) != want:
        return ["/: expected exactly the keys %s" % sorted(want)]
    n = v.get("input_tokens", v.get("totalTokens"))
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        return ["/: the count must be a non-negative integer"]
    if c == "responses" and v["object"] != "response.input_tokens":
        return ["/object: must be response.input_tokens"]
    return []


PATCHES = {}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--root", default=os.path.join(ROOT, "Fixtures"), help="fixtures directory (default: Fixtures/)")
    ap.add_argument("--pair", help="only this <client>-<upstream> pair")
    ap.add_argument("--case", help="only this case")
    a = ap.parse_args(argv)
    if not os.path.isdir(a.root):
        print("sdk_check: no such directory: %s" % a.root)
        return 2
    stats = {"files": 0, "failed": 0, "cases": 0}
    PATCHES.update(provider_patches(os.path.join(ROOT, "Rules")))

    def reporter(label):
        def report(name, errs):
            stats["files"] += 1
            if errs:
                stats["failed"] += 1
                for m in errs:
                    print("%s/%s: %s" % (label, name, m))
        return report

    for pair_dir in sorted(glob.glob(os.path.join(a.root, "*-*"))):
        pair = os.path.basename(pair_dir)
        if not os.path.isdir(pair_dir) or (a.pair and pair != a.pair):
            continue
        c, _, u = pair.partition("-")
        patch = None
        if c in DIALECTS and u not in DIALECTS and u in PATCHES:  # <client>-<patch>
            patch, u = u, PATCHES[u]["dialect"]
        if c not in DIALECTS or u not in DIALECTS:  # a dialect with no SDK here: nothing to judge by
            print("sdk_check: skipping %s: no SDK types for %s" % (
                pair, " and ".join(sorted({d for d in (c, u) if d not in DIALECTS}))), file=sys.stderr)
            continue
        for case_dir in sorted(glob.glob(os.path.join(pair_dir, "*"))):
            case = os.path.basename(case_dir)
            if not os.path.isdir(case_dir) or (a.case and case != a.case):
                continue
            stats["cases"] += 1
            check_case(case_dir, c, u, reporter("%s/%s" % (pair, case)), patch)
    if (a.pair or a.case) and not stats["cases"]:
        print("sdk_check: no case in %s matches --pair %s --case %s" % (a.root, a.pair or "*", a.case or "*"))
        return 2
    print("%d files checked, %d failed" % (stats["files"], stats["failed"]))
    return 1 if stats["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
