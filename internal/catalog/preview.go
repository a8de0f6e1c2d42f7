package catalog

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/sensorhub/sensorhub/internal/alert"
	"github.com/sensorhub/sensorhub/internal/config"
	"github.com/sensorhub/sensorhub/internal/derive"
	"github.com/sensorhub/sensorhub/internal/plan"
	"github.com/sensorhub/sensorhub/internal/reading"
	"github.com/sensorhub/sensorhub/internal/store"
)

// PreviewEvent is a state change a rule would have made.
type PreviewEvent struct {
	Time    time.Time `json:"time"`
	State   string    `json:"state"` // firing or resolved
	Message string    `json:"message,omitempty"`
}

// Preview is what a rule would have done over a device's stored readings.
type Preview struct {
	Device   store.DeviceKey `json:"device"`
	Readings int             `json:"readings"`
	Events   []PreviewEvent  `json:"events"`
}

// Points reads the stored values of a field.
type Points interface {
	Points(ctx context.Context, q store.RawQuery) ([]store.Point, string, error)
}

// PreviewRule runs the rule name given as body (the API's JSON) over the
// readings device d stored from from to to, as the alert stage would
// have evaluated them one by one, and says when it would have fired and
// resolved. The rule is checked against the plan p in force; nothing is
// saved or sent.
func PreviewRule(ctx context.Context, p *plan.Plan, st Points, name string, body []byte, d store.DeviceKey, from, to time.Time) (Preview, error) {
	out := Preview{Device: d, Events: []PreviewEvent{}}
	k := KindOf(store.CatalogRules)
	spec, _, _, err := k.decode(name, body)
	if err != nil {
		return out, err
	}
	c := cloneConfig(p.Config)
	if err := k.put(c, name, spec); err != nil {
		return out, err
	}
	i := slices.IndexFunc(c.Alerts.Rules, func(r alert.RuleSpec) bool { return r.Name == name })
	// Nothing is sent: who it tells is not looked at (nor listed).
	rs := c.Alerts.Rules[i]
	rs.Notify = nil
	rule, err := alert.Compile(rs, plan.KnownFields(c, rs.Sensor), nil)
	if err != nil {
		if re, ok := errors.AsType[*alert.RuleError](err); ok {
			return out, &FieldError{Field: re.Field, Msg: re.Msg}
		}
		return out, &FieldError{Field: "rule", Msg: err.Error()}
	}
	if !rule.Applies(d.Customer, d.Sensor, d.Device) {
		return out, &FieldError{Field: "device", Msg: "the rule does not watch this device (its customer, sensor kind or devices)"}
	}
	// The readings, from the values of the fields the rule reads.
	byTime := map[time.Time]map[string]float64{}
	fields := slices.DeleteFunc(slices.Clone(rule.Fields), func(f string) bool { return f == alert.FieldLossRatio })
	if len(fields) == 0 {
		fields = []string{reading.FieldRSSI} // a rule on silence: when the device sent
	}
	for _, f := range fields {
		pts, _, err := st.Points(ctx, store.RawQuery{DeviceKey: d, Field: f, From: from, To: to})
		if err != nil {
			return out, err
		}
		for _, pt := range pts {
			if byTime[pt.Time] == nil {
				byTime[pt.Time] = map[string]float64{}
			}
			byTime[pt.Time][f] = pt.Value
		}
	}
	times := make([]time.Time, 0, len(byTime))
	for t := range byTime {
		times = append(times, t)
	}
	slices.SortFunc(times, func(a, b time.Time) int { return a.Compare(b) })
	// Quiet: what a preview finds is its answer, not the log's.
	ev := &alert.Evaluator{Rules: []*alert.Rule{rule}, Location: p.Location, PublicURL: p.PublicURL, Now: func() time.Time { return to },
		Log: slog.New(slog.DiscardHandler)}
	if _, err := ev.Restore(nil, nil); err != nil {
		return out, err
	}
	note := func(changes []store.AlertChange) {
		for _, ch := range changes {
			switch {
			case ch.Open != nil:
				out.Events = append(out.Events, PreviewEvent{Time: ch.Open.Started, State: "firing", Message: ch.Open.Message})
			case ch.Resolve != nil:
				out.Events = append(out.Events, PreviewEvent{Time: *ch.Resolve, State: "resolved"})
			}
		}
	}
	for _, t := range times {
		note(ev.Tick(ctx, t)) // a silence, and what was pending, up to this reading
		r := reading.Reading{Customer: d.Customer, Sensor: d.Sensor, Device: d.Device, Time: t, Received: t, Fields: byTime[t]}
		note(ev.Process(ctx, []reading.Reading{r}))
		out.Readings++
	}
	note(ev.Tick(ctx, to))
	return out, nil
}

// Latest reads a device's newest reading and the values before a time.
type Latest interface {
	Latest(ctx context.Context, k store.DeviceKey) (reading.Reading, error)
	PointBefore(ctx context.Context, k store.DeviceKey, field string, t time.Time) (store.Point, bool, error)
}

// FormulaValue is one field of a formula preview.
type FormulaValue struct {
	Field   string  `json:"field"`
	Value   float64 `json:"value"`
	Derived bool    `json:"derived"`
}

// PreviewFormulas compiles the sensor kind name given as body (the API's
// JSON) and derives its fields on device d's newest stored reading, with
// the values stored before it as the previous reading, as ingest would.
func PreviewFormulas(ctx context.Context, st Latest, name string, body []byte, d store.DeviceKey) ([]FormulaValue, error) {
	k := KindOf(store.CatalogSensors)
	spec, _, _, err := k.decode(name, body)
	if err != nil {
		return nil, err
	}
	c := cloneConfig(&config.Config{})
	if err := k.put(c, name, spec); err != nil {
		return nil, err
	}
	s := c.Sensors[name]
	set, err := derive.Compile(plan.Formulas(s), plan.StoredFields(s))
	if err != nil {
		return nil, &FieldError{Field: "derive", Msg: err.Error()}
	}
	r, err := st.Latest(ctx, d)
	if err != nil {
		return nil, &FieldError{Field: "device", Msg: "no reading of this device: " + err.Error()}
	}
	prev := &derive.Prev{Fields: map[string]float64{}}
	for f := range r.Fields {
		if pt, ok, err := st.PointBefore(ctx, d, f, r.Time); err != nil {
			return nil, err
		} else if ok {
			prev.Fields[f], prev.Time = pt.Value, pt.Time
		}
	}
	if prev.Time.IsZero() {
		prev = nil
	}
	set.Clear(&r)
	set.Apply(&r, prev)
	derived := map[string]bool{}
	for _, f := range set {
		derived[f.Name] = true
	}
	out := make([]FormulaValue, 0, len(r.Fields))
	for f, v := range r.Fields {
		out = append(out, FormulaValue{Field: f, Value: v, Derived: derived[f]})
	}
	slices.SortFunc(out, func(a, b FormulaValue) int { return strings.Compare(a.Field, b.Field) })
	return out, nil
}
