package notify_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/sensorhub/sensorhub/internal/alert/notify"
	"github.com/sensorhub/sensorhub/internal/testenv"
)

// TestEmailLeakCost: a leak's cost is in its customer's currency, with
// the price of a Nm3; without a currency, the figures stand alone.
func TestEmailLeakCost(t *testing.T) {
	srv := testenv.StartSMTP(t)
	e := &notify.Email{Host: srv.Host, Port: srv.Port, From: "sensorhub@example.com", To: []string{"ops@example.com"}, TLS: "none", Location: time.UTC}
	backoff := notify.Backoff{Attempts: 1, First: 10 * time.Millisecond, Max: 10 * time.Millisecond}
	ev := leakEvent()
	// 16.8 Nm3 at 0.025: 0.42; 12 Nl/min for a day: 17.28 Nm3, 0.432.
	ev.Leak = &notify.Leak{Method: "decay", Seconds: 1400, LostNm3: ptr(16.8), FlowNlMin: ptr(12), Cost: ptr(0.42), CostPerDay: ptr(0.432), CostPerYear: ptr(157.68),
		VolumeL: 500, AtmosphericBar: 1.01325, CostPerNm3: 0.025, Currency: "EUR"}
	if _, err := notify.Send(context.Background(), e, ev, backoff, quiet); err != nil {
		t.Fatal(err)
	}
	ev.Leak.Currency = ""
	if _, err := notify.Send(context.Background(), e, ev, backoff, quiet); err != nil {
		t.Fatal(err)
	}
	msgs := srv.Messages(t)
	if len(msgs) != 2 {
		t.Fatalf("%d messages, want 2", len(msgs))
	}
	for i := range msgs {
		msgs[i] = decodeQP(t, msgs[i])
	}
	for _, want := range []string{"Air lost:  16.800 Nm3, normal cubic metres (0.42 EUR at 0.025 EUR per Nm3)", "If it goes on: 0.43 EUR per day, 158 EUR per year",
		"<td>16.800 Nm³ (normal cubic metres), 0.42 EUR at 0.025 EUR per Nm³</td>", "priced at 0.025 EUR per Nm³"} {
		if !strings.Contains(msgs[0], want) {
			t.Errorf("the e-mail lacks %q:\n%s", want, msgs[0])
		}
	}
	if !strings.Contains(msgs[1], "(0.42 at 0.025 per Nm3)") || strings.Contains(msgs[1], "EUR") {
		t.Errorf("without a currency the e-mail should give the figures alone:\n%s", msgs[1])
	}
}
