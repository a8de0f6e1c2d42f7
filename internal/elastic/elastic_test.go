package elastic_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sensorhub/sensorhub/internal/elastic"
	"github.com/sensorhub/sensorhub/internal/queue"
	"github.com/sensorhub/sensorhub/internal/queue/jetstream"
	"github.com/sensorhub/sensorhub/internal/store/storetest"
	"github.com/sensorhub/sensorhub/internal/testenv"
)

// cluster is an HTTP server that answers as Elasticsearch does to what the
// writer sends: the product check, the index template, and _bulk requests,
// which it parses line by line. It can fail whole requests with a status,
// or single items with 429.
type cluster struct {
	mu        sync.Mutex
	docs      map[string]map[string]any // index/_id -> document
	indexed   map[string]int            // index/_id -> times indexed
	templates map[string]json.RawMessage
	bulks     int
	failWith  int // status for every bulk request while set
	item429   int // items to refuse with 429
}

func (c *cluster) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Elastic-Product", "Elasticsearch")
	w.Header().Set("Content-Type", "application/json")
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case r.Method == http.MethodPut && strings.HasPrefix(r.URL.Path, "/_index_template/"):
		body, _ := io.ReadAll(r.Body)
		c.templates[strings.TrimPrefix(r.URL.Path, "/_index_template/")] = body
		fmt.Fprint(w, `{"acknowledged":true}`)
	case r.Method == http.MethodPost && r.URL.Path == "/_bulk":
		c.bulks++
		if c.failWith != 0 {
			w.WriteHeader(c.failWith)
			fmt.Fprint(w, `{"error":{"type":"unavailable"},"status":503}`)
			return
		}
		if ct := r.Header.Get("Content-Type"); ct != "application/x-ndjson" {
			w.WriteHeader(400)
			fmt.Fprintf(w, `{"error":"content type %s"}`, ct)
			return
		}
		var items []string
		sc := bufio.NewScanner(r.Body)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var meta map[string]struct {
				Index string `json:"_index"`
				ID    string `json:"_id"`
			}
			if err := json.Unmarshal(sc.Bytes(), &meta); err != nil || !sc.Scan() {
				w.WriteHeader(400)
				return
			}
			m := meta["index"]
			var doc map[string]any
			if err := json.Unmarshal(sc.Bytes(), &doc); err != nil {
				w.WriteHeader(400)
				return
			}
			if c.item429 > 0 {
				c.item429--
				items = append(items, `{"index":{"status":429,"error":{"type":"es_rejected_execution_exception","reason":"queue full"}}}`)
				continue
			}
			k := m.Index + "/" + m.ID
			c.docs[k] = doc
			c.indexed[k]++
			items = append(items, `{"index":{"status":201}}`)
		}
		fmt.Fprintf(w, `{"errors":false,"items":[%s]}`, strings.Join(items, ","))
	default:
		fmt.Fprint(w, `{"version":{"number":"8.19.0"},"tagline":"You Know, for Search"}`)
	}
}

func (c *cluster) set(f func()) { c.mu.Lock(); f(); c.mu.Unlock() }

func (c *cluster) count() int { c.mu.Lock(); defer c.mu.Unlock(); return len(c.docs) }

func TestIndexNames(t *testing.T) {
	brussels := storetest.Location
	for _, tc := range []struct {
		pattern string
		t       time.Time
		want    string
	}{
		{elastic.DefaultIndex, time.Date(2022, 4, 17, 21, 54, 0, 0, time.UTC), "finemeca-air-data-2022-4-17"},
		// 22:30 UTC is already the next day in Brussels.
		{elastic.DefaultIndex, time.Date(2022, 4, 17, 22, 30, 0, 0, time.UTC), "finemeca-air-data-2022-4-18"},
		{"sh-{customer}-{yyyy}.{MM}.{dd}", time.Date(2022, 1, 5, 12, 0, 0, 0, time.UTC), "sh-finemeca-2022.01.05"},
	} {
		if got := elastic.IndexName(tc.pattern, "FineMeca", "air", tc.t.In(brussels)); got != tc.want {
			t.Errorf("%s at %s: %s, want %s", tc.pattern, tc.t, got, tc.want)
		}
	}
	for _, bad := range []string{"everything", "{customer}-{week}", "Data-{customer}", "_{customer}", "a b-{customer}"} {
		if err := elastic.CheckIndex(bad); err == nil {
			t.Errorf("CheckIndex(%q) accepted it", bad)
		}
	}
	if err := elastic.CheckIndex(elastic.DefaultIndex); err != nil {
		t.Error(err)
	}
}

