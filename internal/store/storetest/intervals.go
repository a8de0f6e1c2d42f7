package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/sensorhub/sensorhub/internal/reading"
	"github.com/sensorhub/sensorhub/internal/store"
	"github.com/sensorhub/sensorhub/internal/store/series"
)

// testInvalidIntervals: an interval marked invalid is kept with its
// reason, who marked it and when, listed for its customer only, leaves
// the increase of the readings' intervals that overlap it out of a
// counter's daily increase, and goes with its removal or its device's.
func testInvalidIntervals(t *testing.T, s store.Store) {
	base := Payloads(t, "centrale.jsonl")[0]
	other := base
	other.Device = "302"
	start := time.Date(2025, 3, 3, 0, 0, 0, 0, loc)
	var rs []reading.Reading
	for i := range 2 * 96 {
		for _, d := range []reading.Reading{base, other} {
			r := d
			r.Time, r.Received, r.MsgCount = start.Add(time.Duration(i)*15*time.Minute), start, int64(i)
			r.Fields = map[string]float64{"E": float64(i)}
			rs = append(rs, r)
		}
	}
	write(t, s, store.Batch{Readings: rs})
	a, b := key(base), key(other)
	daily := func() []float64 {
		t.Helper()
		got, err := series.Read(ctx(t), s, series.Query{DeviceKey: a, Field: "E", Agg: "increase", Step: series.Step{Days: 1},
			From: start, To: start.AddDate(0, 0, 2)}, loc)
		if err != nil {
			t.Fatal(err)
		}
		var out []float64
		for _, p := range got.Points {
			out = append(out, p.Value)
		}
		return out
	}
	same := func(got, want []float64) bool {
		if len(got) != len(want) {
			return false
		}
		for i := range got {
			if got[i] != want[i] {
				return false
			}
		}
		return true
	}
	// The reading at midnight closes the first day: 96 intervals of 1,
	// then 95 up to the last reading at 23:45.
	if got := daily(); !same(got, []float64{96, 95}) {
		t.Fatalf("daily increase before marking %v, want [96 95]", got)
	}

	at := time.Date(2025, 3, 10, 8, 30, 0, 0, time.UTC)
	mark := store.InvalidInterval{DeviceKey: a, From: start.Add(10 * time.Hour), To: start.Add(11 * time.Hour),
		Reason: "meter swapped", MarkedBy: "admin", MarkedAt: at}
	unknown := mark
	unknown.Device = "nope"
	if _, err := s.MarkInvalid(ctx(t), unknown); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("marking an unknown device: %v, want ErrNotFound", err)
	}
	backwards := mark
	backwards.From = mark.To
	if _, err := s.MarkInvalid(ctx(t), backwards); err == nil {
		t.Error("an interval whose from is not before its to was kept")
	}
	silent := mark
	silent.Reason = " "
	if _, err := s.MarkInvalid(ctx(t), silent); err == nil {
		t.Error("an interval without a reason was kept")
	}
	got, err := s.MarkInvalid(ctx(t), mark)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID == 0 {
		t.Error("the marked interval has no ID")
	}
	ofB, err := s.MarkInvalid(ctx(t), store.InvalidInterval{DeviceKey: b, From: start, To: start.Add(time.Hour), Reason: "test bench", MarkedBy: "ops", MarkedAt: at})
	if err != nil {
		t.Fatal(err)
	}

	// Of the intervals of 15 minutes, those ending 10:15 to 11:00 overlap
	// [10:00, 11:00]: 4 of the first day's 96 kWh.
	if got := daily(); !same(got, []float64{92, 95}) {
		t.Errorf("daily increase with 10:00 to 11:00 invalid %v, want [92 95]", got)
	}
	list, err := s.InvalidIntervals(ctx(t), store.InvalidQuery{Customer: a.Customer})
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 {
		t.Fatalf("the customer's intervals: %+v, want 2", list)
	}
	kept := list[0]
	if kept.ID != got.ID || kept.DeviceKey != a || !kept.From.Equal(mark.From) || !kept.To.Equal(mark.To) ||
		kept.Reason != "meter swapped" || kept.MarkedBy != "admin" || !kept.MarkedAt.Equal(at) {
		t.Errorf("kept %+v, want %+v", kept, mark)
	}
	for _, c := range []struct {
		q    store.InvalidQuery
		want int
	}{
		{store.InvalidQuery{Customer: a.Customer, Sensor: a.Sensor, Device: b.Device}, 1},
		{store.InvalidQuery{Customer: a.Customer, Sensor: "air"}, 0},
		{store.InvalidQuery{Customer: a.Customer, From: start.Add(11 * time.Hour)}, 0},
		{store.InvalidQuery{Customer: a.Customer, From: start.Add(30 * time.Minute), To: start.Add(10*time.Hour + time.Minute)}, 2},
		{store.InvalidQuery{Customer: a.Customer, To: start.Add(10 * time.Hour)}, 1},
		{store.InvalidQuery{Customer: "acme"}, 0},
	} {
		got, err := s.InvalidIntervals(ctx(t), c.q)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != c.want {
			t.Errorf("%+v: %d intervals, want %d", c.q, len(got), c.want)
		}
	}

	if err := s.RemoveInvalid(ctx(t), "acme", got.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("removing another customer's interval: %v, want ErrNotFound", err)
	}
	if err := s.RemoveInvalid(ctx(t), a.Customer, got.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.RemoveInvalid(ctx(t), a.Customer, got.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("removing an interval twice: %v, want ErrNotFound", err)
	}
	if got := daily(); !same(got, []float64{96, 95}) {
		t.Errorf("daily increase once the interval is removed %v, want [96 95]", got)
	}

	if _, err := s.RemoveDevice(ctx(t), b); err != nil {
		t.Fatal(err)
	}
	write(t, s, store.Batch{Readings: rs[1:2]})
	if list, err := s.InvalidIntervals(ctx(t), store.InvalidQuery{Customer: a.Customer}); err != nil || len(list) != 0 {
		t.Errorf("intervals after the device %s was removed and sent again: %+v, %v; want none (not %d)", b.Device, list, err, ofB.ID)
	}
}
