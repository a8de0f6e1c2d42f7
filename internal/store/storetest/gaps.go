package storetest

import (
	"math"
	"testing"
	"time"

	"github.com/sensorhub/sensorhub/internal/reading"
	"github.com/sensorhub/sensorhub/internal/store"
	"github.com/sensorhub/sensorhub/internal/store/series"
)

// testGapSpread: a meter at a steady 2 kW read every 15 minutes, silent
// from Tuesday 20:00 to Thursday 04:00. The energy the counter gained
// across the silence is spread over it by time, and said to be an
// estimate: every day of the week gets 48 kWh (2 kW x 24 h), of which
// Tuesday's last 4 hours (8 kWh), all of Wednesday and Thursday's first 4
// hours are estimated; every hour of Wednesday 2 kWh. The same from the
// readings, and from the hourly and daily aggregates once retention
// removed them.
func testGapSpread(t *testing.T, s store.Store) {
	base := Payloads(t, "centrale.jsonl")[0]
	monday := time.Date(2025, 3, 3, 0, 0, 0, 0, loc)
	silentFrom, silentTo := monday.Add(44*time.Hour), monday.Add(76*time.Hour) // Tuesday 20:00, Thursday 04:00
	var rs []reading.Reading
	for i := range 7*96 + 1 {
		at := monday.Add(time.Duration(i) * 15 * time.Minute)
		if at.After(silentFrom) && at.Before(silentTo) {
			continue
		}
		r := base
		r.Time, r.Received, r.MsgCount = at, at, int64(i)
		r.Fields = map[string]float64{"E": 1000 + 0.5*float64(i)}
		rs = append(rs, r)
	}
	write(t, s, store.Batch{Readings: rs})
	week := series.Query{DeviceKey: key(base), Field: "E", Agg: "increase", Step: series.Step{Days: 1}, From: monday, To: monday.AddDate(0, 0, 7)}
	wednesday := series.Query{DeviceKey: key(base), Field: "E", Agg: "increase", Step: series.Step{Dur: time.Hour}, From: monday.AddDate(0, 0, 2), To: monday.AddDate(0, 0, 3)}
	check := func(what string) {
		t.Helper()
		got, err := series.Read(ctx(t), s, week, loc)
		if err != nil {
			t.Fatal(err)
		}
		days := []float64{48, 48, 48, 48, 48, 48, 48}
		estimated := map[time.Time]float64{monday.AddDate(0, 0, 1): 8, monday.AddDate(0, 0, 2): 48, monday.AddDate(0, 0, 3): 8}
		checkSeries(t, what+", days", got, days, monday, func(t time.Time) time.Time { return t.AddDate(0, 0, 1) }, estimated)
		got, err = series.Read(ctx(t), s, wednesday, loc)
		if err != nil {
			t.Fatal(err)
		}
		hours, estimated := make([]float64, 24), map[time.Time]float64{}
		for h := range hours {
			hours[h] = 2
			estimated[wednesday.From.Add(time.Duration(h)*time.Hour)] = 2
		}
		checkSeries(t, what+", Wednesday's hours", got, hours, wednesday.From, func(t time.Time) time.Time { return t.Add(time.Hour) }, estimated)
	}
	check("from the readings")
	if _, err := s.ApplyRetention(ctx(t), store.Retention{Ages: func(_, _ string) store.Ages { return store.Ages{Raw: 5 * 24 * time.Hour} }},
		monday.AddDate(0, 0, 15)); err != nil {
		t.Fatal(err)
	}
	if kept, err := s.Kept(ctx(t), key(base)); err != nil || !kept.Raw.After(week.To) {
		t.Fatalf("kept %+v %v: want the week's readings removed", kept, err)
	}
	check("from the aggregates")
}

// checkSeries compares a series with one value a bucket from start, next
// giving each bucket's successor, and the estimated part of the buckets
// that hold one.
func checkSeries(t *testing.T, what string, got series.Series, want []float64, start time.Time, next func(time.Time) time.Time, estimated map[time.Time]float64) {
	t.Helper()
	if len(got.Points) != len(want) {
		t.Fatalf("%s: %v, want %v", what, got.Points, want)
	}
	for i, at := 0, start; i < len(want); i, at = i+1, next(at) {
		if p := got.Points[i]; !p.Time.Equal(at) || math.Abs(p.Value-want[i]) > 1e-9 {
			t.Errorf("%s: bucket %d is %s %v, want %s %v", what, i, p.Time.In(loc), p.Value, at, want[i])
		}
	}
	if len(got.Estimated) != len(estimated) {
		t.Errorf("%s: estimated %v, want %d buckets", what, got.Estimated, len(estimated))
	}
	for _, e := range got.Estimated {
		if w, ok := estimated[e.Time]; !ok || math.Abs(e.Value-w) > 1e-9 {
			t.Errorf("%s: %s has %v estimated, want %v", what, e.Time.In(loc), e.Value, w)
		}
	}
}
