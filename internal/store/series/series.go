package series

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/sensorhub/sensorhub/internal/reading"
	"github.com/sensorhub/sensorhub/internal/store"
)

// Aggregations that a series query accepts.
var Aggregations = []string{"avg", "min", "max", "sum", "count", "first", "last", "increase"}

// Step is a bucket width: a fixed duration, or a number of calendar days
// in the configured zone (days of 23 or 25 hours included).
type Step struct {
	Dur  time.Duration
	Days int
}

// MaxStepDays is the longest step: about ten years.
const MaxStepDays = 3660

// ParseStep reads "" (no bucketing), a Go duration such as "15m", or "Nd"
// such as "1d". A duration of whole days is that many days (168h is 7d):
// buckets longer than a day start at midnight in the zone, from the
// range's first day, never long before the range.
func ParseStep(s string) (Step, error) {
	if s == "" {
		return Step{}, nil
	}
	if n, ok := strings.CutSuffix(s, "d"); ok {
		if d, err := strconv.Atoi(n); err == nil {
			if d < 1 || d > MaxStepDays {
				return Step{}, fmt.Errorf("step %q: days must be from 1 to %d", s, MaxStepDays)
			}
			return Step{Days: d}, nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return Step{}, fmt.Errorf("step %q is neither a duration (30s, 15m, 1h) nor a number of days (1d)", s)
	}
	if d < time.Second {
		return Step{}, fmt.Errorf("step %q is below 1s", s)
	}
	if d > 24*time.Hour {
		if d%(24*time.Hour) != 0 {
			return Step{}, fmt.Errorf("step %q: a step longer than a day is a whole number of days (such as 7d)", s)
		}
		return ParseStep(strconv.FormatInt(int64(d/(24*time.Hour)), 10) + "d")
	}
	return Step{Dur: d}, nil
}

// autoSteps are the steps AutoStep chooses from.
var autoSteps = []time.Duration{time.Minute, 5 * time.Minute, 15 * time.Minute, 30 * time.Minute,
	time.Hour, 2 * time.Hour, 6 * time.Hour, 12 * time.Hour}

// AutoStep chooses the step for a chart of the range: raw points up to two
// hours, then the smallest step that gives at most 400 buckets.
func AutoStep(from, to time.Time) Step {
	span := to.Sub(from)
	if span <= 2*time.Hour {
		return Step{}
	}
	for _, d := range autoSteps {
		if span/d <= 400 {
			return Step{Dur: d}
		}
	}
	return Step{Days: 1}
}

// String writes the step as ParseStep reads it.
func (s Step) String() string {
	switch {
	case s.Days > 0:
		return strconv.Itoa(s.Days) + "d"
	case s.Dur > 0 && s.Dur%time.Hour == 0:
		return strconv.Itoa(int(s.Dur/time.Hour)) + "h"
	case s.Dur > 0 && s.Dur%time.Minute == 0:
		return strconv.Itoa(int(s.Dur/time.Minute)) + "m"
	case s.Dur > 0:
		return s.Dur.String()
	}
	return ""
}

// IsZero reports whether no bucketing was asked for.
func (s Step) IsZero() bool { return s.Dur == 0 && s.Days == 0 }

// Query asks for one field of one device, bucketed by Step with Agg.
type Query struct {
	store.DeviceKey
	Field    string
	From, To time.Time
	Step     Step
	Agg      string
}

// Series is the answer of a series query.
type Series struct {
	Field string `json:"field"`
	Unit  string `json:"unit"`
	Agg   string `json:"agg,omitempty"`
	Step  string `json:"step,omitempty"`
	// Resolution is what answered: the readings ("raw"), or the hourly
	// ("1h") or daily ("1d") aggregates of readings retention removed.
	Resolution string        `json:"resolution"`
	Points     []store.Point `json:"points"`
	// Estimated is, for agg=increase, the part of each bucket's increase
	// that is an estimate: its share of an interval between readings
	// longer than GapAfter that it shares with other buckets (the
	// counter was not read at its edge). Buckets without one are left
	// out.
	Estimated []store.Point `json:"estimated,omitempty"`
}

// lossRatio is, per bucket, the messages lost over those expected: the sum
// of _lost over itself plus the readings received.
func lossRatio(ctx context.Context, s store.Reader, q Query, loc *time.Location) (Series, error) {
	q.Field = reading.FieldLost
	q.Agg = "sum"
	lost, err := Read(ctx, s, q, loc)
	if err != nil {
		return Series{}, err
	}
	q.Agg = "count"
	got, err := Read(ctx, s, q, loc)
	if err != nil {
		return Series{}, err
	}
	out := Series{Field: reading.FieldLossRatio, Agg: "ratio", Resolution: lost.Resolution, Points: make([]store.Point, len(lost.Points))}
	for i, p := range lost.Points {
		out.Points[i] = store.Point{Time: p.Time, Value: round(p.Value / (p.Value + got.Points[i].Value))}
	}
	return out, nil
}

// Read answers a series query from the store's raw points. Buckets
// with no point are left out; each bucket is stamped with its start.
func Read(ctx context.Context, s store.Reader, q Query, loc *time.Location) (Series, error) {
	if q.Field == reading.FieldLossRatio {
		return lossRatio(ctx, s, q, loc)
	}
	if !q.Step.IsZero() && q.Agg == "" {
		q.Agg = "avg"
	}
	invalid, err := invalidOf(ctx, s, q)
	if err != nil {
		return Series{}, err
	}
	if rr, ok := s.(Rollups); ok {
		kept, err := rr.Kept(ctx, q.DeviceKey)
		if err != nil {
			return Series{}, err
		}
		if q.From.Before(kept.Raw) {
			return readRolled(ctx, s, rr, kept, q, loc, invalid)
		}
	}
	// Invalid intervals leave out the increase of readings' intervals,
	// which only the readings show.
	if !q.Step.IsZero() && len(invalid) == 0 {
		out, ok, err := seriesFromDays(ctx, s, q, loc, nil)
		if err != nil {
			return Series{}, err
		}
		if ok {
			out.Resolution = ResolutionRaw
			return out, nil
		}
	}
	return readRaw(ctx, s, q, loc, invalid)
}

// ReadRaw answers a series query from raw points only.
func ReadRaw(ctx context.Context, s store.Reader, q Query, loc *time.Location) (Series, error) {
	invalid, err := invalidOf(ctx, s, q)
	if err != nil {
		return Series{}, err
	}
	return readRaw(ctx, s, q, loc, invalid)
}

// readRaw is ReadRaw, the increase of the readings' intervals that
// overlap an invalid interval left out.
func readRaw(ctx context.Context, s store.Reader, q Query, loc *time.Location, invalid []store.InvalidInterval) (Series, error) {
	pts, unit, err := s.Points(ctx, store.RawQuery{DeviceKey: q.DeviceKey, Field: q.Field, From: q.From, To: q.To})
	if err != nil {
		return Series{}, err
	}
	out := Series{Field: q.Field, Unit: unit, Points: pts, Resolution: ResolutionRaw}
	if q.Step.IsZero() && q.Agg == "" {
		return out, nil
	}
	if q.Agg == "" {
		q.Agg = "avg"
	}
	out.Agg = q.Agg
	if q.Agg == "increase" {
		all := make([]Bucket, len(pts), len(pts)+1)
		for i, p := range pts {
			all[i] = pointBucket(p)
		}
		if all, err = withPointAfter(ctx, s, all, q); err != nil {
			return Series{}, err
		}
		out.Points, out.Estimated, err = increases(ctx, s, all, q, loc, invalid)
		return out, err
	}
	out.Points = aggregate(pts, q.Step.bucketer(q.From, loc), q.Step.following(loc), q.Agg)
	return out, nil
}

// increases answers agg=increase from values in time order
// (Increases), those in range and the one after it, whose interval from
// the last crosses its end: with the value before the range, whose
// interval to the first crosses its start.
func increases(ctx context.Context, s store.Reader, all []Bucket, q Query, loc *time.Location, invalid []store.InvalidInterval) (pts, estimated []store.Point, err error) {
	var prev *store.Point
	p, ok, err := s.PointBefore(ctx, q.DeviceKey, q.Field, q.From)
	if err != nil {
		return nil, nil, err
	}
	if ok {
		prev = &p
	}
	b := Buckets{Of: q.Step.bucketer(q.From, loc), Next: q.Step.following(loc)}
	pts, estimated = Increases(all, prev, b, q.From, q.To, invalid)
	return pts, estimated, nil
}

// withPointAfter appends the reading at or after the query's end to its
// values, when there is one.
func withPointAfter(ctx context.Context, s store.Reader, all []Bucket, q Query) ([]Bucket, error) {
	after, ok, err := PointAfter(ctx, s, q.DeviceKey, q.Field, q.To)
	if ok {
		all = append(all, pointBucket(after))
	}
	return all, err
}

// following returns the function that gives the start of the bucket after
// the one that starts at a time: nil without a step.
func (s Step) following(loc *time.Location) func(time.Time) time.Time {
	switch {
	case s.Days > 0:
		return func(start time.Time) time.Time {
			y, m, d := start.In(loc).Date()
			return time.Date(y, m, d+s.Days, 0, 0, 0, 0, loc)
		}
	case s.Dur > 0:
		return func(start time.Time) time.Time { return start.Add(s.Dur) }
	}
	return nil
}

// bucketer returns the function that maps a time to its bucket's start.
func (s Step) bucketer(from time.Time, loc *time.Location) func(time.Time) time.Time {
	switch {
	case s.Days > 0:
		fy, fm, fd := from.In(loc).Date()
		origin := civilDay(fy, fm, fd)
		return func(t time.Time) time.Time {
			y, m, d := t.In(loc).Date()
			n := civilDay(y, m, d) - origin
			n -= ((n % s.Days) + s.Days) % s.Days
			return time.Date(fy, fm, fd+n, 0, 0, 0, 0, loc)
		}
	case s.Dur > 0:
		return func(t time.Time) time.Time { return t.Truncate(s.Dur) }
	default:
		// An aggregation without a step makes one bucket of the range.
		return func(time.Time) time.Time { return from }
	}
}

// civilDay numbers calendar days, whatever the zone's day lengths.
func civilDay(y int, m time.Month, d int) int {
	return int(time.Date(y, m, d, 12, 0, 0, 0, time.UTC).Unix() / 86400)
}

// Aggregate reduces time-ordered points into buckets with one of the
// aggregations but "increase" (Increases).
func Aggregate(pts []store.Point, bucket func(time.Time) time.Time, agg string) []store.Point {
	return aggregate(pts, bucket, nil, agg)
}

// aggregate is Aggregate; with following, which gives the start of the
// next bucket, a point before it is known to be in the current bucket
// without working its bucket out.
func aggregate(pts []store.Point, bucket, following func(time.Time) time.Time, agg string) []store.Point {
	out := []store.Point{}
	var cur, next time.Time
	var acc accumulator
	started := false
	for _, p := range pts {
		if started && following != nil && p.Time.Before(next) {
			acc.add(p.Value)
			continue
		}
		b := bucket(p.Time)
		if !started || !b.Equal(cur) {
			if started {
				out = append(out, store.Point{Time: cur, Value: acc.result(agg)})
			}
			cur, acc, started = b, accumulator{}, true
			if following != nil {
				next = following(b)
			}
		}
		acc.add(p.Value)
	}
	if started {
		out = append(out, store.Point{Time: cur, Value: acc.result(agg)})
	}
	return out
}

type accumulator struct {
	n                          int
	sum, min, max, first, last float64
}

// add adds a value.
func (a *accumulator) add(v float64) {
	if a.n == 0 {
		a.min, a.max, a.first = v, v, v
	}
	a.n++
	a.sum += v
	a.min = math.Min(a.min, v)
	a.max = math.Max(a.max, v)
	a.last = v
}

func (a *accumulator) result(agg string) float64 {
	var v float64
	switch agg {
	case "avg":
		v = a.sum / float64(a.n)
	case "min":
		v = a.min
	case "max":
		v = a.max
	case "sum":
		v = a.sum
	case "count":
		return float64(a.n)
	case "first":
		return a.first
	case "last":
		return a.last
	}
	return round(v)
}

// round drops the noise that float sums leave (190.60000000000582) by
// keeping 12 significant digits.
func round(v float64) float64 {
	r, err := strconv.ParseFloat(strconv.FormatFloat(v, 'g', 12, 64), 64)
	if err != nil {
		return v
	}
	return r
}
