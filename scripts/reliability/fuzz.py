"""`reliability.py fuzz`: bad input against every client endpoint.

Each case is derived from a seed and its index alone (random.Random of
"seed:endpoint:index"), so a failure is reproducible; its raw request is also
saved (replay it with `reliability.py replay FILE`).

Pass: every answer is a 4xx, or a 200 that is a correct answer in the
endpoint's dialect; a connection closed without an answer only for
malformed HTTP framing; no 5xx, no hang (per-request timeout), the process
alive and /healthz answering after every batch, and the RSS after the run
(and a settle phase of valid requests) near the warm-up baseline.
"""
import asyncio
import copy
import glob
import json
import os
import random
import sys
import time

from common import (Closed, Harness, Sampler, build_request, check_answer, dialect_request, process_figures,
                    fd_kinds, raise_fd_limit, rss_kb, ROOT)

# name, method, path (with {m} for the model), kind for check_answer, fixture folder
ENDPOINTS = [
    ("chat", "POST", "/v1/chat/completions", "chat", "openai-openai"),
    ("responses", "POST", "/v1/responses", "responses", "responses-responses"),
    ("responses-input_tokens", "POST", "/v1/responses/input_tokens", "responses-count", "responses-responses"),
    ("messages", "POST", "/v1/messages", "claude", "claude-claude"),
    ("count_tokens", "POST", "/v1/messages/count_tokens", "claude-count", "claude-claude"),
    ("generateContent", "POST", "/v1beta/models/{m}:generateContent", "gemini", "gemini-gemini"),
    ("streamGenerateContent", "POST", "/v1beta/models/{m}:streamGenerateContent?alt=sse", "gemini-stream", "gemini-gemini"),
    ("countTokens", "POST", "/v1beta/models/{m}:countTokens", "gemini-count", "gemini-gemini"),
    ("models", "GET", "/v1/models", "models", None),
]

STRATEGIES = [  # (name, weight)
    ("valid", 4), ("mutate", 28), ("wrong_type", 20), ("random_json", 8), ("truncated", 7),
    ("short_body", 2), ("huge_string", 2), ("deep", 3), ("bad_utf8", 8), ("many_tools", 2),
    ("garbage", 5), ("headers", 6), ("path", 5),
]
GET_STRATEGIES = [("valid", 10), ("headers", 30), ("path", 40), ("garbage", 10), ("random_json", 10)]

# 1 MB blocks of different characters: rules treat letters, punctuation (an
# id to clean up), blanks (a blankness test) and non-ASCII differently, and
# each has had its own slow path (docs/RELIABILITY.md, "Fuzzing").
HUGE = {name: (fill * (1 << 20))[: 1 << 20] for name, fill in
        [("letters", "A"), ("punctuation", "-.:/ "), ("blank", " "), ("non-ascii", "é€"), ("mixed", "aZ09_-.é ")]}
SAMPLES = [None, True, False, 0, -1, 2 ** 63, -(2 ** 64), 1.5, 1e308, -0.0, "", "x", "\u0000", "\ud800",
           "🦀" * 3, "\u202e\u0301", [], [None], [[]], {}, {"": None}, {"type": None}, "a" * 70000,
           [1, "a", None, {}], {"type": "text", "text": 5}, "null", "{}"]
WEIRD_STRINGS = ["", " ", "\u0000\u0001\u001f", "\ud800", "\udfff\ud800", "\\", "\"", "'; DROP", "%s%n%x",
                 "\u2028\u2029", "\ufeff", "a" * 5000, "🦀" * 2000, "${jndi:x}", "\u0085", "0" * 400,
                 "data: [DONE]\n\n", "\r\n\r\nHTTP/1.1 200 OK"]
BAD_BYTES = [b"\xff", b"\xfe\xff", b"\xc0\xaf", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80", b"\x80", b"\xe2\x82",
             b"\xf4\x90\x80\x80", b"\x00", b"\\ud800", b"\\uZZZZ", b"\\", b"\\x41", b"\\u00"]


