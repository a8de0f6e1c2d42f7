package alert

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/url"
	"slices"
	"time"

	"github.com/expr-lang/expr/vm"

	"github.com/sensorhub/sensorhub/internal/alert/notify"
	"github.com/sensorhub/sensorhub/internal/leak"
	"github.com/sensorhub/sensorhub/internal/metrics"
	"github.com/sensorhub/sensorhub/internal/reading"
	"github.com/sensorhub/sensorhub/internal/store"
)

// History is what the evaluator reads besides the readings it is given:
// a device's earlier values of a field, for the leak figures of a
// notification and the loss ratio of the last hour.
type History interface {
	Points(ctx context.Context, q store.RawQuery) ([]store.Point, string, error)
}

// Evaluator is the rules' state machines for every device: readings and
// the passing of time go in, the changes to save (states, alerts opened
// and resolved, notifications) come out. It writes nothing and sends
// nothing; the Engine saves what it returns and the Dispatcher sends it.
type Evaluator struct {
	Rules []*Rule
	// History gives the earlier values of a device; nil for none (no leak
	// figures, no loss ratio).
	History History
	// Always are notifiers told of every event, such as the queue's
	// alerts stream.
	Always []string
	// NotifierCustomers are the customers of the notifiers that are one
	// customer's: they are told of that customer's events only.
	NotifierCustomers map[string]string
	Location          *time.Location
	PublicURL         string
	Metrics           *metrics.Metrics
	Log               *slog.Logger
	// Now is the clock of the notifications' times; time.Now when nil.
	Now func() time.Time
	// Names, when set, gives the name people gave a device (Settings,
	// PATCH /api/v1/devices), shown instead of the one in its messages;
	// "" for none.
	Names func(store.DeviceKey) string

	rules    map[string]*Rule
	states   map[store.AlertKey]*entry
	lastSeen map[store.DeviceKey]time.Time
	windows  map[store.DeviceKey]*lossWindow
	needLoss bool
	// reads are the names the rules read, and readsAll tells that one
	// reads $env, so any field; vals and vm serve one reading after
	// another.
	reads    []string
	readsAll bool
	vals     map[string]any
	vm       vm.VM
}

// entry is the state of one rule for one device.
type entry struct {
	Alert
	alertID int64
	name    string
	// vals and units are the newest reading's values of the rule's
	// fields (Rule.Fields, NaN where it had none) and their units, for a
	// notification: only these, not the whole reading, so that thousands
	// of devices keep a few numbers each.
	vals  []float64
	units []string
}

// keep notes the rule's fields of a reading's env in place.
func (en *entry) keep(rule *Rule, env map[string]any, units map[string]string) {
	en.vals, en.units = en.vals[:0], en.units[:0]
	for _, f := range rule.Fields {
		x, ok := env[f].(float64)
		if !ok {
			x = math.NaN()
		}
		en.vals, en.units = append(en.vals, x), append(en.units, units[f])
	}
}

func (v *Evaluator) now() time.Time {
	if v.Now != nil {
		return v.Now()
	}
	return time.Now()
}

