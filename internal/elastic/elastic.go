// Package elastic indexes readings into Elasticsearch beside the store, one
// document per reading, for users of Kibana dashboards built on the original
// system's indices. It reads the queue's readings stream with its own
// durable consumer and acknowledges a reading only once Elasticsearch has
// indexed it: while the cluster is down or overloaded, readings wait in the
// queue (back-pressure) instead of being dropped.
package elastic

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/elastic/go-elasticsearch/v8"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sensorhub/sensorhub/internal/backoff"
	"github.com/sensorhub/sensorhub/internal/queue"
	"github.com/sensorhub/sensorhub/internal/reading"
)

// Group is the durable consumer group of the writers on the readings
// stream.
const Group = "elasticsearch"

// Options configure a Writer.
type Options struct {
	URLs             []string
	Username         string
	Password         string
	APIKey           string
	Index            string // pattern, see IndexName
	FlushBytes       int
	FlushInterval    time.Duration
	Location         *time.Location
	Registry         prometheus.Registerer
	Log              *slog.Logger
	Transport        http.RoundTripper // for tests; nil uses the default
	MaxBackoff       time.Duration     // longest wait between tries while the cluster fails; default 30s
	RetryBackoffUnit time.Duration     // first wait of the client's retries of one request; default 100ms
}

// Writer indexes readings in bulk.
type Writer struct {
	opts     Options
	es       *elasticsearch.Client
	log      *slog.Logger
	indexed  prometheus.Counter
	rejected prometheus.Counter
	retried  prometheus.Counter
	template bool
}

