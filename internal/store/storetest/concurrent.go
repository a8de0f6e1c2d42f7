package storetest

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/sensorhub/sensorhub/internal/reading"
	"github.com/sensorhub/sensorhub/internal/store"
)

// testConcurrentWriters: four writers (as four ingestors would) write the
// same readings of several devices in differently shuffled batches at
// once. Each reading is stored once, the device counts and the kept
// aggregates agree with the raw values, and no write fails.
func testConcurrentWriters(t *testing.T, s store.Store) {
	base := Payloads(t, "devicev01.jsonl")[3]
	start := time.Date(2022, 10, 27, 13, 0, 0, 0, time.UTC)
	const devices, perDevice = 5, 300
	var rs []reading.Reading
	for d := range devices {
		for i := range perDevice {
			r := base
			r.Device = fmt.Sprintf("conc-%d", d)
			r.Time = start.Add(time.Duration(i) * time.Minute)
			r.MsgCount = int64(i)
			r.Fields = map[string]float64{"Temp": float64(i % 17), fmt.Sprintf("F%d", i%3): 1}
			rs = append(rs, r)
		}
	}
	const writers, batch = 4, 100
	var stored, dups int
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w := range writers {
		order := append([]reading.Reading(nil), rs...)
		rand.New(rand.NewPCG(uint64(w), 7)).Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		wg.Go(func() {
			for i := 0; i < len(order); i += batch {
				res, err := s.Write(ctx(t), store.Batch{Readings: order[i:min(i+batch, len(order))]})
				if err != nil {
					t.Errorf("writer %d: %v", w, err)
					return
				}
				mu.Lock()
				stored, dups = stored+res.Stored, dups+res.Duplicates
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	if stored != len(rs) || dups != (writers-1)*len(rs) {
		t.Fatalf("stored %d, duplicates %d; want %d and %d", stored, dups, len(rs), (writers-1)*len(rs))
	}
	devs, err := s.Devices(ctx(t), store.DeviceFilter{Customer: base.Customer, Sensor: base.Sensor})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, d := range devs {
		if d.Readings != perDevice {
			t.Errorf("%s: %d readings, want %d", d.Device, d.Readings, perDevice)
		}
		n++
	}
	if n != devices {
		t.Fatalf("%d devices, want %d", n, devices)
	}
	step, _ := store.ParseStep("1h")
	q := store.SeriesQuery{DeviceKey: key(rs[0]), Field: "Temp", Agg: "sum", Step: step,
		From: start, To: start.Add(perDevice * time.Minute)}
	got, err := store.QuerySeries(ctx(t), s, q, loc)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := store.QuerySeriesRaw(ctx(t), s, q, loc)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got.Points) != fmt.Sprint(raw.Points) {
		t.Fatalf("hourly sums from aggregates %v, from raw values %v", got.Points, raw.Points)
	}
}
