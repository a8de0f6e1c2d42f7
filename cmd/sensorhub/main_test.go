package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/sensorhub/sensorhub/internal/queue/jetstream"
	"github.com/sensorhub/sensorhub/internal/store"
	"github.com/sensorhub/sensorhub/internal/store/series"
	"github.com/sensorhub/sensorhub/internal/testenv"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "sensorhub-bin")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "sensorhub")
	if out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build sensorhub: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func TestCheckCommand(t *testing.T) {
	out, err := exec.Command(binary, "check", "--config", "../../internal/config/testdata/unknown_key.yaml").CombinedOutput()
	if err == nil || !strings.Contains(string(out), `line 4: unknown key "topicz" in mqtt`) {
		t.Errorf("check of a bad file: %v: %s", err, out)
	}
	out, err = exec.Command(binary, "check", "--config", "../../internal/config/testdata/bad_modbus.yaml").CombinedOutput()
	if err == nil || !strings.Contains(string(out), `bad_modbus.yaml:25: modbus.devices.2.registers.0.type: "float23" is not one of`) {
		t.Errorf("check of a wrong register map: %v: %s", err, out)
	}
	cfg := filepath.Join(t.TempDir(), "c.yaml")
	printed, err := exec.Command(binary, "config").Output()
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(cfg, printed, 0o600)
	out, err = exec.Command(binary, "check", "--config", cfg).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "ok" {
		t.Errorf("check of the printed configuration: %v: %s", err, out)
	}
	examples, _ := filepath.Glob("../../examples/*.yaml")
	if len(examples) == 0 {
		t.Fatal("no example configuration under examples/")
	}
	for _, f := range examples {
		if out, err := exec.Command(binary, "check", "--config", f).CombinedOutput(); err != nil {
			t.Errorf("%s: %v: %s", f, err, out)
		}
	}
}

// TestDemoWhenMQTTPortTaken runs the README's demo command while another
// broker holds port 1883: it still starts, on another port, and says so.
func TestDemoWhenMQTTPortTaken(t *testing.T) {
	testenv.Slow(t)
	if ln, err := net.Listen("tcp", ":1883"); err == nil {
		defer ln.Close() // nothing held it: hold it as another broker would
	}
	httpAddr := testenv.FreeAddr(t)
	var out testenv.SyncBuffer
	cmd := exec.Command(binary, "run", "--demo", "--demo-interval", "200ms", "--data", t.TempDir(), "--http", httpAddr)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	}()
	testenv.Eventually(t, 30*time.Second, 100*time.Millisecond, func() error {
		resp, err := http.Get("http://" + httpAddr + "/api/v1/devices")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		var devs []store.Device
		json.NewDecoder(resp.Body).Decode(&devs)
		if len(devs) < 6 {
			return fmt.Errorf("%d demo devices", len(devs))
		}
		return nil
	})
	logs := out.String()
	if !strings.Contains(logs, "demo: the MQTT port is in use") || !strings.Contains(logs, "built-in MQTT broker listening") {
		t.Errorf("the log does not say where the broker went:\n%s", logs)
	}
}

// TestKillDuringFlow publishes to the real Mosquitto while sensorhub is
// killed with SIGKILL and started again: every message that Mosquitto
// acknowledged to the publisher is stored exactly once.
func TestKillDuringFlow(t *testing.T) {
	for _, engine := range []string{"embedded", "nats", "compacting"} {
		t.Run(engine, func(t *testing.T) { testKillDuringFlow(t, engine) })
	}
}

