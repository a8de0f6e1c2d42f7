package web

import (
	"io"
	"log/slog"
	"testing"

	"github.com/sensorhub/sensorhub/internal/auth"
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
}
