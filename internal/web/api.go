// Package web serves sensorhub's HTTP API, health and metrics endpoints.
package web

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/sensorhub/sensorhub/internal/auth"
	"github.com/sensorhub/sensorhub/internal/catalog"
	"github.com/sensorhub/sensorhub/internal/config"
	"github.com/sensorhub/sensorhub/internal/gateway"
	"github.com/sensorhub/sensorhub/internal/httpjson"
	"github.com/sensorhub/sensorhub/internal/leak"
	"github.com/sensorhub/sensorhub/internal/plan"
	"github.com/sensorhub/sensorhub/internal/promapi"
	"github.com/sensorhub/sensorhub/internal/store"
	"github.com/sensorhub/sensorhub/internal/store/series"
)

// Check is a named readiness check; it returns nil when the dependency is
// usable.
type Check struct {
	Name string
	Fn   func(ctx context.Context) error
}

// Store is what the web needs of a store: it reads devices, readings and
// rejected messages, and shows and acknowledges alerts.
type Store interface {
	store.Reader
	store.AlertStore
	RemoveDevice(ctx context.Context, k store.DeviceKey) (int64, error)
	store.Intervals
}

// Server is the HTTP API.
type Server struct {
	Store    Store
	Location *time.Location
	// Plan is the plan in force: the sensor kinds, customers, rules...
	// Without it no page is served.
	Plan *plan.Live
	// Ingest serves POST /api/v1/ingest; nil when this process runs no
	// gateway.
	Ingest http.Handler
	// Replay puts the rejected messages a filter matches back through
	// ingest; nil when this process cannot.
	Replay func(ctx context.Context, f store.RejectedFilter) (int, error)
	// ReplayRaw decodes again the raw stream in a time range; nil when this
	// process cannot.
	ReplayRaw func(ctx context.Context, from, to time.Time, sensor string) (any, error)
	// Hub serves the live stream; nil when this process has none.
	Hub      *Hub
	Checks   []Check
	Registry *prometheus.Registry
	Log      *slog.Logger
	// Roles are the roles of this process, for the error a process
	// without the web role gives to an API request; none means all.
	Roles []string
	// Access guards everything but the probes; nil serves everyone as an
	// admin (a server without users, on loopback).
	Access *Access
	// PublicURL is where people reach the pages; without users, its host
	// is the one name beside the loopback ones the server answers to.
	PublicURL string
	// Banner, when it says something, is shown on top of every page.
	Banner func() string
	// Profiling serves Go's profiles under /debug/pprof/ to admins.
	Profiling bool
	// Catalog serves the catalog's items and audit log; nil when the
	// process has no store.
	Catalog *catalog.Catalog
	// Prometheus serves the Prometheus query API; nil serves none.
	Prometheus *promapi.API
	// Now is the clock of the overview's days (today, yesterday);
	// time.Now when nil.
	Now func() time.Time
}

// config is the configuration in force; nil without a plan.
func (s *Server) config() *config.Config {
	if s.Plan == nil {
		return nil
	}
	return s.Plan.Load().Config
}

// Handler returns the routes.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	s.probes(mux)
	if s.Profiling {
		s.profiling(mux)
	}
	if s.Ingest != nil {
		mux.Handle("/api/v1/ingest", s.ingest())
	}
	// Replay of the raw stream is ingest done again: the process that
	// runs ingest serves it.
	if s.ReplayRaw != nil {
		mux.HandleFunc("POST /api/v1/replay", s.replayRaw)
	}
	mux.HandleFunc(apiFallback, s.apiNotFound(mux))
	if s.Store == nil {
		// A process without the web role serves its probes, metrics and
		// ingest.
		return s.guard(mux)
	}
	mux.HandleFunc("GET /api/v1/devices", s.devices)
	mux.HandleFunc("DELETE /api/v1/devices", s.removeDevice)
	mux.HandleFunc("POST /api/v1/devices/intervals", s.markInvalid)
	mux.HandleFunc("GET /api/v1/devices/intervals", s.invalidIntervals)
	mux.HandleFunc("DELETE /api/v1/devices/intervals", s.removeInvalid)
	mux.HandleFunc("GET /api/v1/series", s.series)
	mux.HandleFunc("GET /api/v1/export", s.export)
	mux.HandleFunc("GET /api/v1/latest", s.latest)
	mux.HandleFunc("GET /api/v1/rejected", s.rejected)
	mux.HandleFunc("GET /api/v1/leaks", s.leaks)
	mux.HandleFunc("GET /api/v1/compressors", s.compressors)
	if s.Plan != nil {
		mux.HandleFunc("GET /api/v1/report", s.report)
		mux.HandleFunc("GET /api/v1/report/chart", s.reportChart)
	}
	if s.Prometheus != nil {
		mux.Handle(promapi.Prefix, s.Prometheus.Handler(func(r *http.Request) []string { return scoped(r, store.DeviceFilter{}).Customers }))
	}
	mux.HandleFunc("GET /api/v1/alerts", s.alerts)
	if s.Catalog != nil {
		s.catalogRoutes(mux)
	}
	mux.HandleFunc("GET /api/v1/alerts/{id}", s.alertDetail)
	mux.HandleFunc("POST /api/v1/alerts/{id}/ack", s.ack)
	if s.Replay != nil {
		mux.HandleFunc("POST /api/v1/rejected/replay", s.replay)
	}
	if s.Hub != nil {
		mux.Handle("GET /api/v1/stream", s.Hub)
	}
	if s.Plan != nil {
		(&Pages{Store: s.Store, Plan: s.Plan, Location: s.Location, Server: s}).routes(mux)
	}
	return s.guard(mux)
}

