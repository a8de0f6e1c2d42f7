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
// it alone, whether they are compacted or recent; more devices than one
// query reads, another customer's left out.
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
	write(t, s, store.Batch{Readings: []reading.Reading{late}})

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
		if k.Device == late.Device && !slices.ContainsFunc(pts, func(p store.Point) bool { return p.Value == 5000 }) {
			t.Errorf("%v: the recent reading is missing", k)
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
