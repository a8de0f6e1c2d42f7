package app

import (
	"context"
	"log/slog"

	"github.com/sensorhub/sensorhub/internal/config"
	"github.com/sensorhub/sensorhub/internal/gateway"
	"github.com/sensorhub/sensorhub/internal/metrics"
	"github.com/sensorhub/sensorhub/internal/promapi"
	"github.com/sensorhub/sensorhub/internal/queue"
	"github.com/sensorhub/sensorhub/internal/store"
	"github.com/sensorhub/sensorhub/internal/web"
)

// webStage serves the API and the pages from the store, and the live
// stream from the readings stream.
type webStage struct {
	cfg *config.Config
	q   queue.Queue
	st  web.Store
	// fw puts replayed rejected messages back on the raw stream.
	fw  *gateway.Forwarder
	hub *web.Hub
	log *slog.Logger
	workers
}

func newWebStage(cfg *config.Config, q queue.Queue, st web.Store, m *metrics.Metrics, log *slog.Logger) *webStage {
	log = log.With("stage", "web")
	return &webStage{cfg: cfg, q: q, st: st, log: log,
		fw: &gateway.Forwarder{Publisher: q, Metrics: m, Log: log, MaxPayload: int(cfg.Ingest.MaxPayload)}}
}

// start follows the readings stream for the live stream, where the queue
// can be followed.
func (s *webStage) start(context.Context) error {
	tl, ok := s.q.(queue.Tailer)
	if !ok {
		return nil
	}
	s.hub = web.NewHub(s.log)
	s.hub.MaxPerUser = s.cfg.HTTP.MaxStreamsPerUser
	s.runLogged(s.log, "live updates", func(ctx context.Context) error { return tl.Tail(ctx, queue.Readings, s.hub.Publish) })
	return nil
}

func (s *webStage) serve(api *web.Server) {
	api.Store, api.Hub = s.st, s.hub
	api.Replay = func(ctx context.Context, f store.RejectedFilter) (int, error) {
		return gateway.ReplayRejected(ctx, s.st, s.fw, f)
	}
	if ps, ok := s.st.(promapi.Store); ok {
		opts := promapi.Options{Store: ps, Settings: s.cfg.HTTP.Prometheus, Log: s.log.With("api", "prometheus"),
			Config: func() *config.Config {
				if api.Plan == nil {
					return s.cfg
				}
				return api.Plan.Load().Config
			}}
		if api.Registry != nil {
			opts.Registerer = api.Registry
		}
		api.Prometheus = promapi.New(opts)
	}
}
