package web

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// serve sends one request to s's routes and returns the answer.
func serve(t *testing.T, s *Server, method, target string) (int, string) {
	t.Helper()
	if s.Log == nil {
		s.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	req := httptest.NewRequest(method, target, nil)
	req.Host = "127.0.0.1"
	req.RemoteAddr = "127.0.0.1:1234"
	w := httptest.NewRecorder()
	s.Handler().ServeHTTP(w, req)
	return w.Code, w.Body.String()
}

// TestRoutesFollowTheRoles: a process that runs ingest without the web
// role serves the replay of the raw stream and its probes, and says where
// the rest is; one without ingest says which process replays.
func TestRoutesFollowTheRoles(t *testing.T) {
	var replayed []string
	ingestOnly := &Server{Roles: []string{"ingest"},
		ReplayRaw: func(_ context.Context, from, to time.Time, sensor string) (any, error) {
			replayed = append(replayed, sensor)
			return map[string]int{"messages": 3}, nil
		}}
	if code, body := serve(t, ingestOnly, http.MethodPost, "/api/v1/replay?from=2026-05-01T00:00:00Z&sensor=air"); code != http.StatusOK || !strings.Contains(body, `"messages":3`) {
		t.Fatalf("replay on the ingest process: HTTP %d %s", code, body)
	}
	if len(replayed) != 1 || replayed[0] != "air" {
		t.Fatalf("replayed %v, want one replay of air", replayed)
	}
	if code, body := serve(t, ingestOnly, http.MethodPost, "/api/v1/replay"); code != http.StatusBadRequest || !strings.Contains(body, "from is required") {
		t.Fatalf("replay without from: HTTP %d %s", code, body)
	}
	if code, body := serve(t, ingestOnly, http.MethodGet, "/api/v1/devices"); code != http.StatusNotFound || !strings.Contains(body, "served by sensorhub web") {
		t.Fatalf("devices on the ingest process: HTTP %d %s", code, body)
	}
	if code, _ := serve(t, ingestOnly, http.MethodGet, "/healthz"); code != http.StatusOK {
		t.Fatalf("/healthz on the ingest process: HTTP %d", code)
	}

	webOnly := &Server{Roles: []string{"web"}}
	if code, body := serve(t, webOnly, http.MethodPost, "/api/v1/replay?from=2026-05-01T00:00:00Z"); code != http.StatusNotFound || !strings.Contains(body, "the process that runs ingest") {
		t.Fatalf("replay on a process without ingest: HTTP %d %s", code, body)
	}
}

// TestOpenServerAnswersItsOwnNames: a server without users answers on
// loopback names and its public URL's host only, refuses another Host
// (a DNS-rebinding page) with 421, and answers the probes whatever the
// Host.
func TestOpenServerAnswersItsOwnNames(t *testing.T) {
	s := &Server{Roles: []string{"ingest"}, PublicURL: "https://hub.example.com:8443",
		ReplayRaw: func(context.Context, time.Time, time.Time, string) (any, error) { return "ok", nil },
		Log:       slog.New(slog.NewTextHandler(io.Discard, nil))}
	h := s.Handler()
	for host, want := range map[string]int{
		"localhost:8080": 400, "127.0.0.1": 400, "[::1]:8080": 400, "app.localhost": 400, "hub.example.com": 400,
		"evil.example": 421, "10.0.0.5:8080": 421, "hub.example.com.evil.example": 421,
	} {
		req := httptest.NewRequest(http.MethodPost, "/api/v1/replay", nil)
		req.Host = host
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != want {
			t.Errorf("Host %s: HTTP %d, want %d: %s", host, w.Code, want, w.Body)
		}
		req = httptest.NewRequest(http.MethodGet, "/healthz", nil)
		req.Host = host
		w = httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			t.Errorf("/healthz with Host %s: HTTP %d", host, w.Code)
		}
	}
}
