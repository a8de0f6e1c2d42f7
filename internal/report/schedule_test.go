package report_test

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/sensorhub/sensorhub/internal/alert/notify"
	"github.com/sensorhub/sensorhub/internal/config"
	"github.com/sensorhub/sensorhub/internal/report"
	"github.com/sensorhub/sensorhub/internal/testenv"
)

// TestScheduledWeeklyReport: a real SMTP server gets exactly one weekly
// report, at the schedule's local time after the week (an injected
// clock), with its charts as inline PNG images and its tables attached as
// CSV; a new schedule does not send the weeks before it; a restart across
// the send time sends nothing twice; a week whose time passed while
// sensorhub was down is sent once when it is back.
func TestScheduledWeeklyReport(t *testing.T) {
	src, st := fixture(t)
	smtp := testenv.StartSMTP(t)
	mailer := &notify.Email{Host: smtp.Host, Port: smtp.Port, From: "sensorhub@example.com", To: []string{"maintenance@example.com"}, TLS: "none", Location: brussels}
	clock := local(2025, 10, 27, 6, 59) // Monday, a minute before the report of the week of 20 October
	scheduler := func() *report.Scheduler {
		return &report.Scheduler{Source: src, Outbox: st, Mailers: map[string]report.Mailer{"ops": mailer}, PublicURL: "https://hub.example",
			Schedules: []config.ReportSchedule{{Name: "weekly", Customer: "finemeca", Every: "week", Day: "monday", At: "07:00", Notify: []string{"ops"}}},
			Backoff:   notify.Backoff{Attempts: 3, First: time.Millisecond, Max: time.Millisecond},
			Log:       slog.New(slog.NewTextHandler(io.Discard, nil)), Now: func() time.Time { return clock }}
	}
	ctx := context.Background()
	s := scheduler()
	s.Tick(ctx)
	if n := len(smtp.Raw()); n != 0 {
		t.Fatalf("at 06:59 on the first run: %d reports sent, want none (the week of 13 October was before the schedule)", n)
	}
	clock = local(2025, 10, 27, 7, 0)
	s.Tick(ctx)
	s.Tick(ctx)
	msgs := smtp.Raw()
	if len(msgs) != 1 {
		t.Fatalf("at 07:00: %d reports, want one", len(msgs))
	}
	raw, text := msgs[0], testenv.DecodeMail(t, msgs[0])
	for _, want := range []string{"Subject: Report finemeca, 2025-10-20 to 2025-10-26", "1,331.5 kWh", "+9.5 %", "36.0 kW", "2025-10-23 10:15:00",
		"https://hub.example/reports?customer=finemeca&from=2025-10-20T00%3A00%3A00%2B02%3A00", "centrale-atelier (301): 669 of 676 received, 7 lost", `src="cid:days.png"`} {
		if !strings.Contains(text, want) {
			t.Errorf("the report does not say %q:\n%.3000s", want, text)
		}
	}
	for _, want := range []string{"Content-Id: <days.png>", "Content-Id: <demand.png>", "Content-Id: <air.png>", "Content-Type: image/png",
		`filename="report-finemeca-2025-10-20-days.csv"`, `filename="report-finemeca-2025-10-20-quality.csv"`, `filename="report-finemeca-2025-10-20-air.csv"`} {
		if !strings.Contains(raw, want) {
			t.Errorf("the message has no %q", want)
		}
	}

	// A restart across the send time: nothing twice.
	clock = local(2025, 10, 27, 7, 30)
	scheduler().Tick(ctx)
	if n := len(smtp.Raw()); n != 1 {
		t.Fatalf("after a restart: %d reports, want still one", n)
	}
	// Down from Sunday to Tuesday: the week of 27 October, due on Monday
	// 3 November at 07:00, is sent once when sensorhub is back.
	clock = local(2025, 11, 4, 9, 0)
	s = scheduler()
	s.Tick(ctx)
	s.Tick(ctx)
	msgs = smtp.Raw()
	if len(msgs) != 2 || !strings.Contains(testenv.DecodeMail(t, msgs[1]), "Subject: Report finemeca, 2025-10-27 to 2025-11-02") {
		t.Fatalf("back after missing Monday's time: %d reports, want the week of 27 October once", len(msgs))
	}
}

// TestSendTimes: a weekly report goes on the schedule's weekday after the
// week, a monthly one on its day of the next month, at the local time.
func TestSendTimes(t *testing.T) {
	week := config.ReportSchedule{Every: "week", Day: "tuesday", At: "06:30"}
	if got := week.SendAt(local(2025, 10, 27, 0, 0), brussels); !got.Equal(local(2025, 10, 28, 6, 30)) {
		t.Errorf("weekly on Tuesday 06:30 after the week to 27 October: %s", got)
	}
	month := config.ReportSchedule{Every: "month", Day: "2"}
	if got := month.SendAt(local(2025, 11, 1, 0, 0), brussels); !got.Equal(local(2025, 11, 2, 7, 0)) {
		t.Errorf("monthly on the 2nd at 07:00 after October: %s", got)
	}
	if p := report.Due(&month, local(2025, 11, 2, 6, 59), brussels); !p.From.Equal(local(2025, 9, 1, 0, 0)) {
		t.Errorf("due on 2 November 06:59: the month from %s, want September", p.From)
	}
	if p := report.Due(&month, local(2025, 11, 2, 7, 0), brussels); !p.From.Equal(local(2025, 10, 1, 0, 0)) {
		t.Errorf("due on 2 November 07:00: the month from %s, want October", p.From)
	}
}

// TestScheduleLogsItsNextSend: at start, each schedule says when it sends
// next.
func TestScheduleLogsItsNextSend(t *testing.T) {
	src, st := fixture(t)
	var logs testenv.SyncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	s := &report.Scheduler{Source: src, Outbox: st, Log: slog.New(slog.NewTextHandler(&logs, nil)),
		Schedules: []config.ReportSchedule{{Name: "weekly", Customer: "finemeca", Every: "week", At: "07:00", Notify: []string{"ops"}}},
		Now:       func() time.Time { return local(2025, 10, 29, 12, 0) }}
	cancel()
	s.Run(ctx)
	if !strings.Contains(logs.String(), `msg="report scheduled" report=weekly`) || !strings.Contains(logs.String(), "next=2025-11-03T07:00:00+01:00") {
		t.Errorf("the log at start:\n%s", logs.String())
	}
}
