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
	// FirstAt and LastAt are the times of its first and last values; its
	// Start and End when the aggregates kept none (those written before
	// they did).
	FirstAt, LastAt time.Time
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

// DayStart is the local midnight that starts t's day.
func DayStart(t time.Time, loc *time.Location) time.Time {
	y, m, d := t.In(loc).Date()
	return time.Date(y, m, d, 0, 0, 0, 0, loc)
}

// seriesFromDays answers a query at day steps from kept day summaries:
// whole days inside the range from the summaries, the partial days at its
// edges from raw points. ok is false when the store keeps none, or the
// step is not in days.
func seriesFromDays(ctx context.Context, s store.Reader, q Query, loc *time.Location, invalid []store.InvalidInterval) (Series, bool, error) {
	rr, ok := s.(DayReader)
	if !ok || q.Step.Days == 0 || rr.Location().String() != loc.String() {
		return Series{}, false, nil
	}
	inner := DayStart(q.From, loc)
	if inner.Before(q.From) {
		inner = DayStart(inner.Add(36*time.Hour), loc)
	}
	end := DayStart(q.To, loc)
	if !inner.Before(end) {
		return Series{}, false, nil
	}
	head, unit, err := s.Points(ctx, store.RawQuery{DeviceKey: q.DeviceKey, Field: q.Field, From: q.From, To: inner})
	if err != nil {
		return Series{}, true, err
	}
	tail, _, err := s.Points(ctx, store.RawQuery{DeviceKey: q.DeviceKey, Field: q.Field, From: end, To: q.To})
	if err != nil {
		return Series{}, true, err
	}
	buckets, err := rr.Days(ctx, store.RawQuery{DeviceKey: q.DeviceKey, Field: q.Field, From: inner, To: end})
	if err != nil {
		return Series{}, true, err
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
	if q.Agg == "increase" {
		if all, err = withDayAfter(ctx, s, rr, all, q, loc); err != nil {
			return Series{}, true, err
		}
	}
	out := Series{Field: q.Field, Unit: unit, Agg: q.Agg}
	out.Points, out.Estimated, err = mergeBuckets(ctx, s, all, q, loc, invalid)
	return out, true, err
}

func pointBucket(p store.Point) Bucket {
	return Bucket{Start: p.Time, End: p.Time, FirstAt: p.Time, LastAt: p.Time, Counter: Point(p.Value), Sum: p.Value, Min: p.Value, Max: p.Value}
}

// merge adds a whole bucket, in time order, to the accumulator.
func (a *accumulator) merge(b Bucket) {
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
}

// mergeBuckets turns buckets in time order (whole ones, and raw points as
// one-point buckets) into the query's buckets; agg=increase by
// increases, with the estimated part of each bucket.
func mergeBuckets(ctx context.Context, s store.Reader, all []Bucket, q Query, loc *time.Location, invalid []store.InvalidInterval) (pts, estimated []store.Point, err error) {
	if q.Agg == "increase" {
		return increases(ctx, s, all, q, loc, invalid)
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
		acc.merge(b)
	}
	if len(all) > 0 {
		out = append(out, store.Point{Time: cur, Value: acc.result(q.Agg)})
	}
	return out, nil, nil
}

// withDayAfter appends the first value at or after the query's end to its
// values: from the day summaries when the range ends at a midnight (the
// readings of the days after may be gone, their aggregates kept), else
// the reading.
func withDayAfter(ctx context.Context, s store.Reader, rr DayReader, all []Bucket, q Query, loc *time.Location) ([]Bucket, error) {
	if end := DayStart(q.To, loc); end.Equal(q.To) {
		for _, days := range []int{1, 31} {
			next, err := rr.Days(ctx, store.RawQuery{DeviceKey: q.DeviceKey, Field: q.Field, From: end, To: end.AddDate(0, 0, days)})
			if err != nil {
				return nil, err
			}
			if len(next) > 0 {
				return append(all, pointBucket(store.Point{Time: next[0].FirstAt, Value: next[0].First})), nil
			}
		}
	}
	return withPointAfter(ctx, s, all, q)
}
