package app

import (
	"context"
	"log/slog"
	"time"

	"github.com/sensorhub/sensorhub/internal/metrics"
	"github.com/sensorhub/sensorhub/internal/store"
	"github.com/sensorhub/sensorhub/internal/web"
)

// retentionStage removes what is past its age (store.retention): once at
// start, in the background, then every store.retention.every. It runs in
// the process that runs ingest, beside the writes it never holds up for
// long (a device-day a transaction).
type retentionStage struct {
	st     store.Lifecycle
	policy store.Retention
	every  time.Duration
	m      *metrics.Metrics
	log    *slog.Logger
	// now is the clock; time.Now when nil.
	now func() time.Time
	workers
}

func (s *retentionStage) start(context.Context) error {
	s.run(func(ctx context.Context) {
		for {
			s.once(ctx)
			select {
			case <-ctx.Done():
				return
			case <-time.After(s.every):
			}
		}
	})
	return nil
}

// once runs the retention job once, and logs and counts what it removed.
func (s *retentionStage) once(ctx context.Context) {
	now := time.Now()
	if s.now != nil {
		now = s.now()
	}
	start := time.Now()
	removed, err := s.st.ApplyRetention(ctx, s.policy, now)
	for what, n := range map[string]int64{"readings": removed.Readings, "hourly": removed.HourlyDays, "daily": removed.DailyDays,
		"rejected": removed.Rejected, "alerts": removed.Alerts, "audit": removed.Audit} {
		s.m.RetentionRemoved.WithLabelValues(what).Add(float64(n))
	}
	if err != nil && ctx.Err() == nil {
		s.log.Error("retention stopped before its end; it goes on at its next run", "err", err, "removed", removed)
		return
	}
	if removed != (store.Removed{}) {
		s.log.Info("retention removed what is past its age", "readings", removed.Readings, "hourly_days", removed.HourlyDays,
			"daily_days", removed.DailyDays, "rejected", removed.Rejected, "alerts", removed.Alerts, "audit", removed.Audit, "took", time.Since(start).Round(time.Millisecond))
	}
}

func (s *retentionStage) serve(*web.Server) {}
