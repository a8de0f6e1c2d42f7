package storetest

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/sensorhub/sensorhub/internal/reading"
	"github.com/sensorhub/sensorhub/internal/store"
)

// testDeviceFilter: a device found by its key, a fleet searched, filtered,
// sorted and paged in the store, and counted whole.
func testDeviceFilter(t *testing.T, s store.Store) {
	base := Payloads(t, "air.jsonl")[0]
	now := time.Now().UTC().Truncate(time.Millisecond)
	var rs []reading.Reading
	// 30 devices: a-00..a-19 of customer acme, b-00..b-09 of beta; the odd
	// ones silent for an hour; every fifth one lost a message.
	for i := range 30 {
		r := base
		r.Customer, r.Device = "acme", fmt.Sprintf("a-%02d", i)
		if i >= 20 {
			r.Customer, r.Device = "beta", fmt.Sprintf("b-%02d", i-20)
		}
		r.Name, r.Gateway = fmt.Sprintf("line %d", 30-i), "gw-1"
		if i == 7 {
			r.Name = "press 50%_off"
		}
		r.Received, r.Time, r.MsgCount = now, now, 10
		if i%2 == 1 {
			r.Received, r.Time = now.Add(-time.Hour), now.Add(-time.Hour)
		}
		rs = append(rs, r)
		if i%5 == 0 {
			next := r
			next.Time, next.Received, next.MsgCount = r.Time.Add(time.Second), r.Received.Add(time.Second), 12
			rs = append(rs, next)
		}
	}
	write(t, s, store.Batch{Readings: rs})
	c := ctx(t)
	ids := func(f store.DeviceFilter) []string {
		t.Helper()
		devs, err := s.Devices(c, f)
		if err != nil {
			t.Fatalf("%+v: %v", f, err)
		}
		var out []string
		for _, d := range devs {
			out = append(out, d.Device)
		}
		return out
	}
	check := func(what string, got []string, want ...string) {
		t.Helper()
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s: %v, want %v", what, got, want)
		}
	}
	one, err := s.Devices(c, store.DeviceFilter{Customer: "acme", Sensor: base.Sensor, Device: "a-07", Latest: true})
	if err != nil || len(one) != 1 || one[0].Name != "press 50%_off" || one[0].Latest == nil || one[0].Latest.Device != "a-07" {
		t.Fatalf("by key: %+v, %v", one, err)
	}
	check("by id in another customer", ids(store.DeviceFilter{Customer: "beta", Device: "a-07"}))
	check("by id alone", ids(store.DeviceFilter{Device: "b-03"}), "b-03")
	check("page 2 of 7", ids(store.DeviceFilter{Limit: 7, Offset: 7}), "a-07", "a-08", "a-09", "a-10", "a-11", "a-12", "a-13")
	check("last page", ids(store.DeviceFilter{Limit: 7, Offset: 28}), "b-08", "b-09")
	check("sorted by name, descending", ids(store.DeviceFilter{Sort: "name", Desc: true, Limit: 3}), "a-07", "b-01", "b-02")
	check("sorted by lost", ids(store.DeviceFilter{Sort: "lost", Desc: true, Limit: 3, Customer: "acme"}), "a-00", "a-05", "a-10")
	check("search in a name, wildcards as themselves", ids(store.DeviceFilter{Search: "50%_"}), "a-07")
	check("a wildcard alone matches only itself", ids(store.DeviceFilter{Search: "_"}), "a-07")
	check("search ignores case", ids(store.DeviceFilter{Search: "PRESS"}), "a-07")
	check("search by id", ids(store.DeviceFilter{Search: "b-0", Limit: 2}), "b-00", "b-01")
	check("search by customer", ids(store.DeviceFilter{Search: "BET", Limit: 1}), "b-00")
	check("search within the customers seen", ids(store.DeviceFilter{Search: "b-0", Customers: []string{"acme"}}))
	check("no customers seen", ids(store.DeviceFilter{Customers: []string{}}))
	check("silent and losing", ids(store.DeviceFilter{SeenBefore: now.Add(-time.Minute), Losing: true}), "a-05", "a-15", "b-05")

	fl, err := s.CountDevices(c, store.DeviceFilter{Customers: []string{"acme"}, Limit: 1}, now.Add(-10*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if fl != (store.Fleet{Devices: 20, Silent: 10, Lost: 4, Expected: 20 + 4*2}) {
		t.Errorf("acme's fleet %+v, want 20 devices, 10 silent, 4 lost of 28", fl)
	}
	fl, err = s.CountDevices(c, store.DeviceFilter{Search: "nothing like it"}, now)
	if err != nil || fl != (store.Fleet{}) {
		t.Errorf("nothing found counts %+v, %v", fl, err)
	}

	fire := store.AlertChange{
		State: store.AlertState{AlertKey: store.AlertKey{Rule: "air-leak", DeviceKey: store.DeviceKey{Customer: "beta", Sensor: base.Sensor, Device: "b-04"}},
			Machine: json.RawMessage(`{"state":"firing"}`)},
		Open: &store.Alert{Name: "line 6", Severity: "critical", Started: now, Message: "Air leak"},
	}
	if err := s.SaveAlerts(c, []store.AlertChange{fire}); err != nil {
		t.Fatal(err)
	}
	check("firing", ids(store.DeviceFilter{Firing: true}), "b-04")
	if fl, err := s.CountDevices(c, store.DeviceFilter{Firing: true}, now); err != nil || fl.Devices != 1 {
		t.Errorf("firing counts %+v, %v", fl, err)
	}
}