func (s *Server) guard(h http.Handler) http.Handler {
	if s.Access != nil {
		h = s.Access.wrap(h)
	} else {
		h = s.openGuard(h)
	}
	return withSecurityHeaders(h)
}

// ingest lets admins and operators send messages for any customer, and an
// ingest token for its own customer only.
func (s *Server) ingest() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := principalOf(r)
		switch {
		case p.IngestOnly:
			r = r.WithContext(gateway.WithCustomer(r.Context(), p.Customers[0]))
		case !p.Acts():
			writeError(w, http.StatusForbidden, "a viewer cannot send messages: use an ingest token")
			return
		}
		s.Ingest.ServeHTTP(w, r)
	})
}

// forbidViewer refuses a change to a principal that may not act, and
// says so.
func forbidViewer(w http.ResponseWriter, r *http.Request, what string) bool {
	if principalOf(r).Acts() {
		return false
	}
	writeError(w, http.StatusForbidden, "a viewer cannot "+what)
	return true
}

// probes are the health, readiness and metrics endpoints every process
// serves.
func (s *Server) probes(mux *http.ServeMux) {
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", s.ready)
	if s.Registry != nil {
		mux.Handle("GET /metrics", promhttp.HandlerFor(s.Registry, promhttp.HandlerOpts{}))
	}
}

