#!/usr/bin/env bash
# Runs every measurement BENCHMARKS.md reports, side by side, on this
# machine: end-to-end ratios (sensorhub bench, and mosquitto_pub through
# Mosquitto), the reference load into SQLite and PostgreSQL (HTTP ingest
# rate, bytes per device value, encodings, memory), the pages' query times,
# and resident memory with 10,000 devices.
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
for run in 1 2 3; do
  "$work/sensorhub" bench -n 20000 | grep -E '^(raw|stored|ratio)' | tr -s ' ' | paste -sd ' ' | sed "s/^/run $run: /"
done

section "mosquitto_pub -l through Mosquitto, 20000 messages"
scripts/mosquitto-ratio.sh 20000 3

section "The reference load (100 meters x 24 h at 30 s) through HTTP ingest"
"$work/sensorhub" bench --gen-meters 100x24 > "$work/load.jsonl"
echo "### SQLite"
"$work/sensorhub" bench --load "$work/load.jsonl"
echo "### PostgreSQL"
"$work/sensorhub" bench --load "$work/load.jsonl" --postgres "$pg"

section "Query times"
SENSORHUB_TEST_POSTGRES_URL=$pg go test -run '^$' -bench Queries -benchtime 50x ./internal/store/sqlite ./internal/store/postgres | grep -E '^(Benchmark|ok)'
go test -run '^$' -bench Overview1000 -benchtime 50x ./internal/app | grep -E '^(Benchmark|ok)'

section "Resident memory with 10,000 devices (HTTP ingest, SQLite)"
scripts/memory.sh 10000 0.25
echo "### with GOGC=100"
GOGC=100 scripts/memory.sh 10000 0.25
