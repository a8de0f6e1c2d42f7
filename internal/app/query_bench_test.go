package app_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sensorhub/sensorhub/internal/app"
	"github.com/sensorhub/sensorhub/internal/reading"
	"github.com/sensorhub/sensorhub/internal/store"
	"github.com/sensorhub/sensorhub/internal/store/storetest"
)

// BenchmarkOverview1000 is the overview page with 1,000 power meters
// stored, on SQLite: the fleet's figures and its first page of devices,
// each with its newest reading's values and units.
func BenchmarkOverview1000(b *testing.B) {
	a := start(b, "embedded", app.Options{}, nil)
	writeMeters(b, a, 1000, 3, func(d int) string { return fmt.Sprintf("m%04d", d) })
	url := "http://" + a.HTTPAddr() + "/"
	for b.Loop() {
		resp, err := http.Get(url)
		if err != nil {
			b.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		// A page of the fleet, which counts every device.
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "of 1000") {
			b.Fatalf("overview: HTTP %d, %d bytes without the count of the 1000 devices", resp.StatusCode, len(body))
		}
	}
}

// writeMeters stores n power meters, named by name, each with the given
// number of readings 30 s apart up to now.
func writeMeters(b *testing.B, a *app.App, n, readings int, name func(int) string) {
	b.Helper()
	base := storetest.Payloads(b, "centrale.jsonl")[0]
	now := time.Now().UTC().Truncate(time.Second)
	var rs []reading.Reading
	for d := range n {
		for i := range readings {
			r := base
			r.Device = name(d)
			r.Time, r.Received, r.MsgCount = now.Add(time.Duration(i-readings)*30*time.Second), now, int64(i+1)
			rs = append(rs, r)
		}
		if len(rs) >= 2000 || d == n-1 {
			if _, err := a.Store.Write(context.Background(), store.Batch{Readings: rs}); err != nil {
				b.Fatal(err)
			}
			rs = rs[:0]
		}
	}
}
