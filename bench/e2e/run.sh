#!/usr/bin/env bash
# End-to-end cost of the proxy: wrk against a canned OpenAI-compatible
# upstream (nginx serving a fixed chat.completion), directly and through
# cliproxy — same-dialect passthrough (Chat client → Chat upstream) and a
# translation (Anthropic Messages client → Chat upstream) — side by side in
# one run, at concurrency 1 and 10. Loopback only. Needs nginx and wrk
# (installed when missing and run as root).
#   bash bench/e2e/run.sh [seconds per run, default 10]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd); root=$(cd "$here/../.." && pwd)
secs=${1:-10}
for tool in nginx wrk; do
    command -v $tool >/dev/null || { [ "$(id -u)" = 0 ] && apt-get install -y -qq nginx-light wrk >/dev/null; }
done
work=$(mktemp -d)
cleanup() { [ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2>/dev/null; [ -n "${proxy:-}" ] && kill "$proxy" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

answer='{"id":"chatcmpl-bench","object":"chat.completion","created":1782321921,"model":"bench-upstream","choices":[{"index":0,"message":{"role":"assistant","content":"Hello! How can I help you today?"},"finish_reason":"stop"}],"usage":{"prompt_tokens":12,"completion_tokens":9,"total_tokens":21}}'
cat > "$work/nginx.conf" <<NGINX
worker_processes 1;
pid $work/nginx.pid;
error_log $work/error.log;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $work/body;
    keepalive_requests 1000000;
    server {
        listen 127.0.0.1:18091;
        location /v1/chat/completions { default_type application/json; return 200 '$answer'; }
    }
}
NGINX
nginx -c "$work/nginx.conf"

cat > "$work/config.yaml" <<YAML
port: 18092
openai-compatibility:
  - name: "canned"
    base-url: "http://127.0.0.1:18091/v1"
    api-keys: ["sk-bench"]
    models: [{name: "bench-upstream", alias: "bench"}]
YAML
(cd "$root" && swift build -c release --product cliproxy >/dev/null)
"$root/.build/release/cliproxy" --config "$work/config.yaml" --rules "$root/Rules" > "$work/cliproxy.log" 2>&1 &
proxy=$!
for _ in $(seq 100); do curl -sf localhost:18092/healthz >/dev/null && break; sleep 0.1; done

chat='{"model":"bench","messages":[{"role":"user","content":"Say hello."}]}'
claude='{"model":"bench","max_tokens":256,"messages":[{"role":"user","content":"Say hello."}]}'
lua() { printf 'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\nwrk.body = [[%s]]\n' "$1" > "$work/$2.lua"; }
lua "$chat" chat; lua "$claude" claude

printf '' > "$work/get.lua"
# wrk's latency distribution: p50 and p99 in µs, and requests per second.
measure() { # url script connections
    wrk -t1 -c"$3" -d"${secs}s" --latency -s "$work/$2.lua" "$1" > "$work/out" 2>&1
    python3 - "$work/out" <<'PY'
import re, sys
t = open(sys.argv[1]).read()
def us(s):
    v, u = re.match(r"([\d.]+)(us|ms|s)", s).groups()
    return float(v) * {"us": 1, "ms": 1e3, "s": 1e6}[u]
p = dict(re.findall(r"^\s+(50|99)%\s+(\S+)", t, re.M))
rps = re.search(r"Requests/sec:\s+([\d.]+)", t).group(1)
errors = re.search(r"Non-2xx or 3xx responses: (\d+)", t)
print("%.0f %.0f %s %s" % (us(p["50"]), us(p["99"]), rps, errors.group(1) if errors else "0"))
PY
}
echo "| connections | path | p50 µs | p99 µs | req/s | added p50 µs | added p99 µs | non-2xx |"
echo "|---|---|---|---|---|---|---|---|"
for c in 1 10; do
    read d50 d99 drps derr < <(measure http://127.0.0.1:18091/v1/chat/completions chat $c)
    echo "| $c | direct to the upstream | $d50 | $d99 | $drps | — | — | $derr |"
    # The floor: cliproxy's HTTP server answering GET /healthz, no upstream, no rules.
    read h50 h99 hrps herr < <(measure http://127.0.0.1:18092/healthz get $c)
    echo "| $c | cliproxy GET /healthz (the server's own floor) | $h50 | $h99 | $hrps | $((h50 - d50)) | $((h99 - d99)) | $herr |"
    for run in "chat /v1/chat/completions passthrough (Chat → Chat)" "claude /v1/messages translated (Messages → Chat)"; do
        set -- $run; script=$1; path=$2; shift 2
        read p50 p99 rps err < <(measure "http://127.0.0.1:18092$path" "$script" $c)
        echo "| $c | $* | $p50 | $p99 | $rps | $((p50 - d50)) | $((p99 - d99)) | $err |"
    done
done
