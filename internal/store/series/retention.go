package series

import (
	"context"
	"fmt"
	"time"

	"github.com/sensorhub/sensorhub/internal/store"
)

// Resolutions of what answers a series: the readings themselves, or the
// hourly or daily aggregates of readings retention removed.
const (
	ResolutionRaw    = "raw"
	ResolutionHourly = "1h"
	ResolutionDaily  = "1d"
)

// Rollups is implemented by stores that keep aggregates of the readings
// retention removed.
type Rollups interface {
	Kept(ctx context.Context, k store.DeviceKey) (store.Kept, error)
	// Hours returns the hour buckets that start in [From, To) from the
	// hourly aggregates, oldest first.
	Hours(ctx context.Context, q store.RawQuery) ([]Bucket, error)
}

// RetentionError says that a query reaches back past what the store keeps
// at its step: the readings are kept from Raw, hourly aggregates from
// Hourly, daily ones from Daily (zero: from the start).
type RetentionError struct {
	From time.Time
	store.Kept
}

func (e *RetentionError) Error() string {
	at := func(t time.Time) string { return t.UTC().Format(time.RFC3339) }
	switch {
	case e.Daily.After(e.From):
		return fmt.Sprintf("the readings of this device are kept from %s and nothing before %s: start the range at %s or later", at(e.Raw), at(e.Daily), at(e.Daily))
	case e.Hourly.After(e.From):
		return fmt.Sprintf("the readings of this device are kept from %s, hourly aggregates from %s, daily ones before: "+
			"a range from %s needs a step of 1d or more", at(e.Raw), at(e.Hourly), at(e.From))
	}
	return fmt.Sprintf("the readings of this device are kept from %s, hourly aggregates before: "+
		"a range from %s needs a step of whole hours (1h or more) or days", at(e.Raw), at(e.From))
}

// readRolled answers a query that reaches back past the device's raw
// readings, from the aggregates its step allows: whole days from the
// daily ones, whole hours from the hourly ones; any other step is a
// RetentionError.
func readRolled(ctx context.Context, s store.Reader, rr Rollups, kept store.Kept, q Query, loc *time.Location, invalid []store.InvalidInterval) (Series, error) {
	fail := &RetentionError{From: q.From, Kept: kept}
	if q.From.Before(kept.Daily) || q.Agg == "" {
		return Series{}, fail
	}
	switch {
	case q.Step.Days > 0:
		// Whole local days: the aggregates have no part of a day, so a
		// range is widened to the midnights around it.
		q.From = DayStart(q.From, loc)
		if end := DayStart(q.To, loc); end.Before(q.To) && q.To.Before(kept.Raw) {
			q.To = DayStart(end.Add(36*time.Hour), loc)
		}
		out, ok, err := seriesFromDays(ctx, s, q, loc, invalid)
		if err != nil {
			return Series{}, err
		}
		if !ok {
			return Series{}, fail
		}
		out.Unit, out.Resolution = unitOf(ctx, s, q, out.Unit), ResolutionDaily
		return out, nil
	case q.Step.Dur >= time.Hour && q.Step.Dur%time.Hour == 0 && !q.From.Before(kept.Hourly):
		q.From = q.From.Truncate(time.Hour)
		hours, err := rr.Hours(ctx, store.RawQuery{DeviceKey: q.DeviceKey, Field: q.Field, From: q.From, To: minTime(q.To, kept.Raw)})
		if err != nil {
			return Series{}, err
		}
		var unit string
		if q.To.After(kept.Raw) {
			var pts []store.Point
			pts, unit, err = s.Points(ctx, store.RawQuery{DeviceKey: q.DeviceKey, Field: q.Field, From: kept.Raw, To: q.To})
			if err != nil {
				return Series{}, err
			}
			for _, p := range pts {
				hours = append(hours, pointBucket(p))
			}
		}
		if q.Agg == "increase" {
			if hours, err = withHourAfter(ctx, s, rr, hours, q, kept); err != nil {
				return Series{}, err
			}
		}
		out, estimated, err := mergeBuckets(ctx, s, hours, q, loc, invalid)
		if err != nil {
			return Series{}, err
		}
		return Series{Field: q.Field, Unit: unitOf(ctx, s, q, unit), Agg: q.Agg, Points: out, Estimated: estimated, Resolution: ResolutionHourly}, nil
	}
	return Series{}, fail
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// unitOf is the field's unit: the one the readings in range gave, else
// the newest reading's.
func unitOf(ctx context.Context, s store.Reader, q Query, unit string) string {
	if unit != "" {
		return unit
	}
	if r, err := s.Latest(ctx, q.DeviceKey); err == nil {
		return r.Units[q.Field]
	}
	return ""
}

// withHourAfter appends the first value at or after the query's end to
// its values: from the hourly aggregates before the readings kept, else
// the reading.
func withHourAfter(ctx context.Context, s store.Reader, rr Rollups, all []Bucket, q Query, kept store.Kept) ([]Bucket, error) {
	if q.To.Before(kept.Raw) {
		next, err := rr.Hours(ctx, store.RawQuery{DeviceKey: q.DeviceKey, Field: q.Field, From: q.To, To: minTime(q.To.Add(31*24*time.Hour), kept.Raw)})
		if err != nil {
			return nil, err
		}
		if len(next) > 0 {
			return append(all, pointBucket(store.Point{Time: next[0].FirstAt, Value: next[0].First})), nil
		}
	}
	return withPointAfter(ctx, s, all, q)
}