// Restore sets the evaluator's state from the saved state machines and
// the devices' last-seen times. It returns the changes that resolve the
// alerts of rules no longer configured.
func (v *Evaluator) Restore(states []store.AlertState, devices []store.Device) ([]store.AlertChange, error) {
	if v.Log == nil {
		v.Log = slog.Default()
	}
	if v.Location == nil {
		v.Location = time.UTC
	}
	v.rules = map[string]*Rule{}
	v.needLoss, v.reads, v.readsAll, v.vals = false, nil, false, map[string]any{}
	for _, r := range v.Rules {
		v.rules[r.Name] = r
		v.needLoss = v.needLoss || slices.Contains(r.Fields, FieldLossRatio)
		v.readsAll = v.readsAll || slices.Contains(r.Fields, "$env")
		for _, f := range r.Fields {
			if !slices.Contains(v.reads, f) {
				v.reads = append(v.reads, f)
			}
		}
	}
	v.states = map[store.AlertKey]*entry{}
	v.lastSeen = map[store.DeviceKey]time.Time{}
	v.windows = map[store.DeviceKey]*lossWindow{}
	var stale []store.AlertChange
	for _, st := range states {
		en := &entry{alertID: st.AlertID}
		if err := json.Unmarshal(st.Machine, &en.Alert); err != nil {
			return nil, fmt.Errorf("alert: state of %s for %s/%s: %w", st.Rule, st.Sensor, st.Device, err)
		}
		if v.rules[st.Rule] == nil {
			// A rule taken out of the configuration: its alert ends.
			if st.AlertID != 0 {
				now := v.now()
				en.State, en.Since = Resolved, now
				m, _ := json.Marshal(en.Alert)
				stale = append(stale, store.AlertChange{State: store.AlertState{AlertKey: st.AlertKey, Machine: m, AlertID: st.AlertID}, Resolve: &now})
				v.Log.Info("alert of a rule no longer configured resolved", "rule", st.Rule, "device", st.Device, "alert", st.AlertID)
			}
			continue
		}
		v.states[st.AlertKey] = en
	}
	names := map[store.DeviceKey]string{}
	for _, d := range devices {
		k := store.DeviceKey{Customer: d.Customer, Sensor: d.Sensor, Device: d.Device}
		v.lastSeen[k], names[k] = d.LastSeen, d.Name
	}
	for ak, en := range v.states {
		en.name = names[ak.DeviceKey]
	}
	return stale, nil
}

// Saved tells the evaluator that changes were saved: the alerts they
// opened have their ids.
func (v *Evaluator) Saved(changes []store.AlertChange) {
	for _, c := range changes {
		en := v.states[c.State.AlertKey]
		switch {
		case en == nil:
		case c.Resolve != nil:
			en.alertID = 0
		case c.Open != nil:
			en.alertID = c.State.AlertID
		}
	}
}

// Acknowledged marks the firing alerts of the ids given acknowledged:
// they are not repeated.
func (v *Evaluator) Acknowledged(ids map[int64]bool) {
	for _, en := range v.states {
		if en.State == Firing && ids[en.alertID] {
			en.Acked = true
		}
	}
}

// Forget drops the devices gone (removed from the store) with their
// states, so that a removed device is not alerted as silent.
func (v *Evaluator) Forget(gone map[store.DeviceKey]bool) {
	for dk := range gone {
		delete(v.lastSeen, dk)
		delete(v.windows, dk)
	}
	for ak := range v.states {
		if gone[ak.DeviceKey] {
			delete(v.states, ak)
		}
	}
}

func (v *Evaluator) entry(k store.AlertKey, name string) *entry {
	en := v.states[k]
	if en == nil {
		en = &entry{Alert: Alert{State: Inactive}}
		v.states[k] = en
	}
	if name != "" {
		en.name = name
	}
	return en
}

// Process evaluates the rules on readings and returns the changes to
// save. Restore must have been called.
func (v *Evaluator) Process(ctx context.Context, rs []reading.Reading) []store.AlertChange {
	var changes []store.AlertChange
	for i := range rs {
		r := &rs[i]
		dk := store.DeviceKey{Customer: r.Customer, Sensor: r.Sensor, Device: r.Device}
		if r.Received.After(v.lastSeen[dk]) {
			v.lastSeen[dk] = r.Received
		}
		var env map[string]any
		for _, rule := range v.Rules {
			if !rule.Applies(r.Customer, r.Sensor, r.Device) {
				continue
			}
			ak := store.AlertKey{Rule: rule.Name, DeviceKey: dk}
			en := v.entry(ak, r.Name)
			before := en.Alert
			var act Action
			if rule.Timing.NoDataFor > 0 {
				act = en.Observe(r.Received, false, false, rule.Timing)
			} else {
				if env == nil {
					env = v.env(ctx, dk, r)
				}
				cond, clear, err := rule.Eval(&v.vm, env)
				if err != nil {
					if v.Metrics != nil {
						v.Metrics.AlertEvalErrors.WithLabelValues(rule.Name).Inc()
					}
					v.Log.Debug("rule not evaluated on a reading", "rule", rule.Name, "device", r.Device, "time", r.Time, "err", err)
					continue
				}
				if !r.Time.Before(before.LastEval) {
					en.keep(rule, env, r.Units)
				}
				act = en.Observe(r.Time, cond, clear, rule.Timing)
			}
			if act != None {
				// Repeats count from when people were told, by this
				// clock, not by the device's.
				en.LastNotified = v.now()
			}
			if c, ok := v.change(ctx, rule, ak, en, before, act, r.Time); ok {
				changes = append(changes, c)
			}
		}
	}
	return changes
}

