package alert_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/sensorhub/sensorhub/internal/alert"
	"github.com/sensorhub/sensorhub/internal/reading"
	"github.com/sensorhub/sensorhub/internal/store"
	"github.com/sensorhub/sensorhub/internal/store/sqlite"
	"github.com/sensorhub/sensorhub/internal/store/sqlstore"
)

// newEngine runs rules on a real SQLite store, without the queue: the test
// hands it readings and ticks, and saves what it returns.
func newEngine(tb testing.TB, specs ...alert.RuleSpec) (*alert.Engine, store.Store) {
	tb.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(tb.TempDir(), "s.db"), sqlstore.Options{Location: time.UTC})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	e := &alert.Engine{Rules: rules(tb, specs...), Store: st, Always: []string{"queue"},
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if err := e.Load(context.Background()); err != nil {
		tb.Fatal(err)
	}
	return e, st
}

func air(t time.Time, pres float64) reading.Reading {
	return reading.Reading{Customer: "finemeca", Sensor: "air", Device: "201", Name: "air-line-1", Time: t, Received: t,
		Fields: map[string]float64{"Pres": pres, "OpenPres": 6}, Units: map[string]string{"Pres": "bar", "OpenPres": "bar"}}
}

// feed processes each reading alone, saves the changes, and counts the
// notifications they ask for by kind.
func feed(t *testing.T, e *alert.Engine, rs ...reading.Reading) map[string]int {
	t.Helper()
	kinds := map[string]int{}
	for _, r := range rs {
		changes := e.Process(context.Background(), []reading.Reading{r})
		if err := e.Save(context.Background(), changes); err != nil {
			t.Fatal(err)
		}
		for _, c := range changes {
			for _, n := range c.Notify {
				kinds[n.Kind]++
			}
		}
	}
	return kinds
}

// TestFlappingWithHysteresis: pressure oscillating around the opening pressure on every
// reading makes a storm without hysteresis, and with it one firing and,
// once the pressure is truly back, one resolved notification.
func TestFlappingWithHysteresis(t *testing.T) {
	var rs []reading.Reading
	for i := range 40 {
		p := 5.98
		if i%2 == 1 {
			p = 6.02
		}
		rs = append(rs, air(t0.Add(time.Duration(i)*30*time.Second), p))
	}
	rs = append(rs, air(t0.Add(41*30*time.Second), 6.4))

	storm, _ := newEngine(t, alert.RuleSpec{Name: "air-leak", Sensor: "air", When: "Pres < OpenPres", Severity: "critical"})
	if got := feed(t, storm, rs...); got["firing"] < 10 {
		t.Fatalf("without hysteresis %v: the oscillation should fire again and again", got)
	}

	e, st := newEngine(t, alert.RuleSpec{Name: "air-leak", Sensor: "air", When: "Pres < OpenPres", ClearWhen: "Pres >= OpenPres + 0.05", Severity: "critical"})
	got := feed(t, e, rs...)
	if got["firing"] != 1 || got["resolved"] != 1 || got["repeat"] != 0 {
		t.Fatalf("with hysteresis %v, want one firing and one resolved", got)
	}
	all, _ := st.Alerts(context.Background(), store.AlertFilter{})
	if len(all) != 1 || all[0].State != "resolved" {
		t.Fatalf("alerts %+v, want one resolved", all)
	}
}

// TestSilence: device-silent fires at the first evaluation at or after
// no_data_for without data, so within no_data_for plus one interval, and
// resolves when the device sends again.
func TestSilence(t *testing.T) {
	e, st := newEngine(t, alert.RuleSpec{Name: "device-silent", Sensor: "*", NoDataFor: time.Minute, Severity: "warning"})
	ctx := context.Background()
	feed(t, e, air(t0, 6.4))
	if c := e.Tick(ctx, t0.Add(time.Minute-time.Millisecond)); len(c) != 0 {
		t.Fatalf("fired before a minute of silence: %+v", c)
	}
	c := e.Tick(ctx, t0.Add(time.Minute))
	if len(c) != 1 || c[0].Open == nil || len(c[0].Notify) != 1 {
		t.Fatalf("after a minute of silence: %+v, want one alert opened and notified", c)
	}
	if err := e.Save(ctx, c); err != nil {
		t.Fatal(err)
	}
	if c := e.Tick(ctx, t0.Add(time.Hour)); len(c) != 0 {
		t.Fatalf("a firing silence fired again: %+v", c)
	}
	got := feed(t, e, air(t0.Add(2*time.Hour), 6.4))
	if got["resolved"] != 1 {
		t.Fatalf("the device sent again: %v, want one resolved", got)
	}
	all, _ := st.Alerts(ctx, store.AlertFilter{State: "resolved"})
	if len(all) != 1 || !all[0].Started.Equal(t0.Add(time.Minute)) {
		t.Fatalf("alerts %+v", all)
	}
}

