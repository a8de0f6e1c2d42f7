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
// its size, and the rest wait for the next, in order.
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
	var l lots
	if n := l.add(ds); n != 91 || l.messages != 91 {
		t.Fatalf("4 deliveries brought %d envelopes (%d waiting); want 91", n, l.messages)
	}
	var got []reading.Envelope
	for _, want := range []struct{ ds, envs int }{{2, 31}, {1, 30}, {1, 30}} {
		b := l.take(20)
		if b == nil || len(b.ds) != want.ds || len(b.envs) != want.envs {
			t.Fatalf("a batch of 20 took %+v; want %d deliveries, %d envelopes", b, want.ds, want.envs)
		}
		got = append(got, b.envs...)
	}
	if b := l.take(20); b != nil || l.messages != 0 {
		t.Fatalf("after every delivery was taken, a batch %+v, %d waiting; want none", b, l.messages)
	}
	for i, e := range got {
		if want := fmt.Sprintf("t/%d", i+1); e.Topic != want {
			t.Fatalf("envelope %d is %s; want %s, in order", i, e.Topic, want)
		}
	}
}
