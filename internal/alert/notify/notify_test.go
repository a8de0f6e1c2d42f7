package notify_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sensorhub/sensorhub/internal/alert/notify"
	"github.com/sensorhub/sensorhub/internal/locale"
	"github.com/sensorhub/sensorhub/internal/testenv"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func leakEvent() notify.Event {
	return notify.Event{
		ID: "a1", Rule: "air-leak", Severity: "critical", State: "firing",
		Customer: "finemeca", Sensor: "air", Device: "201", Name: "air-line-1",
		Time:   time.Date(2022, 5, 2, 6, 1, 30, 0, time.UTC),
		Values: map[string]float64{"Pres": 5.72, "OpenPres": 6}, Condition: "Pres < OpenPres",
		Message: "Air leak on air-line-1: 5.72 bar below the opening pressure 6 bar",
		URL:     "http://sensorhub.example/d/air?device=201",
	}
}

func TestEmail(t *testing.T) {
	srv := testenv.StartSMTP(t)
	srv.Refuse.Store(1) // the first attempt gets a temporary refusal
	loc, _ := time.LoadLocation("Europe/Brussels")
	e := &notify.Email{Host: srv.Host, Port: srv.Port, From: "sensorhub@example.com", To: []string{"ops@example.com"}, TLS: "none", Location: loc}
	n, err := notify.Send(context.Background(), e, leakEvent(), notify.Backoff{Attempts: 3, First: 10 * time.Millisecond, Max: 50 * time.Millisecond}, quiet)
	if err != nil || n != 2 {
		t.Fatalf("send: %d attempts, %v; want 2 attempts and success", n, err)
	}
	msgs, rcpt := srv.Messages(t), srv.Recipients()
	if len(msgs) != 1 || len(rcpt) != 1 || rcpt[0] != "ops@example.com" {
		t.Fatalf("%d messages to %v, want one to ops@example.com", len(msgs), rcpt)
	}
	m := msgs[0]
	for _, want := range []string{
		"Subject: [FIRING] air-leak: air 201 air-line-1", "multipart/alternative", "text/plain", "text/html",
		"2022-05-02 08:01:30 CEST", "Pres: 5.72", "OpenPres: 6", "Pres < OpenPres", "http://sensorhub.example/d/air?device=201",
	} {
		if !strings.Contains(m, want) {
			t.Errorf("the e-mail lacks %q:\n%s", want, m)
		}
	}
}

// TestEmailInLocale: with locale fr-BE, the time, the values and the
// leak's figures are written as a Belgian reads them, in both bodies.
func TestEmailInLocale(t *testing.T) {
	srv := testenv.StartSMTP(t)
	loc, _ := time.LoadLocation("Europe/Brussels")
	frBE, err := locale.Parse("fr-BE")
	if err != nil {
		t.Fatal(err)
	}
	e := &notify.Email{Host: srv.Host, Port: srv.Port, From: "sensorhub@example.com", To: []string{"ops@example.com"}, TLS: "none", Location: loc, Locale: frBE}
	ev := leakEvent()
	f := func(v float64) *float64 { return &v }
	ev.Leak = &notify.Leak{Method: "decay", Seconds: 600, LostNm3: f(1.23456), FlowNlMin: f(123.45), Cost: f(0.0617), CostPerDay: f(8.888), CostPerYear: f(3244.1),
		VolumeL: 1500, AtmosphericBar: 1.01325, CostPerNm3: 0.05}
	if _, err := notify.Send(context.Background(), e, ev, notify.Backoff{Attempts: 1}, quiet); err != nil {
		t.Fatal(err)
	}
	msgs := srv.Messages(t)
	if len(msgs) != 1 {
		t.Fatalf("%d messages, want one", len(msgs))
	}
	text, html, _ := strings.Cut(msgs[0], "text/html")
	for _, want := range []string{"2/05/2022 08:01:30 CEST", "Pres: 5,72", "OpenPres: 6", "the installation's volume (1\u00a0500 l)",
		"Air lost:  1,235 Nm3, normal cubic metres (0,06 at 0,05 per Nm3)", "Flow:      123,5 Nl/min", "8,89 per day, 3\u00a0244 per year"} {
		if !strings.Contains(text, want) {
			t.Errorf("the text lacks %q:\n%s", want, text)
		}
	}
	for _, want := range []string{"2/05/2022 08:01:30 CEST", "5,72", "1,235 Nm³", "123,5 Nl/min"} {
		if !strings.Contains(html, want) {
			t.Errorf("the HTML lacks %q:\n%s", want, html)
		}
	}
}

func TestEmailServerDown(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close() // nothing listens there now
	e := &notify.Email{Host: "127.0.0.1", Port: port, From: "a@example.com", To: []string{"b@example.com"}, TLS: "none"}
	n, err := notify.Send(context.Background(), e, leakEvent(), notify.Backoff{Attempts: 3, First: time.Millisecond, Max: time.Millisecond}, quiet)
	if err == nil || n != 3 {
		t.Fatalf("%d attempts, %v; want 3 attempts and an error", n, err)
	}
}

// TestWebhookRetries: a receiver that fails twice with 503 then accepts gets
// the alert once, after the retries, signed.
func TestWebhookRetries(t *testing.T) {
	var calls atomic.Int32
	var got []notify.Event
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mac := hmac.New(sha256.New, []byte("k3y"))
		mac.Write(body)
		if r.Header.Get(notify.SignatureHeader) != "sha256="+hex.EncodeToString(mac.Sum(nil)) {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		if calls.Add(1) <= 2 {
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		var ev notify.Event
		json.Unmarshal(body, &ev)
		mu.Lock()
		got = append(got, ev)
		mu.Unlock()
	}))
	defer srv.Close()
	w := &notify.Webhook{URL: srv.URL, Secret: "k3y"}
	n, err := notify.Send(context.Background(), w, leakEvent(), notify.Backoff{Attempts: 5, First: 5 * time.Millisecond, Max: 20 * time.Millisecond}, quiet)
	if err != nil || n != 3 {
		t.Fatalf("send: %d attempts, %v; want success on the third", n, err)
	}
	if len(got) != 1 || got[0].Rule != "air-leak" || got[0].Device != "201" || got[0].Values["Pres"] != 5.72 {
		t.Fatalf("received %+v, want the alert once", got)
	}
}

func TestWebhookClientErrorIsNotRetried(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		http.Error(w, "no such hook", http.StatusNotFound)
	}))
	defer srv.Close()
	_, err := notify.Send(context.Background(), &notify.Webhook{URL: srv.URL}, leakEvent(), notify.Backoff{Attempts: 5, First: time.Millisecond, Max: time.Millisecond}, quiet)
	if err == nil || calls.Load() != 1 {
		t.Fatalf("%d calls, %v; want one call and an error", calls.Load(), err)
	}
	if !strings.Contains(err.Error(), "404") {
		t.Errorf("error %v does not say what the receiver answered", err)
	}
	if errors.Is(err, context.Canceled) {
		t.Error("not a cancellation")
	}
}
