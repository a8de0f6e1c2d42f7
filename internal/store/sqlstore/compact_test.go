package sqlstore_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/sensorhub/sensorhub/internal/reading"
	"github.com/sensorhub/sensorhub/internal/store"
	"github.com/sensorhub/sensorhub/internal/store/sqlite"
	"github.com/sensorhub/sensorhub/internal/store/sqlstore"
	"github.com/sensorhub/sensorhub/internal/store/storetest"
)

type chunkRow struct{ day, n int64 }

func chunkRows(t *testing.T, s *sqlstore.Store) []chunkRow {
	t.Helper()
	rows, err := s.DB().Query(`SELECT day, n FROM chunks ORDER BY first_time`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []chunkRow
	for rows.Next() {
		var c chunkRow
		if err := rows.Scan(&c.day, &c.n); err != nil {
			t.Fatal(err)
		}
		out = append(out, c)
	}
	return out
}

// A day compacted a little at a time, as a meter's readings are every
// quarter of an hour, ends in a few chunks of growing size, each reading
// written again only a few times; once the device is on to the next day,
// the day before is one chunk; a late reading joins the chunk it falls in.
func TestCompactionALittleAtATime(t *testing.T) {
	ctx := context.Background()
	s, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "sensorhub.db"), sqlstore.Options{Location: storetest.Location, CompactRows: 30})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	base := storetest.Payloads(t, "devicev01.jsonl")[3]
	start := time.Date(2022, 10, 27, 0, 0, 0, 0, storetest.Location)
	at := func(i int) reading.Reading {
		r := base
		r.Time, r.MsgCount = start.Add(time.Duration(i)*30*time.Second), int64(i+1)
		r.Fields = map[string]float64{"P": float64(i)}
		return r
	}
	const perDay, step = 2880, 30 // readings a day; a write every quarter of an hour
	rewritten := 0
	for i := 0; i < perDay; i += step {
		var rs []reading.Reading
		for j := i; j < i+step; j++ {
			rs = append(rs, at(j))
		}
		if _, err := s.Write(ctx, store.Batch{Readings: rs}); err != nil {
			t.Fatal(err)
		}
		before := chunkRows(t, s)
		if err := s.CompactDue(ctx); err != nil {
			t.Fatal(err)
		}
		after := chunkRows(t, s)
		// What the compaction wrote: the chunks that are new or changed.
		kept := map[chunkRow]int{}
		for _, c := range before {
			kept[c]++
		}
		for _, c := range after {
			if kept[c] > 0 {
				kept[c]--
				continue
			}
			rewritten += int(c.n)
		}
	}
	chunks := chunkRows(t, s)
	t.Logf("a day in %d chunks %v; each reading written %.1f times", len(chunks), chunks, float64(rewritten)/perDay)
	if len(chunks) > 8 {
		t.Errorf("a day compacted a quarter of an hour at a time is in %d chunks; want at most 8", len(chunks))
	}
	if amp := float64(rewritten) / perDay; amp > 8 {
		t.Errorf("each reading was written into a chunk %.1f times; want at most 8", amp)
	}
	// The next day's first write folds the day before into one chunk.
	if _, err := s.Write(ctx, store.Batch{Readings: []reading.Reading{at(perDay)}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Compact(ctx); err != nil {
		t.Fatal(err)
	}
	chunks = chunkRows(t, s)
	if len(chunks) != 2 || chunks[0].n != perDay || chunks[1].n != 1 {
		t.Fatalf("after the next day began, chunks %v; want the day before whole, then one reading", chunks)
	}
	// A late reading into the day before (a replacement of one) joins its
	// chunk.
	late := at(100)
	late.Fields = map[string]float64{"P": -1}
	if _, err := s.Write(ctx, store.Batch{Rederived: []reading.Reading{late}}); err != nil {
		t.Fatal(err)
	}
	if err := s.CompactDue(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Compact(ctx); err != nil {
		t.Fatal(err)
	}
	if got := chunkRows(t, s); len(got) != 2 || got[0].n != perDay {
		t.Fatalf("after a late reading, chunks %v; want the day before whole, then one reading", got)
	}
	pts, _, err := s.Points(ctx, store.RawQuery{DeviceKey: store.DeviceKey{Customer: base.Customer, Sensor: base.Sensor, Device: base.Device},
		Field: "P", From: late.Time, To: late.Time.Add(time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	if len(pts) != 1 || pts[0].Value != -1 {
		t.Fatalf("the late reading's value reads %v; want -1", pts)
	}
}

// The compactor counts what each write adds to a device's day and folds a
// day once it holds CompactRows readings, over several writes, without
// waiting for its look at the whole table; a day with fewer stays recent.
func TestCompactorFoldsADayWhenItHasEnough(t *testing.T) {
	ctx := context.Background()
	s, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "sensorhub.db"),
		sqlstore.Options{Location: storetest.Location, Compact: true, CompactRows: 30})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	base := storetest.Payloads(t, "devicev01.jsonl")[3]
	start := time.Date(2022, 10, 27, 0, 0, 0, 0, storetest.Location)
	at := func(device string, i int) reading.Reading {
		r := base
		r.Device = device
		r.Time, r.MsgCount = start.Add(time.Duration(i)*30*time.Second), int64(i+1)
		r.Fields = map[string]float64{"P": float64(i)}
		return r
	}
	// Three writes of 10 readings of device "full", each with 9 of "short".
	for w := range 3 {
		var rs []reading.Reading
		for i := w * 10; i < w*10+10; i++ {
			rs = append(rs, at("full", i))
			if i%10 != 9 {
				rs = append(rs, at("short", i))
			}
		}
		if _, err := s.Write(ctx, store.Batch{Readings: rs}); err != nil {
			t.Fatal(err)
		}
	}
	recent := func(device string) int {
		var n int
		if err := s.DB().QueryRow(`SELECT COALESCE(SUM(r.n), 0) FROM recent r JOIN devices d ON d.id = r.device_id WHERE d.device = ?`, device).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	deadline := time.Now().Add(20 * time.Second)
	for recent("full") > 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := recent("full"); n != 0 {
		t.Fatalf("device full has %d recent readings of its day of 30; want them folded into a chunk", n)
	}
	if got := chunkRows(t, s); len(got) != 1 || got[0].n != 30 {
		t.Fatalf("chunks %v; want one of device full's 30 readings", got)
	}
	if n := recent("short"); n != 27 {
		t.Fatalf("device short has %d recent readings; want its 27, not yet due", n)
	}
}
