package app_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/sensorhub/sensorhub/internal/app"
	"github.com/sensorhub/sensorhub/internal/reading"
	"github.com/sensorhub/sensorhub/internal/store"
)

// TestCleanStopOf40000Devices: a clean stop with readings of 40,000
// devices not yet folded into chunks folds what it has time for and
// leaves the rest stored; after the next start every reading is there
// once, and folding it then changes nothing. The stop's time is logged,
// not judged.
func TestCleanStopOf40000Devices(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 40,000 devices")
	}
	const devices, each = 40000, 3
	a := start(t, "embedded", app.Options{}, nil)
	ctx := context.Background()
	at := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
	var batch []reading.Reading
	for d := range devices {
		for i := range each {
			batch = append(batch, reading.Reading{Customer: "finemeca", Sensor: "devicev01", Device: fmt.Sprintf("s%05d", d),
				Time: at.Add(time.Duration(i) * time.Minute), Received: at, MsgCount: int64(i + 1),
				Fields: map[string]float64{"Temp": float64(d % 30), "Hum": 50}})
		}
		if len(batch) >= 30000 || d == devices-1 {
			if _, err := a.Store.Write(ctx, store.Batch{Readings: batch}); err != nil {
				t.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	begin := time.Now()
	if err := a.Close(); err != nil {
		t.Fatalf("clean stop: %v", err)
	}
	t.Logf("clean stop with %d devices' readings to fold: %s", devices, time.Since(begin).Round(time.Millisecond))

	s, err := app.OpenStore(ctx, a.Config, true, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	count := func() {
		t.Helper()
		devs, err := s.Devices(ctx, store.DeviceFilter{Customer: "finemeca"})
		if err != nil {
			t.Fatal(err)
		}
		var n int64
		for _, d := range devs {
			n += d.Readings
		}
		if len(devs) != devices || n != devices*each {
			t.Fatalf("%d devices with %d readings, want %d with %d", len(devs), n, devices, devices*each)
		}
		for _, d := range []string{"s00000", "s19999", "s39999"} {
			k := store.DeviceKey{Customer: "finemeca", Sensor: "devicev01", Device: d}
			pts, _, err := s.Points(ctx, store.RawQuery{DeviceKey: k, Field: "Temp", From: at, To: at.Add(time.Hour)})
			if err != nil || len(pts) != each {
				t.Fatalf("%s: %d points, %v; want %d", d, len(pts), err, each)
			}
		}
	}
	count()
	if err := s.Compact(ctx); err != nil {
		t.Fatal(err)
	}
	count()
}
