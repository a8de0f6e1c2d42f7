#!/usr/bin/env bash
# Measures sensorhub end to end with Mosquitto's standalone clients, as an
# operator would: N messages of the reference load (power meters) sent
# with `mosquitto_pub -l` at QoS 1 through a Mosquitto of the run's own,
# first to `mosquitto_sub` (the raw rate), then to a sensorhub subscribed
# to that Mosquitto (built-in queue and SQLite store) until it has stored
# them all. Prints both rates and their ratio for each run, and the
# median ratio.
#
# usage: scripts/mosquitto-ratio.sh [N] [RUNS] [DEVICES]     (60000 messages, 3 runs, 100 meters)
# Needs mosquitto, mosquitto_pub, mosquitto_sub, curl and Go.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-60000}
runs=${2:-3}
devices=${3:-100}
for cmd in mosquitto mosquitto_pub mosquitto_sub curl; do
  command -v "$cmd" >/dev/null || { echo "mosquitto-ratio.sh: $cmd is missing (apt-get install -y mosquitto mosquitto-clients curl)" >&2; exit 1; }
done

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

go build -o "$work/sensorhub" ./cmd/sensorhub
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
now() { date +%s.%N; }

# The load: the meters, as many steps of 30 s as make n messages.
hours=$(python3 -c "print($n / $devices / 120)")
"$work/sensorhub" bench --gen-meters "${devices}x${hours}" > "$work/load.jsonl"
lines=$(wc -l < "$work/load.jsonl")

# A Mosquitto of the run's own that queues without limit: its default
# (max_queued_messages 1000) drops QoS 1 messages for a subscriber that
# falls behind, which would measure the drop, not the speed.
mport=$(free_port)
cat > "$work/mosquitto.conf" <<EOF
listener $mport 127.0.0.1
allow_anonymous true
max_queued_messages 0
persistence false
EOF
mosquitto -c "$work/mosquitto.conf" > "$work/mosquitto.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 50); do (exec 3<>"/dev/tcp/127.0.0.1/$mport") 2>/dev/null && break; sleep 0.1; done

raw_rate() {
  local topic="bench/raw/$RANDOM"
  mosquitto_sub -h 127.0.0.1 -p "$mport" -q 1 -t "$topic" -C "$lines" > /dev/null &
  local sub=$!
  sleep 0.5
  local start
  start=$(now)
  mosquitto_pub -h 127.0.0.1 -p "$mport" -q 1 -t "$topic" -l < "$work/load.jsonl"
  wait "$sub"
  python3 -c "print(round($lines / ($(now) - $start)))"
}

# metric prints one of sensorhub's metrics, 0 before it has one.
metric() {
  local v
  v=$(curl -sf "http://127.0.0.1:$1/metrics" | grep -m1 "^$2 ") || { echo 0; return; }
  printf '%.6f\n' "${v##* }" # 1e+06 from 1000000
}

e2e_rate() {
  local run=$1 hport
  hport=$(free_port)
  mkdir -p "$work/run$run"
  cat > "$work/run$run/sensorhub.yaml" <<EOF
customers: [finemeca]
data_dir: $work/run$run/data
http:
  listen: 127.0.0.1:$hport
mqtt:
  broker: tcp://127.0.0.1:$mport
  client_id: sensorhub-ratio-$run
  topics: ["finemeca/#"]
EOF
  "$work/sensorhub" run --config "$work/run$run/sensorhub.yaml" > "$work/run$run/log" 2>&1 &
  local sh=$!
  for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$hport/readyz" > /dev/null && break; sleep 0.1; done
  local start
  start=$(now)
  mosquitto_pub -h 127.0.0.1 -p "$mport" -q 1 -t finemeca/meters -l < "$work/load.jsonl"
  # Looked at four times a second, not more, so that looking takes little
  # from the run: the end is when the last reading was stored, which
  # sensorhub tells.
  local stored
  until stored=$(metric "$hport" sensorhub_messages_stored_total); [ "${stored%.*}" -ge "$lines" ]; do
    sleep 0.25
    kill -0 "$sh" 2>/dev/null || { echo "mosquitto-ratio.sh: sensorhub stopped; its log:" >&2; cat "$work/run$run/log" >&2; exit 1; }
  done
  python3 -c "print(round($lines / ($(metric "$hport" sensorhub_messages_last_stored_timestamp_seconds) - $start)))"
  kill "$sh"
  wait "$sh" 2>/dev/null || true
}

echo "messages            $lines (QoS 1, $devices meters), mosquitto_pub -l through Mosquitto $(mosquitto -h 2>/dev/null | head -1 | awk '{print $3}')"
ratios=()
for run in $(seq 1 "$runs"); do
  raw=$(raw_rate)
  e2e=$(e2e_rate "$run")
  ratio=$(python3 -c "print(f'{$e2e / $raw:.2f}')")
  ratios+=("$ratio")
  echo "run $run: raw mosquitto_pub -> mosquitto_sub $raw msg/s, stored end to end $e2e msg/s, ratio $ratio"
done
echo "median ratio        $(printf '%s\n' "${ratios[@]}" | sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}')"
