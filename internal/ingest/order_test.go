package ingest_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/sensorhub/sensorhub/internal/config"
	"github.com/sensorhub/sensorhub/internal/reading"
	"github.com/sensorhub/sensorhub/internal/store"
	"github.com/sensorhub/sensorhub/internal/store/series"
)

// TestRepeatedHourReadInOrder: a device that sends zone-less local times
// every minute through the autumn change of time (Europe/Brussels,
// 2024-10-27, 02:00-02:59 comes twice) loses nothing and its series has
// every hour full, whether the 180 messages come in one batch or several.
func TestRepeatedHourReadInOrder(t *testing.T) {
	cfg := config.Default()
	loc := cfg.Location()
	start := time.Date(2024, 10, 26, 23, 30, 0, 0, time.UTC) // 01:30 CEST
	var payloads []string
	for i := range 180 {
		local := start.Add(time.Duration(i) * time.Minute).In(loc).Format("2006-01-02 15:04:05")
		payloads = append(payloads, fmt.Sprintf(`{"Customer":"finemeca","idDevice":7,"Mod":"weath","Time":%q,"msgCount":%d,"Temp":%d}`, local, i+1, i))
	}
	k := store.DeviceKey{Customer: "finemeca", Sensor: "devicev01", Device: "7"}
	for _, batch := range []int{500, 7} {
		t.Run(fmt.Sprintf("batches of %d", batch), func(t *testing.T) {
			p := startPipeline(t, cfg, batch, nil)
			p.send(t, "finemeca/devicev01/7", payloads...)
			ctx := context.Background()
			devs, err := p.st.Devices(ctx, store.DeviceFilter{})
			if err != nil {
				t.Fatal(err)
			}
			if len(devs) != 1 || devs[0].Readings != 180 || devs[0].Lost != 0 || devs[0].MsgCount != 180 {
				t.Fatalf("device %+v, want 180 readings, none lost, msgCount 180", devs)
			}
			step, _ := series.ParseStep("1h")
			s, err := series.Read(ctx, p.st, series.Query{DeviceKey: k, Field: "Temp", Agg: "count", Step: step,
				From: start.Add(-30 * time.Minute), To: start.Add(3*time.Hour + 30*time.Minute)}, loc)
			if err != nil {
				t.Fatal(err)
			}
			if got := fmt.Sprint(values(s.Points)); got != "[30 60 60 30]" {
				t.Errorf("readings per hour %s, want [30 60 60 30]", got)
			}
			lost, err := series.Read(ctx, p.st, series.Query{DeviceKey: k, Field: reading.FieldLost, Agg: "sum", Step: step,
				From: start.Add(-30 * time.Minute), To: start.Add(3*time.Hour + 30*time.Minute)}, loc)
			if err != nil {
				t.Fatal(err)
			}
			if got := fmt.Sprint(values(lost.Points)); got != "[0 0 0 0]" {
				t.Errorf("lost per hour %s, want none", got)
			}
			// Each reading at its own instant: Temp i at start + i minutes.
			pts, _, err := p.st.Points(ctx, store.RawQuery{DeviceKey: k, Field: "Temp", From: start, To: start.Add(3 * time.Hour)})
			if err != nil {
				t.Fatal(err)
			}
			for i, pt := range pts {
				if want := start.Add(time.Duration(i) * time.Minute); !pt.Time.Equal(want) || pt.Value != float64(i) {
					t.Fatalf("point %d: %v at %s, want %d at %s", i, pt.Value, pt.Time, i, want)
				}
			}
		})
	}
}

func values(pts []store.Point) []float64 {
	out := make([]float64, len(pts))
	for i, p := range pts {
		out[i] = p.Value
	}
	return out
}

// TestOneSecondClock: six messages two per second with a Time in whole
// seconds lose nothing, and msgCount ends at 6.
func TestOneSecondClock(t *testing.T) {
	p := startPipeline(t, config.Default(), 3, nil)
	var payloads []string
	for i := range 6 {
		payloads = append(payloads, fmt.Sprintf(`{"Customer":"finemeca","idDevice":8,"Mod":"weath","Time":"2024-05-02 08:00:%02d","msgCount":%d,"Temp":%d}`, i/2, 237+i, i))
	}
	p.send(t, "finemeca/devicev01/8", payloads...)
	devs, err := p.st.Devices(context.Background(), store.DeviceFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(devs) != 1 || devs[0].Readings != 6 || devs[0].Lost != 0 || devs[0].MsgCount != 242 {
		t.Fatalf("device %+v, want 6 readings, none lost, msgCount 242", devs)
	}
	k := store.DeviceKey{Customer: "finemeca", Sensor: "devicev01", Device: "8"}
	pts, _, err := p.st.Points(context.Background(), store.RawQuery{DeviceKey: k, Field: reading.FieldLost,
		From: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), To: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	for _, pt := range pts {
		if pt.Value != 0 {
			t.Fatalf("_lost %v, want 0 everywhere: %v", pt.Value, pts)
		}
	}
}

// TestDistinctReadingsWithoutTimeOrCount: readings with neither Time nor
// msgCount in one request are all stored; the same request delivered
// again stores nothing more.
func TestDistinctReadingsWithoutTimeOrCount(t *testing.T) {
	p := startPipeline(t, config.Default(), 50, nil)
	lines := []string{
		`{"Customer":"finemeca","idDevice":9,"Mod":"weath","Temp":1}`,
		`{"Customer":"finemeca","idDevice":9,"Mod":"weath","Temp":2}`,
		`{"Customer":"finemeca","idDevice":9,"Mod":"weath","Temp":3}`,
	}
	now := time.Now().UTC().Truncate(time.Millisecond)
	var envs []reading.Envelope
	for i, l := range lines {
		envs = append(envs, reading.Envelope{Topic: "finemeca/x", Payload: []byte(l), Received: now.Add(time.Duration(i)), Source: "http"})
	}
	for range 2 {
		p.forward(t, envs)
	}
	devs, _ := p.st.Devices(context.Background(), store.DeviceFilter{})
	if len(devs) != 1 || devs[0].Readings != 3 {
		t.Fatalf("devices %+v, want the 3 readings once each", devs)
	}
}
