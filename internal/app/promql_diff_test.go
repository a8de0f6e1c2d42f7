package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/tsdb"

	"github.com/sensorhub/sensorhub/internal/app"
	"github.com/sensorhub/sensorhub/internal/config"
	"github.com/sensorhub/sensorhub/internal/promapi"
	"github.com/sensorhub/sensorhub/internal/store"
	"github.com/sensorhub/sensorhub/internal/testenv"
)

// labSample is one value of one series of the differential test.
type labSample struct {
	labels labels.Labels
	t      int64 // Unix milliseconds, whole seconds
	v      float64
}

// labBase is when the lab devices start sending: in the past, in UTC.
var labBase = time.Date(2025, 3, 3, 10, 0, 0, 0, time.UTC)

// labDevices are the differential test's devices: each sends once a
// minute at its own second, never a multiple of 3 or 5 seconds, so that
// no subquery step of the queries lands on a sample.
var labDevices = []struct {
	customer, device string
	second           int
}{
	{"finemeca", "d1", 7}, {"finemeca", "d2", 13}, {"finemeca", "d3", 23}, {"acme", "d4", 37}, {"acme", "d5", 43},
}

// labReadings are five hours of readings of the lab kind (T, P, and the
// energy counter E), d1's counter restarting at 150 minutes, d2 silent
// from 100 to 120 minutes, d5 starting at 60 minutes: the payloads to
// ingest, and the samples sensorhub stores of them (its _lost field
// included, 0 as no message is lost).
func labReadings() (payloads []string, samples []labSample) {
	rnd := rand.New(rand.NewPCG(22, 1))
	for i, d := range labDevices {
		e := 1000 * float64(i+1)
		n := 0
		for m := range 300 {
			e += rnd.Float64() * 5
			if d.device == "d1" && m == 150 {
				e = rnd.Float64() * 2
			}
			temp := 20 + 3*math.Sin(float64(m)/30+float64(i)) + rnd.Float64()*0.4
			pres := 1000 + rnd.Float64()*10
			if d.device == "d2" && m >= 100 && m < 120 || d.device == "d5" && m < 60 {
				continue
			}
			n++
			at := labBase.Add(time.Duration(m)*time.Minute + time.Duration(d.second)*time.Second)
			b, _ := json.Marshal(map[string]any{"Customer": d.customer, "idDevice": d.device, "Mod": "lab",
				"Time": at.Format(time.DateTime), "msgCount": n, "T": temp, "P": pres, "E": e})
			payloads = append(payloads, string(b))
			for field, v := range map[string]float64{"T": temp, "P": pres, "E": e, "_lost": 0} {
				samples = append(samples, labSample{labels.FromStrings(model.MetricNameLabel, promapi.MetricName("lab", field),
					"customer", d.customer, "sensor", "lab", "device", d.device), at.UnixMilli(), v})
			}
		}
	}
	return payloads, samples
}

// labAt is a time m minutes and half a second after labBase: never a
// sample's time, nor a range's start.
func labAt(m int) time.Time { return labBase.Add(time.Duration(m)*time.Minute + 500*time.Millisecond) }

// labQueries are the PromQL expressions of the differential test.
func labQueries() []string {
	at := strconv.FormatFloat(float64(labAt(100).UnixMilli())/1000, 'f', 3, 64)
	return []string{
		`lab_T`, `lab_T{device="d1"}`, `lab_T{device!="d1"}`, `lab_P{device=~"d[13]"}`,
		`lab_P{device!~"d[13]",customer="finemeca"}`, `{__name__=~"lab_[TP]",customer="acme"}`, `lab__lost`,
		`rate(lab_E[5m])`, `irate(lab_E[5m])`, `increase(lab_E[10m])`, `delta(lab_T[10m])`, `deriv(lab_P[15m])`,
		`avg_over_time(lab_T[10m])`, `min_over_time(lab_T[10m])`, `max_over_time(lab_P[30m])`, `sum_over_time(lab_P[7m])`,
		`count_over_time(lab_T[17m])`, `last_over_time(lab_T[10m])`, `stddev_over_time(lab_P[20m])`,
		`quantile_over_time(0.9, lab_T[15m])`, `changes(lab_T[10m])`, `predict_linear(lab_P[20m], 600)`,
		`sum by (customer) (lab_T)`, `avg without (device) (lab_P)`, `max by (customer) (rate(lab_E[5m]))`,
		`count by (customer) (lab_T)`, `topk(2, lab_T)`, `bottomk by (customer) (1, lab_P)`, `quantile(0.5, lab_T)`,
		`sum(rate(lab_E{customer="finemeca"}[10m]))`,
		`lab_T offset 10m`, `rate(lab_E[5m] offset 30m)`, `lab_T @ ` + at, `avg_over_time(lab_T[10m] @ ` + at + `)`,
		`max_over_time(rate(lab_E[5m])[30m:1m])`, `avg_over_time(lab_T[20m:30s])`, `min_over_time(lab_T[15m:])`,
		`lab_T - lab_P`, `lab_T - on(customer, device) lab_P`, `lab_T * on(customer) group_left sum by (customer) (lab_P)`,
		`lab_T / ignoring(device) group_left avg without (device) (lab_T)`, `lab_T > 21`, `lab_T > bool 21`,
		`lab_T and on(device) lab_P > 1005`, `label_replace(lab_T, "num", "$1", "device", "d(.*)")`,
		`absent(lab_T{device="nope"})`, `absent(lab_T{device="d1"})`,
		`increase(lab_E{device="d1"}[30m])`, `resets(lab_E[2h])`, `rate(lab_E{device="d1"}[1h])`,
	}
}

