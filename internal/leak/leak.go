// Package leak turns an air line's readings into leak figures: how many
// times the line fell below its opening pressure, how long, how much air
// leaked and what it costs, measured by pressure decay or by the air flow
// of the non-production hours.
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

// The methods a Report can use.
const (
	Decay = "decay"
	Flow  = "flow"
)

// Series are a line's readings over a range, in time order: its pressure,
// the opening pressure in force (the first point at or before the range's
// start first) and, with a flow meter, the air flow in the unit of
// Params.FlowUnit.
type Series struct {
	Pressure, Opening, Flow []store.Point
}

// Day is the leak figures of one day in the configured zone.
type Day struct {
	Day   string    `json:"day"`
	Start time.Time `json:"start"`
	// Leaks counts the times the line fell below its opening pressure
	// that day.
	Leaks int `json:"leaks"`
	// Seconds is the time spent below the opening pressure.
	Seconds float64 `json:"seconds"`
	// Share is the part of the day the range covers (1 for a whole day):
	// the weight of the day in the yearly figure.
	Share float64 `json:"share"`
	// LostNm3 is the air lost, normal cubic metres; nil when it could not
	// be measured (Reason says why).
	LostNm3 *float64 `json:"lost_nm3"`
	// FlowNlMin is the leak flow, normal litres a minute: the mean flow
	// below the opening pressure (decay) or of the non-production hours
	// (flow).
	FlowNlMin *float64 `json:"flow_nl_min"`
	Cost      *float64 `json:"cost"`
	Reason    string   `json:"reason,omitempty"`
	// Unmeasured counts the leaks whose air lost could not be measured;
	// LostNm3 adds up the others.
	Unmeasured int `json:"unmeasured,omitempty"`
	// heldBelow is why the air lost of a leak that started on a day
	// before, and went on into this one, was not measured.
	heldBelow string
}

// Report is the figures of a time range.
type Report struct {
	Params Params `json:"params"`
	// Method is the method used, Decay or Flow.
	Method string    `json:"method"`
	From   time.Time `json:"from"`
	To     time.Time `json:"to"`
	Days   []Day     `json:"days"`
	// LostNm3 and Cost add up the days measured; nil when none was.
	LostNm3 *float64 `json:"lost_nm3"`
	Cost    *float64 `json:"cost"`
	// FlowNlMin, with the flow method, is the leak flow: the mean flow of
	// IdleReadings readings in the non-production windows.
	FlowNlMin    *float64 `json:"flow_nl_min,omitempty"`
	IdleReadings int      `json:"idle_readings,omitempty"`
	// CostPerYear is the mean cost per day over the days measured x 365;
	// Year says which days.
	CostPerYear *float64 `json:"cost_per_year"`
	Year        *Year    `json:"year,omitempty"`
	// Reason says why the air lost is not measurable, or is measured on
	// part of the days only.
	Reason string `json:"reason,omitempty"`
	// Worst is the leak that lost the most air (the longest, when none
	// could be measured); nil without a leak.
	Worst *Leak `json:"worst,omitempty"`
}

// Year is the basis of a yearly figure: Days days measured (a day the
// range covers in part counts as its part), from First to Last.
type Year struct {
	Days  float64 `json:"days"`
	First string  `json:"first"`
	Last  string  `json:"last"`
}

// Leak is one time below the opening pressure: from the first point below
// it to the first one back at or above it.
type Leak struct {
	Start   time.Time `json:"start"`
	End     time.Time `json:"end"`
	Seconds float64   `json:"seconds"`
	// LostNm3 and Cost are nil when not measured (with the flow method,
	// the leaks are not told apart).
	LostNm3 *float64 `json:"lost_nm3"`
	Cost    *float64 `json:"cost"`
}

