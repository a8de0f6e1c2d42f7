package web

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/sensorhub/sensorhub/internal/config"
	"github.com/sensorhub/sensorhub/internal/plan"
	"github.com/sensorhub/sensorhub/internal/reading"
	"github.com/sensorhub/sensorhub/internal/store"
	"github.com/sensorhub/sensorhub/internal/store/sqlite"
	"github.com/sensorhub/sensorhub/internal/store/sqlstore"
)

// BenchmarkFleetPages measures the overview and /api/v1/latest with 100,
// 10,000 and 50,000 devices in a SQLite store: what one page costs should
// not grow with the fleet. Compare the ns/op of each size.
func BenchmarkFleetPages(b *testing.B) {
	for _, n := range []int{100, 10000, 50000} {
		h := fleetServer(b, n)
		one := func(b *testing.B, path string) {
			req := httptest.NewRequest("GET", "http://localhost"+path, nil)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != http.StatusOK {
				b.Fatalf("GET %s: HTTP %d %.200s", path, rec.Code, rec.Body.String())
			}
		}
		// A page shown once before: the templates parsed, the summary's
		// counts worked out (they are kept for LeakFresh), as every page
		// but one in LeakFresh finds them.
		get := func(b *testing.B, path string) {
			one(b, path)
			for b.Loop() {
				one(b, path)
			}
		}
		b.Run(fmt.Sprintf("overview/devices=%d", n), func(b *testing.B) { get(b, "/") })
		b.Run(fmt.Sprintf("overview-search/devices=%d", n), func(b *testing.B) { get(b, "/?q=line-0042") })
		b.Run(fmt.Sprintf("latest/devices=%d", n), func(b *testing.B) {
			get(b, "/api/v1/latest?customer=finemeca&sensor=air&device=d0042")
		})
	}
}

// fleetServer is a server without users over a SQLite store holding n air
// devices, written in batches of 5,000 readings.
func fleetServer(b *testing.B, n int) http.Handler {
	b.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "s.db"), sqlstore.Options{Location: time.UTC})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	now := time.Now().UTC()
	var batch []reading.Reading
	for i := range n {
		batch = append(batch, reading.Reading{Customer: "finemeca", Sensor: "air", Device: fmt.Sprintf("d%04d", i), Name: fmt.Sprintf("line-%04d", i),
			Gateway: "gw-7", Time: now, Received: now.Add(-time.Duration(i%20) * time.Minute), MsgCount: 1,
			Fields: map[string]float64{"Pres": 6.5, "OpenPres": 6, "leak": float64(i % 7 / 6)}, Units: map[string]string{"Pres": "bar", "OpenPres": "bar"}})
		if len(batch) == 5000 || i == n-1 {
			if _, err := st.Write(ctx, store.Batch{Readings: batch}); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	cfg := config.Default()
	s := &Server{Store: st, Location: time.UTC, Plan: plan.NewLive(plan.MustCompile(cfg)), Log: slog.New(slog.DiscardHandler)}
	return s.Handler()
}
