package store

import (
	"context"
	"time"
)

// Ages say how long each resolution of a device's data is kept; zero
// keeps it forever. Readings past Raw are removed, each of their days
// kept as hourly and daily aggregates; the hourly ones go past Hourly, the
// daily ones past Daily.
type Ages struct {
	Raw, Hourly, Daily time.Duration
}

// Retention is what the retention job removes.
type Retention struct {
	// Ages gives the ages of a device's data by its customer and sensor
	// kind; nil keeps every device's data.
	Ages func(customer, sensor string) Ages
	// Rejected is how long rejected messages are kept, Alerts resolved
	// alerts with their notifications, Audit the catalog's audit entries;
	// zero keeps them.
	Rejected, Alerts, Audit time.Duration
}

// Removed counts what a run of the retention job removed.
type Removed struct {
	// Readings removed, kept as aggregates.
	Readings int64
	// HourlyDays and DailyDays are the device-days whose hourly or daily
	// aggregates were removed.
	HourlyDays, DailyDays int64
	Rejected, Alerts      int64
	Audit                 int64
}

// Kept says from when each resolution of a device's data is kept: before
// Raw its readings were removed, before Hourly its hourly aggregates,
// before Daily everything. A zero time: nothing was removed.
type Kept struct {
	Raw, Hourly, Daily time.Time
}

// Lifecycle is what the retention job needs of a store.
type Lifecycle interface {
	// ApplyRetention removes what is past its age at now, in small
	// transactions, and says what it removed.
	ApplyRetention(ctx context.Context, r Retention, now time.Time) (Removed, error)
	// Kept says from when a device's data is kept; ErrNotFound for an
	// unknown device.
	Kept(ctx context.Context, k DeviceKey) (Kept, error)
	// RemoveDevice deletes a device and everything stored of it, and
	// says how many readings it held; ErrNotFound for an unknown device.
	RemoveDevice(ctx context.Context, k DeviceKey) (int64, error)
}

// ReportSend is one scheduled report of one period to one notifier: the
// outbox of reports, as notifications are of alerts.
type ReportSend struct {
	Name     string
	From     time.Time
	Notifier string
	// Status is pending, sent, failed or skipped (a period before the
	// schedule was first seen).
	Status   string
	Attempts int
	Error    string
	Created  time.Time
	Done     time.Time
}

// ReportOutbox keeps which period of which scheduled report was sent.
type ReportOutbox interface {
	// QueueReport records the period of a report for each notifier: to
	// send, or, for a report with no period recorded yet (a new schedule),
	// skipped, so that a new schedule sends the periods that end after it
	// started. A period already recorded is left as it is. It says whether
	// the period was recorded now to be sent.
	QueueReport(ctx context.Context, name string, from time.Time, notifiers []string, now time.Time) (queued bool, err error)
	// PendingReports are the reports still to send, oldest first.
	PendingReports(ctx context.Context) ([]ReportSend, error)
	// FinishReport records how a send ended.
	FinishReport(ctx context.Context, r ReportSend) error
}