// Reasons a figure is not measurable.
const (
	NoPressure   = "no pressure reading in the range"
	NoOpening    = "no opening pressure reading in the range"
	HeldBelow    = "the line was already below its opening pressure at the first reading: no pressure drop to measure (a flow meter would measure it, leak.flow)"
	NoDrop       = "the pressure did not drop while below the opening pressure"
	OutOfRange   = "pressures so far out of range that the figures overflow"
	NoIdleFlow   = "no flow reading in the non-production hours (leak.idle) of the range"
	NoFlowMethod = "the flow method needs a flow field (leak.flow)"
)

// Analyze measures the leaks of s over [from, to], days in loc.
func Analyze(s Series, from, to time.Time, loc *time.Location, p Params) Report {
	r := Report{Params: p, Method: Decay, From: from, To: to, Days: []Day{}}
	idle, n, ok := IdleFlow(s.Flow, loc, p)
	// auto takes the flow when the range measured it, the decay otherwise.
	if p.Method == Flow || p.Method != Decay && ok {
		r.Method = Flow
		r.IdleReadings = n
		if ok {
			r.FlowNlMin = &idle
		}
	}
	periods := belowPeriods(s.Pressure, s.Opening)
	days := map[string]*Day{}
	dataDays := s.Pressure
	if r.Method == Flow {
		dataDays = s.Flow
	}
	for _, pt := range dataDays {
		day(days, pt.Time, from, to, loc)
	}
	r.Worst = countLeaks(days, periods, from, to, loc, p, r.Method == Decay)
	for _, d := range days {
		switch {
		case r.Method == Flow && r.FlowNlMin == nil:
			d.Reason = NoIdleFlow
			if p.Flow == "" {
				d.Reason = NoFlowMethod
			}
		case r.Method == Flow:
			lost := *r.FlowNlMin / 1000 * d.Share * dayLength(d.Start) / 60
			d.LostNm3, d.FlowNlMin = &lost, r.FlowNlMin
		case len(s.Opening) == 0:
			d.Reason, d.LostNm3 = NoOpening, nil
		}
		if d.LostNm3 != nil {
			d.Cost = ptr(*d.LostNm3 * p.CostPerNm3)
		}
		r.Days = append(r.Days, *d)
	}
	sort.Slice(r.Days, func(i, j int) bool { return r.Days[i].Start.Before(r.Days[j].Start) })
	r.total()
	if len(r.Days) == 0 {
		r.Reason = NoPressure
		if r.Method == Flow {
			r.Reason = NoIdleFlow
		}
	}
	return r
}

// IdleFlow is the mean flow of the readings in the non-production
// windows, in Nl/min, and how many there were.
func IdleFlow(flow []store.Point, loc *time.Location, p Params) (float64, int, bool) {
	sum, n := 0.0, 0
	for _, pt := range flow {
		if !p.IsIdle(pt.Time, loc) {
			continue
		}
		if v, ok := p.FlowNlMin(pt.Value); ok && finite(v) {
			sum += v
			n++
		}
	}
	if n == 0 || !finite(sum) {
		return 0, 0, false
	}
	return sum / float64(n), n, true
}

// day returns the day of t, made with its share of [from, to] the first
// time.
func day(days map[string]*Day, t, from, to time.Time, loc *time.Location) *Day {
	y, m, dd := t.In(loc).Date()
	start := time.Date(y, m, dd, 0, 0, 0, 0, loc)
	key := start.Format("2006-01-02")
	if d := days[key]; d != nil {
		return d
	}
	end := start.AddDate(0, 0, 1)
	lo, hi := start, end
	if from.After(lo) {
		lo = from
	}
	if !to.IsZero() && to.Before(hi) {
		hi = to
	}
	d := &Day{Day: key, Start: start, Share: max(0, hi.Sub(lo).Seconds()) / end.Sub(start).Seconds()}
	days[key] = d
	return d
}

// dayLength is the length of the day that starts at start, in seconds
// (23 or 25 hours on the days the clocks change).
func dayLength(start time.Time) float64 {
	return start.AddDate(0, 0, 1).Sub(start).Seconds()
}

type period struct {
	before     store.Point // the last point at or above the opening pressure, if any
	start, end time.Time
	minPres    float64
	hasBefore  bool
}

