package web

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
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
		// counts worked out (they are kept for SummaryFresh), as every page
		// but one in SummaryFresh finds them.
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
	st := benchStore(b)
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

// BenchmarkOverviewEnergy measures the overview's energy cards with 100
// and with 10,000 power meters of one customer, read every 15 minutes for
// a day and a half (folded into chunks, the newest reading of each still
// a recent row, as in a running store): computing the figures, which the
// overview does at most once a minute per customer, and the overview
// page, which shows the figures computed last.
func BenchmarkOverviewEnergy(b *testing.B) {
	for _, n := range []int{100, 10000} {
		st, cfg := meterFleet(b, n)
		now := func() time.Time { return meterFleetNow }
		b.Run(fmt.Sprintf("compute/meters=%d", n), func(b *testing.B) {
			for b.Loop() {
				fig, err := energyOf(context.Background(), st, cfg, "finemeca", time.UTC, meterFleetNow, &priorPoints{})
				if err != nil || !fig.Yesterday.Known || math.Abs(fig.Yesterday.KWh-float64(n)*48) > 1e-3*float64(n) {
					b.Fatalf("%+v, %v; want %d kWh yesterday", fig, err, n*48)
				}
			}
		})
		s := &Server{Store: st, Location: time.UTC, Plan: plan.NewLive(plan.MustCompile(cfg)), Log: slog.New(slog.DiscardHandler), Now: now}
		h := s.Handler()
		// The first page computes the figures; the others show them.
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "http://localhost/", nil))
		b.Run(fmt.Sprintf("overview/meters=%d", n), func(b *testing.B) {
			for b.Loop() {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, httptest.NewRequest("GET", "http://localhost/", nil))
				if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "card-energy-today") {
					b.Fatalf("GET /: HTTP %d %.200s", rec.Code, rec.Body.String())
				}
			}
		})
	}
}

// benchStore is an empty SQLite store in UTC.
func benchStore(b *testing.B) *sqlstore.Store {
	b.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "s.db"), sqlstore.Options{Location: time.UTC})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	return st
}

// meterFleetNow is the clock of meterFleet: a Wednesday at noon.
var meterFleetNow = time.Date(2026, 5, 6, 12, 0, 0, 0, time.UTC)

// meterFleet is a SQLite store holding n power meters of finemeca at
// 2 kW, read every quarter from 23:45 the day before yesterday until
// meterFleetNow, and the configuration with the demo's prices.
func meterFleet(b *testing.B, n int) (*sqlstore.Store, *config.Config) {
	b.Helper()
	ctx := context.Background()
	st := benchStore(b)
	from := time.Date(2026, 5, 4, 23, 45, 0, 0, time.UTC)
	var batch []reading.Reading
	write := func(flush bool) {
		if len(batch) >= 20000 || flush && len(batch) > 0 {
			if _, err := st.Write(ctx, store.Batch{Readings: batch}); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	for i := range n {
		for j, at := 0, from; at.Before(meterFleetNow); j, at = j+1, at.Add(15*time.Minute) {
			batch = append(batch, reading.Reading{Customer: "finemeca", Sensor: "centrale", Device: fmt.Sprintf("m%05d", i), Gateway: "gw-1",
				Time: at, Received: at, MsgCount: int64(j + 1), Fields: map[string]float64{"E": 1000 + float64(j)/2}, Units: map[string]string{"E": "kWh"}})
			write(false)
		}
	}
	write(true)
	if err := st.Compact(ctx); err != nil {
		b.Fatal(err)
	}
	// The newest reading, not yet folded.
	steps := int(meterFleetNow.Sub(from) / (15 * time.Minute))
	for i := range n {
		batch = append(batch, reading.Reading{Customer: "finemeca", Sensor: "centrale", Device: fmt.Sprintf("m%05d", i), Gateway: "gw-1",
			Time: meterFleetNow, Received: meterFleetNow, MsgCount: int64(steps + 1), Fields: map[string]float64{"E": 1000 + float64(steps)/2}, Units: map[string]string{"E": "kWh"}})
		write(false)
	}
	write(true)
	cfg := config.Default()
	cfg.Money = config.DemoMoney()
	if err := cfg.Validate(nil); err != nil {
		b.Fatal(err)
	}
	return st, cfg
}
