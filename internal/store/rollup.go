package store

import (
	"context"
	"time"
)

// Resolution is the bucket width of kept aggregates.
type Resolution int

// The resolutions a store may keep aggregates at.
const (
	Minute Resolution = iota
	Hour
	Day
)

// Bucket is the aggregate of one field's values over one bucket.
type Bucket struct {
	Start                      time.Time
	N                          int64
	Sum, Min, Max, First, Last float64
}

// RollupReader is implemented by stores that keep per-minute, per-hour and
// per-day aggregates as data arrives, so that a long range is answered
// without reading every point. Day buckets start at midnight in the zone
// the store was opened with.
type RollupReader interface {
	// Rollups returns the buckets at res that start in [From, To), oldest
	// first; ErrNotFound for an unknown device or field.
	Rollups(ctx context.Context, q RawQuery, res Resolution) ([]Bucket, error)
}

// resolutionFor picks the coarsest kept resolution whose buckets tile the
// step, or false when the step needs raw points.
func resolutionFor(s Step) (Resolution, bool) {
	switch {
	case s.Days > 0:
		return Day, true
	case s.Dur >= time.Hour && s.Dur%time.Hour == 0:
		return Hour, true
	case s.Dur >= time.Minute && s.Dur%time.Minute == 0:
		return Minute, true
	}
	return 0, false
}

// BucketStart is where the bucket of res holding t starts; days start at
// midnight in loc.
func BucketStart(t time.Time, res Resolution, loc *time.Location) time.Time {
	switch res {
	case Minute:
		return t.Truncate(time.Minute)
	case Hour:
		return t.Truncate(time.Hour)
	}
	y, m, d := t.In(loc).Date()
	return time.Date(y, m, d, 0, 0, 0, 0, loc)
}

// NextBucket is the start of the bucket after the one starting at b.
func NextBucket(b time.Time, res Resolution, loc *time.Location) time.Time {
	switch res {
	case Minute:
		return b.Add(time.Minute)
	case Hour:
		return b.Add(time.Hour)
	}
	y, m, d := b.In(loc).Date()
	return time.Date(y, m, d+1, 0, 0, 0, 0, loc)
}

// seriesFromRollups answers q from kept aggregates: whole buckets inside
// the range from the rollups, the partial buckets at its edges from raw
// points. ok is false when the store keeps no rollups for this query.
func seriesFromRollups(ctx context.Context, s Store, q SeriesQuery, loc *time.Location) ([]Point, string, bool, error) {
	rr, ok := s.(RollupReader)
	res, fits := resolutionFor(q.Step)
	if !ok || !fits || q.Agg == "increase" {
		return nil, "", false, nil
	}
	inner := BucketStart(q.From, res, loc)
	if inner.Before(q.From) {
		inner = NextBucket(inner, res, loc)
	}
	end := BucketStart(q.To, res, loc)
	if !inner.Before(end) {
		return nil, "", false, nil
	}
	head, unit, err := s.Points(ctx, RawQuery{DeviceKey: q.DeviceKey, Field: q.Field, From: q.From, To: inner})
	if err != nil {
		return nil, "", true, err
	}
	tail, _, err := s.Points(ctx, RawQuery{DeviceKey: q.DeviceKey, Field: q.Field, From: end, To: q.To})
	if err != nil {
		return nil, "", true, err
	}
	buckets, err := rr.Rollups(ctx, RawQuery{DeviceKey: q.DeviceKey, Field: q.Field, From: inner, To: end}, res)
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
	bucket := q.Step.bucketer(q.From, loc)
	out := []Point{}
	var acc accumulator
	var cur time.Time
	for i, b := range all {
		start := bucket(b.Start)
		if i > 0 && !start.Equal(cur) {
			out = append(out, Point{Time: cur, Value: acc.result(q.Agg)})
			acc = accumulator{}
		}
		cur = start
		acc.merge(b)
	}
	if len(all) > 0 {
		out = append(out, Point{Time: cur, Value: acc.result(q.Agg)})
	}
	return out, unit, true, nil
}

func pointBucket(p Point) Bucket {
	return Bucket{Start: p.Time, N: 1, Sum: p.Value, Min: p.Value, Max: p.Value, First: p.Value, Last: p.Value}
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
