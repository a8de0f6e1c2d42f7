package app_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/sensorhub/sensorhub/internal/app"
	"github.com/sensorhub/sensorhub/internal/config"
	"github.com/sensorhub/sensorhub/internal/plan"
	"github.com/sensorhub/sensorhub/internal/queue/jetstream"
	"github.com/sensorhub/sensorhub/internal/reading"
	"github.com/sensorhub/sensorhub/internal/store"
	"github.com/sensorhub/sensorhub/internal/store/series"
	"github.com/sensorhub/sensorhub/internal/testenv"
)

// queueEngines are the queues every end-to-end test runs on.
var queueEngines = []string{"embedded", "nats"}

func start(t testing.TB, engine string, opts app.Options, mutate func(*config.Config)) *app.App {
	t.Helper()
	return startLogged(t, engine, opts, nil, mutate)
}

// startLogged is start with a logger of the test's.
func startLogged(t testing.TB, engine string, opts app.Options, log *slog.Logger, mutate func(*config.Config)) *app.App {
	t.Helper()
	return startAs(t, engine, opts, log, mutate, false)
}

// startAs is startLogged, with the configuration written to a file and
// read from it when fromFile.
func startAs(t testing.TB, engine string, opts app.Options, log *slog.Logger, mutate func(*config.Config), fromFile bool) *app.App {
	t.Helper()
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.HTTP.Listen = "127.0.0.1:0"
	cfg.MQTT.Listen = "127.0.0.1:0"
	cfg.Queue.Prefix = testenv.Unique(t)
	cfg.MQTT.Builtin.AllowAnonymous = true
	// The fixtures' readings are years old: retention keeps them unless
	// a test says otherwise.
	cfg.Store.Retention.Ages = config.Ages{Raw: config.Forever, Hourly: config.Forever, Daily: config.Forever}
	cfg.Store.Retention.Rejected, cfg.Store.Retention.Alerts = config.Forever, config.Forever
	if engine == "activemq" {
		cfg.Queue.Engine, cfg.Queue.URL = "activemq", testenv.ActiveMQURL(t)
	}
	if engine == "nats" {
		cfg.Queue.Engine = "nats"
		cfg.Queue.URL = testenv.NATSURL(t)
		// A raw stream reserves its maximum size on the shared server.
		cfg.Queue.RawMaxBytes = 256 << 20
	}
	if mutate != nil {
		mutate(cfg)
	}
	if err := cfg.Validate(nil); err != nil {
		t.Fatal(err)
	}
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
		if testing.Verbose() {
			log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
		}
	}
	p, err := plan.Compile(cfg, nil)
	if fromFile {
		// As sensorhub run --config reads it: the file's items are
		// provisioned.
		path := filepath.Join(t.TempDir(), "sensorhub.yaml")
		b, merr := cfg.Marshal()
		if merr != nil {
			t.Fatal(merr)
		}
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		p, err = plan.Load(path)
	}
	if err != nil {
		t.Fatal(err)
	}
	a, err := app.StartPlan(context.Background(), p, opts, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if q, ok := a.Queue.(*jetstream.Queue); ok && engine == "nats" {
			q.DeleteStreams(context.Background())
		}
		a.Close()
	})
	return a
}

func getJSON(t *testing.T, a *app.App, path string, v any) int {
	t.Helper()
	resp, err := http.Get("http://" + a.HTTPAddr() + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if v != nil && resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(body, v); err != nil {
			t.Fatalf("%s: %v: %s", path, err, body)
		}
	}
	return resp.StatusCode
}

func payloadLines(t *testing.T, name string) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "payloads", name))
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSpace(string(b)), "\n")
}

// mosquittoPub publishes each line as one message at QoS 1 with the
// standalone mosquitto_pub client.
func mosquittoPub(t *testing.T, addr, topic string, lines ...string) {
	t.Helper()
	host, port, _ := net.SplitHostPort(addr)
	cmd := testenv.Command(t, "mosquitto_pub", "-h", host, "-p", port, "-q", "1", "-t", topic, "-l")
	cmd.Stdin = strings.NewReader(strings.Join(lines, "\n") + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("mosquitto_pub: %v: %s (install the mosquitto-clients package)", err, out)
	}
}