// testKillDuringFlow runs on the embedded queue, on NATS, or (compacting)
// with the store folding every 16 readings into chunks, so that the kill
// comes in the middle of compaction as likely as not.
func testKillDuringFlow(t *testing.T, engine string) {
	brokerURL := testenv.MosquittoURL(t)
	prefix := testenv.Unique(t)
	dir := t.TempDir()
	httpAddr := testenv.FreeAddr(t)
	queueCfg := "queue: {engine: embedded, prefix: " + prefix + "}"
	if engine == "compacting" {
		queueCfg += "\nstore: {compact_rows: 16}"
	}
	if engine == "nats" {
		natsURL := testenv.NATSURL(t)
		queueCfg = "queue: {engine: nats, url: \"" + natsURL + "\", prefix: " + prefix + ", raw_max_bytes: 256MiB}"
		t.Cleanup(func() {
			q, err := jetstream.Connect(context.Background(), natsURL, jetstream.Options{Prefix: prefix, RawMaxAge: time.Hour, ReadingsMaxAge: time.Hour})
			if err == nil {
				q.DeleteStreams(context.Background())
				q.Close()
			}
		})
	}
	cfgPath := filepath.Join(dir, "sensorhub.yaml")
	clientID := "sensorhub-" + prefix
	os.WriteFile(cfgPath, []byte(fmt.Sprintf(`
data_dir: %s
http: {listen: "%s"}
mqtt:
  broker: %s
  client_id: %s
  topics: ["%s/#"]
  qos: 1
%s
`, filepath.Join(dir, "data"), httpAddr, brokerURL, clientID, prefix, queueCfg)), 0o600)
	t.Cleanup(func() { clearSession(brokerURL, clientID) })

	var logs testenv.SyncBuffer
	startSensorhub := func() *exec.Cmd {
		cmd := exec.Command(binary, "run", "--config", cfgPath)
		cmd.Stdout, cmd.Stderr = &logs, &logs
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		waitReady(t, "http://"+httpAddr)
		return cmd
	}
	proc := startSensorhub()
	defer func() {
		proc.Process.Signal(syscall.SIGTERM)
		proc.Wait()
		if t.Failed() {
			t.Logf("sensorhub logs:\n%s", logs.String())
		}
	}()

	// The publisher stays below Mosquitto's default max_queued_messages
	// (1000) for the time sensorhub is down: past it, Mosquitto itself
	// drops messages for a disconnected subscriber.
	const total = 2000
	pub := paho.NewClient(paho.NewClientOptions().AddBroker(brokerURL).SetClientID("pub-" + prefix).SetCleanSession(true))
	if tok := pub.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("publisher connect: %v", tok.Error())
	}
	defer pub.Disconnect(100)
	acked := make(chan int, total)
	pubDone := make(chan struct{})
	go func() {
		defer close(pubDone)
		base := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
		for i := 1; i <= total; i++ {
			msg := fmt.Sprintf(`{"Customer":"finemeca","idGateway":1,"idDevice":900,"Time":"%s","msgCount":%d,"Mod":"weath","Temp":%d}`,
				base.Add(time.Duration(i)*time.Second).Format("2006-01-02 15:04:05"), i, i)
			tok := pub.Publish(prefix+"/devicev01/900", 1, false, msg)
			if tok.WaitTimeout(10*time.Second) && tok.Error() == nil {
				acked <- i
			}
			time.Sleep(2 * time.Millisecond)
		}
	}()

	stored := func() int64 {
		var devs []store.Device
		resp, err := http.Get("http://" + httpAddr + "/api/v1/devices")
		if err != nil {
			return -1
		}
		defer resp.Body.Close()
		json.NewDecoder(resp.Body).Decode(&devs)
		if len(devs) == 0 {
			return 0
		}
		return devs[0].Readings
	}
	testenv.Eventually(t, 30*time.Second, 20*time.Millisecond, func() error {
		if n := stored(); n < 400 {
			return fmt.Errorf("%d stored before the kill, want 400", n)
		}
		return nil
	})
	before := stored()
	if err := proc.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	proc.Wait()
	t.Logf("killed with at least %d stored", before)
	proc = startSensorhub()
	<-pubDone
	close(acked)
	var ackedCount int
	for range acked {
		ackedCount++
	}
	if ackedCount < total*9/10 {
		t.Fatalf("only %d of %d publishes were acknowledged by Mosquitto", ackedCount, total)
	}
	testenv.Eventually(t, 60*time.Second, 100*time.Millisecond, func() error {
		if n := stored(); n < int64(ackedCount) {
			return fmt.Errorf("%d stored, want %d acknowledged by the broker", n, ackedCount)
		}
		return nil
	})
	// Exactly once: every Temp value (= msgCount) once, and nothing more.
	var series series.Series
	resp, err := http.Get("http://" + httpAddr + "/api/v1/series?device=900&field=Temp&from=2026-03-01T00:00:00Z&to=2026-03-02T00:00:00Z")
	if err != nil {
		t.Fatal(err)
	}
	json.NewDecoder(resp.Body).Decode(&series)
	resp.Body.Close()
	seen := map[float64]int{}
	for _, p := range series.Points {
		seen[p.Value]++
	}
	for v, n := range seen {
		if n != 1 {
			t.Errorf("value %v stored %d times", v, n)
		}
	}
	if len(series.Points) < ackedCount || stored() != int64(len(series.Points)) {
		t.Errorf("%d points, %d readings, %d acknowledged", len(series.Points), stored(), ackedCount)
	}
}

