package store

import (
	"strings"

	"github.com/sensorhub/sensorhub/internal/reading"
)

// The bookkeeping that SQL stores share: what a batch changes in a device's
// row and in the kept aggregates, worked out in memory so that each backend
// only reads and writes rows.

// DeviceRow is the kept summary of a device that readings fold into.
type DeviceRow struct {
	// LastSeen and LastTime are Unix milliseconds of the newest receive
	// time and device time; MsgCount is -1 before any.
	LastSeen, LastTime, MsgCount, Lost int64
	// MsgTime is when the message of MsgCount was sent (counterTime), and
	// MsgFrom when the device last restarted its msgCount (0 before it
	// did), Unix milliseconds.
	MsgTime, MsgFrom int64
	Name, Gateway    string
	RSSI, SNR        *float64
}

// Fold adds a batch's new readings of the device, in the order they came:
// last seen from all of them; from readings newer than any before, name,
// gateway and radio; from msgCount, the newest msgCount and the messages
// its gaps show lost.
//
// Loss follows the msgCount sequence, not the readings' times: a count
// above the newest is newer whatever its time says (a device's clock that
// jumps ahead or back loses no message), and a gap before it is counted
// lost; a count below the newest is a late message, which fills a gap
// counted lost (readings that several gateways and ingestors pass on in
// parallel arrive out of order without any being lost), unless it was
// sent after the newest: then the device restarted, which loses nothing.
// A count above the newest but sent before that restart is late too.
func (d *DeviceRow) Fold(rs []*reading.Reading) {
	for _, r := range rs {
		d.LastSeen = max(d.LastSeen, r.Received.UnixMilli())
		t := r.Time.UnixMilli()
		// Readings of one time (a device's clock in whole seconds) follow
		// each other in msgCount order.
		late := t < d.LastTime || t == d.LastTime && (r.MsgCount < 0 || r.MsgCount <= d.MsgCount)
		d.foldCount(r)
		if late {
			continue // stored, but it says nothing of now
		}
		d.LastTime = t
		if r.Name != "" {
			d.Name = r.Name
		}
		if r.Gateway != "" {
			d.Gateway = r.Gateway
		}
		if r.RSSI != nil {
			d.RSSI = r.RSSI
		}
		if r.SNR != nil {
			d.SNR = r.SNR
		}
	}
}

// foldCount follows the msgCount sequence with a reading's count.
func (d *DeviceRow) foldCount(r *reading.Reading) {
	c, ct := r.MsgCount, counterTime(r)
	switch {
	case c < 0:
	case d.MsgCount < 0:
		d.MsgCount, d.MsgTime = c, ct
	case c > d.MsgCount && ct >= d.MsgFrom:
		d.Lost += c - d.MsgCount - 1
		d.MsgCount, d.MsgTime = c, max(d.MsgTime, ct)
	case c < d.MsgCount && ct > d.MsgTime:
		d.MsgCount, d.MsgTime, d.MsgFrom = c, ct, ct
	case c != d.MsgCount && d.Lost > 0:
		// Late: below the newest count, or above it but sent before the
		// device restarted.
		d.Lost--
	}
}

// counterTime is when a reading's message was sent, as far as the order
// of its device's messages goes: its time, but not after it was received,
// so that a clock ahead does not make a message seem sent after those that
// follow it.
func counterTime(r *reading.Reading) int64 {
	t := r.Time.UnixMilli()
	if !r.Received.IsZero() {
		t = min(t, r.Received.UnixMilli())
	}
	return t
}

// Conds are the conditions of a SQL WHERE clause, each written with ?
// placeholders, and their arguments in order.
type Conds struct {
	Where []string
	Args  []any
}

func (c *Conds) add(cond string, arg any) {
	c.Where, c.Args = append(c.Where, cond), append(c.Args, arg)
}

// in keeps rows whose customer is one of customers, when not nil.
func (c *Conds) in(customers []string) {
	if customers == nil {
		return
	}
	if len(customers) == 0 {
		c.Where = append(c.Where, "1 = 0")
		return
	}
	c.Where = append(c.Where, "customer IN (?"+strings.Repeat(", ?", len(customers)-1)+")")
	for _, cu := range customers {
		c.Args = append(c.Args, cu)
	}
}

// RejectedConds are the conditions of a rejected-message filter; contains
// is the dialect's "reason holds ?" test.
func RejectedConds(f RejectedFilter, contains string) Conds {
	var c Conds
	if f.Customer != "" {
		c.add("customer = ?", f.Customer)
	}
	if f.Reason != "" {
		c.add(contains, f.Reason)
	}
	if f.Topic != "" {
		c.add("topic = ?", f.Topic)
	}
	if !f.From.IsZero() {
		c.add("received >= ?", f.From.UnixNano())
	}
	if !f.To.IsZero() {
		c.add("received < ?", f.To.UnixNano())
	}
	if f.BeforeID > 0 {
		c.add("id < ?", f.BeforeID)
	}
	c.in(f.Customers)
	return c
}

// AlertConds are the conditions of an alert filter.
func AlertConds(f AlertFilter) Conds {
	var c Conds
	for _, col := range []struct{ name, v string }{
		{"state", f.State}, {"rule", f.Rule}, {"customer", f.Customer}, {"sensor", f.Sensor}, {"device", f.Device},
	} {
		if col.v != "" {
			c.add(col.name+" = ?", col.v)
		}
	}
	if f.BeforeID > 0 {
		c.add("id < ?", f.BeforeID)
	}
	if !f.AckedAfter.IsZero() {
		c.add("acked_at > ?", f.AckedAfter.UnixNano())
	}
	c.in(f.Customers)
	return c
}