// New makes a writer; it does not contact the cluster yet.
func New(opts Options) (*Writer, error) {
	if opts.Index == "" {
		opts.Index = DefaultIndex
	}
	if opts.FlushBytes <= 0 {
		opts.FlushBytes = 5 << 20
	}
	if opts.FlushInterval <= 0 {
		opts.FlushInterval = time.Second
	}
	if opts.Location == nil {
		opts.Location = time.UTC
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = 30 * time.Second
	}
	if opts.RetryBackoffUnit <= 0 {
		opts.RetryBackoffUnit = 100 * time.Millisecond
	}
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	unit := opts.RetryBackoffUnit
	es, err := elasticsearch.NewClient(elasticsearch.Config{
		Addresses: opts.URLs, Username: opts.Username, Password: opts.Password, APIKey: opts.APIKey,
		Transport: opts.Transport,
		// A whole request that meets an overloaded or restarting node is
		// sent again, after 100ms, 200ms, 400ms.
		RetryOnStatus: []int{429, 502, 503, 504},
		MaxRetries:    3,
		RetryBackoff:  func(i int) time.Duration { return unit << (i - 1) },
	})
	if err != nil {
		return nil, fmt.Errorf("elasticsearch: %w", err)
	}
	w := &Writer{opts: opts, es: es, log: log,
		indexed: prometheus.NewCounter(prometheus.CounterOpts{Name: "sensorhub_elasticsearch_indexed_total",
			Help: "Readings indexed into Elasticsearch."}),
		rejected: prometheus.NewCounter(prometheus.CounterOpts{Name: "sensorhub_elasticsearch_rejected_total",
			Help: "Readings Elasticsearch refused for good (such as a mapping conflict); they are kept in the store."}),
		retried: prometheus.NewCounter(prometheus.CounterOpts{Name: "sensorhub_elasticsearch_retried_total",
			Help: "Readings handed back to the queue to index again because Elasticsearch was down or overloaded."}),
	}
	if opts.Registry != nil {
		for _, c := range []prometheus.Collector{w.indexed, w.rejected, w.retried} {
			if err := opts.Registry.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return w, nil
}

// Run indexes the readings the consumer gives until ctx ends.
func (w *Writer) Run(ctx context.Context, cons queue.Consumer) error {
	var failures int
	// A message holds up to reading.StreamBytes of readings.
	maxMsgs := max(1, w.opts.FlushBytes/reading.StreamBytes)
	queue.Consume(ctx, cons, maxMsgs, w.opts.FlushInterval, w.log, func(ctx context.Context, ds []queue.Delivery) {
		if len(ds) == 0 {
			return
		}
		if !w.template {
			if err := w.PutTemplate(ctx); err != nil {
				queue.GiveBack(ctx, ds, w.retryIn(failures+1))
				w.wait(ctx, &failures, "putting the index template failed", err)
				return
			}
		}
		rs, keep, from := queue.ReadingsOf(ctx, ds, w.log)
		again, err := w.Index(ctx, rs)
		if err != nil {
			// Nothing was indexed for sure: everything goes back, and no
			// more is taken until the cluster answers.
			queue.GiveBack(ctx, keep, w.retryIn(failures+1))
			w.retried.Add(float64(len(keep)))
			w.wait(ctx, &failures, "Elasticsearch bulk request failed; the readings wait in the queue", err)
			return
		}
		// A message with a reading to index again goes back whole: the
		// others are indexed again under the same ids.
		retry := map[int]bool{}
		for _, i := range again {
			retry[from[i]] = true
		}
		for i, d := range keep {
			if retry[i] {
				d.Nak(ctx, w.retryIn(failures+1))
				continue
			}
			if err := d.Ack(ctx); err != nil && ctx.Err() == nil {
				w.log.Warn("acknowledging an indexed reading failed; it will be indexed again (same document)", "err", err)
			}
		}
		if len(again) > 0 {
			w.retried.Add(float64(len(again)))
			w.wait(ctx, &failures, "Elasticsearch is overloaded; readings it refused wait in the queue",
				fmt.Errorf("%d of %d readings refused with 429 or 5xx", len(again), len(keep)))
			return
		}
		failures = 0
	})
	return nil
}

// wait counts one more failure in a row, logs it, and sleeps the
// backoff that follows it.
func (w *Writer) wait(ctx context.Context, failures *int, msg string, err error) {
	*failures++
	next := w.retryIn(*failures)
	w.log.Warn(msg, "err", err, "retry_in", next)
	backoff.Sleep(ctx, next)
}

// retryIn is the wait after the failures-th failure in a row: from 1s,
// doubling, up to MaxBackoff.
func (w *Writer) retryIn(failures int) time.Duration {
	return backoff.Policy{Initial: time.Second, Max: w.opts.MaxBackoff}.Delay(failures)
}

// PutTemplate installs the index template that maps the readings' times
// as dates, their identity as keywords and their measurements as doubles.
func (w *Writer) PutTemplate(ctx context.Context) error {
	body, _ := json.Marshal(map[string]any{
		"index_patterns": []string{indexPattern(w.opts.Index)},
		"priority":       100,
		"_meta":          map[string]string{"created_by": "sensorhub"},
		"template": map[string]any{"mappings": map[string]any{
			"properties": map[string]any{
				"@timestamp": map[string]string{"type": "date"},
				"received":   map[string]string{"type": "date"},
				"customer":   map[string]string{"type": "keyword"},
				"sensor":     map[string]string{"type": "keyword"},
				"device":     map[string]string{"type": "keyword"},
				"name":       map[string]string{"type": "keyword"},
				"gateway":    map[string]string{"type": "keyword"},
				"flags":      map[string]string{"type": "keyword"},
				"msg_count":  map[string]string{"type": "long"},
				"rssi":       map[string]string{"type": "double"},
				"snr":        map[string]string{"type": "double"},
				"units":      map[string]any{"type": "object", "dynamic": true},
			},
			// A measurement that is 6 in one payload and 5.72 in the next
			// must not be mapped as a long by the first.
			"dynamic_templates": []any{
				map[string]any{"numbers": map[string]any{"match_mapping_type": "long", "mapping": map[string]string{"type": "double"}}},
				map[string]any{"strings": map[string]any{"match_mapping_type": "string", "mapping": map[string]string{"type": "keyword"}}},
			},
		}},
	})
	res, err := w.es.Indices.PutIndexTemplate("sensorhub-readings", bytes.NewReader(body), w.es.Indices.PutIndexTemplate.WithContext(ctx))
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.IsError() {
		msg, _ := io.ReadAll(io.LimitReader(res.Body, 4096))
		return fmt.Errorf("index template: %s: %s", res.Status(), msg)
	}
	w.template = true
	return nil
}

// Document is what one reading becomes: its identity, times and radio,
// and its measurements as top-level fields, as the original system wrote
// them.
func Document(r *reading.Reading) map[string]any {
	doc := make(map[string]any, len(r.Fields)+12)
	for k, v := range r.Fields {
		doc[k] = v
	}
	for k, v := range r.Strings {
		if _, taken := doc[k]; !taken {
			doc[k] = v
		}
	}
	doc["@timestamp"] = r.Time.UTC().Format(time.RFC3339Nano)
	doc["received"] = r.Received.UTC().Format(time.RFC3339Nano)
	doc["customer"], doc["sensor"], doc["device"] = r.Customer, r.Sensor, r.Device
	doc["msg_count"] = r.MsgCount
	if r.Name != "" {
		doc["name"] = r.Name
	}
	if r.Gateway != "" {
		doc["gateway"] = r.Gateway
	}
	if r.RSSI != nil {
		doc["rssi"] = *r.RSSI
	}
	if r.SNR != nil {
		doc["snr"] = *r.SNR
	}
	if len(r.Units) > 0 {
		doc["units"] = r.Units
	}
	if len(r.Flags) > 0 {
		doc["flags"] = r.Flags
	}
	return doc
}

// DocID is a reading's document id, from its identity: indexing it again
// replaces the document instead of adding a second one.
func DocID(r *reading.Reading) string {
	sum := sha256.Sum256([]byte(r.Key()))
	return hex.EncodeToString(sum[:16])
}

// Index sends the readings in one bulk request. It returns the positions
// of readings to send again (refused with 429 or 5xx); readings refused
// for good (a 4xx such as a mapping conflict) are logged and counted. An
// error means the request as a whole failed.
func (w *Writer) Index(ctx context.Context, rs []reading.Reading) ([]int, error) {
	if len(rs) == 0 {
		return nil, nil
	}
	var body bytes.Buffer
	enc := json.NewEncoder(&body)
	for i := range rs {
		r := &rs[i]
		meta := map[string]map[string]string{"index": {
			"_index": IndexName(w.opts.Index, r.Customer, r.Sensor, r.Time.In(w.opts.Location)),
			"_id":    DocID(r),
		}}
		if err := enc.Encode(meta); err != nil {
			return nil, err
		}
		if err := enc.Encode(Document(r)); err != nil {
			return nil, err
		}
	}
	res, err := w.es.Bulk(&body, w.es.Bulk.WithContext(ctx),
		w.es.Bulk.WithHeader(map[string]string{"Content-Type": "application/x-ndjson"}))
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	if res.IsError() {
		msg, _ := io.ReadAll(io.LimitReader(res.Body, 4096))
		return nil, fmt.Errorf("bulk: %s: %s", res.Status(), strings.TrimSpace(string(msg)))
	}
	var out struct {
		Errors bool `json:"errors"`
		Items  []map[string]struct {
			Status int `json:"status"`
			Error  *struct {
				Type   string `json:"type"`
				Reason string `json:"reason"`
			} `json:"error"`
		} `json:"items"`
	}
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil {
		return nil, fmt.Errorf("bulk response: %w", err)
	}
	if len(out.Items) != len(rs) {
		return nil, fmt.Errorf("bulk response has %d items for %d readings", len(out.Items), len(rs))
	}
	var again []int
	for i, item := range out.Items {
		for _, it := range item {
			switch {
			case it.Status < 300:
				w.indexed.Inc()
			case it.Status == http.StatusTooManyRequests || it.Status >= 500:
				again = append(again, i)
			default:
				w.rejected.Inc()
				reason := ""
				if it.Error != nil {
					reason = it.Error.Type + ": " + it.Error.Reason
				}
				w.log.Error("Elasticsearch refused a reading; it is kept in the store", "reading", rs[i].Key(),
					"status", it.Status, "reason", reason)
			}
		}
	}
	return again, nil
}

// Ping reports whether the cluster answers.
func (w *Writer) Ping(ctx context.Context) error {
	res, err := w.es.Ping(w.es.Ping.WithContext(ctx))
	if err != nil {
		return err
	}
	res.Body.Close()
	if res.IsError() {
		return errors.New(res.Status())
	}
	return nil
}
