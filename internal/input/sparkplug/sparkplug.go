// Package sparkplug reads Sparkplug B (Eclipse Tahu's
// org.eclipse.tahu.protobuf.Payload) published on
// spBv1.0/{group}/{type}/{edge node}[/{device}]: births, data and deaths
// of edge nodes and of their devices.
//
// Data messages may name their metrics by alias only; the aliases are
// learnt from the births (NBIRTH for the node's metrics, DBIRTH for a
// device's) and kept in memory per edge node, in Nodes. A process that
// starts, or that did not see the births, learns them again from the
// next births: a data message whose alias it does not know is kept
// rejected, and the edge node is asked for its births again
// (Nodes.SetRebirth).
package sparkplug

import (
	"cmp"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/sensorhub/sensorhub/internal/input/sparkplug/sparkplugb"
	"github.com/sensorhub/sensorhub/internal/reading"
)

// Namespace is the first level of every Sparkplug B topic.
const Namespace = "spBv1.0"

// Field names of the readings of Sparkplug B devices and edge nodes: 1
// on a birth and 0 on a death; the edge node's seq (0–255) as sent.
const (
	FieldOnline = reading.FieldOnline
	FieldSeq    = reading.FieldSeq
)

// RebirthMetric is the metric of an NCMD that asks an edge node to
// publish its births again.
const RebirthMetric = "Node Control/Rebirth"

// DefaultSeparator replaces '/' (Sparkplug's folder separator) and the
// other characters a field name must not hold in metric names.
const DefaultSeparator = "_"

// Format reads Sparkplug B messages. A device is {edge node} for the
// node's own metrics and {edge node}:{device} for a device's; its
// customer is Customer, else the group id; its sensor kind is
// Devices[device], else Sensor, else the kind whose match rules it meets.
type Format struct {
	Customer  string
	Sensor    string
	Devices   map[string]string
	Separator string
	// Nodes holds what the births taught; nil reads only metrics named
	// in full.
	Nodes *Nodes
}

// Nodes is what the births of edge nodes taught: their aliases, their
// devices alive, and their seq. It outlives a Format, which is built
// again on every change of the configuration.
type Nodes struct {
	mu      sync.Mutex
	nodes   map[string]*node
	rebirth func(group, node string)
}

// NewNodes returns an empty memory of edge nodes.
func NewNodes() *Nodes { return &Nodes{nodes: map[string]*node{}} }

// SetRebirth sets how to ask the edge node group/node to publish its
// births again (an NCMD with Node Control/Rebirth = true): it is called
// once for a node whose data names an unknown alias, not again until
// the node is born, and must not block. nil asks nothing.
func (ns *Nodes) SetRebirth(ask func(group, node string)) {
	ns.mu.Lock()
	defer ns.mu.Unlock()
	ns.rebirth = ask
}

type node struct {
	// aliases are the node's and its devices' metric names by alias:
	// Sparkplug makes them unique across an edge node.
	aliases map[uint64]string
	// devices are the devices born and not dead.
	devices map[string]bool
	// asked is set when a rebirth was asked and no NBIRTH came since.
	asked bool
	// bdSeq is the bdSeq metric of the node's last NBIRTH, which its
	// NDEATH repeats; -1 for none.
	bdSeq int64
	// seq unwraps the node's seq into a counter that does not wrap.
	counter counter
}

// counter turns seq, which wraps from 255 to 0, into a message counter
// that grows by one a message; an NBIRTH starts it again at its seq (0),
// which sensorhub counts as a restart. The same message read again (a
// batch the store refused, decoded again after the next one) gets the
// same count: the counts of the node's last remembered messages are kept
// by seq and time.
type counter struct {
	started bool
	last    int64
	seen    map[[2]uint64]int64
	// order is the keys of seen, oldest first once full.
	order [][2]uint64
	next  int
}

// remembered is how many of a node's messages keep their count: more
// than two batches (ingest.batch_size, 1000 by default).
const remembered = 4096

func (c *counter) count(seq, ts uint64, birth bool) int64 {
	key := [2]uint64{seq, ts}
	if n, ok := c.seen[key]; ok {
		return n
	}
	if birth {
		c.started = false
	}
	n := int64(seq)
	if c.started {
		n = c.last + (int64(seq)-c.last%256+256)%256
	}
	if !c.started || n > c.last {
		c.started, c.last = true, n
	}
	if c.seen == nil {
		c.seen = map[[2]uint64]int64{}
	}
	if len(c.order) < remembered {
		c.order = append(c.order, key)
	} else {
		delete(c.seen, c.order[c.next])
		c.order[c.next] = key
		c.next = (c.next + 1) % remembered
	}
	c.seen[key] = n
	return n
}

