package gateway

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/sensorhub/sensorhub/internal/queue"
	"github.com/sensorhub/sensorhub/internal/reading"
)

// TestLots: the messages of a lot go on the queue as one message of
// lotBytes at most, a subject at a time, in their order; a lot of one is
// the envelope itself, as earlier releases sent it.
func TestLots(t *testing.T) {
	var envs []reading.Envelope
	for i := range 40 {
		src := "mqtt"
		if i >= 30 {
			src = "http"
		}
		envs = append(envs, reading.Envelope{Topic: fmt.Sprintf("finemeca/air/%d", i), Payload: bytes.Repeat([]byte{'x'}, 20<<10), Source: src})
	}
	f := &Forwarder{}
	msgs, err := f.messages(nil, envs)
	if err != nil {
		t.Fatal(err)
	}
	var got []reading.Envelope
	for _, m := range msgs {
		if len(m.Data) > maxLotBytes+1024 {
			t.Errorf("a message of %d bytes; want lots of at most %d", len(m.Data), maxLotBytes)
		}
		part, err := reading.UnmarshalEnvelopes(m.Data)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range part {
			if e.Source != m.Subject {
				t.Errorf("an envelope from %s in a message of subject %s", e.Source, m.Subject)
			}
		}
		got = append(got, part...)
	}
	// 30 of 20 KiB from mqtt in lots of 12, 12 and 6; 10 from http in one.
	if len(msgs) != 4 {
		t.Errorf("%d messages on the queue; want 4 lots", len(msgs))
	}
	if len(got) != len(envs) {
		t.Fatalf("%d envelopes in the lots; want %d", len(got), len(envs))
	}
	for i := range envs {
		if got[i].Topic != envs[i].Topic {
			t.Fatalf("envelope %d is %s; want %s, in order", i, got[i].Topic, envs[i].Topic)
		}
	}
	one, err := f.messages(nil, envs[:1])
	if err != nil {
		t.Fatal(err)
	}
	if want, _ := envs[0].Marshal(); len(one) != 1 || !bytes.Equal(one[0].Data, want) || one[0].Stream != queue.Raw {
		t.Errorf("a lot of one went as %+v; want the envelope alone", one)
	}
}

// maxMessage is a queue that takes messages of at most n bytes.
type maxMessage struct {
	queue.Publisher
	n int64
}

func (m maxMessage) MaxMessage() int64 { return m.n }

// TestLotsFitTheQueue: a queue that takes smaller messages than a lot
// (a NATS server's max_payload) gets lots of half its largest message.
func TestLotsFitTheQueue(t *testing.T) {
	var envs []reading.Envelope
	for i := range 10 {
		envs = append(envs, reading.Envelope{Topic: fmt.Sprintf("finemeca/air/%d", i), Payload: bytes.Repeat([]byte{'x'}, 10<<10), Source: "mqtt"})
	}
	f := &Forwarder{Publisher: maxMessage{n: 64 << 10}}
	msgs, err := f.messages(nil, envs)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, m := range msgs {
		if len(m.Data) > 32<<10 {
			t.Errorf("a message of %d bytes for a queue that takes 64 KiB; want lots of 32 KiB at most", len(m.Data))
		}
		part, err := reading.UnmarshalEnvelopes(m.Data)
		if err != nil {
			t.Fatal(err)
		}
		n += len(part)
	}
	if n != len(envs) || len(msgs) < 4 {
		t.Errorf("%d envelopes in %d messages; want all %d, in lots of 3 at most", n, len(msgs), len(envs))
	}
}
