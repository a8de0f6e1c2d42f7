package web

import (
	"encoding/json"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/sensorhub/sensorhub/internal/auth"
	"github.com/sensorhub/sensorhub/internal/reading"
)

func TestHubDropsClientThatFallsBehind(t *testing.T) {
	h := NewHub(slog.New(slog.NewTextHandler(io.Discard, nil)))
	h.Buffer = 4
	slow := &streamClient{who: auth.Open, events: make(chan []byte, h.Buffer), dropped: make(chan struct{})}
	other := &streamClient{who: auth.Open, device: "201", events: make(chan []byte, h.Buffer), dropped: make(chan struct{})}
	h.add(slow)
	h.add(other)
	for i := 0; i < 10; i++ {
		// Publish must return at once even though slow never reads.
		h.Publish([]byte(`{"customer":"finemeca","sensor":"devicev01","device":"100"}`))
	}
	select {
	case <-slow.dropped:
	default:
		t.Fatal("a client 10 events behind with a buffer of 4 was not dropped")
	}
	if h.Clients() != 1 {
		t.Fatalf("%d clients left, want 1", h.Clients())
	}
	if len(other.events) != 0 {
		t.Fatalf("the client filtered on device 201 got %d events of device 100", len(other.events))
	}
	h.Publish([]byte(`{"customer":"finemeca","sensor":"air","device":"201"}`))
	if len(other.events) != 1 {
		t.Fatalf("the client filtered on device 201 got %d of its events, want 1", len(other.events))
	}
	<-other.events
	// A message of the readings stream as ingest publishes it: each of its
	// readings goes to the clients that follow it, as JSON.
	msg, err := reading.MarshalReadings([]reading.Reading{
		{Customer: "finemeca", Sensor: "air", Device: "201", Time: time.Unix(1700000000, 0).UTC(), Fields: map[string]float64{"Pres": 6.5}, MsgCount: 7},
		{Customer: "finemeca", Sensor: "air", Device: "202", Time: time.Unix(1700000000, 0).UTC(), Fields: map[string]float64{"Pres": 1}, MsgCount: 1},
	})
	if err != nil {
		t.Fatal(err)
	}
	h.Publish(msg)
	if len(other.events) != 1 {
		t.Fatalf("the client filtered on device 201 got %d events of a message of two devices, want 1", len(other.events))
	}
	var got reading.Reading
	if err := json.Unmarshal(<-other.events, &got); err != nil || got.Device != "201" || got.Fields["Pres"] != 6.5 || got.MsgCount != 7 ||
		!got.Time.Equal(time.Unix(1700000000, 0)) {
		t.Fatalf("event %+v (%v); want device 201's reading", got, err)
	}
}