func (s *Server) ready(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
	defer cancel()
	var problems []string
	for _, c := range s.Checks {
		if err := c.Fn(ctx); err != nil {
			problems = append(problems, c.Name+": "+err.Error())
		}
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if len(problems) > 0 {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintln(w, strings.Join(problems, "\n"))
		return
	}
	fmt.Fprintln(w, "ready")
}

// visibleDevices lists the devices a filter matches that the request's
// principal may see: the store keeps to the principal's customers.
func (s *Server) visibleDevices(r *http.Request, f store.DeviceFilter) ([]store.Device, error) {
	return s.Store.Devices(r.Context(), s.scoped(r, f))
}

// scoped is scoped, with the devices whose metadata (name, site, line,
// location, tags) holds the search.
func (s *Server) scoped(r *http.Request, f store.DeviceFilter) store.DeviceFilter {
	f = scoped(r, f)
	if f.Search == "" || s.Plan == nil {
		return f
	}
	q := strings.ToLower(f.Search)
	for key, m := range s.config().Devices {
		if m == nil || !strings.Contains(strings.ToLower(strings.Join(append([]string{m.Name, m.Site, m.Line, m.Location}, m.Tags...), "\x00")), q) {
			continue
		}
		if parts := strings.SplitN(key, "/", 3); len(parts) == 3 {
			f.SearchAlso = append(f.SearchAlso, store.DeviceKey{Customer: parts[0], Sensor: parts[1], Device: parts[2]})
		}
	}
	return f
}

// scoped narrows a device filter to the customers the request's principal
// may see.
func scoped(r *http.Request, f store.DeviceFilter) store.DeviceFilter {
	p := principalOf(r)
	switch {
	case p.IngestOnly:
		f.Customers = []string{}
	case !p.All():
		f.Customers = p.Customers
	}
	return f
}

// hiddenCustomer answers 404 to a request that names, in its customer
// parameter, a customer its principal may not see: for it, there is no
// such customer.
func hiddenCustomer(w http.ResponseWriter, r *http.Request) bool {
	c := r.URL.Query().Get("customer")
	if c == "" || principalOf(r).Sees(c) {
		return false
	}
	writeError(w, http.StatusNotFound, "no customer "+c)
	return true
}

// devices serves GET /api/v1/devices?customer=&sensor=&device=&q=&sort=&limit=&offset=:
// the devices the principal sees, all of them unless limit is given; q
// searches ids, names, customers, kinds and gateways (a picker's
// suggestions as one types).
func (s *Server) devices(w http.ResponseWriter, r *http.Request) {
	if hiddenCustomer(w, r) {
		return
	}
	q := r.URL.Query()
	f := store.DeviceFilter{Customer: q.Get("customer"), Sensor: q.Get("sensor"), Device: q.Get("device"), Search: q.Get("q")}
	var err error
	if f.Sort, f.Desc, err = deviceSort(q.Get("sort")); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if v := q.Get("limit"); v != "" {
		if f.Limit, err = strconv.Atoi(v); err != nil || f.Limit < 1 || f.Limit > 1000 {
			writeError(w, http.StatusBadRequest, "limit must be a number from 1 to 1000")
			return
		}
	}
	if v := q.Get("offset"); v != "" {
		if f.Offset, err = strconv.Atoi(v); err != nil || f.Offset < 0 || f.Limit == 0 {
			writeError(w, http.StatusBadRequest, "offset must be a number of devices to skip, 0 or more, with a limit")
			return
		}
	}
	devs, err := s.visibleDevices(r, f)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	type withMeta struct {
		store.Device
		// Meta is what people said of it (PATCH /api/v1/devices).
		Meta *config.DeviceMeta `json:"meta,omitempty"`
	}
	out := make([]withMeta, len(devs))
	for i, d := range devs {
		out[i] = withMeta{Device: d}
		if s.Plan != nil {
			out[i].Meta = s.config().Meta(d.Customer, d.Sensor, d.Device)
		}
	}
	writeJSON(w, out)
}

// removeDevice serves DELETE /api/v1/devices?customer=&sensor=&device=&confirm=:
// an admin removes a device and everything stored of it; confirm repeats
// the device's id.
func (s *Server) removeDevice(w http.ResponseWriter, r *http.Request) {
	if p := principalOf(r); p.Role != auth.RoleAdmin || p.IngestOnly {
		writeError(w, http.StatusForbidden, "only an admin removes a device")
		return
	}
	q := r.URL.Query()
	if q.Get("customer") == "" || q.Get("sensor") == "" {
		writeError(w, http.StatusBadRequest, "customer, sensor and device name the device to remove")
		return
	}
	k, ok := s.resolve(w, r)
	if !ok {
		return
	}
	if q.Get("confirm") != k.Device {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("removing device %s deletes all its data: repeat its id in confirm=%s", k.Device, k.Device))
		return
	}
	n, err := s.Store.RemoveDevice(r.Context(), k)
	if errors.Is(err, store.ErrNotFound) {
		writeError(w, http.StatusNotFound, "no device "+k.Device)
		return
	}
	if err != nil {
		s.internal(w, r, err)
		return
	}
	s.Log.Warn("device removed with all its data", "customer", k.Customer, "sensor", k.Sensor, "device", k.Device,
		"readings", n, "by", principalOf(r).Name, "ip", r.RemoteAddr)
	writeJSON(w, map[string]any{"removed": k, "readings": n})
}

// resolve finds the one device that the customer, sensor and device
// parameters name; customer and sensor may be left out when unambiguous.
func (s *Server) resolve(w http.ResponseWriter, r *http.Request) (store.DeviceKey, bool) {
	q := r.URL.Query()
	return s.resolveID(w, r, q.Get("customer"), q.Get("sensor"), q.Get("device"))
}

