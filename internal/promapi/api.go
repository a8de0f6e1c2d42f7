// Package promapi serves the Prometheus HTTP query API over sensorhub's
// store, so that Grafana's built-in Prometheus data source reads it: each
// stored field of a device is a series kind_field{customer, sensor,
// device}, queried in PromQL by Prometheus' own engine.
package promapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/util/annotations"

	"github.com/sensorhub/sensorhub/internal/config"
	"github.com/sensorhub/sensorhub/internal/plan"
)

// Prefix is where the API is served.
const Prefix = "/prometheus/api/v1/"

// MaxPoints is the most points a range query gives a series, as
// Prometheus allows.
const MaxPoints = 11000

// Options configure the API.
type Options struct {
	Store    Store
	Settings config.PrometheusAPI
	// Config gives the configuration in force, for counters, units and
	// formulas; nil knows none.
	Config func() *config.Config
	Log    *slog.Logger
	// Registerer takes the engine's metrics; nil registers none.
	Registerer prometheus.Registerer
}

// API serves the Prometheus HTTP query API.
type API struct {
	opts Options
	// kinds keeps the kinds' fields a while.
	kinds  *kindFieldsCache
	engine *promql.Engine
	parser parser.Parser
	now    func() time.Time
}

// New makes the API and its PromQL engine.
func New(o Options) *API {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	p := parser.NewParser(parser.Options{})
	eng := promql.NewEngine(promql.EngineOpts{
		Logger:             o.Log.With("component", "promql"),
		Reg:                o.Registerer,
		MaxSamples:         o.Settings.MaxSamples,
		Timeout:            o.Settings.Timeout,
		ActiveQueryTracker: newSlots(o.Settings.MaxConcurrent),
		LookbackDelta:      o.Settings.LookbackDelta,
		// A subquery without a step steps by Prometheus' default
		// evaluation interval.
		NoStepSubqueryIntervalFn: func(int64) int64 { return time.Minute.Milliseconds() },
		EnableAtModifier:         true,
		EnableNegativeOffset:     true,
		Parser:                   p,
	})
	return &API{opts: o, kinds: &kindFieldsCache{now: time.Now}, engine: eng, parser: p, now: time.Now}
}

// Handler serves the API under Prefix. customers gives the customers the
// request's principal sees: nil for all of them.
func (a *API) Handler(customers func(*http.Request) []string) http.Handler {
	routes := map[string]func(w http.ResponseWriter, r *http.Request, q *Queryable){
		"query":            a.query,
		"query_range":      a.queryRange,
		"series":           a.series,
		"labels":           a.labelNames,
		"metadata":         a.metadata,
		"status/buildinfo": a.buildInfo,
		"query_exemplars":  func(w http.ResponseWriter, r *http.Request, _ *Queryable) { respond(w, []any{}, nil, "") },
		"format_query":     a.formatQuery,
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodPost {
			w.Header().Set("Allow", "GET, POST")
			respondError(w, errMethod, fmt.Errorf("%s is not allowed: use GET or POST", r.Method))
			return
		}
		path := strings.TrimPrefix(r.URL.Path, Prefix)
		fn := routes[path]
		if name, ok := strings.CutPrefix(path, "label/"); ok && strings.HasSuffix(name, "/values") {
			name = strings.TrimSuffix(name, "/values")
			fn = func(w http.ResponseWriter, r *http.Request, q *Queryable) { a.labelValues(w, r, q, name) }
		}
		if fn == nil {
			respondError(w, errNotFound, fmt.Errorf("no such endpoint %s of the Prometheus API", r.URL.Path))
			return
		}
		if err := r.ParseForm(); err != nil {
			respondError(w, errBadData, fmt.Errorf("error parsing form values: %w", err))
			return
		}
		q := &Queryable{Store: a.opts.Store, Customers: customers(r), IsCounter: a.isCounter, cache: a.kinds}
		fn(w, r, q)
	})
}

func (a *API) isCounter(sensor, field string) bool {
	if a.opts.Config == nil {
		return false
	}
	return a.opts.Config().IsCounter(sensor, field)
}

// queryOpts are the options of one query: its lookback_delta.
func queryOpts(r *http.Request) (promql.QueryOpts, error) {
	var lookback time.Duration
	if v := r.FormValue("lookback_delta"); v != "" {
		d, err := parseDuration(v)
		if err != nil {
			return nil, fmt.Errorf("error parsing lookback delta duration: %w", err)
		}
		lookback = d
	}
	return promql.NewPrometheusQueryOpts(false, lookback, nil), nil
}

