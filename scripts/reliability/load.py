"""`reliability.py load`: concurrency levels against the canned upstream.

At each level, that many clients each keep one keep-alive connection busy
for the given seconds, cycling through the four dialects (Chat, Responses,
Messages, Gemini). Streams are paced by the fake upstream (--chunks events,
--interval-ms apart), so at level N about N streams are open at once
(cliproxy_active_streams from /metrics shows it). Every answer must be a 200
and a correct answer of its dialect. Reports requests, errors, p50/p99
latency (whole answer), peak RSS and peak open fds of cliproxy.
"""
import asyncio
import re
import time

from common import (Closed, Conn, Harness, Sampler, build_request, check_answer, dialect_request, fd_count,
                    one_shot, percentile, raise_fd_limit, rss_kb)

DIALECTS = ["chat", "responses", "claude", "gemini"]
KIND = {"chat": "chat", "responses": "responses", "claude": "claude", "gemini": "gemini"}


async def active_streams(port):
    try:
        r = await one_shot(port, build_request("GET", "/metrics", port), "GET", 5)
        m = re.search(rb"^cliproxy_active_streams (\d+)", r.body, re.M)
        return int(m.group(1)) if m else -1
    except Exception:
        return -1


async def level(h, conc, seconds, stream, timeout):
    lat, errors = [], {}
    stop_at = time.monotonic() + seconds
    ramp = min(1.0, seconds / 4.0)

    def err(k):
        errors[k] = errors.get(k, 0) + 1

    async def worker(i):
        await asyncio.sleep(ramp * i / conc)
        conn = Conn(h.port)
        j = i
        while time.monotonic() < stop_at:
            d = DIALECTS[j % len(DIALECTS)]
            j += 1
            method, path, raw = dialect_request(d, h.port, stream=stream)
            try:
                r = await conn.request(raw, method, timeout)
            except asyncio.TimeoutError:
                err("timeout")
                conn.close()
                continue
            except (Closed, OSError) as e:
                err("connection: %s" % (str(e)[:60] or type(e).__name__))
                conn.close()
                await asyncio.sleep(0.05)
                continue
            lat.append(r.elapsed)
            if r.status != 200:
                err("status %d" % r.status)
                continue
            why = check_answer("gemini-stream" if d == "gemini" and stream else KIND[d], r)
            if why:
                err(why[:80])
        conn.close()

    peak_streams, peak_fds = 0, 0

    async def watch():
        nonlocal peak_streams, peak_fds
        while True:
            peak_fds = max(peak_fds, fd_count(h.pid))
            if stream:
                peak_streams = max(peak_streams, await active_streams(h.port))
            await asyncio.sleep(0.25)

    sampler = Sampler(h.pid).start()
    w = asyncio.get_running_loop().create_task(watch())
    t0 = time.monotonic()
    await asyncio.gather(*(worker(i) for i in range(conc)))
    took = time.monotonic() - t0
    w.cancel()
    peak = await sampler.stop()
    return {"conc": conc, "stream": stream, "n": len(lat), "rps": len(lat) / took, "errors": errors,
            "p50": percentile(lat, 50), "p99": percentile(lat, 99), "max": max(lat) if lat else 0.0,
            "rss_kb": peak, "fds": peak_fds, "streams": peak_streams}


async def run(args):
    limit = raise_fd_limit(1 << 20)
    h = Harness(args.binary, chunks=args.chunks, interval_ms=args.interval_ms, keep=args.keep).start()
    levels = [int(x) for x in args.concurrency.split(",")]
    modes = {"stream": [True], "nonstream": [False], "both": [False, True]}[args.mode]
    # warm-up: every dialect once, both ways
    for d in DIALECTS:
        for s in (False, True):
            method, _, raw = dialect_request(d, h.port, stream=s)
            await one_shot(h.port, raw, method, 30)
    await asyncio.sleep(0.5)
    start_rss = rss_kb(h.pid)
    print("load: cliproxy %s pid %d, RSS after warm-up %.1f MB, fd limit %d; upstream streams %d events %d ms apart"
          % (h.binary, h.pid, start_rss / 1024, limit, args.chunks, args.interval_ms), flush=True)
    print("| concurrency | mode | requests | req/s | errors | p50 ms | p99 ms | max ms | peak RSS MB | peak fds | peak open streams |")
    print("|---|---|---|---|---|---|---|---|---|---|---|", flush=True)
    bad = False
    peak_all = 0
    for stream in modes:
        for conc in levels:
            r = await level(h, conc, args.seconds, stream, args.timeout)
            nerr = sum(r["errors"].values())
            peak_all = max(peak_all, r["rss_kb"])
            print("| %d | %s | %d | %.0f | %d%s | %.1f | %.1f | %.1f | %.1f | %d | %s |"
                  % (conc, "stream" if stream else "non-stream", r["n"], r["rps"], nerr,
                     (" (" + "; ".join("%s ×%d" % kv for kv in r["errors"].items()) + ")") if nerr else "",
                     r["p50"] * 1e3, r["p99"] * 1e3, r["max"] * 1e3, r["rss_kb"] / 1024, r["fds"],
                     r["streams"] if stream else "—"), flush=True)
            if nerr or not h.alive():
                bad = True
            await asyncio.sleep(0.5)
    ok_rss = peak_all <= args.max_rss_mb * 1024
    print("load: peak RSS %.1f MB (limit %d MB)%s; %s" % (peak_all / 1024, args.max_rss_mb, "" if ok_rss else " <- over",
                                                         "errors above" if bad else "no errors"), flush=True)
    return 1 if bad or not ok_rss else 0
