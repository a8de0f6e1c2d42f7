package storetest

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/sensorhub/sensorhub/internal/reading"
	"github.com/sensorhub/sensorhub/internal/store"
)

// testEachPoints: a store that scans a customer's devices at once gives
// each device, in the order of Devices, the same values that Points gives
// it alone, whether they are compacted or recent, a recent reading derived
// again replacing a compacted one; more devices than one query reads,
// another customer's left out.
func testEachPoints(t *testing.T, s store.Store) {
	sc, ok := inner(s).(store.FieldScanner)
	if !ok {
		t.Skip("the store does not scan fields")
	}
	c := ctx(t)
	day := time.Date(2022, 5, 2, 0, 0, 0, 0, Location)
	LoadCustomer(t, s, "big", 1100, day)
	LoadCustomer(t, s, "other", 3, day)
	// A meter's readings written after the day's were compacted: recent.
	late := reading.Reading{Customer: "big", Sensor: "centrale", Device: "000020", Time: day.Add(9*time.Hour + 7*time.Minute).UTC(),
		Received: day.Add(9 * time.Hour).UTC(), MsgCount: 9999, Fields: map[string]float64{"E": 5000, "P": 1}}
	// Meters of the first and the last query's devices with recent
	// readings too; two compacted readings derived again, one with a new
	// value, one without the field: the recent row replaces each.
	more := []reading.Reading{late}
	for _, d := range []string{"000000", "000600", "001080"} {
		r := late
		r.Device = d
		more = append(more, r)
	}
	at := day.Add(8 * time.Hour).UTC() // the 33rd message of the day
	rederived := []reading.Reading{
		{Customer: "big", Sensor: "centrale", Device: "000040", Name: "centrale-000040", Time: at, Received: at, MsgCount: 33, Fields: map[string]float64{"E": 7777, "P": 10}},
		{Customer: "big", Sensor: "centrale", Device: "000060", Name: "centrale-000060", Time: at, Received: at, MsgCount: 33, Fields: map[string]float64{"P": 10}},
	}
	write(t, s, store.Batch{Readings: more, Rederived: rederived})

	field := func(k store.DeviceKey) string {
		switch k.Sensor {
		case "centrale":
			return "E"
		case "devicev01":
			return "Temp"
		}
		return ""
	}
	from, to := day.Add(6*time.Hour), day.Add(18*time.Hour)
	var got []store.DeviceKey
	err := sc.EachPoints(c, "big", field, from, to, func(k store.DeviceKey, pts []store.Point) error {
		got = append(got, k)
		var want []store.Point
		if f := field(k); f != "" {
			var err error
			if want, _, err = s.Points(c, store.RawQuery{DeviceKey: k, Field: f, From: from, To: to}); err != nil {
				return err
			}
		}
		if !slices.Equal(pts, want) {
			t.Errorf("%v: %d points %v, Points gives %d", k, len(pts), head(pts), len(want))
		}
		for _, r := range more {
			if k.Sensor == "centrale" && k.Device == r.Device && !slices.ContainsFunc(pts, func(p store.Point) bool { return p.Value == 5000 }) {
				t.Errorf("%v: the recent reading is missing", k)
			}
		}
		onTime := func(p store.Point) bool { return p.Time.Equal(at) }
		switch {
		case k.Sensor != "centrale":
		case k.Device == "000040" && !slices.ContainsFunc(pts, func(p store.Point) bool { return onTime(p) && p.Value == 7777 }):
			t.Errorf("%v: the value derived again is missing", k)
		case k.Device == "000040" && slices.ContainsFunc(pts, func(p store.Point) bool { return onTime(p) && p.Value != 7777 }):
			t.Errorf("%v: the value derived again does not replace the compacted one", k)
		case k.Device == "000060" && slices.ContainsFunc(pts, onTime):
			t.Errorf("%v: a reading derived again without the field still gives the compacted value", k)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	devs, err := s.Devices(c, store.DeviceFilter{Customer: "big"})
	if err != nil {
		t.Fatal(err)
	}
	var want []store.DeviceKey
	for _, d := range devs {
		want = append(want, store.DeviceKey{Customer: d.Customer, Sensor: d.Sensor, Device: d.Device})
	}
	if !slices.Equal(got, want) {
		t.Errorf("EachPoints gave %d devices, Devices %d, or in another order", len(got), len(want))
	}
	stop := context.Canceled
	n := 0
	if err := sc.EachPoints(c, "big", field, from, to, func(store.DeviceKey, []store.Point) error { n++; return stop }); err != stop || n != 1 {
		t.Errorf("fn's error: %v after %d calls, want it returned after the first", err, n)
	}
}

func head(pts []store.Point) []store.Point { return pts[:min(len(pts), 3)] }