// labRun is one query of the differential test: instant when step is 0.
type labRun struct {
	expr       string
	start, end time.Time
	step       time.Duration
}

func (r labRun) String() string {
	if r.step == 0 {
		return fmt.Sprintf("%s at %s", r.expr, r.start.Format(time.RFC3339Nano))
	}
	return fmt.Sprintf("%s from %s to %s step %s", r.expr, r.start.Format(time.TimeOnly), r.end.Format(time.TimeOnly), r.step)
}

// labRuns are the queries: each expression at four instants (in d2's
// silence, just after d1's restart...) and over a range.
func labRuns() []labRun {
	var runs []labRun
	for _, e := range labQueries() {
		for _, m := range []int{47, 118, 152, 290} {
			runs = append(runs, labRun{expr: e, start: labAt(m)})
		}
		runs = append(runs, labRun{expr: e, start: labAt(30), end: labAt(295), step: 3 * time.Minute})
	}
	return runs
}

// result is a query's answer in a form that the engine's and the
// client's values are compared in: series by their labels, each with its
// points.
type result struct {
	kind   string
	series map[string][]labPoint
}

type labPoint struct {
	t int64
	v float64
}

func labelKey(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s=%q,", k, m[k])
	}
	return b.String()
}

// fromModel is a client's answer as a result.
func fromModel(v model.Value) result {
	r := result{kind: v.Type().String(), series: map[string][]labPoint{}}
	metric := func(m model.Metric) string {
		ls := map[string]string{}
		for k, v := range m {
			ls[string(k)] = string(v)
		}
		return labelKey(ls)
	}
	switch v := v.(type) {
	case model.Matrix:
		for _, s := range v {
			for _, p := range s.Values {
				r.series[metric(s.Metric)] = append(r.series[metric(s.Metric)], labPoint{int64(p.Timestamp), float64(p.Value)})
			}
		}
	case model.Vector:
		for _, s := range v {
			r.series[metric(s.Metric)] = append(r.series[metric(s.Metric)], labPoint{int64(s.Timestamp), float64(s.Value)})
		}
	case *model.Scalar:
		r.series[""] = []labPoint{{int64(v.Timestamp), float64(v.Value)}}
	}
	return r
}

// fromEngine is the engine's answer as a result.
func fromEngine(v parser.Value) result {
	r := result{kind: string(v.Type()), series: map[string][]labPoint{}}
	switch v := v.(type) {
	case promql.Matrix:
		for _, s := range v {
			k := labelKey(s.Metric.Map())
			for _, p := range s.Floats {
				r.series[k] = append(r.series[k], labPoint{p.T, p.F})
			}
		}
	case promql.Vector:
		for _, s := range v {
			k := labelKey(s.Metric.Map())
			r.series[k] = append(r.series[k], labPoint{s.T, s.F})
		}
	case promql.Scalar:
		r.series[""] = []labPoint{{v.T, v.V}}
	}
	return r
}

// differ says how two answers differ: labels and times exactly, values
// within 1e-9 of each other, relatively.
func differ(want, got result) string {
	if want.kind != got.kind {
		return fmt.Sprintf("result type %s, want %s", got.kind, want.kind)
	}
	for k, ps := range want.series {
		gps, ok := got.series[k]
		if !ok {
			return fmt.Sprintf("series %s missing", k)
		}
		if len(gps) != len(ps) {
			return fmt.Sprintf("series %s: %d points, want %d", k, len(gps), len(ps))
		}
		for i, p := range ps {
			g := gps[i]
			if g.t != p.t {
				return fmt.Sprintf("series %s point %d: time %d, want %d", k, i, g.t, p.t)
			}
			if !(math.IsNaN(p.v) && math.IsNaN(g.v)) && math.Abs(g.v-p.v) > 1e-9*math.Max(math.Abs(p.v), math.Abs(g.v)) && math.Abs(g.v-p.v) > 1e-12 {
				return fmt.Sprintf("series %s point %d at %d: %v, want %v", k, i, p.t, g.v, p.v)
			}
		}
	}
	for k := range got.series {
		if _, ok := want.series[k]; !ok {
			return fmt.Sprintf("series %s not wanted", k)
		}
	}
	return ""
}

