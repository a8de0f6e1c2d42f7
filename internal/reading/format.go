package reading

import (
	"encoding/json"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Message is one message as a format reads it: its MQTT topic (or the
// topic an HTTP ingest named), its payload and when the gateway took it.
type Message struct {
	Topic    string
	Payload  []byte
	Received time.Time
}

// Format reads the messages of one kind of source, such as a LoRaWAN
// network server's MQTT integration: one message gives one Record, or a
// *RejectError whose reason says why it cannot.
//
// A format reads what its source says of the message (who sent it, when,
// its counter, its measurements); what a sensor kind keeps of it, under
// which names and units, and the formulas, are the kind's, applied to a
// record as to the flat JSON of the default format.
type Format interface {
	Read(m Message) (Record, error)
}

// MultiFormat is a Format one of whose messages may give several records
// (Sparkplug B: metrics of several times, a death of several devices),
// or none (a message that says nothing of measurements): DecodeAll gives
// a reading of each. Read gives the first.
type MultiFormat interface {
	Format
	ReadAll(m Message) ([]Record, error)
}

// Sequential is a format that learns from the messages it reads
// (Sparkplug B's aliases, from the births): its messages are decoded in
// the order of the queue, one after another.
type Sequential interface {
	Sequential()
}

// Record is what a format read from one message, before a sensor kind
// maps it into a Reading.
type Record struct {
	// Customer is the tenant the message is of; it must be configured.
	Customer string
	// Sensor names the sensor kind outright (a device's tag, a configured
	// device): it must be configured. When empty, the first of Kinds that
	// is configured is taken, and else the kind whose match rules the
	// topic and fields meet.
	Sensor string
	Kinds  []string
	// Device is the device's identity; Name and Gateway are optional.
	Device, Name, Gateway string
	// Time is when the source says the message was sent; zero for none
	// (the receive time is taken, flagged time_from_receive).
	Time time.Time
	// MsgCount is the device's message counter, NoMsgCount for none.
	MsgCount int64
	// ID is the source's identity of the message (ChirpStack's
	// deduplicationId): a record without counter is told apart from
	// another of the same time by it, so that the same message delivered
	// twice is stored once. Empty: the payload's digest.
	ID string
	// RSSI and SNR are the radio metadata, nil when unknown.
	RSSI, SNR *float64
	// Fields are the measurements by name: float64, json.Number, text,
	// bool (false is 0, true is 1) or nil for no value. A kind's keep,
	// rename and units apply to them.
	Fields map[string]any
	// Units are the units the source gives of some fields.
	Units map[string]string
	// Status are the device's own figures (battery, link margin): kept
	// whatever the kind keeps, as the radio metadata is.
	Status map[string]float64
	// Strings are text kept with the reading (a LoRaWAN DevEUI).
	Strings map[string]string
	// Payload, with Undecoded, is the device's own bytes, which the
	// source did not decode into fields: the kind's payload decoder
	// (sensors.<kind>.payload_decoder) does, or the message is rejected
	// with NoDecoder.
	Payload   []byte
	Undecoded bool
	// NoDecoder is the reason of the rejection of an undecoded message
	// whose kind names no payload decoder.
	NoDecoder string
}

// Input is a format and the topics it reads.
type Input struct {
	// Name says which input it is in messages: "inputs.0 (chirpstack)".
	Name string
	// Topics are MQTT topic filters.
	Topics []string
	// Format reads the messages; nil is the default format, the flat JSON
	// of the Finemeca gateways.
	Format Format
}

// PayloadDecoder turns a device's bytes into fields (Cayenne LPP), with
// their units.
type PayloadDecoder func(payload []byte) (fields map[string]any, units map[string]string, err error)

// inputFor is the first input one of whose topics matches topic; nil
// for the default format.
func (d *Decoder) inputFor(topic string) *Input {
	for i := range d.Inputs {
		in := &d.Inputs[i]
		if slices.ContainsFunc(in.Topics, func(f string) bool { return TopicMatches(f, topic) }) {
			return in
		}
	}
	return nil
}

// Sequential tells whether a format of d must read its messages in order.
func (d *Decoder) Sequential() bool {
	return slices.ContainsFunc(d.Inputs, func(in Input) bool {
		_, ok := in.Format.(Sequential)
		return ok
	})
}

// DecodeAll decodes one envelope into its readings: one, or as many as
// the records of a MultiFormat's message (none for a message it
// ignores). A rejection rejects the whole message.
func (d *Decoder) DecodeAll(env Envelope) ([]Reading, error) {
	var mf MultiFormat
	if in := d.inputFor(env.Topic); in != nil {
		mf, _ = in.Format.(MultiFormat)
	}
	if mf == nil {
		r, err := d.Decode(env)
		if err != nil {
			return nil, err
		}
		return []Reading{r}, nil
	}
	if err := d.checkEnvelope(env); err != nil {
		return nil, d.bound(env, err)
	}
	recs, err := mf.ReadAll(Message{Topic: env.Topic, Payload: env.Payload, Received: env.Received})
	if err != nil {
		rj, ok := err.(*RejectError)
		if !ok {
			rj = reject("%v", err)
		}
		if !d.Customers[rj.Customer] {
			rj.Customer = ""
		}
		return nil, d.bound(env, rj)
	}
	out := make([]Reading, 0, len(recs))
	for i := range recs {
		r, err := d.fromRecord(env, &recs[i])
		if err != nil {
			if rj, ok := err.(*RejectError); ok && rj.Customer == "" && d.Customers[recs[i].Customer] {
				rj.Customer = recs[i].Customer
			}
			return nil, d.bound(env, err)
		}
		out = append(out, r)
	}
	return out, nil
}

// decodeRecord reads env with the format f and maps the record as the
// sensor kind it is of says.
func (d *Decoder) decodeRecord(env Envelope, f Format) (Reading, error) {
	rec, err := f.Read(Message{Topic: env.Topic, Payload: env.Payload, Received: env.Received})
	if err != nil {
		if _, ok := err.(*RejectError); !ok {
			err = reject("%v", err)
		}
		return Reading{}, err
	}
	r, err := d.fromRecord(env, &rec)
	if rj, ok := err.(*RejectError); ok && rj.Customer == "" && d.Customers[rec.Customer] {
		rj.Customer = rec.Customer
	}
	return r, err
}

func (d *Decoder) fromRecord(env Envelope, rec *Record) (Reading, error) {
	if rec.Customer == "" {
		return Reading{}, reject("missing customer: the message names none and its input has no customer")
	}
	if env.Customer != "" && rec.Customer != env.Customer {
		return Reading{}, reject("customer %q refused: this sender may only send for %q", rec.Customer, env.Customer)
	}
	if !d.Customers[rec.Customer] {
		e := reject("unknown customer %q: add it in Settings, Customers (or to customers in the configuration file), or set the input's customer, then replay its rejected messages", rec.Customer)
		e.Customer = rec.Customer
		return Reading{}, e
	}
	if rec.Device == "" {
		return Reading{}, reject("missing device identity")
	}
	for _, id := range []struct {
		key, v string
		max    int
	}{{"device", rec.Device, MaxIDLength}, {"device name", rec.Name, MaxNameLength}, {"gateway", rec.Gateway, MaxIDLength}} {
		if err := checkID(id.key, id.v, id.max); err != nil {
			return Reading{}, err
		}
	}
	if d.MaxFields > 0 && len(rec.Fields) > d.MaxFields {
		return Reading{}, reject("too many fields: %d, the limit is %d (ingest.max_fields)", len(rec.Fields), d.MaxFields)
	}
	for k, v := range rec.Fields {
		if err := checkText(map[string]any{k: v}); err != nil {
			return Reading{}, err
		}
	}
	p, err := d.kindOf(env.Topic, rec)
	if err != nil {
		return Reading{}, err
	}
	if rec.Undecoded {
		if p.Payload == nil {
			return Reading{}, reject("%s", rec.NoDecoder)
		}
		fields, units, err := p.Payload(rec.Payload)
		if err != nil {
			return Reading{}, reject("sensor kind %q: %s: %v", p.Name, p.PayloadName, err)
		}
		rec.Fields, rec.Units = fields, units
	}

	r := Reading{
		Customer: rec.Customer, Sensor: p.Name, Device: rec.Device, Name: rec.Name, Gateway: rec.Gateway,
		Received: env.Received.UTC(), Fields: map[string]float64{}, MsgCount: rec.MsgCount,
		RSSI: rec.RSSI, SNR: rec.SNR, Strings: maps.Clone(rec.Strings),
	}
	if rec.MsgCount < 0 || rec.MsgCount > maxExactInt {
		r.MsgCount = NoMsgCount
	}
	if rec.Time.IsZero() {
		d.placeTime(&r, time.Time{}, time.Time{}, false, "")
	} else {
		d.placeTime(&r, rec.Time.UTC(), time.Time{}, true, rec.Time.Format(time.RFC3339Nano))
	}
	if r.MsgCount == NoMsgCount {
		if rec.ID != "" {
			r.Digest = PayloadDigest([]byte(rec.ID))
		} else {
			r.Digest = PayloadDigest(env.Payload)
		}
	}
	r.radioFields()
	for k, v := range rec.Status {
		if !math.IsNaN(v) && !math.IsInf(v, 0) {
			r.Fields[k] = v
			if u := rec.Units[k]; u != "" {
				r.setUnit(k, u)
			}
		}
	}
	names := p.Keep
	if len(names) == 0 {
		names = slices.Sorted(maps.Keys(rec.Fields))
	}
	for _, name := range names {
		if e := r.putField(p, name, rec.Fields[name], recordNumber, rec.Units[name]); e != nil {
			return Reading{}, e
		}
	}
	return r, nil
}

// kindOf is the sensor kind of a record: the one it names, the first of
// its candidates configured, or the one whose match rules it meets.
func (d *Decoder) kindOf(topic string, rec *Record) (*Profile, error) {
	byName := func(name string) *Profile {
		for i := range d.Profiles {
			if d.Profiles[i].Name == name {
				return &d.Profiles[i]
			}
		}
		return nil
	}
	if rec.Sensor != "" {
		if p := byName(rec.Sensor); p != nil {
			return p, nil
		}
		return nil, reject("sensor kind %q of device %s is not configured: add it to sensors (or in Settings, Sensor kinds)", rec.Sensor, rec.Device)
	}
	for _, k := range rec.Kinds {
		if p := byName(k); p != nil {
			return p, nil
		}
	}
	if p := d.profileFor(topic, rec.Fields); p != nil {
		return p, nil
	}
	tried := slices.DeleteFunc(slices.Clone(rec.Kinds), func(k string) bool { return k == "" })
	return nil, reject("no sensor kind for device %s (topic %q; not kinds: %q): name one in the device's tags (sensor), the input's sensor, or a kind's match rules",
		rec.Device, topic, tried)
}

// recordNumber is a record's value as a finite float64: a number, a
// numeric text, or true (1) and false (0).
func recordNumber(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, !math.IsNaN(x) && !math.IsInf(x, 0)
	case bool:
		if x {
			return 1, true
		}
		return 0, true
	case int:
		return float64(x), true
	case int64:
		return float64(x), true
	}
	return number(v)
}

// Flatten adds the values of a JSON object to into, nested objects and
// arrays named by their path joined with sep: {"a":{"b":1}} is a<sep>b.
// Values are as ParseJSON gives them.
func Flatten(into map[string]any, prefix, sep string, v any) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			Flatten(into, join(prefix, sep, k), sep, e)
		}
	case []any:
		for i, e := range x {
			Flatten(into, join(prefix, sep, strconv.Itoa(i)), sep, e)
		}
	default:
		if prefix != "" {
			into[prefix] = x
		}
	}
}

func join(prefix, sep, k string) string {
	if prefix == "" {
		return k
	}
	return prefix + sep + k
}

// ParseJSON decodes a payload that must be one JSON object, numbers kept
// as json.Number, and returns the same rejections as the default format
// for what is not one.
func ParseJSON(payload []byte) (map[string]any, error) { return parseObject(payload) }

// Reject is a rejection with the reason given as fmt.Sprintf does.
func Reject(format string, args ...any) *RejectError { return reject(format, args...) }

// Number is a JSON value as a number: a json.Number, a float64 or a
// numeric text.
func Number(v any) (float64, bool) {
	if n, ok := v.(json.Number); ok {
		return number(n)
	}
	return recordNumber(v)
}

// Text is a JSON value as text: a string or a number's literal.
func Text(v any) (string, bool) {
	s, ok := text(v)
	return strings.TrimSpace(s), ok
}