func TestMosquittoPubToBuiltinBroker(t *testing.T) {
	for _, engine := range queueEngines {
		t.Run(engine, func(t *testing.T) {
			a := start(t, engine, app.Options{}, nil)
			last := payloadLines(t, "devicev01.jsonl")[3]
			sent := time.Now()
			mosquittoPub(t, a.MQTTAddr(), "finemeca/devicev01/100", last)
			var got reading.Reading
			testenv.Eventually(t, 10*time.Second, 20*time.Millisecond, func() error {
				if code := getJSON(t, a, "/api/v1/latest?device=100", &got); code != http.StatusOK {
					return fmt.Errorf("latest: HTTP %d", code)
				}
				return nil
			})
			t.Logf("visible in /api/v1/latest %s after mosquitto_pub started", time.Since(sent).Round(time.Millisecond))
			if got.Fields["Temp"] != 14.62 || got.Fields["Hum"] != 61 {
				t.Errorf("fields %v, want Temp 14.62 and Hum 61", got.Fields)
			}
			if want := time.Date(2022, 4, 17, 21, 54, 41, 0, time.UTC); !got.Time.Equal(want) {
				t.Errorf("time %s, want %s", got.Time, want)
			}
			if got.Sensor != "devicev01" || got.Customer != "finemeca" || got.Units["Temp"] != "C" {
				t.Errorf("reading %+v", got)
			}
		})
	}
}

type rejectedList struct {
	Total    int64 `json:"total"`
	Rejected []struct {
		Topic   string `json:"topic"`
		Reason  string `json:"reason"`
		Payload string `json:"payload"`
	} `json:"rejected"`
}

// TestBadPayloadsOverMQTT publishes every line of bad.jsonl, the duplicate
// twice, and checks that each ends as its _expect says.
func TestBadPayloadsOverMQTT(t *testing.T) {
	for _, engine := range queueEngines {
		t.Run(engine, func(t *testing.T) {
			a := start(t, engine, app.Options{}, nil)
			var raws, wantReject []string
			var duplicate string
			for _, l := range payloadLines(t, "bad.jsonl") {
				var c struct {
					Expect string `json:"_expect"`
					Raw    string `json:"raw"`
				}
				if err := json.Unmarshal([]byte(l), &c); err != nil {
					t.Fatal(err)
				}
				raws = append(raws, c.Raw)
				if r, ok := strings.CutPrefix(c.Expect, "reject: "); ok {
					wantReject = append(wantReject, r)
				}
				if strings.Contains(c.Expect, "duplicate") {
					duplicate = c.Raw
				}
			}
			mosquittoPub(t, a.MQTTAddr(), "finemeca/devicev01/100", append(raws, duplicate)...)

			var rj rejectedList
			testenv.Eventually(t, 10*time.Second, 50*time.Millisecond, func() error {
				getJSON(t, a, "/api/v1/rejected", &rj)
				if int(rj.Total) < len(wantReject) {
					return fmt.Errorf("%d rejected, want %d", rj.Total, len(wantReject))
				}
				return nil
			})
			if int(rj.Total) != len(wantReject) {
				t.Fatalf("%d rejected, want %d: %+v", rj.Total, len(wantReject), rj.Rejected)
			}
			for _, want := range wantReject {
				found := false
				for _, r := range rj.Rejected {
					if strings.HasPrefix(r.Reason, want) && r.Topic == "finemeca/devicev01/100" && r.Payload != "" {
						found = true
					}
				}
				if !found {
					t.Errorf("no rejected message with reason %q (got %+v)", want, rj.Rejected)
				}
			}
			// Five accepted lines, the duplicate twice: five readings.
			var devs []store.Device
			testenv.Eventually(t, 10*time.Second, 50*time.Millisecond, func() error {
				getJSON(t, a, "/api/v1/devices", &devs)
				if len(devs) != 1 || devs[0].Readings < 5 {
					return fmt.Errorf("devices %+v, want device 100 with 5 readings", devs)
				}
				return nil
			})
			if devs[0].Readings != 5 {
				t.Fatalf("device 100 has %d readings, want 5 (the duplicate stored once)", devs[0].Readings)
			}
			var series series.Series
			getJSON(t, a, "/api/v1/series?device=100&field=Temp&from=2022-04-17T00:00:00Z&to=2022-04-18T00:00:00Z", &series)
			var temps []float64
			for _, p := range series.Points {
				temps = append(temps, p.Value)
			}
			// "warm" and "NaN" left out; "14.5" parsed; 14.62 once.
			if fmt.Sprint(temps) != "[14.5 14.62]" {
				t.Errorf("Temp points of 17 April %v, want [14.5 14.62]", temps)
			}
		})
	}
}

