package ingest_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sensorhub/sensorhub/internal/config"
	"github.com/sensorhub/sensorhub/internal/derive"
	"github.com/sensorhub/sensorhub/internal/ingest"
	"github.com/sensorhub/sensorhub/internal/queue"
	"github.com/sensorhub/sensorhub/internal/reading"
	"github.com/sensorhub/sensorhub/internal/store"
	"github.com/sensorhub/sensorhub/internal/store/series"
	"github.com/sensorhub/sensorhub/internal/store/sqlite"
	"github.com/sensorhub/sensorhub/internal/store/sqlstore"
	"github.com/sensorhub/sensorhub/internal/store/storetest"
	"github.com/sensorhub/sensorhub/internal/testenv"
)

// flakyStore fails its first writes, as a store that is briefly away does.
type flakyStore struct {
	store.Store
	failures atomic.Int32
	calls    atomic.Int32
	// away makes the failures an outage (store.Unavailable), which ingest
	// waits out without looking for a message the store refuses.
	away bool
}

func (f *flakyStore) Write(ctx context.Context, b store.Batch) (store.WriteResult, error) {
	f.calls.Add(1)
	if f.failures.Add(-1) >= 0 {
		if f.away {
			return store.WriteResult{}, store.Unavailable(errors.New("connection refused"))
		}
		return store.WriteResult{}, errors.New("database is locked")
	}
	return f.Store.Write(ctx, b)
}

func envelopes(n int) []reading.Envelope {
	var out []reading.Envelope
	for i := 0; i < n; i++ {
		p := fmt.Sprintf(`{"Customer":"finemeca","idDevice":5,"Mod":"air","Time":"2022-05-02 08:%02d:00","msgCount":%d,"Pres":6.%d,"OpenPres":6}`, i, i+1, i)
		if i%10 == 9 {
			p = `{"Customer":"finemeca","idDevice":5,` // cut short
		}
		out = append(out, reading.Envelope{Topic: "finemeca/air/5", Payload: []byte(p), Received: time.Now(), Source: "test"})
	}
	return out
}

// TestStoreOutageHoldsMessages: while the store fails, nothing is
// acknowledged or lost; once it works, every message is stored once, and
// a second delivery of the same messages changes nothing.
func TestStoreOutageHoldsMessages(t *testing.T) {
	ctx := context.Background()
	var st *flakyStore
	p := startPipeline(t, config.Default(), 20, func(s store.Store) store.Store {
		st = &flakyStore{Store: s}
		st.failures.Store(3)
		return st
	})
	q, sq, fw, cons := p.q, p.st, p.fw, p.cons
	if err := fw.Forward(ctx, envelopes(50)...); err != nil {
		t.Fatal(err)
	}

	count := func() (int64, int64) {
		devs, _ := sq.Devices(ctx, store.DeviceFilter{})
		rj, _ := sq.CountRejected(ctx, store.RejectedFilter{})
		if len(devs) == 0 {
			return 0, rj
		}
		return devs[0].Readings, rj
	}
	testenv.Eventually(t, 20*time.Second, 20*time.Millisecond, func() error {
		if r, rj := count(); r != 45 || rj != 5 {
			return fmt.Errorf("%d readings and %d rejected, want 45 and 5", r, rj)
		}
		return nil
	})
	if st.calls.Load() < 4 {
		t.Errorf("store written %d times, want the 3 failures retried", st.calls.Load())
	}
	testenv.Eventually(t, 10*time.Second, 20*time.Millisecond, func() error {
		if n, _ := cons.Pending(ctx); n != 0 {
			return fmt.Errorf("%d raw messages still pending", n)
		}
		return nil
	})

	// The same messages again, as after a gateway restart: stored once.
	if err := fw.Forward(ctx, envelopes(50)...); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 10*time.Second, 20*time.Millisecond, func() error {
		if n, _ := cons.Pending(ctx); n != 0 {
			return fmt.Errorf("%d raw messages still pending", n)
		}
		return nil
	})
	if r, _ := count(); r != 45 {
		t.Errorf("%d readings after a second delivery, want 45", r)
	}
	// The readings stream has each reading once.
	rc, err := q.Consumer(ctx, queue.Readings, "test")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for {
		ds, err := rc.Fetch(ctx, 100, 300*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		if len(ds) == 0 {
			break
		}
		for _, d := range ds {
			rs, err := reading.UnmarshalReadings(d.Data())
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range rs {
				seen[r.Key()]++
			}
		}
	}
	for k, n := range seen {
		if n != 1 {
			t.Errorf("reading %s is on the readings stream %d times", k, n)
		}
	}
	if len(seen) != 45 {
		t.Errorf("readings stream has %d readings, want 45", len(seen))
	}
}