func ruleValues(rule *Rule, en *entry) (map[string]float64, map[string]string) {
	vals := map[string]float64{}
	var us map[string]string
	for i, f := range rule.Fields {
		if i >= len(en.vals) || math.IsNaN(en.vals[i]) {
			continue
		}
		vals[f] = en.vals[i]
		if u := en.units[i]; u != "" {
			if us == nil {
				us = map[string]string{}
			}
			us[f] = u
		}
	}
	return vals, us
}

// env is what a rule's expression sees: the reading's fields that the
// rules read, its msgCount, and the device's loss ratio over the last
// hour. It is the same map each time, valid until the next reading.
func (v *Evaluator) env(ctx context.Context, dk store.DeviceKey, r *reading.Reading) map[string]any {
	env := v.vals
	clear(env)
	if v.readsAll {
		for k, f := range r.Fields {
			env[k] = f
		}
	} else {
		for _, k := range v.reads {
			if f, ok := r.Fields[k]; ok {
				env[k] = f
			}
		}
	}
	if r.MsgCount != reading.NoMsgCount {
		env[reading.FieldMsgCount] = float64(r.MsgCount)
	}
	if v.needLoss {
		if ratio, ok := v.lossRatio(ctx, dk, r); ok {
			env[FieldLossRatio] = ratio
		}
	}
	return env
}

// Tick moves the alerts with the passing of time: silent devices, pending
// alerts whose time has come, repeats.
func (v *Evaluator) Tick(ctx context.Context, now time.Time) []store.AlertChange {
	for _, rule := range v.Rules {
		if rule.Timing.NoDataFor <= 0 {
			continue
		}
		for dk := range v.lastSeen {
			if rule.Applies(dk.Customer, dk.Sensor, dk.Device) {
				v.entry(store.AlertKey{Rule: rule.Name, DeviceKey: dk}, "")
			}
		}
	}
	var changes []store.AlertChange
	for ak, en := range v.states {
		rule := v.rules[ak.Rule]
		if rule == nil {
			continue
		}
		before := en.Alert
		act := en.Tick(now, v.lastSeen[ak.DeviceKey], rule.Timing)
		if c, ok := v.change(ctx, rule, ak, en, before, act, now); ok {
			changes = append(changes, c)
		}
	}
	return changes
}

