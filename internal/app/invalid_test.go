package app_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sensorhub/sensorhub/internal/reading"
	"github.com/sensorhub/sensorhub/internal/store"
)

// TestInvalidIntervalThroughTheAPI: an admin marks an hour of a meter
// invalid over the API; the series API's daily increase and the report
// page leave it out, the page saying why; removing the mark counts it
// again.
func TestInvalidIntervalThroughTheAPI(t *testing.T) {
	fx := accessFixture(t, nil)
	loc := fx.a.Config.Location()
	from := time.Date(2026, 4, 27, 0, 0, 0, 0, loc)
	var rs []reading.Reading
	for i, at := 0, from; !at.After(from.AddDate(0, 0, 7)); i, at = i+1, at.Add(15*time.Minute) {
		rs = append(rs, reading.Reading{Customer: "finemeca", Sensor: "centrale", Device: "301", Name: "centrale-atelier", Time: at, Received: at,
			MsgCount: int64(i + 1), Fields: map[string]float64{"E": 5000 + float64(i)*0.5}, Units: map[string]string{"E": "kWh"}})
	}
	if _, err := fx.a.Store.Write(context.Background(), store.Batch{Readings: rs}); err != nil {
		t.Fatal(err)
	}
	root := newClient(t, fx.a)
	if root.Login("root", "root-password") != http.StatusSeeOther {
		t.Fatal("login failed")
	}
	tuesday := func() float64 {
		t.Helper()
		code, body := root.Do("GET", "/api/v1/series?customer=finemeca&sensor=centrale&device=301&field=E&step=1d&agg=increase&from=2026-04-28T00:00:00%2B02:00&to=2026-04-29T00:00:00%2B02:00", "")
		var s struct{ Points [][2]float64 }
		if code != 200 || json.Unmarshal([]byte(body), &s) != nil || len(s.Points) != 1 {
			t.Fatalf("Tuesday's increase: HTTP %d %s", code, body)
		}
		return s.Points[0][1]
	}
	if got := tuesday(); got != 48 {
		t.Fatalf("Tuesday's increase %v, want 48 (2 kW for 24 h)", got)
	}
	code, body := root.Post("/api/v1/devices/intervals?customer=finemeca&sensor=centrale&device=301",
		`{"from": "2026-04-28T10:00:00+02:00", "to": "2026-04-28T11:00:00+02:00", "reason": "meter on the test bench"}`)
	var iv store.InvalidInterval
	if code != http.StatusCreated || json.Unmarshal([]byte(body), &iv) != nil {
		t.Fatalf("marking an hour invalid: HTTP %d %s", code, body)
	}
	if got := tuesday(); got != 46 {
		t.Errorf("Tuesday's increase with 10:00 to 11:00 invalid %v, want 46", got)
	}
	code, page := root.Do("GET", "/reports?customer=finemeca&from=2026-04-27&to=2026-05-04", "")
	if code != 200 || !strings.Contains(page, "meter on the test bench") || !strings.Contains(page, "left out") {
		t.Errorf("the report page does not say what was left out: HTTP %d", code)
	}
	if code, body := root.Do("DELETE", "/api/v1/devices/intervals?customer=finemeca&id="+strconv.FormatInt(iv.ID, 10), "", "X-CSRF-Token", root.CSRF); code != 200 {
		t.Fatalf("removing the mark: HTTP %d %s", code, body)
	}
	if got := tuesday(); got != 48 {
		t.Errorf("Tuesday's increase once the mark is removed %v, want 48", got)
	}
}
