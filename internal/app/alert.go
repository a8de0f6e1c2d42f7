package app

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"time"

	"github.com/sensorhub/sensorhub/internal/alert"
	"github.com/sensorhub/sensorhub/internal/alert/notify"
	"github.com/sensorhub/sensorhub/internal/config"
	"github.com/sensorhub/sensorhub/internal/health"
	"github.com/sensorhub/sensorhub/internal/metrics"
	"github.com/sensorhub/sensorhub/internal/plan"
	"github.com/sensorhub/sensorhub/internal/queue"
	"github.com/sensorhub/sensorhub/internal/store"
	"github.com/sensorhub/sensorhub/internal/web"
)

// alertStage evaluates the alert rules on the readings stream and sends
// the notifications. Of several alert processes, the one holding the
// alert lease does; the others stand by.
type alertStage struct {
	e      *alert.Engine
	live   *plan.Live
	q      queue.Queue
	st     alert.Store
	leader *leader
	log    *slog.Logger
	workers
}

func newAlertStage(live *plan.Live, q queue.Queue, st alert.Store, holder string, m *metrics.Metrics, log *slog.Logger) *alertStage {
	log = log.With("stage", "alert")
	p := live.Load()
	s := &alertStage{q: q, live: live, st: st, log: log, e: &alert.Engine{
		Store: st, Always: []string{config.QueueNotifier},
		Backoff: notify.DefaultBackoff, Every: p.Config.Alerts.EvaluateEvery, Location: p.Location, PublicURL: p.PublicURL,
		Metrics: m, Log: log, Progress: &health.Progress{},
		Names: func(k store.DeviceKey) string {
			if meta := live.Load().Config.Meta(k.Customer, k.Sensor, k.Device); meta != nil {
				return meta.Name
			}
			return ""
		},
	}}
	if ls, ok := st.(store.Leases); ok {
		s.leader = newLeader(ls, "alert", holder, p.Config.Alerts.FailoverAfter, m, log)
		s.e.Lease = &s.leader.lease
	}
	// A change of the catalog reloads the engine's states only when it
	// changes what the rules are (a rule, a notifier, a sensor kind):
	// not for a new user or token.
	applied := rulesOf(p)
	live.OnChange(func(p *plan.Plan) {
		if now := rulesOf(p); now != applied {
			applied = now
			s.e.Apply(s.ruleset(p))
		}
	})
	return s
}

// rulesOf is what a plan's rules are made of, to compare two plans'.
func rulesOf(p *plan.Plan) string {
	b, err := json.Marshal(struct {
		Alerts    config.Alerts
		Sensors   map[string]*config.Sensor
		Customers []string
	}{p.Config.Alerts, p.Config.Sensors, p.Config.Customers})
	if err != nil {
		return fmt.Sprint(time.Now().UnixNano()) // unlike any other: applied
	}
	return string(b)
}

// ruleset is the plan's rules and notifiers, with the queue's own.
func (s *alertStage) ruleset(p *plan.Plan) alert.Ruleset {
	notifiers := maps.Clone(p.Notifiers)
	notifiers[config.QueueNotifier] = &notify.Queue{Publisher: s.q}
	return alert.Ruleset{Rules: p.Rules, Notifiers: notifiers, NotifierCustomers: p.Config.NotifierCustomers()}
}

func (s *alertStage) start(ctx context.Context) error {
	if s.leader == nil {
		return s.evaluate(ctx)
	}
	// The stream's position is taken now, whichever process will hold
	// the lease: readings sent from here on are evaluated.
	cons, err := s.open(ctx)
	if err != nil {
		return err
	}
	cons.Close()
	s.runLogged(s.log, "alerts", func(ctx context.Context) error {
		return s.leader.run(ctx, s.evaluate)
	})
	return nil
}

// evaluate opens the readings stream, loads the saved state and runs the
// engine until ctx ends (or, under the lease, it is lost).
func (s *alertStage) evaluate(ctx context.Context) error {
	cons, err := s.open(ctx)
	if err != nil {
		return err
	}
	// The rules in force now, before the states are loaded: their alerts
	// are not of rules taken out.
	rs := s.ruleset(s.live.Load())
	s.e.Rules, s.e.Notifiers, s.e.NotifierCustomers = rs.Rules, rs.Notifiers, rs.NotifierCustomers
	if err := s.e.Load(ctx); err != nil {
		cons.Close()
		return err
	}
	if s.leader != nil {
		defer cons.Close()
		return s.e.Run(ctx, cons)
	}
	s.runLogged(s.log, "alerts", func(ctx context.Context) error { return s.e.Run(ctx, cons) })
	return nil
}

// open opens the alert stage's consumer of the readings stream. On its
// first run, the alert stage starts at new readings: the readings the
// stream already holds are past, and would notify old events.
func (s *alertStage) open(ctx context.Context) (queue.Consumer, error) {
	open := s.q.Consumer
	if fn, ok := s.q.(queue.FromNow); ok {
		open = fn.ConsumerFromNow
	}
	return open(ctx, queue.Readings, alert.Group)
}

func (s *alertStage) serve(api *web.Server) {
	api.Checks = append(api.Checks, web.Check{Name: "alert", Fn: s.e.Progress.Check})
}
