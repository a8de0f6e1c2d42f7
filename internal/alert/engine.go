package alert

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/sensorhub/sensorhub/internal/alert/notify"
	"github.com/sensorhub/sensorhub/internal/backoff"
	"github.com/sensorhub/sensorhub/internal/health"
	"github.com/sensorhub/sensorhub/internal/leak"
	"github.com/sensorhub/sensorhub/internal/metrics"
	"github.com/sensorhub/sensorhub/internal/queue"
	"github.com/sensorhub/sensorhub/internal/reading"
	"github.com/sensorhub/sensorhub/internal/store"
)

// Group is the durable consumer group of the alert stage on the readings
// stream.
const Group = "alert"

// LeakSpec gives a rule on an air kind the fields and installation that
// turn its pressure decay into leak figures.
type LeakSpec struct {
	Pressure, Opening string
	Params            func(device string) leak.Params
}

// Store is what the alert stage needs of a store: its own state, alerts
// and notifications, the devices it watches, and the values that the leak
// figures and the loss ratio read.
type Store interface {
	store.AlertStore
	Devices(ctx context.Context, f store.DeviceFilter) ([]store.Device, error)
	Points(ctx context.Context, q store.RawQuery) ([]store.Point, string, error)
}

// Engine evaluates the rules on each reading of the readings stream and,
// on a timer, on the passing of time; it saves every change with the
// notifications it causes, and sends them.
type Engine struct {
	Rules []*Rule
	Store Store
	// Notifiers by name; every event goes to each of its rule's.
	Notifiers map[string]notify.Notifier
	// Always are notifiers told of every event, such as the queue's
	// alerts stream.
	Always  []string
	Backoff notify.Backoff
	// Every is the timer's interval: silences and pending alerts are
	// checked that often.
	Every     time.Duration
	Location  *time.Location
	PublicURL string
	Metrics   *metrics.Metrics
	Log       *slog.Logger
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Progress follows the batches of readings: one whose changes cannot
	// be saved for longer than its stall bound makes the stage not ready.
	Progress *health.Progress

	rules    map[string]*Rule
	states   map[store.AlertKey]*entry
	lastSeen map[store.DeviceKey]time.Time
	windows  map[store.DeviceKey]*lossWindow
	needLoss bool
	wake     map[string]chan struct{}
	senders  sync.WaitGroup
	// acked is the newest acknowledgement time learnt: the cursor of the
	// acknowledgements read on each tick.
	acked time.Time
}

// ackOverlap is how far before its cursor each tick reads
// acknowledgements again, for one written late by a web process whose
// clock is behind.
const ackOverlap = 10 * time.Minute

// entry is the state of one rule for one device.
type entry struct {
	Alert
	alertID int64
	name    string
	// env and units are the newest reading's, for the values shown in a
	// notification.
	env   map[string]any
	units map[string]string
}

func (e *Engine) now() time.Time {
	if e.Now != nil {
		return e.Now()
	}
	return time.Now()
}

// Load reads the saved states and the devices' last-seen times. Run calls
// it when it was not called before; a test or benchmark that calls Process
// directly calls it first.
func (e *Engine) Load(ctx context.Context) error {
	if e.Log == nil {
		e.Log = slog.Default()
	}
	if e.Location == nil {
		e.Location = time.UTC
	}
	if e.Every <= 0 {
		e.Every = 10 * time.Second
	}
	e.rules = map[string]*Rule{}
	e.needLoss = false
	for _, r := range e.Rules {
		e.rules[r.Name] = r
		e.needLoss = e.needLoss || slices.Contains(r.Fields, FieldLossRatio)
	}
	e.states = map[store.AlertKey]*entry{}
	e.lastSeen = map[store.DeviceKey]time.Time{}
	e.windows = map[store.DeviceKey]*lossWindow{}
	states, err := e.Store.AlertStates(ctx)
	if err != nil {
		return fmt.Errorf("alert: load states: %w", err)
	}
	var stale []store.AlertChange
	for _, st := range states {
		en := &entry{alertID: st.AlertID}
		if err := json.Unmarshal(st.Machine, &en.Alert); err != nil {
			return fmt.Errorf("alert: state of %s for %s/%s: %w", st.Rule, st.Sensor, st.Device, err)
		}
		if e.rules[st.Rule] == nil {
			// A rule taken out of the configuration: its alert ends.
			if st.AlertID != 0 {
				now := e.now()
				en.State, en.Since = Resolved, now
				m, _ := json.Marshal(en.Alert)
				stale = append(stale, store.AlertChange{State: store.AlertState{AlertKey: st.AlertKey, Machine: m, AlertID: st.AlertID}, Resolve: &now})
				e.Log.Info("alert of a rule no longer configured resolved", "rule", st.Rule, "device", st.Device, "alert", st.AlertID)
			}
			continue
		}
		e.states[st.AlertKey] = en
	}
	if err := e.Store.SaveAlerts(ctx, stale); err != nil {
		return err
	}
	devs, err := e.Store.Devices(ctx, store.DeviceFilter{})
	if err != nil {
		return fmt.Errorf("alert: load devices: %w", err)
	}
	names := map[store.DeviceKey]string{}
	for _, d := range devs {
		k := store.DeviceKey{Customer: d.Customer, Sensor: d.Sensor, Device: d.Device}
		e.lastSeen[k], names[k] = d.LastSeen, d.Name
	}
	for ak, en := range e.states {
		en.name = names[ak.DeviceKey]
	}
	return nil
}

