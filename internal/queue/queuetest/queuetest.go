// Package queuetest is the conformance suite that every queue backend passes.
package queuetest

import (
	"context"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/sensorhub/sensorhub/internal/queue"
)

// Opener opens a fresh, empty queue for one subtest. Reopen, when not nil,
// opens a second handle on the same queue (as another process would).
type Opener func(t *testing.T) (q queue.Queue, reopen func() queue.Queue)

// Run runs the suite against the backend that open makes.
func Run(t *testing.T, open Opener) {
	t.Run("PublishThenConsume", func(t *testing.T) { testPublishConsume(t, open) })
	t.Run("UnackedIsRedelivered", func(t *testing.T) { testRedelivery(t, open) })
	t.Run("GroupSharesMessages", func(t *testing.T) { testGroupShares(t, open) })
	t.Run("StreamsAreSeparate", func(t *testing.T) { testStreamsSeparate(t, open) })
	t.Run("DuplicateIDStoredOnce", func(t *testing.T) { testDuplicateID(t, open) })
	t.Run("Pending", func(t *testing.T) { testPending(t, open) })
	t.Run("Tail", func(t *testing.T) { testTail(t, open) })
	t.Run("ReadRange", func(t *testing.T) { testRead(t, open) })
	t.Run("FromNow", func(t *testing.T) { testFromNow(t, open) })
	t.Run("SendsInOrder", func(t *testing.T) { testSendsInOrder(t, open) })
}

// testFromNow checks the optional FromNow: a new group skips what the
// stream held; the same group, opened again, gets what came meanwhile.
func testFromNow(t *testing.T, open Opener) {
	q, _ := open(t)
	fn, ok := q.(queue.FromNow)
	if !ok {
		t.Skip("this queue starts every group at the first message it holds")
	}
	publishN(t, q, queue.Readings, 3)
	c, err := fn.ConsumerFromNow(ctx(t), queue.Readings, "late")
	if err != nil {
		t.Fatal(err)
	}
	none(t, c)
	publishEach(t, q, queue.Readings, "new-1", "new-2")
	sameSet(t, drain(t, c, 2, true), []string{"new-1", "new-2"})
	c.Close()
	publishEach(t, q, queue.Readings, "while-away")
	c2, err := fn.ConsumerFromNow(ctx(t), queue.Readings, "late")
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	sameSet(t, drain(t, c2, 1, true), []string{"while-away"})
	none(t, c2)
}

// testRead checks the optional Reader: the messages stored in a time
// range, in order, and only those.
func testRead(t *testing.T, open Opener) {
	q, _ := open(t)
	rd, ok := q.(queue.Reader)
	if !ok {
		t.Skip("this queue cannot read a stream again")
	}
	publishN(t, q, queue.Raw, 3)
	time.Sleep(20 * time.Millisecond)
	from := time.Now()
	want := []string{"later-0", "later-1", "later-2"}
	publishEach(t, q, queue.Raw, want...)
	time.Sleep(20 * time.Millisecond)
	to := time.Now()
	if err := q.Publish(ctx(t), queue.Message{Stream: queue.Raw, Data: []byte("after")}); err != nil {
		t.Fatal(err)
	}
	var got []string
	if err := rd.Read(ctx(t), queue.Raw, from, to, func(d []byte) error { got = append(got, string(d)); return nil }); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("read %q, want %q", got, want)
	}
}