// query runs one query through a Prometheus client.
func (r labRun) query(ctx context.Context, c promv1.API) (result, error) {
	var v model.Value
	var err error
	if r.step == 0 {
		v, _, _, err = c.Query(ctx, r.expr, r.start)
	} else {
		v, _, _, err = c.QueryRange(ctx, r.expr, promv1.Range{Start: r.start, End: r.end, Step: r.step})
	}
	if err != nil {
		return result{}, err
	}
	return fromModel(v), nil
}

// startLab starts sensorhub with the lab kind, two customers, in UTC, and
// ingests the lab readings over HTTP, as devices that cannot speak MQTT
// send them, with the Authorization header authz gives (none for nil).
func startLab(t *testing.T, mutate func(*config.Config), authz func() string) (*app.App, []labSample) {
	t.Helper()
	a := start(t, "embedded", app.Options{}, func(c *config.Config) {
		c.Timezone = "UTC"
		c.Customers = []string{"finemeca", "acme"}
		c.Sensors["lab"] = &config.Sensor{Match: config.Match{Field: "Mod", Equals: "lab"}, Keep: []string{"T", "P", "E"},
			Counters: []string{"E"}, Units: map[string]string{"T": "C", "P": "hPa", "E": "kWh"}}
		noSilence(c)
		if mutate != nil {
			mutate(c)
		}
	})
	payloads, samples := labReadings()
	req, _ := http.NewRequest(http.MethodPost, "http://"+a.HTTPAddr()+"/api/v1/ingest?topic=lab", strings.NewReader(strings.Join(payloads, "\n")))
	req.Header.Set("Content-Type", "application/x-ndjson")
	if authz != nil {
		req.Header.Set("Authorization", authz())
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("ingest: HTTP %d", resp.StatusCode)
	}
	testenv.Eventually(t, 30*time.Second, 50*time.Millisecond, func() error {
		var n int64
		for _, k := range labDevices {
			d, err := a.Store.Latest(context.Background(), store.DeviceKey{Customer: k.customer, Sensor: "lab", Device: k.device})
			if err != nil {
				return err
			}
			n += d.MsgCount
		}
		if n != int64(len(payloads)) {
			return fmt.Errorf("%d readings stored, want %d", n, len(payloads))
		}
		return nil
	})
	return a, samples
}

// promClient is the official Prometheus client of an address, with an
// Authorization header when auth is not empty.
func promClient(t testing.TB, address, auth string) promv1.API {
	t.Helper()
	c, err := api.NewClient(api.Config{Address: address, RoundTripper: authorized{auth}})
	if err != nil {
		t.Fatal(err)
	}
	return promv1.NewAPI(c)
}

type authorized struct{ header string }

func (a authorized) RoundTrip(r *http.Request) (*http.Response, error) {
	if a.header != "" {
		r = r.Clone(r.Context())
		r.Header.Set("Authorization", a.header)
	}
	return http.DefaultTransport.RoundTrip(r)
}

