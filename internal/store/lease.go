package store

import (
	"context"
	"errors"
	"time"
)

// A lease lets one process of many do a job (evaluate the alert rules,
// send the scheduled reports): its holder renews it before it expires;
// another process takes it once it has expired. Expiry is read on the
// database's clock, so that processes whose clocks differ agree.
type Lease struct {
	Name, Holder string
}

// LeaseState is who holds a lease after an AcquireLease.
type LeaseState struct {
	// Held is whether the caller holds it.
	Held bool
	// Holder is who holds it, the caller or another.
	Holder string
	// Left is how long it has before it expires, as the database sees it.
	Left time.Duration
}

// ErrLeaseLost is a change refused because the process no longer holds
// the lease it was made under: another took over.
var ErrLeaseLost = errors.New("store: the lease is held by another process")

// Leases are the store's leases.
type Leases interface {
	// AcquireLease takes the lease for ttl if it is free or expired, or
	// renews it for ttl if l.Holder holds it, and says who holds it.
	AcquireLease(ctx context.Context, l Lease, ttl time.Duration) (LeaseState, error)
	// ReleaseLease gives the lease up if l.Holder holds it, so that
	// another process takes over at once.
	ReleaseLease(ctx context.Context, l Lease) error
	// SaveAlertsHolding is SaveAlerts done only while l.Holder holds the
	// lease, checked in the same transaction: ErrLeaseLost otherwise.
	SaveAlertsHolding(ctx context.Context, l Lease, changes []AlertChange) error
}
