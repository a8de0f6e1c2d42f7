package app

import (
	"context"
	"log/slog"
	"sync"

	"github.com/sensorhub/sensorhub/internal/web"
)

// A stage is one part of the data path that a process runs. The App
// starts the stages of its roles in data-path order and stops them in
// reverse.
type stage interface {
	// start starts the stage's work, which goes on until stop.
	start(ctx context.Context) error
	// serve adds the stage's readiness checks and routes to the API.
	serve(api *web.Server)
	// stop stops the stage, waiting for the work in hand until ctx ends.
	stop(ctx context.Context)
}

// workers runs a stage's goroutines on a context of their own, which
// stop ends before it waits for them.
type workers struct {
	cancel context.CancelFunc
	ctx    context.Context
	wg     sync.WaitGroup
}

// run runs f on the workers' context, created on first use.
func (w *workers) run(f func(ctx context.Context)) {
	if w.ctx == nil {
		w.ctx, w.cancel = context.WithCancel(context.Background())
	}
	w.wg.Go(func() { f(w.ctx) })
}

// runLogged runs f like run, and logs the error it stops with.
func (w *workers) runLogged(log *slog.Logger, what string, f func(ctx context.Context) error) {
	w.run(func(ctx context.Context) {
		if err := f(ctx); err != nil {
			log.Error(what+" stopped", "err", err)
		}
	})
}

// stop ends the workers' context and waits for them until ctx ends.
func (w *workers) stop(ctx context.Context) {
	if w.cancel == nil {
		return
	}
	w.cancel()
	done := make(chan struct{})
	go func() {
		w.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
	}
}
