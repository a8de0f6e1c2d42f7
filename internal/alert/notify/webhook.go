package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"
)

// SignatureHeader carries "sha256=" and the hex HMAC-SHA256 of the body
// with the webhook's secret, when one is set.
const SignatureHeader = "X-Sensorhub-Signature"

// Webhook posts the event as JSON (the Event type's fields).
type Webhook struct {
	URL    string
	Secret string
	Client *http.Client
}

// Notify posts ev. 5xx answers, 429 and transport errors are worth a
// retry; other non-2xx answers are not.
func (w *Webhook) Notify(ctx context.Context, ev Event) (bool, error) {
	body, err := json.Marshal(ev)
	if err != nil {
		return false, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(body))
	if err != nil {
		return false, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "sensorhub")
	if w.Secret != "" {
		mac := hmac.New(sha256.New, []byte(w.Secret))
		mac.Write(body)
		req.Header.Set(SignatureHeader, "sha256="+hex.EncodeToString(mac.Sum(nil)))
	}
	client := w.Client
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	resp, err := client.Do(req)
	if err != nil {
		return true, fmt.Errorf("webhook %s: %w", w.URL, err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return false, nil
	case resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests:
		return true, fmt.Errorf("webhook %s: HTTP %d", w.URL, resp.StatusCode)
	}
	return false, fmt.Errorf("webhook %s: HTTP %d (not retried)", w.URL, resp.StatusCode)
}
