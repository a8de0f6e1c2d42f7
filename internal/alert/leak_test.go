package alert_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"math"
	"path/filepath"
	"testing"
	"time"

	"github.com/sensorhub/sensorhub/internal/alert"
	"github.com/sensorhub/sensorhub/internal/alert/notify"
	"github.com/sensorhub/sensorhub/internal/leak"
	"github.com/sensorhub/sensorhub/internal/reading"
	"github.com/sensorhub/sensorhub/internal/store"
	"github.com/sensorhub/sensorhub/internal/store/sqlite"
	"github.com/sensorhub/sensorhub/internal/store/sqlstore"
)

// TestLeakAlertByFlow: line 201 is below its opening pressure from its
// first reading, 10 minutes before Monday 08:00 in Brussels, so the
// pressure decay measures nothing. Its flow meter read 6 m3/h = 100 Nl/min
// in every non-production hour of the week before (60 m3/h in working
// hours): the alert, firing at 08:02 after 2 minutes, counts 100 Nl/min
// over the 12 minutes below the opening pressure: 1.2 Nm3, 0.024 at 0.02
// per Nm3, 2.88 a day and 1051.2 a year if it goes on. Measured by decay
// alone, the same alert says not measurable.
func TestLeakAlertByFlow(t *testing.T) {
	ctx := context.Background()
	loc, _ := time.LoadLocation("Europe/Brussels")
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "s.db"), sqlstore.Options{Location: loc})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	start := time.Date(2022, 5, 2, 8, 0, 0, 0, loc)
	var rs []reading.Reading
	n := 0
	put := func(at time.Time, fields map[string]float64) {
		n++
		rs = append(rs, reading.Reading{Customer: "finemeca", Sensor: "air", Device: "201", Time: at, Received: at, MsgCount: int64(n), Fields: fields})
	}
	for at := start.Add(-7 * 24 * time.Hour); at.Before(start.Add(-10 * time.Minute)); at = at.Add(time.Hour) {
		flow := 6.0
		if h := at.Hour(); at.Weekday() != time.Saturday && at.Weekday() != time.Sunday && h >= 7 && h < 18 {
			flow = 60
		}
		put(at, map[string]float64{"Flow": flow})
	}
	for _, m := range []int{-10, 0, 2} {
		put(start.Add(time.Duration(m)*time.Minute), map[string]float64{"Pres": 5.5, "OpenPres": 6})
	}
	if _, err := st.Write(ctx, store.Batch{Readings: rs}); err != nil {
		t.Fatal(err)
	}
	for _, method := range []string{"auto", "decay"} {
		rs := rules(t, alert.RuleSpec{Name: "air-leak", Sensor: "air", When: "Pres < OpenPres", For: 2 * time.Minute, Severity: "critical"})
		params := rs[0].Leak.Params
		rs[0].Leak.Params = func(customer, device string) leak.Params {
			p := params(customer, device)
			p.Method = method
			return p
		}
		v := &alert.Evaluator{Rules: rs, Always: []string{"ops"}, History: st, Location: loc,
			Now: func() time.Time { return start.Add(2 * time.Minute) }, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
		if _, err := v.Restore(nil, nil); err != nil {
			t.Fatal(err)
		}
		var ev notify.Event
		for _, m := range []int{0, 2} {
			p := reading.Reading{Customer: "finemeca", Sensor: "air", Device: "201", Time: start.Add(time.Duration(m) * time.Minute),
				Fields: map[string]float64{"Pres": 5.5, "OpenPres": 6}}
			for _, c := range v.Process(ctx, []reading.Reading{p}) {
				for _, nt := range c.Notify {
					if err := json.Unmarshal(nt.Event, &ev); err != nil {
						t.Fatal(err)
					}
				}
			}
		}
		l := ev.Leak
		if l == nil {
			t.Fatalf("%s: no leak figures in %+v", method, ev)
		}
		near := func(v *float64, want float64) bool { return v != nil && math.Abs(*v-want) < 1e-9 }
		switch method {
		case "auto":
			if l.Method != leak.Flow || l.Seconds != 720 || !near(l.FlowNlMin, 100) || !near(l.LostNm3, 1.2) || !near(l.Cost, 0.024) ||
				!near(l.CostPerDay, 2.88) || !near(l.CostPerYear, 1051.2) || l.IdleReadings == 0 || l.IdleDays != 7 {
				t.Errorf("auto: %+v, want by flow: 720 s, 100 Nl/min, 1.2 Nm3, 0.024, 2.88 a day, 1051.2 a year", *l)
			}
		case "decay":
			if l.Method != leak.Decay || l.LostNm3 != nil || l.Cost != nil || l.CostPerYear != nil || l.Reason != leak.HeldBelow {
				t.Errorf("decay: %+v, want not measurable: %q", *l, leak.HeldBelow)
			}
		}
	}
}
