#!/usr/bin/env python3
"""Rule authors' harness: runs Rules/ through the jq 1.6 command (the same libjq
the server links), before or beside `cliproxy rules test`.

  scripts/rules-dev.py run  --from C --to U --kind request|response|stream|error|collect|ir FILE
  scripts/rules-dev.py gen  PAIR[/CASE]     write the expected files of fixture cases
  scripts/rules-dev.py check [PAIR[/CASE]]  compare them
  scripts/rules-dev.py fixpoint DIALECT     decode|encode|decode == decode on every client_request
"""
import json, os, subprocess, sys, glob

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RULES = os.path.join(ROOT, "Rules")
FIX = os.path.join(ROOT, "Fixtures")
DEFAULTS = json.load(open(os.path.join(FIX, "defaults.json")))

def jq(program, data):
    p = subprocess.run(["jq", "-c", "-L", RULES, program], input=json.dumps(data).encode(),
                       capture_output=True)
    if p.returncode != 0:
        raise RuntimeError(p.stderr.decode().strip()[:2000])
    return json.loads(p.stdout)

def parse_sse(text):
    events, name, data = [], None, []
    for line in text.replace("\r\n", "\n").split("\n"):
        if line == "":
            if data:
                raw = "\n".join(data)
                try: val = json.loads(raw)
                except ValueError: val = raw
                events.append({"event": name, "data": val})
            name, data = None, []
        elif line.startswith(":"): continue
        elif line.startswith("event:"): name = line[6:].strip()
        elif line.startswith("data:"): data.append(line[5:][1:] if line[5:].startswith(" ") else line[5:])
    return events

def write_sse(events):
    out = []
    for e in events:
        d = e["data"]
        s = d if isinstance(d, str) else jq("tojson", d)
        out.append(("event: %s\n" % e["event"] if e.get("event") else "") + "data: %s\n\n" % s)
    return "".join(out)

PRE = 'import "{c}/request" as cq; import "{c}/response" as cr; import "{c}/stream" as cs; import "{c}/error" as ce; ' \
      'import "{u}/request" as uq; import "{u}/response" as ur; import "{u}/stream" as us; import "{u}/error" as ue; ' \
      'import "lib/collect" as col; .ctx as $ctx | '

def op(kind, c, u, body, ctx, state=None, final=False):
    pre = PRE.format(c=c, u=u)
    if kind == "ir": return jq(pre + ".body | cq::decode($ctx)", {"ctx": ctx, "body": body})
    if kind == "request":
        prog = ".body | cq::passthrough($ctx)" if c == u else ".body | cq::decode($ctx) | uq::encode($ctx)"
        return jq(pre + prog, {"ctx": ctx, "body": body})
    if kind == "response":
        prog = ".body" if c == u else ".body | ur::decode($ctx) | cr::encode($ctx)"
        return jq(pre + prog, {"ctx": ctx, "body": body})
    if kind == "error":
        prog = ".body | ue::decode($ctx) | ce::encode($ctx)"
        return jq(pre + prog, {"ctx": ctx, "body": body})
    if kind == "stream":  # body = list of events; returns [out events]
        if c == u: return body
        prog = ('.body as $b | {state: null, events: $b, final: false} as $x | '
                '($x | us::decode($ctx)) as $d1 | ({state: null, events: $d1.out, final: false} | cs::encode($ctx)) as $e1 | '
                '({state: $d1.state, events: [], final: true} | us::decode($ctx)) as $d2 | '
                '({state: $e1.state, events: $d2.out, final: true} | cs::encode($ctx)) as $e2 | $e1.out + $e2.out')
        return jq(pre + prog, {"ctx": ctx, "body": body})
    if kind == "stream1":  # one event per call
        if c == u: return body
        prog = ('reduce (.body[] | [.]) as $b ({d: null, e: null, out: []}; '
                '({state: .d, events: $b, final: false} | us::decode($ctx)) as $d | '
                '({state: .e, events: $d.out, final: false} | cs::encode($ctx)) as $e | '
                '{d: $d.state, e: $e.state, out: (.out + $e.out)}) | '
                '({state: .d, events: [], final: true} | us::decode($ctx)) as $d | '
                '.out + ({state: .e, events: $d.out, final: true} | cs::encode($ctx)).out')
        return jq(pre + prog, {"ctx": ctx, "body": body})
    if kind == "collect":
        prog = ('({state: null, events: .body, final: true} | us::decode($ctx)).out | col::collect | '
                'if .error then (.error | ce::encode($ctx)) else {status: 200, body: cr::encode($ctx)} end')
        return jq(pre + prog, {"ctx": ctx, "body": body})
    raise ValueError(kind)

