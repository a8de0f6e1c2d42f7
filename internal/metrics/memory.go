package metrics

import (
	"math"
	"runtime/debug"

	"github.com/prometheus/client_golang/prometheus"
)

var (
	cacheBytes = prometheus.NewDesc("sensorhub_memory_cache_bytes",
		"What each of sensorhub's caches holds, in bytes, within its share of the memory budget.", []string{"cache"}, nil)
	limitBytes = prometheus.NewDesc("sensorhub_memory_limit_bytes",
		"The Go runtime's soft memory limit (from memory, the cgroup or GOMEMLIMIT); 0 for none.", nil, nil)
)

// memory collects the memory limit and what the caches hold, asked of
// each cache when scraped.
type memory struct {
	caches []func() map[string]int64
}

func (c *memory) Describe(ch chan<- *prometheus.Desc) {
	ch <- cacheBytes
	ch <- limitBytes
}

func (c *memory) Collect(ch chan<- prometheus.Metric) {
	limit := debug.SetMemoryLimit(-1)
	if limit == math.MaxInt64 {
		limit = 0
	}
	ch <- prometheus.MustNewConstMetric(limitBytes, prometheus.GaugeValue, float64(limit))
	for _, fn := range c.caches {
		for name, n := range fn() {
			ch <- prometheus.MustNewConstMetric(cacheBytes, prometheus.GaugeValue, float64(n), name)
		}
	}
}

// Caches adds the caches fn reports, by name, to the
// sensorhub_memory_cache_bytes gauges. Call it before the metrics are
// served.
func (m *Metrics) Caches(fn func() map[string]int64) {
	m.memory.caches = append(m.memory.caches, fn)
}