// deadline bounds a query by its timeout parameter, at most the
// configured one, and lets the answer be written after it.
func (a *API) deadline(w http.ResponseWriter, r *http.Request) (context.Context, context.CancelFunc, error) {
	timeout := a.opts.Settings.Timeout
	if v := r.FormValue("timeout"); v != "" {
		d, err := parseDuration(v)
		if err != nil {
			return nil, nil, fmt.Errorf("invalid parameter %q: %w", "timeout", err)
		}
		if d > 0 && d < timeout {
			timeout = d
		}
	}
	// The server gives a request a minute; a longer timeout needs more.
	http.NewResponseController(w).SetWriteDeadline(a.now().Add(timeout + 30*time.Second))
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	return ctx, cancel, nil
}

func (a *API) query(w http.ResponseWriter, r *http.Request, q *Queryable) {
	ts, err := parseTimeParam(r, "time", a.now())
	if err != nil {
		respondError(w, errBadData, err)
		return
	}
	a.run(w, r, func(ctx context.Context, opts promql.QueryOpts) (promql.Query, error) {
		return a.engine.NewInstantQuery(ctx, q, opts, r.FormValue("query"), ts)
	})
}

func (a *API) queryRange(w http.ResponseWriter, r *http.Request, q *Queryable) {
	start, err := parseTime(r.FormValue("start"))
	if err != nil {
		respondError(w, errBadData, fmt.Errorf("invalid parameter %q: %w", "start", err))
		return
	}
	end, err := parseTime(r.FormValue("end"))
	if err != nil {
		respondError(w, errBadData, fmt.Errorf("invalid parameter %q: %w", "end", err))
		return
	}
	if end.Before(start) {
		respondError(w, errBadData, fmt.Errorf("invalid parameter %q: %w", "end", errors.New("end timestamp must not be before start time")))
		return
	}
	step, err := parseDuration(r.FormValue("step"))
	if err != nil {
		respondError(w, errBadData, fmt.Errorf("invalid parameter %q: %w", "step", err))
		return
	}
	if step <= 0 {
		respondError(w, errBadData, fmt.Errorf("invalid parameter %q: %w", "step",
			errors.New("zero or negative query resolution step widths are not accepted. Try a positive integer")))
		return
	}
	if end.Sub(start)/step > MaxPoints {
		respondError(w, errBadData, errors.New("exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)"))
		return
	}
	a.run(w, r, func(ctx context.Context, opts promql.QueryOpts) (promql.Query, error) {
		return a.engine.NewRangeQuery(ctx, q, opts, r.FormValue("query"), start, end, step)
	})
}

// run makes a query with its options and deadline, runs it and writes
// its answer.
func (a *API) run(w http.ResponseWriter, r *http.Request, newQuery func(context.Context, promql.QueryOpts) (promql.Query, error)) {
	ctx, cancel, err := a.deadline(w, r)
	if err != nil {
		respondError(w, errBadData, err)
		return
	}
	defer cancel()
	opts, err := queryOpts(r)
	if err != nil {
		respondError(w, errBadData, err)
		return
	}
	// The engine takes a query slot as it makes the query: waiting for
	// one may time out.
	qry, err := newQuery(ctx, opts)
	if typ := execErrorType(err); err != nil && typ != errExec {
		respondError(w, typ, err)
		return
	}
	if err != nil {
		respondError(w, errBadData, fmt.Errorf("invalid parameter %q: %w", "query", err))
		return
	}
	defer qry.Close()
	res := qry.Exec(ctx)
	if res.Err != nil {
		typ := execErrorType(res.Err)
		if typ == errInternal {
			a.opts.Log.Error("prometheus query failed", "query", r.FormValue("query"), "err", res.Err)
		}
		respondError(w, typ, res.Err)
		return
	}
	respond(w, queryData{res.Value}, res.Warnings, r.FormValue("query"))
}

// execErrorType is the type of a query's error, as Prometheus tells them.
func execErrorType(err error) errorType {
	var (
		canceled promql.ErrQueryCanceled
		timeout  promql.ErrQueryTimeout
		storeErr promql.ErrStorage
	)
	switch {
	case errors.As(err, &timeout), errors.Is(err, context.DeadlineExceeded):
		return errTimeout
	case errors.As(err, &canceled), errors.Is(err, context.Canceled):
		return errCanceled
	case errors.As(err, &storeErr):
		return errInternal
	}
	return errExec
}

