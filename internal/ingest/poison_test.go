package ingest_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sensorhub/sensorhub/internal/config"
	"github.com/sensorhub/sensorhub/internal/gateway"
	"github.com/sensorhub/sensorhub/internal/health"
	"github.com/sensorhub/sensorhub/internal/ingest"
	"github.com/sensorhub/sensorhub/internal/metrics"
	"github.com/sensorhub/sensorhub/internal/plan"
	"github.com/sensorhub/sensorhub/internal/queue"
	"github.com/sensorhub/sensorhub/internal/queue/jetstream"
	"github.com/sensorhub/sensorhub/internal/reading"
	"github.com/sensorhub/sensorhub/internal/store"
	"github.com/sensorhub/sensorhub/internal/store/sqlite"
	"github.com/sensorhub/sensorhub/internal/store/sqlstore"
	"github.com/sensorhub/sensorhub/internal/testenv"
)

// pipeline is ingest as sensorhub runs it: the embedded queue, a SQLite
// store (behind wrap, when given) and the configuration's decoder and
// formulas.
type pipeline struct {
	q    *jetstream.Queue
	st   *sqlstore.Store
	fw   *gateway.Forwarder
	cons queue.Consumer
	in   *ingest.Ingester
}

func startPipeline(t testing.TB, cfg *config.Config, batch int, wrap func(store.Store) store.Store) *pipeline {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	q, err := jetstream.StartEmbedded(ctx, t.TempDir(), "", jetstream.Options{Prefix: "t", RawMaxAge: time.Hour, ReadingsMaxAge: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	sq, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "s.db"), sqlstore.Options{Location: cfg.Location(), Compact: true, CompactRows: 64})
	if err != nil {
		t.Fatal(err)
	}
	var st store.Store = sq
	if wrap != nil {
		st = wrap(sq)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	m := metrics.New()
	cons, err := q.Consumer(ctx, queue.Raw, ingest.Group)
	if err != nil {
		t.Fatal(err)
	}
	compiled := plan.MustCompile(cfg)
	p := &pipeline{q: q, st: sq, cons: cons, fw: &gateway.Forwarder{Publisher: q, Metrics: m, Log: log},
		in: &ingest.Ingester{Decoder: compiled.Decoder, Formulas: compiled.Formulas, Store: st, Publisher: q, Metrics: m, Log: log,
			BatchSize: batch, BatchWait: 20 * time.Millisecond, Progress: &health.Progress{Stall: 300 * time.Millisecond}}}
	done := make(chan error, 1)
	go func() { done <- p.in.Run(ctx, cons) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("ingest: %v", err)
		}
		sq.Close()
		q.Close()
	})
	return p
}

// send puts payloads on the queue, one envelope each, as one HTTP request
// would (a nanosecond apart), and waits until ingest has taken them all.
func (p *pipeline) send(t *testing.T, topic string, payloads ...string) {
	t.Helper()
	now := time.Now().UTC()
	envs := make([]reading.Envelope, len(payloads))
	for i, pl := range payloads {
		envs[i] = reading.Envelope{Topic: topic, Payload: []byte(pl), Received: now.Add(time.Duration(i)), Source: "http"}
	}
	p.forward(t, envs)
}

// forward puts envs on the queue and waits until ingest has acknowledged
// them.
func (p *pipeline) forward(t *testing.T, envs []reading.Envelope) {
	t.Helper()
	want := p.acked(t) + len(envs)
	if err := p.fw.Forward(context.Background(), envs...); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 30*time.Second, 20*time.Millisecond, func() error {
		if n := p.acked(t); n < want {
			return fmt.Errorf("%d messages acknowledged, want %d", n, want)
		}
		return nil
	})
}

// acked is how many messages ingest has acknowledged: the sum of its
// batch sizes.
func (p *pipeline) acked(t testing.TB) int {
	t.Helper()
	mfs, err := p.in.Metrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "sensorhub_ingest_batch_messages" {
			return int(mf.GetMetric()[0].GetHistogram().GetSampleSum())
		}
	}
	return 0
}

// refusing is a store that refuses, for an unforeseen reason, every batch
// that holds a reading of the device named bad: a data error, not an
// outage.
type refusing struct {
	store.Store
	bad     string
	refused atomic.Int32
}

func (s *refusing) Write(ctx context.Context, b store.Batch) (store.WriteResult, error) {
	for _, r := range b.Readings {
		if r.Device == s.bad {
			s.refused.Add(1)
			return store.WriteResult{}, errors.New("value out of range for this column")
		}
	}
	return s.Store.Write(ctx, b)
}

