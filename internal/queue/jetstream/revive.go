package jetstream

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"syscall"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/nats-io/nats-server/v2/server"
)

// The embedded server stops writing a stream for good after a write error
// (a full disk): its publishes are never acknowledged, even once space is
// back. A watcher sees it in the server's health, says so in Ping, and
// restarts JetStream (which recovers every stream from its files) once the
// disk has room again, so that the pipeline resumes by itself.

// reviveFree is the free space the embedded queue's disk needs before
// JetStream is restarted after a write error: 64 MiB, or 5 % of a
// smaller disk (at least 1 MiB), so that a small disk that was grown or
// cleaned by a few MiB resumes too. Should it fill again, the watcher
// holds again and tries once more.
func reviveFree(size uint64) uint64 {
	return min(64<<20, max(1<<20, size/20))
}

// checkEvery is how often the embedded server's health is read.
const checkEvery = time.Second

type watcher struct {
	q   *Queue
	dir string

	mu     sync.Mutex
	broken error
	since  time.Time
	tried  time.Time

	stop chan struct{}
	done chan struct{}
}

func (q *Queue) watchEmbedded(dir string) {
	w := &watcher{q: q, dir: dir, stop: make(chan struct{}), done: make(chan struct{})}
	q.watch = w
	go w.run()
}

func (w *watcher) run() {
	defer close(w.done)
	t := time.NewTicker(checkEvery)
	defer t.Stop()
	for {
		select {
		case <-w.stop:
			return
		case <-t.C:
			w.check()
		}
	}
}

func (w *watcher) check() {
	ns := w.q.embedded
	var problem error
	if !ns.JetStreamEnabled() {
		problem = errors.New("JetStream is not running")
	} else if h := ns.Healthz(nil); h.StatusCode != 200 {
		problem = errors.New(h.Error)
	}
	w.mu.Lock()
	was := w.broken
	if problem == nil {
		w.broken = nil
		w.mu.Unlock()
		if was != nil {
			w.q.log.Info("embedded queue: writing again")
		}
		return
	}
	if was == nil {
		w.since = time.Now()
		w.q.log.Error("embedded queue: cannot store messages; nothing is acknowledged until it can", "err", problem, "dir", w.dir)
	}
	w.broken = problem
	free, size, ferr := space(w.dir)
	due := time.Since(w.tried) >= 10*time.Second
	w.mu.Unlock()
	if ferr != nil || free < reviveFree(size) || !due {
		return
	}
	w.mu.Lock()
	w.tried = time.Now()
	w.mu.Unlock()
	w.q.log.Warn("embedded queue: the disk has room again; restarting JetStream", "free", humanize.IBytes(free), "err", problem)
	if ns.JetStreamEnabled() {
		if err := ns.ShutdownJetStream(); err != nil {
			w.q.log.Error("embedded queue: stopping JetStream", "err", err)
			return
		}
	}
	if err := ns.EnableJetStream(&server.JetStreamConfig{StoreDir: w.dir, MaxStore: embeddedMaxStore, MaxMemory: embeddedMaxMemory}); err != nil {
		w.q.log.Error("embedded queue: restarting JetStream", "err", err)
	}
}

// err says why the embedded queue cannot store messages, or nil.
func (w *watcher) err() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.broken == nil {
		return nil
	}
	msg := fmt.Sprintf("embedded queue cannot store messages for %s: %v", time.Since(w.since).Round(time.Second), w.broken)
	if free, size, err := space(w.dir); err == nil {
		msg += fmt.Sprintf(" (%s free on %s; it resumes by itself once %s are free)", humanize.IBytes(free), w.dir, humanize.IBytes(reviveFree(size)))
	}
	return errors.New(msg)
}

func (w *watcher) close() {
	close(w.stop)
	<-w.done
}

// space is what the filesystem holding dir has free for this process,
// and its size.
func space(dir string) (free, size uint64, err error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, 0, err
	}
	return st.Bavail * uint64(st.Bsize), st.Blocks * uint64(st.Bsize), nil
}

// pingEmbedded adds the watcher's finding to a Ping.
func (q *Queue) pingEmbedded(context.Context) error {
	if q.watch == nil {
		return nil
	}
	return q.watch.err()
}
