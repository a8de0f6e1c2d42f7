package web

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sensorhub/sensorhub/internal/reading"
	"github.com/sensorhub/sensorhub/internal/store"
)

// fleet adds n air devices to the site's store: d0000, d0001...; every
// fifth of acme, the others of finemeca; the odd ones silent for an hour;
// d1234 named boiler-room.
func (s *site) fleet(t testing.TB, n int) {
	t.Helper()
	now := time.Now().UTC().Truncate(time.Millisecond)
	rs := make([]reading.Reading, 0, n)
	for i := range n {
		r := reading.Reading{Customer: "finemeca", Sensor: "air", Device: fmt.Sprintf("d%04d", i), Name: fmt.Sprintf("line-%04d", i),
			Gateway: "gw-7", Time: now, Received: now, MsgCount: 1, Fields: map[string]float64{"Pres": 6.5, "OpenPres": 6, "leak": 0}}
		if i%5 == 0 {
			r.Customer = "acme"
		}
		if i%2 == 1 {
			r.Time, r.Received = now.Add(-time.Hour), now.Add(-time.Hour)
		}
		if i == 1234 {
			r.Name = "boiler-room"
		}
		rs = append(rs, r)
	}
	if _, err := s.st.Write(context.Background(), store.Batch{Readings: rs}); err != nil {
		t.Fatal(err)
	}
}

// acmeDevice reports whether a device of the site and its fleet is acme's.
func acmeDevice(d string) bool {
	var i int
	if _, err := fmt.Sscanf(d, "d%04d", &i); err == nil {
		return i%5 == 0
	}
	return d == "901"
}

var (
	rowRe   = regexp.MustCompile(`<tr data-device="([^"]+)">`)
	countRe = regexp.MustCompile(`id="device-count">([^<]*)<`)
)

// overviewOf gets an overview page: its rows' devices and what it says of
// how many it found.
func overviewOf(t *testing.T, c *client, query string) (devs []string, count string, size int) {
	t.Helper()
	code, body := c.Do("GET", "/"+query, "")
	if code != 200 {
		t.Fatalf("GET /%s: HTTP %d: %.300s", query, code, body)
	}
	for _, m := range rowRe.FindAllStringSubmatch(body, -1) {
		devs = append(devs, m[1])
	}
	if m := countRe.FindStringSubmatch(body); m != nil {
		count = m[1]
	}
	return devs, count, len(body)
}