// matcherSets reads the match[] parameters; required says at least one
// is needed.
func (a *API) matcherSets(r *http.Request, required bool) ([][]*labels.Matcher, error) {
	ms := r.Form["match[]"]
	if required && len(ms) == 0 {
		return nil, errors.New("no match[] parameter provided")
	}
	sets, err := a.parser.ParseMetricSelectors(ms)
	if err != nil {
		return nil, err
	}
	for _, set := range sets {
		if !slices.ContainsFunc(set, func(m *labels.Matcher) bool { return !m.Matches("") }) {
			return nil, errors.New("match[] must contain at least one non-empty matcher")
		}
	}
	return sets, nil
}

// timeBounds reads start and end, which the series listings accept; the
// store lists every series a device ever stored, whatever the range.
func timeBounds(r *http.Request) error {
	for _, p := range []string{"start", "end"} {
		if v := r.FormValue(p); v != "" {
			if _, err := parseTime(v); err != nil {
				return fmt.Errorf("invalid parameter %q: %w", p, err)
			}
		}
	}
	return nil
}

// listing reads the parameters of a listing (series, labels, label
// values) and gives a querier over the request's series.
func (a *API) listing(w http.ResponseWriter, r *http.Request, q *Queryable, required bool) (storage.Querier, [][]*labels.Matcher, int, bool) {
	if err := timeBounds(r); err != nil {
		respondError(w, errBadData, err)
		return nil, nil, 0, false
	}
	limit, err := parseLimit(r.FormValue("limit"))
	if err != nil {
		respondError(w, errBadData, err)
		return nil, nil, 0, false
	}
	sets, err := a.matcherSets(r, required)
	if err != nil {
		respondError(w, errBadData, err)
		return nil, nil, 0, false
	}
	if len(sets) == 0 {
		sets = [][]*labels.Matcher{nil}
	}
	qr, _ := q.Querier(math.MinInt64, math.MaxInt64)
	return qr, sets, limit, true
}

// series serves series: the label sets of the series match[] selects.
func (a *API) series(w http.ResponseWriter, r *http.Request, q *Queryable) {
	_, sets, limit, ok := a.listing(w, r, q, true)
	if !ok {
		return
	}
	seen := map[string]bool{}
	out := []labels.Labels{}
	for _, set := range sets {
		refs, err := q.series(r.Context(), set)
		if err != nil {
			a.storeError(w, r, err)
			return
		}
		for _, ref := range refs {
			if k := ref.labels.String(); !seen[k] {
				seen[k] = true
				out = append(out, ref.labels)
			}
		}
	}
	slices.SortFunc(out, labels.Compare)
	var warnings annotations.Annotations
	if limit > 0 && len(out) > limit {
		out = out[:limit]
		warnings.Add(errors.New("results truncated due to limit"))
	}
	respond(w, out, warnings, "")
}

// labelNames serves labels.
func (a *API) labelNames(w http.ResponseWriter, r *http.Request, q *Queryable) {
	qr, sets, limit, ok := a.listing(w, r, q, false)
	if !ok {
		return
	}
	a.union(w, r, limit, sets, func(set []*labels.Matcher) ([]string, error) {
		names, _, err := qr.LabelNames(r.Context(), nil, set...)
		return names, err
	})
}

// labelValues serves label/<name>/values.
func (a *API) labelValues(w http.ResponseWriter, r *http.Request, q *Queryable, name string) {
	if !model.UTF8Validation.IsValidLabelName(name) {
		respondError(w, errBadData, fmt.Errorf("invalid label name: %q", name))
		return
	}
	qr, sets, limit, ok := a.listing(w, r, q, false)
	if !ok {
		return
	}
	a.union(w, r, limit, sets, func(set []*labels.Matcher) ([]string, error) {
		vals, _, err := qr.LabelValues(r.Context(), name, nil, set...)
		return vals, err
	})
}

// union answers the sorted union of what list gives for each matcher
// set, at most limit of them when limit is above 0.
func (a *API) union(w http.ResponseWriter, r *http.Request, limit int, sets [][]*labels.Matcher, list func([]*labels.Matcher) ([]string, error)) {
	seen := map[string]bool{}
	out := []string{}
	for _, set := range sets {
		vals, err := list(set)
		if err != nil {
			a.storeError(w, r, err)
			return
		}
		for _, v := range vals {
			if !seen[v] {
				seen[v] = true
				out = append(out, v)
			}
		}
	}
	slices.Sort(out)
	var warnings annotations.Annotations
	if limit > 0 && len(out) > limit {
		out = out[:limit]
		warnings.Add(errors.New("results truncated due to limit"))
	}
	respond(w, out, warnings, "")
}

