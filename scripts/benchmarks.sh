#!/usr/bin/env bash
# Runs every measurement BENCHMARKS.md reports, side by side, on this
# machine: end-to-end ratios (sensorhub bench, and mosquitto_pub through
# Mosquitto, at 100 and 10,000 devices), the reference load into SQLite and
# PostgreSQL (HTTP ingest rate, bytes per device value, encodings) and the
# resident memory of a process taking it, the pages' query times, the
# overview and /latest at 100, 10,000 and 50,000 devices, and the memory
# and ingest rate of a process with 10,000 and 50,000 devices sending.
#
# usage: scripts/benchmarks.sh
# PostgreSQL: SENSORHUB_BENCH_POSTGRES_URL, else the test database that
# scripts/test.sh makes (postgres://sensorhub_test:...@127.0.0.1:5432/sensorhub_test).
set -euo pipefail
cd "$(dirname "$0")/.."
pg=${SENSORHUB_BENCH_POSTGRES_URL:-${SENSORHUB_TEST_POSTGRES_URL:-postgres://sensorhub_test:sensorhub_test@127.0.0.1:5432/sensorhub_test?sslmode=disable}}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
go build -o "$work/sensorhub" ./cmd/sensorhub

section() { printf '\n## %s\n\n' "$1"; }

section "sensorhub bench -n 20000 (built-in broker, embedded JetStream, SQLite)"
for devices in 100 10000; do
  echo "### $devices devices"
  for run in 1 2 3; do
    "$work/sensorhub" bench -n 20000 --devices "$devices" | grep -E '^(raw|stored|ratio)' | tr -s ' ' | paste -sd ' ' | sed "s/^/run $run: /"
  done
done

section "mosquitto_pub -l through Mosquitto, 60000 messages"
echo "### 100 meters"
scripts/mosquitto-ratio.sh 60000 3 100
echo "### 10000 meters"
scripts/mosquitto-ratio.sh 60000 3 10000

section "The reference load (100 meters x 24 h at 30 s) through HTTP ingest"
"$work/sensorhub" bench --gen-meters 100x24 > "$work/load.jsonl"
echo "### SQLite"
"$work/sensorhub" bench --load "$work/load.jsonl"
echo "### PostgreSQL"
"$work/sensorhub" bench --load "$work/load.jsonl" --postgres "$pg"
echo "### A sensorhub process of its own taking it (resident memory with the default budget)"
scripts/memory.sh 100 24

section "Query times"
SENSORHUB_TEST_POSTGRES_URL=$pg go test -run '^$' -bench Queries -benchtime 50x ./internal/store/sqlite ./internal/store/postgres | grep -E '^(Benchmark|ok)'
go test -run '^$' -bench Overview1000 -benchtime 50x ./internal/app | grep -E '^(Benchmark|ok)'

section "Pages with 100, 10,000 and 50,000 devices"
go test -run '^$' -bench FleetPages -benchtime 20x ./internal/web | grep -E '^(Benchmark|ok)'

section "Many devices sending (HTTP ingest, SQLite, the default memory budget)"
echo "### 10,000 devices for a quarter of an hour"
scripts/memory.sh 10000 0.25
echo "### 50,000 devices for 3 minutes"
scripts/memory.sh 50000 0.05
