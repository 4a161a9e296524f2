#!/usr/bin/env bash
# What the per-request observers cost: two cliproxy processes side by side on
# the same canned upstream, one with usage statistics off (metrics only) and
# one with them on (a client-key hash, a row queued for the SQLite writer, and
# for untranslated answers a decode of the reply to read its tokens). Rounds
# alternate between the two so drift on a noisy machine hits both; the table
# gives the median of each over the rounds. Loopback only.
#   bash bench/e2e/observers.sh [seconds per run, default 5] [rounds, default 5]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd); root=$(cd "$here/../.." && pwd)
secs=${1:-5}; rounds=${2:-5}
. "$here/lib.sh"
start_proxy 18093 "api-keys: [\"bench-client\"]"
start_proxy 18094 "api-keys: [\"bench-client\"]
usage-statistics-enabled: true
usage-statistics-path: $work/usage.db"
for s in chat claude; do sed -i 's/^wrk.body/wrk.headers["Authorization"] = "Bearer bench-client"\nwrk.body/' "$work/$s.lua"; done

median() { python3 -c 'import sys, statistics; print("%.0f" % statistics.median(float(x) for x in sys.argv[1:]))' "$@"; }
echo "| path | connections | usage off p50 µs | usage on p50 µs | off req/s | on req/s | on/off req/s | non-2xx |"
echo "|---|---|---|---|---|---|---|---|"
for run in "chat /v1/chat/completions passthrough (Chat → Chat)" "claude /v1/messages translated (Messages → Chat)"; do
    set -- $run; script=$1; path=$2; shift 2
    for c in 1 10; do
        off50=(); on50=(); offr=(); onr=(); errs=0
        for _ in $(seq "$rounds"); do
            read a50 _ ar ae < <(measure "http://127.0.0.1:18093$path" "$script" $c)
            read b50 _ br be < <(measure "http://127.0.0.1:18094$path" "$script" $c)
            off50+=("$a50"); on50+=("$b50"); offr+=("$ar"); onr+=("$br"); errs=$((errs + ae + be))
        done
        mo=$(median "${offr[@]}"); mn=$(median "${onr[@]}")
        echo "| $* | $c | $(median "${off50[@]}") | $(median "${on50[@]}") | $mo | $mn | $(python3 -c "print('%.2f' % ($mn / $mo))") | $errs |"
    done
done
rows=$(curl -s localhost:18094/healthz >/dev/null; python3 -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('select count(*) from requests').fetchone()[0])" "$work/usage.db" 2>/dev/null || echo "?")
echo
echo "usage rows written by the 'on' process: $rows"
