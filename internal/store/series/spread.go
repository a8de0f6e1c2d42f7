package series

import (
	"context"
	"time"

	"github.com/sensorhub/sensorhub/internal/store"
)

// GapAfter is the longest time between two readings of a device that is
// not a gap: a demand quarter. The increase of a longer interval that
// several buckets share is an estimate: the counter was not read where
// a bucket ends.
const GapAfter = 15 * time.Minute

// Buckets says where buckets start: Of maps a time to the start of its
// bucket, Next gives the start of the bucket after the one that starts at
// a time (nil: one bucket holds everything).
type Buckets struct {
	Of, Next func(time.Time) time.Time
}

// Share is the part of an interval's counter increase that falls in the
// bucket starting at Start. Estimated is set when the interval is longer
// than GapAfter and more than one bucket shares it.
type Share struct {
	Start     time.Time
	Inc       float64
	Estimated bool
}

// Spread splits the counter increase inc between readings at from and to,
// the interval (from, to], over the buckets it covers: each gets a share
// in proportion to the time of the interval it holds (the counter is
// taken to grow linearly between two readings). Only the part of the
// interval within [lo, hi] is given (a zero bound is open); each share
// goes to add, in time order. An interval of no length (a value whose
// time an aggregate did not keep, stamped with its hour or day's end) is
// the bucket's that holds the instant before it.
//
// Every interval is split by time, not only those of a gap: an interval
// inside one bucket is whole in it whatever the rule, and one across a
// bucket's edge is cut where the edge cuts it. So a reading at midnight
// closes the day before in every path (series from the readings or from
// the aggregates, reports) and at every step, a silent day gets the
// energy of its hours, and no threshold decides which rule counts.
func Spread(from, to time.Time, inc float64, lo, hi time.Time, b Buckets, add func(Share)) {
	if !from.Before(to) {
		if to.After(lo) && (hi.IsZero() || !to.After(hi)) {
			add(Share{Start: b.Of(to.Add(-time.Nanosecond)), Inc: inc})
		}
		return
	}
	total := to.Sub(from)
	start, end := from, to
	if !lo.IsZero() && start.Before(lo) {
		start = lo
	}
	if !hi.IsZero() && end.After(hi) {
		end = hi
	}
	if !start.Before(end) {
		return
	}
	if b.Next == nil {
		add(Share{Start: b.Of(start), Inc: part(inc, end.Sub(start), total)})
		return
	}
	estimated := total > GapAfter && b.Next(b.Of(from)).Before(to)
	for bucket := b.Of(start); ; {
		next := b.Next(bucket)
		add(Share{Start: bucket, Inc: part(inc, minTime(next, end).Sub(maxTime(bucket, start)), total), Estimated: estimated})
		if !next.Before(end) {
			return
		}
		bucket = next
	}
}

// part is the share of inc of d out of total: inc itself for the whole.
func part(inc float64, d, total time.Duration) float64 {
	if d == total {
		return inc
	}
	return inc * (float64(d) / float64(total))
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// Increases is agg=increase over values in time order (raw points as
// one-point buckets, aggregates as whole ones): the increase between two
// values, and within an aggregate, spread over the buckets by Spread and
// clipped to [lo, hi]. prev, when set, is the value before the first.
// The increase up to a value is left out when the time since the one
// before overlaps an invalid interval (an aggregate's, its whole hour or
// day). Buckets that no interval covers are left out: no data, not 0.
// estimated is the estimated part of each bucket that holds one.
func Increases(all []Bucket, prev *store.Point, b Buckets, lo, hi time.Time, invalid []store.InvalidInterval) (out, estimated []store.Point) {
	var run Counter
	var lastAt time.Time
	if prev != nil {
		run, lastAt = Point(prev.Value), prev.Time
	}
	var sum shares
	for _, v := range all {
		if v.N == 0 {
			continue
		}
		var crossing float64
		started := run.N > 0
		if started {
			// The step from the value before to the first is the
			// interval's between them; the rest is inside v.
			first := run
			crossing = first.Merge(Point(v.First))
		}
		inside := run.Merge(v.Counter) - crossing
		if started && store.Excludes(invalid, lastAt, v.LastAt) {
			crossing, inside = 0, 0
		}
		if started {
			Spread(lastAt, v.FirstAt, crossing, lo, hi, b, sum.add)
		}
		if v.N > 1 {
			Spread(v.FirstAt, v.LastAt, inside, lo, hi, b, sum.add)
		}
		lastAt = v.LastAt
	}
	for i := range sum.total {
		sum.total[i].Value = round(sum.total[i].Value)
	}
	for i := range sum.estimated {
		sum.estimated[i].Value = round(sum.estimated[i].Value)
	}
	return sum.total, sum.estimated
}

// shares adds up shares that come in time order by bucket.
type shares struct {
	total, estimated []store.Point
}

func (s *shares) add(sh Share) {
	s.total = addTo(s.total, sh.Start, sh.Inc)
	if sh.Estimated {
		s.estimated = addTo(s.estimated, sh.Start, sh.Inc)
	}
}

// addTo adds v to the last point when it is at t, else appends one.
func addTo(pts []store.Point, t time.Time, v float64) []store.Point {
	if n := len(pts); n > 0 && pts[n-1].Time.Equal(t) {
		pts[n-1].Value += v
		return pts
	}
	return append(pts, store.Point{Time: t, Value: v})
}

// PointAfter returns the oldest value of a field at or after t, if any
// within about a year: the reading that closes the interval across t.
func PointAfter(ctx context.Context, s store.Reader, k store.DeviceKey, field string, t time.Time) (store.Point, bool, error) {
	// Nearly always within the hour; a store reads a short range fast.
	for _, span := range []time.Duration{time.Hour, 3 * 24 * time.Hour, 400 * 24 * time.Hour} {
		pts, _, err := s.Points(ctx, store.RawQuery{DeviceKey: k, Field: field, From: t, To: t.Add(span)})
		if err != nil {
			return store.Point{}, false, err
		}
		if len(pts) > 0 {
			return pts[0], true, nil
		}
	}
	return store.Point{}, false, nil
}