// Run loads the saved state (unless Load was called), starts the senders,
// and evaluates readings from cons and the timer until ctx ends.
func (e *Engine) Run(ctx context.Context, cons queue.Consumer) error {
	if e.states == nil {
		if err := e.Load(ctx); err != nil {
			return err
		}
	}
	if e.Progress == nil {
		e.Progress = &health.Progress{}
	}
	e.startSenders(ctx)
	defer e.senders.Wait()
	lastTick := time.Time{}
	var failures int
	// Each message holds up to reading.StreamBytes of readings.
	queue.Consume(ctx, cons, 16, min(time.Second, e.Every), e.Log, func(ctx context.Context, ds []queue.Delivery) {
		e.Progress.Begin()
		rs, ds, _ := queue.ReadingsOf(ctx, ds, e.Log)
		changes := e.Process(ctx, rs)
		if now := e.now(); now.Sub(lastTick) >= e.Every {
			lastTick = now
			changes = append(changes, e.Tick(ctx, now)...)
		}
		err := e.Save(ctx, changes)
		if err != nil && !store.IsUnavailable(err) && ctx.Err() == nil {
			err = e.saveEach(ctx, changes, err)
		}
		if err != nil {
			failures++
			e.Progress.Failed(fmt.Errorf("saving alert states: %w", err))
			e.Progress.End(false)
			e.Log.Error("saving alert states failed; the readings will be evaluated again", "err", err, "attempt", failures)
			queue.GiveBack(ctx, ds, time.Second)
			if err := e.Load(ctx); err != nil {
				e.Log.Error("reloading alert states failed", "err", err)
			}
			backoff.Sleep(ctx, backoff.Default.Delay(failures))
			return
		}
		failures = 0
		e.Progress.End(true)
		for _, d := range ds {
			if err := d.Ack(ctx); err != nil && ctx.Err() == nil {
				e.Log.Warn("acknowledging a reading failed; it will be evaluated again", "err", err)
			}
		}
	})
	return nil
}

// saveEach saves changes one by one after the store refused them
// together for a reason that is not an outage: a change it refuses alone
// is set aside (logged and counted, the state reloaded from the store),
// so that one rule on one device never stops alerting for the others.
func (e *Engine) saveEach(ctx context.Context, changes []store.AlertChange, cause error) error {
	e.Log.Warn("the store refused the alert changes of a batch; saving them one by one", "changes", len(changes), "err", cause)
	dropped := 0
	for i := range changes {
		err := e.Save(ctx, changes[i:i+1])
		if err == nil {
			continue
		}
		if store.IsUnavailable(err) || ctx.Err() != nil {
			return err
		}
		if dropped++; dropped == len(changes) && len(changes) > 1 {
			// Refusing every change is not about any of them.
			return store.Unavailable(fmt.Errorf("the store refuses every alert change: %w", err))
		}
		c := changes[i].State
		e.Log.Error("an alert change the store refuses is set aside; alerting goes on", "rule", c.Rule, "customer", c.Customer,
			"sensor", c.Sensor, "device", c.Device, "err", err)
		if e.Metrics != nil {
			e.Metrics.Poison.WithLabelValues("alert").Inc()
		}
	}
	if dropped > 0 {
		// What was set aside never happened for the store: the state goes
		// on from what it kept.
		return e.Load(ctx)
	}
	return nil
}

// Save saves the changes and wakes the senders of their notifications.
func (e *Engine) Save(ctx context.Context, changes []store.AlertChange) error {
	if len(changes) == 0 {
		return nil
	}
	if err := e.Store.SaveAlerts(ctx, changes); err != nil {
		return err
	}
	for _, c := range changes {
		en := e.states[c.State.AlertKey]
		switch {
		case en == nil:
		case c.Resolve != nil:
			en.alertID = 0
		case c.Open != nil:
			en.alertID = c.State.AlertID
		}
		for _, n := range c.Notify {
			if w, ok := e.wake[n.Notifier]; ok {
				select {
				case w <- struct{}{}:
				default:
				}
			}
		}
	}
	return nil
}

