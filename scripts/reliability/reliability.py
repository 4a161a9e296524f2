#!/usr/bin/env python3
"""Reliability tests for cliproxy: fuzz, load, reload under load, soak.

Drives the real binary (CLIPROXY=path or --binary; default
.build/debug/cliproxy) against a canned OpenAI-compatible upstream this
tool starts on 127.0.0.1. Python standard library only. Each subcommand
exits non-zero on a failure. docs/RELIABILITY.md has the figures and the
long runs.

  fuzz   --count N [--seed S]          bad input on every client endpoint
  load   --concurrency 10,100,1000 --seconds S [--stream|--no-stream]
  reload --seconds 30                  rules and config rewritten under traffic
  soak   --minutes 10                  mixed traffic with faults; RSS and fds
  replay FILE                          one saved fuzz input against a fresh server
  upstream                             the fake upstream alone (used internally)
"""
import argparse
import asyncio
import os
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ beside the sources
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)

    def common(p):
        p.add_argument("--binary", help="cliproxy binary (default: $CLIPROXY, else .build/debug/cliproxy)")
        p.add_argument("--keep", action="store_true", help="keep the temp folder (config, logs)")
        p.add_argument("--timeout", type=float, default=30.0, help="seconds per request before it counts as a hang")

    f = sub.add_parser("fuzz", help="bad input on every client endpoint")
    common(f)
    f.add_argument("--count", type=int, default=1000, help="requests per endpoint")
    f.add_argument("--first", type=int, default=0,
                   help="index of the first case (cases depend on seed, endpoint and index alone: rerun a range)")
    f.add_argument("--seed", default="1")
    f.add_argument("--rounds", type=int, default=1,
                   help="run the same inputs this many times on one process, printing the settled RSS after each "
                        "(a leak grows every round; allocator retention does not)")
    f.add_argument("--endpoint", help="only these (comma-separated names)")
    f.add_argument("--strategy", help="only these mutation strategies (comma-separated): valid, mutate, wrong_type, random_json, "
                   "truncated, short_body, huge_string, deep, bad_utf8, many_tools, garbage, headers, path")
    f.add_argument("--parallel", type=int, default=8, help="requests at once")
    f.add_argument("--batch", type=int, default=100, help="requests between /healthz checks")
    f.add_argument("--out", default=None, help="where failing inputs go (default: /tmp/cliproxy-fuzz-<time>)")
    f.add_argument("--rss-slack-pct", type=float, default=50.0)
    f.add_argument("--rss-slack-mb", type=float, default=96.0,
                   help="RSS after the run may exceed the warm baseline by this plus --rss-slack-pct "
                        "(allocator fragmentation after 10,000-tool requests is some 100 MB)")
    f.add_argument("--round-growth-pct", type=float, default=10.0,
                   help="with --rounds >= 2: the settled RSS may grow this much from one round to the next")

    l = sub.add_parser("load", help="concurrency levels, streams and non-streams")
    common(l)
    l.add_argument("--concurrency", default="10,100,1000")
    l.add_argument("--seconds", type=float, default=10)
    g = l.add_mutually_exclusive_group()
    g.add_argument("--stream", dest="mode", action="store_const", const="stream", help="streams only")
    g.add_argument("--no-stream", dest="mode", action="store_const", const="nonstream", help="non-streams only")
    l.set_defaults(mode="both")
    l.add_argument("--chunks", type=int, default=10, help="events per upstream stream")
    l.add_argument("--interval-ms", type=int, default=100, help="pause between upstream stream events")
    l.add_argument("--max-rss-mb", type=float, default=150)

    r = sub.add_parser("reload", help="rules and config rewritten every second under traffic")
    common(r)
    r.add_argument("--seconds", type=float, default=30)
    r.add_argument("--period", type=float, default=1.0)
    r.add_argument("--gap", type=float, default=0.3, help="seconds between the broken and the good version")
    r.add_argument("--workers", type=int, default=16)
    r.add_argument("--what", default="rules,config", help="which files change: rules, config or both")
    r.add_argument("--goal", type=float, default=1.0, help="seconds within which a good version must be served (0: report only)")

    s = sub.add_parser("soak", help="long mixed run; RSS and fd growth")
    common(s)
    s.add_argument("--minutes", type=float, default=10)
    s.add_argument("--workers", type=int, default=32)
    s.add_argument("--every", type=float, default=10.0, help="seconds between samples")
    s.add_argument("--warmup", type=float, default=None, help="seconds (default: 10%% of the run, at least 30)")
    s.add_argument("--pause", type=float, default=3.0, help="idle seconds before counting fds")
    s.add_argument("--fault-pct", type=float, default=5.0)
    s.add_argument("--abort-pct", type=float, default=3.0)
    s.add_argument("--chunks", type=int, default=8)
    s.add_argument("--interval-ms", type=int, default=20)
    s.add_argument("--rss-growth-pct", type=float, default=10.0)
    s.add_argument("--fd-slack", type=int, default=0)

    p = sub.add_parser("replay", help="send one saved fuzz input (.http) to a fresh server")
    common(p)
    p.add_argument("file")

    u = sub.add_parser("upstream", help="run the fake upstream alone")
    u.add_argument("--port", type=int, default=0)
    u.add_argument("--chunks", type=int, default=5)
    u.add_argument("--interval-ms", type=int, default=0)

    args = ap.parse_args()
    if args.cmd == "upstream":
        import upstream
        return upstream.main(args)
    if args.cmd == "fuzz":
        import fuzz
        args.out = args.out or "/tmp/cliproxy-fuzz-%s" % time.strftime("%Y%m%d-%H%M%S")
        return asyncio.run(fuzz.run(args))
    if args.cmd == "replay":
        import fuzz
        return asyncio.run(fuzz.replay(args))
    if args.cmd == "load":
        import load
        return asyncio.run(load.run(args))
    if args.cmd == "reload":
        import reload
        return asyncio.run(reload.run(args))
    if args.cmd == "soak":
        import soak
        return asyncio.run(soak.run(args))


if __name__ == "__main__":
    sys.exit(main() or 0)
