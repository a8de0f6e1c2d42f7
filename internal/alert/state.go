// Package alert holds the alert rules' state machine: per rule and device,
// inactive, pending, firing and resolved, moved by readings and by a timer,
// and saying when people must be told. It is pure: time is passed in, so
// the same events give the same notifications after a restart.
package alert

import "time"

// State is where an alert stands.
type State string

// The states of an alert.
const (
	Inactive State = "inactive"
	Pending  State = "pending"
	Firing   State = "firing"
	Resolved State = "resolved"
)

// Action is what a transition asks for.
type Action int

// The actions of a transition.
const (
	None Action = iota
	NotifyFiring
	NotifyResolved
	NotifyRepeat
)

// Timing is the part of a rule that the state machine needs.
type Timing struct {
	// For is how long the condition must hold before the alert fires.
	For time.Duration
	// NoDataFor fires the alert when the device sent nothing that long.
	NoDataFor time.Duration
	// RepeatEvery re-notifies while firing and not acknowledged; 0 is off.
	RepeatEvery time.Duration
	// NotifyResolved tells people when the alert resolves.
	NotifyResolved bool
}

// Alert is the state of one rule for one device.
type Alert struct {
	State State `json:"state"`
	// Since is when the condition started to hold (pending) or the alert
	// fired (firing), or resolved.
	Since time.Time `json:"since"`
	// LastEval is the time of the newest reading evaluated: an older one
	// arriving late does not move the state backwards.
	LastEval time.Time `json:"last_eval"`
	// LastCond is whether the newest reading met the condition.
	LastCond     bool      `json:"last_cond"`
	LastNotified time.Time `json:"last_notified"`
	Acked        bool      `json:"acked"`
}

// Observe moves the alert with a reading taken at t: cond is the rule's
// condition on it, clear its clearing condition (hysteresis: by default
// !cond). A reading older than the last one evaluated changes nothing.
func (a *Alert) Observe(t time.Time, cond, clear bool, r Timing) Action {
	if t.Before(a.LastEval) {
		return None
	}
	a.LastEval, a.LastCond = t, cond
	if a.State == "" {
		a.State = Inactive
	}
	if r.NoDataFor > 0 {
		// A no-data alert resolves as soon as the device speaks again.
		if a.State == Firing && t.After(a.Since) {
			return a.resolve(t, r)
		}
		return None
	}
	switch a.State {
	case Inactive, Resolved:
		if !cond {
			return None
		}
		if r.For <= 0 {
			return a.fire(t)
		}
		a.State, a.Since = Pending, t
	case Pending:
		if !cond {
			a.State, a.Since = Inactive, t
			return None
		}
		if t.Sub(a.Since) >= r.For {
			return a.fire(t)
		}
	case Firing:
		if clear {
			return a.resolve(t, r)
		}
	}
	return None
}

// Tick moves the alert with the passing of time: a pending alert whose
// condition still held at the last reading fires once For has passed, a
// device silent for NoDataFor fires a no-data alert, and a firing alert
// that nobody acknowledged is repeated every RepeatEvery.
func (a *Alert) Tick(now, lastSeen time.Time, r Timing) Action {
	if a.State == "" {
		a.State = Inactive
	}
	switch {
	case r.NoDataFor > 0 && a.State != Firing && !lastSeen.IsZero() && now.Sub(lastSeen) >= r.NoDataFor:
		return a.fire(now)
	case a.State == Pending && a.LastCond && now.Sub(a.Since) >= r.For:
		return a.fire(now)
	case a.State == Firing && r.RepeatEvery > 0 && !a.Acked && now.Sub(a.LastNotified) >= r.RepeatEvery:
		a.LastNotified = now
		return NotifyRepeat
	}
	return None
}

// Ack acknowledges a firing alert: no repeat until it resolves.
func (a *Alert) Ack() bool {
	if a.State != Firing {
		return false
	}
	a.Acked = true
	return true
}

func (a *Alert) fire(t time.Time) Action {
	a.State, a.Since, a.LastNotified, a.Acked = Firing, t, t, false
	return NotifyFiring
}

func (a *Alert) resolve(t time.Time, r Timing) Action {
	a.State, a.Since, a.Acked = Resolved, t, false
	if r.NotifyResolved {
		a.LastNotified = t
		return NotifyResolved
	}
	return None
}