// TestPoisonMessageSetAside: a batch with one message that the store
// refuses for a reason it does not say is an outage stores the others,
// keeps that one rejected with the store's reason, and ingestion goes on.
func TestPoisonMessageSetAside(t *testing.T) {
	var rs *refusing
	p := startPipeline(t, config.Default(), 50, func(s store.Store) store.Store {
		rs = &refusing{Store: s, bad: "666"}
		return rs
	})
	var payloads []string
	for i := range 40 {
		dev := 100 + i%4
		if i == 17 {
			dev = 666
		}
		payloads = append(payloads, fmt.Sprintf(`{"Customer":"finemeca","idDevice":%d,"Mod":"weath","Time":"2024-05-02 08:%02d:00","msgCount":%d,"Temp":%d}`, dev, i, i, i))
	}
	p.send(t, "finemeca/devicev01", payloads...)
	ctx := context.Background()
	devs, err := p.st.Devices(ctx, store.DeviceFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var stored int64
	for _, d := range devs {
		if d.Device == "666" {
			t.Errorf("the refused device was stored: %+v", d)
		}
		stored += d.Readings
	}
	if stored != 39 {
		t.Errorf("%d readings stored, want the 39 the store takes", stored)
	}
	rj, err := p.st.Rejected(ctx, store.RejectedFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rj) != 1 || !strings.HasPrefix(rj[0].Reason, "the store refused this message: value out of range") ||
		!strings.Contains(string(rj[0].Payload), `"idDevice":666`) || rj[0].Customer != "finemeca" {
		t.Fatalf("rejected %+v, want the refused message with the store's reason", rj)
	}
	if rs.refused.Load() < 2 {
		t.Errorf("refused %d times, want the message tried alone again", rs.refused.Load())
	}
	// And the next message is stored.
	p.send(t, "finemeca/devicev01", `{"Customer":"finemeca","idDevice":100,"Mod":"weath","Time":"2024-05-02 09:00:00","msgCount":99,"Temp":1}`)
	testenv.Eventually(t, 10*time.Second, 20*time.Millisecond, func() error {
		r, err := p.st.Latest(ctx, store.DeviceKey{Customer: "finemeca", Sensor: "devicev01", Device: "100"})
		if err != nil || r.MsgCount != 99 {
			return fmt.Errorf("after the poison: newest msgCount %d (%v), want 99", r.MsgCount, err)
		}
		return nil
	})
}

// refusingAll is a store that refuses everything with an error it does
// not mark as an outage: that is not about one message, so nothing is set
// aside and everything waits.
type refusingAll struct {
	store.Store
	on atomic.Bool
}

func (s *refusingAll) Write(ctx context.Context, b store.Batch) (store.WriteResult, error) {
	if s.on.Load() {
		return store.WriteResult{}, errors.New("no such table: readings")
	}
	return s.Store.Write(ctx, b)
}

// TestRefusingEverythingIsAnOutage: when every message of a batch is
// refused, none is rejected: the batch waits until the store takes it.
func TestRefusingEverythingIsAnOutage(t *testing.T) {
	var ra *refusingAll
	p := startPipeline(t, config.Default(), 10, func(s store.Store) store.Store {
		ra = &refusingAll{Store: s}
		ra.on.Store(true)
		return ra
	})
	var payloads []string
	for i := range 6 {
		payloads = append(payloads, fmt.Sprintf(`{"Customer":"finemeca","idDevice":5,"Mod":"weath","msgCount":%d,"Temp":%d}`, i, i))
	}
	now := time.Now().UTC()
	var envs []reading.Envelope
	for i, pl := range payloads {
		envs = append(envs, reading.Envelope{Topic: "finemeca/x", Payload: []byte(pl), Received: now.Add(time.Duration(i)), Source: "http"})
	}
	want := p.acked(t) + len(envs)
	if err := p.fw.Forward(context.Background(), envs...); err != nil {
		t.Fatal(err)
	}
	// The stage says it is stuck, and why.
	testenv.Eventually(t, 10*time.Second, 50*time.Millisecond, func() error {
		if err := p.in.Progress.Check(context.Background()); err == nil || !strings.Contains(err.Error(), "no such table") {
			return fmt.Errorf("progress: %v, want stuck on the store's refusal", err)
		}
		return nil
	})
	if n, _ := p.st.CountRejected(context.Background(), store.RejectedFilter{}); n != 0 {
		t.Fatalf("%d messages rejected while the store refused everything", n)
	}
	ra.on.Store(false)
	testenv.Eventually(t, 30*time.Second, 20*time.Millisecond, func() error {
		if n := p.acked(t); n < want {
			return fmt.Errorf("%d messages acknowledged, want %d", n, want)
		}
		return nil
	})
	if err := p.in.Progress.Check(context.Background()); err != nil {
		t.Errorf("after the store came back: %v", err)
	}
	devs, _ := p.st.Devices(context.Background(), store.DeviceFilter{})
	if len(devs) != 1 || devs[0].Readings != 6 {
		t.Fatalf("devices %+v, want 6 readings once the store takes them", devs)
	}
}
