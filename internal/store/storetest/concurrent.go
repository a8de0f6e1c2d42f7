package storetest

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/sensorhub/sensorhub/internal/reading"
	"github.com/sensorhub/sensorhub/internal/store"
	"github.com/sensorhub/sensorhub/internal/store/series"
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
	step, _ := series.ParseStep("1h")
	q := series.Query{DeviceKey: key(rs[0]), Field: "Temp", Agg: "sum", Step: step,
		From: start, To: start.Add(perDevice * time.Minute)}
	got, err := series.Read(ctx(t), s, q, loc)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := series.ReadRaw(ctx(t), s, q, loc)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got.Points) != fmt.Sprint(raw.Points) {
		t.Fatalf("hourly sums from aggregates %v, from raw values %v", got.Points, raw.Points)
	}
}

// testNeighbours: the neighbour lookup finds, for each position (a time,
// then a Seq among readings of that time), the stored reading just before
// and just after it, readings of one second told apart by msgCount.
func testNeighbours(t *testing.T, s store.Store) {
	rs := Payloads(t, "devicev01.jsonl")
	// Two more of one second, as a device with a clock in whole seconds
	// sends them.
	for _, mc := range []int64{40, 41} {
		r := rs[len(rs)-1]
		r.Time, r.MsgCount = rs[len(rs)-1].Time.Add(time.Minute), mc
		rs = append(rs, r)
	}
	write(t, s, store.Batch{Readings: rs})
	k := key(rs[0])
	var qs []store.NeighbourQuery
	for _, r := range rs {
		qs = append(qs, store.NeighbourQuery{DeviceKey: key(r), Time: r.Time, Seq: r.Seq()},
			store.NeighbourQuery{DeviceKey: key(r), Time: r.Time.Add(time.Second), Seq: -1})
	}
	qs = append(qs, store.NeighbourQuery{DeviceKey: k, Time: time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)},
		store.NeighbourQuery{DeviceKey: k, Time: time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)},
		store.NeighbourQuery{DeviceKey: store.DeviceKey{Customer: "finemeca", Sensor: "air", Device: "nobody"}, Time: rs[0].Time})
	got, err := s.Neighbours(ctx(t), qs)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(qs) {
		t.Fatalf("%d answers to %d questions", len(got), len(qs))
	}
	keyOf := func(r *reading.Reading) string {
		if r == nil {
			return "none"
		}
		return r.Key()
	}
	pos := func(tm time.Time, seq int64, r *reading.Reading) int {
		return cmp.Or(r.Time.Compare(tm), cmp.Compare(r.Seq(), seq))
	}
	for i, q := range qs {
		var want store.Neighbours
		for j := range rs {
			r := &rs[j]
			if key(*r) != q.DeviceKey {
				continue
			}
			if pos(q.Time, q.Seq, r) < 0 && (want.Before == nil || pos(want.Before.Time, want.Before.Seq(), r) > 0) {
				want.Before = r
			}
			if pos(q.Time, q.Seq, r) > 0 && (want.After == nil || pos(want.After.Time, want.After.Seq(), r) < 0) {
				want.After = r
			}
		}
		if keyOf(got[i].Before) != keyOf(want.Before) || keyOf(got[i].After) != keyOf(want.After) {
			t.Errorf("question %d (%s at %s, %d): before %s after %s, want %s and %s", i, q.Device, q.Time, q.Seq,
				keyOf(got[i].Before), keyOf(got[i].After), keyOf(want.Before), keyOf(want.After))
		}
		if got[i].Before != nil && fmt.Sprint(got[i].Before.Fields) != fmt.Sprint(want.Before.Fields) {
			t.Errorf("question %d: fields %v, want %v", i, got[i].Before.Fields, want.Before.Fields)
		}
	}
}

