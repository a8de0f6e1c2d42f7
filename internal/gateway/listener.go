package gateway

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/sensorhub/sensorhub/internal/backoff"
)

// keepAccepting is a listener that outlives accept errors (a process out
// of file descriptors, a connection reset before it was accepted): it
// waits and tries again, as net/http's server does, and only Close ends
// it. While accepts fail, Check says so.
type keepAccepting struct {
	net.Listener
	name string
	log  *slog.Logger

	mu      sync.Mutex
	failing error
	since   time.Time // the first failure in a row
	last    time.Time // the latest failure
	logged  time.Time
}

func (l *keepAccepting) Accept() (net.Conn, error) {
	for failures := 1; ; failures++ {
		c, err := l.Listener.Accept()
		if err == nil {
			l.mu.Lock()
			if l.failing != nil {
				l.log.Info("built-in MQTT broker accepts connections again", "listener", l.name)
			}
			l.failing = nil
			l.mu.Unlock()
			return c, nil
		}
		if errors.Is(err, net.ErrClosed) {
			return nil, err
		}
		delay := acceptBackoff.Delay(failures)
		now := time.Now()
		l.mu.Lock()
		if l.failing == nil {
			l.since = now
		}
		l.failing, l.last = err, now
		if now.Sub(l.logged) >= 10*time.Second {
			l.logged = now
			l.log.Error("built-in MQTT broker cannot accept connections; retrying", "listener", l.name, "err", err, "retry_in", delay)
		}
		l.mu.Unlock()
		time.Sleep(delay)
	}
}

// acceptBackoff spaces the retries of a listener that cannot accept (out
// of file descriptors): from 5ms up to a second.
var acceptBackoff = backoff.Policy{Initial: 5 * time.Millisecond, Max: time.Second}

// Check returns an error while accepting connections has failed for more
// than a second. Out of descriptors, an accept fails at once whether a
// client waits or not, at least every second as retried; an accept that
// waits longer without failing is a listener that works again, with no
// client yet.
func (l *keepAccepting) Check() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.failing != nil && time.Since(l.since) > time.Second && time.Since(l.last) < 2*time.Second {
		return fmt.Errorf("%s listener %s cannot accept connections for %s: %v", l.name, l.Addr(), time.Since(l.since).Round(time.Second), l.failing)
	}
	return nil
}