func (e *Engine) entry(k store.AlertKey, name string) *entry {
	en := e.states[k]
	if en == nil {
		en = &entry{Alert: Alert{State: Inactive}}
		e.states[k] = en
	}
	if name != "" {
		en.name = name
	}
	return en
}

// Process evaluates the rules on readings and returns the changes to
// save. Load must have been called.
func (e *Engine) Process(ctx context.Context, rs []reading.Reading) []store.AlertChange {
	var changes []store.AlertChange
	for i := range rs {
		r := &rs[i]
		dk := store.DeviceKey{Customer: r.Customer, Sensor: r.Sensor, Device: r.Device}
		if r.Received.After(e.lastSeen[dk]) {
			e.lastSeen[dk] = r.Received
		}
		var env map[string]any
		for _, rule := range e.Rules {
			if !rule.Applies(r.Sensor, r.Device) {
				continue
			}
			ak := store.AlertKey{Rule: rule.Name, DeviceKey: dk}
			en := e.entry(ak, r.Name)
			before := en.Alert
			var act Action
			if rule.Timing.NoDataFor > 0 {
				act = en.Observe(r.Received, false, false, rule.Timing)
			} else {
				if env == nil {
					env = e.env(ctx, dk, r)
				}
				cond, clear, err := rule.Eval(env)
				if err != nil {
					if e.Metrics != nil {
						e.Metrics.AlertEvalErrors.WithLabelValues(rule.Name).Inc()
					}
					e.Log.Debug("rule not evaluated on a reading", "rule", rule.Name, "device", r.Device, "time", r.Time, "err", err)
					continue
				}
				if !r.Time.Before(before.LastEval) {
					en.env, en.units = env, r.Units
				}
				act = en.Observe(r.Time, cond, clear, rule.Timing)
			}
			if act != None {
				// Repeats count from when people were told, by this
				// clock, not by the device's.
				en.LastNotified = e.now()
			}
			if c, ok := e.change(ctx, rule, ak, en, before, act, r.Time); ok {
				changes = append(changes, c)
			}
		}
	}
	return changes
}

func ruleValues(rule *Rule, env map[string]any, units map[string]string) (map[string]float64, map[string]string) {
	vals := map[string]float64{}
	var us map[string]string
	for _, f := range rule.Fields {
		if v, ok := env[f].(float64); ok {
			vals[f] = v
			if u := units[f]; u != "" {
				if us == nil {
					us = map[string]string{}
				}
				us[f] = u
			}
		}
	}
	return vals, us
}

// env is what a rule's expression sees: the reading's fields, its
// msgCount, and the device's loss ratio over the last hour.
func (e *Engine) env(ctx context.Context, dk store.DeviceKey, r *reading.Reading) map[string]any {
	env := make(map[string]any, len(r.Fields)+2)
	for k, v := range r.Fields {
		env[k] = v
	}
	if r.MsgCount != reading.NoMsgCount {
		env[reading.FieldMsgCount] = float64(r.MsgCount)
	}
	if e.needLoss {
		if ratio, ok := e.lossRatio(ctx, dk, r); ok {
			env[FieldLossRatio] = ratio
		}
	}
	return env
}

// learnAcks marks the firing alerts acknowledged since the cursor, read
// from the store (the web stage writes acknowledgements there).
func (e *Engine) learnAcks(ctx context.Context) {
	f := store.AlertFilter{State: "firing", Limit: 10000, AckedAfter: time.Unix(0, 0)}
	if !e.acked.IsZero() {
		f.AckedAfter = e.acked.Add(-ackOverlap)
	}
	acks, err := e.Store.Alerts(ctx, f)
	if err != nil {
		e.Log.Warn("reading acknowledgements failed", "err", err)
		return
	}
	acked := map[int64]bool{}
	for _, a := range acks {
		acked[a.ID] = true
		if a.AckedAt.After(e.acked) {
			e.acked = *a.AckedAt
		}
	}
	for _, en := range e.states {
		if en.State == Firing && acked[en.alertID] {
			en.Acked = true
		}
	}
}

