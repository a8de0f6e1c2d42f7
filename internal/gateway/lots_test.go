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
		if len(m.Data) > lotBytes+1024 {
			t.Errorf("a message of %d bytes; want lots of at most %d", len(m.Data), lotBytes)
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
