package alert

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
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
	// Params are a customer's device's figures, its air at the
	// customer's price.
	Params func(customer, device string) leak.Params
	// Currency is that of a customer's prices; "" for none.
	Currency func(customer string) string
}

// Store is what the alert stage needs of a store: its own state, alerts
// and notifications, the devices it watches, and the values that the leak
// figures and the loss ratio read.
type Store interface {
	store.AlertStore
	Devices(ctx context.Context, f store.DeviceFilter) ([]store.Device, error)
	History
}

// Engine is the alert stage: it feeds the readings of the readings stream
// and the timer to an Evaluator, saves the changes it returns with the
// notifications they cause in one transaction (the outbox), and runs a
// Dispatcher that sends them.
type Engine struct {
	Rules []*Rule
	Store Store
	// Notifiers by name; every event goes to each of its rule's.
	Notifiers map[string]notify.Notifier
	// Always are notifiers told of every event, such as the queue's
	// alerts stream.
	Always []string
	// NotifierCustomers are the customers of the notifiers that are one
	// customer's (Evaluator.NotifierCustomers).
	NotifierCustomers map[string]string
	Backoff           notify.Backoff
	// Every is the timer's interval: silences and pending alerts are
	// checked that often.
	Every     time.Duration
	Location  *time.Location
	PublicURL string
	Metrics   *metrics.Metrics
	Log       *slog.Logger
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Names gives the names people gave devices (Evaluator.Names).
	Names func(store.DeviceKey) string
	// Progress follows the batches of readings: one whose changes cannot
	// be saved for longer than its stall bound makes the stage not ready.
	Progress *health.Progress
	// Lease, when set, is the lease this engine evaluates under, among
	// several alert processes: its changes are saved only while it holds
	// it (the Store is then a store.Leases), and Run ends with
	// store.ErrLeaseLost once another process took it.
	Lease *store.Lease

	eval *Evaluator
	disp *Dispatcher
	// pending are rules given by Apply, taken between batches.
	pendingMu sync.Mutex
	pending   *Ruleset
	// acked is the newest acknowledgement time learnt: the cursor of the
	// acknowledgements read on each tick.
	acked time.Time
	// listed are the devices the store listed last: one listed before and
	// no longer was removed.
	listed map[store.DeviceKey]bool
}

// ackOverlap is how far before its cursor each tick reads
// acknowledgements again, for one written late by a web process whose
// clock is behind.
const ackOverlap = 10 * time.Minute

func (e *Engine) now() time.Time {
	if e.Now != nil {
		return e.Now()
	}
	return time.Now()
}

// Ruleset is what Apply changes while the engine runs.
type Ruleset struct {
	Rules []*Rule
	// Notifiers by name, and the customer of each that is one
	// customer's.
	Notifiers         map[string]notify.Notifier
	NotifierCustomers map[string]string
}

// Apply makes rs the engine's rules and notifiers from its next batch
// on, without a restart: the states are read again from the store, so
// that an alert keeps its state across an edit of its rule (by the
// rule's name), and the alerts of a rule taken out resolve.
func (e *Engine) Apply(rs Ruleset) {
	e.pendingMu.Lock()
	defer e.pendingMu.Unlock()
	if rs.Rules == nil {
		rs.Rules = []*Rule{}
	}
	e.pending = &rs
}

// takePending applies what Apply was given, if anything.
func (e *Engine) takePending(ctx context.Context) {
	e.pendingMu.Lock()
	rs := e.pending
	e.pending = nil
	e.pendingMu.Unlock()
	if rs == nil {
		return
	}
	oldRules, oldNotifiers, oldCustomers := e.Rules, e.Notifiers, e.NotifierCustomers
	e.Rules, e.NotifierCustomers = rs.Rules, rs.NotifierCustomers
	if rs.Notifiers != nil {
		e.Notifiers = rs.Notifiers
	}
	if err := e.Load(ctx); err != nil {
		e.Log.Error("applying the new rules failed; trying again at the next batch", "err", err)
		e.Rules, e.Notifiers, e.NotifierCustomers = oldRules, oldNotifiers, oldCustomers
		e.pendingMu.Lock()
		if e.pending == nil {
			e.pending = rs
		}
		e.pendingMu.Unlock()
		return
	}
	names := make([]string, len(rs.Rules))
	for i, r := range rs.Rules {
		names[i] = r.Name
	}
	e.Log.Info("alert rules applied", "rules", names)
}

// Load reads the saved states and the devices' last-seen times. Run calls
// it when it was not called before; a test or benchmark that calls Process
// directly calls it first. It replaces the evaluator only once all of it
// succeeded: on error, the one before goes on. The dispatcher takes the
// engine's notifiers as they are then.
func (e *Engine) Load(ctx context.Context) error {
	if e.Log == nil {
		e.Log = slog.Default()
	}
	if e.Every <= 0 {
		e.Every = 10 * time.Second
	}
	if e.disp == nil {
		e.disp = &Dispatcher{Outbox: e.Store, Notifiers: e.Notifiers, Backoff: e.Backoff, Metrics: e.Metrics, Log: e.Log, Now: e.Now}
	}
	eval := &Evaluator{Rules: e.Rules, History: e.Store, Always: e.Always, NotifierCustomers: e.NotifierCustomers, Location: e.Location, PublicURL: e.PublicURL,
		Metrics: e.Metrics, Log: e.Log, Now: e.Now, Names: e.Names}
	states, err := e.Store.AlertStates(ctx)
	if err != nil {
		return fmt.Errorf("alert: load states: %w", err)
	}
	devs, err := e.Store.Devices(ctx, store.DeviceFilter{})
	if err != nil {
		return fmt.Errorf("alert: load devices: %w", err)
	}
	stale, err := eval.Restore(states, devs)
	if err != nil {
		return err
	}
	if err := e.saveAlerts(ctx, stale); err != nil {
		return err
	}
	e.eval, e.listed = eval, listed(devs)
	e.disp.SetNotifiers(e.Notifiers)
	return nil
}

