package app

import (
	"context"
	"log/slog"
	"time"

	"github.com/sensorhub/sensorhub/internal/catalog"
	"github.com/sensorhub/sensorhub/internal/plan"
	"github.com/sensorhub/sensorhub/internal/store"
	"github.com/sensorhub/sensorhub/internal/web"
)

// catalogStage follows the catalog: when its version changes (an edit
// in the browser or over the API, in this process or another), it builds
// the plan again and puts it in force; each stage applies it between two
// batches.
type catalogStage struct {
	base catalog.Base
	cs   store.Catalog
	live *plan.Live
	log  *slog.Logger
	workers
}

// catalogPoll is how often each process reads the catalog's version: a
// change is in force everywhere within about that.
const catalogPoll = time.Second

func (s *catalogStage) start(context.Context) error {
	seen := s.live.Load().Version
	s.run(func(ctx context.Context) {
		s.base.Follow(ctx, s.cs, seen, catalogPoll, s.log, func(p *plan.Plan) {
			s.log.Info("the catalog changed: its new plan is in force from each stage's next batch", "catalog_version", p.Version)
			s.live.Store(p)
		})
	})
	return nil
}

func (s *catalogStage) serve(*web.Server) {}
