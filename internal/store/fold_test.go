package store

import (
	"testing"
	"time"

	"github.com/sensorhub/sensorhub/internal/reading"
)

// TestFoldOutOfOrder: messages 1, 2, 5 then 3 and 4 late lose nothing; a
// message that never comes stays lost.
func TestFoldOutOfOrder(t *testing.T) {
	base := time.Date(2026, 5, 1, 8, 0, 0, 0, time.UTC)
	r := func(n int64) *reading.Reading {
		return &reading.Reading{Time: base.Add(time.Duration(n) * time.Minute), MsgCount: n, Received: base}
	}
	d := DeviceRow{MsgCount: -1}
	d.Fold([]*reading.Reading{r(1), r(2), r(5)})
	if d.Lost != 2 || d.MsgCount != 5 {
		t.Fatalf("after 1, 2, 5: lost %d, msgCount %d; want 2, 5", d.Lost, d.MsgCount)
	}
	d.Fold([]*reading.Reading{r(3), r(4)})
	if d.Lost != 0 || d.MsgCount != 5 {
		t.Fatalf("after 3 and 4 came late: lost %d, msgCount %d; want 0, 5", d.Lost, d.MsgCount)
	}
	d.Fold([]*reading.Reading{r(8), r(6)})
	if d.Lost != 1 || d.MsgCount != 8 {
		t.Fatalf("after 8, then 6 late: lost %d, msgCount %d; want 1 (7 never came), 8", d.Lost, d.MsgCount)
	}
}

// TestFoldOneSecondApart: six messages, two per second, from a device
// whose clock has whole seconds: none lost, the newest msgCount is 6.
func TestFoldOneSecondApart(t *testing.T) {
	base := time.Date(2026, 5, 1, 8, 0, 0, 0, time.UTC)
	var rs []*reading.Reading
	for n := int64(1); n <= 6; n++ {
		rs = append(rs, &reading.Reading{Time: base.Add(time.Duration((n-1)/2) * time.Second), MsgCount: n, Received: base})
	}
	for _, batches := range [][][]*reading.Reading{{rs}, {rs[:1], rs[1:3], rs[3:]}} {
		d := DeviceRow{MsgCount: -1}
		for _, b := range batches {
			d.Fold(b)
		}
		if d.Lost != 0 || d.MsgCount != 6 {
			t.Errorf("%d batches: lost %d, msgCount %d; want 0, 6", len(batches), d.Lost, d.MsgCount)
		}
	}
}

// TestFoldRestart: a drop in msgCount sent after the newest message is a
// restart, which loses nothing, also when the newest message's clock was
// ahead; a message sent before the restart that comes after it fills no
// gap of the new count and opens none.
func TestFoldRestart(t *testing.T) {
	base := time.Date(2026, 5, 1, 8, 0, 0, 0, time.UTC)
	r := func(n int64, sent, at time.Duration) *reading.Reading {
		return &reading.Reading{Time: base.Add(at), MsgCount: n, Received: base.Add(sent + time.Second)}
	}
	d := DeviceRow{MsgCount: -1}
	d.Fold([]*reading.Reading{r(100, 0, 0), r(101, time.Minute, time.Minute), r(103, 2*time.Minute, 40*time.Minute)})
	if d.Lost != 1 || d.MsgCount != 103 {
		t.Fatalf("after 100, 101, 103 (its clock 38 minutes ahead): lost %d, msgCount %d; want 1, 103", d.Lost, d.MsgCount)
	}
	// The device restarts at minute 5: its clock is right again.
	d.Fold([]*reading.Reading{r(0, 5*time.Minute, 5*time.Minute), r(1, 6*time.Minute, 6*time.Minute)})
	if d.Lost != 1 || d.MsgCount != 1 {
		t.Fatalf("after a restart, 0 and 1: lost %d, msgCount %d; want 1, 1", d.Lost, d.MsgCount)
	}
	// 102, sent before the restart, comes late.
	d.Fold([]*reading.Reading{r(102, 7*time.Minute, 2*time.Minute), r(2, 8*time.Minute, 8*time.Minute)})
	if d.Lost != 0 || d.MsgCount != 2 {
		t.Fatalf("after 102 late, then 2: lost %d, msgCount %d; want 0 (102 came), 2", d.Lost, d.MsgCount)
	}
}