// saveAlerts saves changes, under the engine's lease when it has one.
func (e *Engine) saveAlerts(ctx context.Context, changes []store.AlertChange) error {
	if e.Lease == nil {
		return e.Store.SaveAlerts(ctx, changes)
	}
	ls, ok := e.Store.(store.Leases)
	if !ok {
		return errors.New("alert: the store has no leases")
	}
	return ls.SaveAlertsHolding(ctx, *e.Lease, changes)
}

// evalMessages is how many messages of the readings stream the engine
// evaluates and saves at once.
const evalMessages = 4

// Run loads the saved state (unless Load was called), starts the
// dispatcher, and evaluates readings from cons and the timer until ctx
// ends.
func (e *Engine) Run(ctx context.Context, cons queue.Consumer) error {
	if e.eval == nil {
		if err := e.Load(ctx); err != nil {
			return err
		}
	}
	if e.Progress == nil {
		e.Progress = &health.Progress{}
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	dispatched := make(chan struct{})
	go func() {
		defer close(dispatched)
		e.disp.Run(ctx)
	}()
	defer func() { <-dispatched }()
	lastTick := time.Time{}
	var failures int
	// Each message holds up to reading.StreamBytes of readings: four hold
	// about 2,500 readings, a megabyte of JSON, about 5 MB decoded.
	queue.Consume(ctx, cons, evalMessages, min(time.Second, e.Every), e.Log, func(ctx context.Context, ds []queue.Delivery) {
		e.takePending(ctx)
		e.Progress.Begin()
		rs, ds, _ := queue.ReadingsOf(ctx, ds, e.Log)
		changes := e.eval.Process(ctx, rs)
		if now := e.now(); now.Sub(lastTick) >= e.Every {
			lastTick = now
			changes = append(changes, e.Tick(ctx, now)...)
		}
		err := e.Save(ctx, changes)
		if err != nil && !errors.Is(err, store.ErrLeaseLost) && !store.IsUnavailable(err) && ctx.Err() == nil {
			err = e.saveEach(ctx, changes, err)
		}
		if errors.Is(err, store.ErrLeaseLost) {
			// Another process evaluates from here: it gets these readings
			// again, and its state from the store.
			e.Progress.End(true)
			e.Log.Warn("another alert process took the alert lease; this one stands by", "err", err)
			queue.GiveBack(ctx, ds, 0)
			cancel(err)
			return
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
	if err := context.Cause(ctx); errors.Is(err, store.ErrLeaseLost) {
		return err
	}
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
		if store.IsUnavailable(err) || ctx.Err() != nil || errors.Is(err, store.ErrLeaseLost) {
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

// Save saves the changes with their notifications in one transaction and
// wakes the dispatcher's senders.
func (e *Engine) Save(ctx context.Context, changes []store.AlertChange) error {
	if len(changes) == 0 {
		return nil
	}
	if err := e.saveAlerts(ctx, changes); err != nil {
		return err
	}
	e.eval.Saved(changes)
	for _, c := range changes {
		e.disp.Wake(c.Notify)
	}
	return nil
}

// Process evaluates the rules on readings and returns the changes to
// save. Load must have been called.
func (e *Engine) Process(ctx context.Context, rs []reading.Reading) []store.AlertChange {
	return e.eval.Process(ctx, rs)
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
		if ctx.Err() == nil {
			e.Log.Warn("reading acknowledgements failed", "err", err)
		}
		return
	}
	acked := map[int64]bool{}
	for _, a := range acks {
		acked[a.ID] = true
		if a.AckedAt.After(e.acked) {
			e.acked = *a.AckedAt
		}
	}
	e.eval.Acknowledged(acked)
}

// learnRemovals forgets the devices removed from the store (sensorhub
// device rm, in any process).
func (e *Engine) learnRemovals(ctx context.Context) {
	devs, err := e.Store.Devices(ctx, store.DeviceFilter{})
	if err != nil {
		if ctx.Err() == nil {
			e.Log.Warn("reading the devices failed", "err", err)
		}
		return
	}
	present := listed(devs)
	gone := map[store.DeviceKey]bool{}
	for k := range e.listed {
		if !present[k] {
			gone[k] = true
			e.Log.Info("device removed: its alerts end", "customer", k.Customer, "sensor", k.Sensor, "device", k.Device)
		}
	}
	e.eval.Forget(gone)
	e.listed = present
}

func listed(devs []store.Device) map[store.DeviceKey]bool {
	out := make(map[store.DeviceKey]bool, len(devs))
	for _, d := range devs {
		out[store.DeviceKey{Customer: d.Customer, Sensor: d.Sensor, Device: d.Device}] = true
	}
	return out
}

// Tick moves the alerts with the passing of time (Evaluator.Tick), after
// learning which firing alerts were acknowledged and which devices were
// removed.
func (e *Engine) Tick(ctx context.Context, now time.Time) []store.AlertChange {
	e.learnAcks(ctx)
	e.learnRemovals(ctx)
	return e.eval.Tick(ctx, now)
}
