// Package compressor computes a compressor's specific power: the electric
// energy it takes over the air it delivers, in kW per Nm³/min, the figure
// compressor makers publish (ISO 1217), from a power meter and a flow
// meter.
package compressor

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/sensorhub/sensorhub/internal/config"
	"github.com/sensorhub/sensorhub/internal/store"
	"github.com/sensorhub/sensorhub/internal/store/series"
)

// MaxGap is the longest time between two readings that still counts:
// across a longer gap, nothing is known of the energy or air between.
const MaxGap = time.Hour

// Interval is the energy and air of an hour or a day, counted over the
// hours both meters read.
type Interval struct {
	Start time.Time `json:"start"`
	KWh   float64   `json:"kwh"`
	Nm3   float64   `json:"nm3"`
	// SpecificPower is KWh / Nm3 x 60, kW per Nm³/min; null without air.
	SpecificPower *float64 `json:"kw_per_nm3_min"`
}

// Figures are a compressor's specific power over a range.
type Figures struct {
	Name string `json:"name"`
	// Period adds up the hours both meters read: its SpecificPower is the
	// range's.
	Period Interval   `json:"period"`
	Hours  int        `json:"hours"`
	Days   []Interval `json:"days"`
	// Reason says why the specific power is not known.
	Reason string `json:"reason,omitempty"`
}

// Reasons the specific power is not known.
const (
	NoHours = "no hour with both power and air flow readings"
	NoAir   = "the compressor delivered no air"
)

// Compute adds up, per hour in loc, the energy of power (a power in kW, or
// an energy counter in kWh) and the air of flow (in flowUnit, one of
// config.FlowUnits), and divides them for the hours both have. A reading's
// interval counts in the hour it starts in.
func Compute(power []store.Point, powerUnit string, flow []store.Point, flowUnit string, loc *time.Location) Figures {
	kwh := perHour(power, loc, energy(powerUnit))
	nm3 := perHour(flow, loc, air(flowUnit))
	f := Figures{Days: []Interval{}}
	dayIdx := map[time.Time]int{}
	for _, h := range sortedHours(kwh) {
		a, ok := nm3[h]
		if !ok {
			continue
		}
		e := kwh[h]
		f.Hours++
		f.Period.KWh += e
		f.Period.Nm3 += a
		day := series.DayStart(h, loc)
		i, ok := dayIdx[day]
		if !ok {
			i = len(f.Days)
			dayIdx[day] = i
			f.Days = append(f.Days, Interval{Start: day})
		}
		f.Days[i].KWh += e
		f.Days[i].Nm3 += a
	}
	for i := range f.Days {
		f.Days[i].SpecificPower = specific(f.Days[i])
	}
	f.Period.SpecificPower = specific(f.Period)
	switch {
	case f.Hours == 0:
		f.Reason = NoHours
	case f.Period.SpecificPower == nil:
		f.Reason = NoAir
	}
	if len(f.Days) > 0 {
		f.Period.Start = f.Days[0].Start
	}
	return f
}

func specific(i Interval) *float64 {
	if i.Nm3 <= 0 {
		return nil
	}
	v := i.KWh / i.Nm3 * 60
	return &v
}

// between is what one reading interval adds: the energy or air from a to
// b, false when it cannot tell (a counter reset).
type between func(a, b store.Point) (float64, bool)

// energy is the kWh between two readings of a kW power (trapezoids) or of
// a kWh counter (its increase; a counter that went back was reset).
func energy(unit string) between {
	if unit == "kWh" {
		return func(a, b store.Point) (float64, bool) { return b.Value - a.Value, b.Value >= a.Value }
	}
	return func(a, b store.Point) (float64, bool) {
		return (a.Value + b.Value) / 2 * b.Time.Sub(a.Time).Hours(), true
	}
}

// air is the Nm³ between two flow readings (trapezoids).
func air(unit string) between {
	toNlMin := config.FlowUnits[unit]
	return func(a, b store.Point) (float64, bool) {
		return (a.Value + b.Value) / 2 * toNlMin / 1000 * b.Time.Sub(a.Time).Minutes(), toNlMin > 0
	}
}

// perHour adds up fn over the intervals between consecutive points, by
// the hour each starts in; an hour is there when an interval counted.
func perHour(pts []store.Point, loc *time.Location, fn between) map[time.Time]float64 {
	out := map[time.Time]float64{}
	for i := 1; i < len(pts); i++ {
		a, b := pts[i-1], pts[i]
		if b.Time.Sub(a.Time) > MaxGap || !b.Time.After(a.Time) {
			continue
		}
		v, ok := fn(a, b)
		if !ok {
			continue
		}
		h := a.Time.In(loc).Truncate(time.Hour)
		out[h] += v
	}
	return out
}

func sortedHours(m map[time.Time]float64) []time.Time {
	hs := make([]time.Time, 0, len(m))
	for h := range m {
		hs = append(hs, h)
	}
	slices.SortFunc(hs, func(a, b time.Time) int { return a.Compare(b) })
	return hs
}

// Reader is what Load needs of a store.
type Reader interface {
	Points(ctx context.Context, q store.RawQuery) ([]store.Point, string, error)
}

// Load reads the meters of c over [from, to] and computes its figures. A
// meter without readings gives figures with a Reason, not an error.
func Load(ctx context.Context, rd Reader, c config.Compressor, from, to time.Time, loc *time.Location) (Figures, error) {
	var series [2][]store.Point
	for i, m := range []config.MeterField{c.Power, c.Flow} {
		k := store.DeviceKey{Customer: c.Customer, Sensor: m.Sensor, Device: m.Device}
		pts, _, err := rd.Points(ctx, store.RawQuery{DeviceKey: k, Field: m.Field, From: from, To: to})
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return Figures{}, fmt.Errorf("compressor %s: %s of %s: %w", c.Name, m.Field, m.Device, err)
		}
		series[i] = pts
	}
	f := Compute(series[0], c.Power.Unit, series[1], c.Flow.Unit, loc)
	f.Name = c.Name
	return f, nil
}
