#!/usr/bin/env bash
# Instructions libjq executes per translation of the 60 KB Claude Code
# request (bench/inputs/claude-60k.json) and per 19-event stream batch, for
# each dialect step: deterministic, so before/after comparisons of rule
# changes hold on a busy machine. Needs valgrind.
#   bash bench/jqcost/run.sh [RULES_DIR]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd); root=$(cd "$here/../.." && pwd)
rules=$(cd "${1:-$root/Rules}" && pwd)
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
cc -O2 -o "$work/jqcost" "$here/jqcost.c" -ljq
python3 - "$root" "$work" <<'PY'
import json, sys
root, work = sys.argv[1], sys.argv[2]
ctx = {"model": "m", "client_model": "c", "stream": True, "request_id": "r", "created": 1, "id_seed": "s", "request": None}
json.dump({"ctx": ctx, "body": json.load(open(root + "/bench/inputs/claude-60k.json"))}, open(work + "/req.json", "w"))
def sse(path):
    out, name, data = [], None, []
    for line in open(path, newline="").read().replace("\r\n", "\n").split("\n"):
        if line == "":
            if data:
                raw = "\n".join(data)
                try: val = json.loads(raw)
                except ValueError: val = raw
                out.append({"event": name, "data": val})
            name, data = None, []
        elif line.startswith("event:"): name = line[6:].strip()
        elif line.startswith("data:"): data.append(line[5:].lstrip(" "))
    return out
for d in ("claude", "openai", "responses", "gemini"):
    ev = sse("%s/bench/inputs/stream-%s.sse" % (root, d))
    json.dump({"ctx": ctx, "body": {"state": None, "events": ev[:19], "final": False}}, open("%s/stream-%s.json" % (work, d), "w"))
PY
count() {  # program input -> instructions per run
    valgrind --tool=callgrind --toggle-collect=jq_next --callgrind-out-file="$work/cg" "$work/jqcost" "$rules" "$1" "$2" 2 >/dev/null 2>&1
    local total; total=$(callgrind_annotate "$work/cg" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}')
    echo $(( total / 10 ))
}
echo 'import "claude/request" as c; .ctx as $ctx | .body | c::decode($ctx)' > "$work/dec.jq"
printf '%-40s %12s\n' "step" "instructions"
printf '%-40s %12s\n' "claude decode, 60 KB request" "$(count "$work/dec.jq" "$work/req.json")"
for u in openai responses gemini; do
    echo "import \"claude/request\" as c; import \"$u/request\" as u; .ctx as \$ctx | .body | c::decode(\$ctx) | u::encode(\$ctx)" > "$work/enc.jq"
    printf '%-40s %12s\n' "claude decode + $u encode, 60 KB" "$(count "$work/enc.jq" "$work/req.json")"
done
for d in claude openai responses gemini; do
    echo "import \"$d/stream\" as s; .ctx as \$ctx | .body | s::decode(\$ctx)" > "$work/sd.jq"
    printf '%-40s %12s\n' "$d stream decode, 19 events" "$(count "$work/sd.jq" "$work/stream-$d.json")"
done
