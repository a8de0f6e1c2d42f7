package store

import (
	"context"
	"encoding/json"
	"errors"
	"time"
)

// ErrNotFiring is returned when an alert that is not firing is
// acknowledged.
var ErrNotFiring = errors.New("alert is not firing")

// AlertKey names the state of one rule for one device.
type AlertKey struct {
	Rule string `json:"rule"`
	DeviceKey
}

// AlertState is the state machine of one rule for one device, as the
// alert stage saves it: restarted, it goes on where it was.
type AlertState struct {
	AlertKey
	// Machine is the state machine, encoded by the alert stage.
	Machine json.RawMessage
	// AlertID is the alert this state fired, while it fires.
	AlertID int64
}

// Alert is one firing of a rule for a device, from firing to resolved.
type Alert struct {
	ID int64 `json:"id"`
	AlertKey
	Name     string `json:"device_name,omitempty"`
	Severity string `json:"severity"`
	// State is "firing" or "resolved".
	State    string             `json:"state"`
	Started  time.Time          `json:"started"`
	Resolved *time.Time         `json:"resolved,omitempty"`
	Message  string             `json:"message"`
	Values   map[string]float64 `json:"values,omitempty"`
	// The acknowledgement, if any: who, when, and why.
	AckedBy    string     `json:"acked_by,omitempty"`
	AckedAt    *time.Time `json:"acked_at,omitempty"`
	AckComment string     `json:"ack_comment,omitempty"`
}

// Notification is one alert event to send to one notifier: written with
// the state change that causes it, then sent, so that a restart neither
// loses nor repeats it.
type Notification struct {
	ID      int64 `json:"id"`
	AlertID int64 `json:"alert_id"`
	// Kind is "firing", "repeat" or "resolved".
	Kind     string `json:"kind"`
	Notifier string `json:"notifier"`
	// Event is the encoded event sent.
	Event json.RawMessage `json:"-"`
	// Status is "pending", "sent" or "failed".
	Status   string    `json:"status"`
	Attempts int       `json:"attempts"`
	Error    string    `json:"error,omitempty"`
	Created  time.Time `json:"created"`
	Done     time.Time `json:"done,omitzero"`
}

// The statuses of a notification.
const (
	NotificationPending = "pending"
	NotificationSent    = "sent"
	NotificationFailed  = "failed"
)

// AlertChange is what one evaluation changed for one rule and device,
// saved together.
type AlertChange struct {
	State AlertState
	// Open starts a new alert; its ID is given to State.AlertID and to
	// Notify's entries.
	Open *Alert
	// Resolve ends the alert State.AlertID at this time.
	Resolve *time.Time
	// Notify are the notifications the change causes.
	Notify []Notification
}

// AlertFilter narrows the alert list; zero fields match all.
type AlertFilter struct {
	State string // firing or resolved
	Rule  string
	DeviceKey
	// Customers, when not nil, keeps only alerts of these customers.
	Customers []string
	Limit     int
	// BeforeID pages backwards: only alerts with a smaller ID.
	BeforeID int64
	// AckedAfter, when set, keeps only alerts acknowledged after it: the
	// acknowledgements since a cursor.
	AckedAfter time.Time
}

// AlertStore keeps the alert stage's state, alerts and notifications.
type AlertStore interface {
	// AlertStates returns every saved state machine.
	AlertStates(ctx context.Context) ([]AlertState, error)
	// SaveAlerts saves changes in one transaction: all of them or none. It
	// sets State.AlertID of each change that opens an alert.
	SaveAlerts(ctx context.Context, changes []AlertChange) error
	// Alerts lists alerts, newest first.
	Alerts(ctx context.Context, f AlertFilter) ([]Alert, error)
	// CountFiring counts the firing alerts per device, of the customers
	// given (all when nil).
	CountFiring(ctx context.Context, customers []string) (map[DeviceKey]int, error)
	// Alert returns one alert; ErrNotFound if there is none with id.
	Alert(ctx context.Context, id int64) (Alert, error)
	// AckAlert acknowledges a firing alert: ErrNotFound, or ErrNotFiring.
	AckAlert(ctx context.Context, id int64, by, comment string, at time.Time) (Alert, error)
	// PendingNotifications returns up to limit notifications of one
	// notifier still to send, oldest first.
	PendingNotifications(ctx context.Context, notifier string, limit int) ([]Notification, error)
	// FinishNotification records a notification's status, attempts and
	// error after sending it.
	FinishNotification(ctx context.Context, n Notification) error
	// Notifications lists an alert's notifications, oldest first.
	Notifications(ctx context.Context, alertID int64) ([]Notification, error)
}