// storeError answers a listing the store could not give.
func (a *API) storeError(w http.ResponseWriter, r *http.Request, err error) {
	typ := execErrorType(err)
	if typ == errExec {
		typ = errInternal
		a.opts.Log.Error("prometheus listing failed", "path", r.URL.Path, "err", err)
	}
	respondError(w, typ, err)
}

// metricMetadata is what metadata says of a metric.
type metricMetadata struct {
	Type string `json:"type"`
	Help string `json:"help"`
	Unit string `json:"unit"`
}

// metadata serves metadata: each series name's type (counter or gauge),
// what it is and its unit.
func (a *API) metadata(w http.ResponseWriter, r *http.Request, q *Queryable) {
	limit, err := parseLimit(r.FormValue("limit"))
	if err != nil {
		respondError(w, errBadData, err)
		return
	}
	var ms []*labels.Matcher
	if m := r.FormValue("metric"); m != "" {
		ms = append(ms, labels.MustNewMatcher(labels.MatchEqual, model.MetricNameLabel, m))
	}
	refs, err := q.series(r.Context(), ms)
	if err != nil {
		a.storeError(w, r, err)
		return
	}
	out := map[string][]metricMetadata{}
	var cfg *config.Config
	if a.opts.Config != nil {
		cfg = a.opts.Config()
	}
	for _, ref := range refs {
		name := ref.labels.Get(model.MetricNameLabel)
		if _, ok := out[name]; ok {
			if md := out[name]; md[0].Unit == "" {
				md[0].Unit = ref.unit
			}
			continue
		}
		if limit > 0 && len(out) >= limit {
			continue
		}
		md := metricMetadata{Type: string(model.MetricTypeGauge), Unit: ref.unit, Help: help(cfg, ref.Sensor, ref.field)}
		if cfg != nil && cfg.IsCounter(ref.Sensor, ref.field) {
			md.Type = string(model.MetricTypeCounter)
		}
		out[name] = []metricMetadata{md}
	}
	respond(w, out, nil, "")
}

// help says what a series is: a field a kind's devices send, or one
// sensorhub derives by a formula.
func help(cfg *config.Config, sensor, field string) string {
	if cfg != nil {
		if s := cfg.Sensors[sensor]; s != nil {
			if f, ok := plan.Formulas(s)[field]; ok {
				return fmt.Sprintf("%s of sensor kind %s, derived: %s", field, sensor, f)
			}
		}
	}
	return fmt.Sprintf("%s of sensor kind %s", field, sensor)
}

// buildInfo serves status/buildinfo: the version is the Prometheus
// release whose PromQL engine answers, so that Grafana uses the calls that
// release has.
func (a *API) buildInfo(w http.ResponseWriter, _ *http.Request, _ *Queryable) {
	respond(w, map[string]string{
		"version":   EngineVersion(),
		"revision":  "sensorhub",
		"branch":    "",
		"buildUser": "",
		"buildDate": "",
		"goVersion": runtime.Version(),
	}, nil, "")
}

// formatQuery serves format_query: the query, formatted as Prometheus
// formats it.
func (a *API) formatQuery(w http.ResponseWriter, r *http.Request, _ *Queryable) {
	expr, err := a.parser.ParseExpr(r.FormValue("query"))
	if err != nil {
		respondError(w, errBadData, fmt.Errorf("invalid parameter %q: %w", "query", err))
		return
	}
	respond(w, expr.Pretty(0), nil, "")
}

// EngineVersion is the Prometheus release of the PromQL engine built in:
// module version v0.316.0 is Prometheus 3.16.0.
func EngineVersion() string {
	const module = "github.com/prometheus/prometheus"
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path != module {
				continue
			}
			parts := strings.Split(strings.TrimPrefix(d.Version, "v0."), ".")
			if len(parts) >= 2 && len(parts[0]) >= 2 {
				minor, err := strconv.Atoi(parts[0][1:])
				if err == nil {
					return fmt.Sprintf("%s.%d.%s", parts[0][:1], minor, strings.SplitN(parts[1], "-", 2)[0])
				}
			}
		}
	}
	// A test binary has no module versions: go.mod's.
	return "3.16.0"
}

func parseLimit(s string) (int, error) {
	if s == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("invalid parameter %q: limit must be a non-negative number", "limit")
	}
	return n, nil
}

// queryData is the data of a query's answer.
type queryData struct {
	v parser.Value
}

func (d queryData) MarshalJSON() ([]byte, error) {
	return appendQueryData(nil, d.v)
}

var _ json.Marshaler = queryData{}

// Engine is the API's PromQL engine, for a caller that runs it over
// other storage with the same settings.
func (a *API) Engine() *promql.Engine { return a.engine }