// TwoStores runs the cases of two stores on one database, as two
// ingestors have: what one writes, the other reads, whatever either keeps
// in memory. open opens a store on the database; each is closed when the
// test ends.
func TwoStores(t *testing.T, open func() (store.Store, error)) {
	var two []store.Store
	for range 2 {
		s, err := open()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		two = append(two, s)
	}
	a, b := two[0], two[1]
	base := Payloads(t, "devicev01.jsonl")[3]
	start := time.Date(2022, 10, 27, 13, 0, 0, 0, time.UTC)
	at := func(i int, p float64) reading.Reading {
		r := base
		r.Device, r.Time, r.MsgCount = "shared", start.Add(time.Duration(i)*time.Minute), int64(i)
		r.Fields = map[string]float64{"P": p}
		return r
	}
	var rs []reading.Reading
	for i := range 10 {
		rs = append(rs, at(i, float64(i)))
	}
	write(t, a, store.Batch{Readings: rs})
	// a knows 0..9 from its own write; b changes 8 (derived again) and adds 11.
	write(t, b, store.Batch{Readings: []reading.Reading{at(11, 11)}, Rederived: []reading.Reading{at(8, 80)}})
	q := store.NeighbourQuery{DeviceKey: key(rs[0]), Time: at(8, 0).Time.Add(30 * time.Second), Seq: 8}
	got, err := a.Neighbours(ctx(t), []store.NeighbourQuery{q})
	if err != nil {
		t.Fatal(err)
	}
	if nb := got[0]; nb.Before == nil || nb.Before.Fields["P"] != 80 || nb.After == nil || nb.After.MsgCount != 9 {
		t.Errorf("after the other store's write, neighbours of 8½ = %+v; want 8 with P 80, then 9", nb)
	}
	// 11, written by b, is a duplicate for a; 10 is new.
	res := write(t, a, store.Batch{Readings: []reading.Reading{at(11, 11), at(10, 10)}})
	if res.Stored != 1 || res.Duplicates != 1 {
		t.Errorf("a writes 10 and b's 11: %+v; want 1 stored, 1 duplicate", res)
	}
	got, err = b.Neighbours(ctx(t), []store.NeighbourQuery{{DeviceKey: q.DeviceKey, Time: at(10, 0).Time.Add(time.Second), Seq: 10}})
	if err != nil {
		t.Fatal(err)
	}
	if nb := got[0]; nb.Before == nil || nb.Before.MsgCount != 10 || nb.After == nil || nb.After.MsgCount != 11 {
		t.Errorf("after a's write, b's neighbours of 10 = %+v; want 10, then 11", nb)
	}
	// b removes the device; a, which knows its id, writes it again: it
	// is a new device with that reading only.
	if _, err := b.RemoveDevice(ctx(t), q.DeviceKey); err != nil {
		t.Fatal(err)
	}
	if res := write(t, a, store.Batch{Readings: []reading.Reading{at(20, 20)}}); res.Stored != 1 {
		t.Errorf("a writes the device b removed: %+v, want it stored", res)
	}
	pts, _, err := b.Points(ctx(t), store.RawQuery{DeviceKey: q.DeviceKey, Field: "P", From: start, To: start.Add(time.Hour)})
	if err != nil || len(pts) != 1 || pts[0].Value != 20 {
		t.Errorf("the device written again after its removal: %v %v, want its one new reading", pts, err)
	}
}

// FourWriters runs four stores on one database, as four ingest processes
// on one stream would, each writing the same readings of devices and
// fields none of them knows yet, and the same rejected messages, in
// batches of its own order. No write fails (a deadlock among them would
// fail one) and each reading and rejected message is stored once.
func FourWriters(t *testing.T, open func() (store.Store, error)) {
	const writers, devices, perDevice, batch = 4, 120, 10, 200
	var four []store.Store
	for range writers {
		s, err := open()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		four = append(four, s)
	}
	base := Payloads(t, "devicev01.jsonl")[3]
	start := time.Date(2022, 10, 27, 13, 0, 0, 0, time.UTC)
	var rs []reading.Reading
	var rjs []reading.Rejected
	for d := range devices {
		for i := range perDevice {
			r := base
			r.Device = fmt.Sprintf("four-%03d", d)
			r.Time = start.Add(time.Duration(i) * time.Minute)
			r.MsgCount = int64(i)
			// Field names new to every store, several a batch.
			r.Fields = map[string]float64{"Temp": float64(i), fmt.Sprintf("F%d", d%40): 1, fmt.Sprintf("G%d", (d+i)%40): 2}
			rs = append(rs, r)
		}
		rjs = append(rjs, reading.Rejected{Topic: fmt.Sprintf("%s/devicev01/four-%03d", base.Customer, d), Payload: fmt.Appendf(nil, `{"n":%d`, d),
			Reason: "not JSON", Received: start, Source: "mqtt", Customer: base.Customer})
	}
	var mu sync.Mutex
	var stored, dups, rejected int
	var wg sync.WaitGroup
	for w, s := range four {
		order := append([]reading.Reading(nil), rs...)
		rnd := rand.New(rand.NewPCG(uint64(w), 11))
		rnd.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		bad := append([]reading.Rejected(nil), rjs...)
		rnd.Shuffle(len(bad), func(i, j int) { bad[i], bad[j] = bad[j], bad[i] })
		wg.Go(func() {
			for i := 0; i < len(order); i += batch {
				b := store.Batch{Readings: order[i:min(i+batch, len(order))]}
				if k := i / batch * 20; k < len(bad) {
					b.Rejected = bad[k:min(k+20, len(bad))]
				}
				res, err := s.Write(ctx(t), b)
				if err != nil {
					t.Errorf("writer %d: %v", w, err)
					return
				}
				mu.Lock()
				stored, dups, rejected = stored+res.Stored, dups+res.Duplicates, rejected+res.Rejected
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	if stored != len(rs) || dups != (writers-1)*len(rs) || rejected != len(rjs) {
		t.Errorf("stored %d, duplicates %d, rejected %d; want %d, %d and %d", stored, dups, rejected, len(rs), (writers-1)*len(rs), len(rjs))
	}
	Fleet(t, four[0], base.Customer, base.Sensor, devices, perDevice)
}

// Fleet checks that a customer's devices of a sensor kind are n, each with
// perDevice readings stored, and returns them.
func Fleet(t *testing.T, st store.Reader, customer, sensor string, n int, perDevice int64) []store.Device {
	t.Helper()
	devs, err := st.Devices(ctx(t), store.DeviceFilter{Customer: customer, Sensor: sensor})
	if err != nil {
		t.Fatal(err)
	}
	if len(devs) != n {
		t.Errorf("%d devices, want %d", len(devs), n)
	}
	for _, d := range devs {
		if d.Readings != perDevice {
			t.Errorf("%s: %d readings, want %d", d.Device, d.Readings, perDevice)
		}
	}
	return devs
}