def case_ctx(c, u, case_dir, client_request):
    meta = load(os.path.join(case_dir, "case.json")) or {}
    ctx = dict(DEFAULTS["ctx"])
    ctx["model"] = DEFAULTS["upstream_model"][u]
    ctx["client_model"] = DEFAULTS["client_model"].get(c)
    ctx["stream"] = False
    ctx["request"] = client_request
    ir = op("ir", c, c, client_request, ctx)
    ctx["client_model"] = ir.get("model") or ctx["client_model"]
    if c == u: ctx["model"] = ctx["client_model"]
    ctx.update(meta.get("ctx", {}))
    return ctx, meta

def load(path):
    if not os.path.exists(path): return None
    return json.load(open(path))

def pretty(v): return json.dumps(v, indent=2, ensure_ascii=False) + "\n"

def run_case(case_dir, write):
    pair, case = case_dir.rstrip("/").split("/")[-2:]
    c, u = pair.split("-")
    creq = load(os.path.join(case_dir, "client_request.json"))
    ctx, meta = case_ctx(c, u, case_dir, creq)
    results = {}
    results["upstream_request.json"] = op("request", c, u, creq, ctx)
    uresp = load(os.path.join(case_dir, "upstream_response.json"))
    if uresp is not None:
        if meta.get("upstream_status", 200) >= 400:
            results["client_response.json"] = op("error", c, u, {"status": meta["upstream_status"], "body": uresp}, ctx)
        else:
            results["client_response.json"] = op("response", c, u, uresp, ctx)
    sse_path = os.path.join(case_dir, "upstream_stream.sse")
    if os.path.exists(sse_path):
        raw = open(sse_path, encoding="utf-8", newline="").read()
        events = parse_sse(raw)
        sctx = dict(ctx, stream=True)
        out = op("stream", c, u, events, sctx)
        out1 = op("stream1", c, u, events, sctx)
        if out != out1:
            raise RuntimeError("stream output depends on batching")
        # within one dialect the stream is relayed byte for byte
        results["client_stream.sse"] = raw if c == u else write_sse(out)
        if c != u:
            results["client_response_from_stream.json"] = op("collect", c, u, events, ctx)
    bad = 0
    for name, val in results.items():
        path = os.path.join(case_dir, name)
        text = val if name.endswith(".sse") else pretty(val)
        if write:
            open(path, "w", encoding="utf-8", newline="").write(text)
        else:
            old = open(path, encoding="utf-8", newline="").read() if os.path.exists(path) else None
            same = (old == text) if name.endswith(".sse") else (old is not None and json.loads(old) == val)
            if not same:
                bad += 1
                print("FAIL %s/%s %s" % (pair, case, name))
    return bad

def cases(sel):
    pat = os.path.join(FIX, sel or "*-*", "*" if (not sel or "/" not in sel) else "")
    return sorted(d for d in glob.glob(pat) if os.path.isdir(d) and os.path.exists(os.path.join(d, "client_request.json")))

def main():
    a = sys.argv[1:]
    if not a: print(__doc__); return 2
    if a[0] in ("gen", "check"):
        fails = errs = n = 0
        for d in cases(a[1] if len(a) > 1 else None):
            n += 1
            try: fails += 1 if run_case(d, a[0] == "gen") else 0
            except Exception as e:
                errs += 1; print("ERROR %s: %s" % (os.path.relpath(d, FIX), e))
        print("%d cases, %d failed, %d errors" % (n, fails, errs))
        return 1 if fails or errs else 0
    if a[0] == "fixpoint":
        d = a[1]; bad = 0
        for f in sorted(glob.glob(os.path.join(FIX, d + "-*", "*", "client_request.json"))):
            body = load(f); ctx = dict(DEFAULTS["ctx"], model="m", client_model=DEFAULTS["client_model"].get(d), stream=False, request=body)
            ir1 = op("ir", d, d, body, ctx)
            again = jq('import "%s/request" as q; .ctx as $ctx | .ir | q::encode($ctx) | q::decode($ctx)' % d, {"ctx": dict(ctx, model=ir1.get("model")), "ir": ir1})
            if again != ir1:
                bad += 1; print("NOT A FIXPOINT:", os.path.relpath(f, FIX)); print(" ir1:", json.dumps(ir1)[:800]); print(" ir2:", json.dumps(again)[:800])
        print("fixpoint failures:", bad); return 1 if bad else 0
    if a[0] == "run":
        args = dict(zip(a[1:-1:2], a[2:-1:2])); f = a[-1]
        c, u, kind = args["--from"], args["--to"], args["--kind"]
        text = open(f, encoding="utf-8").read()
        body = parse_sse(text) if kind in ("stream", "collect") else json.loads(text)
        ctx = dict(DEFAULTS["ctx"], model=DEFAULTS["upstream_model"][u], client_model="client-model", stream=kind == "stream", request={})
        res = op(kind, c, u, body, ctx)
        print(write_sse(res) if kind == "stream" else pretty(res), end="")
        return 0
    print(__doc__); return 2

if __name__ == "__main__":
    sys.exit(main())
