package storetest

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/sensorhub/sensorhub/internal/reading"
	"github.com/sensorhub/sensorhub/internal/store"
	"github.com/sensorhub/sensorhub/internal/store/series"
)

// Compacted is a store that can fold what it has written into its
// compacted form, as a clean stop does.
type Compacted interface {
	store.Store
	Compactor
}

// BenchQueries times the queries of the pages against open's store, its
// readings compacted: a 30-day chart of a device reporting every 30 s
// (86,400 readings) with the step chosen for the chart, by day, and every
// point; and a year of a meter's energy by day (agg=increase). Asked again,
// as a page that refreshes asks, a store may answer from what it kept of
// the first time; the "cold" cases ask a store just opened on the same
// database (reopen), as the first page after a start does.
func BenchQueries(b *testing.B, open func(b *testing.B) (s Compacted, reopen func() store.Store)) {
	s, reopen := open(b)
	ctx := context.Background()
	k := LoadDays(b, s, 30, 30*time.Second)
	meter := loadCounter(b, s, 365, 10*time.Minute)
	if err := s.Compact(ctx); err != nil {
		b.Fatal(err)
	}
	to := time.Now()
	from := to.Add(-30 * 24 * time.Hour)
	day, _ := series.ParseStep("1d")
	for _, c := range []struct {
		name string
		q    series.Query
		min  int
	}{
		{"30DaysAt30s/auto", series.Query{DeviceKey: k, Field: "Temp", From: from, To: to, Step: series.AutoStep(from, to), Agg: "avg"}, 300},
		{"30DaysAt30s/days", series.Query{DeviceKey: k, Field: "Temp", From: from, To: to, Step: day, Agg: "avg"}, 30},
		{"30DaysAt30s/points", series.Query{DeviceKey: k, Field: "Temp", From: from, To: to}, 86000},
		{"YearByDay/increase", series.Query{DeviceKey: meter, Field: "E", From: to.Add(-365 * 24 * time.Hour), To: to, Step: day, Agg: "increase"}, 360},
	} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				out, err := series.Read(ctx, s, c.q, Location)
				if err != nil || len(out.Points) < c.min {
					b.Fatalf("%d points, %v", len(out.Points), err)
				}
			}
		})
		b.Run(c.name+"/cold", func(b *testing.B) {
			for range b.N {
				b.StopTimer()
				fresh := reopen()
				b.StartTimer()
				out, err := series.Read(ctx, fresh, c.q, Location)
				if err != nil || len(out.Points) < c.min {
					b.Fatalf("%d points, %v", len(out.Points), err)
				}
				b.StopTimer()
				fresh.Close()
				b.StartTimer()
			}
		})
	}
}

// loadCounter writes days of a power meter's readings every interval up
// to now, its energy counter E growing, and returns its key.
func loadCounter(tb testing.TB, s store.Store, days int, interval time.Duration) store.DeviceKey {
	tb.Helper()
	base := Payloads(tb, "centrale.jsonl")[0]
	base.Device = "year-meter"
	return loadEvery(tb, s, base, days, interval, func(n int, _ time.Time) map[string]float64 {
		return map[string]float64{"E": 1000 + float64(n)*0.5, "P": 11 + float64(n%7)/10}
	})
}

// BenchWriteBatch writes batches of 500 devicev01 readings (3 fields
// each) of 100 devices to s; ns/op is per reading.
func BenchWriteBatch(b *testing.B, s store.Writer) {
	tmpl := Payloads(b, "devicev01.jsonl")[3]
	const batch = 500
	rs := make([]reading.Reading, batch)
	b.ResetTimer()
	for i := 0; i < b.N; i += batch {
		for j := range rs {
			r := tmpl
			n := i + j
			r.Device = strconv.Itoa(n % 100)
			r.Time = tmpl.Time.Add(time.Duration(n) * time.Second)
			r.MsgCount = int64(n)
			rs[j] = r
		}
		if _, err := s.Write(context.Background(), store.Batch{Readings: rs}); err != nil {
			b.Fatal(err)
		}
	}
}
