package ingest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/sensorhub/sensorhub/internal/queue"
	"github.com/sensorhub/sensorhub/internal/queue/jetstream"
	"github.com/sensorhub/sensorhub/internal/reading"
)

// TestEnvelopesOfLots: deliveries of the raw stream bring one envelope or
// a gateway's lot of them, in order; a batch takes deliveries until it has
// its size, and says how many it took, for the rest to go back.
func TestEnvelopesOfLots(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	q, err := jetstream.StartEmbedded(ctx, t.TempDir(), "", jetstream.Options{Prefix: "t", RawMaxAge: time.Hour, ReadingsMaxAge: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	n := 0
	env := func() []byte {
		n++
		b, err := reading.Envelope{Topic: fmt.Sprintf("t/%d", n), Payload: []byte("{}"), Source: "mqtt"}.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	msgs := []queue.Message{{Stream: queue.Raw, Subject: "mqtt", Data: env()}}
	for range 3 {
		var lot [][]byte
		for range 30 {
			lot = append(lot, env())
		}
		msgs = append(msgs, queue.Message{Stream: queue.Raw, Subject: "mqtt", Data: reading.MarshalLot(lot)})
	}
	if err := q.Publish(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
	c, err := q.Consumer(ctx, queue.Raw, Group)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ds, err := c.Fetch(ctx, 10, 5*time.Second)
	if err != nil || len(ds) != 4 {
		t.Fatalf("fetched %d deliveries (%v); want the 4 published", len(ds), err)
	}
	envs, taken := envelopes(ds, 20)
	if taken != 2 || len(envs) != 31 {
		t.Fatalf("a batch of 20 took %d deliveries, %d envelopes; want 2 deliveries, the single one and a lot of 30", taken, len(envs))
	}
	for i, e := range envs {
		if want := fmt.Sprintf("t/%d", i+1); e.Topic != want {
			t.Fatalf("envelope %d is %s; want %s, in order", i, e.Topic, want)
		}
	}
	if envs, taken := envelopes(ds, 1000); taken != 4 || len(envs) != 91 {
		t.Fatalf("a batch of 1000 took %d deliveries, %d envelopes; want all 4, 91", taken, len(envs))
	}
}