// TestDerivedFromPreviousReading: increase(E) comes from the device's
// previous reading, in the same batch or stored before, also when a
// reading arrives late.
func TestDerivedFromPreviousReading(t *testing.T) {
	set, err := derive.Compile(map[string]string{"kwh": "increase(E)"}, []string{"E"})
	if err != nil {
		t.Fatal(err)
	}
	rs := storetest.Payloads(t, "centrale.jsonl")
	want := []float64{0.1, 190.5, 12.5} // the first reading has no previous one
	// In order, and with the third reading arriving after the fourth: the
	// late one still gets its own predecessor, and the fourth (a meter
	// restart) is 12.5 either way.
	for _, order := range [][]int{{0, 1, 2, 3}, {0, 1, 3, 2}} {
		ctx := context.Background()
		sq, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "s.db"), sqlstore.Options{Location: time.UTC})
		if err != nil {
			t.Fatal(err)
		}
		in := &ingest.Ingester{Formulas: map[string]derive.Set{"centrale": set}, Store: sq}
		for _, i := range order { // one delivery each
			b := store.Batch{Readings: []reading.Reading{rs[i]}}
			b.Readings[0].Fields = maps.Clone(rs[i].Fields)
			if err := in.Derive(ctx, &b); err != nil {
				t.Fatal(err)
			}
			if _, err := sq.Write(ctx, b); err != nil {
				t.Fatal(err)
			}
		}
		pts, _, err := sq.Points(ctx, store.RawQuery{DeviceKey: store.DeviceKey{Customer: "finemeca", Sensor: "centrale", Device: "301"},
			Field: "kwh", From: time.Unix(0, 0), To: time.Now()})
		if err != nil {
			t.Fatal(err)
		}
		var got []float64
		for _, p := range pts {
			got = append(got, math.Round(p.Value*1000)/1000)
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("order %v: kwh %v, want %v", order, got, want)
		}
		sq.Close()
	}
}

// TestDerivedIsOrderIndependent is a property test: whatever the order of
// delivery, duplicates and batch sizes, the stored derived values and the
// daily consumption are those of an in-order delivery.
func TestDerivedIsOrderIndependent(t *testing.T) {
	set, err := derive.Compile(map[string]string{"kwh": "increase(E)", "dt": "since_prev()"}, []string{"E"})
	if err != nil {
		t.Fatal(err)
	}
	loc, _ := time.LoadLocation("Europe/Brussels")
	base := storetest.Payloads(t, "centrale.jsonl")[0]
	var meter []reading.Reading
	e := 1000.0
	for i := 0; i < 240; i++ {
		r := base
		r.Time = time.Date(2022, 5, 2, 0, 0, 0, 0, loc).Add(time.Duration(i)*37*time.Minute + time.Duration(i%7)*time.Minute)
		r.MsgCount = int64(i)
		e += float64(i%5) * 0.7
		if i == 150 {
			e = 3 // the meter restarts
		}
		r.Fields = map[string]float64{"E": e}
		meter = append(meter, r)
	}
	k := store.DeviceKey{Customer: base.Customer, Sensor: base.Sensor, Device: base.Device}
	deliver := func(t *testing.T, msgs []reading.Reading, batch func() int) (map[int64]float64, []store.Point) {
		ctx := context.Background()
		sq, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "s.db"), sqlstore.Options{Location: loc})
		if err != nil {
			t.Fatal(err)
		}
		defer sq.Close()
		in := &ingest.Ingester{Formulas: map[string]derive.Set{"centrale": set}, Store: sq}
		for writes := 1; len(msgs) > 0; writes++ {
			// Now and then the store folds what it has into chunks, as its
			// compactor does: late readings land in compacted days.
			if writes%4 == 0 {
				if err := sq.Compact(ctx); err != nil {
					t.Fatal(err)
				}
			}
			n := min(batch(), len(msgs))
			b := store.Batch{}
			for _, m := range msgs[:n] {
				m.Fields = maps.Clone(m.Fields)
				b.Readings = append(b.Readings, m)
			}
			msgs = msgs[n:]
			if err := in.Derive(ctx, &b); err != nil {
				t.Fatal(err)
			}
			if _, err := sq.Write(ctx, b); err != nil {
				t.Fatal(err)
			}
		}
		out := map[int64]float64{}
		for _, f := range []string{"kwh", "dt"} {
			pts, _, err := sq.Points(ctx, store.RawQuery{DeviceKey: k, Field: f, From: time.Unix(0, 0), To: time.Now()})
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range pts {
				out[p.Time.UnixMilli()*10+int64(len(f))] = math.Round(p.Value*1e6) / 1e6
			}
		}
		step, _ := series.ParseStep("1d")
		days, err := series.Read(ctx, sq, series.Query{DeviceKey: k, Field: "kwh", Agg: "sum", Step: step,
			From: time.Date(2022, 5, 1, 0, 0, 0, 0, loc), To: time.Date(2022, 5, 10, 0, 0, 0, 0, loc)}, loc)
		if err != nil {
			t.Fatal(err)
		}
		return out, days.Points
	}
	want, wantDays := deliver(t, meter, func() int { return 50 })
	if len(want) != 2*(len(meter)-1) {
		t.Fatalf("in order: %d derived values, want %d", len(want), 2*(len(meter)-1))
	}
	for seed := uint64(1); seed <= 15; seed++ {
		rng := rand.New(rand.NewPCG(seed, 42))
		msgs := append([]reading.Reading(nil), meter...)
		for i := 0; i < 40; i++ { // duplicates
			msgs = append(msgs, meter[rng.IntN(len(meter))])
		}
		rng.Shuffle(len(msgs), func(i, j int) { msgs[i], msgs[j] = msgs[j], msgs[i] })
		got, gotDays := deliver(t, msgs, func() int { return 1 + rng.IntN(20) })
		if fmt.Sprint(got) != fmt.Sprint(want) {
			for key, v := range want {
				if got[key] != v {
					t.Errorf("seed %d: derived value at %d is %v, in order %v", seed, key, got[key], v)
					break
				}
			}
			t.Fatalf("seed %d: %d derived values, in order %d", seed, len(got), len(want))
		}
		if fmt.Sprint(gotDays) != fmt.Sprint(wantDays) {
			t.Fatalf("seed %d: daily kwh %v, in order %v", seed, gotDays, wantDays)
		}
	}
}
