package sqlstore

import (
	"testing"
	"time"

	"github.com/sensorhub/sensorhub/internal/reading"
)

var t0 = time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)

// at is a reading n steps of 30 s after t0, msgCount n.
func at(n int, value float64) reading.Reading {
	return reading.Reading{Time: t0.Add(time.Duration(n) * 30 * time.Second), MsgCount: int64(n), Fields: map[string]float64{"P": value}}
}

func ms(n int) int64 { return t0.Add(time.Duration(n) * 30 * time.Second).UnixMilli() }

func msgCounts(rs ...*reading.Reading) []int64 {
	var out []int64
	for _, r := range rs {
		if r == nil {
			out = append(out, -1)
		} else {
			out = append(out, r.MsgCount)
		}
	}
	return out
}

func TestTailAnswersFromItsFirstOn(t *testing.T) {
	ts := newTails(1 << 20)
	// The device's newest before the write was reading 4: readings 5..7
	// are everything stored from 5 on.
	ts.written(1, 10, false, ms(4), 4, []reading.Reading{at(5, 1), at(7, 1), at(9, 1)})
	if _, _, ok := ts.neighbours(1, 10, ms(6), 6); ok {
		t.Error("a tail of version 11 answered for version 10")
	}
	before, after, ok := ts.neighbours(1, 11, ms(8), 8)
	if !ok || msgCounts(before, after)[0] != 7 || msgCounts(before, after)[1] != 9 {
		t.Errorf("neighbours of 8 = %v, %v; want 7, 9", msgCounts(before, after), ok)
	}
	if _, _, ok := ts.neighbours(1, 11, ms(5), 5); ok {
		t.Error("the tail answered for its first reading's position, whose reading before it does not hold")
	}
	if found, ok := ts.stored(1, 11, ms(7), 7); !ok || !found {
		t.Errorf("stored(7) = %v, %v; want true, true", found, ok)
	}
	if found, ok := ts.stored(1, 11, ms(8), 8); !ok || found {
		t.Errorf("stored(8) = %v, %v; want false, true", found, ok)
	}
	// A write that replaces 7 and adds 8 and, before the tail, 2.
	ts.written(1, 11, false, ms(9), 9, []reading.Reading{at(2, 5), at(7, 5), at(8, 5)})
	before, after, ok = ts.neighbours(1, 12, ms(8), 8)
	if !ok || before.MsgCount != 7 || before.Fields["P"] != 5 || after.MsgCount != 9 {
		t.Errorf("after a replacement, neighbours of 8 = %v (P %v); want 7 (P 5), 9", msgCounts(before, after), before.Fields["P"])
	}
	if _, ok := ts.stored(1, 12, ms(2), 2); ok {
		t.Error("a reading before the tail's first was taken in")
	}
	// A write by another store: the version moves on without this tail.
	if _, _, ok := ts.neighbours(1, 13, ms(8), 8); ok {
		t.Error("a tail answered for a version it did not see written")
	}
	if ts.n != 0 || len(ts.m) != 0 {
		t.Errorf("a stale tail is kept: %d readings, %d devices", ts.n, len(ts.m))
	}
}

func TestTailOfANewDeviceIsComplete(t *testing.T) {
	ts := newTails(1 << 20)
	ts.written(1, 0, true, 0, 0, []reading.Reading{at(5, 1)})
	before, after, ok := ts.neighbours(1, 1, ms(3), 3)
	if !ok || before != nil || after == nil || after.MsgCount != 5 {
		t.Errorf("neighbours of 3 = %v, %v; want none, 5", msgCounts(before, after), ok)
	}
	// Trimmed to its newest readings, it is complete no more.
	var rs []reading.Reading
	for n := 6; n < 6+tailReadings; n++ {
		rs = append(rs, at(n, 1))
	}
	ts.written(1, 1, false, ms(5), 5, rs)
	if _, _, ok := ts.neighbours(1, 2, ms(3), 3); ok {
		t.Error("a trimmed tail answered before its first")
	}
	if tl := ts.m[1].Value.(*tail); len(tl.rs) != tailReadings || ts.n != tl.size || tl.size < tailReadings*readingSize(&rs[0]) {
		t.Errorf("%d readings kept in %d bytes (%d counted); want %d", len(tl.rs), tl.size, ts.n, tailReadings)
	}
}

func TestTailsStayWithinTheirBound(t *testing.T) {
	const bound = 64 << 10
	ts := newTails(bound)
	one := at(0, 1)
	devices := int(2 * bound / (tailReadings * readingSize(&one)))
	for dev := range devices {
		var rs []reading.Reading
		for n := range tailReadings {
			rs = append(rs, at(n, 1))
		}
		ts.written(int64(dev), 0, true, 0, 0, rs)
	}
	if ts.n > bound || ts.n < bound/2 || ts.lru.Len() != len(ts.m) || len(ts.m) >= devices {
		t.Errorf("%d bytes kept in %d tails of %d devices (%d listed); bound %d", ts.n, len(ts.m), devices, ts.lru.Len(), bound)
	}
	// The most recently written are the ones kept.
	if _, _, ok := ts.neighbours(int64(devices-1), 1, ms(3), 3); !ok {
		t.Error("the newest device's tail was dropped")
	}
	if _, _, ok := ts.neighbours(0, 1, ms(3), 3); ok {
		t.Error("the oldest device's tail was kept over the bound")
	}
}
