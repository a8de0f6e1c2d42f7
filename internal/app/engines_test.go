package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sensorhub/sensorhub/internal/alert"
	"github.com/sensorhub/sensorhub/internal/app"
	"github.com/sensorhub/sensorhub/internal/config"
	"github.com/sensorhub/sensorhub/internal/queue"
	"github.com/sensorhub/sensorhub/internal/queue/jetstream"
	"github.com/sensorhub/sensorhub/internal/reading"
	"github.com/sensorhub/sensorhub/internal/store"
	"github.com/sensorhub/sensorhub/internal/testenv"
)

// TestOriginalEngines runs every stage on the original system's queue,
// ActiveMQ over STOMP, and on PostgreSQL: messages published with
// mosquitto_pub are stored, reach the live stream, and fire an alert.
func TestOriginalEngines(t *testing.T) {
	pg := testenv.PostgresSchema(t)
	a := start(t, "activemq", app.Options{}, func(c *config.Config) {
		c.Store.Engine, c.Store.URL = "postgres", pg
		c.Alerts.EvaluateEvery = 100 * time.Millisecond
		c.Alerts.Rules = []alert.RuleSpec{{Name: "low-pressure", Sensor: "air", When: "Pres < OpenPres", Severity: "warning"}}
	})
	ctx := context.Background()
	live := liveReadings(t, http.DefaultClient, "http://"+a.HTTPAddr()+"/api/v1/stream?device=201")
	t0 := time.Now().Truncate(time.Second)
	mosquittoPub(t, a.MQTTAddr(), "finemeca/air/201", airLine(t0, 1, 6.2), airLine(t0.Add(30*time.Second), 2, 5.7))
	testenv.Eventually(t, 20*time.Second, 50*time.Millisecond, func() error {
		devs, err := a.Store.Devices(ctx, store.DeviceFilter{})
		if err != nil || len(devs) != 1 || devs[0].Readings != 2 {
			return fmt.Errorf("devices %+v %v", devs, err)
		}
		alerts, err := a.Store.Alerts(ctx, store.AlertFilter{State: "firing"})
		if err != nil || len(alerts) != 1 || alerts[0].Rule != "low-pressure" {
			return fmt.Errorf("alerts %+v %v", alerts, err)
		}
		return nil
	})
	// The live tail subscribes asynchronously: publish until one arrives.
	n := 3
	testenv.Eventually(t, 15*time.Second, 300*time.Millisecond, func() error {
		select {
		case d := <-live:
			if !strings.Contains(d, `"device":"201"`) {
				t.Errorf("live: %s", d)
			}
			return nil
		default:
		}
		mosquittoPub(t, a.MQTTAddr(), "finemeca/air/201", airLine(t0.Add(time.Duration(n)*30*time.Second), n, 6.3))
		n++
		return fmt.Errorf("the live stream got nothing over ActiveMQ")
	})
}

// TestAlertsStartAtNewReadings: readings the queue held before the alert
// stage first ran are the past: they notify nothing. What comes after
// does.
func TestAlertsStartAtNewReadings(t *testing.T) {
	natsURL := testenv.NATSURL(t)
	prefix := testenv.Unique(t)
	q, err := jetstream.Connect(context.Background(), natsURL, jetstream.Options{Prefix: prefix, RawMaxAge: time.Hour,
		ReadingsMaxAge: time.Hour, RawMaxBytes: 64 << 20})
	if err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-2 * time.Hour)
	for i := range 3 {
		r := reading.Reading{Customer: "finemeca", Sensor: "air", Device: "201", Time: old.Add(time.Duration(i) * time.Minute),
			Received: old, MsgCount: int64(i + 1), Fields: map[string]float64{"Pres": 5.5, "OpenPres": 6}}
		data, _ := json.Marshal(r)
		if err := q.Publish(context.Background(), queue.Message{Stream: queue.Readings, Subject: r.Subject(), Data: data}); err != nil {
			t.Fatal(err)
		}
	}
	q.Close()
	a := start(t, "nats", app.Options{}, func(c *config.Config) {
		c.Queue.Prefix = prefix
		c.Alerts.EvaluateEvery = 100 * time.Millisecond
		c.Alerts.Rules = []alert.RuleSpec{{Name: "low-pressure", Sensor: "air", When: "Pres < OpenPres", Severity: "warning"}}
	})
	ctx := context.Background()
	time.Sleep(time.Second) // long enough for the stage to take what it would take
	if alerts, err := a.Store.Alerts(ctx, store.AlertFilter{}); err != nil || len(alerts) != 0 {
		t.Fatalf("alerts from readings older than the alert stage: %+v %v", alerts, err)
	}
	t0 := time.Now().Truncate(time.Second)
	mosquittoPub(t, a.MQTTAddr(), "finemeca/air/201", airLine(t0, 10, 5.6))
	testenv.Eventually(t, 20*time.Second, 50*time.Millisecond, func() error {
		alerts, err := a.Store.Alerts(ctx, store.AlertFilter{State: "firing"})
		if err != nil || len(alerts) != 1 {
			return fmt.Errorf("alerts %+v %v", alerts, err)
		}
		return nil
	})
}
