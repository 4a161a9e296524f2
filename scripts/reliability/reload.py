"""`reliability.py reload`: traffic while the rules and the config change.

cliproxy runs on a copy of Rules/ (--rules) and a config of its own. Every
--period seconds, a rule file (claude/response.jq) and config.yaml are
rewritten in place: first a broken version of each (a jq syntax error; a
YAML syntax error or a wrong type), then, --gap seconds later, a good one
that changes what the answer shows:
  rules   the Messages answer carries "x_reload": "v<k>"
  config  the alias "m" routes to upstream model "up-v<k>", which the fake
          upstream names in its reply text ("served-by:up-v<k>")
Meanwhile --workers clients send every dialect, stream and not, and a probe
sends Messages requests back to back. Pass: no request fails; each good
version is served (first answer showing it, counted from its write) within
--goal seconds.
"""
import asyncio
import os
import re
import shutil
import time

from common import (ROOT, Closed, Conn, Harness, check_answer, config_text, dialect_request, percentile,
                    raise_fd_limit, rss_kb)

RULE = "claude/response.jq"
ANCHOR = 'type: "message", role: "assistant",'
DIALECTS = [("chat", False), ("claude", False), ("gemini", False), ("responses", False),
            ("chat", True), ("claude", True), ("gemini", True), ("responses", True)]
KIND = {"chat": "chat", "responses": "responses", "claude": "claude", "gemini": "gemini"}


def good_rule(original, k):
    return original.replace(ANCHOR, 'type: "message", x_reload: "v%d", role: "assistant",' % k)


def broken_rule(original, k):
    return original.replace(ANCHOR, 'type: "message", x_reload: , role: "assistant",')


