// Package health tells whether a stage makes progress. A stage that holds
// work it cannot finish (a batch its store refuses, a message its queue
// does not take) for longer than a bound is not ready, and /readyz says
// which stage and why, instead of answering ready while nothing moves.
package health

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// DefaultStall is how long a stage may hold work without finishing any
// before it is reported stuck.
const DefaultStall = 30 * time.Second

// Progress follows one stage's work. The zero value is ready to use; it
// reports a stall after DefaultStall unless Stall is set.
type Progress struct {
	Stall time.Duration
	// Now is the clock; time.Now when nil.
	Now func() time.Time

	mu      sync.Mutex
	pending int
	waiting uint64
	last    time.Time
	lastErr error
}

func (p *Progress) now() time.Time {
	if p.Now != nil {
		return p.Now()
	}
	return time.Now()
}

// Begin says a piece of work is in hand.
func (p *Progress) Begin() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.pending == 0 {
		p.last = p.now()
	}
	p.pending++
}

// End says a piece of work begun is over: done when ok, otherwise given
// up (handed back to the queue).
func (p *Progress) End(ok bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.pending > 0 {
		p.pending--
	}
	if ok {
		p.last, p.lastErr = p.now(), nil
	}
}

// Waiting says how many messages wait for the stage on its queue: waiting
// work that the stage does not take is held work too.
func (p *Progress) Waiting(n uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.waiting == 0 && p.pending == 0 && n > 0 {
		p.last = p.now()
	}
	p.waiting = n
}

// Failed records why the work in hand has not finished yet.
func (p *Progress) Failed(err error) {
	p.mu.Lock()
	p.lastErr = err
	p.mu.Unlock()
}

// Check returns an error while work has been in hand for longer than the
// stall bound without any finishing.
func (p *Progress) Check(context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	stall := p.Stall
	if stall <= 0 {
		stall = DefaultStall
	}
	if p.pending == 0 && p.waiting == 0 {
		return nil
	}
	idle := p.now().Sub(p.last)
	if idle < stall {
		return nil
	}
	msg := fmt.Sprintf("no progress for %s with work in hand", idle.Round(time.Second))
	if p.waiting > 0 {
		msg += fmt.Sprintf(" (%d messages waiting)", p.waiting)
	}
	if p.lastErr != nil {
		msg += ": " + p.lastErr.Error()
	}
	return fmt.Errorf("%s", msg)
}
