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
. "$here/lib.sh"
start_proxy 18092 ""

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
