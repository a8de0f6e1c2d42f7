package app

import (
	"context"
	"log/slog"
	"maps"
	"time"

	"github.com/sensorhub/sensorhub/internal/alert"
	"github.com/sensorhub/sensorhub/internal/alert/notify"
	"github.com/sensorhub/sensorhub/internal/catalog"
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
	p      *plan.Plan
	q      queue.Queue
	st     alert.Store
	leader *leader
	log    *slog.Logger
	workers
}

func newAlertStage(p *plan.Plan, q queue.Queue, st alert.Store, holder string, m *metrics.Metrics, log *slog.Logger) *alertStage {
	log = log.With("stage", "alert")
	notifiers := maps.Clone(p.Notifiers)
	notifiers[config.QueueNotifier] = &notify.Queue{Publisher: q}
	s := &alertStage{q: q, p: p, st: st, log: log, e: &alert.Engine{
		Rules: p.Rules, Store: st, Notifiers: notifiers, Always: []string{config.QueueNotifier}, NotifierCustomers: p.Config.NotifierCustomers(),
		Backoff: notify.DefaultBackoff, Every: p.Config.Alerts.EvaluateEvery, Location: p.Location, PublicURL: p.PublicURL,
		Metrics: m, Log: log, Progress: &health.Progress{},
	}}
	if ls, ok := st.(store.Leases); ok {
		s.leader = newLeader(ls, "alert", holder, p.Config.Alerts.FailoverAfter, m, log)
		s.e.Lease = &s.leader.lease
	}
	return s
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
	cs, live := s.st.(store.Catalog)
	var version int64
	if live {
		// The rules of the catalog too, before the states are loaded:
		// their alerts are not of rules taken out.
		if s.e.Rules, version, err = catalog.ReadRules(ctx, cs, s.p, s.log); err != nil {
			cons.Close()
			return err
		}
	}
	if err := s.e.Load(ctx); err != nil {
		cons.Close()
		return err
	}
	watch := func(ctx context.Context) error {
		catalog.Watch(ctx, cs, s.p, version, catalogPoll, s.log, func(v int64, rules []*alert.Rule) {
			s.log.Info("the catalog changed: its rules are applied from the next batch", "catalog_version", v)
			s.e.Apply(rules)
		})
		return nil
	}
	if s.leader != nil {
		defer cons.Close()
		if live {
			ctx, cancel := context.WithCancel(ctx)
			defer cancel()
			go watch(ctx)
		}
		return s.e.Run(ctx, cons)
	}
	if live {
		s.runLogged(s.log, "catalog", watch)
	}
	s.runLogged(s.log, "alerts", func(ctx context.Context) error { return s.e.Run(ctx, cons) })
	return nil
}

// catalogPoll is how often the alert stage reads the catalog's version:
// a rule changed through the API is applied within about that.
const catalogPoll = time.Second

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
