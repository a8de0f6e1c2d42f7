package web

import (
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/sensorhub/sensorhub/internal/store"
)

// SummaryFresh is how old the overview's summary may be: the count of
// leaking devices reads every newest reading of the kinds with a leak
// field, and the fleet's counts sum every device's row, so each is worked
// out at most once in that time for a set of customers, not for every
// page shown: the overview of 50,000 devices costs what one of 100 does.
const SummaryFresh = 10 * time.Second

// fresh keeps values worked out for a set of customers (a scope) for
// SummaryFresh.
type fresh[V any] struct {
	mu sync.Mutex
	m  map[string]freshValue[V]
}

type freshValue[V any] struct {
	v  V
	at time.Time
}

// get returns the scope's value, working it out again when it is older
// than SummaryFresh.
func (c *fresh[V]) get(scope string, now time.Time, work func() (V, error)) (V, error) {
	c.mu.Lock()
	v, ok := c.m[scope]
	c.mu.Unlock()
	if ok && now.Sub(v.at) < SummaryFresh && !now.Before(v.at) {
		return v.v, nil
	}
	x, err := work()
	if err != nil {
		return x, err
	}
	c.mu.Lock()
	if c.m == nil || len(c.m) > 1000 {
		c.m = map[string]freshValue[V]{}
	}
	c.m[scope] = freshValue[V]{x, now}
	c.mu.Unlock()
	return x, nil
}

// scopeOf names the customers a filter is narrowed to.
func scopeOf(f store.DeviceFilter) string {
	if f.Customers == nil {
		return "*"
	}
	return "=" + strings.Join(f.Customers, "\x00")
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
	n, err = p.leaks.get(scopeOf(f), time.Now(), func() (int, error) {
		n := 0
		for _, k := range leakKinds {
			f.Sensor = k
			devs, err := p.Store.Devices(r.Context(), f)
			if err != nil {
				return 0, err
			}
			_, states := shownFields(p.config().Sensors[k])
			for _, d := range devs {
				if d.Latest != nil && setState(d.Latest.Fields, states) {
					n++
				}
			}
		}
		return n, nil
	})
	return n, true, err
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
