package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/sensorhub/sensorhub/internal/httpjson"
	"github.com/sensorhub/sensorhub/internal/reading"
)

// HTTPIngest serves POST /api/v1/ingest?topic=: the body is one JSON
// object, or JSON lines, as a device would publish them over MQTT. Every
// message goes to the queue as it is, invalid ones included, so that ingest
// keeps them with a reason; the answer comes once the queue has them all.
type customerKey struct{}

// WithCustomer binds the messages of a request to one customer (that of
// the ingest token that sent them): a message naming another is rejected.
func WithCustomer(ctx context.Context, customer string) context.Context {
	return context.WithValue(ctx, customerKey{}, customer)
}

// BoundCustomer is the customer a request's messages are bound to, or "".
func BoundCustomer(ctx context.Context) string {
	c, _ := ctx.Value(customerKey{}).(string)
	return c
}

type HTTPIngest struct {
	Forwarder *Forwarder
	MaxBody   int64
}

// SenderWait bounds how long a sender is held while the queue does not
// take its messages: then it is told so (HTTP 503, or no MQTT
// acknowledgement) and sends again later.
const SenderWait = 30 * time.Second

// DefaultHTTPTopic is the topic given to messages posted without one.
const DefaultHTTPTopic = "http/ingest"

func (h *HTTPIngest) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		httpjson.Error(w, http.StatusMethodNotAllowed, "use POST with one JSON object or JSON lines")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.MaxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			httpjson.Error(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body larger than %d bytes (http.max_body); send fewer lines per request", h.MaxBody))
			return
		}
		httpjson.Error(w, http.StatusBadRequest, "reading body: "+err.Error())
		return
	}
	topic := r.URL.Query().Get("topic")
	if topic == "" {
		topic = DefaultHTTPTopic
	}
	now := time.Now().UTC()
	var envs []reading.Envelope
	for i, msg := range SplitMessages(body) {
		// A nanosecond apart, in order: two identical lines of one request
		// are two messages, not one delivered twice.
		envs = append(envs, reading.Envelope{Topic: topic, Payload: msg, Received: now.Add(time.Duration(i)), Source: "http",
			Customer: BoundCustomer(r.Context())})
	}
	if len(envs) == 0 {
		httpjson.Error(w, http.StatusBadRequest, "empty body: send one JSON object or JSON lines")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), SenderWait)
	defer cancel()
	if err := h.Forwarder.Forward(ctx, envs...); err != nil {
		w.Header().Set("Retry-After", "30")
		httpjson.Error(w, http.StatusServiceUnavailable, "queue unavailable, nothing was taken; send again later: "+err.Error())
		return
	}
	httpjson.Write(w, http.StatusAccepted, map[string]any{"accepted": len(envs), "topic": topic})
}

// SplitMessages splits a body into messages: the whole body when it is one
// JSON value (even spread over lines), otherwise each non-empty line.
func SplitMessages(body []byte) [][]byte {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return nil
	}
	if json.Valid(trimmed) {
		return [][]byte{trimmed}
	}
	var out [][]byte
	for _, line := range bytes.Split(trimmed, []byte("\n")) {
		if line = bytes.TrimSpace(line); len(line) > 0 {
			out = append(out, line)
		}
	}
	return out
}