// resolveID finds the one device id of the customer and sensor kind;
// they may be left out when unambiguous.
func (s *Server) resolveID(w http.ResponseWriter, r *http.Request, customer, sensor, id string) (store.DeviceKey, bool) {
	if id == "" {
		writeError(w, http.StatusBadRequest, "the device parameter is required (the device's idDevice)")
		return store.DeviceKey{}, false
	}
	// A device of a customer the principal may not see does not exist for
	// it: 404, whatever the parameters say. The device is found by its key
	// (by its id in the customers and kinds, when they are left out).
	devs, err := s.visibleDevices(r, store.DeviceFilter{Customer: customer, Sensor: sensor, Device: id, Limit: 20})
	if err != nil {
		s.internal(w, r, err)
		return store.DeviceKey{}, false
	}
	var found []store.DeviceKey
	for _, d := range devs {
		if d.Device == id {
			found = append(found, store.DeviceKey{Customer: d.Customer, Sensor: d.Sensor, Device: d.Device})
		}
	}
	switch len(found) {
	case 0:
		writeError(w, http.StatusNotFound, fmt.Sprintf("no device %q%s", id, describeFilter(customer, sensor)))
		return store.DeviceKey{}, false
	case 1:
		return found[0], true
	}
	var where []string
	for _, k := range found {
		where = append(where, k.Customer+"/"+k.Sensor)
	}
	writeError(w, http.StatusBadRequest, fmt.Sprintf("device %q exists as %s: give customer and sensor", id, strings.Join(where, ", ")))
	return store.DeviceKey{}, false
}

// deviceSort reads a sort parameter: one of store.DeviceSorts, a leading
// "-" for the reverse order.
func deviceSort(v string) (sort string, desc bool, err error) {
	sort, desc = strings.CutPrefix(v, "-")
	if sort != "" && !slices.Contains(store.DeviceSorts, sort) {
		return "", false, fmt.Errorf("sort %q is not one of %s (a leading - reverses it)", v, strings.Join(store.DeviceSorts, ", "))
	}
	return sort, desc, nil
}

func describeFilter(customer, sensor string) string {
	var parts []string
	if customer != "" {
		parts = append(parts, "customer "+customer)
	}
	if sensor != "" {
		parts = append(parts, "sensor "+sensor)
	}
	if len(parts) == 0 {
		return ""
	}
	return " for " + strings.Join(parts, ", ")
}

func (s *Server) latest(w http.ResponseWriter, r *http.Request) {
	k, ok := s.resolve(w, r)
	if !ok {
		return
	}
	rd, err := s.Store.Latest(r.Context(), k)
	if errors.Is(err, store.ErrNotFound) {
		writeError(w, http.StatusNotFound, "no reading yet for device "+k.Device)
		return
	}
	if err != nil {
		s.internal(w, r, err)
		return
	}
	if rd.Flags == nil {
		rd.Flags = []string{}
	}
	if rd.Units == nil {
		rd.Units = map[string]string{}
	}
	writeJSON(w, rd)
}

// parseTime reads RFC 3339 or Unix milliseconds.
func parseTime(s string) (time.Time, error) {
	if ms, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.UnixMilli(ms).UTC(), nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is neither RFC 3339 (2022-05-03T00:00:00+02:00) nor Unix milliseconds", s)
	}
	return t, nil
}

// timeRange reads from and to; to defaults to now, from to 24 hours before.
func timeRange(q url.Values) (time.Time, time.Time, error) {
	to := time.Now().UTC()
	if v := q.Get("to"); v != "" {
		t, err := parseTime(v)
		if err != nil {
			return time.Time{}, time.Time{}, fmt.Errorf("to: %w", err)
		}
		to = t
	}
	from := to.Add(-24 * time.Hour)
	if v := q.Get("from"); v != "" {
		t, err := parseTime(v)
		if err != nil {
			return time.Time{}, time.Time{}, fmt.Errorf("from: %w", err)
		}
		from = t
	}
	if !from.Before(to) {
		return time.Time{}, time.Time{}, errors.New("from must be before to")
	}
	return from, to, nil
}

// seriesParams are the parameters of a series beside its device and
// field: the range, the step and the aggregation.
type seriesParams struct {
	from, to time.Time
	step     series.Step
	agg      string
	// auto is step=auto: about 400 points, from the aggregates where
	// retention removed the readings.
	auto bool
}

// readSeriesParams reads from, to, step and agg.
func readSeriesParams(q url.Values) (seriesParams, error) {
	p := seriesParams{agg: q.Get("agg"), auto: q.Get("step") == "auto"}
	if p.agg != "" && !slices.Contains(series.Aggregations, p.agg) {
		return p, fmt.Errorf("agg %q is not one of %s", p.agg, strings.Join(series.Aggregations, ", "))
	}
	var err error
	if p.from, p.to, err = timeRange(q); err != nil {
		return p, err
	}
	if p.auto {
		// About 400 points whatever the range, from the kept aggregates.
		p.step = series.AutoStep(p.from, p.to)
		if p.step.IsZero() && p.agg != "" {
			p.step = series.Step{Dur: time.Minute}
		}
	} else if p.step, err = series.ParseStep(q.Get("step")); err != nil {
		return p, err
	}
	if p.step.Dur > 0 && p.to.Sub(p.from)/p.step.Dur > 100000 {
		return p, fmt.Errorf("step %s over this range gives more than 100000 buckets: choose a larger step", q.Get("step"))
	}
	return p, nil
}