// testTail checks the optional Tailer: only messages published after the
// tail started arrive, each once, in order.
func testTail(t *testing.T, open Opener) {
	q, _ := open(t)
	tl, ok := q.(queue.Tailer)
	if !ok {
		t.Skip("this queue has no live tail")
	}
	publish := func(d string) {
		if err := q.Publish(ctx(t), queue.Message{Stream: queue.Readings, Subject: "a.b.c", Data: []byte(d)}); err != nil {
			t.Fatal(err)
		}
	}
	publish("before")
	got := make(chan string, 10)
	c, cancel := context.WithCancel(ctx(t))
	defer cancel()
	go tl.Tail(c, queue.Readings, func(d []byte) { got <- string(d) })
	// The tail starts asynchronously: publish until the first arrives.
	var first string
	deadline := time.After(10 * time.Second)
	for first == "" {
		publish("probe")
		select {
		case first = <-got:
		case <-time.After(200 * time.Millisecond):
		case <-deadline:
			t.Fatal("tail delivered nothing")
		}
	}
	if first != "probe" {
		t.Fatalf("first tailed message %q, want a message published after the tail started", first)
	}
	for len(got) > 0 {
		<-got
	}
	publish("one")
	publish("two")
	for _, want := range []string{"one", "two"} {
		var d string
		for d == "" || d == "probe" {
			select {
			case d = <-got:
			case <-time.After(5 * time.Second):
				t.Fatalf("tail did not deliver %q", want)
			}
		}
		if d != want {
			t.Fatalf("tail delivered %q, want %q", d, want)
		}
	}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

// publishEach publishes each message on its own.
func publishEach(t *testing.T, q queue.Queue, s queue.Stream, data ...string) {
	t.Helper()
	for _, d := range data {
		if err := q.Publish(ctx(t), queue.Message{Stream: s, Data: []byte(d)}); err != nil {
			t.Fatal(err)
		}
	}
}

func publishN(t *testing.T, q queue.Queue, s queue.Stream, n int) []string {
	t.Helper()
	var msgs []queue.Message
	var want []string
	for i := 0; i < n; i++ {
		d := fmt.Sprintf("msg-%04d", i)
		want = append(want, d)
		msgs = append(msgs, queue.Message{Stream: s, Subject: "finemeca.air.201", Data: []byte(d)})
	}
	if err := q.Publish(ctx(t), msgs...); err != nil {
		t.Fatalf("publish: %v", err)
	}
	return want
}

// drain fetches until n messages came or the time is up, acking each.
func drain(t *testing.T, c queue.Consumer, n int, ack bool) []string {
	t.Helper()
	var got []string
	deadline := time.Now().Add(15 * time.Second)
	for len(got) < n && time.Now().Before(deadline) {
		ds, err := c.Fetch(ctx(t), n-len(got), 500*time.Millisecond)
		if err != nil {
			t.Fatalf("fetch: %v", err)
		}
		for _, d := range ds {
			got = append(got, string(d.Data()))
			if ack {
				if err := d.Ack(ctx(t)); err != nil {
					t.Fatalf("ack: %v", err)
				}
			}
		}
	}
	return got
}

// none asserts that nothing more is delivered for a while.
func none(t *testing.T, c queue.Consumer) {
	t.Helper()
	ds, err := c.Fetch(ctx(t), 10, 700*time.Millisecond)
	if err != nil {
		t.Fatalf("fetch: %v", err)
	}
	if len(ds) != 0 {
		t.Fatalf("got %d more messages, want none (first %q)", len(ds), ds[0].Data())
	}
}

func sameSet(t *testing.T, got, want []string) {
	t.Helper()
	g := append([]string(nil), got...)
	sort.Strings(g)
	if len(g) != len(want) {
		t.Fatalf("got %d messages, want %d", len(g), len(want))
	}
	for i := range g {
		if g[i] != want[i] {
			t.Fatalf("message %d: got %q, want %q", i, g[i], want[i])
		}
	}
}

// testSendsInOrder: a queue that sends without waiting (queue.Sender)
// keeps the order of the calls on the stream while their waits run at
// once, the last waited for first.
func testSendsInOrder(t *testing.T, open Opener) {
	q, _ := open(t)
	s, ok := q.(queue.Sender)
	if !ok {
		t.Skip("this queue publishes and waits in one call (queue.Sender not implemented)")
	}
	var want []string
	var waits []func() error
	for lot := range 20 {
		var msgs []queue.Message
		for i := range 25 {
			d := fmt.Sprintf("lot-%02d-msg-%02d", lot, i)
			want = append(want, d)
			msgs = append(msgs, queue.Message{Stream: queue.Raw, Subject: "finemeca.meters", Data: []byte(d)})
		}
		waits = append(waits, s.Send(ctx(t), msgs...))
	}
	errs := make(chan error, len(waits))
	for i := len(waits) - 1; i >= 0; i-- {
		go func() { errs <- waits[i]() }()
	}
	for range waits {
		if err := <-errs; err != nil {
			t.Fatalf("wait: %v", err)
		}
	}
	c, err := q.Consumer(ctx(t), queue.Raw, "ingest")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	got := drain(t, c, len(want), true)
	if len(got) != len(want) {
		t.Fatalf("got %d messages, want %d", len(got), len(want))
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("message %d: got %q, want %q (the order of the sends)", i, got[i], want[i])
		}
	}
}

func testPublishConsume(t *testing.T, open Opener) {
	q, _ := open(t)
	want := publishN(t, q, queue.Raw, 250)
	c, err := q.Consumer(ctx(t), queue.Raw, "ingest")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	got := drain(t, c, len(want), true)
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("message %d: got %q, want %q (order must be kept for one consumer)", i, got[i], want[i])
		}
	}
	none(t, c)
}