func (ns *Nodes) get(key string) *node {
	n := ns.nodes[key]
	if n == nil {
		n = &node{aliases: map[uint64]string{}, devices: map[string]bool{}, bdSeq: -1}
		ns.nodes[key] = n
	}
	return n
}

// Types are the message types read; commands (NCMD, DCMD) and a host's
// STATE are not about measurements and give nothing.
var Types = []string{"NBIRTH", "NDATA", "NDEATH", "DBIRTH", "DDATA", "DDEATH"}

// Sequential says that the messages are read in order: a birth teaches
// the aliases of the data after it.
func (f *Format) Sequential() {}

// Read reads a message of one record; ReadAll reads them all.
func (f *Format) Read(m reading.Message) (reading.Record, error) {
	recs, err := f.ReadAll(m)
	if err != nil {
		return reading.Record{}, err
	}
	if len(recs) == 0 {
		return reading.Record{}, reading.Reject("Sparkplug B message %q gives no reading", m.Topic)
	}
	return recs[0], nil
}

// ReadAll reads one message: for its edge node, a record with its seq as
// the message counter (and the node's metrics); for a device, its
// metrics; one record per time the metrics give.
func (f *Format) ReadAll(m reading.Message) ([]reading.Record, error) {
	t, err := parseTopic(m.Topic)
	if err != nil || t.kind == "" {
		return nil, err
	}
	var p sparkplugb.Payload
	if err := proto.Unmarshal(m.Payload, &p); err != nil {
		return nil, f.reject(t, "Sparkplug B %s: the payload is not a Sparkplug B protobuf Payload: %s", t.kind,
			// protobuf's errors vary their spaces from run to run.
			strings.Join(strings.Fields(err.Error()), " "))
	}
	if t.kind != "NDEATH" && p.Seq == nil {
		return nil, f.reject(t, "Sparkplug B %s of edge node %s/%s without seq", t.kind, t.group, t.node)
	}
	if p.GetSeq() > 255 {
		return nil, f.reject(t, "Sparkplug B %s of edge node %s/%s: seq %d is not 0 to 255", t.kind, t.group, t.node, p.GetSeq())
	}
	nodes := f.Nodes
	if nodes == nil {
		nodes = NewNodes()
	}
	nodes.mu.Lock()
	defer nodes.mu.Unlock()
	key := t.group + "/" + t.node
	n := nodes.get(key)

	switch t.kind {
	case "NBIRTH":
		// A birth read again (its batch decoded again, after the next
		// one) must not forget what the births after it taught.
		if _, again := n.counter.seen[[2]uint64{p.GetSeq(), p.GetTimestamp()}]; !again {
			n.aliases, n.devices, n.asked = map[uint64]string{}, map[string]bool{}, false
			n.bdSeq = bdSeq(p.Metrics)
		}
		n.learn(p.Metrics)
	case "DBIRTH":
		n.learn(p.Metrics)
		n.devices[t.device] = true
	case "NDEATH":
		// The will of a session the node has since replaced (it was born
		// again before the broker published it) says nothing of now.
		if d := bdSeq(p.Metrics); d >= 0 && n.bdSeq >= 0 && d != n.bdSeq {
			return nil, nil
		}
	}
	names, err := n.names(p.Metrics)
	if err != nil {
		if !n.asked && nodes.rebirth != nil {
			n.asked = true
			nodes.rebirth(t.group, t.node)
		}
		if !n.asked {
			return nil, f.reject(t, "Sparkplug B %s: %v of edge node %s: no birth seen since start; this process runs no gateway to ask for a rebirth: restart the edge node, or send it %s", t.kind, err, key, RebirthMetric)
		}
		return nil, f.reject(t, "Sparkplug B %s: %v of edge node %s: no birth seen since start; a rebirth was asked", t.kind, err, key)
	}

	rb := recordBuilder{f: f, topic: m.Topic, group: t.group, ts: p.GetTimestamp(), seq: p.GetSeq()}
	nodeID := t.node
	if t.device == "" {
		rb.metrics(nodeID, names, p.Metrics)
	} else {
		rb.metrics(nodeID+":"+t.device, names, p.Metrics)
	}
	switch t.kind {
	case "NBIRTH":
		rb.status(nodeID, FieldOnline, 1)
	case "DBIRTH":
		rb.status(nodeID+":"+t.device, FieldOnline, 1)
	case "DDEATH":
		delete(n.devices, t.device)
		rb.status(nodeID+":"+t.device, FieldOnline, 0)
	case "NDEATH":
		// The node and every device it had are offline; its aliases die
		// with it. A death has no seq (it is the node's MQTT will).
		rb.status(nodeID, FieldOnline, 0)
		for _, d := range slices.Sorted(maps.Keys(n.devices)) {
			rb.status(nodeID+":"+d, FieldOnline, 0)
		}
		n.aliases, n.devices, n.asked = map[uint64]string{}, map[string]bool{}, false
		return rb.out, nil
	}
	// The node's record of this message carries the counter: one a
	// message, whatever device it is of.
	c := n.counter.count(p.GetSeq(), p.GetTimestamp(), t.kind == "NBIRTH")
	r := rb.record(nodeID, rb.ts)
	r.MsgCount = c
	if r.Status == nil {
		r.Status = map[string]float64{}
	}
	r.Status[FieldSeq] = float64(p.GetSeq())
	return rb.out, nil
}

