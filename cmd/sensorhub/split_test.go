package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sensorhub/sensorhub/internal/metrics"
	"github.com/sensorhub/sensorhub/internal/queue/jetstream"
	"github.com/sensorhub/sensorhub/internal/store"
	"github.com/sensorhub/sensorhub/internal/store/postgres"
	"github.com/sensorhub/sensorhub/internal/store/sqlstore"
	"github.com/sensorhub/sensorhub/internal/testenv"
)

// role is one sensorhub process of a split deployment.
type role struct {
	t    *testing.T
	name string
	args []string
	env  []string
	http string

	mu   sync.Mutex
	logs bytes.Buffer
	cmd  *exec.Cmd
}

func (r *role) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.logs.Write(p)
}

func (r *role) start() {
	r.t.Helper()
	r.cmd = exec.Command(binary, append(r.args, "--http", r.http)...)
	r.cmd.Env = append(os.Environ(), r.env...)
	r.cmd.Stdout, r.cmd.Stderr = r, r
	if err := r.cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	testenv.Eventually(r.t, 30*time.Second, 50*time.Millisecond, func() error {
		resp, err := http.Get("http://" + r.http + "/readyz")
		if err != nil {
			return fmt.Errorf("%s: %w", r.name, err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("%s: readyz %d", r.name, resp.StatusCode)
		}
		return nil
	})
}

// roleOf is the process of command cmd (a role) named name, on the
// configuration at cfgPath, with SENSORHUB_INSTANCE set to its name.
func roleOf(t *testing.T, cfgPath, name, cmd string) *role {
	return &role{t: t, name: name, args: []string{cmd, "--config", cfgPath}, env: []string{"SENSORHUB_INSTANCE=" + name},
		http: testenv.FreeAddr(t)}
}

// stopAll stops the processes, and logs what each wrote when the test
// failed.
func stopAll(t *testing.T, all []*role) {
	for _, r := range all {
		r.stop(syscall.SIGTERM)
		if t.Failed() {
			r.mu.Lock()
			t.Logf("%s logs:\n%s", r.name, r.logs.String())
			r.mu.Unlock()
		}
	}
}

func (r *role) stop(sig syscall.Signal) {
	if r.cmd == nil || r.cmd.Process == nil {
		return
	}
	r.cmd.Process.Signal(sig)
	r.cmd.Wait()
	r.cmd = nil
}

// metric sums a counter's series on the process's /metrics.
func (r *role) metric(name string) float64 {
	v, err := metrics.Scrape(context.Background(), r.http, name)
	if err != nil {
		r.t.Errorf("%s: %v", r.name, err)
	}
	return v
}

// queuePrefix is a queue prefix of the test's own on the NATS server at
// natsURL, whose streams are deleted when the test ends.
func queuePrefix(t *testing.T, natsURL string) string {
	prefix := testenv.Unique(t)
	t.Cleanup(func() {
		q, err := jetstream.Connect(context.Background(), natsURL, jetstream.Options{Prefix: prefix, RawMaxAge: time.Hour, ReadingsMaxAge: time.Hour})
		if err == nil {
			q.DeleteStreams(context.Background())
			q.Close()
		}
	})
	return prefix
}

// TestSplitRoles runs sensorhub as separate processes, two gateways
// sharing one MQTT subscription, two ingestors sharing one durable
// consumer, and the web server, on the real NATS server and PostgreSQL.
// 20,000 messages are published with mosquitto_pub to a Mosquitto broker
// while one ingestor is killed with SIGKILL and started again: exactly
// 20,000 readings are stored, none twice.
func TestSplitRoles(t *testing.T) {
	if testing.Short() {
		t.Skip("runs five processes and 20,000 messages")
	}
	natsURL := testenv.NATSURL(t)
	pgURL := testenv.PostgresSchema(t)
	// The gateways' sessions must not overflow Mosquitto's per-client queue
	// (1000 messages by default, dropped beyond): the README tells
	// operators to raise it the same way.
	mqttURL := testenv.StartMosquitto(t, "max_queued_messages 1000000")
	prefix := queuePrefix(t, natsURL)
	cfgPath := filepath.Join(t.TempDir(), "sensorhub.yaml")
	os.WriteFile(cfgPath, []byte(fmt.Sprintf(`
mqtt:
  broker: %s
  client_id: "sensorhub-${SENSORHUB_INSTANCE}"
  share_group: sensorhub
  topics: ["%s/#"]
  qos: 1
queue: {engine: nats, urls: ["%s"], prefix: %s, raw_max_bytes: 256MiB}
store: {engine: postgres, url: "%s"}
`, mqttURL, prefix, natsURL, prefix, pgURL)), 0o600)

	newRole := func(name, cmd string) *role { return roleOf(t, cfgPath, name, cmd) }
	web := newRole("web", "web")
	ing1, ing2 := newRole("ingest-1", "ingest"), newRole("ingest-2", "ingest")
	gw1, gw2 := newRole("gateway-1", "gateway"), newRole("gateway-2", "gateway")
	all := []*role{ing1, ing2, web, gw1, gw2}
	for _, r := range all {
		r.start()
	}
	defer func() { stopAll(t, all) }()

	const devices, perDevice = 20, 1000
	var lines bytes.Buffer
	base := time.Date(2026, 5, 1, 8, 0, 0, 0, time.UTC)
	for i := 1; i <= perDevice; i++ {
		for d := 0; d < devices; d++ {
			fmt.Fprintf(&lines, `{"Customer":"finemeca","idGateway":1,"idDevice":%d,"Time":"%s","msgCount":%d,"Mod":"weath","Temp":%d}`+"\n",
				7000+d, base.Add(time.Duration(i)*time.Minute).Format("2006-01-02 15:04:05"), i, i)
		}
	}
	u, _ := url.Parse(mqttURL)
	pub := testenv.Command(t, "mosquitto_pub", "-h", u.Hostname(), "-p", u.Port(), "-q", "1", "-i", "pub-"+prefix,
		"-t", prefix+"/devicev01", "-l")
	pub.Stdin = &lines
	var pubOut bytes.Buffer
	pub.Stdout, pub.Stderr = &pubOut, &pubOut
	if err := pub.Start(); err != nil {
		t.Fatalf("mosquitto_pub: %v", err)
	}

	db, err := pgx.Connect(context.Background(), pgURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(context.Background())
	// Readings stored, as the devices count them: the values are checked
	// one by one below.
	const stored = `SELECT COALESCE(SUM(readings), 0) FROM devices`
	count := func(q string) int64 {
		var n int64
		if err := db.QueryRow(context.Background(), q).Scan(&n); err != nil {
			return -1
		}
		return n
	}
	testenv.Eventually(t, 60*time.Second, 10*time.Millisecond, func() error {
		if n := count(stored); n < 2000 {
			return fmt.Errorf("%d readings stored before the kill", n)
		}
		return nil
	})
	ing1.stop(syscall.SIGKILL)
	t.Logf("ingest-1 killed with %d readings stored", count(stored))
	time.Sleep(500 * time.Millisecond)
	ing1.start()
	// A graceful stop of the other ingestor finishes or hands back its
	// batch: nothing is lost or stored twice either.
	testenv.Eventually(t, 60*time.Second, 10*time.Millisecond, func() error {
		if n := count(stored); n < 8000 {
			return fmt.Errorf("%d readings stored before the stop", n)
		}
		return nil
	})
	// What ingest-2 stored before its stop: both ingestors share the
	// work (after its restart, the other may have taken what is left).
	stored2 := ing2.metric("sensorhub_messages_stored_total")
	ing2.stop(syscall.SIGTERM)
	ing2.mu.Lock()
	stopped := strings.Contains(ing2.logs.String(), "shutting down")
	ing2.mu.Unlock()
	if !stopped {
		t.Errorf("ingest-2 did not shut down gracefully on SIGTERM")
	}
	ing2.start()

	if err := pub.Wait(); err != nil {
		t.Fatalf("mosquitto_pub: %v\n%s", err, pubOut.String())
	}
	want := int64(devices * perDevice)
	testenv.Eventually(t, 120*time.Second, 200*time.Millisecond, func() error {
		if n := count(stored); n != want {
			return fmt.Errorf("%d readings stored, want %d", n, want)
		}
		return nil
	})
	// Each device has every msgCount's value once, and its counters
	// agree.
	st, err := postgres.Open(context.Background(), pgURL, sqlstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for d := range devices {
		pts, _, err := st.Points(context.Background(), store.RawQuery{DeviceKey: store.DeviceKey{Customer: "finemeca", Sensor: "devicev01", Device: fmt.Sprint(7000 + d)},
			Field: "Temp", From: base.Add(-3 * time.Hour), To: base.Add(2 * perDevice * time.Minute)})
		if err != nil {
			t.Fatal(err)
		}
		if len(pts) != perDevice {
			t.Errorf("device %d: %d Temp values, want %d", 7000+d, len(pts), perDevice)
			continue
		}
		for i, p := range pts {
			if p.Value != float64(i+1) {
				t.Errorf("device %d: value %d is %v, want %d: a reading lost or stored twice", 7000+d, i, p.Value, i+1)
				break
			}
		}
	}
	resp, err := http.Get("http://" + web.http + "/api/v1/devices?sensor=devicev01")
	if err != nil {
		t.Fatal(err)
	}
	var devs []store.Device
	json.NewDecoder(resp.Body).Decode(&devs)
	resp.Body.Close()
	if len(devs) != devices {
		t.Fatalf("web lists %d devices, want %d", len(devs), devices)
	}
	for _, d := range devs {
		if d.Readings != perDevice || d.Lost != 0 || d.MsgCount != perDevice {
			t.Errorf("device %s: %d readings, %d lost, msgCount %d; want %d, 0, %d", d.Device, d.Readings, d.Lost, d.MsgCount, perDevice, perDevice)
		}
	}
	// Both gateways took part of the shared subscription, and both
	// ingestors stored part of the readings.
	g1, g2 := gw1.metric("sensorhub_messages_received_total"), gw2.metric("sensorhub_messages_received_total")
	if g1 <= 0 || g2 <= 0 || g1+g2 != float64(want) {
		t.Errorf("gateways received %v and %v messages, want both > 0 and %d in all", g1, g2, want)
	}
	if stored2 <= 0 {
		t.Errorf("ingest-2 stored %v readings before its stop, while ingest-1 was killed and restarted", stored2)
	}
	t.Logf("gateways received %v + %v; ingest-2 stored %v before its stop and %v after its restart, ingest-1 (restarted) %v", g1, g2,
		stored2, ing2.metric("sensorhub_messages_stored_total"), ing1.metric("sensorhub_messages_stored_total"))
}
