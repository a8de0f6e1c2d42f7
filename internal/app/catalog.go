package app

import (
	"context"
	"log/slog"
	"strconv"
	"time"

	"github.com/sensorhub/sensorhub/internal/catalog"
	"github.com/sensorhub/sensorhub/internal/plan"
	"github.com/sensorhub/sensorhub/internal/queue"
	"github.com/sensorhub/sensorhub/internal/store"
	"github.com/sensorhub/sensorhub/internal/web"
)

// catalogStage follows the catalog: when its version changes (an edit
// in the browser or over the API, in this process or another), it builds
// the plan again and puts it in force; each stage applies it between two
// batches. A change made in this process wakes it at once; one made in
// another reaches it through the queue (queue.Catalog), and, should that
// notice be lost, through its poll of the store.
type catalogStage struct {
	base catalog.Base
	cs   store.Catalog
	q    queue.Queue
	live *plan.Live
	log  *slog.Logger
	wake chan struct{}
	// poll, when set, replaces the poll's default period.
	poll time.Duration
	workers
}

const (
	// catalogPoll is how often a process that hears no notices on the
	// queue reads the catalog's version.
	catalogPoll = time.Second
	// catalogPollNoticed is how often one that hears them does: the
	// poll then only catches a notice lost.
	catalogPollNoticed = 5 * time.Second
)

func newCatalogStage(base catalog.Base, cs store.Catalog, q queue.Queue, live *plan.Live, log *slog.Logger) *catalogStage {
	return &catalogStage{base: base, cs: cs, q: q, live: live, log: log, wake: make(chan struct{}, 1)}
}

func (s *catalogStage) start(context.Context) error {
	seen := s.live.Load().Version
	poll := catalogPoll
	if tl, ok := s.q.(queue.Tailer); ok {
		poll = catalogPollNoticed
		if s.poll > 0 {
			poll = s.poll
		}
		s.runLogged(s.log, "catalog notices (the store is read every "+poll.String()+" instead)", func(ctx context.Context) error {
			return tl.Tail(ctx, queue.Catalog, func([]byte) { s.nudge() })
		})
	}
	s.run(func(ctx context.Context) {
		s.base.Follow(ctx, s.cs, seen, poll, s.wake, s.log, func(p *plan.Plan) {
			s.log.Info("the catalog changed: its new plan is in force from each stage's next batch", "catalog_version", p.Version)
			s.live.Store(p)
		})
	})
	return nil
}

// nudge makes Follow read the catalog's version now.
func (s *catalogStage) nudge() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// announce tells this process and, through the queue, every other one
// that the catalog is now of version v. A notice that cannot be
// published is logged: the others see the change at their next poll.
func (s *catalogStage) announce(ctx context.Context, v int64) {
	s.nudge()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	msg := queue.Message{Stream: queue.Catalog, Data: []byte(strconv.FormatInt(v, 10))}
	if err := s.q.Publish(ctx, msg); err != nil {
		s.log.Warn("cannot tell the other processes of the catalog's new version: they read it at their next poll of the store",
			"catalog_version", v, "poll", catalogPollNoticed, "err", err)
	}
}

func (s *catalogStage) serve(*web.Server) {}

// announcing is the store's catalog whose every change is announced.
type announcing struct {
	store.Catalog
	stage *catalogStage
}

func (a announcing) ChangeCatalog(ctx context.Context, by string, changes []store.CatalogChange) (int64, error) {
	v, err := a.Catalog.ChangeCatalog(ctx, by, changes)
	if err == nil {
		a.stage.announce(ctx, v)
	}
	return v, err
}