def load_fixtures(folder):
    out = []
    for p in sorted(glob.glob(os.path.join(ROOT, "Fixtures", folder, "*", "client_request.json"))):
        with open(p) as f:
            body = json.load(f)
        if isinstance(body, dict) and "model" in body:
            body["model"] = "m"
        out.append(body)
    return out


def all_paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for k, v in node.items():
            yield from all_paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from all_paths(v, prefix + (i,))


def get_at(node, path):
    for k in path:
        node = node[k]
    return node


def set_at(root, path, value):
    if not path:
        return value
    get_at(root, path[:-1])[path[-1]] = value
    return root


def rand_value(rng, depth=0):
    r = rng.random()
    if depth > 3 or r < 0.5:
        return rng.choice([None, True, False, rng.randint(-2 ** 40, 2 ** 40), rng.random() * 1e6,
                           rng.choice(WEIRD_STRINGS), "".join(chr(rng.randint(32, 0x2FFF)) for _ in range(rng.randint(0, 30)))])
    if r < 0.75:
        return [rand_value(rng, depth + 1) for _ in range(rng.randint(0, 5))]
    return {rng.choice(["type", "role", "content", "text", "model", "parts", "x", "", "messages", "tools"]) + str(i):
            rand_value(rng, depth + 1) for i in range(rng.randint(0, 5))}


def nest(depth, kind):
    if kind == "array":
        return "[" * depth + "]" * depth
    return '{"a":' * depth + "1" + "}" * depth


def tools_for(folder, n):
    schema = {"type": "object", "properties": {"x": {"type": "string"}}, "required": ["x"]}
    if folder.startswith("openai"):
        return "tools", [{"type": "function", "function": {"name": "t%d" % i, "description": "tool %d" % i, "parameters": schema}} for i in range(n)]
    if folder.startswith("responses"):
        return "tools", [{"type": "function", "name": "t%d" % i, "description": "tool %d" % i, "parameters": schema} for i in range(n)]
    if folder.startswith("claude"):
        return "tools", [{"name": "t%d" % i, "description": "tool %d" % i, "input_schema": schema} for i in range(n)]
    return "tools", [{"functionDeclarations": [{"name": "t%d" % i, "description": "tool %d" % i,
                                                "parameters": {"type": "OBJECT", "properties": {"x": {"type": "STRING"}}}} for i in range(n)]}]


class Case:
    __slots__ = ("endpoint", "index", "strategy", "method", "path", "raw", "half_close", "close_ok", "note")

    def describe(self):
        return "%s #%d (%s%s)" % (self.endpoint, self.index, self.strategy, ": " + self.note if self.note else "")


