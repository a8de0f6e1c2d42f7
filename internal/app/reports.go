package app

import (
	"context"
	"log/slog"

	"github.com/sensorhub/sensorhub/internal/alert/notify"
	"github.com/sensorhub/sensorhub/internal/metrics"
	"github.com/sensorhub/sensorhub/internal/plan"
	"github.com/sensorhub/sensorhub/internal/report"
	"github.com/sensorhub/sensorhub/internal/store"
	"github.com/sensorhub/sensorhub/internal/web"
)

// reportStage sends the scheduled reports (reports: in the
// configuration). It runs beside the alert stage, which owns the
// notifiers. Of several alert processes, the one holding the reports
// lease sends them.
type reportStage struct {
	s      *report.Scheduler
	leader *leader
	workers
}

func newReportStage(live *plan.Live, st store.Store, holder string, m *metrics.Metrics, log *slog.Logger) *reportStage {
	log = log.With("stage", "reports")
	p := live.Load()
	var l *leader
	if ls, ok := st.(store.Leases); ok {
		l = newLeader(ls, "reports", holder, p.Config.Alerts.FailoverAfter, m, log)
	}
	s := &reportStage{leader: l, s: &report.Scheduler{
		Source:    &report.Source{Store: st, Config: p.Config, Location: p.Location, Log: log},
		Outbox:    st,
		Schedules: p.Config.Reports,
		Mailers:   report.Mailers(p.Notifiers),
		PublicURL: p.PublicURL,
		Backoff:   notify.DefaultBackoff,
		Log:       log,
	}}
	live.OnChange(func(p *plan.Plan) {
		s.s.Apply(p.Config.Reports, report.Mailers(p.Notifiers), &report.Source{Store: st, Config: p.Config, Location: p.Location, Log: log})
	})
	return s
}

func (s *reportStage) start(context.Context) error {
	if s.leader == nil {
		s.run(s.s.Run)
		return nil
	}
	s.run(func(ctx context.Context) {
		s.leader.run(ctx, func(ctx context.Context) error {
			s.s.Run(ctx)
			return nil
		})
	})
	return nil
}

func (s *reportStage) serve(*web.Server) {}
