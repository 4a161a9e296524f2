# Shared by the end-to-end benchmarks: nginx on 127.0.0.1:18091 serving a
# fixed chat.completion, `start_proxy` (a release cliproxy in front of it),
# wrk request scripts, and `measure` (p50 and p99 in µs, req/s, non-2xx).
# Sourced after setting `root` and `secs`. Loopback only.
for tool in nginx wrk; do
    command -v $tool >/dev/null || { [ "$(id -u)" = 0 ] && apt-get install -y -qq nginx-light wrk >/dev/null; }
done
work=$(mktemp -d)
pids=()
cleanup() { [ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2>/dev/null; for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; rm -rf "$work"; }
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


# start_proxy <port> <extra config.yaml lines>
start_proxy() {
    cat > "$work/config-$1.yaml" <<YAML
port: $1
openai-compatibility:
  - name: "canned"
    base-url: "http://127.0.0.1:18091/v1"
    api-keys: ["sk-bench"]
    models: [{name: "bench-upstream", alias: "bench"}]
$2
YAML
    "$root/.build/release/cliproxy" --config "$work/config-$1.yaml" --rules "$root/Rules" > "$work/cliproxy-$1.log" 2>&1 &
    pids+=($!)
    for _ in $(seq 100); do curl -sf localhost:$1/healthz >/dev/null && break; sleep 0.1; done
}
(cd "$root" && swift build -c release --product cliproxy >/dev/null)

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
