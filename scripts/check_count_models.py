#!/usr/bin/env python3
"""Check the count-tokens and model-list rules (Rules/<d>/count.jq,
Rules/<d>/models.jq, Rules/lib/estimate.jq) against the official SDK types.

  scripts/check_count_models.py [--rules DIR] [-v]

DIR defaults to Rules/. Every rule runs through the `jq` 1.6 command
(`jq -L DIR`), on these inputs:

  IR requests   decoded by <d>/request::decode from the client_request.json of
                the Fixtures/<d>-<d>/<case>/ cases below, and validated against
                Rules/ir.schema.json (scripts/ir_check.py) before use;
                plus one hand-made IR whose estimate is worked out by hand.
  ModelInfo     a few made-up entries, with and without the optional fields.

Checks:
  lib/estimate::estimate_tokens   {input_tokens: int >= 1, estimated: true} for every
                                  IR; the hand-made IR gives the documented number.
  <u>/count::encode (upstream)    claude: anthropic MessageCountTokensParams (TypedDict,
                                  unknown keys fail); responses: openai-python
                                  InputTokenCountParams (same); gemini: exactly
                                  {generateContentRequest: {model: "models/<m>", contents,
                                  systemInstruction?, tools?}}, the inner request checked
                                  like a generateContent body (sdk_check.py) and its
                                  systemInstruction/tools as google-genai CountTokensConfig;
                                  each body must carry the same messages/contents/input as
                                  <u>/request::encode. openai: the documented error.
  <u>/count::decode               sample upstream replies -> {input_tokens: N}.
  <c>/count::encode_reply (client) claude MessageTokensCount, responses
                                  InputTokenCountResponse (pydantic, strict, unknown keys
                                  fail), gemini CountTokensResponse through the SDK's
                                  _CountTokensResponse_from_mldev (keys the converter does
                                  not read fail); openai: the documented error.
  <c>/models::encode, encode_one  openai/responses: openai.pagination.SyncPage[Model] and
                                  Model; claude: anthropic.pagination.SyncPage[ModelInfo]
                                  and ModelInfo; gemini: {models: [...]} through
                                  _ListModelsResponse_from_mldev / _Model_from_mldev into
                                  ListModelsResponse / Model. Plus the values: ids, created
                                  time, limits, first_id/last_id, "models/" prefixes.

Prints one line per failure, then a summary; exits 1 when anything failed, 2 when
the tools are missing. Reuses the validation helpers of scripts/sdk_check.py and
scripts/ir_check.py (re-runs itself under .venv/bin/python when needed).
"""
import argparse, copy, datetime, json, os, subprocess, sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
import sdk_check as sc  # noqa: E402  (re-executes under .venv when the SDKs are missing)
import ir_check  # noqa: E402
from sdk_check import gtypes, gmodels, validate_model, typeddict_request_errors  # noqa: E402
from openai.types import Model as OpenAIModel  # noqa: E402
from openai.pagination import SyncPage as OpenAIPage  # noqa: E402
from openai.types.responses import InputTokenCountResponse, InputTokenCountParams  # noqa: E402
from anthropic.types import ModelInfo as AnthropicModelInfo, MessageTokensCount  # noqa: E402
from anthropic.pagination import SyncPage as AnthropicPage  # noqa: E402
from anthropic.types.message_count_tokens_params import MessageCountTokensParams  # noqa: E402

DIALECTS = ("openai", "responses", "claude", "gemini")
CASES = ("text", "system", "multi_turn", "tools", "tool_result", "parallel_tools", "image_base64",
         "image_url", "reasoning", "reasoning_replay", "codex")  # a case a dialect lacks is skipped
CHAT_UPSTREAM_ERROR = "count tokens: OpenAI Chat has no count-tokens endpoint"
CHAT_CLIENT_ERROR = "count tokens: not an OpenAI Chat endpoint"
NOTES = []  # findings that are not failures of these rules

