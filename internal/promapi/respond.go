package promapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/util/annotations"
)

// errorType is a Prometheus API error's type and HTTP status.
type errorType struct {
	name   string
	status int
}

// The error types of Prometheus' API that this one gives.
var (
	errBadData  = errorType{"bad_data", http.StatusBadRequest}
	errExec     = errorType{"execution", http.StatusUnprocessableEntity}
	errTimeout  = errorType{"timeout", http.StatusServiceUnavailable}
	errCanceled = errorType{"canceled", 499}
	errInternal = errorType{"internal", http.StatusInternalServerError}
	errNotFound = errorType{"not_found", http.StatusNotFound}
	errMethod   = errorType{"bad_data", http.StatusMethodNotAllowed}
)

// response is Prometheus' envelope.
type response struct {
	Status    string   `json:"status"`
	Data      any      `json:"data,omitempty"`
	ErrorType string   `json:"errorType,omitempty"`
	Error     string   `json:"error,omitempty"`
	Warnings  []string `json:"warnings,omitempty"`
	Infos     []string `json:"infos,omitempty"`
}

// respond writes a success with its warnings and infos (the annotations
// of query, at most 10 of each).
func respond(w http.ResponseWriter, data any, annos annotations.Annotations, query string) {
	warnings, infos := annos.AsStrings(query, 10, 10)
	write(w, http.StatusOK, response{Status: "success", Data: data, Warnings: warnings, Infos: infos})
}

func respondError(w http.ResponseWriter, typ errorType, err error) {
	write(w, typ.status, response{Status: "error", ErrorType: typ.name, Error: err.Error()})
}

