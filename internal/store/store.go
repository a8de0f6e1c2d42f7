// Package store defines where readings and rejected messages are kept, and
// the queries that the API answers from them.
package store

import (
	"context"
	"errors"
	"time"

	"github.com/sensorhub/sensorhub/internal/reading"
)

// ErrNotFound is returned when the device or series asked for does not exist.
var ErrNotFound = errors.New("not found")

// Batch is what one ingest transaction writes.
type Batch struct {
	Readings []reading.Reading
	Rejected []reading.Rejected
	// Resolved are IDs of rejected messages that a replay turned into
	// readings of this batch; they are removed with it.
	Resolved []int64
	// Rederived are readings already stored whose derived fields changed
	// (a late reading arrived just before them): their fields are replaced.
	Rederived []reading.Reading
}

// WriteResult says what a write did.
type WriteResult struct {
	// Stored is how many readings were new.
	Stored int
	// Duplicates is how many readings were already stored (same identity).
	Duplicates int
	// Rejected is how many rejected messages were kept.
	Rejected int
}

// DeviceKey names one device.
type DeviceKey struct {
	Customer string `json:"customer"`
	Sensor   string `json:"sensor"`
	Device   string `json:"device"`
}

// Device is a device as the API lists it.
type Device struct {
	Customer string    `json:"customer"`
	Sensor   string    `json:"sensor"`
	Device   string    `json:"device"`
	Name     string    `json:"name"`
	Gateway  string    `json:"gateway"`
	LastSeen time.Time `json:"last_seen"`
	// LastTime is the device time of its newest reading.
	LastTime time.Time `json:"last_time"`
	// Readings is how many readings are stored.
	Readings int64 `json:"readings"`
	// MsgCount is the newest msgCount seen; Lost counts the messages that
	// gaps in msgCount show missing; Expected is what the device sent as
	// msgCount shows it (Readings+Lost); LossRatio is Lost/Expected.
	MsgCount  int64    `json:"msg_count"`
	Lost      int64    `json:"lost"`
	Expected  int64    `json:"expected"`
	LossRatio float64  `json:"loss_ratio"`
	RSSI      *float64 `json:"rssi"`
	SNR       *float64 `json:"snr"`
	// Latest is the device's newest reading, with its units, when the
	// filter asked for it. It is shared: read only.
	Latest *reading.Reading `json:"-"`
}

// DeviceFilter narrows a device list; empty fields match all. With
// Latest, each device comes with its newest reading.
type DeviceFilter struct {
	Customer, Sensor string
	// Device keeps the devices of this id, exactly: with Customer and
	// Sensor, one device found by its key.
	Device string
	// Customers, when not nil, keeps only the devices of these customers
	// (a viewer's); empty keeps none.
	Customers []string
	// Search keeps the devices whose id, name, customer, sensor kind or
	// gateway holds it, ignoring the case of ASCII letters; % and _ are
	// themselves, not wildcards.
	Search string
	// SearchAlso are devices Search keeps too (those whose metadata holds
	// it); at most 500 are looked at.
	SearchAlso []DeviceKey
	// SeenBefore, when set, keeps the devices last seen before it: the
	// silent ones.
	SeenBefore time.Time
	// Losing keeps the devices that lost messages on the radio.
	Losing bool
	// Firing keeps the devices with a firing alert.
	Firing bool
	// Sort orders the list by one of DeviceSorts, then by customer, sensor
	// and device; "" is customer, sensor and device. Desc reverses Sort.
	Sort string
	Desc bool
	// Limit, when above 0, returns at most that many devices, after
	// skipping Offset of them.
	Limit, Offset int
	Latest        bool
}

// DeviceSorts are the orders a device list may be sorted by.
var DeviceSorts = []string{"kind", "device", "name", "last_seen", "lost"}

// Fleet counts the devices a filter matches, however many they are.
type Fleet struct {
	Devices int `json:"devices"`
	// Silent counts those last seen before the time asked about.
	Silent int `json:"silent"`
	// Lost and Expected add up the devices' Lost and Expected.
	Lost     int64 `json:"lost"`
	Expected int64 `json:"expected"`
}

// Point is one value of a series at a time.
type Point struct {
	Time  time.Time
	Value float64
}

// RawQuery asks for the stored values of one field of one device in
// [From, To), oldest first.
type RawQuery struct {
	DeviceKey
	Field    string
	From, To time.Time
}

// RejectedFilter narrows the rejected list; zero fields match all.
type RejectedFilter struct {
	Customer string
	// Customers, when not nil, keeps only messages of these customers.
	Customers []string
	Reason    string // substring of the reason
	Topic     string
	From, To  time.Time
	Limit     int
	// BeforeID pages backwards: only messages with a smaller ID.
	BeforeID int64
}