async def run(args):
    raise_fd_limit()
    h = Harness(args.binary, keep=args.keep)
    rules = os.path.join(h.workdir, "Rules")
    shutil.copytree(os.path.join(ROOT, "Rules"), rules)
    h.rules = rules
    rule_path = os.path.join(rules, RULE)
    original = open(rule_path).read()
    if ANCHOR not in original:
        print("reload: %s no longer contains %r; update reload.py" % (RULE, ANCHOR))
        return 2
    h.start_upstream()
    from common import free_port
    h.port = free_port()
    good_config = lambda k: config_text(h.port, h.upstream_port, h.workdir, model_name="up-v%d" % k)
    h.write_config(good_config(0))
    with open(rule_path, "w") as f:
        f.write(good_rule(original, 0))
    h.start()

    failures, seen_cfg, seen_rule = {}, {}, {}
    stop = False
    n_ok = 0
    t0 = time.monotonic()

    def observe(text, now):
        m = re.search(r"served-by:up-v(\d+)", text)
        if m:
            k = int(m.group(1))
            seen_cfg.setdefault(k, now)
        m = re.search(r'"x_reload":\s*"v(\d+)"', text)
        if m:
            seen_rule.setdefault(int(m.group(1)), now)

    async def worker(i):
        nonlocal n_ok
        conn = Conn(h.port)
        j = i
        while not stop:
            d, s = DIALECTS[j % len(DIALECTS)]
            j += 1
            method, _, raw = dialect_request(d, h.port, stream=s)
            try:
                r = await conn.request(raw, method, args.timeout)
            except (asyncio.TimeoutError, Closed, OSError) as e:
                failures.setdefault("%s %s: %s" % (d, "stream" if s else "", type(e).__name__ + " " + str(e)[:60]), []).append(time.monotonic() - t0)
                conn.close()
                continue
            now = time.monotonic()
            why = "status %d %r" % (r.status, r.body[:120]) if r.status != 200 else check_answer(
                "gemini-stream" if d == "gemini" and s else KIND[d], r)
            if why:
                failures.setdefault("%s%s: %s" % (d, " stream" if s else "", why[:120]), []).append(now - t0)
            else:
                n_ok += 1
                observe(r.body.decode("utf-8", "replace"), now)
        conn.close()

    async def prober():
        nonlocal n_ok
        conn = Conn(h.port)
        while not stop:
            method, _, raw = dialect_request("claude", h.port)
            try:
                r = await conn.request(raw, method, args.timeout)
            except (asyncio.TimeoutError, Closed, OSError) as e:
                failures.setdefault("probe: %s" % type(e).__name__, []).append(time.monotonic() - t0)
                conn.close()
                continue
            now = time.monotonic()
            if r.status != 200:
                failures.setdefault("probe: status %d %r" % (r.status, r.body[:120]), []).append(now - t0)
            else:
                n_ok += 1
                observe(r.body.decode("utf-8", "replace"), now)
        conn.close()

    tasks = [asyncio.get_running_loop().create_task(worker(i)) for i in range(args.workers)]
    tasks.append(asyncio.get_running_loop().create_task(prober()))
    written = {}
    await asyncio.sleep(1.0)
    rss0 = rss_kb(h.pid)
    print("reload: cliproxy %s pid %d; %d workers + 1 probe; a broken then a good rule and config every %.1f s for %d s"
          % (h.binary, h.pid, args.workers, args.period, args.seconds), flush=True)
    what = set(args.what.split(","))
    k = 0
    t_end = time.monotonic() + args.seconds
    while time.monotonic() < t_end:
        k += 1
        tick = time.monotonic()
        if "rules" in what:
            with open(rule_path, "w") as f:
                f.write(broken_rule(original, k))
        if "config" in what:
            with open(h.config_path, "w") as f:
                f.write(good_config(k) + ("request-retry: [unclosed\n" if k % 2 else 'request-retry: "many"\n'))
        await asyncio.sleep(args.gap)
        if "rules" in what:
            with open(rule_path, "w") as f:
                f.write(good_rule(original, k))
        if "config" in what:
            with open(h.config_path, "w") as f:
                f.write(good_config(k))
        written[k] = time.monotonic()
        await asyncio.sleep(max(0.0, tick + args.period - time.monotonic()))
    # the last version: give it time to appear
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and (("rules" in what and k not in seen_rule) or ("config" in what and k not in seen_cfg)):
        await asyncio.sleep(0.05)
    stop = True
    await asyncio.gather(*tasks)

    def delays(seen):
        d, missed = {}, []
        for v, t in written.items():
            firsts = [ts for sv, ts in seen.items() if sv >= v and ts >= t]
            if firsts:
                d[v] = min(firsts) - t
            else:
                missed.append(v)
        return d, missed

    log = open(h.log_path, errors="replace").read()
    compile_ms = [int(m) for m in re.findall(r"rules reloaded from .*?, (\d+) ms[,)]", log)]
    refused_rules = len(re.findall(r"rules not reloaded", log))
    refused_cfg = len(re.findall(r"config not reloaded", log))
    cfg_reloads = len(re.findall(r"config reloaded from", log))
    nfail = sum(len(v) for v in failures.values())
    print("reload: %d good answers, %d failed requests; RSS %.1f MB -> %.1f MB" % (n_ok, nfail, rss0 / 1024, rss_kb(h.pid) / 1024))
    for why, ts in failures.items():
        print("  FAIL ×%d %s (first at %.1f s)" % (len(ts), why, ts[0]))
    bad = nfail > 0 or not h.alive()
    for name, seen in (("config", seen_cfg), ("rules", seen_rule)):
        if name not in what:
            continue
        d, missed = delays(seen)
        vals = sorted(d.values())
        # a version overtaken by the next before it was served is not "missed": the newer one covers it
        superseded = [v for v in missed if any(w > v for w in d)]
        never = [v for v in missed if v not in superseded]
        over = [v for v in d if d[v] > args.goal]
        print("  %-6s %d good versions written; served: %d (delay p50 %.0f ms, max %.0f ms, over %.1f s: %d); overtaken by the next before served: %d; never served: %d"
              % (name, len(written), len(d), percentile(vals, 50) * 1e3, (vals[-1] if vals else 0) * 1e3, args.goal, len(over),
                 len(superseded), len(never)), flush=True)
        if never or (args.goal > 0 and (over or superseded)):
            bad = True
    print("  cliproxy log: rules reloaded %d× (compile ms p50 %d, max %d), broken rules refused %d×, config-only reloads %d×, broken config refused %d×"
          % (len(compile_ms), percentile(compile_ms, 50), max(compile_ms or [0]), refused_rules, cfg_reloads, refused_cfg), flush=True)
    return 1 if bad else 0