// Tick moves the alerts with the passing of time: silent devices, pending
// alerts whose time has come, repeats. It first learns which firing alerts
// were acknowledged.
func (e *Engine) Tick(ctx context.Context, now time.Time) []store.AlertChange {
	e.learnAcks(ctx)
	for _, rule := range e.Rules {
		if rule.Timing.NoDataFor <= 0 {
			continue
		}
		for dk := range e.lastSeen {
			if rule.Applies(dk.Sensor, dk.Device) {
				e.entry(store.AlertKey{Rule: rule.Name, DeviceKey: dk}, "")
			}
		}
	}
	var changes []store.AlertChange
	for ak, en := range e.states {
		rule := e.rules[ak.Rule]
		if rule == nil {
			continue
		}
		before := en.Alert
		act := en.Tick(now, e.lastSeen[ak.DeviceKey], rule.Timing)
		if c, ok := e.change(ctx, rule, ak, en, before, act, now); ok {
			changes = append(changes, c)
		}
	}
	return changes
}

// change turns a transition into what is saved: the state, the alert
// opened or resolved, and the notifications.
func (e *Engine) change(ctx context.Context, rule *Rule, ak store.AlertKey, en *entry, before Alert, act Action, t time.Time) (store.AlertChange, bool) {
	if act == None && en.State == before.State {
		return store.AlertChange{}, false
	}
	m, _ := json.Marshal(en.Alert)
	c := store.AlertChange{State: store.AlertState{AlertKey: ak, Machine: m, AlertID: en.alertID}}
	opened := before.State != Firing && en.State == Firing
	if before.State == Firing && en.State != Firing {
		c.Resolve = &t
		e.Log.Info("alert resolved", "rule", rule.Name, "sensor", ak.Sensor, "device", ak.Device)
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
	ev := notify.Event{
		Rule: rule.Name, Severity: rule.Severity, State: state, Repeat: act == NotifyRepeat,
		Customer: ak.Customer, Sensor: ak.Sensor, Device: ak.Device, Name: en.name, Time: t,
		Condition: rule.Condition(), URL: e.dashboardURL(ak.DeviceKey),
	}
	if rule.Timing.NoDataFor <= 0 {
		ev.Values, ev.Units = ruleValues(rule, en.env, en.units)
	}
	ev.Message = rule.Message(MessageData{
		Rule: rule.Name, Severity: rule.Severity, State: state, Customer: ak.Customer, Sensor: ak.Sensor,
		Device: ak.Device, Name: en.name, Values: ev.Values, Units: ev.Units,
		Time: t.In(e.Location).Format("2006-01-02 15:04:05 MST"), NoDataFor: rule.Timing.NoDataFor,
	})
	if opened {
		c.Open = &store.Alert{Name: en.name, Severity: rule.Severity, Started: t, Message: ev.Message, Values: ev.Values}
		e.Log.Info("alert firing", "rule", rule.Name, "sensor", ak.Sensor, "device", ak.Device, "values", ev.Values)
	}
	switch act {
	case NotifyFiring:
		ev.Leak = e.leakFigures(ctx, rule, ak.DeviceKey, t.Add(-rule.Timing.For), t)
	case NotifyResolved:
		ev.Leak = e.leakFigures(ctx, rule, ak.DeviceKey, before.Since.Add(-rule.Timing.For), t)
	}
	if act != None {
		data, _ := json.Marshal(ev)
		kind := ev.State
		if ev.Repeat {
			kind = "repeat"
		}
		for _, n := range e.notifiersOf(rule) {
			c.Notify = append(c.Notify, store.Notification{AlertID: en.alertID, Kind: kind, Notifier: n, Event: data, Created: e.now()})
		}
	}
	return c, true
}

func (e *Engine) notifiersOf(rule *Rule) []string {
	out := slices.Clone(e.Always)
	for _, n := range rule.Notify {
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}

func (e *Engine) dashboardURL(dk store.DeviceKey) string {
	if e.PublicURL == "" {
		return ""
	}
	q := url.Values{"customer": {dk.Customer}, "device": {dk.Device}}
	return e.PublicURL + "/d/" + url.PathEscape(dk.Sensor) + "?" + q.Encode()
}

// leakFigures estimates, for a rule on an air kind, the air lost and its
// cost over [from, to] from the pressure decay.
func (e *Engine) leakFigures(ctx context.Context, rule *Rule, dk store.DeviceKey, from, to time.Time) *notify.Leak {
	l := rule.Leak
	if l == nil || rule.Timing.NoDataFor > 0 {
		return nil
	}
	// The point before the leak gives the pressure it fell from.
	from = from.Add(-15 * time.Minute)
	to = to.Add(time.Millisecond)
	pres, _, err := e.Store.Points(ctx, store.RawQuery{DeviceKey: dk, Field: l.Pressure, From: from, To: to})
	if err != nil {
		e.Log.Warn("leak figures for an alert", "device", dk.Device, "err", err)
		return nil
	}
	open, _, err := e.Store.Points(ctx, store.RawQuery{DeviceKey: dk, Field: l.Opening, From: from, To: to})
	if err != nil {
		e.Log.Warn("leak figures for an alert", "device", dk.Device, "err", err)
		return nil
	}
	p := l.Params(dk.Device)
	rep := leak.Analyze(pres, open, e.Location, p)
	out := &notify.Leak{VolumeL: p.VolumeL, CostPerNm3: p.CostPerNm3}
	for _, d := range rep.Days {
		out.Seconds += d.Seconds
		out.LostNm3 += d.LostNm3
		out.Cost += d.Cost
	}
	if out.Seconds > 0 {
		out.FlowNlMin = out.LostNm3 * 1000 / (out.Seconds / 60)
	}
	// Were the leak to go on: its flow, all day, every day.
	out.CostPerDay = out.FlowNlMin * 60 * 24 / 1000 * p.CostPerNm3
	out.CostPerYear = out.CostPerDay * 365
	return out
}

// lossWindow holds a device's readings of the last hour: when, and how
// many messages before each were lost.
type lossWindow struct {
	times []time.Time
	lost  []float64
	sum   float64
}

func (e *Engine) lossRatio(ctx context.Context, dk store.DeviceKey, r *reading.Reading) (float64, bool) {
	w := e.windows[dk]
	if w == nil {
		w = &lossWindow{}
		e.windows[dk] = w
		pts, _, err := e.Store.Points(ctx, store.RawQuery{DeviceKey: dk, Field: reading.FieldLost, From: r.Time.Add(-LossWindow), To: r.Time})
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			e.Log.Warn("loss window", "device", dk.Device, "err", err)
		}
		for _, p := range pts {
			w.times, w.lost = append(w.times, p.Time), append(w.lost, p.Value)
			w.sum += p.Value
		}
	}
	lost, ok := r.Fields[reading.FieldLost]
	if !ok {
		return 0, false
	}
	if n := len(w.times); n == 0 || r.Time.After(w.times[n-1]) {
		w.times, w.lost = append(w.times, r.Time), append(w.lost, lost)
		w.sum += lost
	}
	cut := 0
	for cut < len(w.times) && !w.times[cut].After(r.Time.Add(-LossWindow)) {
		w.sum -= w.lost[cut]
		cut++
	}
	w.times, w.lost = w.times[cut:], w.lost[cut:]
	if len(w.times) == 0 {
		return 0, false
	}
	return w.sum / (w.sum + float64(len(w.times))), true
}

func (e *Engine) startSenders(ctx context.Context) {
	e.wake = map[string]chan struct{}{}
	for name, n := range e.Notifiers {
		w := make(chan struct{}, 1)
		e.wake[name] = w
		e.senders.Add(1)
		go func() {
			defer e.senders.Done()
			e.send(ctx, name, n, w)
		}()
	}
}

// send sends one notifier's pending notifications, oldest first, each with
// bounded retries; a notifier that fails holds up no other.
func (e *Engine) send(ctx context.Context, name string, n notify.Notifier, wake <-chan struct{}) {
	log := e.Log.With("notifier", name)
	for {
		pending, err := e.Store.PendingNotifications(ctx, name, 20)
		if err != nil && ctx.Err() == nil {
			log.Warn("reading notifications to send failed", "err", err)
		}
		for _, p := range pending {
			var ev notify.Event
			if err := json.Unmarshal(p.Event, &ev); err != nil {
				p.Status, p.Error = store.NotificationFailed, "cannot decode the event: "+err.Error()
			} else {
				ev.ID = strconv.FormatInt(p.AlertID, 10)
				attempts, err := notify.Send(ctx, n, ev, e.Backoff, log)
				if ctx.Err() != nil {
					// Stopping: it stays pending and is sent after the restart.
					return
				}
				p.Attempts += attempts
				p.Status, p.Error = store.NotificationSent, ""
				if err != nil {
					p.Status, p.Error = store.NotificationFailed, err.Error()
					log.Error("notification not sent", "rule", ev.Rule, "device", ev.Device, "alert", p.AlertID, "err", err)
				}
			}
			p.Done = e.now()
			if e.Metrics != nil {
				e.Metrics.Notifications.WithLabelValues(name, p.Status).Inc()
			}
			if err := e.Store.FinishNotification(context.WithoutCancel(ctx), p); err != nil {
				log.Error("recording a notification failed", "id", p.ID, "err", err)
			}
		}
		if len(pending) == 20 {
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-wake:
		case <-time.After(5 * time.Second):
		}
	}
}
