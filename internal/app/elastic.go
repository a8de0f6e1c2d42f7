package app

import (
	"context"
	"log/slog"

	"github.com/sensorhub/sensorhub/internal/config"
	"github.com/sensorhub/sensorhub/internal/elastic"
	"github.com/sensorhub/sensorhub/internal/metrics"
	"github.com/sensorhub/sensorhub/internal/queue"
	"github.com/sensorhub/sensorhub/internal/web"
)

// elasticStage writes the readings stream to Elasticsearch, in the
// original's index naming, for Kibana users. It runs beside ingest when
// the configuration names a cluster.
type elasticStage struct {
	w   *elastic.Writer
	q   queue.Queue
	log *slog.Logger
	workers
}

func newElasticStage(cfg *config.Config, q queue.Queue, m *metrics.Metrics, log *slog.Logger) (*elasticStage, error) {
	es := cfg.Elasticsearch
	log = log.With("stage", "elasticsearch")
	w, err := elastic.New(elastic.Options{URLs: es.URLs, Username: es.Username, Password: es.Password, APIKey: es.APIKey,
		Index: es.Index, FlushBytes: int(es.FlushBytes), FlushInterval: es.FlushInterval, Location: cfg.Location(),
		Registry: m.Registry, Log: log})
	if err != nil {
		return nil, err
	}
	return &elasticStage{w: w, q: q, log: log}, nil
}

func (s *elasticStage) start(ctx context.Context) error {
	cons, err := s.q.Consumer(ctx, queue.Readings, elastic.Group)
	if err != nil {
		return err
	}
	s.runLogged(s.log, "Elasticsearch writer", func(ctx context.Context) error { return s.w.Run(ctx, cons) })
	return nil
}

func (s *elasticStage) serve(api *web.Server) {
	api.Checks = append(api.Checks, web.Check{Name: "elasticsearch", Fn: s.w.Ping})
}
