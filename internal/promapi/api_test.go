package promapi_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	"github.com/sensorhub/sensorhub/internal/config"
	"github.com/sensorhub/sensorhub/internal/promapi"
	"github.com/sensorhub/sensorhub/internal/reading"
	"github.com/sensorhub/sensorhub/internal/store"
	"github.com/sensorhub/sensorhub/internal/store/sqlite"
	"github.com/sensorhub/sensorhub/internal/store/sqlstore"
)

// spy is the SQLite store, counting what the API asks of it and, when
// hold is set, holding each device listing until hold is closed.
type spy struct {
	*sqlstore.Store
	mu      sync.Mutex
	filters []store.DeviceFilter
	points  []store.RawQuery
	entered chan struct{}
	hold    chan struct{}
}

func (s *spy) DeviceFields(ctx context.Context, f store.DeviceFilter, fields []string) ([]store.DeviceFields, error) {
	s.mu.Lock()
	s.filters = append(s.filters, f)
	hold := s.hold
	s.mu.Unlock()
	if hold != nil {
		s.entered <- struct{}{}
		<-hold
	}
	return s.Store.DeviceFields(ctx, f, fields)
}

func (s *spy) Points(ctx context.Context, q store.RawQuery) ([]store.Point, string, error) {
	s.mu.Lock()
	s.points = append(s.points, q)
	s.mu.Unlock()
	return s.Store.Points(ctx, q)
}

// base is when the test's readings start.
var base = time.Date(2025, 6, 2, 0, 0, 0, 0, time.UTC)

// site is a store with a day of readings, a minute apart, of two
// customers' weather modules (Temp) and power meters (the counter E),
// and the API over it.
type site struct {
	st  *spy
	cfg *config.Config
	api *promapi.API
	srv *httptest.Server
	// customers, when not nil, are what the requests see.
	customers []string
}

func newSite(t *testing.T, settings func(*config.PrometheusAPI)) *site {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "s.db"), sqlstore.Options{Location: time.UTC})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	var rs []reading.Reading
	for i, k := range []store.DeviceKey{
		{Customer: "finemeca", Sensor: "devicev01", Device: "w1"}, {Customer: "finemeca", Sensor: "centrale", Device: "m1"},
		{Customer: "acme", Sensor: "devicev01", Device: "w9"}, {Customer: "acme", Sensor: "centrale", Device: "m9"},
	} {
		for m := range 24 * 60 {
			r := reading.Reading{Customer: k.Customer, Sensor: k.Sensor, Device: k.Device, Time: base.Add(time.Duration(m) * time.Minute),
				Received: base, MsgCount: int64(m + 1), Fields: map[string]float64{}, Units: map[string]string{}}
			if k.Sensor == "devicev01" {
				r.Fields["Temp"], r.Units["Temp"] = 20+float64(i)+float64(m%60)/10, "C"
			} else {
				r.Fields["E"], r.Units["E"] = float64(1000*i+m), "kWh"
			}
			rs = append(rs, r)
		}
	}
	if _, err := st.Write(ctx, store.Batch{Readings: rs}); err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.Customers = []string{"finemeca", "acme"}
	s := &site{st: &spy{Store: st}, cfg: cfg}
	o := promapi.Options{Store: s.st, Settings: config.DefaultPrometheusAPI, Config: func() *config.Config { return cfg }}
	if settings != nil {
		settings(&o.Settings)
	}
	s.api = promapi.New(o)
	s.srv = httptest.NewServer(s.api.Handler(func(*http.Request) []string { return s.customers }))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *site) client(t *testing.T) promv1.API {
	t.Helper()
	c, err := api.NewClient(api.Config{Address: s.srv.URL + "/prometheus"})
	if err != nil {
		t.Fatal(err)
	}
	return promv1.NewAPI(c)
}

// apiError is the Prometheus error a call gave: its type and message.
func apiError(t *testing.T, err error) *promv1.Error {
	t.Helper()
	var e *promv1.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v, want a Prometheus API error", err)
	}
	return e
}

