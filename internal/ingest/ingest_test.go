package ingest_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sensorhub/sensorhub/internal/config"
	"github.com/sensorhub/sensorhub/internal/derive"
	"github.com/sensorhub/sensorhub/internal/gateway"
	"github.com/sensorhub/sensorhub/internal/ingest"
	"github.com/sensorhub/sensorhub/internal/metrics"
	"github.com/sensorhub/sensorhub/internal/queue"
	"github.com/sensorhub/sensorhub/internal/queue/jetstream"
	"github.com/sensorhub/sensorhub/internal/reading"
	"github.com/sensorhub/sensorhub/internal/store"
	"github.com/sensorhub/sensorhub/internal/store/sqlite"
	"github.com/sensorhub/sensorhub/internal/store/storetest"
	"github.com/sensorhub/sensorhub/internal/testenv"
)

// flakyStore fails its first writes, as a store that is briefly away does.
type flakyStore struct {
	store.Store
	failures atomic.Int32
	calls    atomic.Int32
}

func (f *flakyStore) Write(ctx context.Context, b store.Batch) (store.WriteResult, error) {
	f.calls.Add(1)
	if f.failures.Add(-1) >= 0 {
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
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	q, err := jetstream.StartEmbedded(ctx, t.TempDir(), "", jetstream.Options{Prefix: "t", RawMaxAge: time.Hour, ReadingsMaxAge: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	sq, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "s.db"), time.UTC)
	if err != nil {
		t.Fatal(err)
	}
	defer sq.Close()
	st := &flakyStore{Store: sq}
	st.failures.Store(3)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	m := metrics.New()
	fw := &gateway.Forwarder{Publisher: q, Metrics: m, Log: log}
	if err := fw.Forward(ctx, envelopes(50)...); err != nil {
		t.Fatal(err)
	}
	cons, err := q.Consumer(ctx, queue.Raw, ingest.Group)
	if err != nil {
		t.Fatal(err)
	}
	in := &ingest.Ingester{Decoder: config.Default().Decoder(), Store: st, Publisher: q, Metrics: m, Log: log,
		BatchSize: 20, BatchWait: 20 * time.Millisecond}
	done := make(chan error)
	go func() { done <- in.Run(ctx, cons) }()

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
	seen := 0
	for {
		ds, err := rc.Fetch(ctx, 100, 300*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		if len(ds) == 0 {
			break
		}
		seen += len(ds)
	}
	if seen != 45 {
		t.Errorf("readings stream has %d messages, want 45", seen)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("ingest returned %v on shutdown", err)
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
		sq, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "s.db"), time.UTC)
		if err != nil {
			t.Fatal(err)
		}
		in := &ingest.Ingester{Formulas: map[string]derive.Set{"centrale": set}, Store: sq}
		for _, i := range order { // one delivery each
			b := []reading.Reading{rs[i]}
			b[0].Fields = maps.Clone(rs[i].Fields)
			if err := in.Derive(ctx, b); err != nil {
				t.Fatal(err)
			}
			if _, err := sq.Write(ctx, store.Batch{Readings: b}); err != nil {
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
