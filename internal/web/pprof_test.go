package web

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestProfilesOnlyWhenTurnedOn: without http.pprof there is no profile to
// read; with it, a CPU profile longer than the server's write timeout
// still arrives whole.
func TestProfilesOnlyWhenTurnedOn(t *testing.T) {
	if code, _ := serve(t, &Server{Roles: []string{"ingest"}}, http.MethodGet, "/debug/pprof/heap"); code != http.StatusNotFound {
		t.Errorf("profiles not turned on: HTTP %d, want 404", code)
	}
	srv := httptest.NewUnstartedServer((&Server{Roles: []string{"ingest"}, Profiling: true}).Handler())
	srv.Config.WriteTimeout = 500 * time.Millisecond
	srv.Start()
	t.Cleanup(srv.Close)
	res, err := http.Get(srv.URL + "/debug/pprof/profile?seconds=1")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil || res.StatusCode != http.StatusOK || !bytes.HasPrefix(body, []byte{0x1f, 0x8b}) {
		t.Fatalf("CPU profile of 1 s, write timeout 0.5 s: HTTP %d, %v, %.200q", res.StatusCode, err, body)
	}
	res, err = http.Get(srv.URL + "/debug/pprof/goroutine?debug=1")
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(res.Body)
	res.Body.Close()
	if !strings.Contains(string(body), "goroutine profile:") {
		t.Errorf("goroutine profile: HTTP %d %.200s", res.StatusCode, body)
	}
}
