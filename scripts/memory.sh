#!/usr/bin/env bash
# Measures sensorhub's resident memory with many devices sending: a
# sensorhub process of its own (built-in queue, SQLite) takes DEVICES power
# meters every 30 s for HOURS hours through HTTP ingest, posted by two
# clients at once; prints its peak and final resident memory and how long
# storing took.
#
# usage: scripts/memory.sh [DEVICES] [HOURS]     (10000 devices, 0.25 h)
# With SENSORHUB_HEAP_PROFILE=FILE, a heap profile is written to FILE when
# half the readings are stored (go tool pprof -sample_index=inuse_space FILE).
# Needs curl and Go.
set -euo pipefail
cd "$(dirname "$0")/.."
devices=${1:-10000}
hours=${2:-0.25}

work=$(mktemp -d)
pid=
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

go build -o "$work/sensorhub" ./cmd/sensorhub
"$work/sensorhub" bench --gen-meters "${devices}x${hours}" > "$work/load.jsonl"
lines=$(wc -l < "$work/load.jsonl")
split -l 1000 "$work/load.jsonl" "$work/part."

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat > "$work/sensorhub.yaml" <<EOF
customers: [finemeca]
data_dir: $work/data
http:
  listen: 127.0.0.1:$port
  pprof: true
mqtt:
  listen: 127.0.0.1:0
  builtin:
    allow_anonymous: true
EOF
"$work/sensorhub" run --config "$work/sensorhub.yaml" > "$work/log" 2>&1 &
pid=$!
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/readyz" > /dev/null && break; sleep 0.1; done
curl -sf "http://127.0.0.1:$port/readyz" > /dev/null || { echo "memory.sh: sensorhub did not start; its log:" >&2; cat "$work/log" >&2; exit 1; }

stored() {
  local v
  v=$(curl -sf "http://127.0.0.1:$port/metrics" | grep -m1 '^sensorhub_messages_stored_total ') || { echo 0; return; }
  printf '%.0f\n' "${v##* }"
}
rss() { awk -v k="$1:" '$1 == k {print int($2 / 1024)}' "/proc/$pid/status"; }

start=$(date +%s.%N)
# A request held back (503) is sent again.
if [ -n "${SENSORHUB_HEAP_PROFILE:-}" ]; then
  (
    until [ "$(stored)" -ge $((lines / 2)) ]; do sleep 0.2; done
    curl -sf -o "$SENSORHUB_HEAP_PROFILE" "http://127.0.0.1:$port/debug/pprof/heap"
  ) &
  profiler=$!
fi
ls "$work"/part.* | xargs -P 2 -I{} curl -sf -o /dev/null --retry 100 --retry-all-errors --retry-delay 1 \
  -X POST --data-binary @{} "http://127.0.0.1:$port/api/v1/ingest?topic=finemeca/meters"
until [ "$(stored)" -ge "$lines" ]; do
  sleep 0.2
  kill -0 "$pid" 2>/dev/null || { echo "memory.sh: sensorhub stopped; its log:" >&2; cat "$work/log" >&2; exit 1; }
done
[ -n "${profiler:-}" ] && wait "$profiler"
took=$(python3 -c "print(f'{$(date +%s.%N) - $start:.1f}')")
echo "devices             $devices ($lines readings over $hours h, HTTP ingest, SQLite)"
echo "stored in           $took s"
echo "resident now        $(rss VmRSS) MiB"
echo "resident at peak    $(rss VmHWM) MiB"
