package leak

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sensorhub/sensorhub/internal/store"
)

// Reader is what Load needs of a store.
type Reader interface {
	Points(ctx context.Context, q store.RawQuery) ([]store.Point, string, error)
	PointBefore(ctx context.Context, k store.DeviceKey, field string, t time.Time) (store.Point, bool, error)
}

// FieldError says which field of a device has no readings.
type FieldError struct {
	Device, Field string
}

func (e *FieldError) Error() string {
	return fmt.Sprintf("device %s has no field %q", e.Device, e.Field)
}

// Load reads the series of device k over [from, to] that Analyze needs:
// the pressure and opening pressure fields (the opening pressure in force
// at from first), and the flow of p when it names one. A device without
// the pressure or opening pressure field is a *FieldError; without the
// flow field, the series has no flow.
func Load(ctx context.Context, rd Reader, k store.DeviceKey, pressure, opening string, p Params, from, to time.Time) (Series, error) {
	var s Series
	for _, f := range []struct {
		name     string
		pts      *[]store.Point
		optional bool
	}{{pressure, &s.Pressure, false}, {opening, &s.Opening, false}, {p.Flow, &s.Flow, true}} {
		if f.name == "" || f.optional && p.Method == Decay {
			continue
		}
		pts, _, err := rd.Points(ctx, store.RawQuery{DeviceKey: k, Field: f.name, From: from, To: to})
		switch {
		case errors.Is(err, store.ErrNotFound) && f.optional:
			continue
		case errors.Is(err, store.ErrNotFound):
			return s, &FieldError{Device: k.Device, Field: f.name}
		case err != nil:
			return s, err
		}
		if f.pts == &s.Opening {
			before, ok, err := rd.PointBefore(ctx, k, f.name, from)
			if err != nil {
				return s, err
			}
			if ok {
				pts = append([]store.Point{before}, pts...)
			}
		}
		*f.pts = pts
	}
	return s, nil
}