// change turns a transition into what is saved: the state, the alert
// opened or resolved, and the notifications.
func (v *Evaluator) change(ctx context.Context, rule *Rule, ak store.AlertKey, en *entry, before Alert, act Action, t time.Time) (store.AlertChange, bool) {
	if act == None && en.State == before.State {
		return store.AlertChange{}, false
	}
	m, _ := json.Marshal(en.Alert)
	c := store.AlertChange{State: store.AlertState{AlertKey: ak, Machine: m, AlertID: en.alertID}}
	opened := before.State != Firing && en.State == Firing
	if before.State == Firing && en.State != Firing {
		c.Resolve = &t
		v.Log.Info("alert resolved", "rule", rule.Name, "sensor", ak.Sensor, "device", ak.Device)
	}
	if !opened && act == None {
		// Pending and back, or resolved without telling anyone: only the
		// state is saved.
		return c, true
	}
	state := "firing"
	if en.State == Resolved {
		state = "resolved"
	}
	name := en.name
	if v.Names != nil {
		if given := v.Names(ak.DeviceKey); given != "" {
			name = given
		}
	}
	ev := notify.Event{
		Rule: rule.Name, Severity: rule.Severity, State: state, Repeat: act == NotifyRepeat,
		Customer: ak.Customer, Sensor: ak.Sensor, Device: ak.Device, Name: name, Time: t,
		Condition: rule.Condition(), URL: v.dashboardURL(ak.DeviceKey),
	}
	if rule.Timing.NoDataFor <= 0 {
		ev.Values, ev.Units = ruleValues(rule, en)
	}
	ev.Message = rule.Message(MessageData{
		Rule: rule.Name, Severity: rule.Severity, State: state, Customer: ak.Customer, Sensor: ak.Sensor,
		Device: ak.Device, Name: name, Values: ev.Values, Units: ev.Units,
		Time: t.In(v.Location).Format("2006-01-02 15:04:05 MST"), NoDataFor: rule.Timing.NoDataFor,
	})
	if opened {
		c.Open = &store.Alert{Name: name, Severity: rule.Severity, Started: t, Message: ev.Message, Values: ev.Values}
		v.Log.Info("alert firing", "rule", rule.Name, "sensor", ak.Sensor, "device", ak.Device, "values", ev.Values)
	}
	switch act {
	case NotifyFiring:
		ev.Leak = v.leakFigures(ctx, rule, ak.DeviceKey, t.Add(-rule.Timing.For), t)
	case NotifyResolved:
		ev.Leak = v.leakFigures(ctx, rule, ak.DeviceKey, before.Since.Add(-rule.Timing.For), t)
	}
	if act != None {
		data, _ := json.Marshal(ev)
		kind := ev.State
		if ev.Repeat {
			kind = "repeat"
		}
		for _, n := range v.notifiersOf(rule, ak.Customer) {
			c.Notify = append(c.Notify, store.Notification{AlertID: en.alertID, Kind: kind, Notifier: n, Event: data, Created: v.now()})
		}
	}
	return c, true
}

// notifiersOf are the notifiers told of an event of rule for a device
// of customer: never another customer's.
func (v *Evaluator) notifiersOf(rule *Rule, customer string) []string {
	out := slices.Clone(v.Always)
	for _, n := range rule.Notify {
		if c, ok := v.NotifierCustomers[n]; ok && c != customer {
			continue
		}
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}

func (v *Evaluator) dashboardURL(dk store.DeviceKey) string {
	if v.PublicURL == "" {
		return ""
	}
	q := url.Values{"customer": {dk.Customer}, "device": {dk.Device}}
	return v.PublicURL + "/d/" + url.PathEscape(dk.Sensor) + "?" + q.Encode()
}

// FlowLookback is how far back an alert looks for the flow of the
// non-production hours, with the flow method: a week has nights and a
// weekend.
const FlowLookback = 7 * 24 * time.Hour

// leakFigures measures, for a rule on an air kind, the air lost and its
// cost over [from, to]: from the pressure decay, or from the flow of the
// last week's non-production hours.
func (v *Evaluator) leakFigures(ctx context.Context, rule *Rule, dk store.DeviceKey, from, to time.Time) *notify.Leak {
	l := rule.Leak
	if l == nil || rule.Timing.NoDataFor > 0 || v.History == nil {
		return nil
	}
	// The point before the leak gives the pressure it fell from.
	from = from.Add(-15 * time.Minute)
	to = to.Add(time.Millisecond)
	p := l.Params(dk.Customer, dk.Device)
	s, flow, err := v.leakSeries(ctx, l, p, dk, from, to)
	if err != nil {
		v.Log.Warn("leak figures for an alert", "device", dk.Device, "err", err)
		return nil
	}
	decay := p
	decay.Method = leak.Decay
	rep := leak.Analyze(s, from, to, v.Location, decay)
	out := &notify.Leak{Method: leak.Decay, VolumeL: p.VolumeL, AtmosphericBar: p.AtmosphericBar, CostPerNm3: p.CostPerNm3}
	if l.Currency != nil {
		out.Currency = l.Currency(dk.Customer)
	}
	for _, d := range rep.Days {
		out.Seconds += d.Seconds
	}
	idle, n, measured := leak.IdleFlow(flow, v.Location, p)
	switch {
	case p.Flow != "" && (p.Method == leak.Flow || p.Method != leak.Decay && measured):
		out.Method, out.IdleReadings, out.IdleDays = leak.Flow, n, int(FlowLookback.Hours()/24)
		if !measured {
			out.Reason = leak.NoIdleFlow
			break
		}
		lost := idle / 1000 * out.Seconds / 60
		out.FlowNlMin, out.LostNm3 = &idle, &lost
	default:
		out.LostNm3, out.Reason = rep.LostNm3, rep.Reason
		if out.LostNm3 != nil && out.Seconds > 0 {
			flow := *out.LostNm3 * 1000 / (out.Seconds / 60)
			out.FlowNlMin = &flow
		}
	}
	out.Price(p.CostPerNm3)
	return out
}

// leakSeries reads the pressure and opening pressure over [from, to] and,
// unless the method is decay, the flow of the FlowLookback before to.
func (v *Evaluator) leakSeries(ctx context.Context, l *LeakSpec, p leak.Params, dk store.DeviceKey, from, to time.Time) (leak.Series, []store.Point, error) {
	var s leak.Series
	var err error
	for _, q := range []struct {
		field string
		pts   *[]store.Point
	}{{l.Pressure, &s.Pressure}, {l.Opening, &s.Opening}} {
		if *q.pts, _, err = v.History.Points(ctx, store.RawQuery{DeviceKey: dk, Field: q.field, From: from, To: to}); err != nil {
			return s, nil, fmt.Errorf("%s: %w", q.field, err)
		}
	}
	if p.Flow == "" || p.Method == leak.Decay {
		return s, nil, nil
	}
	flow, _, err := v.History.Points(ctx, store.RawQuery{DeviceKey: dk, Field: p.Flow, From: to.Add(-FlowLookback), To: to})
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return s, nil, fmt.Errorf("%s: %w", p.Flow, err)
	}
	return s, flow, nil
}

