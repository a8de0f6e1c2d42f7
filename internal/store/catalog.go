package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// The catalog is what operators edit while sensorhub runs: customers,
// sensor kinds, alert rules, notifiers, report schedules, users. It lives
// in the store as items, each a JSON document with the keys of the
// configuration file, under one version that every change raises, so
// that each process can tell that its plan is behind. Every change is
// kept in the audit log: who, when, before and after.

// Catalog item kinds.
const (
	CatalogCustomers = "customers"
	CatalogSensors   = "sensors"
	CatalogRules     = "rules"
	CatalogNotifiers = "notifiers"
	CatalogReports   = "reports"
	CatalogUsers     = "users"
	CatalogTokens    = "tokens"
	CatalogDevices   = "devices"
)

// CatalogKinds are the kinds of catalog items, in the order a plan reads
// them.
var CatalogKinds = []string{CatalogCustomers, CatalogSensors, CatalogDevices, CatalogNotifiers, CatalogRules, CatalogReports, CatalogUsers, CatalogTokens}

// CatalogItem is one item of the catalog.
type CatalogItem struct {
	Kind, Name string
	// Customer owns the item; empty: a global item.
	Customer string
	// Spec is the item as JSON, with the keys of the configuration file.
	Spec json.RawMessage
	// Source is where the item is provisioned ("sensorhub.yaml:42"):
	// the file manages it and the API does not change it. Empty: edited
	// in the catalog.
	Source string
	// Version is the catalog version that last changed the item, its
	// ETag for a conditional change.
	Version int64
}

// CatalogChange creates, replaces or deletes one item.
type CatalogChange struct {
	Kind, Name, Customer string
	// Spec is the new item; nil deletes it.
	Spec   json.RawMessage
	Source string
	// IfVersion, when not zero, is the item's version the change was made
	// from: if the item changed since (or is gone), the change is refused
	// with ErrConflict. -1: only if the item does not exist.
	IfVersion int64
}

// ErrConflict is a change refused because what it was made from changed
// meanwhile.
var ErrConflict = errors.New("store: changed meanwhile")

// ErrExists is the ErrConflict of an item to be created only if new
// (IfVersion -1) that exists.
var ErrExists = fmt.Errorf("%w: it exists", ErrConflict)

// AuditEntry is one change of the catalog.
type AuditEntry struct {
	ID      int64
	Version int64
	At      time.Time
	// By is who made it: a user, a token, "file" for provisioning.
	By                   string
	Kind, Name, Customer string
	// Before and After are the item's JSON; nil when it did not exist,
	// or no longer does.
	Before, After json.RawMessage
}

// AuditQuery selects audit entries, newest first.
type AuditQuery struct {
	Kind, Name string
	// Customers, when not nil, keeps the entries of these customers
	// only (an empty string: global items).
	Customers []string
	// Before, when not zero, keeps the entries of IDs below it (paging).
	Before int64
	Limit  int
}

// Catalog is the store's catalog.
type Catalog interface {
	// CatalogVersion is the catalog's version: 0 for a catalog never
	// changed, raised by each ChangeCatalog.
	CatalogVersion(ctx context.Context) (int64, error)
	// ReadCatalog gives every item, by kind and name, and the version
	// they are of.
	ReadCatalog(ctx context.Context) (int64, []CatalogItem, error)
	// ChangeCatalog makes the changes at once, all or none, as a new
	// version, which it returns, with an audit entry each by by. A change
	// that changes nothing is left out; none at all raises no version.
	ChangeCatalog(ctx context.Context, by string, changes []CatalogChange) (int64, error)
	// Audit gives the audit entries q selects.
	Audit(ctx context.Context, q AuditQuery) ([]AuditEntry, error)
	// RemoveAudit deletes the audit entries made before cut, and says
	// how many.
	RemoveAudit(ctx context.Context, cut time.Time) (int64, error)
}
