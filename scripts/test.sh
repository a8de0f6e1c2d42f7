#!/usr/bin/env bash
# Runs sensorhub's whole test suite against real services. On a Debian
# machine it installs (as root) and starts what the tests need: Mosquitto
# with its standalone clients, a NATS server with JetStream, PostgreSQL,
# ActiveMQ (STOMP), Chromium for the page tests, poppler-utils to read
# the PDF Chromium prints, python3-pymodbus (a Modbus TCP meter), and Prometheus with promtool, the reference the
# PromQL answers are compared with. A service that cannot
# be had fails the run; no test is skipped for want of one.
set -euo pipefail
cd "$(dirname "$0")/.."

need_pkgs=()
command -v mosquitto >/dev/null || need_pkgs+=(mosquitto)
command -v mosquitto_pub >/dev/null || need_pkgs+=(mosquitto-clients)
command -v nats-server >/dev/null || [ -x /usr/sbin/nats-server ] || need_pkgs+=(nats-server)
command -v chromium >/dev/null || [ -n "${SENSORHUB_CHROMIUM:-}" ] || need_pkgs+=(chromium)
command -v pdftotext >/dev/null || need_pkgs+=(poppler-utils)
/usr/bin/python3 -c 'import pymodbus' 2>/dev/null || need_pkgs+=(python3-pymodbus)
{ command -v prometheus >/dev/null && command -v promtool >/dev/null; } || need_pkgs+=(prometheus)
[ -n "${SENSORHUB_TEST_POSTGRES_URL:-}" ] || ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || need_pkgs+=(postgresql)
[ -n "${SENSORHUB_TEST_STOMP_URL:-}" ] || [ -f /usr/share/activemq/bin/activemq.jar ] || need_pkgs+=(activemq)
if [ ${#need_pkgs[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "test.sh: missing ${need_pkgs[*]}; run as root or: sudo apt-get install -y ${need_pkgs[*]}" >&2
    exit 1
  fi
  echo "test.sh: installing ${need_pkgs[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need_pkgs[@]}" >/dev/null
fi

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_port() {
  for _ in $(seq 1 100); do
    listening "$1" && return 0
    sleep 0.1
  done
  echo "test.sh: $2 did not start on 127.0.0.1:$1" >&2
  exit 1
}

if ! listening 1883; then
  echo "test.sh: starting Mosquitto on 127.0.0.1:1883"
  conf=/etc/mosquitto/mosquitto.conf
  if [ -f "$conf" ] && grep -q '^listener' "$conf"; then
    mosquitto -d -c "$conf"
  else
    tmp=$(mktemp -d)
    printf 'listener 1883 127.0.0.1\nallow_anonymous true\npersistence true\npersistence_location %s/\n' "$tmp" > "$tmp/mosquitto.conf"
    mosquitto -d -c "$tmp/mosquitto.conf"
  fi
  wait_port 1883 Mosquitto
fi

if ! listening 4222; then
  echo "test.sh: starting NATS with JetStream on 127.0.0.1:4222"
  nats=$(command -v nats-server || echo /usr/sbin/nats-server)
  store=${NATS_STORE_DIR:-/var/lib/nats-server}
  mkdir -p "$store" 2>/dev/null || store=$(mktemp -d)
  start-stop-daemon --start --oknodo --background --exec "$nats" -- \
    -a 127.0.0.1 -p 4222 -js -sd "$store" -l "${TMPDIR:-/tmp}/sensorhub-test-nats.log"
  wait_port 4222 "NATS server"
fi

if [ -z "${SENSORHUB_TEST_POSTGRES_URL:-}" ]; then
  if ! listening 5432; then
    echo "test.sh: starting PostgreSQL on 127.0.0.1:5432"
    version=$(ls /etc/postgresql | sort -n | tail -1)
    pg_ctlcluster --skip-systemctl-redirect "$version" main start
    wait_port 5432 PostgreSQL
  fi
  # A role and database of the tests' own; each test works in a schema of
  # its own in it and drops it.
  su postgres -c "psql -qtAc \"SELECT 1 FROM pg_roles WHERE rolname = 'sensorhub_test'\"" | grep -q 1 ||
    su postgres -c "psql -qc \"CREATE ROLE sensorhub_test LOGIN PASSWORD 'sensorhub_test'\""
  su postgres -c "psql -qtAc \"SELECT 1 FROM pg_database WHERE datname = 'sensorhub_test'\"" | grep -q 1 ||
    su postgres -c "psql -qc \"CREATE DATABASE sensorhub_test OWNER sensorhub_test\""
  export SENSORHUB_TEST_POSTGRES_URL=postgres://sensorhub_test:sensorhub_test@127.0.0.1:5432/sensorhub_test?sslmode=disable
fi

if [ -z "${SENSORHUB_TEST_STOMP_URL:-}" ]; then
  ./scripts/activemq.sh
  export SENSORHUB_TEST_STOMP_URL=stomp://127.0.0.1:61613
fi

export SENSORHUB_TEST_MQTT_URL=${SENSORHUB_TEST_MQTT_URL:-tcp://127.0.0.1:1883}
export SENSORHUB_TEST_NATS_URL=${SENSORHUB_TEST_NATS_URL:-nats://127.0.0.1:4222}

go vet ./...
# The linter, pinned: what it finds fails the run.
go run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...
go test -count=1 -timeout 15m "$@" ./...
if [ $# -eq 0 ]; then
  # A bounded fuzzing run of each fuzz target on every full run: payload
  # decoding and its JSON parser, the whole ingest path (queue, decoding, store), configuration
  # loading, formula compilation, rules given over the API, Modbus registers. A new input is minimised in a
  # few runs only: the ingest path takes milliseconds a run. Each target runs a number of inputs (a
  # quarter of a minute or less on two cores, so that the whole run stays within 20 minutes on a slow
  # host), not a duration: when a duration ends, Go 1.26's fuzzing coordinator can
  # report its own deadline as a failure (go.dev/issue/75804, fixed in Go 1.27). SENSORHUB_FUZZTIME
  # overrides every count (a duration such as 5m, or a count such as 1000x).
  for target in FuzzDecode:./internal/reading/:100000x FuzzParse:./internal/reading/:100000x FuzzIngest:./internal/ingest/:800x FuzzLoad:./internal/config/:100000x \
    FuzzCompile:./internal/derive/:100000x FuzzDecodeItem:./internal/catalog/:15000x FuzzDecode:./internal/input/modbus/:250000x; do
    IFS=: read -r name pkg count <<<"$target"
    go test -run '^$' -fuzz "^${name}\$" -fuzztime "${SENSORHUB_FUZZTIME:-$count}" -fuzzminimizetime 20x "$pkg"
  done
fi
