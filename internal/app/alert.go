package app

import (
	"context"
	"log/slog"
	"maps"

	"github.com/sensorhub/sensorhub/internal/alert"
	"github.com/sensorhub/sensorhub/internal/alert/notify"
	"github.com/sensorhub/sensorhub/internal/config"
	"github.com/sensorhub/sensorhub/internal/health"
	"github.com/sensorhub/sensorhub/internal/metrics"
	"github.com/sensorhub/sensorhub/internal/plan"
	"github.com/sensorhub/sensorhub/internal/queue"
	"github.com/sensorhub/sensorhub/internal/web"
)

// alertStage evaluates the alert rules on the readings stream and sends
// the notifications.
type alertStage struct {
	e   *alert.Engine
	q   queue.Queue
	log *slog.Logger
	workers
}

func newAlertStage(p *plan.Plan, q queue.Queue, st alert.Store, m *metrics.Metrics, log *slog.Logger) *alertStage {
	log = log.With("stage", "alert")
	notifiers := maps.Clone(p.Notifiers)
	notifiers[config.QueueNotifier] = &notify.Queue{Publisher: q}
	return &alertStage{q: q, log: log, e: &alert.Engine{
		Rules: p.Rules, Store: st, Notifiers: notifiers, Always: []string{config.QueueNotifier},
		Backoff: notify.DefaultBackoff, Every: p.Config.Alerts.EvaluateEvery, Location: p.Location, PublicURL: p.PublicURL,
		Metrics: m, Log: log, Progress: &health.Progress{},
	}}
}

func (s *alertStage) start(ctx context.Context) error {
	// On its first run, the alert stage starts at new readings: the
	// readings the stream already holds are past, and would notify old
	// events.
	open := s.q.Consumer
	if fn, ok := s.q.(queue.FromNow); ok {
		open = fn.ConsumerFromNow
	}
	cons, err := open(ctx, queue.Readings, alert.Group)
	if err != nil {
		return err
	}
	if err := s.e.Load(ctx); err != nil {
		return err
	}
	s.runLogged(s.log, "alerts", func(ctx context.Context) error { return s.e.Run(ctx, cons) })
	return nil
}

func (s *alertStage) serve(api *web.Server) {
	api.Checks = append(api.Checks, web.Check{Name: "alert", Fn: s.e.Progress.Check})
}
