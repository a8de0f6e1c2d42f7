package app_test

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/sensorhub/sensorhub/internal/app"
	"github.com/sensorhub/sensorhub/internal/config"
	"github.com/sensorhub/sensorhub/internal/reading"
	"github.com/sensorhub/sensorhub/internal/store"
	"github.com/sensorhub/sensorhub/internal/testenv"
)

// compress encodes b as a sender with Content-Encoding coding would.
func compress(t *testing.T, coding string, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	var w io.WriteCloser
	switch coding {
	case "gzip":
		w = gzip.NewWriter(&buf)
	case "deflate":
		w = zlib.NewWriter(&buf)
	case "raw deflate":
		w, _ = flate.NewWriter(&buf, flate.DefaultCompression)
	}
	if _, err := w.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// postEncoded posts body with the Content-Encoding header and returns
// the status and the answer.
func postEncoded(t *testing.T, a *app.App, topic, encoding string, body []byte) (int, string) {
	t.Helper()
	req, err := http.NewRequest("POST", "http://"+a.HTTPAddr()+"/api/v1/ingest?topic="+url.QueryEscape(topic), bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-ndjson")
	req.Header.Set("Content-Encoding", encoding)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(answer)
}

// TestHTTPIngestEncodings: bodies sent with Content-Encoding gzip or
// deflate (zlib or raw) are decoded and stored; one that does not decode
// is refused (400) and one that decodes past http.max_body (413), each
// kept rejected with its reason and the bytes as sent; an unknown coding
// is refused (415).
func TestHTTPIngestEncodings(t *testing.T) {
	const maxBody = 256 << 10
	a := start(t, "embedded", app.Options{}, func(c *config.Config) { c.HTTP.MaxBody = maxBody })
	lines := payloadLines(t, "air.jsonl")
	plain := []byte(strings.Join(lines, "\n") + "\n")

	code, answer := postEncoded(t, a, "finemeca/air/201", "gzip", compress(t, "gzip", plain))
	var ack struct{ Accepted int }
	json.Unmarshal([]byte(answer), &ack)
	if code != http.StatusAccepted || ack.Accepted != len(lines) {
		t.Fatalf("gzip body: HTTP %d %s; want 202 and %d accepted", code, answer, len(lines))
	}
	for i, coding := range []string{"deflate", "raw deflate"} {
		msg := fmt.Sprintf(`{"Customer":"finemeca","idDevice":%d,"Mod":"air","Pres":6.%d,"OpenPres":6}`, 90+i, i+1)
		if code, answer := postEncoded(t, a, "finemeca/air", "deflate", compress(t, coding, []byte(msg))); code != http.StatusAccepted {
			t.Fatalf("%s body: HTTP %d %s", coding, code, answer)
		}
	}
	testenv.Eventually(t, 10*time.Second, 50*time.Millisecond, func() error {
		var devs []store.Device
		getJSON(t, a, "/api/v1/devices?sensor=air", &devs)
		got := map[string]int64{}
		for _, d := range devs {
			got[d.Device] = d.Readings
		}
		if got["201"] != int64(len(lines)) || got["90"] != 1 || got["91"] != 1 {
			return fmt.Errorf("air devices %v; want 201 with %d readings, 90 and 91 with one", got, len(lines))
		}
		return nil
	})

	// A gzip body cut short, and one that decodes to more than
	// http.max_body: each refused, and kept as sent.
	whole := compress(t, "gzip", plain)
	corrupt := whole[:len(whole)-12]
	if code, answer := postEncoded(t, a, "finemeca/air/corrupt", "gzip", corrupt); code != http.StatusBadRequest || !strings.Contains(answer, "kept") {
		t.Errorf("a gzip body cut short: HTTP %d %s; want 400, kept", code, answer)
	}
	bomb := compress(t, "gzip", bytes.Repeat([]byte(" "), 64*maxBody))
	if len(bomb) > maxBody {
		t.Fatalf("the bomb is %d bytes compressed, over http.max_body itself", len(bomb))
	}
	if code, answer := postEncoded(t, a, "finemeca/air/bomb", "gzip", bomb); code != http.StatusRequestEntityTooLarge || !strings.Contains(answer, "http.max_body") {
		t.Errorf("a gzip body of %d bytes decoding to %d: HTTP %d %s; want 413 naming http.max_body", len(bomb), 64*maxBody, code, answer)
	}
	if code, answer := postEncoded(t, a, "finemeca/air/br", "br", plain); code != http.StatusUnsupportedMediaType || !strings.Contains(answer, "br") {
		t.Errorf("Content-Encoding br: HTTP %d %s; want 415", code, answer)
	}
	want := map[string]struct {
		reason  string
		payload []byte
	}{
		"finemeca/air/corrupt": {"does not decode as gzip", corrupt},
		"finemeca/air/bomb":    {"decodes to more than", bomb},
	}
	var rejected []reading.Rejected
	testenv.Eventually(t, 10*time.Second, 50*time.Millisecond, func() error {
		var err error
		rejected, err = a.Store.Rejected(context.Background(), store.RejectedFilter{})
		if err != nil {
			return err
		}
		if len(rejected) != len(want) {
			return fmt.Errorf("%d rejected, want %d", len(rejected), len(want))
		}
		return nil
	})
	for _, r := range rejected {
		w, ok := want[r.Topic]
		if !ok || !strings.Contains(r.Reason, w.reason) || !bytes.Equal(r.Payload, w.payload) {
			t.Errorf("rejected on %s: %q, %d bytes; want the reason %q and the %d bytes sent", r.Topic, r.Reason, len(r.Payload), w.reason, len(w.payload))
		}
	}
}
