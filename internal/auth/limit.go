package auth

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// AddressLimits bounds login attempts per client address: PerMinute a
// minute, with a burst of as many. An address unseen for 10 minutes is
// forgotten; past 10,000 addresses at once, all are.
type AddressLimits struct {
	PerMinute int

	mu     sync.Mutex
	byAddr map[string]*addressLimit
}

type addressLimit struct {
	*rate.Limiter
	seen time.Time
}

func (l *AddressLimits) get(addr string) *addressLimit {
	now := time.Now()
	if l.byAddr == nil || len(l.byAddr) > 10000 {
		l.byAddr = map[string]*addressLimit{} // a flood of addresses: start again
	}
	for k, a := range l.byAddr {
		if now.Sub(a.seen) > 10*time.Minute {
			delete(l.byAddr, k)
		}
	}
	a := l.byAddr[addr]
	if a == nil {
		per := max(l.PerMinute, 1)
		a = &addressLimit{Limiter: rate.NewLimiter(rate.Every(time.Minute/time.Duration(per)), per)}
		l.byAddr[addr] = a
	}
	a.seen = now
	return a
}

// Allow spends one attempt of addr; false when none is left.
func (l *AddressLimits) Allow(addr string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.get(addr).Allow()
}

// Exhausted reports, without spending one, whether addr has no attempt
// left.
func (l *AddressLimits) Exhausted(addr string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.get(addr).Tokens() < 1
}
