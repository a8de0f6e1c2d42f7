package store

import (
	"context"
	"time"
)

// InvalidInterval is a time of a device's readings that an admin marked
// invalid (a meter swapped, a test bench, a replay gone wrong): the counter
// increase of every interval between two readings that overlaps it is
// left out of totals.
type InvalidInterval struct {
	ID int64 `json:"id"`
	DeviceKey
	From   time.Time `json:"from"`
	To     time.Time `json:"to"`
	Reason string    `json:"reason"`
	// MarkedBy is who marked it, MarkedAt when.
	MarkedBy string    `json:"marked_by"`
	MarkedAt time.Time `json:"marked_at"`
}

// Overlaps reports whether the interval between readings at from and to
// (from before to) overlaps the invalid interval.
func (iv InvalidInterval) Overlaps(from, to time.Time) bool {
	return from.Before(iv.To) && to.After(iv.From)
}

// InvalidQuery selects invalid intervals: a customer's, of a sensor kind
// and a device when they are set, overlapping [From, To) (a zero bound
// is open).
type InvalidQuery struct {
	Customer, Sensor, Device string
	From, To                 time.Time
}

// Intervals keeps the intervals of devices' readings marked invalid.
type Intervals interface {
	// MarkInvalid keeps an interval (From before To, with a reason,
	// MarkedBy and MarkedAt) and returns it with its ID; ErrNotFound for
	// an unknown device.
	MarkInvalid(ctx context.Context, iv InvalidInterval) (InvalidInterval, error)
	// InvalidIntervals returns the intervals q selects, by device, then
	// From.
	InvalidIntervals(ctx context.Context, q InvalidQuery) ([]InvalidInterval, error)
	// RemoveInvalid removes a customer's interval; ErrNotFound when the
	// customer has none of that ID.
	RemoveInvalid(ctx context.Context, customer string, id int64) error
}

// Excludes reports whether the interval between readings at from and to
// overlaps one of ivs: its counter increase is not counted.
func Excludes(ivs []InvalidInterval, from, to time.Time) bool {
	for _, iv := range ivs {
		if iv.Overlaps(from, to) {
			return true
		}
	}
	return false
}