# The hand-made IR and its estimate, worked out from the formula documented in
# Rules/lib/estimate.jq: bytes / 4 (rounded up) + 4 per message (+ 4 for a system prompt),
# an image 258 tokens.
HAND_IR = {
    "model": "m", "stream": False,
    "system": [{"type": "text", "text": "a" * 40}],                       # 40 bytes, +4 (system)
    "messages": [
        {"role": "user", "parts": [{"type": "text", "text": "é" * 10},      # 20 bytes (UTF-8)
                                   {"type": "image", "media_type": "image/png", "data": "AAAA"}]},  # 258
        {"role": "assistant", "parts": [{"type": "tool_call", "id": "c1", "name": "f",   # 1 + 2 bytes
                                         "arguments": "{}", "kind": "function"}]},
        {"role": "tool", "parts": [{"type": "tool_result", "id": "c1",
                                    "content": [{"type": "text", "text": "b" * 17}]}]},  # 17 bytes
    ],                                                                       # 3 messages: +12
    "tools": [{"name": "f", "description": "dd", "schema": {"type": "object"}, "kind": "function"}],
    # 1 + 2 + len('{"type":"object"}') = 17 -> 20 bytes
}
# bytes: 40 + 20 + 3 + 17 + 20 = 100 -> 25 tokens; + 258 (image) + 4*3 + 4 = 299
HAND_EXPECTED = 25 + 258 + 12 + 4

MODEL_INFOS = [
    {"id": "gpt-4o", "owned_by": "openai", "created": 1715367049},
    {"id": "claude-sonnet-4-20250514", "owned_by": "anthropic", "created": 1747872000,
     "display_name": "Claude Sonnet 4", "input_token_limit": 200000, "output_token_limit": 64000},
    # a Gemini-style id: every dialect but Gemini shows it bare, Gemini once prefixed (pitfall 65)
    {"id": "models/gemini-2.5-pro", "owned_by": "google", "created": 1750118400,
     "display_name": "Gemini 2.5 Pro", "input_token_limit": 1048576, "output_token_limit": 65536},
]