// readSeries reads one field of device k, and says the query that
// answered (a coarser step past the readings' retention). A bad request (a counter's
// aggregation of a field that is none, a range past the kept readings) is
// a *badRequest.
func (s *Server) readSeries(ctx context.Context, k store.DeviceKey, field string, p seriesParams) (series.Series, series.Query, error) {
	sq := series.Query{DeviceKey: k, Field: field, From: p.from, To: p.to, Step: p.step, Agg: p.agg}
	if p.agg == "increase" && s.Plan != nil && !s.config().IsCounter(k.Sensor, field) && !strings.HasPrefix(field, "_") {
		return series.Series{}, sq, &badRequest{msg: fmt.Sprintf("agg=increase needs a counter: declare %s in sensors.%s.counters", field, k.Sensor)}
	}
	out, err := series.Read(ctx, s.Store, sq, s.Location)
	var beyond *series.RetentionError
	if errors.As(err, &beyond) && p.auto {
		// A chart's range that reaches back past the readings: the
		// finest step the aggregates kept there answer.
		sq.Step = series.Step{Dur: time.Hour}
		if p.from.Before(beyond.Hourly) {
			sq.Step = series.Step{Days: 1}
		}
		if sq.Agg == "" {
			sq.Agg = "avg"
		}
		out, err = series.Read(ctx, s.Store, sq, s.Location)
	}
	if errors.As(err, &beyond) {
		return out, sq, &badRequest{msg: err.Error()}
	}
	if errors.Is(err, store.ErrNotFound) {
		return out, sq, &badRequest{msg: fmt.Sprintf("device %s has no field %q", k.Device, field), code: http.StatusNotFound}
	}
	out.Step = sq.Step.String()
	return out, sq, err
}

// badRequest is an error the client made: its message is for it.
type badRequest struct {
	msg  string
	code int
}

func (e *badRequest) Error() string { return e.msg }

// answerError answers err: a *badRequest with its message, anything else
// as an internal error.
func (s *Server) answerError(w http.ResponseWriter, r *http.Request, err error) {
	var bad *badRequest
	if errors.As(err, &bad) {
		code := bad.code
		if code == 0 {
			code = http.StatusBadRequest
		}
		writeError(w, code, bad.msg)
		return
	}
	s.internal(w, r, err)
}

// series answers GET /api/v1/series: one field of one device, as JSON or,
// with format=csv, as CSV for a spreadsheet.
func (s *Server) series(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	field := q.Get("field")
	if field == "" {
		writeError(w, http.StatusBadRequest, "the field parameter is required (such as Temp, Pres, E)")
		return
	}
	f, p, ok := s.seriesRequest(w, q)
	if !ok {
		return
	}
	k, ok := s.resolve(w, r)
	if !ok {
		return
	}
	withCost, ok := s.wantsCost(w, r, k, field, p.agg)
	if !ok {
		return
	}
	out, sq, err := s.readSeries(r.Context(), k, field, p)
	if err != nil {
		s.answerError(w, r, err)
		return
	}
	if f != nil {
		s.writeSeriesCSV(w, r, *f, []store.DeviceKey{k}, []series.Series{out})
		return
	}
	if withCost {
		priced, err := s.priced(r.Context(), out, sq)
		if err != nil {
			s.internal(w, r, err)
			return
		}
		writeJSON(w, priced)
		return
	}
	writeJSON(w, out)
}

// rejectedFilter reads customer, reason, topic, from and to.
func rejectedFilter(w http.ResponseWriter, r *http.Request) (store.RejectedFilter, bool) {
	if hiddenCustomer(w, r) {
		return store.RejectedFilter{}, false
	}
	q := r.URL.Query()
	f := store.RejectedFilter{Customer: q.Get("customer"), Reason: q.Get("reason"), Topic: q.Get("topic"),
		Customers: principalOf(r).Customers}
	var err error
	if v := q.Get("from"); v != "" {
		if f.From, err = parseTime(v); err != nil {
			writeError(w, http.StatusBadRequest, "from: "+err.Error())
			return f, false
		}
	}
	if v := q.Get("to"); v != "" {
		if f.To, err = parseTime(v); err != nil {
			writeError(w, http.StatusBadRequest, "to: "+err.Error())
			return f, false
		}
	}
	return f, true
}

