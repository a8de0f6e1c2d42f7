package web

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/sensorhub/sensorhub/internal/store"
)

// TestInvalidIntervals: only an admin marks an interval invalid (with the
// session's CSRF token) or removes the mark; whoever sees the customer
// lists them, with the reason, who marked it and when; no one else.
func TestInvalidIntervals(t *testing.T) {
	s := newSite(t)
	const target = "/api/v1/devices/intervals?customer=acme&sensor=air&device=901"
	const body = `{"from": "2026-05-01T10:00:00Z", "to": "2026-05-01T10:01:30Z", "reason": "meter on the test bench"}`
	for _, c := range []*client{s.login(t, "op"), s.login(t, "alice"), s.withToken(t, "viewer")} {
		if code, got := send(c, http.MethodPost, target, body); code != http.StatusForbidden {
			t.Errorf("a non-admin marks an interval: HTTP %d %s, want 403", code, got)
		}
	}
	root := s.login(t, "root")
	if code, _ := root.Do(http.MethodPost, target, body, "Content-Type", "application/json"); code != http.StatusForbidden {
		t.Errorf("a mark without the CSRF token: HTTP %d, want 403", code)
	}
	for _, bad := range []string{`{"from": "2026-05-01T10:00:00Z", "to": "2026-05-01T09:00:00Z", "reason": "x"}`,
		`{"from": "2026-05-01T10:00:00Z", "to": "2026-05-01T11:00:00Z"}`, `{"from": "yesterday", "to": "2026-05-01T11:00:00Z", "reason": "x"}`,
		`{"from": "2026-05-01T10:00:00Z", "to": "2026-05-01T11:00:00Z", "reason": "x", "by": "someone"}`} {
		if code, got := send(root, http.MethodPost, target, bad); code != http.StatusBadRequest {
			t.Errorf("marking %s: HTTP %d %s, want 400", bad, code, got)
		}
	}
	if code, _ := send(root, http.MethodPost, "/api/v1/devices/intervals?customer=acme&sensor=air&device=999", body); code != http.StatusNotFound {
		t.Errorf("marking an unknown device: HTTP %d, want 404", code)
	}
	code, got := send(root, http.MethodPost, target, body)
	var iv store.InvalidInterval
	if err := json.Unmarshal([]byte(got), &iv); code != http.StatusCreated || err != nil || iv.ID == 0 || iv.MarkedBy != "root" || iv.MarkedAt.IsZero() {
		t.Fatalf("the admin marks acme's 901: HTTP %d %s", code, got)
	}
	if code, _ := send(root, http.MethodPost, "/api/v1/devices/intervals?customer=finemeca&sensor=air&device=201", body); code != http.StatusCreated {
		t.Fatalf("the admin marks finemeca's 201: HTTP %d", code)
	}

	list := func(c *client, customer string) (int, []store.InvalidInterval) {
		t.Helper()
		code, got := c.Do(http.MethodGet, "/api/v1/devices/intervals?customer="+customer, "")
		var out []store.InvalidInterval
		if code == http.StatusOK {
			if err := json.Unmarshal([]byte(got), &out); err != nil {
				t.Fatalf("%s: %v", got, err)
			}
		}
		return code, out
	}
	alice := s.login(t, "alice")
	if code, _ := list(alice, "acme"); code != http.StatusNotFound {
		t.Errorf("a viewer of finemeca lists acme's intervals: HTTP %d, want 404", code)
	}
	if code, ivs := list(alice, "finemeca"); code != http.StatusOK || len(ivs) != 1 || ivs[0].Device != "201" || ivs[0].Reason != "meter on the test bench" {
		t.Errorf("a viewer of finemeca lists its intervals: HTTP %d %+v, want 201's", code, ivs)
	}
	if code, ivs := list(root, "acme"); code != http.StatusOK || len(ivs) != 1 || ivs[0].ID != iv.ID || ivs[0].MarkedBy != "root" {
		t.Errorf("the admin lists acme's intervals: HTTP %d %+v, want the one marked", code, ivs)
	}

	remove := "/api/v1/devices/intervals?customer=acme&id=" + strconv.FormatInt(iv.ID, 10)
	if code, _ := send(alice, http.MethodDelete, remove, ""); code != http.StatusForbidden {
		t.Errorf("a viewer removes a mark: HTTP %d, want 403", code)
	}
	if code, _ := send(root, http.MethodDelete, "/api/v1/devices/intervals?customer=finemeca&id="+strconv.FormatInt(iv.ID, 10), ""); code != http.StatusNotFound {
		t.Errorf("removing acme's mark as finemeca's: HTTP %d, want 404", code)
	}
	if code, got := send(root, http.MethodDelete, remove, ""); code != http.StatusOK {
		t.Fatalf("the admin removes the mark: HTTP %d %s", code, got)
	}
	if code, ivs := list(root, "acme"); code != http.StatusOK || len(ivs) != 0 {
		t.Errorf("acme's intervals after the removal: HTTP %d %+v, want none", code, ivs)
	}
	if logs := s.logs.String(); !strings.Contains(logs, "interval marked invalid") || !strings.Contains(logs, "by=root") {
		t.Errorf("the mark is not in the log with who did it:\n%s", logs)
	}
}
