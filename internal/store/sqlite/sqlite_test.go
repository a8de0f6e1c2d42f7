package sqlite_test

import (
	"context"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/sensorhub/sensorhub/internal/reading"
	"github.com/sensorhub/sensorhub/internal/store"
	"github.com/sensorhub/sensorhub/internal/store/sqlite"
	"github.com/sensorhub/sensorhub/internal/store/sqlstore"
	"github.com/sensorhub/sensorhub/internal/store/storetest"
)

func open(t *testing.T, loc *time.Location) store.Store {
	s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "sensorhub.db"), sqlstore.Options{Location: loc})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) { storetest.Run(t, open) }

func TestTwoStoresOnOneFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sensorhub.db")
	var two []store.Store
	for range 2 {
		s, err := sqlite.Open(context.Background(), path, sqlstore.Options{Location: storetest.Location})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		two = append(two, s)
	}
	storetest.TwoStores(t, two[0], two[1])
}

func TestReopenKeepsData(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sensorhub.db")
	s, err := sqlite.Open(context.Background(), path, sqlstore.Options{Location: storetest.Location, Compact: true})
	if err != nil {
		t.Fatal(err)
	}
	rs := storetest.Payloads(t, "air.jsonl")
	if _, err := s.Write(context.Background(), store.Batch{Readings: rs}); err != nil {
		t.Fatal(err)
	}
	s.Close() // folds the recent readings into chunks
	s, err = sqlite.Open(context.Background(), path, sqlstore.Options{Location: storetest.Location})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	res, err := s.Write(context.Background(), store.Batch{Readings: rs})
	if err != nil {
		t.Fatal(err)
	}
	if res.Duplicates != 4 || res.Stored != 0 {
		t.Fatalf("rewrite after reopen: %+v, want 4 duplicates", res)
	}
}

// BenchmarkWriteBatch writes batches of 500 devicev01 readings (3 fields
// each); ns/op is per reading.
func BenchmarkWriteBatch(b *testing.B) {
	s, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "sensorhub.db"), sqlstore.Options{Location: storetest.Location, Compact: true})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	tmpl := storetest.Payloads(b, "devicev01.jsonl")[3]
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

// BenchmarkSeries30Days is a 30-day chart of one device reporting every
// 30 s (86,400 readings): step chosen automatically (2h), one bucket a
// day from the chunks' summaries, and every point.
func BenchmarkSeries30Days(b *testing.B) {
	s, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "sensorhub.db"), sqlstore.Options{Location: storetest.Location})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	k := storetest.LoadDays(b, s, 30, 30*time.Second)
	if err := s.Compact(context.Background()); err != nil {
		b.Fatal(err)
	}
	to := time.Now()
	from := to.Add(-30 * 24 * time.Hour)
	day, _ := store.ParseStep("1d")
	for _, c := range []struct {
		name string
		q    store.SeriesQuery
		min  int
	}{
		{"auto", store.SeriesQuery{DeviceKey: k, Field: "Temp", From: from, To: to, Step: store.AutoStep(from, to), Agg: "avg"}, 300},
		{"days", store.SeriesQuery{DeviceKey: k, Field: "Temp", From: from, To: to, Step: day, Agg: "avg"}, 30},
		{"points", store.SeriesQuery{DeviceKey: k, Field: "Temp", From: from, To: to}, 86000},
	} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				out, err := store.QuerySeries(context.Background(), s, c.q, storetest.Location)
				if err != nil || len(out.Points) < c.min {
					b.Fatalf("%d points, %v", len(out.Points), err)
				}
			}
		})
	}
}