// reject is a rejection of a message of the edge node of t, kept under
// its customer when that is configured.
func (f *Format) reject(t topic, format string, args ...any) *reading.RejectError {
	e := reading.Reject(format, args...)
	e.Customer = cmp.Or(f.Customer, t.group)
	return e
}

// bdSeq is the value of the bdSeq metric of a birth or a death; -1 for
// none.
func bdSeq(ms []*sparkplugb.Payload_Metric) int64 {
	for _, m := range ms {
		if m.GetName() == "bdSeq" {
			if v, ok := value(m); ok {
				if f, ok := v.(float64); ok && f >= 0 && f < 1<<53 {
					return int64(f)
				}
			}
		}
	}
	return -1
}

// learn keeps the aliases of a birth's metrics.
func (n *node) learn(ms []*sparkplugb.Payload_Metric) {
	for _, m := range ms {
		if m.Name != nil && m.Alias != nil {
			n.aliases[m.GetAlias()] = m.GetName()
		}
	}
}

// names are the names of the metrics, through their aliases.
func (n *node) names(ms []*sparkplugb.Payload_Metric) ([]string, error) {
	out := make([]string, len(ms))
	for i, m := range ms {
		switch {
		case m.Name != nil:
			out[i] = m.GetName()
		case m.Alias != nil:
			name, ok := n.aliases[m.GetAlias()]
			if !ok {
				return nil, fmt.Errorf("unknown alias %d", m.GetAlias())
			}
			out[i] = name
		default:
			return nil, fmt.Errorf("metric %d has neither name nor alias", i)
		}
	}
	return out, nil
}

// recordBuilder gathers a message's records: one per device and time.
type recordBuilder struct {
	f          *Format
	topic      string
	group      string
	ts, seq    uint64
	out        []reading.Record
	byDevAndTs map[string]int
}

func (rb *recordBuilder) record(device string, ts uint64) *reading.Record {
	k := fmt.Sprintf("%s\x00%d", device, ts)
	if i, ok := rb.byDevAndTs[k]; ok {
		return &rb.out[i]
	}
	if rb.byDevAndTs == nil {
		rb.byDevAndTs = map[string]int{}
	}
	rec := reading.Record{
		Customer: cmp.Or(rb.f.Customer, rb.group),
		Sensor:   cmp.Or(rb.f.Devices[device], rb.f.Sensor),
		Device:   device,
		Time:     millis(ts),
		MsgCount: reading.NoMsgCount,
		// The same message read twice gives the same records.
		ID: fmt.Sprintf("%s#%d#%d#%d", rb.topic, rb.seq, rb.ts, ts),
	}
	rb.byDevAndTs[k] = len(rb.out)
	rb.out = append(rb.out, rec)
	return &rb.out[len(rb.out)-1]
}

func (rb *recordBuilder) status(device, name string, v float64) {
	r := rb.record(device, rb.ts)
	if r.Status == nil {
		r.Status = map[string]float64{}
	}
	r.Status[name] = v
}

// metrics adds the metrics of device to its records, at their own time
// when they have one. Node Control and Properties metrics are the
// node's settings, not measurements; datasets, templates and bytes are
// not read.
func (rb *recordBuilder) metrics(device string, names []string, ms []*sparkplugb.Payload_Metric) {
	sep := cmp.Or(rb.f.Separator, DefaultSeparator)
	for i, m := range ms {
		if strings.HasPrefix(names[i], "Node Control/") || strings.HasPrefix(names[i], "Device Control/") || strings.HasPrefix(names[i], "Properties/") {
			continue
		}
		v, ok := value(m)
		if !ok {
			continue
		}
		r := rb.record(device, cmp.Or(m.GetTimestamp(), rb.ts))
		if r.Fields == nil {
			r.Fields = map[string]any{}
		}
		r.Fields[FieldName(names[i], sep)] = v
	}
}

