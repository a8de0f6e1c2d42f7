package app

import (
	"cmp"
	"context"
	"log/slog"
	"strconv"
	"time"

	"github.com/sensorhub/sensorhub/internal/backoff"
	"github.com/sensorhub/sensorhub/internal/catalog"
	"github.com/sensorhub/sensorhub/internal/plan"
	"github.com/sensorhub/sensorhub/internal/queue"
	"github.com/sensorhub/sensorhub/internal/store"
	"github.com/sensorhub/sensorhub/internal/web"
)

// catalogStage follows the catalog: when its version changes (an edit
// in the browser or over the API, in this process or another), it builds
// the plan again and puts it in force; each stage applies it between two
// batches. A change made in this process wakes it at once, and one made
// in another reaches it through the queue (queue.Catalog); its poll of
// the store catches what no notice tells (a notice lost, the queue away,
// sensorhub catalog apply from the command line).
type catalogStage struct {
	base catalog.Base
	cs   store.Catalog
	q    queue.Queue
	live *plan.Live
	log  *slog.Logger
	wake chan struct{}
	// notices holds a change to announce to the other processes, sent
	// by a worker of its own: a queue that is slow to answer holds up
	// no request that saved a setting.
	notices chan int64
	// poll, when set, replaces catalogPoll.
	poll time.Duration
	workers
}

// catalogPoll is how often each process reads the catalog's version.
const catalogPoll = time.Second

func newCatalogStage(base catalog.Base, cs store.Catalog, q queue.Queue, live *plan.Live, log *slog.Logger) *catalogStage {
	return &catalogStage{base: base, cs: cs, q: q, live: live, log: log, wake: make(chan struct{}, 1), notices: make(chan int64, 1)}
}

func (s *catalogStage) start(context.Context) error {
	seen := s.live.Load().Version
	poll := cmp.Or(s.poll, catalogPoll)
	if tl, ok := s.q.(queue.Tailer); ok {
		s.run(func(ctx context.Context) {
			for ctx.Err() == nil {
				err := tl.Tail(ctx, queue.Catalog, func([]byte) { s.nudge() })
				if err != nil && ctx.Err() == nil {
					s.log.Warn("cannot hear the catalog's changes on the queue; the store is read every "+poll.String()+" meanwhile", "err", err)
					backoff.Sleep(ctx, 5*time.Second)
				}
			}
		})
	}
	s.run(func(ctx context.Context) {
		for {
			select {
			case <-ctx.Done():
				return
			case v := <-s.notices:
				s.publish(ctx, v)
			}
		}
	})
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

// announce tells this process at once and, through the queue, every
// other one that the catalog is now of version v. It does not wait for
// the queue: a notice already waiting says as much (Follow reads the
// version from the store).
func (s *catalogStage) announce(v int64) {
	s.nudge()
	select {
	case s.notices <- v:
	default:
	}
}

// publish puts a notice on the queue. One that cannot be published is
// logged: the others see the change at their next poll of the store.
func (s *catalogStage) publish(ctx context.Context, v int64) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	msg := queue.Message{Stream: queue.Catalog, Data: []byte(strconv.FormatInt(v, 10))}
	if err := s.q.Publish(ctx, msg); err != nil {
		s.log.Warn("cannot tell the other processes of the catalog's new version: they read it at their next poll of the store",
			"catalog_version", v, "err", err)
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
		a.stage.announce(v)
	}
	return v, err
}
