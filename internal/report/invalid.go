package report

import (
	"context"
	"time"

	"github.com/sensorhub/sensorhub/internal/store"
	"github.com/sensorhub/sensorhub/internal/store/series"
)

// invalid are a meter's intervals marked invalid.
type invalid []store.InvalidInterval

// invalid are the device's intervals marked invalid that start by to
// (any of them can hold the interval up to a period's first reading);
// none when the store keeps none.
func (s *Source) invalid(ctx context.Context, k store.DeviceKey, to time.Time) (invalid, error) {
	iv, ok := s.Store.(store.Intervals)
	if !ok {
		return invalid{}, nil
	}
	out, err := iv.InvalidIntervals(ctx, store.InvalidQuery{Customer: k.Customer, Sensor: k.Sensor, Device: k.Device, To: to.Add(time.Millisecond)})
	return invalid(out), err
}

// excludes says whether the consumption between readings at a and b is
// left out.
func (iv invalid) excludes(a, b time.Time) bool { return store.Excludes(iv, a, b) }

// within are the intervals that overlap the period, their times in loc.
func (iv invalid) within(p Period, loc *time.Location) []store.InvalidInterval {
	out := []store.InvalidInterval{}
	for _, x := range iv {
		if x.Overlaps(p.From, p.To) {
			x.From, x.To, x.MarkedAt = x.From.In(loc), x.To.In(loc), x.MarkedAt.In(loc)
			out = append(out, x)
		}
	}
	return out
}

// counterOf starts a counter at the first of a meter's readings.
func counterOf(ss []sample) series.Counter {
	var c series.Counter
	if len(ss) > 0 {
		c.Add(ss[0].v)
	}
	return c
}

// consumption is what a meter's readings, in time order, add up to in
// [from, to]: each interval's share of its increase in it by time
// (series.Spread), those marked invalid left out.
func (iv invalid) consumption(ss []sample, from, to time.Time) float64 {
	run := counterOf(ss)
	whole := series.Buckets{Of: func(time.Time) time.Time { return from }}
	var kwh float64
	for i := 1; i < len(ss); i++ {
		inc, _ := run.Add(ss[i].v)
		if !iv.excludes(ss[i-1].t, ss[i].t) {
			series.Spread(ss[i-1].t, ss[i].t, inc, from, to, whole, func(sh series.Share) { kwh += sh.Inc })
		}
	}
	return kwh
}