// FieldName is a metric's name as a field's: '/' (a folder) becomes sep,
// and '.', '*', '>' and spaces '_'.
func FieldName(metric, sep string) string {
	metric = strings.ReplaceAll(metric, "/", sep)
	return strings.Map(func(r rune) rune {
		if strings.ContainsRune(".*> \t", r) {
			return '_'
		}
		return r
	}, metric)
}

// value is a metric's value as a record takes it: a number, a bool, a
// text, or nil for a null; false for the types not read.
func value(m *sparkplugb.Payload_Metric) (any, bool) {
	if m.GetIsNull() {
		return nil, true
	}
	switch v := m.Value.(type) {
	case *sparkplugb.Payload_Metric_IntValue:
		switch sparkplugb.DataType(m.GetDatatype()) {
		case sparkplugb.DataType_Int8:
			return float64(int8(v.IntValue)), true
		case sparkplugb.DataType_Int16:
			return float64(int16(v.IntValue)), true
		case sparkplugb.DataType_Int32:
			return float64(int32(v.IntValue)), true
		}
		return float64(v.IntValue), true
	case *sparkplugb.Payload_Metric_LongValue:
		if sparkplugb.DataType(m.GetDatatype()) == sparkplugb.DataType_Int64 {
			return float64(int64(v.LongValue)), true
		}
		return float64(v.LongValue), true
	case *sparkplugb.Payload_Metric_FloatValue:
		return float64(v.FloatValue), true
	case *sparkplugb.Payload_Metric_DoubleValue:
		return v.DoubleValue, true
	case *sparkplugb.Payload_Metric_BooleanValue:
		return v.BooleanValue, true
	case *sparkplugb.Payload_Metric_StringValue:
		return v.StringValue, true
	}
	return nil, false
}

// millis is a Sparkplug timestamp (ms since the epoch) as a time; zero
// for none or one beyond any clock.
func millis(ms uint64) time.Time {
	if ms == 0 || ms > math.MaxInt64 {
		return time.Time{}
	}
	return time.UnixMilli(int64(ms)).UTC()
}

// CommandTopic is the topic of the commands (NCMD) to an edge node.
func CommandTopic(group, node string) string {
	return Namespace + "/" + group + "/NCMD/" + node
}

// RebirthRequest is the payload of an NCMD that asks an edge node to
// publish its births again: Node Control/Rebirth = true.
func RebirthRequest(now time.Time) []byte {
	b, err := proto.Marshal(&sparkplugb.Payload{
		Timestamp: proto.Uint64(uint64(now.UnixMilli())),
		Metrics: []*sparkplugb.Payload_Metric{{
			Name:     proto.String(RebirthMetric),
			Datatype: proto.Uint32(uint32(sparkplugb.DataType_Boolean)),
			Value:    &sparkplugb.Payload_Metric_BooleanValue{BooleanValue: true},
		}},
	})
	if err != nil {
		panic(err) // a Payload built here always marshals
	}
	return b
}

type topic struct {
	// kind is the message type; empty for a message that gives nothing.
	kind, group, node, device string
}

// parseTopic reads a Sparkplug B topic.
func parseTopic(s string) (topic, error) {
	parts := strings.Split(s, "/")
	if len(parts) < 3 || parts[0] != Namespace {
		return topic{}, reading.Reject("topic %q is not a Sparkplug B topic (spBv1.0/{group}/{type}/{edge node}[/{device}])", s)
	}
	if parts[1] == "STATE" {
		return topic{}, nil // a host application's state
	}
	if len(parts) < 4 || len(parts) > 5 {
		return topic{}, reading.Reject("topic %q is not a Sparkplug B topic (spBv1.0/{group}/{type}/{edge node}[/{device}])", s)
	}
	t := topic{kind: parts[2], group: parts[1], node: parts[3]}
	switch t.kind {
	case "NCMD", "DCMD":
		return topic{}, nil
	case "NBIRTH", "NDATA", "NDEATH":
		if len(parts) != 4 {
			return topic{}, reading.Reject("topic %q: a Sparkplug B %s names no device", s, t.kind)
		}
	case "DBIRTH", "DDATA", "DDEATH":
		if len(parts) != 5 || parts[4] == "" {
			return topic{}, reading.Reject("topic %q: a Sparkplug B %s names its device (spBv1.0/{group}/%s/{edge node}/{device})", s, t.kind, t.kind)
		}
		t.device = parts[4]
	default:
		return topic{}, reading.Reject("Sparkplug B %s messages are not read (only %s)", t.kind, strings.Join(Types, ", "))
	}
	if t.group == "" || t.node == "" {
		return topic{}, reading.Reject("topic %q: the group and edge node ids must not be empty", s)
	}
	return t, nil
}
