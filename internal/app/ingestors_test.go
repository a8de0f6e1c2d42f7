package app_test

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"regexp"
	"testing"
	"time"

	"github.com/sensorhub/sensorhub/internal/app"
	"github.com/sensorhub/sensorhub/internal/config"
	"github.com/sensorhub/sensorhub/internal/gateway"
	"github.com/sensorhub/sensorhub/internal/ingest"
	"github.com/sensorhub/sensorhub/internal/queue"
	"github.com/sensorhub/sensorhub/internal/reading"
	"github.com/sensorhub/sensorhub/internal/store"
	"github.com/sensorhub/sensorhub/internal/store/storetest"
	"github.com/sensorhub/sensorhub/internal/testenv"
)

// TestFourIngestorsOnPostgres runs four ingest processes on one raw stream
// (the NATS server) and one PostgreSQL database, as a scaled-out
// deployment does, under a load whose every batch holds most of the
// fleet's devices in an order of its own, new devices and field units
// among them, readings that come late, messages sent twice and messages
// rejected. Every reading and every value is stored once, and no
// ingestor's log tells of a deadlock or of a write retried.
func TestFourIngestorsOnPostgres(t *testing.T) {
	const ingestors, devices, perDevice = 4, 60, 40
	pg := testenv.PostgresSchema(t)
	prefix := testenv.Unique(t)
	mutate := func(c *config.Config) {
		c.Store.Engine, c.Store.URL = "postgres", pg
		c.Queue.Prefix = prefix
		c.Ingest.BatchSize = 200
		// Each process' compactor folds devices' days into chunks while
		// the four write.
		c.Store.CompactRows = 8
	}
	var apps []*app.App
	var logs []*testenv.SyncBuffer
	for range ingestors {
		buf := &testenv.SyncBuffer{}
		log := slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelInfo}))
		apps = append(apps, startLogged(t, "nats", app.Options{Roles: []string{app.RoleIngest}}, log, mutate))
		logs = append(logs, buf)
	}

	// Round after round, each device's next reading, the devices in an
	// order of the round's own: a batch of 200 holds every device, in
	// another order than the batches other ingestors write meanwhile.
	// One reading in seven comes after its successor; one message in ten
	// is sent twice (a gateway's retry), one round holds messages that are
	// not JSON.
	rnd := rand.New(rand.NewPCG(24, 3))
	t0 := time.Now().Add(-2 * time.Hour).Truncate(time.Second)
	received := time.Now().UTC()
	var envs []reading.Envelope
	sent := 0
	add := func(topic, payload string) {
		env := reading.Envelope{Topic: topic, Payload: []byte(payload), Received: received.Add(time.Duration(sent)), Source: "mqtt"}
		sent++
		envs = append(envs, env)
		if rnd.IntN(10) == 0 {
			envs = append(envs, env)
		}
	}
	order := make([]int, devices)
	for i := range order {
		order[i] = i
	}
	const bad = 3
	for round := range perDevice {
		rnd.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		for _, d := range order {
			n := round
			if n%7 == 5 {
				n++ // its predecessor comes in the next round
			} else if n%7 == 6 {
				n--
			}
			add(fmt.Sprintf("finemeca/air/%d", 1000+d), airOf(1000+d, t0.Add(time.Duration(n)*time.Minute), n+1, 5.5+float64((n+d)%10)/10))
		}
		if round == perDevice/2 {
			for i := range bad {
				add("finemeca/air/bad", fmt.Sprintf(`{"Customer":"finemeca","idDevice":%d,`, i))
			}
		}
	}
	fw := &gateway.Forwarder{Publisher: apps[0].Queue, Metrics: apps[0].Metrics, Log: apps[0].Log}
	ctx := context.Background()
	for i := 0; i < len(envs); i += 500 {
		if err := fw.Forward(ctx, envs[i:min(i+500, len(envs))]...); err != nil {
			t.Fatal(err)
		}
	}

	// Every message is acknowledged, which is after its batch is stored.
	cons, err := apps[0].Queue.Consumer(ctx, queue.Raw, ingest.Group)
	if err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 2*time.Minute, 50*time.Millisecond, func() error {
		if n, err := cons.Pending(ctx); err != nil || n != 0 {
			return fmt.Errorf("%d messages not acknowledged yet (%v)", n, err)
		}
		return nil
	})

	st := apps[0].Store
	for _, d := range storetest.Fleet(t, st, "finemeca", "air", devices, perDevice) {
		for _, field := range []string{"Pres", "OpenPres", "leak"} {
			ps, _, err := st.Points(ctx, store.RawQuery{DeviceKey: store.DeviceKey{Customer: "finemeca", Sensor: "air", Device: d.Device},
				Field: field, From: t0.Add(-time.Hour), To: t0.Add(time.Duration(perDevice+1) * time.Minute)})
			if err != nil {
				t.Fatal(err)
			}
			if len(ps) != perDevice {
				t.Errorf("device %s: %d values of %s, want %d", d.Device, len(ps), field, perDevice)
			}
		}
	}
	if n, err := st.CountRejected(ctx, store.RejectedFilter{}); err != nil || n != bad {
		t.Errorf("%d rejected messages (%v), want %d", n, err, bad)
	}

	// The normal path waits for row locks; it never deadlocks, and so
	// never retries.
	trouble := regexp.MustCompile(`(?i).*(40P01|deadlock|40001|could not serialize|failed, retrying).*`)
	for i, buf := range logs {
		for _, line := range trouble.FindAllString(buf.String(), 5) {
			t.Errorf("ingestor %d logged: %s", i+1, line)
		}
	}
}

// airOf is an air meter's message.
func airOf(device int, at time.Time, count int, pres float64) string {
	loc, _ := time.LoadLocation("Europe/Brussels")
	return fmt.Sprintf(`{"Customer":"finemeca","idGateway":170,"idDevice":%d,"Time":%q,"msgCount":%d,"RSSI":-62,"SNR":7,"Mod":"air","Pres":%.2f,"Pres-U":"bar","OpenPres":6.0,"OpenPres-U":"bar"}`,
		device, at.In(loc).Format("2006-01-02 15:04:05"), count, pres)
}
