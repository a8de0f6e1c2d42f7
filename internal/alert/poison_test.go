package alert_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/sensorhub/sensorhub/internal/alert"
	"github.com/sensorhub/sensorhub/internal/config"
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

// TestLeakOverWithinOneBatch: a gateway's buffered leak that is already
// over (four readings below the opening pressure over 90 s, then one
// above) fires and resolves within one batch; it is saved, and a live leak
// on another line afterwards is alerted.
func TestLeakOverWithinOneBatch(t *testing.T) {
	e, st := newEngine(t, alert.RuleSpec{Name: "air-leak", Sensor: "air", When: "Pres < OpenPres", For: time.Minute, Severity: "critical"})
	var batch []reading.Reading
	for i := range 4 {
		batch = append(batch, air(t0.Add(time.Duration(i)*30*time.Second), 5.5))
	}
	batch = append(batch, air(t0.Add(120*time.Second), 6.5))
	changes := e.Process(context.Background(), batch)
	if err := e.Save(context.Background(), changes); err != nil {
		t.Fatalf("saving a leak that fired and resolved in one batch: %v", err)
	}
	all, _ := st.Alerts(context.Background(), store.AlertFilter{})
	if len(all) != 1 || all[0].State != "resolved" {
		t.Fatalf("alerts %+v, want the leak, resolved", all)
	}
	ns, _ := st.Notifications(context.Background(), all[0].ID)
	if len(ns) != 2 || ns[0].Kind != "firing" || ns[1].Kind != "resolved" {
		t.Errorf("notifications %+v, want firing and resolved", ns)
	}
	other := func(ts time.Time, p float64) reading.Reading {
		r := air(ts, p)
		r.Device = "202"
		return r
	}
	feed(t, e, other(t0.Add(10*time.Minute), 5.5), other(t0.Add(11*time.Minute), 5.4), other(t0.Add(12*time.Minute), 5.3))
	firing, _ := st.Alerts(context.Background(), store.AlertFilter{State: "firing"})
	if len(firing) != 1 || firing[0].Device != "202" {
		t.Fatalf("firing %+v, want the live leak on 202", firing)
	}
}

// refusingAlerts refuses, as a store can for an unforeseen reason, every
// save that holds a change for one device.
type refusingAlerts struct {
	store.Store
	device string
}

func (s *refusingAlerts) SaveAlerts(ctx context.Context, changes []store.AlertChange) error {
	for _, c := range changes {
		if c.State.Device == s.device {
			return errors.New("value too long for type character varying(64)")
		}
	}
	return s.Store.SaveAlerts(ctx, changes)
}

// TestAlertChangeRefusedSetAside: the alert stage, fed from the queue,
// sets aside a change the store refuses alone and goes on alerting for
// every other device.
func TestAlertChangeRefusedSetAside(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	q, err := jetstream.StartEmbedded(ctx, t.TempDir(), "", jetstream.Options{Prefix: "t", RawMaxAge: time.Hour, ReadingsMaxAge: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	sq, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "s.db"), sqlstore.Options{Location: time.UTC})
	if err != nil {
		t.Fatal(err)
	}
	defer sq.Close()
	cfg := config.Default()
	cfg.Alerts.Rules = []alert.RuleSpec{{Name: "air-leak", Sensor: "air", When: "Pres < OpenPres", Severity: "critical"}}
	if err := cfg.Validate(nil); err != nil {
		t.Fatal(err)
	}
	cons, err := q.Consumer(ctx, queue.Readings, alert.Group)
	if err != nil {
		t.Fatal(err)
	}
	e := &alert.Engine{Rules: plan.MustCompile(cfg).Rules, Store: &refusingAlerts{Store: sq, device: "666"}, Every: time.Hour, Metrics: metrics.New(),
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx, cons) }()
	var msgs []queue.Message
	for i, dev := range []string{"201", "666", "202"} {
		r := air(t0.Add(time.Duration(i)*time.Second), 5)
		r.Device = dev
		data, _ := json.Marshal(r)
		msgs = append(msgs, queue.Message{Stream: queue.Readings, Subject: r.Subject(), ID: r.Key(), Data: data})
	}
	if err := q.Publish(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 10*time.Second, 20*time.Millisecond, func() error {
		firing, err := sq.Alerts(ctx, store.AlertFilter{State: "firing"})
		if err != nil || len(firing) != 2 {
			return fmt.Errorf("firing %+v (%v), want 201 and 202", firing, err)
		}
		if n, _ := cons.Pending(ctx); n != 0 {
			return fmt.Errorf("%d readings still pending", n)
		}
		return nil
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