// Writer is what ingest needs of a store: batches written in one
// transaction, and the stored neighbours that derived fields read.
type Writer interface {
	// Write stores a batch in one transaction: all of it or nothing. A
	// reading whose identity (customer, sensor, device, time, msgCount) is
	// already stored is counted as a duplicate and not stored again.
	Write(ctx context.Context, b Batch) (WriteResult, error)
	// Neighbours answers each query, in order: the device's stored
	// readings just before and just after a position. Derived fields are
	// computed from the reading before.
	Neighbours(ctx context.Context, qs []NeighbourQuery) ([]Neighbours, error)
	// Ping reports whether the store can be used.
	Ping(ctx context.Context) error
}

// Reader is what the web and the series read: devices, their readings and
// the rejected messages.
type Reader interface {
	// Devices lists devices, ordered by customer, sensor and device
	// unless the filter sorts them otherwise.
	Devices(ctx context.Context, f DeviceFilter) ([]Device, error)
	// CountDevices counts the devices the filter matches (its Sort, Limit,
	// Offset and Latest aside), the silent ones among them those last seen
	// before silentBefore.
	CountDevices(ctx context.Context, f DeviceFilter, silentBefore time.Time) (Fleet, error)
	// Latest returns the device's newest reading (by device time). It
	// returns ErrNotFound for an unknown device.
	Latest(ctx context.Context, k DeviceKey) (reading.Reading, error)
	// Points returns one field's values in a time range, oldest first, and
	// the unit of the newest of them; ErrNotFound for an unknown device.
	Points(ctx context.Context, q RawQuery) ([]Point, string, error)
	// PointBefore returns the newest value of the field before t, if any.
	PointBefore(ctx context.Context, k DeviceKey, field string, t time.Time) (Point, bool, error)
	// Rejected lists rejected messages, newest first.
	Rejected(ctx context.Context, f RejectedFilter) ([]reading.Rejected, error)
	// CountRejected counts the rejected messages the filter matches.
	CountRejected(ctx context.Context, f RejectedFilter) (int64, error)
}

// Store is a whole store: ingest writes through it (Writer), the web reads
// it (Reader), the alert stage keeps its state in it (AlertStore), and the
// retention job ages it (Lifecycle).
type Store interface {
	Writer
	Reader
	AlertStore
	Lifecycle
	ReportOutbox
	Intervals
	Close() error
}

// NeighbourQuery asks for a device's stored readings just before and just
// after a position: a time and, among readings of that time, a Seq
// (reading.Reading.Seq).
type NeighbourQuery struct {
	DeviceKey
	Time time.Time
	Seq  int64
}

// Neighbours are a reading's stored neighbours; nil where there is none.
type Neighbours struct {
	Before, After *reading.Reading
}

// unavailable wraps an error that says the store cannot be used now.
type unavailable struct{ err error }

func (u unavailable) Error() string { return u.err.Error() }
func (u unavailable) Unwrap() error { return u.err }

// Unavailable marks err as an outage: the store cannot be used now (a
// connection lost, a disk full, a lock held too long), and the same write
// will work later. An error not so marked may be about the data written.
func Unavailable(err error) error {
	if err == nil || IsUnavailable(err) {
		return err
	}
	return unavailable{err}
}

// IsUnavailable reports whether err is an outage of the store, or ends
// with a context's end.
func IsUnavailable(err error) bool {
	var u unavailable
	return errors.As(err, &u) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// FieldScanner is implemented by stores that read one field of each of a
// customer's devices in a few queries rather than a few a device: a report
// of tens of thousands of devices.
type FieldScanner interface {
	// EachPoints calls fn once for each of the customer's devices, in the
	// order of Devices, with the values in [from, to) of the field that
	// field names for it (none when it names ""), oldest first, as Points
	// gives them. The values are fn's only during the call.
	EachPoints(ctx context.Context, customer string, field func(DeviceKey) string, from, to time.Time, fn func(DeviceKey, []Point) error) error
}

// FieldUnit is a field a device stored, with the unit of its newest value
// ("" for none).
type FieldUnit struct {
	Name, Unit string
}

// DeviceFields is a device with the fields it stored and from when its
// data is kept.
type DeviceFields struct {
	DeviceKey
	// Fields are in byte order of their names.
	Fields []FieldUnit
	Kept   Kept
}

// KindField is a field that devices of a sensor kind stored.
type KindField struct {
	Sensor string
	FieldUnit
}

// FieldIndex is implemented by stores that list the fields of many
// devices in one query: the series that the Prometheus API names.
type FieldIndex interface {
	// KindFields lists the fields that the devices the filter matches
	// stored, each field of a kind once with the unit one of them gave.
	KindFields(ctx context.Context, f DeviceFilter) ([]KindField, error)
	// DeviceFields lists the devices the filter matches, ordered by
	// customer, sensor and device, each with its fields; fields, when not
	// nil, keeps these fields only, and the devices that stored one. The
	// filter's Sort, Limit, Offset and Latest are left aside.
	DeviceFields(ctx context.Context, f DeviceFilter, fields []string) ([]DeviceFields, error)
}
