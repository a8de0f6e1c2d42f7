package notify_test

import (
	"context"
	"io"
	"mime/quotedprintable"
	"strings"
	"testing"
	"time"

	"github.com/sensorhub/sensorhub/internal/alert/notify"
	"github.com/sensorhub/sensorhub/internal/testenv"
)

func ptr(v float64) *float64 { return &v }

// sendLeak sends ev by e-mail through a real SMTP server and returns the
// message, its quoted-printable bodies decoded.
func sendLeak(t *testing.T, ev notify.Event) string {
	t.Helper()
	srv := testenv.StartSMTP(t)
	e := &notify.Email{Host: srv.Host, Port: srv.Port, From: "sensorhub@example.com", To: []string{"ops@example.com"}, TLS: "none", Location: time.UTC}
	if _, err := notify.Send(context.Background(), e, ev, notify.Backoff{Attempts: 1}, quiet); err != nil {
		t.Fatal(err)
	}
	msgs := srv.Messages(t)
	if len(msgs) != 1 {
		t.Fatalf("%d messages, want 1", len(msgs))
	}
	return decodeQP(t, msgs[0])
}

// decodeQP decodes a message's quoted-printable bodies (its headers are
// plain ASCII), so that long lines read whole.
func decodeQP(t *testing.T, msg string) string {
	t.Helper()
	b, err := io.ReadAll(quotedprintable.NewReader(strings.NewReader(msg)))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestLeakEmail: the figures of a leak measured by pressure decay, with
// how they are computed and the installation figures used.
func TestLeakEmail(t *testing.T) {
	ev := leakEvent()
	// 500 l, 6.40 -> 5.72 bar at 1.01325 bar: 0.3356 Nm3 in 60 s,
	// 335.6 Nl/min; 0.02 per Nm3.
	ev.Leak = &notify.Leak{Method: "decay", Seconds: 60, LostNm3: ptr(0.33555), FlowNlMin: ptr(335.55), Cost: ptr(0.006711),
		CostPerDay: ptr(9.66), CostPerYear: ptr(3526.6), VolumeL: 500, AtmosphericBar: 1.01325, CostPerNm3: 0.02}
	m := sendLeak(t, ev)
	for _, want := range []string{
		"Leak, measured by pressure decay", "Air lost:  0.336 Nm3, normal cubic metres (0.01 at 0.02 per Nm3)", "Flow:      335.6 Nl/min, normal litres per minute",
		"If it goes on: 9.66 per day, 3,527 per year", "the installation's volume (500 l) x the pressure drop / the atmospheric pressure (1.01325 bar), priced at 0.02 per Nm³",
		"The opening pressure is the pressure the line's valve opens at",
	} {
		if !strings.Contains(m, want) {
			t.Errorf("the e-mail lacks %q:\n%s", want, m)
		}
	}
}

// TestUnmeasurableLeakEmail: a line held below its opening pressure has
// no pressure drop: the e-mail says the air lost is not measurable and
// why, never 0.
func TestUnmeasurableLeakEmail(t *testing.T) {
	ev := leakEvent()
	reason := "the line was already below its opening pressure at the first reading"
	ev.Leak = &notify.Leak{Method: "decay", Seconds: 3600, Reason: reason, VolumeL: 500, AtmosphericBar: 1.01325, CostPerNm3: 0.02}
	m := sendLeak(t, ev)
	for _, want := range []string{"Air lost:  not measurable: " + reason, "Flow:      not measurable", "If it goes on: not measurable", "<b>not measurable</b>: " + reason} {
		if !strings.Contains(m, want) {
			t.Errorf("the e-mail lacks %q:\n%s", want, m)
		}
	}
	for _, bad := range []string{"0.000 Nm3", "0.0 Nl/min", "not measurable Nl/min", "not measurable per day"} {
		if strings.Contains(m, bad) {
			t.Errorf("the e-mail says %q:\n%s", bad, m)
		}
	}
}
