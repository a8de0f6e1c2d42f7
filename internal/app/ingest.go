package app

import (
	"context"
	"log/slog"
	"time"

	"github.com/sensorhub/sensorhub/internal/health"
	"github.com/sensorhub/sensorhub/internal/ingest"
	"github.com/sensorhub/sensorhub/internal/metrics"
	"github.com/sensorhub/sensorhub/internal/plan"
	"github.com/sensorhub/sensorhub/internal/queue"
	"github.com/sensorhub/sensorhub/internal/store"
	"github.com/sensorhub/sensorhub/internal/web"
)

// ingestStage decodes the raw stream, stores the readings and publishes
// them on the readings stream; it also serves the replay of the raw
// stream, which is ingest done again.
type ingestStage struct {
	in  *ingest.Ingester
	q   queue.Queue
	log *slog.Logger
	workers
}

func newIngestStage(live *plan.Live, q queue.Queue, st store.Writer, m *metrics.Metrics, log *slog.Logger) *ingestStage {
	log = log.With("stage", "ingest")
	p := live.Load()
	s := &ingestStage{q: q, log: log, in: &ingest.Ingester{
		Decoder: p.Decoder, Formulas: p.Formulas, Store: st, Publisher: q, Metrics: m, Log: log,
		BatchSize: p.Config.Ingest.BatchSize, BatchWait: p.Config.Ingest.BatchWait, Progress: &health.Progress{},
	}}
	// A new customer's messages, a sensor kind's new formulas: from the
	// next batch.
	live.OnChange(func(p *plan.Plan) { s.in.Apply(p.Decoder, p.Formulas) })
	return s
}

func (s *ingestStage) start(ctx context.Context) error {
	cons, err := s.q.Consumer(ctx, queue.Raw, ingest.Group)
	if err != nil {
		return err
	}
	s.runLogged(s.log, "ingest", func(ctx context.Context) error { return s.in.Run(ctx, cons) })
	return nil
}

func (s *ingestStage) serve(api *web.Server) {
	api.Checks = append(api.Checks, web.Check{Name: "ingest", Fn: s.in.Progress.Check})
	if rd, ok := s.q.(queue.Reader); ok {
		api.ReplayRaw = func(ctx context.Context, from, to time.Time, sensor string) (any, error) {
			return s.in.Replay(ctx, rd, from, to, sensor)
		}
	}
}