// TestPromQLMatchesPrometheusStorage: the same samples ingested into
// sensorhub and appended to Prometheus' own TSDB give the same answers to
// every query, from the same engine: the adapter from sensorhub's store
// to Prometheus storage loses, adds and moves nothing.
func TestPromQLMatchesPrometheusStorage(t *testing.T) {
	a, samples := startLab(t, nil, nil)
	db, err := tsdb.Open(t.TempDir(), slog.New(slog.DiscardHandler), nil, tsdb.DefaultOptions(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	app := db.Appender(ctx)
	for _, s := range samples {
		if _, err := app.Append(0, s.labels, s.t, s.v); err != nil {
			t.Fatal(err)
		}
	}
	if err := app.Commit(); err != nil {
		t.Fatal(err)
	}
	engine := promapi.New(promapi.Options{Settings: config.DefaultPrometheusAPI}).Engine()
	compare(t, promClient(t, "http://"+a.HTTPAddr()+"/prometheus", ""), func(r labRun) (result, error) {
		var q promql.Query
		var err error
		if r.step == 0 {
			q, err = engine.NewInstantQuery(ctx, db, nil, r.expr, r.start)
		} else {
			q, err = engine.NewRangeQuery(ctx, db, nil, r.expr, r.start, r.end, r.step)
		}
		if err != nil {
			return result{}, err
		}
		defer q.Close()
		res := q.Exec(ctx)
		if res.Err != nil {
			return result{}, res.Err
		}
		return fromEngine(res.Value), nil
	})
}

// compare runs at least 100 queries on sensorhub and on a reference and
// requires the same answers, most of them not empty.
func compare(t *testing.T, sh promv1.API, reference func(labRun) (result, error)) {
	t.Helper()
	ctx := context.Background()
	runs := labRuns()
	if len(runs) < 100 {
		t.Fatalf("%d queries, want at least 100", len(runs))
	}
	nonEmpty := 0
	for _, r := range runs {
		want, err := reference(r)
		if err != nil {
			t.Fatalf("%s on the reference: %v", r, err)
		}
		got, err := r.query(ctx, sh)
		if err != nil {
			t.Errorf("%s on sensorhub: %v", r, err)
			continue
		}
		if d := differ(want, got); d != "" {
			t.Errorf("%s: sensorhub %s", r, d)
		}
		if len(want.series) > 0 {
			nonEmpty++
		}
	}
	// The answers compared are answers: most queries have some.
	if nonEmpty < len(runs)*3/4 {
		t.Errorf("%d of %d queries answered something, want most", nonEmpty, len(runs))
	}
}

// TestPromQLMatchesPrometheus242: the same samples ingested into
// sensorhub and backfilled into a real Prometheus (Debian's 2.42) give
// the same answers over HTTP. Evaluation times fall on no sample, where
// Prometheus 2's closed range selectors and Prometheus 3's left-open ones
// would differ.
func TestPromQLMatchesPrometheus242(t *testing.T) {
	testenv.Needs(t, "prometheus and promtool (Debian's prometheus package)")
	a, samples := startLab(t, nil, nil)
	ref := promClient(t, startPrometheus(t, samples), "")
	compare(t, promClient(t, "http://"+a.HTTPAddr()+"/prometheus", ""), func(r labRun) (result, error) {
		return r.query(context.Background(), ref)
	})
}

// startPrometheus backfills the samples into a new Prometheus data
// directory with promtool, starts Prometheus on it on a free port and
// returns its address once ready.
func startPrometheus(t *testing.T, samples []labSample) string {
	t.Helper()
	dir := t.TempDir()
	// OpenMetrics: one family's samples together, in time order per
	// series, timestamps in seconds.
	byName := map[string][]labSample{}
	for _, s := range samples {
		name := s.labels.Get(model.MetricNameLabel)
		byName[name] = append(byName[name], s)
	}
	var om bytes.Buffer
	names := make([]string, 0, len(byName))
	for n := range byName {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		ss := byName[n]
		slices.SortStableFunc(ss, func(a, b labSample) int { return labels.Compare(a.labels, b.labels) })
		for _, s := range ss {
			lb := labels.NewBuilder(s.labels).Del(model.MetricNameLabel).Labels()
			var ls []string
			lb.Range(func(l labels.Label) { ls = append(ls, fmt.Sprintf("%s=%q", l.Name, l.Value)) })
			fmt.Fprintf(&om, "%s{%s} %s %d\n", n, strings.Join(ls, ","), strconv.FormatFloat(s.v, 'g', -1, 64), s.t/1000)
		}
	}
	om.WriteString("# EOF\n")
	input := filepath.Join(dir, "samples.om")
	if err := os.WriteFile(input, om.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "data")
	if out, err := testenv.Command(t, "promtool", "tsdb", "create-blocks-from", "openmetrics", input, data).CombinedOutput(); err != nil {
		t.Fatalf("promtool backfill: %v\n%s", err, out)
	}
	conf := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(conf, []byte("global: {}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := testenv.FreeAddr(t)
	var log testenv.SyncBuffer
	cmd := testenv.Command(t, "prometheus", "--config.file="+conf, "--storage.tsdb.path="+data,
		"--storage.tsdb.retention.time=10y", "--web.listen-address="+addr)
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatalf("prometheus (apt-get install prometheus): %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
	})
	testenv.Eventually(t, 60*time.Second, 100*time.Millisecond, func() error {
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("prometheus exited: %v\n%s", err, log.String())
		default:
		}
		resp, err := http.Get("http://" + addr + "/-/ready")
		if err != nil {
			return err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("prometheus not ready: HTTP %d", resp.StatusCode)
		}
		return nil
	})
	return "http://" + addr
}
