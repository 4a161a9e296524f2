"""`reliability.py soak`: a long mixed run, watching memory and descriptors.

--workers clients send every endpoint (Chat, Responses, Messages, Gemini,
stream and not, the three token counts, /v1/models); a share (--fault-pct)
asks for a model the fake upstream fails (429, 500, reset before the head,
reset mid-answer), and a share of streams is dropped by the client after
the first bytes. RSS (VmRSS) and open fds of cliproxy are sampled every
--every seconds. Traffic pauses for a few seconds after the warm-up and at
the end, and the fds are counted then (idle), so in-flight connections do not
count. Pass: no failure on the normal requests, no hang on any; RSS at the
end within --rss-growth-pct of the post-warm-up sample; idle fds at the end
not above those after the warm-up (+ --fd-slack).
"""
import asyncio
import random
import time

from common import (FAULT_MODELS, Closed, Conn, Harness, check_answer, dialect_request, fd_count, fd_kinds, one_shot,
                    raise_fd_limit, rss_kb)

ENDPOINTS = [("chat", False), ("chat", True), ("responses", False), ("responses", True), ("claude", False),
             ("claude", True), ("gemini", False), ("gemini", True), ("claude-count", False),
             ("gemini-count", False), ("responses-count", False), ("models", False)]
KIND = {"chat": "chat", "responses": "responses", "claude": "claude", "gemini": "gemini", "claude-count": "claude-count",
        "gemini-count": "gemini-count", "responses-count": "responses-count", "models": "models"}


async def run(args):
    raise_fd_limit()
    h = Harness(args.binary, chunks=args.chunks, interval_ms=args.interval_ms, keep=args.keep).start()
    total = args.minutes * 60.0
    warm = args.warmup if args.warmup is not None else max(30.0, total * 0.1)
    stats = {"ok": 0, "fault_answered": 0, "fault_cut": 0, "aborted": 0}
    failures = {}
    paused = asyncio.Event()
    paused.set()  # set = running
    stop = False
    t0 = time.monotonic()

    def fail(why):
        failures.setdefault(why, [0, time.monotonic() - t0])[0] += 1

    async def worker(i):
        rng = random.Random(i)
        conn = Conn(h.port)
        while not stop:
            if not paused.is_set():
                conn.close()
                await paused.wait()
                continue
            d, s = rng.choice(ENDPOINTS)
            fault = rng.random() * 100 < args.fault_pct and d not in ("models",)
            model = rng.choice(FAULT_MODELS) if fault else "m"
            method, _, raw = dialect_request(d, h.port, model=model, stream=s, alt_sse=rng.random() < 0.8)
            if s and not fault and rng.random() * 100 < args.abort_pct:
                # a client that goes away mid-stream
                try:
                    rd, wr = await asyncio.open_connection("127.0.0.1", h.port)
                    wr.write(raw)
                    await wr.drain()
                    await asyncio.wait_for(rd.read(300), args.timeout)
                    wr.transport.abort()
                    stats["aborted"] += 1
                except Exception as e:
                    fail("abort: %s" % type(e).__name__)
                continue
            try:
                r = await conn.request(raw, method, args.timeout)
            except asyncio.TimeoutError:
                fail("%s %s%s: timeout (hang)" % (model, d, " stream" if s else ""))
                conn.close()
                continue
            except (Closed, OSError) as e:
                conn.close()
                if fault:
                    stats["fault_cut"] += 1  # counted, not a failure here: see "Upstream faults"
                else:
                    fail("%s%s: %s" % (d, " stream" if s else "", str(e)[:80] or type(e).__name__))
                continue
            if fault:
                stats["fault_answered"] += 1
                continue
            why = "status %d %r" % (r.status, r.body[:100]) if r.status != 200 else check_answer(
                "gemini-stream" if d == "gemini" and s else KIND[d], r)
            if why:
                fail("%s%s: %s" % (d, " stream" if s else "", why[:100]))
            else:
                stats["ok"] += 1
        conn.close()

    async def idle_fds():
        """Idle fds, without the transport's pool of upstream connections
        (idle keep-alive connections, bounded by libcurl: their number varies
        with how many requests happened to overlap)."""
        paused.clear()
        await asyncio.sleep(args.pause)
        kinds = fd_kinds(h.pid, h.upstream_port, h.port)
        paused.set()
        return sum(v for k, v in kinds.items() if k != "upstream"), kinds

    samples = []

    def sample(label=""):
        samples.append((time.monotonic() - t0, rss_kb(h.pid), fd_count(h.pid), stats["ok"], label))
        t, rss, fds, ok, lab = samples[-1]
        print("  %6.0f s  RSS %6.1f MB  fds %4d  ok %7d %s" % (t, rss / 1024, fds, ok, lab), flush=True)

    print("soak: cliproxy %s pid %d, %d workers, %.1f min (warm-up %.0f s), faults %.1f%%, client aborts %.1f%% of streams"
          % (h.binary, h.pid, args.workers, args.minutes, warm, args.fault_pct, args.abort_pct), flush=True)
    tasks = [asyncio.get_running_loop().create_task(worker(i)) for i in range(args.workers)]
    sample("start")
    await asyncio.sleep(warm)
    fd_base, kinds_base = await idle_fds()
    rss_base = rss_kb(h.pid)
    sample("after warm-up (idle: %s)" % kinds_base)
    next_t = time.monotonic() + args.every
    end = t0 + total
    while time.monotonic() < end:
        await asyncio.sleep(max(0.0, min(next_t, end) - time.monotonic()))
        next_t += args.every
        if not h.alive():
            fail("cliproxy died")
            break
        sample()
    fd_end, kinds_end = await idle_fds()
    rss_end = rss_kb(h.pid)
    sample("end (idle: %s)" % kinds_end)
    stop = True
    paused.set()
    await asyncio.gather(*tasks)

    post = [s for s in samples if s[0] >= warm]
    rss_max = max(s[1] for s in post)
    growth = (rss_end - rss_base) * 100.0 / rss_base
    nfail = sum(v[0] for v in failures.values())
    print("soak: %d normal answers ok, %d fault requests answered, %d fault answers cut (connection closed), %d client aborts, %d failures"
          % (stats["ok"], stats["fault_answered"], stats["fault_cut"], stats["aborted"], nfail))
    for why, (n, first) in failures.items():
        print("  FAIL ×%d %s (first at %.0f s)" % (n, why, first))
    rss_ok = growth <= args.rss_growth_pct
    fd_ok = fd_end <= fd_base + args.fd_slack
    print("soak: RSS after warm-up %.1f MB, at the end %.1f MB (%+.1f%%, limit %+.0f%%), max after warm-up %.1f MB; idle fds other than the upstream pool %d -> %d%s%s"
          % (rss_base / 1024, rss_end / 1024, growth, args.rss_growth_pct, rss_max / 1024, fd_base, fd_end,
             "" if rss_ok else "  <- RSS grew", "" if fd_ok else "  <- fds grew"), flush=True)
    return 0 if (rss_ok and fd_ok and nfail == 0 and h.alive()) else 1
