package app_test

import (
	"fmt"
	"log/slog"
	"math"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sensorhub/sensorhub/internal/app"
	"github.com/sensorhub/sensorhub/internal/config"
	"github.com/sensorhub/sensorhub/internal/input/modbus"
	"github.com/sensorhub/sensorhub/internal/reading"
	"github.com/sensorhub/sensorhub/internal/store"
	"github.com/sensorhub/sensorhub/internal/store/series"
	"github.com/sensorhub/sensorhub/internal/testenv"
)

// sdm630Server runs the SDM630 of testdata under pymodbus at addr, its
// poll count kept in state, until stopped.
func sdm630Server(t *testing.T, python, addr, state string) (stop func()) {
	t.Helper()
	_, port, _ := strings.Cut(addr, ":")
	cmd := exec.Command(python, filepath.Join("..", "input", "modbus", "testdata", "sdm630_server.py"), "--port", port, "--state", state)
	out := &testenv.SyncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stopped := false
	stop = func() {
		if !stopped {
			stopped = true
			cmd.Process.Kill()
			cmd.Wait()
		}
	}
	t.Cleanup(stop)
	testenv.Eventually(t, 20*time.Second, 50*time.Millisecond, func() error {
		if cmd.ProcessState != nil {
			return fmt.Errorf("the Modbus server ended: %s", out)
		}
		return dial(addr)
	})
	return stop
}

func dial(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err == nil {
		c.Close()
	}
	return err
}