// belowPeriods finds the times the pressure is below the opening
// pressure: from the first point below to the first one back at or above
// it (or the last point).
func belowPeriods(pres, open []store.Point) []period {
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
	return periods
}

// countLeaks adds the periods to their days and, with decay, their air
// lost: V x dP / Patm, dP from the last point before the period to its
// lowest. It returns the worst leak.
func countLeaks(days map[string]*Day, periods []period, from, to time.Time, loc *time.Location, p Params, decay bool) *Leak {
	var worst *Leak
	for _, per := range periods {
		d := day(days, per.start, from, to, loc)
		d.Leaks++
		one := Leak{Start: per.start, End: per.end, Seconds: per.end.Sub(per.start).Seconds()}
		d.Seconds += one.Seconds
		if decay {
			lost, reason := decayNm3(per, p)
			if reason != "" {
				d.Unmeasured++
				d.Reason = reason
				holdBelow(days, per, reason)
			} else {
				d.LostNm3 = ptr(value(d.LostNm3) + lost)
				one.LostNm3, one.Cost = &lost, ptr(lost*p.CostPerNm3)
			}
		}
		if worst == nil || value(one.LostNm3) > value(worst.LostNm3) || value(one.LostNm3) == value(worst.LostNm3) && one.Seconds > worst.Seconds {
			worst = &one
		}
	}
	if decay {
		for _, d := range days {
			switch {
			case d.Leaks == 0 && d.heldBelow != "":
				d.Reason = d.heldBelow
			case d.Leaks == 0:
				// Never below the opening pressure: nothing leaked that
				// the method can see.
				d.LostNm3 = ptr(0)
			}
			if d.LostNm3 != nil && d.Seconds > 0 {
				d.FlowNlMin = ptr(*d.LostNm3 * 1000 / (d.Seconds / 60))
			}
		}
	}
	return worst
}

// holdBelow marks the days after the first that an unmeasured leak went
// on into: they were below the opening pressure too, and lost air that
// is not measured, not none.
func holdBelow(days map[string]*Day, per period, reason string) {
	for _, d := range days {
		if d.Start.After(per.start) && d.Start.Before(per.end) {
			d.heldBelow = reason
		}
	}
}

// decayNm3 is the air lost in one period, or why it is not measurable.
func decayNm3(per period, p Params) (float64, string) {
	if !per.hasBefore {
		return 0, HeldBelow
	}
	dp := per.before.Value - per.minPres
	if dp <= 0 {
		return 0, NoDrop
	}
	lost := p.VolumeL * dp / p.AtmosphericBar / 1000
	if !finite(lost) || !finite(lost*1000) || !finite(lost*p.CostPerNm3) {
		return 0, OutOfRange
	}
	return lost, ""
}

// total adds up the days measured and extrapolates them to a year.
func (r *Report) total() {
	var lost, cost, days float64
	var measured []Day
	for _, d := range r.Days {
		if d.Reason != "" && r.Reason == "" {
			r.Reason = d.Reason
		}
		if d.LostNm3 == nil || !finite(lost+*d.LostNm3) || !finite(cost+*d.Cost) {
			continue
		}
		lost += *d.LostNm3
		cost += *d.Cost
		days += d.Share
		measured = append(measured, d)
	}
	if len(measured) == 0 {
		return
	}
	r.LostNm3, r.Cost = &lost, &cost
	if days > 0 && finite(cost/days*365) {
		r.CostPerYear = ptr(cost / days * 365)
		r.Year = &Year{Days: days, First: measured[0].Day, Last: measured[len(measured)-1].Day}
	}
}

func ptr(v float64) *float64 { return &v }

// value is *v, 0 for nil.
func value(v *float64) float64 {
	if v == nil {
		return 0
	}
	return *v
}

// finite reports whether v is a number JSON can carry.
func finite(v float64) bool { return !math.IsInf(v, 0) && !math.IsNaN(v) }