func TestHTTPIngest(t *testing.T) {
	for _, engine := range queueEngines {
		t.Run(engine, func(t *testing.T) {
			a := start(t, engine, app.Options{}, nil)
			body := strings.Join(payloadLines(t, "air.jsonl"), "\n") + "\n{not json\n"
			resp, err := http.Post("http://"+a.HTTPAddr()+"/api/v1/ingest?topic="+url.QueryEscape("finemeca/air/201"), "application/x-ndjson", strings.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			var ack struct{ Accepted int }
			json.NewDecoder(resp.Body).Decode(&ack)
			resp.Body.Close()
			if resp.StatusCode != http.StatusAccepted || ack.Accepted != 5 {
				t.Fatalf("ingest: HTTP %d accepted %d, want 202 and 5", resp.StatusCode, ack.Accepted)
			}
			var devs []store.Device
			testenv.Eventually(t, 10*time.Second, 50*time.Millisecond, func() error {
				getJSON(t, a, "/api/v1/devices?sensor=air", &devs)
				if len(devs) != 1 || devs[0].Readings != 4 {
					return fmt.Errorf("devices %+v, want air 201 with 4 readings", devs)
				}
				return nil
			})
			if devs[0].Lost != 1 || devs[0].MsgCount != 5 {
				t.Errorf("air 201 lost %d msg_count %d, want 1 and 5", devs[0].Lost, devs[0].MsgCount)
			}
			// The built-in air kind derives leak = Pres < OpenPres: the third
			// and fourth readings are a leak.
			var leak series.Series
			getJSON(t, a, "/api/v1/series?device=201&field=leak&from=2022-05-02T00:00:00Z&to=2022-05-03T00:00:00Z", &leak)
			var flags []float64
			for _, p := range leak.Points {
				flags = append(flags, p.Value)
			}
			if fmt.Sprint(flags) != "[0 0 1 1]" {
				t.Errorf("leak %v, want [0 0 1 1]", flags)
			}
			// Leak figures: one leak of 30 s, the air lost from the decay.
			var rep struct {
				Days []struct {
					Day     string
					Leaks   int
					Seconds float64
					LostNm3 float64 `json:"lost_nm3"`
					Cost    float64
				}
			}
			getJSON(t, a, "/api/v1/leaks?device=201&from=2022-05-02T00:00:00Z&to=2022-05-03T00:00:00Z", &rep)
			if len(rep.Days) != 1 || rep.Days[0].Day != "2022-05-02" || rep.Days[0].Leaks != 1 || rep.Days[0].Seconds != 30 || rep.Days[0].Cost <= 0 {
				t.Errorf("leaks %+v, want one leak of 30 s on 2022-05-02 with a cost", rep.Days)
			}
			// Message loss and radio as series: one message of five lost.
			var loss, rssi series.Series
			getJSON(t, a, "/api/v1/series?device=201&field=_loss_ratio&from=2022-05-02T00:00:00Z&to=2022-05-03T00:00:00Z&step=1d", &loss)
			if len(loss.Points) != 1 || loss.Points[0].Value != 0.2 {
				t.Errorf("_loss_ratio %v, want one day at 0.2", loss.Points)
			}
			getJSON(t, a, "/api/v1/series?device=201&field=_rssi&from=2022-05-02T00:00:00Z&to=2022-05-03T00:00:00Z&step=1d&agg=min", &rssi)
			if len(rssi.Points) != 1 || rssi.Points[0].Value != -64 || rssi.Unit != "dBm" {
				t.Errorf("daily min _rssi %v %q, want -64 dBm", rssi.Points, rssi.Unit)
			}
			var rj rejectedList
			testenv.Eventually(t, 10*time.Second, 50*time.Millisecond, func() error {
				getJSON(t, a, "/api/v1/rejected?reason=invalid+JSON", &rj)
				if rj.Total != 1 {
					return fmt.Errorf("%d rejected, want the one invalid line", rj.Total)
				}
				return nil
			})
			// One object spread over several lines is one message.
			resp, err = http.Post("http://"+a.HTTPAddr()+"/api/v1/ingest", "application/json",
				strings.NewReader("{\n \"Customer\": \"finemeca\",\n \"idDevice\": 9, \"Mod\": \"air\", \"Pres\": 6.2\n}"))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			testenv.Eventually(t, 10*time.Second, 50*time.Millisecond, func() error {
				var r reading.Reading
				if code := getJSON(t, a, "/api/v1/latest?device=9", &r); code != http.StatusOK || r.Fields["Pres"] != 6.2 {
					return fmt.Errorf("latest of device 9: HTTP %d %v", code, r.Fields)
				}
				return nil
			})
		})
	}
}

func TestAPIErrors(t *testing.T) {
	a := start(t, "embedded", app.Options{}, nil)
	cases := map[string]int{
		"/api/v1/latest":                                     http.StatusBadRequest,
		"/api/v1/latest?device=404":                          http.StatusNotFound,
		"/api/v1/series?device=1":                            http.StatusBadRequest,
		"/api/v1/series?device=1&field=T&agg=median":         http.StatusBadRequest,
		"/api/v1/series?device=1&field=T&step=fortnight":     http.StatusBadRequest,
		"/api/v1/series?device=1&field=T&from=yesterday":     http.StatusBadRequest,
		"/api/v1/nope":                                       http.StatusNotFound,
		"/api/v1/rejected?limit=0":                           http.StatusBadRequest,
		"/healthz":                                           http.StatusOK,
		"/readyz":                                            http.StatusOK,
		"/metrics":                                           http.StatusOK,
		"/api/v1/series?device=1&field=T&step=1s&from=0&to=": http.StatusBadRequest,
	}
	for path, want := range cases {
		resp, err := http.Get("http://" + a.HTTPAddr() + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("%s: HTTP %d, want %d: %s", path, resp.StatusCode, want, body)
		}
		if want >= 400 && !strings.Contains(string(body), `"error"`) {
			t.Errorf("%s: error answer without an error text: %s", path, body)
		}
	}
	resp, _ := http.Get("http://" + a.HTTPAddr() + "/metrics")
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, m := range []string{"sensorhub_messages_stored_total", "sensorhub_queue_lag_messages", "sensorhub_store_write_seconds",
		`sensorhub_memory_cache_bytes{cache="store_tails"}`, `sensorhub_memory_cache_bytes{cache="store_parts"}`, `sensorhub_memory_cache_bytes{cache="store_latest"}`, "sensorhub_memory_limit_bytes"} {
		if !strings.Contains(string(b), m) {
			t.Errorf("/metrics lacks %s", m)
		}
	}
}

// TestDemoRestartGoesOn: the demo's devices go on from what they last
// sent when sensorhub restarts, as real devices do: no counter restarts
// from its first value (which would put the whole meter reading into
// today's consumption), no msgCount starts again; the meters follow a
// working week.
func TestDemoRestartGoesOn(t *testing.T) {
	dir := t.TempDir()
	opts := app.Options{Demo: true, DemoInterval: 200 * time.Millisecond}
	a := start(t, "embedded", opts, func(c *config.Config) { c.DataDir = dir })
	latest := func(a *app.App) (map[string]any, error) {
		var r map[string]any
		if code := getJSON(t, a, "/api/v1/latest?device=301", &r); code != http.StatusOK {
			return nil, fmt.Errorf("latest of 301: HTTP %d", code)
		}
		return r, nil
	}
	var before map[string]any
	testenv.Eventually(t, 30*time.Second, 100*time.Millisecond, func() (err error) {
		before, err = latest(a)
		return err
	})
	a.Close()
	b := start(t, "embedded", opts, func(c *config.Config) { c.DataDir = dir })
	var after map[string]any
	testenv.Eventually(t, 30*time.Second, 100*time.Millisecond, func() (err error) {
		if after, err = latest(b); err != nil {
			return err
		}
		if after["time"] == before["time"] {
			return fmt.Errorf("no new reading of 301 yet")
		}
		return nil
	})
	e0, e1 := before["fields"].(map[string]any)["E"].(float64), after["fields"].(map[string]any)["E"].(float64)
	if e1 < e0 || e1-e0 > 10 {
		t.Errorf("meter 301 read %v kWh before the restart and %v after: want it to go on", e0, e1)
	}
	if m0, m1 := before["msg_count"].(float64), after["msg_count"].(float64); m1 <= m0 {
		t.Errorf("msgCount %v before the restart, %v after: want it to go on", m0, m1)
	}
	// The week of history: weekend days draw the baseload only.
	from := time.Now().Add(-8 * 24 * time.Hour).UTC().Format(time.RFC3339)
	var s series.Series
	getJSON(t, b, "/api/v1/series?device=301&field=E&step=1d&agg=increase&from="+from, &s)
	var weekday, weekend float64
	for _, p := range s.Points[1 : len(s.Points)-1] { // whole days
		if d := p.Time.In(config.Default().Location()).Weekday(); d == time.Saturday || d == time.Sunday {
			weekend = max(weekend, p.Value)
		} else {
			weekday = max(weekday, p.Value)
		}
	}
	if weekend == 0 || weekday < 2*weekend {
		t.Errorf("the demo meter drew at most %v kWh on a weekday and %v on a weekend day: want a working week", weekday, weekend)
	}
}

func TestDemoShowsAllKinds(t *testing.T) {
	a := start(t, "embedded", app.Options{Demo: true, DemoInterval: 300 * time.Millisecond}, nil)
	testenv.Eventually(t, 30*time.Second, 100*time.Millisecond, func() error {
		var devs []store.Device
		getJSON(t, a, "/api/v1/devices", &devs)
		kinds := map[string]bool{}
		for _, d := range devs {
			if time.Since(d.LastSeen) < time.Minute {
				kinds[d.Sensor] = true
			}
		}
		if !kinds["air"] || !kinds["centrale"] || !kinds["devicev01"] {
			return fmt.Errorf("recent kinds %v, want air, centrale and devicev01", kinds)
		}
		return nil
	})
	// The week of history went through ingest's formulas: the air line's
	// derived leak field has a value on every day of it.
	from := time.Now().Add(-8 * 24 * time.Hour).UTC().Format(time.RFC3339)
	var s series.Series
	if code := getJSON(t, a, "/api/v1/series?device=201&field=leak&step=1d&agg=count&from="+from, &s); code != http.StatusOK {
		t.Fatalf("series of the derived leak field: HTTP %d", code)
	}
	days := 0
	for _, p := range s.Points {
		if p.Value > 0 {
			days++
		}
	}
	if days < 7 {
		t.Errorf("the derived leak field has values on %d days of the demo's history, want 7 or more: %v", days, s.Points)
	}
}

func TestTakenPortsAreClearErrors(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	for flag, mutate := range map[string]func(*config.Config){
		"--http":        func(c *config.Config) { c.HTTP.Listen = ln.Addr().String() },
		"--mqtt-listen": func(c *config.Config) { c.MQTT.Listen = ln.Addr().String() },
	} {
		cfg := config.Default()
		cfg.DataDir = t.TempDir()
		cfg.HTTP.Listen, cfg.MQTT.Listen = "127.0.0.1:0", "127.0.0.1:0"
		cfg.MQTT.Builtin.AllowAnonymous = true
		mutate(cfg)
		_, err := app.Start(context.Background(), cfg, app.Options{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err == nil || !strings.Contains(err.Error(), flag) || !strings.Contains(err.Error(), "in use") {
			t.Errorf("port taken for %s: error %v, want one naming %s", flag, err, flag)
		}
	}
}

func TestRestartKeepsData(t *testing.T) {
	dir := t.TempDir()
	mutate := func(c *config.Config) { c.DataDir = dir }
	a := start(t, "embedded", app.Options{}, mutate)
	mosquittoPub(t, a.MQTTAddr(), "finemeca/air/201", payloadLines(t, "air.jsonl")...)
	testenv.Eventually(t, 10*time.Second, 50*time.Millisecond, func() error {
		var devs []store.Device
		getJSON(t, a, "/api/v1/devices", &devs)
		if len(devs) != 1 || devs[0].Readings != 4 {
			return fmt.Errorf("devices %+v", devs)
		}
		return nil
	})
	a.Close()
	b := start(t, "embedded", app.Options{}, mutate)
	var devs []store.Device
	getJSON(t, b, "/api/v1/devices", &devs)
	if len(devs) != 1 || devs[0].Readings != 4 {
		t.Fatalf("after restart: %+v, want air 201 with its 4 readings", devs)
	}
}

// TestRetentionAtStart: sensorhub started with readings older than the
// raw retention removes them at start, in the background, keeps their
// aggregates (a day's average pressure answers as before, at "1d"),
// counts them in sensorhub_retention_removed_total and logs it.
func TestRetentionAtStart(t *testing.T) {
	dir := t.TempDir()
	a := start(t, "embedded", app.Options{}, func(c *config.Config) { c.DataDir = dir })
	mosquittoPub(t, a.MQTTAddr(), "finemeca/air/201", payloadLines(t, "air.jsonl")...)
	const daily = "/api/v1/series?device=201&field=Pres&agg=avg&step=1d&from=2022-05-01T00:00:00Z&to=2022-05-10T00:00:00Z"
	var before series.Series
	testenv.Eventually(t, 10*time.Second, 50*time.Millisecond, func() error {
		getJSON(t, a, daily, &before)
		if len(before.Points) == 0 || before.Resolution != "raw" {
			return fmt.Errorf("series %+v", before)
		}
		return nil
	})
	a.Close()

	var logs testenv.SyncBuffer
	b := startLogged(t, "embedded", app.Options{}, slog.New(slog.NewTextHandler(&logs, nil)), func(c *config.Config) {
		c.DataDir = dir
		c.Store.Retention.Ages = config.Ages{Raw: 30 * config.Day, Hourly: config.Year, Daily: config.Forever}
	})
	testenv.Eventually(t, 10*time.Second, 50*time.Millisecond, func() error {
		if n := testutil.ToFloat64(b.Metrics.RetentionRemoved.WithLabelValues("readings")); n != 4 {
			return fmt.Errorf("sensorhub_retention_removed_total{what=\"readings\"} = %v, want 4", n)
		}
		return nil
	})
	var devs []store.Device
	getJSON(t, b, "/api/v1/devices", &devs)
	if len(devs) != 1 || devs[0].Readings != 0 {
		t.Errorf("devices after retention: %+v, want air 201 with no reading left", devs)
	}
	var after series.Series
	getJSON(t, b, daily, &after)
	if after.Resolution != "1d" || len(after.Points) != len(before.Points) || after.Points[0].Value != before.Points[0].Value {
		t.Errorf("the daily average after retention: %+v, want %+v at 1d", after, before)
	}
	code, body := newClient(t, b).Do("GET", "/api/v1/series?device=201&field=Pres&from=2022-05-01T00:00:00Z&to=2022-05-10T00:00:00Z", "")
	if code != http.StatusBadRequest || !strings.Contains(body, "kept from") {
		t.Errorf("raw points of a removed range: HTTP %d %s, want 400 naming what is kept", code, body)
	}
	if !strings.Contains(logs.String(), "retention removed what is past its age") || !strings.Contains(logs.String(), "readings=4") {
		t.Errorf("the log does not say what retention removed:\n%s", logs.String())
	}
}

// liveReadings opens a live stream until the test ends and gives the data
// of each of its reading events.
func liveReadings(t *testing.T, hc *http.Client, url string) <-chan string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		resp.Body.Close()
		t.Fatalf("stream %s: %s, content type %q", url, resp.Status, resp.Header.Get("Content-Type"))
	}
	events := make(chan string, 100)
	go func() {
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		var event string
		for sc.Scan() {
			line := sc.Text()
			if e, ok := strings.CutPrefix(line, "event: "); ok {
				event = e
			}
			if d, ok := strings.CutPrefix(line, "data: "); ok && event == "reading" {
				events <- d
			}
		}
		close(events)
	}()
	return events
}

func TestStreamDeliversNewReadings(t *testing.T) {
	a := start(t, "embedded", app.Options{}, nil)
	events := liveReadings(t, http.DefaultClient, "http://"+a.HTTPAddr()+"/api/v1/stream?device=100")
	// The air reading is for another device: only device 100 comes.
	lines := payloadLines(t, "devicev01.jsonl")
	testenv.Eventually(t, 10*time.Second, 300*time.Millisecond, func() error {
		mosquittoPub(t, a.MQTTAddr(), "finemeca/air/201", payloadLines(t, "air.jsonl")[0])
		mosquittoPub(t, a.MQTTAddr(), "finemeca/devicev01/100", lines[3])
		select {
		case d := <-events:
			var r reading.Reading
			if err := json.Unmarshal([]byte(d), &r); err != nil {
				t.Fatal(err)
			}
			if r.Device != "100" || r.Fields["Temp"] != 14.62 {
				t.Fatalf("event %s, want device 100 with Temp 14.62", d)
			}
			return nil
		case <-time.After(300 * time.Millisecond):
			return fmt.Errorf("no reading event yet")
		}
	})
}

// TestReplayAfterConfigurationFix: messages of a customer not yet
// configured are rejected; once it is added, a replay turns them into
// readings, once, and a second replay changes nothing.
func TestReplayAfterConfigurationFix(t *testing.T) {
	dir := t.TempDir()
	topics := []string{"finemeca/#", "acme/#"}
	a := start(t, "embedded", app.Options{}, func(c *config.Config) { c.DataDir, c.MQTT.Topics = dir, topics })
	var lines []string
	for i := 1; i <= 5; i++ {
		lines = append(lines, fmt.Sprintf(`{"Customer":"acme","idGateway":9,"idDevice":77,"Time":"2022-05-02 08:0%d:00","msgCount":%d,"Mod":"air","Pres":6.%d,"OpenPres":6}`, i, i, i))
	}
	mosquittoPub(t, a.MQTTAddr(), "acme/air/77", lines...)
	var rj rejectedList
	testenv.Eventually(t, 10*time.Second, 50*time.Millisecond, func() error {
		getJSON(t, a, "/api/v1/rejected?reason=unknown+customer", &rj)
		if rj.Total != 5 {
			return fmt.Errorf("%d rejected, want 5", rj.Total)
		}
		return nil
	})
	// A replay before the fix rejects them again: still 5, not 10.
	resp, err := http.Post("http://"+a.HTTPAddr()+"/api/v1/rejected/replay", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	testenv.Eventually(t, 10*time.Second, 50*time.Millisecond, func() error {
		resp, err := http.Get("http://" + a.HTTPAddr() + "/metrics")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if !strings.Contains(string(b), `sensorhub_messages_rejected_total{reason="unknown customer"} 10`) {
			return fmt.Errorf("the replayed messages were not rejected again yet")
		}
		return nil
	})
	getJSON(t, a, "/api/v1/rejected", &rj)
	if rj.Total != 5 {
		t.Fatalf("%d rejected after a replay without the fix, want the same 5", rj.Total)
	}
	a.Close()

	fixed := func(c *config.Config) {
		c.DataDir, c.MQTT.Topics = dir, topics
		c.Customers = append(c.Customers, "acme")
	}
	b := start(t, "embedded", app.Options{}, fixed)
	replay := func() int {
		resp, err := http.Post("http://"+b.HTTPAddr()+"/api/v1/rejected/replay?reason=unknown+customer", "", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out struct{ Replayed int }
		json.NewDecoder(resp.Body).Decode(&out)
		if resp.StatusCode != http.StatusAccepted {
			t.Fatalf("replay: HTTP %d", resp.StatusCode)
		}
		return out.Replayed
	}
	if n := replay(); n != 5 {
		t.Fatalf("replayed %d, want 5", n)
	}
	readings := func() int64 {
		var devs []store.Device
		getJSON(t, b, "/api/v1/devices?customer=acme", &devs)
		if len(devs) == 0 {
			return 0
		}
		return devs[0].Readings
	}
	testenv.Eventually(t, 10*time.Second, 50*time.Millisecond, func() error {
		getJSON(t, b, "/api/v1/rejected", &rj)
		if n := readings(); n != 5 || rj.Total != 0 {
			return fmt.Errorf("%d acme readings and %d rejected, want 5 and 0", n, rj.Total)
		}
		return nil
	})
	if n := replay(); n != 0 {
		t.Fatalf("second replay queued %d, want 0", n)
	}
	time.Sleep(300 * time.Millisecond) // let anything a wrong replay queued arrive
	if n := readings(); n != 5 {
		t.Fatalf("%d acme readings after the second replay, want 5", n)
	}
}

// TestDailyConsumptionGolden: the power meter's daily consumption through
// the API, from testdata/payloads/centrale.jsonl, in Europe/Brussels days.
func TestDailyConsumptionGolden(t *testing.T) {
	a := start(t, "embedded", app.Options{}, nil)
	body := strings.Join(payloadLines(t, "centrale.jsonl"), "\n")
	resp, err := http.Post("http://"+a.HTTPAddr()+"/api/v1/ingest", "application/x-ndjson", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	q := "/api/v1/series?device=301&field=E&step=1d&agg=increase&from=" + url.QueryEscape("2022-05-03T00:00:00+02:00") + "&to=" + url.QueryEscape("2022-05-05T00:00:00+02:00")
	var s series.Series
	testenv.Eventually(t, 10*time.Second, 50*time.Millisecond, func() error {
		s = series.Series{}
		if code := getJSON(t, a, q, &s); code != http.StatusOK || len(s.Points) != 2 {
			return fmt.Errorf("HTTP %d, %d points", code, len(s.Points))
		}
		return nil
	})
	loc := config.Default().Location()
	// Each interval between readings is shared by the days it covers by
	// time: 3 May gets half the 0.1 kWh of the minute across its
	// midnight, the 190.5 of its day and 30 s of the 6 h 0 min 30 s up to
	// the meter's restart at 06:00 on 4 May, whose 12.5 kWh from zero are
	// an estimate spread over that silence.
	if s.Points[0].Value != 190.567337032 || s.Points[1].Value != 12.4826629681 || s.Unit != "kWh" ||
		!s.Points[0].Time.Equal(time.Date(2022, 5, 3, 0, 0, 0, 0, loc)) || !s.Points[1].Time.Equal(time.Date(2022, 5, 4, 0, 0, 0, 0, loc)) {
		t.Errorf("daily consumption %v %s, want 0.05 + 190.5 + 12.5 x 30/21630 kWh on 3 May and the rest of 12.5 on 4 May", s.Points, s.Unit)
	}
	if e := s.Estimated; len(e) != 2 || !e[0].Time.Equal(s.Points[0].Time) || e[0].Value != 0.0173370319001 || e[1].Value != s.Points[1].Value {
		t.Errorf("estimated %v, want 12.5 x 30/21630 kWh on 3 May and all of 4 May's", e)
	}
	// The meter's restart is told apart from loss.
	var restart series.Series
	getJSON(t, a, "/api/v1/series?device=301&field=_restart&from=2022-05-01T00:00:00Z&to=2022-05-05T00:00:00Z", &restart)
	var flags []float64
	for _, p := range restart.Points {
		flags = append(flags, p.Value)
	}
	if fmt.Sprint(flags) != "[1]" || !restart.Points[0].Time.Equal(time.Date(2022, 5, 4, 4, 0, 0, 0, time.UTC)) {
		t.Errorf("_restart %v, want 1 at the fourth reading only", restart.Points)
	}
	// increase is for declared counters.
	resp, err = http.Get("http://" + a.HTTPAddr() + "/api/v1/series?device=301&field=P&agg=increase&step=1d")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(b), "sensors.centrale.counters") {
		t.Errorf("increase of P: HTTP %d %s, want 400 naming the counters setting", resp.StatusCode, b)
	}
}
