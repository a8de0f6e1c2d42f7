// Package metrics holds sensorhub's Prometheus metrics. One Metrics value is
// made at start-up and passed to the stages that count.
package metrics

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Metrics are the counters, gauges and histograms of one process.
type Metrics struct {
	Registry *prometheus.Registry

	// Received counts messages the gateway put on the queue, by source.
	Received *prometheus.CounterVec
	// GatewayErrors counts failed attempts to put a message on the queue.
	GatewayErrors *prometheus.CounterVec
	// Stored counts readings written to the store.
	Stored prometheus.Counter
	// LastStored is when readings were last written to the store.
	LastStored prometheus.Gauge
	// Duplicates counts readings that were already stored.
	Duplicates prometheus.Counter
	// Rejected counts rejected messages, by a short reason class.
	Rejected *prometheus.CounterVec
	// Poison counts messages set aside because the store or the queue
	// refused them alone while taking the others, by stage.
	Poison *prometheus.CounterVec
	// QueueLag is how many messages of the raw stream wait for ingest: a
	// message alone or a gateway's lot of them counts one.
	QueueLag prometheus.Gauge
	// StoreWrite times one batch write.
	StoreWrite prometheus.Histogram
	// BatchSize is the number of messages per ingest batch.
	BatchSize prometheus.Histogram
	// AlertEvalErrors counts rule evaluations that failed on a reading, by
	// rule.
	AlertEvalErrors *prometheus.CounterVec
	// Notifications counts alert notifications by notifier and outcome.
	Notifications *prometheus.CounterVec
	// RetentionRemoved counts what the retention job removed, by what.
	RetentionRemoved *prometheus.CounterVec
	// DiskFree and DiskFloor are the free space of the store's disk and
	// the floor below which ingest holds.
	DiskFree, DiskFloor prometheus.Gauge
	// LeaseHeld is 1 for each lease (alert, reports) this process holds,
	// 0 while it stands by.
	LeaseHeld *prometheus.GaugeVec

	memory *memory
}

// New registers sensorhub's metrics and the Go runtime's on a new registry.
func New() *Metrics {
	r := prometheus.NewRegistry()
	m := &Metrics{
		Registry: r,
		Received: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sensorhub_messages_received_total",
			Help: "Messages received from devices and put on the queue, by source (mqtt, http).",
		}, []string{"source"}),
		GatewayErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sensorhub_gateway_queue_errors_total",
			Help: "Failed attempts to put a received message on the queue (retried, never dropped).",
		}, []string{"source"}),
		Stored: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sensorhub_messages_stored_total",
			Help: "Readings written to the store.",
		}),
		LastStored: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "sensorhub_messages_last_stored_timestamp_seconds",
			Help: "When readings were last written to the store, in Unix seconds (0 before the first): alert on time() minus it.",
		}),
		Duplicates: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sensorhub_messages_duplicate_total",
			Help: "Readings received again after they were stored (stored once).",
		}),
		Rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sensorhub_messages_rejected_total",
			Help: "Messages rejected and kept with their reason, by reason class.",
		}, []string{"reason"}),
		Poison: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sensorhub_poison_messages_total",
			Help: "Messages that the store or the queue refused alone while it took the others, set aside with the reason, by stage.",
		}, []string{"stage"}),
		QueueLag: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "sensorhub_queue_lag_messages",
			Help: "Messages of the raw stream not yet ingested (a gateway's lot of messages that came together counts one).",
		}),
		StoreWrite: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "sensorhub_store_write_seconds",
			Help:    "Time to write one batch to the store.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}),
		BatchSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "sensorhub_ingest_batch_messages",
			Help:    "Messages per ingest batch.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 14),
		}),
		AlertEvalErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sensorhub_alert_eval_errors_total",
			Help: "Rule evaluations that failed on a reading (a field missing or of the wrong kind), by rule.",
		}, []string{"rule"}),
		Notifications: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sensorhub_alert_notifications_total",
			Help: "Alert notifications by notifier and outcome (sent, failed).",
		}, []string{"notifier", "status"}),
		RetentionRemoved: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sensorhub_retention_removed_total",
			Help: "What the retention job removed past its age: readings (kept as aggregates), hourly and daily aggregates (device-days), rejected messages, alerts.",
		}, []string{"what"}),
		DiskFree: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "sensorhub_disk_free_bytes",
			Help: "Free space of the disk that holds the embedded store and queue.",
		}),
		DiskFloor: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "sensorhub_disk_floor_bytes",
			Help: "The free space below which ingest holds messages in the queue (store.min_free, at most 5% of the disk).",
		}),
		LeaseHeld: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "sensorhub_lease_held",
			Help: "1 when this process holds the lease (alert: evaluates the rules; reports: sends the scheduled reports), 0 while another does and this one stands by.",
		}, []string{"lease"}),
	}
	r.MustRegister(m.AlertEvalErrors, m.Notifications, m.RetentionRemoved, m.DiskFree, m.DiskFloor, m.LeaseHeld, m.Received, m.GatewayErrors, m.Stored, m.LastStored, m.Duplicates, m.Rejected, m.Poison, m.QueueLag, m.StoreWrite, m.BatchSize,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.memory = &memory{}
	r.MustRegister(m.memory)
	return m
}

// Scrape sums the series of one metric on the /metrics page of the
// sensorhub whose HTTP server is at addr (host:port); a name such as
// sensorhub_lease_held{lease="alert"} sums the series of those labels.
func Scrape(ctx context.Context, addr, name string) (float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/metrics", nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("%s/metrics: %s", addr, resp.Status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		return 0, fmt.Errorf("%s/metrics: %w", addr, err)
	}
	name, want, _ := strings.Cut(strings.TrimSuffix(name, "}"), "{")
	var sum float64
	if mf := families[name]; mf != nil {
		for _, m := range mf.GetMetric() {
			if !hasLabels(m, want) {
				continue
			}
			switch {
			case m.GetCounter() != nil:
				sum += m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				sum += m.GetGauge().GetValue()
			case m.GetUntyped() != nil:
				sum += m.GetUntyped().GetValue()
			}
		}
	}
	return sum, nil
}

// hasLabels says whether m has the labels of want, `a="x",b="y"`.
func hasLabels(m *dto.Metric, want string) bool {
	for _, pair := range strings.Split(want, ",") {
		k, v, ok := strings.Cut(pair, "=")
		if !ok {
			continue
		}
		k, v = strings.TrimSpace(k), strings.Trim(strings.TrimSpace(v), `"`)
		if !slices.ContainsFunc(m.GetLabel(), func(l *dto.LabelPair) bool { return l.GetName() == k && l.GetValue() == v }) {
			return false
		}
	}
	return true
}
