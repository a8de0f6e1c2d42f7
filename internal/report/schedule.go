package report

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/sensorhub/sensorhub/internal/alert/notify"
	"github.com/sensorhub/sensorhub/internal/config"
	"github.com/sensorhub/sensorhub/internal/store"
)

// Mailer sends a message: an e-mail notifier.
type Mailer interface {
	Send(ctx context.Context, m notify.Mail) (retry bool, err error)
}

// Mailers are the e-mail notifiers of ns, which send reports.
func Mailers(ns map[string]notify.Notifier) map[string]Mailer {
	out := map[string]Mailer{}
	for name, n := range ns {
		if m, ok := n.(Mailer); ok {
			out[name] = m
		}
	}
	return out
}

// Scheduler sends the scheduled reports: each period of each schedule
// once, at its local day and time after the period ends. What it is to
// send is recorded first in the outbox (store.ReportOutbox), so that a
// restart sends nothing twice and a period whose time passed while
// sensorhub was down is sent once when it is back, not once per missed
// check. A new schedule starts with the periods that end after it.
type Scheduler struct {
	Source    *Source
	Outbox    store.ReportOutbox
	Schedules []config.ReportSchedule
	// Mailers are the e-mail notifiers by name.
	Mailers   map[string]Mailer
	PublicURL string
	Backoff   notify.Backoff
	Log       *slog.Logger
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Every is how often it looks; a minute when zero.
	Every time.Duration

	applied atomic.Pointer[applied]
}

// applied is what Apply gave, for the next tick.
type applied struct {
	schedules []config.ReportSchedule
	mailers   map[string]Mailer
	src       *Source
}

// Apply makes schedules, mailers and src the scheduler's from its next
// look on, without a restart. A report of a schedule taken out that was
// due and not yet sent is recorded as not sent, with the reason.
func (s *Scheduler) Apply(schedules []config.ReportSchedule, mailers map[string]Mailer, src *Source) {
	s.applied.Store(&applied{schedules: schedules, mailers: mailers, src: src})
}

func (s *Scheduler) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// Run looks for reports to send until ctx ends.
func (s *Scheduler) Run(ctx context.Context) {
	every := s.Every
	if every <= 0 {
		every = time.Minute
	}
	now := s.now()
	for i := range s.Schedules {
		sc := &s.Schedules[i]
		due := Due(sc, now, s.Source.Location)
		next := Week(due.To, s.Source.Location)
		if sc.Every == "month" {
			next = Month(due.To, s.Source.Location)
		}
		s.Log.Info("report scheduled", "report", sc.Name, "customer", sc.Customer, "every", sc.Every,
			"next", sc.SendAt(next.To, s.Source.Location).Format(time.RFC3339), "notify", sc.Notify)
	}
	for {
		s.Tick(ctx)
		select {
		case <-ctx.Done():
			return
		case <-time.After(every):
		}
	}
}

// Due is the newest period of a schedule whose sending time has come.
func Due(sc *config.ReportSchedule, now time.Time, loc *time.Location) Period {
	cur := Week(now, loc)
	if sc.Every == "month" {
		cur = Month(now, loc)
	}
	p := cur.Previous()
	if now.Before(sc.SendAt(p.To, loc)) {
		p = p.Previous()
	}
	return p
}

// Tick records each schedule's due period and sends what is to send.
func (s *Scheduler) Tick(ctx context.Context) {
	if a := s.applied.Swap(nil); a != nil {
		s.Schedules, s.Mailers, s.Source = a.schedules, a.mailers, a.src
	}
	now := s.now()
	byName := map[string]*config.ReportSchedule{}
	for i := range s.Schedules {
		sc := &s.Schedules[i]
		byName[sc.Name] = sc
		p := Due(sc, now, s.Source.Location)
		queued, err := s.Outbox.QueueReport(ctx, sc.Name, p.From, sc.Notify, now)
		if err != nil {
			if ctx.Err() == nil {
				s.Log.Warn("recording a report to send failed", "report", sc.Name, "err", err)
			}
			continue
		}
		if queued {
			s.Log.Info("report due", "report", sc.Name, "customer", sc.Customer, "from", p.From, "to", p.To)
		}
	}
	pending, err := s.Outbox.PendingReports(ctx)
	if err != nil {
		if ctx.Err() == nil {
			s.Log.Warn("reading the reports to send failed", "err", err)
		}
		return
	}
	reports := map[string]*Report{}
	for _, ps := range pending {
		sc := byName[ps.Name]
		if sc == nil {
			ps.Status, ps.Error = store.NotificationFailed, "the schedule is no longer configured"
		} else {
			key := ps.Name + ps.From.String()
			if reports[key] == nil {
				p := Week(ps.From, s.Source.Location)
				if sc.Every == "month" {
					p = Month(ps.From, s.Source.Location)
				}
				r, err := s.Source.Make(ctx, sc.Customer, p)
				if err != nil {
					s.Log.Warn("making a scheduled report failed; it is tried again", "report", sc.Name, "err", err)
					continue
				}
				reports[key] = r
			}
			s.send(ctx, sc, reports[key], &ps)
			if ctx.Err() != nil {
				return // stopping: it stays pending
			}
		}
		ps.Done = s.now()
		if err := s.Outbox.FinishReport(context.WithoutCancel(ctx), ps); err != nil {
			s.Log.Error("recording a sent report failed", "report", ps.Name, "err", err)
		}
	}
}

// send mails the report to one notifier, with retries, and records the
// outcome in ps.
func (s *Scheduler) send(ctx context.Context, sc *config.ReportSchedule, r *Report, ps *store.ReportSend) {
	m, ok := s.Mailers[ps.Notifier]
	if !ok {
		ps.Status, ps.Error = store.NotificationFailed, fmt.Sprintf("no e-mail notifier %q", ps.Notifier)
		return
	}
	msg, err := Mail(r, sc.Sections, s.PublicURL)
	if err != nil {
		ps.Status, ps.Error = store.NotificationFailed, err.Error()
		return
	}
	what := fmt.Sprintf("report %s of %s", sc.Name, r.Period.From.Format(time.DateOnly))
	n, err := notify.Retry(ctx, s.Backoff, s.Log.With("notifier", ps.Notifier), what, func() (bool, error) { return m.Send(ctx, msg) })
	ps.Attempts += n
	ps.Status, ps.Error = store.NotificationSent, ""
	if err != nil {
		ps.Status, ps.Error = store.NotificationFailed, err.Error()
		s.Log.Error("report not sent", "report", sc.Name, "notifier", ps.Notifier, "err", err)
		return
	}
	s.Log.Info("report sent", "report", sc.Name, "customer", sc.Customer, "from", r.Period.From, "notifier", ps.Notifier)
}
