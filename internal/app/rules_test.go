package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sensorhub/sensorhub/internal/alert"
	"github.com/sensorhub/sensorhub/internal/app"
	"github.com/sensorhub/sensorhub/internal/config"
	"github.com/sensorhub/sensorhub/internal/reading"
	"github.com/sensorhub/sensorhub/internal/store"
	"github.com/sensorhub/sensorhub/internal/testenv"
)

// request sends one API request to a and returns its status, headers and
// body.
func request(t *testing.T, a *app.App, method, path, body string, header ...string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+a.HTTPAddr()+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

// TestRuleAddedThroughTheAPI: a rule created over the API, with no
// restart, fires on the readings that follow and sends one e-mail; an
// edit of its threshold keeps the firing alert; deleting it resolves it.
// The configuration's own rules are read only (409), a change made from
// an old version is refused (412), a bad field is named (400), and every
// change is in the audit log.
func TestRuleAddedThroughTheAPI(t *testing.T) {
	srv := testenv.StartSMTP(t)
	a := startAs(t, "embedded", app.Options{}, nil, func(c *config.Config) {
		mailTo(srv)(c)
		c.Alerts.Rules = []alert.RuleSpec{{Name: "warm", Sensor: "devicev01", When: "Temp > 100", Severity: "info"}}
	}, true)
	const path = "/api/v1/rules/high-pressure"
	for body, field := range map[string]string{
		`{"sensor": "air", "when": "Pres >", "severity": "warning"}`:                    "when",
		`{"sensor": "air", "when": "Pres > 7.5", "severity": "warning", "treshold": 3}`: "treshold",
		`{"sensor": "air", "when": "Pres > 7.5", "severity": "warning", "for": "soon"}`: "for",
		`{"sensor": "oven", "when": "Pres > 7.5", "severity": "warning"}`:               "sensor",
	} {
		code, _, got := request(t, a, http.MethodPut, path, body)
		var e struct{ Error, Field string }
		json.Unmarshal([]byte(got), &e)
		if code != http.StatusBadRequest || e.Field != field {
			t.Errorf("%s: HTTP %d %s, want 400 naming %s", body, code, got, field)
		}
	}
	rule := `{"sensor": "air", "when": "Pres > 7.5", "clear_when": "Pres < 7", "severity": "warning", "for": "0s"}`
	code, hdr, body := request(t, a, http.MethodPut, path, rule, "If-None-Match", "*")
	if code != http.StatusCreated {
		t.Fatalf("create: HTTP %d %s", code, body)
	}
	created := time.Now()
	v1 := hdr.Get("ETag")
	if code, _, body := request(t, a, http.MethodPut, path, rule, "If-None-Match", "*"); code != http.StatusPreconditionFailed || !strings.Contains(body, `{"error":"rule \"high-pressure\" already exists`) {
		t.Errorf("create again: HTTP %d %s, want 412 saying it exists", code, body)
	}
	testenv.Eventually(t, 5*time.Second, 100*time.Millisecond, func() error {
		if code, _, body := request(t, a, http.MethodGet, "/alerts", ""); code != http.StatusOK || !strings.Contains(body, "<option>high-pressure</option>") {
			return fmt.Errorf("the alerts page's rule filter lacks the new rule: HTTP %d", code)
		}
		return nil
	})
	if code, _, body := request(t, a, http.MethodPut, "/api/v1/rules/warm", rule); code != http.StatusConflict || !strings.Contains(body, "sensorhub.yaml:") {
		t.Errorf("change a rule of the configuration: HTTP %d %s, want 409", code, body)
	}

	// Readings over the threshold, from now on: the rule is applied
	// within seconds and fires once.
	t0 := time.Now().Truncate(time.Second)
	count := 0
	publish := func(pres float64) {
		count++
		mosquittoPub(t, a.MQTTAddr(), "finemeca/air/201", airLine(t0.Add(time.Duration(count)*time.Second), count, pres))
	}
	testenv.Eventually(t, 10*time.Second, 200*time.Millisecond, func() error {
		publish(8)
		if got := alertsIn(t, a, "state=firing&rule=high-pressure"); len(got) != 1 {
			return fmt.Errorf("%d alerts of high-pressure firing", len(got))
		}
		return nil
	})
	t.Logf("the rule fired %s after it was created", time.Since(created).Round(100*time.Millisecond))
	firing := alertsIn(t, a, "state=firing&rule=high-pressure")
	msgs := waitMails(t, srv, 1)
	if !strings.Contains(msgs[0], "high-pressure") {
		t.Errorf("the e-mail is not of the new rule:\n%s", msgs[0])
	}

	// A new threshold from the version read: the alert goes on firing.
	code, hdr, body = request(t, a, http.MethodGet, path, "")
	if code != http.StatusOK || hdr.Get("ETag") != v1 || !strings.Contains(body, `"when":"Pres \u003e 7.5"`) && !strings.Contains(body, `"when":"Pres > 7.5"`) {
		t.Errorf("get: HTTP %d, ETag %q (want %q), %s", code, hdr.Get("ETag"), v1, body)
	}
	edited := strings.Replace(rule, "7.5", "7.8", 1)
	code, hdr, body = request(t, a, http.MethodPut, path, edited, "If-Match", v1)
	if code != http.StatusOK {
		t.Fatalf("edit: HTTP %d %s", code, body)
	}
	v2 := hdr.Get("ETag")
	if code, _, body := request(t, a, http.MethodPut, path, rule, "If-Match", v1); code != http.StatusPreconditionFailed {
		t.Errorf("an edit made from the old version: HTTP %d %s, want 412", code, body)
	}
	for range 5 {
		publish(8)
		time.Sleep(300 * time.Millisecond)
	}
	if got := alertsIn(t, a, "state=firing&rule=high-pressure"); len(got) != 1 || got[0].ID != firing[0].ID {
		t.Errorf("after the edit, firing %+v, want alert %d still", got, firing[0].ID)
	}
	waitMails(t, srv, 1)

	// Deleted: its alert resolves.
	if code, _, body := request(t, a, http.MethodDelete, path, "", "If-Match", v2); code != http.StatusOK {
		t.Fatalf("delete: HTTP %d %s", code, body)
	}
	testenv.Eventually(t, 10*time.Second, 200*time.Millisecond, func() error {
		publish(8)
		if got := alertsIn(t, a, "state=firing&rule=high-pressure"); len(got) != 0 {
			return fmt.Errorf("%d alerts of the deleted rule firing", len(got))
		}
		return nil
	})
	if code, _, _ := request(t, a, http.MethodGet, path, ""); code != http.StatusNotFound {
		t.Errorf("get a deleted rule: HTTP %d, want 404", code)
	}

	var audit struct {
		Entries []struct {
			By, Kind, Name string
			Before, After  json.RawMessage
		}
	}
	_, _, body = request(t, a, http.MethodGet, "/api/v1/audit?kind=rules", "")
	if err := json.Unmarshal([]byte(body), &audit); err != nil {
		t.Fatalf("audit: %v: %s", err, body)
	}
	if n := len(audit.Entries); n != 3 {
		t.Fatalf("%d audit entries, want 3 (created, edited, deleted): %s", n, body)
	}
	del, edit, add := audit.Entries[0], audit.Entries[1], audit.Entries[2]
	if string(del.After) != "null" || string(add.Before) != "null" || !strings.Contains(string(edit.Before), "7.5") || !strings.Contains(string(edit.After), "7.8") || add.By != "local" {
		t.Errorf("audit entries: %s", body)
	}
}

// TestRulePreview: a rule run over a device's stored readings of the
// last 24 h says when it would have fired and resolved (here a pressure
// over 7.5 bar from 3 h ago for an hour, with a 5 min "for"), and saves
// and sends nothing; a device the rule does not watch is named.
func TestRulePreview(t *testing.T) {
	a := start(t, "embedded", app.Options{}, noSilence)
	now := time.Now().UTC().Truncate(time.Minute)
	var rs []reading.Reading
	for m := 4 * 60; m >= 0; m -= 5 {
		at := now.Add(-time.Duration(m) * time.Minute)
		pres := 6.5
		if m <= 180 && m > 120 {
			pres = 8
		}
		rs = append(rs, reading.Reading{Customer: "finemeca", Sensor: "air", Device: "201", Time: at, Received: at, MsgCount: int64(300 - m),
			Fields: map[string]float64{"Pres": pres, "OpenPres": 6}})
	}
	if _, err := a.Store.Write(context.Background(), store.Batch{Readings: rs}); err != nil {
		t.Fatal(err)
	}
	rule := `{"sensor": "air", "when": "Pres > 7.5", "clear_when": "Pres < 7", "for": "5m", "severity": "warning"}`
	code, _, body := request(t, a, http.MethodPost, "/api/v1/rules/high/preview?device=201", rule)
	var pv struct {
		Readings int
		Events   []struct {
			Time  time.Time
			State string
		}
	}
	if err := json.Unmarshal([]byte(body), &pv); err != nil || code != http.StatusOK {
		t.Fatalf("preview: HTTP %d %s", code, body)
	}
	fired, resolved := now.Add(-175*time.Minute), now.Add(-120*time.Minute)
	if pv.Readings != len(rs) || len(pv.Events) != 2 || pv.Events[0].State != "firing" || !pv.Events[0].Time.Equal(fired) ||
		pv.Events[1].State != "resolved" || !pv.Events[1].Time.Equal(resolved) {
		t.Errorf("preview %s, want %d readings, firing at %s and resolved at %s", body, len(rs), fired, resolved)
	}
	if got := alertsIn(t, a, "state=all"); len(got) != 0 {
		t.Errorf("a preview saved alerts: %+v", got)
	}
	code, _, body = request(t, a, http.MethodPost, "/api/v1/rules/high/preview?device=201", `{"sensor": "centrale", "when": "P > 5", "severity": "info"}`)
	if code != http.StatusBadRequest || !strings.Contains(body, `"field":"device"`) {
		t.Errorf("a preview on a device the rule does not watch: HTTP %d %s", code, body)
	}
}
