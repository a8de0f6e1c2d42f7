// Package notify sends alert events to people and systems: e-mail through
// SMTP, webhooks, with bounded retries. A notifier reports whether a failed
// send is worth retrying, as Alertmanager's notifiers do.
package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/sensorhub/sensorhub/internal/backoff"
)

// Event is one change of an alert that people are told about.
type Event struct {
	ID       string `json:"id"`
	Rule     string `json:"rule"`
	Severity string `json:"severity"`
	State    string `json:"state"` // firing or resolved
	// Repeat marks a reminder of an alert still firing.
	Repeat   bool      `json:"repeat,omitempty"`
	Customer string    `json:"customer"`
	Sensor   string    `json:"sensor"`
	Device   string    `json:"device"`
	Name     string    `json:"device_name,omitempty"`
	Time     time.Time `json:"time"`
	// Values are the reading's fields that the rule looked at.
	Values map[string]float64 `json:"values,omitempty"`
	Units  map[string]string  `json:"units,omitempty"`
	// Condition is the rule's expression, such as "Pres < OpenPres".
	Condition string `json:"condition,omitempty"`
	Message   string `json:"message"`
	// URL is the device's dashboard.
	URL string `json:"url,omitempty"`
	// Leak, for an air-leak alert, estimates the air lost from the
	// pressure decay and what it costs.
	Leak *Leak `json:"leak,omitempty"`
}

// Leak is an air leak's figures: over the alert so far (firing) or all of
// it (resolved).
type Leak struct {
	// Method is how the air lost is measured: decay or flow.
	Method string `json:"method"`
	// Seconds is the time below the opening pressure.
	Seconds float64 `json:"seconds"`
	// LostNm3 is the air lost, in normal cubic metres; it, the flow and
	// the costs are null when not measurable, Reason says why.
	LostNm3 *float64 `json:"lost_nm3"`
	// FlowNlMin is the leak flow, in normal litres a minute.
	FlowNlMin *float64 `json:"flow_nl_min"`
	Cost      *float64 `json:"cost"`
	// CostPerDay and CostPerYear are what the leak costs if it goes on.
	CostPerDay  *float64 `json:"cost_per_day"`
	CostPerYear *float64 `json:"cost_per_year"`
	Reason      string   `json:"reason,omitempty"`
	// The installation figures the estimate uses.
	VolumeL        float64 `json:"volume_l"`
	AtmosphericBar float64 `json:"atmospheric_bar"`
	CostPerNm3     float64 `json:"cost_per_nm3"`
	// Currency is that of the costs; "" when the customer has no prices
	// (money), whose costs are at its sensor kind's leak.cost_per_nm3.
	Currency string `json:"currency,omitempty"`
	// IdleReadings, with the flow method, is how many readings of the
	// non-production hours of IdleDays days give the flow.
	IdleReadings int `json:"idle_readings,omitempty"`
	IdleDays     int `json:"idle_days,omitempty"`
}

// Price sets the costs of the figures measured at costPerNm3 a normal
// cubic metre: the air lost's, and the leak flow's per day and per year
// were the leak to go on, all day, every day.
func (l *Leak) Price(costPerNm3 float64) {
	if l.LostNm3 != nil {
		cost := *l.LostNm3 * costPerNm3
		l.Cost = &cost
	}
	if l.FlowNlMin != nil {
		day := *l.FlowNlMin * 60 * 24 / 1000 * costPerNm3
		year := day * 365
		l.CostPerDay, l.CostPerYear = &day, &year
	}
}

// Notifier sends events somewhere.
type Notifier interface {
	// Notify sends ev. On error, retry says whether sending again may
	// succeed (a timeout, a server error) or not (a refused address).
	Notify(ctx context.Context, ev Event) (retry bool, err error)
}

// Backoff bounds the retries of Send.
type Backoff struct {
	Attempts int
	First    time.Duration
	Max      time.Duration
}

// DefaultBackoff tries 6 times over about half a minute.
var DefaultBackoff = Backoff{Attempts: 6, First: time.Second, Max: 15 * time.Second}

// Send notifies with retries and exponential backoff, and gives up on an
// error that is not worth retrying, after the last attempt, or when ctx
// ends. It returns how many attempts were made.
func Send(ctx context.Context, n Notifier, ev Event, b Backoff, log *slog.Logger) (int, error) {
	what := fmt.Sprintf("notify %s of %s/%s", ev.Rule, ev.Sensor, ev.Device)
	return Retry(ctx, b, log.With("rule", ev.Rule, "device", ev.Device), what, func() (bool, error) { return n.Notify(ctx, ev) })
}

// Retry calls send until it succeeds, says a retry is no use, b's
// attempts are spent or ctx ends, waiting between attempts with
// exponential backoff. It returns how many attempts were made.
func Retry(ctx context.Context, b Backoff, log *slog.Logger, what string, send func() (retry bool, err error)) (int, error) {
	policy := backoff.Policy{Initial: b.First, Max: b.Max}
	for attempt := 1; ; attempt++ {
		retry, err := send()
		if err == nil {
			return attempt, nil
		}
		if !retry || attempt >= b.Attempts {
			return attempt, fmt.Errorf("%s after %d attempts: %w", what, attempt, err)
		}
		delay := policy.Delay(attempt)
		log.Warn(what+" failed, retrying", "attempt", attempt, "in", delay, "err", err)
		if !backoff.Sleep(ctx, delay) {
			return attempt, errors.Join(err, ctx.Err())
		}
	}
}
