package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/sensorhub/sensorhub/internal/httpjson"
	"github.com/sensorhub/sensorhub/internal/reading"
)

// HTTPIngest serves POST /api/v1/ingest?topic=: the body is one JSON
// object, or JSON lines, as a device would publish them over MQTT. Every
// message goes to the queue as it is, invalid ones included, so that ingest
// keeps them with a reason; the answer comes once the queue has them all.
// A body sent with Content-Encoding gzip or deflate is decoded first, to
// at most MaxBody bytes; one that does not decode, or decodes to more, is
// kept rejected as it was sent (400, 413).
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
	if codings := contentCodings(r.Header.Values("Content-Encoding")); len(codings) > 0 {
		decoded, err := decodeBody(body, codings, h.MaxBody)
		var unsupported unsupportedEncoding
		switch {
		case errors.As(err, &unsupported):
			httpjson.Error(w, http.StatusUnsupportedMediaType, err.Error())
			return
		case errors.Is(err, errDecodedTooLarge):
			h.keepRejected(w, r, topic, now, body, http.StatusRequestEntityTooLarge,
				fmt.Sprintf("the %s body decodes to more than %d bytes (http.max_body)", strings.Join(codings, ", "), h.MaxBody))
			return
		case err != nil:
			h.keepRejected(w, r, topic, now, body, http.StatusBadRequest,
				fmt.Sprintf("the body does not decode as %s (Content-Encoding): %v", strings.Join(codings, ", "), err))
			return
		}
		body = decoded
	}
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
		queueUnavailable(w, err)
		return
	}
	httpjson.Write(w, http.StatusAccepted, map[string]any{"accepted": len(envs), "topic": topic})
}

// keepRejected puts a body the gateway cannot take as messages on the
// queue as one, as it was sent, for ingest to keep rejected with its
// reason; the sender is told the reason with status.
func (h *HTTPIngest) keepRejected(w http.ResponseWriter, r *http.Request, topic string, now time.Time, body []byte, status int, reason string) {
	ctx, cancel := context.WithTimeout(r.Context(), SenderWait)
	defer cancel()
	env := reading.Envelope{Topic: topic, Payload: body, Received: now, Source: "http", Customer: BoundCustomer(r.Context()), Reason: reason}
	if err := h.Forwarder.Forward(ctx, env); err != nil {
		queueUnavailable(w, err)
		return
	}
	httpjson.Error(w, status, reason+"; the body is kept with the rejected messages")
}

// queueUnavailable tells the sender that the queue took nothing of its
// request, and to send it again.
func queueUnavailable(w http.ResponseWriter, err error) {
	w.Header().Set("Retry-After", "30")
	httpjson.Error(w, http.StatusServiceUnavailable, "queue unavailable, nothing was taken; send again later: "+err.Error())
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