func testRedelivery(t *testing.T, open Opener) {
	q, reopen := open(t)
	want := publishN(t, q, queue.Raw, 5)
	c, err := q.Consumer(ctx(t), queue.Raw, "ingest")
	if err != nil {
		t.Fatal(err)
	}
	ds, err := c.Fetch(ctx(t), 5, 5*time.Second)
	if err != nil || len(ds) == 0 {
		t.Fatalf("fetch: %d messages, %v", len(ds), err)
	}
	// Ack the first, nak the rest: the rest come back, the first does not.
	if err := ds[0].Ack(ctx(t)); err != nil {
		t.Fatal(err)
	}
	for _, d := range ds[1:] {
		if err := d.Nak(ctx(t), 0); err != nil {
			t.Fatal(err)
		}
	}
	c.Close()
	// A consumer opened again, possibly on a second connection, gets every
	// message that was not acknowledged.
	q2 := q
	if reopen != nil {
		q2 = reopen()
	}
	c2, err := q2.Consumer(ctx(t), queue.Raw, "ingest")
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	got := drain(t, c2, len(want)-1, true)
	rest := map[string]bool{}
	for _, g := range got {
		rest[g] = true
	}
	if rest[string(ds[0].Data())] {
		t.Fatalf("acknowledged message %q was delivered again", ds[0].Data())
	}
	if len(rest) != len(want)-1 {
		t.Fatalf("redelivered %d distinct messages, want %d", len(rest), len(want)-1)
	}
}

func testGroupShares(t *testing.T, open Opener) {
	q, _ := open(t)
	want := publishN(t, q, queue.Raw, 200)
	c1, err := q.Consumer(ctx(t), queue.Raw, "ingest")
	if err != nil {
		t.Fatal(err)
	}
	c2, err := q.Consumer(ctx(t), queue.Raw, "ingest")
	if err != nil {
		t.Fatal(err)
	}
	defer c1.Close()
	defer c2.Close()
	var got []string
	deadline := time.Now().Add(15 * time.Second)
	for len(got) < len(want) && time.Now().Before(deadline) {
		for _, c := range []queue.Consumer{c1, c2} {
			ds, err := c.Fetch(ctx(t), 25, 200*time.Millisecond)
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range ds {
				got = append(got, string(d.Data()))
				d.Ack(ctx(t))
			}
		}
	}
	sameSet(t, got, want)
	none(t, c1)
	none(t, c2)
}

func testStreamsSeparate(t *testing.T, open Opener) {
	q, _ := open(t)
	raw := publishN(t, q, queue.Raw, 3)
	if err := q.Publish(ctx(t), queue.Message{Stream: queue.Readings, Data: []byte("reading")}); err != nil {
		t.Fatal(err)
	}
	cr, err := q.Consumer(ctx(t), queue.Readings, "alert")
	if err != nil {
		t.Fatal(err)
	}
	defer cr.Close()
	got := drain(t, cr, 1, true)
	if len(got) != 1 || got[0] != "reading" {
		t.Fatalf("readings stream gave %q, want [reading]", got)
	}
	none(t, cr)
	c, err := q.Consumer(ctx(t), queue.Raw, "ingest")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	sameSet(t, drain(t, c, 3, true), raw)
	// A second group on the same stream gets every message too.
	c3, err := q.Consumer(ctx(t), queue.Raw, "replay")
	if err != nil {
		t.Fatal(err)
	}
	defer c3.Close()
	sameSet(t, drain(t, c3, 3, true), raw)
}

func testDuplicateID(t *testing.T, open Opener) {
	q, _ := open(t)
	m := queue.Message{Stream: queue.Readings, ID: "finemeca/air/201/1651471200000/1", Data: []byte("r1")}
	for i := 0; i < 3; i++ {
		if err := q.Publish(ctx(t), m); err != nil {
			t.Fatal(err)
		}
	}
	c, err := q.Consumer(ctx(t), queue.Readings, "alert")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	got := drain(t, c, 1, true)
	if len(got) != 1 {
		t.Fatalf("got %d messages, want 1", len(got))
	}
	none(t, c)
}

func testPending(t *testing.T, open Opener) {
	q, _ := open(t)
	publishN(t, q, queue.Raw, 7)
	c, err := q.Consumer(ctx(t), queue.Raw, "ingest")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	n, err := c.Pending(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if n != 7 {
		t.Fatalf("pending = %d before any fetch, want 7", n)
	}
	drain(t, c, 7, true)
	deadline := time.Now().Add(5 * time.Second)
	for n != 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		if n, err = c.Pending(ctx(t)); err != nil {
			t.Fatal(err)
		}
	}
	if n != 0 {
		t.Fatalf("pending = %d after all were acked, want 0", n)
	}
}
