package storetest

import (
	"testing"
	"time"

	"github.com/sensorhub/sensorhub/internal/reading"
	"github.com/sensorhub/sensorhub/internal/store"
	"github.com/sensorhub/sensorhub/internal/store/series"
)

// testCounterJitter: a meter read every hour for four days, 1 kWh an
// hour, steps back by 0.5 kWh at the second midnight (jitter) and
// restarts from zero on the third day at 12:00, written out of order and
// in part twice. Each day's increase is the same from the readings, from
// the days' summaries and from the aggregates retention leaves: the
// highest value stays the baseline across midnight, and the restart
// counts from zero.
func testCounterJitter(t *testing.T, s store.Store) {
	base := Payloads(t, "centrale.jsonl")[0]
	start := time.Date(2025, 3, 3, 0, 0, 0, 0, loc)
	var rs []reading.Reading
	for i := range 4 * 24 {
		e := 1000 + float64(i)
		switch {
		case i == 24:
			e = 1000 + 23 - 0.5
		case i >= 60:
			e = 0.5 + float64(i-60)
		}
		r := base
		r.Time, r.Received, r.MsgCount = start.Add(time.Duration(i)*time.Hour), start, int64(i)
		r.Fields = map[string]float64{"E": e}
		rs = append(rs, r)
	}
	write(t, s, store.Batch{Readings: rs[40:]})
	write(t, s, store.Batch{Readings: rs[:60]})
	// A reading at midnight closes the day before. Day 1: 23 hours, and
	// the step back at midnight adds nothing. Day 2: 01:00 the 2 kWh since
	// 23:00, then 23 up to midnight. Day 3: 11, the restart's 0.5, then
	// 12. Day 4: 23 up to its last reading at 23:00.
	want := []float64{23, 25, 23.5, 23}
	q := series.Query{DeviceKey: key(base), Field: "E", Agg: "increase", Step: series.Step{Days: 1}, From: start, To: start.AddDate(0, 0, 4)}
	check := func(what string, got series.Series, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		if len(got.Points) != len(want) {
			t.Fatalf("%s: %v, want %v", what, got.Points, want)
		}
		for i, p := range got.Points {
			if p.Value != want[i] {
				t.Errorf("%s: day %d increased %v, want %v", what, i+1, p.Value, want[i])
			}
		}
	}
	got, err := series.ReadRaw(ctx(t), s, q, loc)
	check("readings", got, err)
	got, err = series.Read(ctx(t), s, q, loc)
	check("summaries", got, err)
	if _, err := s.ApplyRetention(ctx(t), store.Retention{Ages: func(_, _ string) store.Ages { return store.Ages{Raw: 48 * time.Hour} }},
		start.AddDate(0, 0, 5)); err != nil {
		t.Fatal(err)
	}
	got, err = series.Read(ctx(t), s, q, loc)
	check("aggregates", got, err)
	if got.Resolution == series.ResolutionRaw {
		t.Errorf("after retention, the days came from the readings")
	}
}