// replay serves POST /api/v1/rejected/replay: every rejected message the
// filter matches (all without one) goes through ingest again.
func (s *Server) replay(w http.ResponseWriter, r *http.Request) {
	if forbidViewer(w, r, "replay messages") {
		return
	}
	f, ok := rejectedFilter(w, r)
	if !ok {
		return
	}
	n, err := s.Replay(r.Context(), f)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	s.Log.Info("rejected messages replayed", "count", n, "reason", f.Reason, "topic", f.Topic)
	httpjson.Write(w, http.StatusAccepted, map[string]int{"replayed": n})
}

// leaks serves GET /api/v1/leaks?customer=&sensor=&device=&from=&to=: per
// day, the leaks of an air line, the air lost and its cost, by the method
// the kind's leak settings choose; null where not measurable.
func (s *Server) leaks(w http.ResponseWriter, r *http.Request) {
	from, to, err := timeRange(r.URL.Query())
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	k, ok := s.resolve(w, r)
	if !ok {
		return
	}
	var lc *config.Leak
	if s.Plan != nil && s.config().Sensors[k.Sensor] != nil {
		lc = s.config().Sensors[k.Sensor].Leak
	}
	if lc == nil {
		writeError(w, http.StatusNotFound, fmt.Sprintf("sensor kind %s has no leak settings (sensors.%s.leak)", k.Sensor, k.Sensor))
		return
	}
	p := s.config().LeakFor(k.Customer, lc, k.Device)
	series, err := leak.Load(r.Context(), s.Store, k, lc.Pressure, lc.Opening, p, from, to)
	var missing *leak.FieldError
	if errors.As(err, &missing) {
		writeError(w, http.StatusNotFound, err.Error())
		return
	}
	if err != nil {
		s.internal(w, r, err)
		return
	}
	writeJSON(w, s.leakFigures(leak.Analyze(series, from, to, s.Location, p), k.Customer))
}

// replayRaw serves POST /api/v1/replay?from=&to=&sensor=: the retained raw
// messages received in the range are decoded again and stored.
func (s *Server) replayRaw(w http.ResponseWriter, r *http.Request) {
	if forbidViewer(w, r, "replay messages") {
		return
	}
	if r.URL.Query().Get("from") == "" {
		writeError(w, http.StatusBadRequest, "from is required (RFC 3339 or Unix milliseconds)")
		return
	}
	from, to, err := timeRange(r.URL.Query())
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	sensor := r.URL.Query().Get("sensor")
	if sensor != "" && s.Plan != nil && s.config().Sensors[sensor] == nil {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("no sensor kind %q in the configuration", sensor))
		return
	}
	// A long range takes long: the server's write deadline is not for it.
	http.NewResponseController(w).SetWriteDeadline(time.Time{})
	res, err := s.ReplayRaw(r.Context(), from, to, sensor)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	s.Log.Info("raw stream replayed", "from", from, "to", to, "sensor", sensor, "result", res)
	writeJSON(w, res)
}

func (s *Server) rejected(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f, ok := rejectedFilter(w, r)
	if !ok {
		return
	}
	if f.Limit, f.BeforeID, ok = paging(w, q, "a rejected message id"); !ok {
		return
	}
	list, err := s.Store.Rejected(r.Context(), f)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	f.BeforeID, f.Limit = 0, 0
	total, err := s.Store.CountRejected(r.Context(), f)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	writeJSON(w, map[string]any{"total": total, "rejected": list})
}

// paging reads the limit (default 100) and before (an id, to page
// backwards) parameters of a list.
func paging(w http.ResponseWriter, q url.Values, idName string) (limit int, before int64, ok bool) {
	limit = 100
	var err error
	if v := q.Get("limit"); v != "" {
		if limit, err = strconv.Atoi(v); err != nil || limit < 1 || limit > 1000 {
			writeError(w, http.StatusBadRequest, "limit must be a number from 1 to 1000")
			return 0, 0, false
		}
	}
	if v := q.Get("before"); v != "" {
		if before, err = strconv.ParseInt(v, 10, 64); err != nil {
			writeError(w, http.StatusBadRequest, "before must be "+idName)
			return 0, 0, false
		}
	}
	return limit, before, true
}

func writeJSON(w http.ResponseWriter, v any) { httpjson.Write(w, http.StatusOK, v) }

func writeError(w http.ResponseWriter, code int, msg string) { httpjson.Error(w, code, msg) }
