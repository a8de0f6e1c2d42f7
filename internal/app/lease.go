package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/sensorhub/sensorhub/internal/backoff"
	"github.com/sensorhub/sensorhub/internal/metrics"
	"github.com/sensorhub/sensorhub/internal/store"
)

// leader runs a job in the one process, of those running the same stage,
// that holds its lease in the store; the others stand by and take over
// once the holder lets go or its lease expires.
type leader struct {
	leases  store.Leases
	lease   store.Lease
	ttl     time.Duration
	log     *slog.Logger
	metrics *metrics.Metrics

	mu     sync.Mutex
	holder string
}

// newLeader makes the leader of the lease name, which holds for ttl
// without renewal (alerts.failover_after): how long the processes standing
// by wait before one takes over from a holder that died. The holder
// renews it every third of that. me names this process as a holder; empty,
// it is named by its host and pid, and a process started again waits for
// its former self's lease to expire.
func newLeader(leases store.Leases, name, me string, ttl time.Duration, m *metrics.Metrics, log *slog.Logger) *leader {
	if me == "" {
		host, _ := os.Hostname()
		me = fmt.Sprintf("%s pid %d since %s", host, os.Getpid(), time.Now().UTC().Format(time.RFC3339))
	}
	return &leader{leases: leases, lease: store.Lease{Name: name, Holder: me}, ttl: ttl, log: log, metrics: m}
}

// dataDirHolder names the process that owns the data directory dir (its
// lock is taken) as a lease holder: the same name after a restart, so that
// a process killed and started again takes its own lease back at once
// instead of waiting for it to expire. The lock keeps any other process of
// this host from using the name meanwhile.
func dataDirHolder(dir string) string {
	host, _ := os.Hostname()
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	return "sensorhub of " + host + ":" + dir
}

// run runs job whenever this process holds the lease, with a context that
// ends as soon as it may no longer hold it, until ctx ends; then it gives
// the lease up so that another process takes over at once.
func (l *leader) run(ctx context.Context, job func(ctx context.Context) error) error {
	renew := l.ttl / 3
	failures := 0
	for ctx.Err() == nil {
		asked := time.Now()
		st, err := l.leases.AcquireLease(ctx, l.lease, l.ttl)
		if err != nil {
			if ctx.Err() == nil {
				failures++
				l.log.Warn("cannot read the "+l.lease.Name+" lease; trying again", "err", err)
			}
			backoff.Sleep(ctx, backoff.Default.Delay(failures))
			continue
		}
		failures = 0
		l.see(st)
		if st.Held {
			l.hold(ctx, asked.Add(st.Left), job)
			continue
		}
		select {
		case <-ctx.Done():
		case <-time.After(renew):
		}
	}
	return nil
}

// see notes who holds the lease, and says so when it changes.
func (l *leader) see(st store.LeaseState) {
	l.mu.Lock()
	changed := st.Holder != l.holder
	l.holder = st.Holder
	l.mu.Unlock()
	if l.metrics != nil {
		v := 0.0
		if st.Held {
			v = 1
		}
		l.metrics.LeaseHeld.WithLabelValues(l.lease.Name).Set(v)
	}
	switch {
	case !changed:
	case st.Held:
		l.log.Info("this process holds the "+l.lease.Name+" lease: it does the job", "holder", st.Holder)
	default:
		l.log.Info("standing by: another process holds the "+l.lease.Name+" lease", "holder", st.Holder, "takes_over_within", st.Left.Round(time.Second))
	}
}

// hold runs job while the lease is renewed; valid is when it expires as
// far as this process knows. The job is stopped a renewal before the
// lease could expire unrenewed, so that no two processes do it at once.
func (l *leader) hold(ctx context.Context, valid time.Time, job func(ctx context.Context) error) {
	jctx, stop := context.WithCancel(ctx)
	defer stop()
	renew := l.ttl / 3
	renewed := make(chan struct{})
	go func() {
		defer close(renewed)
		t := time.NewTicker(renew)
		defer t.Stop()
		for {
			select {
			case <-jctx.Done():
				return
			case <-t.C:
			}
			asked := time.Now()
			st, err := l.leases.AcquireLease(jctx, l.lease, l.ttl)
			switch {
			case jctx.Err() != nil:
				return
			case err == nil && st.Held:
				valid = asked.Add(st.Left)
			case err == nil:
				l.see(st)
				l.log.Warn("another process took the "+l.lease.Name+" lease; this one stands by", "holder", st.Holder)
				stop()
				return
			}
			if time.Until(valid) < renew {
				l.log.Warn("the "+l.lease.Name+" lease could not be renewed in time; this process stops the job and stands by", "err", err)
				stop()
				return
			}
		}
	}()
	err := job(jctx)
	stop()
	<-renewed
	if err != nil && !errors.Is(err, store.ErrLeaseLost) && ctx.Err() == nil {
		l.log.Error("the job under the "+l.lease.Name+" lease ended", "err", err)
	}
	l.see(store.LeaseState{})
	if ctx.Err() != nil {
		// A clean stop: another process takes over now, not in a ttl.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		if err := l.leases.ReleaseLease(rctx, l.lease); err != nil {
			l.log.Warn("giving up the "+l.lease.Name+" lease", "err", err)
		}
	}
}
