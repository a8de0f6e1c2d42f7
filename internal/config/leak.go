package config

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// LeakMethods are the ways the air a line loses is measured: decay (the
// pressure drop in a known volume while the line is below its opening
// pressure), flow (the air flow measured while nothing should use air) and
// auto (flow when the range has a flow reading in a non-production window,
// decay otherwise).
var LeakMethods = []string{"auto", "decay", "flow"}

// FlowUnits convert a flow field's unit into normal litres a minute.
var FlowUnits = map[string]float64{
	"Nl/min": 1, "l/min": 1,
	"Nm3/h": 1000.0 / 60, "m3/h": 1000.0 / 60,
	"Nm3/min": 1000, "m3/min": 1000,
}

// LeakMethod says how a line's air lost is measured.
type LeakMethod struct {
	// Method is one of LeakMethods (default auto).
	Method string `yaml:"method,omitempty" json:"method,omitempty"`
	// Flow names the air flow field of the sensor kind, FlowUnit its unit
	// (one of FlowUnits).
	Flow     string `yaml:"flow,omitempty" json:"flow,omitempty"`
	FlowUnit string `yaml:"flow_unit,omitempty" json:"flow_unit,omitempty"`
	// Idle are the non-production windows, in the configured zone: the
	// flow measured then is the leaks' flow.
	Idle []IdleWindow `yaml:"idle,omitempty" json:"idle,omitempty"`
}

// DefaultLeakMethod is the air kind's: the flow of nights (18:00 to
// 07:00) and weekends when the line has a Flow field in m3/h, the
// pressure decay otherwise. The nights start from Sunday's, which ends on
// Monday morning, to Friday's.
func DefaultLeakMethod() LeakMethod {
	return LeakMethod{Method: "auto", Flow: "Flow", FlowUnit: "m3/h", Idle: []IdleWindow{
		{Days: []string{"sat", "sun"}},
		{Days: []string{"sun..fri"}, From: "18:00", To: "07:00"},
	}}
}

// IdleWindow is a weekly non-production window: the days listed, from
// From to To ("HH:MM"; both empty for the whole day). A window whose To is
// not after its From runs past midnight: it starts on the days listed.
type IdleWindow struct {
	// Days are mon..sun, or ranges such as mon..fri.
	Days []string `yaml:"days" json:"days"`
	From string   `yaml:"from,omitempty" json:"from,omitempty"`
	To   string   `yaml:"to,omitempty" json:"to,omitempty"`
}

var weekdays = []string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}

// weekdaySet parses days into the set of weekdays they name.
func weekdaySet(days []string) ([7]bool, error) {
	var set [7]bool
	for _, d := range days {
		first, last, isRange := strings.Cut(strings.ToLower(strings.TrimSpace(d)), "..")
		if !isRange {
			last = first
		}
		a, b := slices.Index(weekdays, first), slices.Index(weekdays, last)
		if a < 0 || b < 0 {
			return set, fmt.Errorf("%q is not a day (mon, tue, wed, thu, fri, sat, sun) or a range of days (mon..fri)", d)
		}
		for i := a; ; i = (i + 1) % 7 {
			set[i] = true
			if i == b {
				break
			}
		}
	}
	return set, nil
}

// clock parses "HH:MM" into the time since midnight; "" is midnight.
func clock(s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	t, err := time.Parse("15:04", s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a time of day HH:MM", s)
	}
	return time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute, nil
}

// Contains reports whether t, read in loc, falls in the window. Windows
// that do not parse contain nothing (Validate reports them).
func (w IdleWindow) Contains(t time.Time, loc *time.Location) bool {
	days, err := weekdaySet(w.Days)
	from, err1 := clock(w.From)
	to, err2 := clock(w.To)
	if err != nil || err1 != nil || err2 != nil {
		return false
	}
	t = t.In(loc)
	since := time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute + time.Duration(t.Second())*time.Second
	today, yesterday := int(t.Weekday()), (int(t.Weekday())+6)%7
	switch {
	case w.From == "" && w.To == "":
		return days[today]
	case from < to:
		return days[today] && since >= from && since < to
	default:
		// Past midnight: the evening of a day listed, or the morning after.
		return days[today] && since >= from || days[yesterday] && since < to
	}
}

// IsIdle reports whether t falls in one of the non-production windows.
func (m LeakMethod) IsIdle(t time.Time, loc *time.Location) bool {
	for _, w := range m.Idle {
		if w.Contains(t, loc) {
			return true
		}
	}
	return false
}

// FlowNlMin converts a flow reading into normal litres a minute; false
// when the unit is unknown.
func (m LeakMethod) FlowNlMin(v float64) (float64, bool) {
	f, ok := FlowUnits[m.FlowUnit]
	return v * f, ok
}

// validateLeakMethod checks the method settings of a kind's or a device's
// leak figures, at is their dotted path.
func validateLeakMethod(v *validator, at string, m LeakMethod) {
	if m.Method != "" && !slices.Contains(LeakMethods, m.Method) {
		v.add(at+".method", "%q is not one of %s", m.Method, strings.Join(LeakMethods, ", "))
	}
	if m.Method == "flow" && m.Flow == "" {
		v.add(at+".flow", "method flow needs the flow field")
	}
	if m.Flow == "" {
		return
	}
	if _, ok := FlowUnits[m.FlowUnit]; !ok {
		v.add(at+".flow_unit", "%q is not one of %s", m.FlowUnit, strings.Join(slices.Sorted(maps.Keys(FlowUnits)), ", "))
	}
	if len(m.Idle) == 0 {
		v.add(at+".idle", "the flow method needs the non-production windows (days, from, to) when the flow is the leaks' flow")
	}
	for i, w := range m.Idle {
		wat := fmt.Sprintf("%s.idle.%d", at, i)
		if len(w.Days) == 0 {
			v.add(wat+".days", "a window needs its days (mon..sun)")
		}
		if _, err := weekdaySet(w.Days); err != nil {
			v.add(wat+".days", "%v", err)
		}
		for k, c := range map[string]string{"from": w.From, "to": w.To} {
			if _, err := clock(c); err != nil {
				v.add(wat+"."+k, "%v", err)
			}
		}
		if (w.From == "") != (w.To == "") {
			v.add(wat, "give both from and to, or neither for whole days")
		}
	}
}