func write(w http.ResponseWriter, status int, r response) {
	b, err := json.Marshal(r)
	if err != nil {
		status = http.StatusInternalServerError
		b, _ = json.Marshal(response{Status: "error", ErrorType: errInternal.name, Error: err.Error()})
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(b)
}

// appendQueryData writes a query's result as Prometheus does:
// {"resultType", "result"}, times in seconds, values as strings.
func appendQueryData(b []byte, v parser.Value) ([]byte, error) {
	b = append(b, `{"resultType":`...)
	b = strconv.AppendQuote(b, string(v.Type()))
	b = append(b, `,"result":`...)
	var err error
	switch v := v.(type) {
	case promql.Matrix:
		b, err = appendList(b, len(v), func(b []byte, i int) ([]byte, error) {
			s := v[i]
			if len(s.Histograms) > 0 {
				return nil, errors.New("histograms are not served")
			}
			b, err := appendMetric(b, s.Metric)
			b = append(b, `,"values":`...)
			b, _ = appendList(b, len(s.Floats), func(b []byte, j int) ([]byte, error) {
				return appendPoint(b, s.Floats[j].T, s.Floats[j].F), nil
			})
			return append(b, '}'), err
		})
	case promql.Vector:
		b, err = appendList(b, len(v), func(b []byte, i int) ([]byte, error) {
			b, err := appendMetric(b, v[i].Metric)
			b = append(b, `,"value":`...)
			b = appendPoint(b, v[i].T, v[i].F)
			return append(b, '}'), err
		})
	case promql.Scalar:
		b = appendPoint(b, v.T, v.V)
	case promql.String:
		b = append(b, '[')
		b = appendTime(b, v.T)
		b = append(b, ',')
		s, err := json.Marshal(v.V)
		if err != nil {
			return nil, err
		}
		b = append(b, s...)
		b = append(b, ']')
	default:
		return nil, fmt.Errorf("unknown result type %s", v.Type())
	}
	if err != nil {
		return nil, err
	}
	return append(b, '}'), nil
}

// appendList writes [item, item...], the i-th written by item.
func appendList(b []byte, n int, item func(b []byte, i int) ([]byte, error)) ([]byte, error) {
	b = append(b, '[')
	for i := range n {
		if i > 0 {
			b = append(b, ',')
		}
		var err error
		if b, err = item(b, i); err != nil {
			return nil, err
		}
	}
	return append(b, ']'), nil
}

// appendMetric writes {"metric":labels, leaving the object open; an
// error leaves b as it was.
func appendMetric(b []byte, m labels.Labels) ([]byte, error) {
	js, err := json.Marshal(m)
	if err != nil {
		return b, err
	}
	b = append(b, `{"metric":`...)
	return append(b, js...), nil
}

// appendPoint writes [seconds, "value"].
func appendPoint(b []byte, t int64, v float64) []byte {
	b = append(b, '[')
	b = appendTime(b, t)
	b = append(b, `,"`...)
	format := byte('f')
	if a := math.Abs(v); a != 0 && (a < 1e-6 || a >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, v, format, -1, 64)
	return append(b, `"]`...)
}

// appendTime writes Unix milliseconds as seconds with up to three
// decimals.
func appendTime(b []byte, t int64) []byte {
	if t < 0 {
		b = append(b, '-')
		t = -t
	}
	b = strconv.AppendInt(b, t/1000, 10)
	if frac := t % 1000; frac != 0 {
		b = append(b, '.')
		if frac < 100 {
			b = append(b, '0')
		}
		if frac < 10 {
			b = append(b, '0')
		}
		b = strconv.AppendInt(b, frac, 10)
	}
	return b
}

// The times the listings take when none is given, as Prometheus has them.
var (
	earliest = time.Unix(math.MinInt64/1000+62135596801, 0).UTC()
	latest   = time.Unix(math.MaxInt64/1000-62135596801, 999999999).UTC()
)

// parseTime reads a time as Prometheus does: Unix seconds with decimals,
// or RFC 3339.
func parseTime(s string) (time.Time, error) {
	if t, err := strconv.ParseFloat(s, 64); err == nil {
		sec, ns := math.Modf(t)
		ns = math.Round(ns*1000) / 1000
		return time.Unix(int64(sec), int64(ns*float64(time.Second))).UTC(), nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	switch s {
	case earliest.Format(time.RFC3339Nano):
		return earliest, nil
	case latest.Format(time.RFC3339Nano):
		return latest, nil
	}
	return time.Time{}, fmt.Errorf("cannot parse %q to a valid timestamp", s)
}

func parseTimeParam(r *http.Request, name string, def time.Time) (time.Time, error) {
	v := r.FormValue(name)
	if v == "" {
		return def, nil
	}
	t, err := parseTime(v)
	if err != nil {
		return time.Time{}, fmt.Errorf("invalid parameter %q: %w", name, err)
	}
	return t, nil
}

// parseDuration reads a duration as Prometheus does: seconds with
// decimals, or a Prometheus duration (5m, 1h30m, 1d).
func parseDuration(s string) (time.Duration, error) {
	if d, err := strconv.ParseFloat(s, 64); err == nil {
		ts := d * float64(time.Second)
		if math.IsNaN(ts) || ts >= float64(math.MaxInt64) || ts < float64(math.MinInt64) {
			return 0, fmt.Errorf("cannot parse %q to a valid duration. It overflows int64", s)
		}
		return time.Duration(ts), nil
	}
	if d, err := model.ParseDuration(s); err == nil {
		return time.Duration(d), nil
	}
	return 0, fmt.Errorf("cannot parse %q to a valid duration", s)
}

// slots bound the queries evaluated at once: the engine's query tracker.
// A query waits for a slot within its deadline.
type slots chan struct{}

func newSlots(n int) slots { return make(slots, max(n, 1)) }

func (s slots) GetMaxConcurrent() int { return cap(s) }

func (s slots) Insert(ctx context.Context, _ string) (int, error) {
	select {
	case s <- struct{}{}:
		return 0, nil
	case <-ctx.Done():
		return 0, fmt.Errorf("waiting for one of %d query slots: %w", cap(s), ctx.Err())
	}
}

func (s slots) Delete(int) { <-s }

func (s slots) Close() error { return nil }
