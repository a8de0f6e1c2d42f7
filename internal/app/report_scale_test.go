package app_test

import (
	"encoding/csv"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sensorhub/sensorhub/internal/app"
	"github.com/sensorhub/sensorhub/internal/report"
	"github.com/sensorhub/sensorhub/internal/store/storetest"
)

// TestReportOf40000Devices: the week's report of a customer of 40,000
// devices comes over HTTP, its data quality listing the WorstDevices that
// reported worst (those silent from noon) and counting the rest, its
// quality CSV every device.
func TestReportOf40000Devices(t *testing.T) {
	if testing.Short() {
		t.Skip("writes a day of 40,000 devices (about a minute)")
	}
	a := start(t, "embedded", app.Options{}, nil)
	loc := a.Config.Location()
	day := time.Date(2025, 10, 22, 0, 0, 0, 0, loc)
	c := storetest.LoadCustomer(t, a.Store, "finemeca", 40000, day)
	get := func(query string) (string, time.Duration) {
		t.Helper()
		began := time.Now()
		resp, err := http.Get("http://" + a.HTTPAddr() + "/api/v1/report?customer=finemeca&period=week&date=2025-10-22" + query)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("report%s: HTTP %d, %v: %.300s", query, resp.StatusCode, err, body)
		}
		return string(body), time.Since(began)
	}
	body, took := get("")
	t.Logf("the JSON report of %d devices: %s, %d bytes", c.Devices, took, len(body))
	var r report.Report
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		t.Fatal(err)
	}
	q := r.Quality
	if len(q.Devices) != report.WorstDevices || q.Rest.Devices != c.Devices-report.WorstDevices {
		t.Fatalf("data quality lists %d devices and counts %d more; want %d and %d", len(q.Devices), q.Rest.Devices, report.WorstDevices, c.Devices-report.WorstDevices)
	}
	for _, d := range q.Devices {
		if n, _ := strconv.Atoi(d.Device); n%100 != 3 || d.Received == 0 {
			t.Errorf("listed device %s (%d received) is not one of those silent from noon", d.Device, d.Received)
		}
	}
	if q.Rest.Silent != q.Rest.Devices || q.Rest.Lossy != c.Lossy {
		t.Errorf("the rest: %+v; want all silent (the week's other days) and %d lossy", q.Rest, c.Lossy)
	}
	body, took = get("&format=csv&table=quality")
	t.Logf("the quality CSV: %s, %d bytes", took, len(body))
	rows, err := csv.NewReader(strings.NewReader(body)).ReadAll()
	if err != nil || len(rows) != c.Devices+1 {
		t.Fatalf("quality CSV: %d rows, %v; want a header and %d devices", len(rows), err, c.Devices)
	}
	if len(r.Energy.Meters) != c.Meters || len(r.Air.Lines) != c.AirLines {
		t.Errorf("%d meters and %d air lines, want %d and %d", len(r.Energy.Meters), len(r.Air.Lines), c.Meters, c.AirLines)
	}
}