def make_case(ep, index, seed, port, fixtures, only=None):
    name, method, path_t, kind, folder = ep
    rng = random.Random("%s:%s:%d" % (seed, name, index))
    strategies = GET_STRATEGIES if method == "GET" else STRATEGIES
    if only:
        strategies = [s for s in strategies if s[0] in only] or strategies
    strategy = rng.choices([s for s, _ in strategies], [w for _, w in strategies])[0]
    c = Case()
    c.endpoint, c.index, c.strategy, c.method, c.half_close, c.close_ok, c.note = name, index, strategy, method, False, False, ""
    model = "m"
    headers = {}
    if name in ("messages", "count_tokens"):
        headers["anthropic-version"] = "2023-06-01"
    body_obj = json.loads(json.dumps(rng.choice(fixtures))) if fixtures else None
    body = None  # bytes, when a strategy builds them itself

    if strategy == "valid":
        pass
    elif strategy == "mutate":
        for _ in range(rng.randint(1, 5)):
            paths = list(all_paths(body_obj))
            p = rng.choice(paths[1:] or paths)
            op = rng.random()
            parent = get_at(body_obj, p[:-1]) if p else None
            if op < 0.35:
                body_obj = set_at(body_obj, p, copy.deepcopy(rng.choice(SAMPLES)) if rng.random() < 0.6 else rand_value(rng))
            elif op < 0.55 and p:
                del parent[p[-1]]
            elif op < 0.7:
                node = get_at(body_obj, p)
                if isinstance(node, dict):
                    node[rng.choice(["type", "role", "text", "x_extra", "content", "parts", "id", "name", "cache_control"])] = rand_value(rng)
                elif isinstance(node, list):
                    node.insert(rng.randint(0, len(node)), rand_value(rng))
                else:
                    body_obj = set_at(body_obj, p, rng.choice(WEIRD_STRINGS))
            elif op < 0.8:
                node = get_at(body_obj, p)
                if isinstance(node, list) and node:
                    node.extend(copy.deepcopy(node) * rng.randint(1, 40))
                else:
                    body_obj = set_at(body_obj, p, [copy.deepcopy(node) for _ in range(rng.randint(2, 20))])
            elif op < 0.9:
                body_obj = set_at(body_obj, p, json.dumps(get_at(body_obj, p)))
            else:
                node = get_at(body_obj, p)
                if isinstance(node, str):
                    body_obj = set_at(body_obj, p, rng.choice(WEIRD_STRINGS))
                elif isinstance(node, (int, float)) and not isinstance(node, bool):
                    body_obj = set_at(body_obj, p, rng.choice([-1, 0, 2 ** 31, 2 ** 64, -2 ** 63 - 1, 1e308, -1e-308, 0.5]))
                elif isinstance(node, dict) and node:
                    k = rng.choice(list(node))
                    node[k + "\u0000"] = node.pop(k)
        if isinstance(body_obj, dict) and "model" in body_obj and rng.random() < 0.7:
            body_obj["model"] = "m"
    elif strategy == "wrong_type":
        paths = list(all_paths(body_obj))
        p = paths[index % len(paths)]
        v = copy.deepcopy(SAMPLES[(index // len(paths)) % len(SAMPLES)])
        body_obj = set_at(body_obj, p, v)
        c.note = "%s = %s" % ("/".join(map(str, p)) or "<root>", json.dumps(v)[:40])
    elif strategy == "random_json":
        body_obj = rand_value(rng) if rng.random() < 0.5 else {
            rng.choice(["model", "messages", "contents", "input", "stream", "tools", "system"]): rand_value(rng) for _ in range(rng.randint(1, 6))}
    elif strategy == "truncated":
        full = json.dumps(body_obj).encode()
        body = full[: rng.randrange(len(full))]
    elif strategy == "short_body":
        full = json.dumps(body_obj).encode()
        body = full[: rng.randrange(len(full))]
        raw = build_request(method, path_t.replace("{m}", model), port, body, headers, content_length=len(full))
        c.path, c.raw, c.half_close, c.close_ok = path_t.replace("{m}", model), raw, True, True
        return c
    elif strategy == "huge_string":
        paths = [p for p in all_paths(body_obj) if isinstance(get_at(body_obj, p), str)] or [()]
        p = rng.choice(paths)
        mb = rng.choice([1, 2, 4, 8, 40])  # 40: beyond max-body-size (32 MB): 413
        fill = rng.choice(sorted(HUGE))
        body_obj = set_at(body_obj, p, HUGE[fill] * mb)
        c.note = "%d MB of %s at %s" % (mb, fill, "/".join(map(str, p)))
    elif strategy == "deep":
        depth = rng.choice([1000, 5000, 10000, 10001, 100000])
        kind_n = rng.choice(["array", "object"])
        paths = list(all_paths(body_obj))
        p = rng.choice(paths)
        marker = "\u0007DEEP\u0007"
        body_obj = set_at(body_obj, p, marker)
        body = json.dumps(body_obj).encode().replace(json.dumps(marker).encode(), nest(depth, kind_n).encode())
        c.note = "%d levels of %s at %s" % (depth, kind_n, "/".join(map(str, p)) or "<root>")
    elif strategy == "bad_utf8":
        full = json.dumps(body_obj, ensure_ascii=rng.random() < 0.5).encode()
        quotes = [i for i, b in enumerate(full) if b == 0x22] or [0]
        body = full
        for _ in range(rng.randint(1, 3)):
            at = rng.choice(quotes) + 1
            body = body[:at] + rng.choice(BAD_BYTES) + body[at:]
    elif strategy == "many_tools":
        n = rng.choice([500, 2000, 10000])
        key, tools = tools_for(folder, n)
        if isinstance(body_obj, dict):
            body_obj[key] = tools
        c.note = "%d tools" % n
    elif strategy == "garbage":
        body = bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 3000)))
        c.close_ok = True
    elif strategy == "headers":
        variant = rng.randrange(10)
        c.note = "variant %d" % variant
        full = json.dumps(body_obj).encode() if body_obj is not None else b""
        p = path_t.replace("{m}", model)
        if variant == 0:
            headers["Content-Type"] = rng.choice(["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "", "application/json; charset=latin-1"])
        elif variant == 1:
            headers["Content-Encoding"] = rng.choice(["gzip", "br", "deflate", "zstd"])
        elif variant == 2:  # a valid chunked body
            chunks = b"".join(b"%x\r\n%s\r\n" % (len(full[i:i + 100]), full[i:i + 100]) for i in range(0, len(full), 100)) + b"0\r\n\r\n"
            headers.update({"Content-Length": None, "Transfer-Encoding": "chunked"})
            c.raw, c.path = build_request(method, p, port, b"", headers) + chunks, p
            return c
        elif variant == 3:  # a broken chunked body
            headers.update({"Content-Length": None, "Transfer-Encoding": "chunked"})
            c.raw, c.path, c.close_ok, c.half_close = build_request(method, p, port, b"", headers) + rng.choice([b"zz\r\nab\r\n0\r\n\r\n", b"ffffffffffffffff\r\nab", b"5\r\nabc\r\n0\r\n\r\n", b"-1\r\n\r\n"]), p, True, True
            return c
        elif variant == 4:
            headers["Expect"] = "100-continue"
        elif variant == 5:
            headers["X-Big"] = "b" * rng.choice([8000, 70000, 300000])
            c.close_ok = True
        elif variant == 6:
            headers["anthropic-version"] = rng.choice(["", "1999-01-01", "\u00ff" * 10, "2023-06-01, 2023-06-01"])
            headers["anthropic-beta"] = rng.choice(["", "x" * 1000, ",,,", "prompt-caching-2024-07-31"])
        elif variant == 7:  # two Content-Length headers that disagree
            c.raw = build_request(method, p, port, full, headers).replace(b"\r\n\r\n", b"\r\nContent-Length: 3\r\n\r\n", 1)
            c.path, c.close_ok, c.half_close = p, True, True
            return c
        elif variant == 8:
            headers["Authorization"] = rng.choice(["Bearer", "Bearer " + "k" * 10000, "Basic !!!", ""])
            headers["x-api-key"] = rng.choice(["", "\u00e9", "k" * 5000])
        else:  # no Content-Length at all, then half-close
            headers["Content-Length"] = None
            c.raw, c.path, c.close_ok, c.half_close = build_request(method, p, port, full, headers), p, True, True
            return c
        body = full if method == "POST" else b""
    elif strategy == "path":
        model = rng.choice(["", "m%00", "..%2F..%2Fetc%2Fpasswd", "a" * 5000, "m:generateContent", "%E2%82%AC", "%ff%fe",
                            "m?alt=sse", "m/../../v1/models", "m;x", "%", "m%20m", "🦀"])
        suffix = rng.choice(["", "?alt=sse", "?alt=json", "?alt=", "?key=&key=", "?" + "x" * 9000, "#frag", "?alt=sse&alt=sse", "/", "//"])
        p = path_t.replace("{m}", model) + suffix if "{m}" in path_t else path_t + suffix
        if method == "GET":
            headers["anthropic-version"] = rng.choice([None, "2023-06-01", ""])
        c.note = p[:60]
        c.path = p
        c.raw = build_request(method, p, port, json.dumps(body_obj).encode() if body_obj is not None else b"", headers)
        return c

    c.path = path_t.replace("{m}", model)
    if body is None:
        if method == "GET" and strategy not in ("random_json",):
            body = b""
        else:
            try:
                body = json.dumps(body_obj).encode("utf-8", "surrogatepass")
            except (ValueError, TypeError):
                body = json.dumps(body_obj, ensure_ascii=True).encode()
    if method == "GET" and strategy == "headers" and rng.random() < 0.5:
        headers["anthropic-version"] = "2023-06-01"
    c.raw = build_request(method, c.path, port, body, headers)
    return c


class Results:
    def __init__(self):
        self.by_ep = {}
        self.failures = []
        self.crashes = []

    def row(self, ep):
        return self.by_ep.setdefault(ep, {"sent": 0, "200": 0, "4xx": 0, "closed": 0, "fail": 0, "crash": 0, "max_s": 0.0, "codes": {}})


async def send_case(h, c, timeout):
    """('ok'|'fail', outcome text, seconds)."""
    from common import one_shot
    t0 = time.monotonic()
    try:
        resp = await one_shot(h.port, c.raw, c.method, timeout, c.half_close)
    except asyncio.TimeoutError:
        return "fail", "timeout: no answer within %.0f s" % timeout, time.monotonic() - t0
    except (Closed, ConnectionError, OSError) as e:
        if not h.alive():
            return "crash", "process died (connection: %s)" % e, time.monotonic() - t0
        if c.close_ok:
            return "closed", "closed without an answer", time.monotonic() - t0
        return "fail", "closed without an answer: %s" % e, time.monotonic() - t0
    el = time.monotonic() - t0
    if 400 <= resp.status < 500:
        return "4xx", str(resp.status), el
    if resp.status == 200:
        kind = [e for e in ENDPOINTS if e[0] == c.endpoint][0][3]
        if c.endpoint == "streamGenerateContent" and "alt=sse" not in c.path:
            pass  # the JSON-array form: check_answer reads it by content type
        why = check_answer(kind, resp)
        if why:
            return "fail", "200 but " + why, el
        return "200", "200", el
    return "fail", "status %d: %r" % (resp.status, resp.body[:300]), el


def save(out, c, reason, prefix="fail"):
    os.makedirs(out, exist_ok=True)
    base = os.path.join(out, "%s-%s-%d" % (prefix, c.endpoint, c.index))
    with open(base + ".http", "wb") as f:
        f.write(c.raw)
    with open(base + ".json", "w") as f:
        json.dump({"endpoint": c.endpoint, "index": c.index, "strategy": c.strategy, "note": c.note,
                   "method": c.method, "half_close": c.half_close, "close_ok": c.close_ok, "reason": reason}, f, indent=1)
    return base + ".http"


async def warm(h, rounds=10):
    for _ in range(rounds):
        for d in ["chat", "responses", "claude", "gemini", "claude-count", "gemini-count", "responses-count", "models"]:
            for stream in ([False, True] if d in ("chat", "responses", "claude", "gemini") else [False]):
                from common import one_shot
                method, path, raw = dialect_request(d, h.port, stream=stream)
                await one_shot(h.port, raw, method, 30)


# After a run: longer than cliproxy's MemoryTrimmer catch-up delay (30 s)
# plus its interval (5 s), so that what malloc holds free after the burst has
# been handed back.
SETTLE_S = 36.0


async def run(args):
    raise_fd_limit()
    # A fixed mmap threshold: glibc otherwise raises it (up to 32 MB) after the
    # first big request body is freed and keeps later ones in its arenas, so
    # the RSS after a run of huge inputs would say nothing about leaks.
    os.environ.setdefault("GLIBC_TUNABLES", "glibc.malloc.mmap_threshold=131072")
    h = Harness(args.binary, keep=args.keep).start()
    out = args.out
    res = Results()
    fixtures = {e[4]: load_fixtures(e[4]) for e in ENDPOINTS if e[4]}
    endpoints = [e for e in ENDPOINTS if not args.endpoint or e[0] in args.endpoint.split(",")]
    await warm(h)
    await asyncio.sleep(1.0)
    baseline = rss_kb(h.pid)
    malloc_warm = await process_figures(h.port)
    sampler = Sampler(h.pid, 0.05).start()
    t_start = time.monotonic()
    print("fuzz: seed %s, %d per endpoint, %d at once; cliproxy %s pid %d, warm RSS %.1f MB"
          % (args.seed, args.count, args.parallel, h.binary, h.pid, baseline / 1024), flush=True)

    after_round = []
    for rnd in range(args.rounds):
        if args.rounds > 1:
            print("round %d of %d" % (rnd + 1, args.rounds), flush=True)
        for ep in endpoints:
            row = res.row(ep[0])
            t_ep = time.monotonic()
            end = args.first + args.count
            for start in range(args.first, end, args.batch):
                cases = [make_case(ep, i, args.seed, h.port, fixtures.get(ep[4]), args.strategy and args.strategy.split(",")) for i in range(start, min(end, start + args.batch))]
                sem = asyncio.Semaphore(args.parallel)

                async def one(c):
                    async with sem:
                        return c, await send_case(h, c, args.timeout)

                outcomes = await asyncio.gather(*(one(c) for c in cases))
                crashed = not h.alive() or any(o[1][0] == "crash" for o in outcomes)
                for c, (verdict, text, el) in outcomes:
                    row["sent"] += 1
                    if el > row["max_s"]:
                        row["max_s"], row["slowest"] = el, c.describe()
                    if verdict in ("200", "4xx", "closed"):
                        row[verdict] += 1
                        if verdict == "4xx":
                            row["codes"][text] = row["codes"].get(text, 0) + 1
                    elif verdict == "fail" and not crashed:
                        row["fail"] += 1
                        f = save(out, c, text)
                        res.failures.append((c.describe(), text, f))
                        print("  FAIL %s: %s\n       input: %s" % (c.describe(), text[:300], f), flush=True)
                if crashed:
                    await find_crashers(h, cases, args, res, row, out)
                elif not await h.healthy(5.0):
                    row["fail"] += 1
                    res.failures.append((ep[0] + " batch at %d" % start, "/healthz did not answer after the batch", ""))
                    print("  FAIL /healthz did not answer after batch %s %d" % (ep[0], start), flush=True)
                    for c in cases:
                        save(out, c, "in the batch after which /healthz hung", "hang-batch")
                    h.restart_proxy()
            print("  %-22s %6d sent in %5.1f s: %d 200, %d 4xx, %d closed (malformed HTTP), %d fail, %d crash; slowest %.2f s (%s); %s"
                  % (ep[0], row["sent"], time.monotonic() - t_ep, row["200"], row["4xx"], row["closed"], row["fail"], row["crash"],
                     row["max_s"], row.get("slowest", ""), " ".join("%s×%d" % kv for kv in sorted(row["codes"].items()))), flush=True)

        if args.rounds > 1:
            await warm(h)
            await asyncio.sleep(SETTLE_S)
            after_round.append(rss_kb(h.pid))
            fig = await process_figures(h.port)
            print("  RSS after round %d (settled): %.1f MB; malloc in use %.1f MB, free %.1f MB" % (
                rnd + 1, after_round[-1] / 1024, fig.get("in_use", 0) / 2**20, fig.get("free", 0) / 2**20), flush=True)
            if os.environ.get("RELIABILITY_ROUND_HOOK"):  # e.g. a gdb call printing malloc's in-use bytes
                os.system(os.environ["RELIABILITY_ROUND_HOOK"].replace("{pid}", str(h.pid)))

    # settle: valid traffic again, so freed memory is reused rather than counted
    fuzz_s = time.monotonic() - t_start
    peak = await sampler.stop()
    await warm(h)
    await asyncio.sleep(SETTLE_S)
    final = rss_kb(h.pid)
    malloc_after = await process_figures(h.port)
    if "in_use" in malloc_warm and "in_use" in malloc_after:
        print("fuzz: malloc in use warm %.1f MB, after %.1f MB; free in malloc's arenas warm %.1f MB, after %.1f MB"
              % (malloc_warm["in_use"] / 2**20, malloc_after["in_use"] / 2**20, malloc_warm["free"] / 2**20,
                 malloc_after["free"] / 2**20), flush=True)
    limit = baseline * (1 + args.rss_slack_pct / 100.0) + args.rss_slack_mb * 1024
    rss_ok = final <= limit
    # Client connections cliproxy still holds once the fuzz is over: its own
    # keep-alive ones at most (a connection left open after a bad request
    # leaked a descriptor and ~130 KB each, docs/RELIABILITY.md).
    held = fd_kinds(h.pid, own_port=h.port).get("client", 0)
    held_limit = args.parallel
    grew = ""
    if len(after_round) >= 2:
        step = (after_round[-1] - after_round[-2]) * 100.0 / after_round[-2]
        grew = "; last round %+.1f%% (limit +%.0f%%)" % (step, args.round_growth_pct)
        if step > args.round_growth_pct:
            rss_ok = False
            grew += "  <- RSS still grows round over round: a leak"
    total = sum(r["sent"] for r in res.by_ep.values())
    crashes = len(res.crashes)
    print("fuzz: %d requests in %.0f s; %d failures, %d crashes, %d restarts; RSS warm %.1f MB, peak %.1f MB, after %.1f MB (limit %.1f MB)%s%s;"
          " client connections still open %d (limit %d)%s"
          % (total, fuzz_s, len(res.failures), crashes, h.restarts, baseline / 1024, peak / 1024, final / 1024, limit / 1024,
             "" if final <= limit else "  <- RSS did not return near the baseline", grew,
             held, held_limit, "" if held <= held_limit else "  <- connections left open"), flush=True)
    if res.failures or res.crashes:
        print("inputs saved under %s; replay one with: python3 scripts/reliability/reliability.py replay FILE" % out)
    if not rss_ok or held > held_limit or res.failures or res.crashes or not h.alive():
        if args.keep:
            print("work folder kept: %s" % h.workdir)
        return 1
    return 0


async def find_crashers(h, cases, args, res, row, out):
    """The process died during a batch: restart it and replay the batch one
    request at a time to name the input(s) that kill it."""
    print("  CRASH during a batch of %s (exit status %s); replaying the batch one by one" % (cases[0].endpoint, h.proxy.poll()), flush=True)
    for c in cases:
        save(out, c, "in the batch during which cliproxy died", "crash-batch")
    h.restart_proxy()
    found = 0
    for c in cases:
        verdict, text, _ = await send_case(h, c, args.timeout)
        if verdict == "crash" or not h.alive():
            found += 1
            row["crash"] += 1
            f = save(out, c, "cliproxy died on this request (exit status %s)" % h.proxy.poll(), "crash")
            res.crashes.append((c.describe(), f))
            print("  CRASH on %s\n        input: %s" % (c.describe(), f), flush=True)
            h.restart_proxy()
    if not found:
        res.crashes.append((cases[0].endpoint + " batch %d" % cases[0].index, "not reproduced alone: inputs crash-batch-*"))
        row["crash"] += 1


async def replay(args):
    meta = {}
    mp = args.file[:-5] + ".json" if args.file.endswith(".http") else None
    if mp and os.path.exists(mp):
        meta = json.load(open(mp))
    h = Harness(args.binary, keep=args.keep).start()
    raw = open(args.file, "rb").read()
    # the saved request names the port of its run: point it at this one
    head, sep, rest = raw.partition(b"\r\n\r\n")
    import re
    head = re.sub(rb"Host: 127\.0\.0\.1:\d+", b"Host: 127.0.0.1:%d" % h.port, head)
    from common import one_shot
    try:
        r = await one_shot(h.port, head + sep + rest, meta.get("method", "POST"), args.timeout, meta.get("half_close", False))
        print("status %d, %d bytes, %.2f s\n%s" % (r.status, len(r.body), r.elapsed, r.body[:2000].decode("utf-8", "replace")))
    except Exception as e:
        print("no answer: %s: %s" % (type(e).__name__, e))
    await asyncio.sleep(0.5)
    print("cliproxy alive: %s (log %s)" % (h.alive(), h.log_path))
    return 0 if h.alive() else 1