// TestWriterRetriesAndBackPressure runs the writer on the readings stream
// of an embedded queue against a cluster that first fails every bulk
// request with 503, then refuses some items with 429, then accepts: every
// reading ends up indexed once under its own id, in the index of its day,
// and while the cluster fails the readings wait in the queue.
func TestWriterRetriesAndBackPressure(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	es := &cluster{docs: map[string]map[string]any{}, indexed: map[string]int{}, templates: map[string]json.RawMessage{}, failWith: 503}
	srv := httptest.NewServer(es)
	defer srv.Close()

	q, err := jetstream.StartEmbedded(ctx, t.TempDir(), "", jetstream.Options{Prefix: testenv.Unique(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	rs := storetest.Payloads(t, "air.jsonl")
	for i := range rs {
		data, _ := json.Marshal(rs[i])
		if err := q.Publish(ctx, queue.Message{Stream: queue.Readings, Subject: rs[i].Subject(), Data: data}); err != nil {
			t.Fatal(err)
		}
	}
	w, err := elastic.New(elastic.Options{URLs: []string{srv.URL}, Location: storetest.Location, FlushInterval: 100 * time.Millisecond,
		FlushBytes: 300 * 4, MaxBackoff: time.Second, RetryBackoffUnit: time.Millisecond, Log: slog.New(slog.NewTextHandler(os.Stderr, nil))})
	if err != nil {
		t.Fatal(err)
	}
	cons, err := q.Consumer(ctx, queue.Readings, elastic.Group)
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); w.Run(runCtx, cons) }()

	// The cluster is down: requests are made and retried, nothing is
	// indexed, and the readings are still in the queue.
	testenv.Eventually(t, 10*time.Second, 20*time.Millisecond, func() error {
		es.mu.Lock()
		defer es.mu.Unlock()
		if es.bulks < 8 {
			return fmt.Errorf("%d bulk requests so far", es.bulks)
		}
		return nil
	})
	if n := es.count(); n != 0 {
		t.Fatalf("%d documents indexed by a failing cluster", n)
	}
	if p, err := cons.Pending(ctx); err != nil || p == 0 {
		stop()
		<-done
		t.Fatalf("while the cluster fails, pending=%d (%v): the readings left the queue", p, err)
	}

	es.set(func() { es.failWith, es.item429 = 0, 3 })
	testenv.Eventually(t, 20*time.Second, 50*time.Millisecond, func() error {
		if n := es.count(); n != len(rs) {
			return fmt.Errorf("%d of %d readings indexed", n, len(rs))
		}
		return nil
	})
	stop()
	<-done

	es.mu.Lock()
	defer es.mu.Unlock()
	for k, n := range es.indexed {
		if n != 1 {
			t.Errorf("%s indexed %d times", k, n)
		}
	}
	if es.item429 != 0 {
		t.Errorf("%d items were never refused", es.item429)
	}
	var tmpl struct {
		Patterns []string `json:"index_patterns"`
		Template struct {
			Mappings struct {
				Properties map[string]struct {
					Type string `json:"type"`
				} `json:"properties"`
			} `json:"mappings"`
		} `json:"template"`
	}
	if err := json.Unmarshal(es.templates["sensorhub-readings"], &tmpl); err != nil {
		t.Fatalf("index template %s: %v", es.templates["sensorhub-readings"], err)
	}
	if fmt.Sprint(tmpl.Patterns) != "[*-*-data-*-*-*]" || tmpl.Template.Mappings.Properties["@timestamp"].Type != "date" {
		t.Errorf("index template: %+v", tmpl)
	}
	r := rs[0]
	k := elastic.IndexName(elastic.DefaultIndex, r.Customer, r.Sensor, r.Time.In(storetest.Location)) + "/" + elastic.DocID(&r)
	doc := es.docs[k]
	if doc == nil {
		t.Fatalf("no document %s among %d", k, len(es.docs))
	}
	if doc["device"] != r.Device || doc["customer"] != "finemeca" || doc["Pres"] != r.Fields["Pres"] ||
		doc["@timestamp"] != r.Time.UTC().Format(time.RFC3339Nano) {
		t.Errorf("document %s: %v (reading %+v)", k, doc, r)
	}
	if !strings.HasPrefix(k, "finemeca-air-data-2022-") {
		t.Errorf("index %s", k)
	}
}
