package app

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/sensorhub/sensorhub/internal/alert"
	"github.com/sensorhub/sensorhub/internal/alert/notify"
	"github.com/sensorhub/sensorhub/internal/config"
	"github.com/sensorhub/sensorhub/internal/health"
	"github.com/sensorhub/sensorhub/internal/metrics"
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

func newAlertStage(cfg *config.Config, q queue.Queue, st alert.Store, m *metrics.Metrics, log *slog.Logger) *alertStage {
	log = log.With("stage", "alert")
	return &alertStage{q: q, log: log, e: &alert.Engine{
		Rules: cfg.Rules(), Store: st, Notifiers: Notifiers(cfg, q), Always: []string{config.QueueNotifier},
		Backoff: notify.DefaultBackoff, Every: cfg.Alerts.EvaluateEvery, Location: cfg.Location(), PublicURL: cfg.PublicURL,
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

// Notifiers builds the configured notifiers and the queue's.
func Notifiers(cfg *config.Config, pub queue.Publisher) map[string]notify.Notifier {
	out := map[string]notify.Notifier{config.QueueNotifier: &notify.Queue{Publisher: pub}}
	for name, n := range cfg.Alerts.Notifiers {
		switch n.Type {
		case "email":
			out[name] = &notify.Email{Host: n.Host, Port: n.Port, Username: n.Username, Password: n.Password,
				From: n.From, To: n.To, TLS: n.TLS, Location: cfg.Location()}
		case "webhook":
			timeout := n.Timeout
			if timeout == 0 {
				timeout = 10 * time.Second
			}
			out[name] = &notify.Webhook{URL: n.URL, Secret: n.Secret, Client: &http.Client{Timeout: timeout}}
		}
	}
	return out
}