func TestOneDeviceReadsOneDevice(t *testing.T) {
	s := newSite(t, nil)
	at := base.Add(12*time.Hour + 30*time.Second)
	v, _, _, err := s.client(t).Query(context.Background(), `devicev01_Temp{device="w1"}`, at)
	if err != nil {
		t.Fatal(err)
	}
	if vec, ok := v.(model.Vector); !ok || len(vec) != 1 || vec[0].Value != 20 {
		t.Fatalf("w1's temperature at 12:00:30: %v, want one sample of 20", v)
	}
	if len(s.st.filters) != 1 || s.st.filters[0].Device != "w1" {
		t.Errorf("device listings %+v, want one, for device w1", s.st.filters)
	}
	if len(s.st.points) != 1 || s.st.points[0].Device != "w1" || s.st.points[0].Field != "Temp" {
		t.Errorf("values read %+v, want w1's Temp only", s.st.points)
	}
	// The values read are the lookback's, not the day's.
	if q := s.st.points[0]; q.To.Sub(q.From) > 6*time.Minute {
		t.Errorf("values read from %s to %s, want the 5 minutes before 12:00:30", q.From, q.To)
	}
}

func TestLimits(t *testing.T) {
	s := newSite(t, func(p *config.PrometheusAPI) { p.MaxSamples, p.MaxConcurrent = 1000, 1 })
	c := s.client(t)
	ctx := context.Background()
	// A day of readings a minute apart is more than 1000 samples.
	_, _, _, err := c.Query(ctx, `max_over_time(devicev01_Temp{device="w1"}[1d])`, base.Add(24*time.Hour))
	if e := apiError(t, err); e.Type != promv1.ErrExec || !strings.Contains(e.Msg, "too many samples") {
		t.Errorf("a query over too many samples: %v, want execution: too many samples", err)
	}
	_, _, _, err = c.QueryRange(ctx, `devicev01_Temp`, promv1.Range{Start: base, End: base.Add(24 * time.Hour), Step: time.Second})
	if e := apiError(t, err); e.Type != promv1.ErrBadData || !strings.Contains(e.Msg, "11,000 points") {
		t.Errorf("86,400 points: %v, want bad_data: 11,000 points", err)
	}
	_, _, _, err = c.Query(ctx, `devicev01_Temp{`, base)
	if e := apiError(t, err); e.Type != promv1.ErrBadData {
		t.Errorf("a query that does not parse: %v, want bad_data", err)
	}

	// One query at a time: a second one waits for the first, within its
	// own timeout; a listing does not wait.
	s.st.mu.Lock()
	s.st.entered, s.st.hold = make(chan struct{}), make(chan struct{})
	s.st.mu.Unlock()
	first := make(chan error, 1)
	go func() {
		_, _, _, err := c.Query(ctx, `devicev01_Temp`, base.Add(time.Hour))
		first <- err
	}()
	<-s.st.entered
	s.st.mu.Lock()
	hold := s.st.hold
	s.st.hold = nil
	s.st.mu.Unlock()
	_, _, _, err = c.Query(ctx, `centrale_E`, base.Add(time.Hour), promv1.WithTimeout(time.Second))
	// The client reads a 503's body as a server error's detail.
	if e := apiError(t, err); e.Type != promv1.ErrServer || !strings.Contains(e.Detail, `"errorType":"timeout"`) {
		t.Errorf("a query waiting for the only slot: %v %s, want 503 timeout", err, e.Detail)
	}
	if vals, _, _, err := c.LabelValues(ctx, "device", nil, time.Time{}, time.Time{}); err != nil || len(vals) != 4 {
		t.Errorf("devices while a query runs: %v %v, want 4", vals, err)
	}
	close(hold)
	if err := <-first; err != nil {
		t.Errorf("the query that held the slot: %v", err)
	}
}