UPSTREAM_REPLIES = {  # (reply, expected input_tokens or an expected error)
    "claude": [({"input_tokens": 2095}, 2095), ({"type": "error"}, "error")],
    "responses": [({"object": "response.input_tokens", "input_tokens": 123}, 123), ([], "error")],
    "gemini": [({"totalTokens": 31, "cachedContentTokenCount": 0,
                 "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 31}]}, 31),
               ({}, 0),  # proto3 JSON omits a zero count
               ({"totalTokens": "x"}, "error")],
    "openai": [({"input_tokens": 1}, CHAT_UPSTREAM_ERROR)],
}


# ------------------------------------------------------------------ jq

class JQ:
    def __init__(self, rules):
        self.rules = rules

    def map(self, imports, expr, items, ctx=None):
        """Run `expr` (with $ctx) on every item; -> [("ok", value) | ("error", message)]."""
        prog = "%s [.[] | try ({ok: (%s)}) catch {error: .}]" % (imports, expr)
        p = subprocess.run(["jq", "-c", "-L", self.rules, "--argjson", "ctx", json.dumps(ctx or {}), prog],
                           input=json.dumps(items), capture_output=True, text=True)
        if p.returncode != 0:
            raise RuntimeError("jq failed (%s): %s" % (imports, p.stderr.strip()))
        out = json.loads(p.stdout)
        return [("ok", r["ok"]) if "ok" in r else ("error", r["error"]) for r in out]


def imp(module, alias="m"):
    return 'import "%s" as %s;' % (module, alias)


# ------------------------------------------------------------------ Gemini helpers

def _model_from_mldev(m):
    """_Model_from_mldev without its `tuned_model_info`: the converter maps the
    wire key `_self` there, and getv(obj, ["_self"]) is the whole object, so
    every model comes back with a copy of itself (the SDK's _from_response then
    strips the copy's unknown keys). Only a tuned model's own fields belong there."""
    conv = gmodels._Model_from_mldev(copy.deepcopy(m), None, None)
    conv.pop("tuned_model_info", None)
    return conv


def unread_keys(converter, obj):
    """Keys of a wire object that a google-genai _from_mldev converter does not
    read (it copies known keys only, so these would be lost silently)."""
    return [k for k in obj if not converter({k: copy.deepcopy(obj[k])})]


def gemini_model_errors(m, base):
    errs = [sc.join(base, e) for e in sc.gemini_case_errors(m)]
    if not isinstance(m, dict):
        return ["%s: expected an object" % (base or "/")]
    errs += ["%s: key %r is not read by the SDK's _Model_from_mldev" % (sc.join(base, "/" + k), k)
             for k in unread_keys(_model_from_mldev, m)]
    conv = _model_from_mldev(m)
    try:
        gtypes.Model.model_validate_json(json.dumps(conv), strict=True)
    except sc.ValidationError as e:
        errs += [sc.join(base, x) if x.startswith("/") else x for x in sc.pyd_errors(e)]
    try:  # and the SDK's own path (models.get): converter, then _from_response
        gtypes.Model._from_response(response=gmodels._Model_from_mldev(copy.deepcopy(m), None, None), kwargs={})
    except Exception as e:
        errs.append("%s: google-genai's Models.get path fails: %s: %s" % (base or "/", type(e).__name__, e))
    name = m.get("name")
    if not (isinstance(name, str) and name.startswith("models/") and not name.startswith("models/models/")):
        errs.append("%s/name: %r, expected \"models/<id>\" (pitfall 65)" % (base, name))
    methods = m.get("supportedGenerationMethods") or []
    for need in ("generateContent", "countTokens"):
        if need not in methods:
            errs.append("%s/supportedGenerationMethods: no %r (pitfall 64)" % (base, need))
    for k in ("inputTokenLimit", "outputTokenLimit", "displayName"):
        if k not in m:
            errs.append("%s: no %s (pitfall 64: synthesize it)" % (base or "/", k))
    return errs


def gemini_count_reply_errors(body):
    if not isinstance(body, dict):
        return ["/: expected an object"]
    errs = sc.gemini_case_errors(body)
    errs += ["/%s: key %r is not read by the SDK's _CountTokensResponse_from_mldev" % (k, k)
             for k in unread_keys(lambda o: gmodels._CountTokensResponse_from_mldev(o, None, None), body)]
    conv = gmodels._CountTokensResponse_from_mldev(copy.deepcopy(body), None, None)
    try:
        inst = gtypes.CountTokensResponse.model_validate_json(json.dumps(conv), strict=True)
        if inst.total_tokens is None:
            errs.append("/: no totalTokens")
    except sc.ValidationError as e:
        errs += sc.pyd_errors(e)
    return errs


GEMINI_COUNT_INNER = {"model", "contents", "systemInstruction", "tools"}


def gemini_count_body_errors(body, model):
    if not isinstance(body, dict) or list(body) != ["generateContentRequest"]:
        return ["/: expected exactly {\"generateContentRequest\": {...}} (D.6), got keys %s"
                % (list(body) if isinstance(body, dict) else sc._jtype(body))]
    inner = body["generateContentRequest"]
    if not isinstance(inner, dict):
        return ["/generateContentRequest: expected an object"]
    errs = []
    if inner.get("model") != "models/" + model:
        errs.append("/generateContentRequest/model: %r, expected %r (D.6)" % (inner.get("model"), "models/" + model))
    for k in inner:
        if k not in GEMINI_COUNT_INNER:
            errs.append("/generateContentRequest/%s: not a field the count request should carry (%s)"
                        % (k, ", ".join(sorted(GEMINI_COUNT_INNER))))
    rest = {k: v for k, v in inner.items() if k != "model"}
    errs += [sc.join("/generateContentRequest", e) if e.startswith("/") else e
             for e in sc.gemini_request_errors(rest)]
    cfg = {k: rest[k] for k in ("systemInstruction", "tools") if k in rest}
    try:
        gtypes.CountTokensConfig.model_validate_json(json.dumps(cfg), strict=True)
    except sc.ValidationError as e:
        errs += [sc.join("/generateContentRequest", x) if x.startswith("/") else x for x in sc.pyd_errors(e)]
    return errs


# ------------------------------------------------------------------ checks

def load_inputs(jq, defaults):
    """-> [(label, IR)] decoded from the fixtures, plus the hand-made IR."""
    irs, errs = [], []
    for d in DIALECTS:
        bodies = []
        for case in CASES:
            path = os.path.join(ROOT, "Fixtures", "%s-%s" % (d, d), case, "client_request.json")
            if os.path.exists(path):
                with open(path, encoding="utf-8") as f:
                    bodies.append(("%s/%s" % (d, case), json.load(f)))
        ctx = dict(defaults["ctx"], model=defaults["upstream_model"][d], stream=False,
                   client_model=defaults.get("client_model", {}).get(d))
        res = jq.map(imp("%s/request" % d), "m::decode($ctx)", [b for _, b in bodies], ctx)
        for (label, _), (kind, v) in zip(bodies, res):
            if kind == "error":
                errs.append("%s: decode failed: %s" % (label, v))
                continue
            bad = [e.message for e in ir_check.validator("Request").iter_errors(v)]
            if bad:
                errs.append("%s: the decoded IR is not a valid IR request: %s" % (label, bad[0]))
                continue
            irs.append((label, v))
    bad = [e.message for e in ir_check.validator("Request").iter_errors(HAND_IR)]
    if bad:
        errs.append("hand-made IR: not a valid IR request: %s" % bad[0])
    irs.append(("hand-made", HAND_IR))
    return irs, errs


def check_estimate(jq, irs, report):
    res = jq.map(imp("lib/estimate", "e"), "e::estimate_tokens", [ir for _, ir in irs])
    estimates = {}
    for (label, ir), (kind, v) in zip(irs, res):
        errs = []
        if kind == "error":
            errs.append("error: %s" % v)
        elif not isinstance(v, dict) or set(v) != {"input_tokens", "estimated"}:
            errs.append("expected {input_tokens, estimated}, got %s" % json.dumps(v)[:100])
        elif v["estimated"] is not True:
            errs.append("estimated is %r, expected true" % v["estimated"])
        elif not (isinstance(v["input_tokens"], int) and v["input_tokens"] >= 1):
            errs.append("input_tokens %r is not a positive integer" % v["input_tokens"])
        else:
            estimates[label] = v["input_tokens"]
        if label == "hand-made" and not errs and v["input_tokens"] != HAND_EXPECTED:
            errs.append("input_tokens %d, the documented heuristic gives %d" % (v["input_tokens"], HAND_EXPECTED))
        report("estimate %s (%s)" % (label, v.get("input_tokens") if isinstance(v, dict) else "-"), errs)
    return estimates


def _shared_fields(u):
    return {"claude": ("messages", "system", "tools", "tool_choice", "thinking"),
            "responses": ("input", "instructions", "tools", "tool_choice", "reasoning"),
            "gemini": ("contents", "systemInstruction", "tools")}[u]


def check_count_encode(jq, irs, defaults, report):
    for u in DIALECTS:
        model = defaults["upstream_model"][u]
        ctx = dict(defaults["ctx"], model=model, client_model=model, stream=False)
        res = jq.map(imp("%s/count" % u), "m::encode($ctx)", [ir for _, ir in irs], ctx)
        if u == "openai":
            for (label, _), (kind, v) in zip(irs, res):
                report("count.encode %s -> openai" % label,
                       [] if (kind, v) == ("error", CHAT_UPSTREAM_ERROR)
                       else ["expected the error %r, got %s %s" % (CHAT_UPSTREAM_ERROR, kind, json.dumps(v)[:80])])
            continue
        full = jq.map(imp("%s/request" % u), "m::encode($ctx)", [ir for _, ir in irs], ctx)
        for (label, _), (kind, v), (fkind, fv) in zip(irs, res, full):
            where = "count.encode %s -> %s" % (label, u)
            if kind == "error":
                # a request the generate encoder refuses may be refused here too
                report(where, [] if fkind == "error" else ["error: %s" % v])
                continue
            if u == "claude":
                errs = typeddict_request_errors(MessageCountTokensParams, v)
                if v.get("model") != model:
                    errs.append("/model: %r, expected %r" % (v.get("model"), model))
            elif u == "responses":
                errs = typeddict_request_errors(InputTokenCountParams, v)
                if v.get("model") != model:
                    errs.append("/model: %r, expected %r" % (v.get("model"), model))
            else:
                errs = gemini_count_body_errors(v, model)
            # the count body is the generate body cut down: same prompt
            inner = v.get("generateContentRequest", {}) if u == "gemini" else v
            if fkind == "ok" and isinstance(inner, dict):
                for k in _shared_fields(u):
                    if inner.get(k) != fv.get(k):
                        errs.append("/%s differs from %s/request::encode's" % (k, u))
                # An error the generate body has at the same place comes from the
                # request encoder, shared on purpose; it is that encoder's business
                # (sdk_check.py judges it on the fixtures; e.g. Codex's reasoning items
                # without `id` replayed as they came, wire-formats B.5). Shown, not failed.
                # Only errors inside the shared prompt fields qualify.
                same = set(sc.check_request(u, fv))
                shared = tuple("/%s/" % k for k in _shared_fields(u))
                inherited = [e for e in errs if e in same and e.startswith(shared)]
                for e in inherited:
                    NOTES.append("%s: %s (also in %s/request::encode's body)" % (where, e, u))
                errs = [e for e in errs if e not in inherited]
            report(where, errs)


def check_count_decode(jq, report):
    for u in DIALECTS:
        cases = UPSTREAM_REPLIES[u]
        res = jq.map(imp("%s/count" % u), "m::decode($ctx)", [r for r, _ in cases])
        for (reply, want), (kind, v) in zip(cases, res):
            where = "count.decode %s %s" % (u, json.dumps(reply)[:50])
            if isinstance(want, int):
                ok = kind == "ok" and v == {"input_tokens": want}
                report(where, [] if ok else ["expected {\"input_tokens\": %d}, got %s %s" % (want, kind, json.dumps(v))])
            elif want == "error":
                report(where, [] if kind == "error" else ["expected an error, got %s" % json.dumps(v)])
            else:
                report(where, [] if (kind, v) == ("error", want) else ["expected the error %r, got %s" % (want, json.dumps(v))])


def check_count_reply(jq, estimates, report):
    counts = [{"input_tokens": 2095}] + [{"input_tokens": n, "estimated": True} for n in sorted(set(estimates.values()))]
    for c in DIALECTS:
        res = jq.map(imp("%s/count" % c), "m::encode_reply($ctx)", counts)
        for cnt, (kind, v) in zip(counts, res):
            where = "count.encode_reply %s %s" % (c, json.dumps(cnt))
            n = cnt["input_tokens"]
            if c == "openai":
                report(where, [] if (kind, v) == ("error", CHAT_CLIENT_ERROR)
                       else ["expected the error %r, got %s %s" % (CHAT_CLIENT_ERROR, kind, json.dumps(v))])
                continue
            if kind == "error":
                report(where, ["error: %s" % v])
                continue
            if c == "claude":
                inst, errs = validate_model("claude", MessageTokensCount, v)
                got = inst.input_tokens if inst else None
            elif c == "responses":
                inst, errs = validate_model("responses", InputTokenCountResponse, v)
                got = inst.input_tokens if inst else None
            else:
                errs = gemini_count_reply_errors(v)
                got = v.get("totalTokens") if isinstance(v, dict) else None
            if not errs and got != n:
                errs.append("the reply says %r tokens, expected %d" % (got, n))
            report(where, errs)


def _ts(s):
    return int(datetime.datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp())


def check_models(jq, report):
    bare = lambda i: i[len("models/"):] if i.startswith("models/") else i
    lists = [{"models": MODEL_INFOS}, {"models": []}]
    for c in DIALECTS:
        lres = jq.map(imp("%s/models" % c), "m::encode($ctx)", lists)
        ores = jq.map(imp("%s/models" % c), "m::encode_one($ctx)", MODEL_INFOS)
        for lst, (kind, v) in zip(lists, lres):
            where = "models.encode %s (%d models)" % (c, len(lst["models"]))
            if kind == "error":
                report(where, ["error: %s" % v])
                continue
            ids = [bare(m["id"]) for m in lst["models"]]
            if c in ("openai", "responses"):
                inst, errs = validate_model("openai", OpenAIPage[OpenAIModel], v)
                if v.get("object") != "list":
                    errs.append("/object: %r, expected \"list\" (A.6)" % v.get("object"))
                if inst is not None and [m.id for m in inst.data] != ids:
                    errs.append("/data: ids %s, expected %s" % ([m.id for m in inst.data], ids))
            elif c == "claude":
                inst, errs = validate_model("claude", AnthropicPage[AnthropicModelInfo], v)
                if inst is not None:
                    if [m.id for m in inst.data] != ids:
                        errs.append("/data: ids %s, expected %s" % ([m.id for m in inst.data], ids))
                    if inst.has_more is not False:
                        errs.append("/has_more: %r, expected false (one page)" % inst.has_more)
                    if (inst.first_id, inst.last_id) != ((ids[0], ids[-1]) if ids else (None, None)):
                        errs.append("first_id/last_id %r/%r do not match the data" % (inst.first_id, inst.last_id))
            else:
                errs = []
                if not isinstance(v, dict) or not set(v) <= {"models", "nextPageToken"}:
                    errs.append("/: expected {models, nextPageToken?}, got %s" % json.dumps(v)[:80])
                else:
                    # the SDK's own path (models.list): converter, then _from_response;
                    # each model is checked strictly below
                    try:
                        conv = gmodels._ListModelsResponse_from_mldev(copy.deepcopy(v), None, None)
                        page = gtypes.ListModelsResponse._from_response(response=conv, kwargs={})
                        if len(page.models or []) != len(v.get("models") or []):
                            errs.append("/models: the SDK reads %d models of %d" % (len(page.models or []), len(v.get("models") or [])))
                    except Exception as e:
                        errs.append("/: google-genai's Models.list path fails: %s: %s" % (type(e).__name__, e))
                    for i, m in enumerate(v.get("models") or []):
                        errs += gemini_model_errors(m, "/models/%d" % i)
                    got = [m.get("name") for m in v.get("models") or []]
                    if got != ["models/" + i for i in ids]:
                        errs.append("/models: names %s, expected %s" % (got, ["models/" + i for i in ids]))
            report(where, sc.cap(errs))
        for info, (kind, v) in zip(MODEL_INFOS, ores):
            where = "models.encode_one %s %s" % (c, info["id"])
            if kind == "error":
                report(where, ["error: %s" % v])
                continue
            if c in ("openai", "responses"):
                inst, errs = validate_model("openai", OpenAIModel, v)
                if inst is not None and (inst.id, inst.created, inst.owned_by) != (bare(info["id"]), info["created"], info["owned_by"]):
                    errs.append("id/created/owned_by %r, expected %r" % ((inst.id, inst.created, inst.owned_by),
                                                                         (bare(info["id"]), info["created"], info["owned_by"])))
            elif c == "claude":
                inst, errs = validate_model("claude", AnthropicModelInfo, v)
                if inst is not None:
                    if inst.id != bare(info["id"]) or inst.display_name != info.get("display_name", bare(info["id"])):
                        errs.append("id/display_name %r/%r do not match the ModelInfo" % (inst.id, inst.display_name))
                    if _ts(v["created_at"]) != info["created"] or not v["created_at"].endswith("Z"):
                        errs.append("/created_at: %r is not %d as RFC 3339 UTC" % (v["created_at"], info["created"]))
                    if inst.max_input_tokens != info.get("input_token_limit") or inst.max_tokens != info.get("output_token_limit"):
                        errs.append("max_input_tokens/max_tokens do not match the ModelInfo limits")
            else:
                errs = gemini_model_errors(v, "")
                if isinstance(v, dict):
                    if v.get("name") != "models/" + bare(info["id"]):
                        errs.append("/name: %r, expected %r" % (v.get("name"), "models/" + bare(info["id"])))
                    for k, ik in (("inputTokenLimit", "input_token_limit"), ("outputTokenLimit", "output_token_limit")):
                        if ik in info and v.get(k) != info[ik]:
                            errs.append("/%s: %r, the ModelInfo says %r" % (k, v.get(k), info[ik]))
            report(where, sc.cap(errs))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rules", default=os.path.join(ROOT, "Rules"), help="rules directory (default: Rules/)")
    ap.add_argument("-v", "--verbose", action="store_true", help="print every check, not only failures")
    a = ap.parse_args(argv)
    try:
        v = subprocess.run(["jq", "--version"], capture_output=True, text=True).stdout.strip()
    except OSError:
        print("check_count_models: no jq command")
        return 2
    if v != "jq-1.6":
        print("check_count_models: warning: %s, the runtime is libjq 1.6" % v, file=sys.stderr)
    with open(os.path.join(ROOT, "Fixtures", "defaults.json"), encoding="utf-8") as f:
        defaults = json.load(f)
    jq = JQ(os.path.abspath(a.rules))
    stats = {"checks": 0, "failed": 0}

    def report(label, errs):
        stats["checks"] += 1
        if errs:
            stats["failed"] += 1
            for m in errs:
                print("%s: %s" % (label, m))
        elif a.verbose:
            print("%s: ok" % label)

    try:
        irs, errs = load_inputs(jq, defaults)
        report("inputs", errs)
        estimates = check_estimate(jq, irs, report)
        check_count_encode(jq, irs, defaults, report)
        check_count_decode(jq, report)
        check_count_reply(jq, estimates, report)
        check_models(jq, report)
    except RuntimeError as e:  # a rule that does not compile
        print("check_count_models: %s" % e)
        return 1
    for n in NOTES:
        print("note: %s" % n)
    print("%d IR requests (%d fixture cases + 1 hand-made); %d checks, %d failed, %d notes" % (
        len(irs), len(irs) - 1, stats["checks"], stats["failed"], len(NOTES)))
    return 1 if stats["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