// TestLateReadingsDoNotFlipState: a reading older than the one that fired
// the alert does not resolve it, whatever it says.
func TestLateReadingsDoNotFlipState(t *testing.T) {
	e, _ := newEngine(t, alert.RuleSpec{Name: "air-leak", Sensor: "air", When: "Pres < OpenPres", Severity: "critical"})
	got := feed(t, e, air(t0.Add(time.Minute), 5.5))
	if got["firing"] != 1 {
		t.Fatalf("%v, want firing", got)
	}
	if got := feed(t, e, air(t0, 6.5)); len(got) != 0 {
		t.Fatalf("a late reading changed the alert: %v", got)
	}
}

// TestLossRatioOverTheLastHour: message-loss sees the device's loss ratio
// over the last hour, from the gaps stored with the readings before.
func TestLossRatioOverTheLastHour(t *testing.T) {
	e, st := newEngine(t, alert.RuleSpec{Name: "message-loss", Sensor: "*", When: "_loss_ratio > 0.1", ClearWhen: "_loss_ratio < 0.05", Severity: "warning"})
	ctx := context.Background()
	// 10 readings in the store, 2 of them after a lost message: 2/12.
	var stored []reading.Reading
	for i := range 10 {
		r := air(t0.Add(time.Duration(i)*5*time.Minute), 6.4)
		r.MsgCount = int64(i)
		r.Fields[reading.FieldLost] = 0
		if i == 3 || i == 7 {
			r.Fields[reading.FieldLost] = 1
		}
		stored = append(stored, r)
	}
	if _, err := st.Write(ctx, store.Batch{Readings: stored}); err != nil {
		t.Fatal(err)
	}
	next := air(t0.Add(50*time.Minute), 6.4)
	next.MsgCount, next.Fields[reading.FieldLost] = 10, 0
	got := feed(t, e, next)
	if got["firing"] != 1 {
		t.Fatalf("%v: 2 lost of 13 in the hour should fire", got)
	}
	all, _ := st.Alerts(ctx, store.AlertFilter{})
	if r := all[0].Values[alert.FieldLossRatio]; r < 2.0/13-1e-9 || r > 2.0/13+1e-9 {
		t.Errorf("loss ratio %v, want 2/13", r)
	}
	// Two hours later with no loss, the window holds no lost message.
	later := air(t0.Add(3*time.Hour), 6.4)
	later.MsgCount, later.Fields[reading.FieldLost] = 11, 0
	if got := feed(t, e, later); got["resolved"] != 1 {
		t.Fatalf("%v: no loss in the last hour should resolve", got)
	}
}

// BenchmarkEvaluate measures rule evaluation per reading, 10 and 100
// rules on the reading's kind, none of them changing state: the cost every
// reading pays. The raw baseline is 0 rules (decoding the loop's reading).
func BenchmarkEvaluate(b *testing.B) {
	for _, n := range []int{0, 10, 100} {
		b.Run(fmt.Sprintf("rules=%d", n), func(b *testing.B) {
			specs := []alert.RuleSpec{}
			for i := range n {
				specs = append(specs, alert.RuleSpec{Name: fmt.Sprintf("low-%d", i), Sensor: "air",
					When: fmt.Sprintf("Pres < OpenPres - %d * 0.01", i), For: time.Minute, Severity: "warning"})
			}
			e, _ := newEngine(b, specs...)
			rs := make([]reading.Reading, 100)
			for i := range rs {
				rs[i] = air(t0.Add(time.Duration(i)*time.Second), 6.4)
				rs[i].Device = fmt.Sprint(i)
			}
			ctx := context.Background()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				r := rs[i%len(rs)]
				r.Time = r.Time.Add(time.Duration(i) * time.Millisecond)
				if c := e.Process(ctx, []reading.Reading{r}); len(c) != 0 {
					b.Fatalf("a reading above the opening pressure changed state: %+v", c)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/reading")
		})
	}
}

// TestRemovedDeviceIsNotSilent: a device removed from the store (sensorhub
// device rm) is forgotten at the next tick: it is not alerted as silent,
// while a device that went silent is.
func TestRemovedDeviceIsNotSilent(t *testing.T) {
	e, st := newEngine(t, alert.RuleSpec{Name: "device-silent", Sensor: "*", NoDataFor: time.Minute, Severity: "warning"})
	ctx := context.Background()
	gone, silent := air(t0, 6.4), air(t0, 6.4)
	gone.Device = "299"
	if _, err := st.Write(ctx, store.Batch{Readings: []reading.Reading{gone, silent}}); err != nil {
		t.Fatal(err)
	}
	if err := e.Load(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := st.RemoveDevice(ctx, store.DeviceKey{Customer: gone.Customer, Sensor: gone.Sensor, Device: gone.Device}); err != nil {
		t.Fatal(err)
	}
	c := e.Tick(ctx, t0.Add(2*time.Minute))
	if len(c) != 1 || c[0].State.Device != silent.Device || c[0].Open == nil {
		t.Fatalf("two minutes on: %+v, want the silent device alerted, not the removed one", c)
	}
}