// TestCustomersSeenOnly: a principal that sees finemeca gets nothing of
// acme's, however the query names it.
func TestCustomersSeenOnly(t *testing.T) {
	s := newSite(t, nil)
	s.customers = []string{"finemeca"}
	c := s.client(t)
	ctx := context.Background()
	at := base.Add(6 * time.Hour)
	for _, q := range []string{`devicev01_Temp{customer="acme"}`, `{customer=~"acme|finemeca", device=~"w9|m9"}`,
		`{__name__=~".+", customer!="finemeca"}`, `devicev01_Temp{device="w9"}`} {
		v, _, _, err := c.Query(ctx, q, at)
		if err != nil {
			t.Fatal(err)
		}
		if vec := v.(model.Vector); len(vec) != 0 {
			t.Errorf("%s: %v, want nothing", q, vec)
		}
	}
	v, _, _, err := c.Query(ctx, `count({__name__=~".+"})`, at)
	if err != nil {
		t.Fatal(err)
	}
	if vec := v.(model.Vector); len(vec) != 1 || vec[0].Value != 2 {
		t.Errorf("count of every series: %v, want finemeca's 2", vec)
	}
	vals, _, _, err := c.LabelValues(ctx, "customer", nil, time.Time{}, time.Time{})
	if err != nil || fmt.Sprint(vals) != "[finemeca]" {
		t.Errorf("customers %v %v, want [finemeca]", vals, err)
	}
	vals, _, _, err = c.LabelValues(ctx, "device", []string{`{customer="acme"}`}, time.Time{}, time.Time{})
	if err != nil || len(vals) != 0 {
		t.Errorf("acme's devices %v %v, want none", vals, err)
	}
	sets, _, _, err := c.Series(ctx, []string{`{device="w9"}`}, time.Time{}, time.Time{})
	if err != nil || len(sets) != 0 {
		t.Errorf("series of w9 %v %v, want none", sets, err)
	}
}

// TestPastRetention: past the readings retention removed, a query reads
// the hourly aggregates and says so.
func TestPastRetention(t *testing.T) {
	s := newSite(t, nil)
	ctx := context.Background()
	ages := func(string, string) store.Ages { return store.Ages{Raw: 24 * time.Hour} }
	// At noon two days later, the first day's readings go.
	if _, err := s.st.ApplyRetention(ctx, store.Retention{Ages: ages}, base.Add(48*time.Hour+12*time.Hour)); err != nil {
		t.Fatal(err)
	}
	kept, err := s.st.Kept(ctx, store.DeviceKey{Customer: "finemeca", Sensor: "centrale", Device: "m1"})
	if err != nil || !kept.Raw.After(base.Add(12*time.Hour)) {
		t.Fatalf("kept %+v %v: the test wants the first day removed", kept, err)
	}
	c := s.client(t)
	// The counter's last value of each hour stands for the hour: an
	// increase of 60 a hour, as the readings had it.
	v, warnings, _, err := c.Query(ctx, `increase(centrale_E{device="m1"}[3h])`, base.Add(10*time.Hour+30*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	vec := v.(model.Vector)
	if len(vec) != 1 || vec[0].Value < 170 || vec[0].Value > 190 {
		t.Errorf("increase over 3 hours from hourly aggregates: %v, want about 180", vec)
	}
	if !slices.ContainsFunc(warnings, func(w string) bool { return strings.Contains(w, "removed by retention") }) {
		t.Errorf("warnings %v, want one about retention", warnings)
	}
	// The weather module's hourly averages: minutes 0..59 average 2.95
	// above its base.
	v, _, _, err = c.Query(ctx, `devicev01_Temp{device="w1"}`, base.Add(5*time.Hour+time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if vec := v.(model.Vector); len(vec) != 1 || vec[0].Value < 22.94 || vec[0].Value > 22.96 {
		t.Errorf("temperature from the hourly average: %v, want 22.95", vec)
	}
}
