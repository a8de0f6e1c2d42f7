// Package leak turns an air line's pressure and opening pressure into leak
// figures: how many leaks, how long, how much air and what it costs, with
// the pressure-decay method.
package leak

import (
	"math"
	"sort"
	"time"

	"github.com/sensorhub/sensorhub/internal/config"
	"github.com/sensorhub/sensorhub/internal/store"
)

// Params describe an installation.
type Params = config.LeakParams

// Day is the leak figures of one day in the configured zone.
type Day struct {
	Day   string    `json:"day"`
	Start time.Time `json:"start"`
	// Leaks counts the leaks that started that day.
	Leaks int `json:"leaks"`
	// Seconds is the time spent below the opening pressure.
	Seconds float64 `json:"seconds"`
	// LostNm3 is the air lost, estimated from the pressure decay.
	LostNm3 float64 `json:"lost_nm3"`
	// FlowNlMin is the mean leak flow while leaking, normal litres a minute.
	FlowNlMin float64 `json:"flow_nl_min"`
	Cost      float64 `json:"cost"`
	// Unestimated counts the leaks whose air lost could not be estimated:
	// pressures so far out of range that the figures overflow.
	Unestimated int `json:"unestimated,omitempty"`
}

// Report is the figures of a time range.
type Report struct {
	Params Params  `json:"params"`
	Days   []Day   `json:"days"`
	Cost   float64 `json:"cost"`
	// CostPerYear extrapolates the mean daily cost of the range.
	CostPerYear float64 `json:"cost_per_year"`
	// Worst is the leak that lost the most air (the longest, when none
	// could be estimated); nil without a leak.
	Worst *Leak `json:"worst,omitempty"`
}

// Leak is one leak: from the first point below the opening pressure to
// the first one back at or above it.
type Leak struct {
	Start   time.Time `json:"start"`
	End     time.Time `json:"end"`
	Seconds float64   `json:"seconds"`
	LostNm3 float64   `json:"lost_nm3"`
	Cost    float64   `json:"cost"`
}

type period struct {
	before     store.Point // the last point above the opening pressure, if any
	start, end time.Time
	minPres    float64
	hasBefore  bool
}

// Analyze finds the leaks in time-ordered pressure and opening pressure
// points. A leak lasts from the first point below the opening pressure to
// the first one back at or above it (or the last point). The air lost is
// the pressure-decay estimate V x dP / Patm, dP from the last point before
// the leak to the lowest point in it.
func Analyze(pres, open []store.Point, loc *time.Location, p Params) Report {
	var periods []period
	var cur *period
	var last store.Point
	hasLast := false
	oi := 0
	limit, haveLimit := 0.0, false
	for _, pt := range pres {
		for oi < len(open) && !open[oi].Time.After(pt.Time) {
			limit, haveLimit = open[oi].Value, true
			oi++
		}
		if !haveLimit {
			continue
		}
		below := pt.Value < limit
		switch {
		case below && cur == nil:
			cur = &period{start: pt.Time, end: pt.Time, minPres: pt.Value, before: last, hasBefore: hasLast}
		case below:
			cur.end = pt.Time
			cur.minPres = min(cur.minPres, pt.Value)
		case cur != nil:
			cur.end = pt.Time
			periods = append(periods, *cur)
			cur = nil
		}
		if !below {
			last, hasLast = pt, true
		}
	}
	if cur != nil {
		periods = append(periods, *cur)
	}
	days := map[string]*Day{}
	var worst *Leak
	for _, per := range periods {
		y, m, d := per.start.In(loc).Date()
		start := time.Date(y, m, d, 0, 0, 0, 0, loc)
		key := start.Format("2006-01-02")
		day := days[key]
		if day == nil {
			day = &Day{Day: key, Start: start}
			days[key] = day
		}
		day.Leaks++
		one := Leak{Start: per.start, End: per.end, Seconds: per.end.Sub(per.start).Seconds()}
		day.Seconds += one.Seconds
		if per.hasBefore && p.AtmosphericBar > 0 {
			dp := per.before.Value - per.minPres
			lost := p.VolumeL * dp / p.AtmosphericBar / 1000
			if total := day.LostNm3 + lost; finite(total) && finite(total*p.CostPerNm3) && finite(total*1000) {
				day.LostNm3 = total
				one.LostNm3, one.Cost = lost, lost*p.CostPerNm3
			} else {
				day.Unestimated++
			}
		}
		if worst == nil || one.LostNm3 > worst.LostNm3 || one.LostNm3 == worst.LostNm3 && one.Seconds > worst.Seconds {
			worst = &one
		}
	}
	r := Report{Params: p, Days: []Day{}, Worst: worst}
	for _, d := range days {
		if d.Seconds > 0 {
			d.FlowNlMin = d.LostNm3 * 1000 / (d.Seconds / 60)
		}
		d.Cost = d.LostNm3 * p.CostPerNm3
		if !finite(d.FlowNlMin) {
			d.FlowNlMin = 0
		}
		if finite(r.Cost + d.Cost) {
			r.Cost += d.Cost
		}
		r.Days = append(r.Days, *d)
	}
	sort.Slice(r.Days, func(i, j int) bool { return r.Days[i].Start.Before(r.Days[j].Start) })
	if len(pres) > 1 {
		span := pres[len(pres)-1].Time.Sub(pres[0].Time).Hours() / 24
		if span >= 1 {
			r.CostPerYear = r.Cost / span * 365
		} else {
			r.CostPerYear = r.Cost * 365
		}
		if !finite(r.CostPerYear) {
			r.CostPerYear = 0
		}
	}
	return r
}

// finite reports whether v is a number JSON can carry.
func finite(v float64) bool { return !math.IsInf(v, 0) && !math.IsNaN(v) }
