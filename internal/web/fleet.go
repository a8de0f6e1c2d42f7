package web

import (
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/sensorhub/sensorhub/internal/store"
)

// LeakFresh is how old the overview's count of leaking devices may be:
// it reads every newest reading of the kinds with a leak field, so it is
// counted at most once in that time for a set of customers, not for every
// page shown.
const LeakFresh = 10 * time.Second

// leakCounts keeps the last count of leaking devices per set of customers.
type leakCounts struct {
	mu     sync.Mutex
	counts map[string]leakCount
}

type leakCount struct {
	n  int
	at time.Time
}

// leaking counts the devices the principal sees whose state field (a
// dashboard's mark_below, such as leak) is set in their newest reading;
// kinds is false when no sensor kind has one.
func (p *Pages) leaking(r *http.Request) (n int, kinds bool, err error) {
	var leakKinds []string
	for _, name := range p.config().SensorNames() {
		if _, states := shownFields(p.config().Sensors[name]); len(states) > 0 {
			leakKinds = append(leakKinds, name)
		}
	}
	if len(leakKinds) == 0 {
		return 0, false, nil
	}
	f := scoped(r, store.DeviceFilter{Latest: true})
	scope := "*"
	if f.Customers != nil {
		scope = "=" + strings.Join(f.Customers, "\x00")
	}
	now := time.Now()
	p.leaks.mu.Lock()
	c, ok := p.leaks.counts[scope]
	p.leaks.mu.Unlock()
	if ok && now.Sub(c.at) < LeakFresh {
		return c.n, true, nil
	}
	for _, k := range leakKinds {
		f.Sensor = k
		devs, err := p.Store.Devices(r.Context(), f)
		if err != nil {
			return 0, true, err
		}
		_, states := shownFields(p.config().Sensors[k])
		for _, d := range devs {
			if d.Latest != nil && setState(d.Latest.Fields, states) {
				n++
			}
		}
	}
	p.leaks.mu.Lock()
	if p.leaks.counts == nil || len(p.leaks.counts) > 1000 {
		p.leaks.counts = map[string]leakCount{}
	}
	p.leaks.counts[scope] = leakCount{n, now}
	p.leaks.mu.Unlock()
	return n, true, nil
}

// setState reports whether one of the state fields is set.
func setState(fields map[string]float64, states map[string]bool) bool {
	for f := range states {
		if fields[f] != 0 {
			return true
		}
	}
	return false
}