// lossWindow holds a device's readings of the last hour: when (Unix
// nanoseconds), and how many messages before each were lost. At 10,000
// devices every byte of an entry counts: 16 where a time.Time and a
// float64 took 32.
type lossWindow struct {
	entries []lossEntry
	sum     float64
}

type lossEntry struct {
	at   int64
	lost float32
}

func (w *lossWindow) add(t time.Time, lost float64) {
	w.entries = append(w.entries, lossEntry{t.UnixNano(), float32(lost)})
	w.sum += float64(float32(lost))
}

func (v *Evaluator) lossRatio(ctx context.Context, dk store.DeviceKey, r *reading.Reading) (float64, bool) {
	w := v.windows[dk]
	if w == nil {
		w = &lossWindow{}
		v.windows[dk] = w
		if v.History != nil {
			pts, _, err := v.History.Points(ctx, store.RawQuery{DeviceKey: dk, Field: reading.FieldLost, From: r.Time.Add(-LossWindow), To: r.Time})
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				v.Log.Warn("loss window", "device", dk.Device, "err", err)
			}
			w.entries = make([]lossEntry, 0, len(pts)+1)
			for _, p := range pts {
				w.add(p.Time, p.Value)
			}
		}
	}
	lost, ok := r.Fields[reading.FieldLost]
	if !ok {
		return 0, false
	}
	if n := len(w.entries); n == 0 || r.Time.UnixNano() > w.entries[n-1].at {
		w.add(r.Time, lost)
	}
	cut, from := 0, r.Time.Add(-LossWindow).UnixNano()
	for cut < len(w.entries) && w.entries[cut].at <= from {
		w.sum -= float64(w.entries[cut].lost)
		cut++
	}
	if cut > 0 {
		// Moved down rather than resliced, so that the window's array
		// does not creep forward and grow.
		w.entries = w.entries[:copy(w.entries, w.entries[cut:])]
	}
	if len(w.entries) == 0 {
		w.sum = 0
		return 0, false
	}
	return w.sum / (w.sum + float64(len(w.entries))), true
}
