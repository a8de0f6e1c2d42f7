package ingest_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sensorhub/sensorhub/internal/config"
	"github.com/sensorhub/sensorhub/internal/reading"
	"github.com/sensorhub/sensorhub/internal/store"
)

// FuzzIngest sends any message through the whole ingest path (the
// embedded queue, decoding, derived fields, a real SQLite store, the
// readings stream) followed by a good one, and asserts that every message
// is stored, found a duplicate or rejected with a reason, and that the
// next message is still stored: no message stops ingestion.
func FuzzIngest(f *testing.F) {
	for _, name := range []string{"air.jsonl", "centrale.jsonl", "devicev01.jsonl", "bad.jsonl"} {
		file, err := os.Open(filepath.Join("..", "..", "testdata", "payloads", name))
		if err != nil {
			f.Fatal(err)
		}
		sc := bufio.NewScanner(file)
		for sc.Scan() {
			line := sc.Bytes()
			var c struct{ Raw string }
			if json.Unmarshal(line, &c) == nil && c.Raw != "" {
				line = []byte(c.Raw)
			}
			f.Add("finemeca/x", append([]byte(nil), line...))
		}
		file.Close()
	}
	for _, p := range []string{
		`{"Customer":"finemeca","idDevice":1,"Mod":"weath","Time":1717200000000000,"Temp":1}`,
		`{"Customer":"finemeca","idDevice":1,"Mod":"weath","Time":"0000-01-01 00:00:00","Temp":1}`,
		`{"Customer":"finemeca","idDevice":1,"Mod":"weath","Time":"2024-10-27 02:30:00","msgCount":1e30,"Temp":1}`,
		`{"Customer":"finemeca","idDevice":"a\u0000b","Mod":"weath","Temp":1}`,
		`{"Customer":"finemeca","idDevice":1,"Mod":"centrale","E":-1e308,"P":1e308}`,
	} {
		f.Add("finemeca/x", []byte(p))
	}
	f.Add("finemeca/\x00", []byte(`{"Customer":"finemeca","idDevice":2,"Mod":"air","Pres":1}`))

	p := startPipeline(f, config.Default(), 50, nil)
	// Each message ends as one of these.
	handled := func() float64 {
		return counter(f, p, "sensorhub_messages_stored_total") + counter(f, p, "sensorhub_messages_duplicate_total") +
			counter(f, p, "sensorhub_messages_rejected_total")
	}
	next := int64(0)
	sentinel := store.DeviceKey{Customer: "finemeca", Sensor: "devicev01", Device: "fuzz-sentinel"}
	f.Fuzz(func(t *testing.T, topic string, payload []byte) {
		next++
		before := handled()
		now := time.Now().UTC()
		good := fmt.Sprintf(`{"Customer":"finemeca","idDevice":"fuzz-sentinel","Mod":"weath","msgCount":%d,"Temp":%d}`, next, next)
		envs := []reading.Envelope{
			{Topic: topic, Payload: payload, Received: now, Source: "fuzz"},
			{Topic: "finemeca/sentinel", Payload: []byte(good), Received: now.Add(time.Microsecond), Source: "fuzz"},
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := p.fw.Forward(ctx, envs...); err != nil {
			t.Fatalf("the queue did not take the message: %v", err)
		}
		for {
			pts, _, err := p.st.Points(ctx, store.RawQuery{DeviceKey: sentinel, Field: "Temp", From: now.Add(-time.Second), To: now.Add(time.Second)})
			if err == nil && len(pts) > 0 && pts[len(pts)-1].Value == float64(next) && handled()-before >= 2 {
				break
			}
			if ctx.Err() != nil {
				t.Fatalf("after %q on %q: the next message is not stored (%v), %v messages handled of 2", payload, topic, err, handled()-before)
			}
			time.Sleep(5 * time.Millisecond)
		}
		if n := handled() - before; n != 2 {
			t.Fatalf("after %q on %q: %v outcomes for 2 messages", payload, topic, n)
		}
	})
}

// counter is the sum of a counter's values over its labels.
func counter(tb testing.TB, p *pipeline, name string) float64 {
	mfs, err := p.in.Metrics.Registry.Gather()
	if err != nil {
		tb.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum
}
