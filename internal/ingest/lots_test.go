package ingest

import (
	"context"
	"fmt"
	"log/slog"
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
	l := newLots()
	ls := unpack(ds)
	in := &Ingester{Decoder: &reading.Decoder{}, Log: slog.New(slog.DiscardHandler)}
	if got := in.decodeLots(ctx, ls); got != 91 {
		t.Fatalf("4 deliveries brought %d envelopes; want 91", got)
	}
	l.put(ls, 91, time.Now())
	var got []reading.Envelope
	for _, want := range []struct{ ds, envs int }{{2, 31}, {1, 30}, {1, 30}} {
		b := l.next(ctx, 20, time.Hour)
		if b == nil || len(b.ds) != want.ds || len(b.envs) != want.envs {
			t.Fatalf("a batch of 20 took %+v; want %d deliveries, %d envelopes", b, want.ds, want.envs)
		}
		if len(b.decoded.Readings)+len(b.decoded.Rejected) != want.envs {
			t.Fatalf("a batch of %d envelopes has %d readings and %d rejected; want one each", want.envs, len(b.decoded.Readings), len(b.decoded.Rejected))
		}
		got = append(got, b.envs...)
	}
	if b := l.take(20); b != nil || l.waitingMessages() != 0 {
		t.Fatalf("after every delivery was taken, a batch %+v, %d waiting; want none", b, l.waitingMessages())
	}
	l.close()
	if b := l.next(ctx, 20, time.Hour); b != nil {
		t.Fatalf("after the fetcher ended, next gave %+v; want nil", b)
	}
	for i, e := range got {
		if want := fmt.Sprintf("t/%d", i+1); e.Topic != want {
			t.Fatalf("envelope %d is %s; want %s, in order", i, e.Topic, want)
		}
	}
}

// TestBatchGathers: while fewer than a batch's messages wait and more
// come, the writer waits for them, until the linger of the first has
// passed; a batch's worth is taken at once, and what waits once the
// queue has no more.
func TestBatchGathers(t *testing.T) {
	ctx := context.Background()
	some := func(n int) []lot { return []lot{{envs: make([]reading.Envelope, n)}} }
	l := newLots()
	l.put(some(5), 5, time.Now())
	got := make(chan *batch)
	go func() { got <- l.next(ctx, 20, time.Hour) }()
	l.put(some(10), 10, time.Now())
	l.put(some(10), 10, time.Now())
	if b := <-got; len(b.envs) != 25 {
		t.Fatalf("with an hour's linger, a batch of 20 took %d messages; want the 25 once 20 waited", len(b.envs))
	}
	l.put(some(3), 3, time.Now())
	l.quiet()
	if b := l.next(ctx, 20, time.Hour); b == nil || len(b.envs) != 3 {
		t.Fatalf("once a fetch found the queue empty, a batch took %+v; want the 3 that wait", b)
	}
	l.put(some(5), 5, time.Now().Add(-time.Second))
	if b := l.next(ctx, 20, time.Second); b == nil || len(b.envs) != 5 {
		t.Fatalf("once the first message waited its linger, a batch took %+v; want the 5 that wait", b)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	l.put(some(30), 30, time.Now())
	if b := l.next(cctx, 20, 0); b != nil {
		t.Fatalf("after the stage stopped, a batch took %d messages; want none", len(b.envs))
	}
}
