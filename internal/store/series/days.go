package series

import (
	"context"
	"time"

	"github.com/sensorhub/sensorhub/internal/store"
)

// Bucket is the aggregate of one field's values over one bucket, in time
// order: its Counter holds the count, the first and last values and the
// counter increase within it, from First to Last.
type Bucket struct {
	Start time.Time
	// End is when the values the bucket holds end: its last value's
	// time, or the end of the hour or day it sums up.
	End time.Time
	Counter
	Sum, Min, Max float64
}

// DayReader is implemented by stores that keep summaries of whole days
// (days start at midnight in the zone the store was opened with), so that
// a long range at day steps is answered without reading every value.
type DayReader interface {
	// Days returns the day buckets that start in [From, To), a range of
	// whole days, oldest first, leaving out days without a value;
	// store.ErrNotFound for an unknown device or field.
	Days(ctx context.Context, q store.RawQuery) ([]Bucket, error)
	// Location is the zone whose midnights start the kept days.
	Location() *time.Location
}

// dayStart is the local midnight that starts t's day.
func dayStart(t time.Time, loc *time.Location) time.Time {
	y, m, d := t.In(loc).Date()
	return time.Date(y, m, d, 0, 0, 0, 0, loc)
}

// seriesFromDays answers a query at day steps from kept day summaries:
// whole days inside the range from the summaries, the partial days at its
// edges from raw points. ok is false when the store keeps none, or the
// step is not in days.
func seriesFromDays(ctx context.Context, s store.Reader, q Query, loc *time.Location, invalid []store.InvalidInterval) ([]store.Point, string, bool, error) {
	rr, ok := s.(DayReader)
	if !ok || q.Step.Days == 0 || rr.Location().String() != loc.String() {
		return nil, "", false, nil
	}
	inner := dayStart(q.From, loc)
	if inner.Before(q.From) {
		inner = dayStart(inner.Add(36*time.Hour), loc)
	}
	end := dayStart(q.To, loc)
	if !inner.Before(end) {
		return nil, "", false, nil
	}
	head, unit, err := s.Points(ctx, store.RawQuery{DeviceKey: q.DeviceKey, Field: q.Field, From: q.From, To: inner})
	if err != nil {
		return nil, "", true, err
	}
	tail, _, err := s.Points(ctx, store.RawQuery{DeviceKey: q.DeviceKey, Field: q.Field, From: end, To: q.To})
	if err != nil {
		return nil, "", true, err
	}
	buckets, err := rr.Days(ctx, store.RawQuery{DeviceKey: q.DeviceKey, Field: q.Field, From: inner, To: end})
	if err != nil {
		return nil, "", true, err
	}
	// Raw edges become one-point buckets, so that one merge serves all.
	all := make([]Bucket, 0, len(head)+len(buckets)+len(tail))
	for _, p := range head {
		all = append(all, pointBucket(p))
	}
	all = append(all, buckets...)
	for _, p := range tail {
		all = append(all, pointBucket(p))
	}
	out, err := mergeBuckets(ctx, s, all, q, loc, invalid)
	if err != nil {
		return nil, "", true, err
	}
	return out, unit, true, nil
}

func pointBucket(p store.Point) Bucket {
	return Bucket{Start: p.Time, End: p.Time, Counter: Point(p.Value), Sum: p.Value, Min: p.Value, Max: p.Value}
}

// merge adds a whole bucket, in time order, to the accumulator, with
// the counter increase up to its end.
func (a *accumulator) merge(b Bucket, inc float64) {
	if b.N == 0 {
		return
	}
	if a.n == 0 {
		a.min, a.max, a.first = b.Min, b.Max, b.First
	}
	a.n += int(b.N)
	a.sum += b.Sum
	a.min = min(a.min, b.Min)
	a.max = max(a.max, b.Max)
	a.last = b.Last
	a.increase += inc
}

// mergeBuckets turns buckets in time order (whole ones, and raw points as
// one-point buckets) into the query's buckets. The increase up to a
// bucket's end is left out when the time since the one before overlaps
// an invalid interval: aggregates leave out their whole hour or day.
func mergeBuckets(ctx context.Context, s store.Reader, all []Bucket, q Query, loc *time.Location, invalid []store.InvalidInterval) ([]store.Point, error) {
	var run Counter
	var prevEnd time.Time
	if q.Agg == "increase" {
		// The increase up to the first value in range comes from the
		// value before it.
		p, ok, err := s.PointBefore(ctx, q.DeviceKey, q.Field, q.From)
		if err != nil {
			return nil, err
		}
		if ok {
			run, prevEnd = Point(p.Value), p.Time
		}
	}
	bucket := q.Step.bucketer(q.From, loc)
	out := []store.Point{}
	var acc accumulator
	var cur time.Time
	for i, b := range all {
		start := bucket(b.Start)
		if i > 0 && !start.Equal(cur) {
			out = append(out, store.Point{Time: cur, Value: acc.result(q.Agg)})
			acc = accumulator{}
		}
		cur = start
		inc := run.Merge(b.Counter)
		if !prevEnd.IsZero() && store.Excludes(invalid, prevEnd, b.End) {
			inc = 0
		}
		prevEnd = b.End
		acc.merge(b, inc)
	}
	if len(all) > 0 {
		out = append(out, store.Point{Time: cur, Value: acc.result(q.Agg)})
	}
	return out, nil
}