// clearSession removes the persistent session the test left in Mosquitto.
func clearSession(brokerURL, clientID string) {
	c := paho.NewClient(paho.NewClientOptions().AddBroker(brokerURL).SetClientID(clientID).SetCleanSession(true))
	if tok := c.Connect(); tok.WaitTimeout(5*time.Second) && tok.Error() == nil {
		c.Disconnect(100)
	}
}

// TestReplayCommand replays the raw stream of a running sensorhub: what
// was stored is found again as duplicates, nothing is stored twice.
func TestReplayCommand(t *testing.T) {
	httpAddr := testenv.FreeAddr(t)
	cfgPath := filepath.Join(t.TempDir(), "sensorhub.yaml")
	os.WriteFile(cfgPath, []byte("mqtt: {builtin: {allow_anonymous: true}}\n"), 0o600)
	cmd := exec.Command(binary, "run", "--config", cfgPath, "--data", t.TempDir(), "--http", httpAddr, "--mqtt-listen", "127.0.0.1:0")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	}()
	base := "http://" + httpAddr
	waitReady(t, base)
	start := time.Now().Add(-time.Second)
	body, _ := os.ReadFile("../../testdata/payloads/air.jsonl")
	resp, err := http.Post(base+"/api/v1/ingest", "application/x-ndjson", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	testenv.Eventually(t, 10*time.Second, 50*time.Millisecond, func() error {
		resp, err := http.Get(base + "/api/v1/devices")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		var devs []store.Device
		json.NewDecoder(resp.Body).Decode(&devs)
		if len(devs) != 1 || devs[0].Readings != 4 {
			return fmt.Errorf("devices %+v", devs)
		}
		return nil
	})
	for i := 0; i < 2; i++ {
		out, err := exec.Command(binary, "replay", "--from", start.Format(time.RFC3339Nano), "--sensor", "air", "--url", base).CombinedOutput()
		if err != nil {
			t.Fatalf("replay: %v: %s", err, out)
		}
		var res struct{ Messages, Stored, Duplicates int }
		if err := json.Unmarshal(out, &res); err != nil {
			t.Fatalf("replay printed %q: %v", out, err)
		}
		if res.Messages != 4 || res.Stored != 0 || res.Duplicates != 4 {
			t.Fatalf("replay %d: %+v, want 4 messages, 4 duplicates, none stored", i+1, res)
		}
	}
	// The duplicates a replay finds are counted like any others.
	resp, err = http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(metrics), "\nsensorhub_messages_duplicate_total 8\n") {
		t.Errorf("after two replays of 4 stored messages, /metrics has no sensorhub_messages_duplicate_total 8:\n%s",
			grepLines(string(metrics), "sensorhub_messages_duplicate_total"))
	}
	out, err := exec.Command(binary, "replay", "--from", "yesterday", "--url", base).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "HTTP 400") {
		t.Errorf("replay with a bad time: %v: %s", err, out)
	}
}

// grepLines returns the lines of text that contain s.
func grepLines(text, s string) string {
	var out []string
	for line := range strings.Lines(text) {
		if strings.Contains(line, s) {
			out = append(out, strings.TrimSpace(line))
		}
	}
	return strings.Join(out, "\n")
}