// TestOverviewAtFleetScale: with 2,500 devices the overview is one page of
// 100 of them, under 100 KB, says page 1 of N, finds a device by its name
// and by its id, narrows to the silent ones, sorts on the server, and a
// viewer of one customer never meets another's devices by search or by
// paging.
func TestOverviewAtFleetScale(t *testing.T) {
	s := newSite(t)
	s.fleet(t, 2500)
	admin := s.login(t, "root")

	devs, count, size := overviewOf(t, admin, "")
	if size >= 100<<10 {
		t.Errorf("the overview of 2,502 devices is %d bytes, want under 100 KB", size)
	}
	if len(devs) != PerPage || !strings.Contains(count, "of 2502") || !strings.Contains(count, "page 1 of 26") {
		t.Errorf("first page: %d rows, %q; want 100 rows of 2502, page 1 of 26", len(devs), count)
	}
	if _, body := admin.Do("GET", "/", ""); !strings.Contains(body, `<small>of 2502</small>`) {
		t.Errorf("the reporting card does not count the whole fleet")
	}
	last, count, _ := overviewOf(t, admin, "?page=26")
	if len(last) != 2 || !strings.Contains(count, "page 26 of 26") || slices.Contains(last, devs[0]) {
		t.Errorf("last page: %v, %q; want 2 devices not on the first page, page 26 of 26", last, count)
	}

	for _, q := range []string{"boiler-ROOM", "d1234"} {
		if found, _, _ := overviewOf(t, admin, "?q="+url.QueryEscape(q)); !slices.Equal(found, []string{"d1234"}) {
			t.Errorf("search %q found %v, want d1234", q, found)
		}
	}
	if found, count, _ := overviewOf(t, admin, "?q=nothing-like-it"); len(found) != 0 || count != "No device matches." {
		t.Errorf("a search that matches nothing shows %v, %q", found, count)
	}

	silent, count, _ := overviewOf(t, admin, "?silent=1&kind=air&customer=finemeca")
	if len(silent) != PerPage || !strings.Contains(count, "found") || strings.Contains(count, "of 2502") {
		t.Errorf("silent finemeca devices: %d rows, %q", len(silent), count)
	}
	for _, d := range silent {
		var i int
		if _, err := fmt.Sscanf(d, "d%04d", &i); err == nil && (i%2 == 0 || i%5 == 0) {
			t.Errorf("device %s is not a silent finemeca device", d)
		}
	}
	if found, _, _ := overviewOf(t, admin, "?losing=1"); len(found) != 0 {
		t.Errorf("no device lost a message, yet the losing filter keeps %v", found)
	}
	if firing, _, _ := overviewOf(t, admin, "?alerting=1"); !slices.Equal(firing, []string{"901", "201"}) && !slices.Equal(firing, []string{"201", "901"}) {
		t.Errorf("alerting devices %v, want 201 and 901", firing)
	}
	if byName, _, _ := overviewOf(t, admin, "?sort=-name"); len(byName) < 2 || byName[0] != "901" || byName[1] != "d2499" {
		t.Errorf("sorted by name, descending, the rows are %v, want 901 (line-901), d2499 (line-2499)", byName)
	}

	viewer := s.login(t, "alice")
	if found, _, _ := overviewOf(t, viewer, "?q=d0005"); len(found) != 0 {
		t.Errorf("a viewer of finemeca finds acme's device d0005: %v", found)
	}
	if code, _ := viewer.Do("GET", "/?customer=acme", ""); code != 404 {
		t.Errorf("a viewer of finemeca asks for acme's devices: HTTP %d, want 404", code)
	}
	seen := map[string]bool{}
	for page := 1; ; page++ {
		devs, count, _ := overviewOf(t, viewer, fmt.Sprintf("?page=%d", page))
		for _, d := range devs {
			if acmeDevice(d) {
				t.Fatalf("page %d shows acme's device %s to a viewer of finemeca", page, d)
			}
			seen[d] = true
		}
		if !strings.Contains(count, fmt.Sprintf("page %d of 21", page)) {
			t.Fatalf("page %d says %q, want of 21", page, count)
		}
		if page == 21 {
			break
		}
	}
	if len(seen) != 2001 {
		t.Errorf("a viewer of finemeca pages through %d devices, want 2001", len(seen))
	}
}

// TestDevicePickerSuggestsFew: the picker's endpoint answers a search with
// at most limit devices, of the customers its caller sees.
func TestDevicePickerSuggestsFew(t *testing.T) {
	s := newSite(t)
	s.fleet(t, 300)
	get := func(c *client, q string) []store.Device {
		t.Helper()
		code, body := c.Do("GET", "/api/v1/devices?"+q, "")
		if code != 200 {
			t.Fatalf("GET /api/v1/devices?%s: HTTP %d %s", q, code, body)
		}
		var devs []store.Device
		if err := json.Unmarshal([]byte(body), &devs); err != nil {
			t.Fatal(err)
		}
		return devs
	}
	admin, viewer := s.withToken(t, "admin"), s.withToken(t, "viewer")
	all := get(admin, "sensor=air&q=D0&limit=20")
	if len(all) != 20 || !slices.ContainsFunc(all, func(d store.Device) bool { return d.Customer == "acme" }) {
		t.Errorf("an admin's 20 suggestions for d0: %d, with acme's: %+v", len(all), all)
	}
	mine := get(viewer, "sensor=air&q=d0&limit=20")
	if len(mine) != 20 || slices.ContainsFunc(mine, func(d store.Device) bool { return d.Customer != "finemeca" }) {
		t.Errorf("a viewer of finemeca's 20 suggestions: %+v", mine)
	}
	if got := get(viewer, "sensor=air&q=d0005&limit=20"); len(got) != 0 {
		t.Errorf("a viewer of finemeca is suggested acme's d0005: %+v", got)
	}
	if got := get(viewer, "q=line-0001&limit=20"); len(got) != 1 || got[0].Device != "d0001" {
		t.Errorf("search by name: %+v", got)
	}
	if got := get(admin, "limit=10&offset=295&sort=device"); len(got) != 7 || got[0].Device != "d0293" || got[6].Device != "d0299" {
		t.Errorf("the last 7 of 302 devices by id (201, 901, d0000...): %+v", got)
	}
	for _, q := range []string{"limit=1001", "limit=0", "offset=3", "sort=colour"} {
		if code, _ := admin.Do("GET", "/api/v1/devices?"+q, ""); code != 400 {
			t.Errorf("GET /api/v1/devices?%s: HTTP %d, want 400", q, code)
		}
	}
}
