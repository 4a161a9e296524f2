#!/usr/bin/env python3
"""How long the rules take on one huge string in one field (docs/BENCHMARKS.md,
"Huge strings"). Each case is a valid request with an N MB string in one field
that a rule reads as text (a schema type, a thinking level, a tool-call id,
tool arguments, a URL, a text part; the model name 100 KB, argv's limit); it is translated with
`cliproxy rules translate` and timed, minus the same command on the request
with a one-character string (start-up and compiling are in both).

    python3 bench/rules/huge_strings.py [--cliproxy .build/release/cliproxy] [--rules Rules] [--mb 8] [--runs 3] [--skip NAME]

Prints one line per case: median seconds over --runs, and the baseline.
Loopback only: nothing leaves the process.
"""
import argparse, json, os, statistics, subprocess, sys, tempfile, time

def cases(big):
    tool_call = lambda cid, args: {"role": "assistant", "content": None, "tool_calls": [
        {"id": cid, "type": "function", "function": {"name": "f", "arguments": args}}]}
    yield "gemini->openai schema type", "gemini", "openai", None, {
        "contents": [{"role": "user", "parts": [{"text": "hi"}]}],
        "tools": [{"functionDeclarations": [{"name": "f", "parameters": {"type": big}}]}]}
    yield "openai->gemini schema type", "openai", "gemini", None, {
        "model": "m", "messages": [{"role": "user", "content": "hi"}],
        "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": big}}}]}
    yield "gemini->openai thinking level", "gemini", "openai", None, {
        "contents": [{"role": "user", "parts": [{"text": "hi"}]}],
        "generationConfig": {"thinkingConfig": {"thinkingLevel": big}}}
    yield "openai->claude tool-call id", "openai", "claude", None, {
        "model": "m", "messages": [{"role": "user", "content": "hi"}, tool_call(big.replace("x", "-."), "{}"),
                                   {"role": "tool", "tool_call_id": "t", "content": "ok"}]}
    yield "claude->openai tool-use id", "claude", "openai", None, {
        "model": "m", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"},
            {"role": "assistant", "content": [{"type": "tool_use", "id": big.replace("x", "."), "name": "f", "input": {}}]}]}
    yield "openai->claude tool arguments (not JSON)", "openai", "claude", None, {
        "model": "m", "messages": [{"role": "user", "content": "hi"}, tool_call("c1", " " * (len(big) - 1) + "x"),
                                   {"role": "tool", "tool_call_id": "c1", "content": "ok"}]}
    yield "openai->claude assistant text", "openai", "claude", None, {
        "model": "m", "messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": " " * (len(big) - 1) + "x"},
                                   {"role": "user", "content": "go on"}]}
    yield "openai->gemini image URL", "openai", "gemini", None, {
        "model": "m", "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://e.example/" + big + ".PNG"}}]}]}
    # argv holds at most 128 KB per argument: the upstream model is 100 KB
    yield "claude->openai model name (100 KB)", "claude", "openai", big[:100_000], {
        "model": "m", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}
    yield "gemini->claude text part", "gemini", "claude", None, {
        "contents": [{"role": "user", "parts": [{"text": big}]}]}

def run(cliproxy, rules, src, dst, model, body, runs):
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(body, f)
        path = f.name
    try:
        times = []
        for _ in range(runs):
            cmd = [cliproxy, "rules", "translate", "--from", src, "--to", dst, "--kind", "request", "--rules", rules, path]
            if model is not None:
                cmd += ["--model", model]
            t = time.monotonic()
            p = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            times.append(time.monotonic() - t)
        return statistics.median(times), p.returncode, p.stderr.decode()[-200:]
    finally:
        os.unlink(path)

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cliproxy", default=".build/release/cliproxy")
    ap.add_argument("--rules", default="Rules")
    ap.add_argument("--mb", type=float, default=8)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--skip", action="append", default=[], help="skip cases whose name contains this")
    a = ap.parse_args()
    big = "x" * int(a.mb * 1_000_000)
    print("cliproxy %s, %g MB strings, median of %d" % (a.cliproxy, a.mb, a.runs))
    for (name, src, dst, model, body), (_, _, _, small_model, small) in zip(cases(big), cases("x")):
        if any(k in name for k in a.skip):
            print("%-42s skipped" % name)
            continue
        base, _, _ = run(a.cliproxy, a.rules, src, dst, small_model, small, a.runs)
        t, rc, err = run(a.cliproxy, a.rules, src, dst, model, body, a.runs)
        print("%-42s %7.2f s  (baseline %.2f s, exit %d)%s" % (name, t - base, base, rc, "" if rc == 0 else "  " + (err.strip().splitlines() or [""])[-1][:100]))
        sys.stdout.flush()

if __name__ == "__main__":
    main()
