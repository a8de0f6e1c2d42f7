// Package backoff is the one retry policy of sensorhub: every stage that
// waits for a queue, a store or a notifier to come back waits this way,
// longer after each failure, up to a bound, and never past its context.
package backoff

import (
	"context"
	"math/rand/v2"
	"time"
)

// Policy is a bounded exponential backoff: the wait before attempt n+1 is
// Initial doubled n-1 times, at most Max, less up to Jitter of it so that
// many waiters do not retry in step.
type Policy struct {
	Initial, Max time.Duration
	// Jitter is the share of a wait taken off at random, from 0 to 1.
	Jitter float64
}

// Default waits 200ms after the first failure, then 400ms, 800ms... up
// to 5s.
var Default = Policy{Initial: 200 * time.Millisecond, Max: 5 * time.Second, Jitter: 0.2}

// Delay is the wait after the attempt-th failure (attempt counts from 1).
func (p Policy) Delay(attempt int) time.Duration {
	d := p.Initial
	for i := 1; i < attempt && d < p.Max; i++ {
		d *= 2
	}
	d = min(d, p.Max)
	if p.Jitter > 0 {
		d -= time.Duration(rand.Float64() * p.Jitter * float64(d))
	}
	return d
}

// Sleep waits d, or less if ctx ends; it reports whether the whole wait
// passed.
func Sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// Retry calls f until it succeeds, fails with an error that permanent
// says is not worth retrying, or ctx ends; after each failure it calls
// failed (to log it) and waits. It returns f's last error, or ctx's.
func (p Policy) Retry(ctx context.Context, f func() error, failed func(err error, attempt int), permanent func(error) bool) error {
	for attempt := 1; ; attempt++ {
		err := f()
		if err == nil {
			return nil
		}
		if permanent != nil && permanent(err) {
			return err
		}
		if ctx.Err() != nil {
			return err
		}
		if failed != nil {
			failed(err, attempt)
		}
		if !Sleep(ctx, p.Delay(attempt)) {
			return err
		}
	}
}