// TestModbusPolling polls an SDM630 served by pymodbus, whose values
// change at every poll, through the whole path (gateway role, queue,
// ingest, store, API): every stored value is exactly the meter's at its
// poll, the counters' daily increase is exact, and a meter that stops
// answering and comes back loses the polls it missed, counted in _lost,
// and is polled again.
func TestModbusPolling(t *testing.T) {
	python := testenv.PyModbus(t)
	addr := testenv.FreeAddr(t)
	state := filepath.Join(t.TempDir(), "polls")
	stopServer := sdm630Server(t, python, addr, state)

	logs := &testenv.SyncBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	// The polls' clock: a day in the past, so that every poll falls in
	// it whenever the test runs.
	day := time.Date(2026, 6, 15, 8, 0, 0, 0, time.UTC)
	t0 := time.Now()
	a := startLogged(t, "embedded", app.Options{Now: func() time.Time { return day.Add(time.Since(t0)) }}, log, func(c *config.Config) {
		c.Sensors["modbus-meter"] = &config.Sensor{Match: config.Match{Topic: "modbus/never"}}
		c.Modbus.Devices = []config.ModbusDevice{{Device: "sdm1", Name: "Main panel", Customer: "finemeca", Sensor: "modbus-meter",
			Address: addr, UnitID: 1, Interval: 100 * time.Millisecond, Backoff: 300 * time.Millisecond, Map: "sdm630"}}
	})
	device := func() store.Device {
		var devs []store.Device
		getJSON(t, a, "/api/v1/devices?sensor=modbus-meter", &devs)
		if len(devs) != 1 {
			return store.Device{}
		}
		return devs[0]
	}
	readings := func(least int64) {
		t.Helper()
		testenv.Eventually(t, 30*time.Second, 50*time.Millisecond, func() error {
			if d := device(); d.Readings < least {
				return fmt.Errorf("%d readings, waiting for %d", d.Readings, least)
			}
			return nil
		})
	}
	notAnswered := func() int { return strings.Count(logs.String(), "modbus poll not answered") }
	// stopped waits, once the server is stopped, until the poller has
	// failed after it (any poll begun before is forwarded), then until
	// ingest has stored every poll the gateway forwarded.
	stopped := func() int {
		t.Helper()
		before := notAnswered()
		stopServer()
		testenv.Eventually(t, 30*time.Second, 20*time.Millisecond, func() error {
			if notAnswered() <= before {
				return fmt.Errorf("the poller has not failed since the meter stopped")
			}
			return nil
		})
		forwarded := int64(testutil.ToFloat64(a.Metrics.Received.WithLabelValues(modbus.Source)))
		testenv.Eventually(t, 30*time.Second, 50*time.Millisecond, func() error {
			if d := device(); d.Readings != forwarded {
				return fmt.Errorf("%d readings stored of %d polls forwarded", d.Readings, forwarded)
			}
			return nil
		})
		return notAnswered()
	}

	readings(5)
	failedBefore := stopped()
	// The meter is away for at least three failed polls, then back.
	testenv.Eventually(t, 30*time.Second, 20*time.Millisecond, func() error {
		if notAnswered() < failedBefore+2 {
			return fmt.Errorf("%d polls not answered", notAnswered())
		}
		return nil
	})
	away := device()
	stopServer = sdm630Server(t, python, addr, state)
	readings(away.Readings + 5)
	failed := stopped()
	if !strings.Contains(logs.String(), "modbus device answers again") {
		t.Error("no log of the meter answering again")
	}

	d := device()
	t.Logf("%d readings, %d lost, last poll %d", d.Readings, d.Lost, d.MsgCount)
	from, to := "2026-06-14T22:00:00Z", "2026-06-15T22:00:00Z" // the day in Europe/Brussels
	points := func(field string) []store.Point {
		var s series.Series
		getJSON(t, a, "/api/v1/series?customer=finemeca&sensor=modbus-meter&device=sdm1&field="+field+"&from="+from+"&to="+to, &s)
		return s.Points
	}
	es := points("E")
	if int64(len(es)) != d.Readings || d.Readings < 10 {
		t.Fatalf("%d points of E, %d readings", len(es), d.Readings)
	}
	// Every value is the meter's at the poll E says it was (E = 1000 +
	// 0.5 n), float32 as the meter sends it, scaled as the map says.
	f32 := func(v float64) float64 { return float64(float32(v)) }
	want := map[string]func(n float64) float64{
		"U1":       func(n float64) float64 { return 230 + 0.5*math.Mod(n, 20) },
		"U3":       func(n float64) float64 { return 232 + 0.5*math.Mod(n, 20) },
		"I2":       func(n float64) float64 { return 11 + 0.25*math.Mod(n, 8) },
		"P1":       func(n float64) float64 { return f32(1000+n) * 0.001 },
		"P":        func(n float64) float64 { return f32(6000+3*n) * 0.001 },
		"PF":       func(n float64) float64 { return 0.5 + math.Mod(n, 4)/8 },
		"F":        func(n float64) float64 { return 50 + math.Mod(n, 2)/4 },
		"E_export": func(n float64) float64 { return 10 + 0.25*n },
		"E_total":  func(n float64) float64 { return 1010 + 0.75*n },
	}
	ns := map[int64]float64{}
	for i, p := range es {
		n := (p.Value - 1000) / 0.5
		if n != math.Trunc(n) || n < 1 || (i > 0 && p.Value <= es[i-1].Value) {
			t.Fatalf("E %v at %s is not one of the meter's, in order", p.Value, p.Time)
		}
		ns[p.Time.UnixMilli()] = n
	}
	for field, f := range want {
		ps := points(field)
		if len(ps) != len(es) {
			t.Errorf("%d points of %s, %d of E", len(ps), field, len(es))
		}
		for _, p := range ps {
			if n := ns[p.Time.UnixMilli()]; p.Value != f(n) {
				t.Errorf("%s at poll %v is %v, want %v", field, n, p.Value, f(n))
			}
		}
	}
	var latest reading.Reading
	getJSON(t, a, "/api/v1/latest?customer=finemeca&sensor=modbus-meter&device=sdm1", &latest)
	if latest.Units["U1"] != "V" || latest.Units["P"] != "kW" || latest.Units["E"] != "kWh" || latest.Gateway != addr || latest.Name != "Main panel" {
		t.Errorf("latest %+v: the map's units, the address as gateway, the device's name", latest)
	}

	// The counters' increase over the day: exact, E declared a counter by
	// the map alone.
	for field, per := range map[string]float64{"E": 0.5, "E_export": 0.25} {
		var s series.Series
		getJSON(t, a, "/api/v1/series?customer=finemeca&sensor=modbus-meter&device=sdm1&field="+field+"&step=1d&agg=increase&from="+from+"&to="+to, &s)
		first, last := ns[es[0].Time.UnixMilli()], ns[es[len(es)-1].Time.UnixMilli()]
		if len(s.Points) != 1 || s.Points[0].Value != per*(last-first) {
			t.Errorf("daily increase of %s %+v, want %v", field, s.Points, per*(last-first))
		}
	}

	// Lost polls: the gaps in the poll count, at least the polls that
	// failed while the meter was away; every poll counted from the first
	// is stored or lost, and none is a restart.
	if d.Lost < int64(failed-failedBefore) || d.Readings+d.Lost != d.MsgCount {
		t.Errorf("device %+v: %d polls failed while the meter was away; every poll from 1 is stored or lost", d, failed-failedBefore)
	}
	var lost int64
	for _, p := range points("_lost") {
		lost += int64(p.Value)
	}
	if lost != d.Lost || len(points("_restart")) != 0 {
		t.Errorf("_lost sums to %d, device lost %d; restarts %v", lost, d.Lost, points("_restart"))
	}
}
