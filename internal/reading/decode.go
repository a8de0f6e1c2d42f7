package reading

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Profile says how the payloads of one sensor kind become readings.
type Profile struct {
	// Name is the sensor kind, such as "air".
	Name string
	// MatchField and MatchEquals select payloads whose field MatchField has
	// the value MatchEquals (compared as text).
	MatchField  string
	MatchEquals string
	// MatchTopic selects payloads by MQTT topic filter (+ and # wildcards).
	MatchTopic string
	// Keep lists the payload fields stored as numeric fields. Empty keeps
	// every field that is not identity or radio metadata.
	Keep []string
	// Rename maps a payload field name to its stored name.
	Rename map[string]string
	// Units gives a field's unit when the payload does not carry one.
	Units map[string]string
}

// Decoder turns envelopes into readings following the sensor profiles.
type Decoder struct {
	Location   *time.Location
	Customers  map[string]bool
	Profiles   []Profile
	MaxPayload int
	// MaxDepth, MaxFields and MaxTopic, when positive, bound the JSON
	// nesting, the fields of the object and the topic's length.
	MaxDepth, MaxFields, MaxTopic int
}

// RejectError is returned by Decode for a message that cannot become a
// reading. Reason is meant for the person reading the rejected list.
type RejectError struct {
	Reason   string
	Customer string
}

func (e *RejectError) Error() string { return e.Reason }

func reject(format string, args ...any) *RejectError {
	return &RejectError{Reason: fmt.Sprintf(format, args...)}
}

// metadata are the payload keys that describe the message, not measurements.
var metadata = map[string]bool{
	"Customer": true, "idGateway": true, "idDevice": true, "Device": true, "Time": true,
	"msgCount": true, "Length": true, "RSSI": true, "SNR": true, "Mod": true,
}

// timeLayouts are the zone-less layouts devices use for Time.
var timeLayouts = []string{
	"2006-01-02 15:04:05.999999999",
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04",
	"2006/01/02 15:04:05",
}

// Decode decodes one envelope. It returns a *RejectError when the message
// must be rejected; fields that are present but unusable do not reject the
// message: they are left out and flagged on the reading.
func (d *Decoder) Decode(env Envelope) (Reading, error) {
	if d.MaxPayload > 0 && len(env.Payload) > d.MaxPayload {
		return Reading{}, reject("payload too large: %d bytes, the limit is %d (ingest.max_payload)", len(env.Payload), d.MaxPayload)
	}
	if d.MaxTopic > 0 && len(env.Topic) > d.MaxTopic {
		return Reading{}, reject("topic too long: %d bytes, the limit is %d (ingest.max_topic)", len(env.Topic), d.MaxTopic)
	}
	obj, err := parseObject(env.Payload)
	if err != nil {
		return Reading{}, err
	}
	if d.MaxFields > 0 && len(obj) > d.MaxFields {
		return Reading{}, reject("too many fields: %d, the limit is %d (ingest.max_fields)", len(obj), d.MaxFields)
	}
	if d.MaxDepth > 0 {
		if n := depth(obj); n > d.MaxDepth {
			return Reading{}, reject("JSON nested too deep: %d levels, the limit is %d (ingest.max_depth)", n, d.MaxDepth)
		}
	}

	customer, ok := text(obj["Customer"])
	if !ok || customer == "" {
		return Reading{}, reject("missing customer: the payload has no \"Customer\" field")
	}
	if env.Customer != "" && customer != env.Customer {
		// Kept under the sender's customer: the other one never sent it.
		e := reject("customer %q refused: this sender may only send for %q", customer, env.Customer)
		e.Customer = env.Customer
		return Reading{}, e
	}
	if !d.Customers[customer] {
		e := reject("unknown customer %q: add it to customers in the configuration", customer)
		e.Customer = customer
		return Reading{}, e
	}
	device, ok := text(obj["idDevice"])
	if !ok || device == "" {
		e := reject("missing device identity: the payload has no \"idDevice\" field")
		e.Customer = customer
		return Reading{}, e
	}
	p := d.profileFor(env.Topic, obj)
	if p == nil {
		mod, _ := text(obj["Mod"])
		e := reject("no sensor kind matches this message (topic %q, Mod %q): check the sensors' match rules", env.Topic, mod)
		e.Customer = customer
		return Reading{}, e
	}

	r := Reading{
		Customer: customer,
		Sensor:   p.Name,
		Device:   device,
		Received: env.Received.UTC(),
		Fields:   map[string]float64{},
		MsgCount: NoMsgCount,
	}
	r.Name, _ = text(obj["Device"])
	r.Gateway, _ = text(obj["idGateway"])
	if mod, ok := text(obj["Mod"]); ok && mod != "" {
		r.Strings = map[string]string{"Mod": mod}
	}
	if t, ok := d.parseTime(obj["Time"]); ok {
		r.Time = t
	} else {
		r.Time = r.Received
		r.Flags = append(r.Flags, FlagTimeFromReceive)
	}
	r.Time = r.Time.Truncate(time.Millisecond)
	if v, ok := number(obj["msgCount"]); ok && v >= 0 && v == math.Trunc(v) {
		r.MsgCount = int64(v)
	}
	r.RSSI = optNumber(obj["RSSI"])
	r.SNR = optNumber(obj["SNR"])
	r.Length = optNumber(obj["Length"])
	// Radio metadata is also kept as fields, to be charted, aggregated and
	// used in formulas like any measurement.
	if r.RSSI != nil {
		r.Fields[FieldRSSI] = *r.RSSI
		r.setUnit(FieldRSSI, "dBm")
	}
	if r.SNR != nil {
		r.Fields[FieldSNR] = *r.SNR
		r.setUnit(FieldSNR, "dB")
	}

	for _, name := range p.fieldsOf(obj) {
		raw := obj[name]
		if absent(raw) {
			continue
		}
		stored := name
		if to, ok := p.Rename[name]; ok {
			stored = to
		}
		v, ok := number(raw)
		if !ok {
			if s, isText := raw.(string); isText && len(p.Keep) == 0 && !looksNumeric(s) {
				if r.Strings == nil {
					r.Strings = map[string]string{}
				}
				r.Strings[stored] = s
				continue
			}
			r.Flags = append(r.Flags, FlagFieldRejectedPrefix+stored)
			continue
		}
		r.Fields[stored] = v
		if u := unitOf(obj, name); u != "" {
			r.setUnit(stored, u)
		} else if u := p.Units[stored]; u != "" {
			r.setUnit(stored, u)
		}
	}
	return r, nil
}

func (r *Reading) setUnit(field, unit string) {
	if r.Units == nil {
		r.Units = map[string]string{}
	}
	r.Units[field] = unit
}

// parseObject decodes a payload that must be one JSON object, keeping numbers
// as text so that values out of float64's range are seen, not failed on.
func parseObject(payload []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, reject("invalid JSON: the payload is empty")
		}
		return nil, reject("invalid JSON: %s", strings.TrimPrefix(err.Error(), "json: "))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, reject("invalid JSON: unexpected data after the JSON value")
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, reject("not a JSON object: the payload is %s", jsonKind(v))
	}
	return obj, nil
}

// depth is how deeply objects and arrays nest in v; a flat object is 1.
func depth(v any) int {
	n := 0
	switch x := v.(type) {
	case map[string]any:
		for _, e := range x {
			n = max(n, depth(e))
		}
	case []any:
		for _, e := range x {
			n = max(n, depth(e))
		}
	default:
		return 0
	}
	return n + 1
}

func jsonKind(v any) string {
	switch v.(type) {
	case []any:
		return "an array"
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "a boolean"
	case nil:
		return "null"
	}
	return "not an object"
}

func (d *Decoder) profileFor(topic string, obj map[string]any) *Profile {
	for i := range d.Profiles {
		p := &d.Profiles[i]
		if p.MatchTopic != "" && !TopicMatches(p.MatchTopic, topic) {
			continue
		}
		if p.MatchField != "" {
			v, ok := text(obj[p.MatchField])
			if !ok || v != p.MatchEquals {
				continue
			}
		}
		return p
	}
	return nil
}

// fieldsOf lists, in a stable order, the payload keys this profile stores.
func (p *Profile) fieldsOf(obj map[string]any) []string {
	if len(p.Keep) > 0 {
		return p.Keep
	}
	var names []string
	for k := range obj {
		if metadata[k] || strings.HasSuffix(k, "-U") || strings.HasPrefix(k, "_") {
			continue
		}
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

// unitOf finds a field's unit: "<Field>-U", or for a phase field such as U1
// the unit shared by its family, "U-U".
func unitOf(obj map[string]any, field string) string {
	if u, ok := text(obj[field+"-U"]); ok && u != "" && u != "NULL" {
		return u
	}
	base := strings.TrimRight(field, "0123456789")
	if base != field && base != "" {
		if u, ok := text(obj[base+"-U"]); ok && u != "" && u != "NULL" {
			return u
		}
	}
	return ""
}

func (d *Decoder) parseTime(v any) (time.Time, bool) {
	switch t := v.(type) {
	case string:
		t = strings.TrimSpace(t)
		for _, layout := range timeLayouts {
			if ts, err := time.ParseInLocation(layout, t, d.Location); err == nil {
				return ts.UTC(), true
			}
		}
		if ts, err := time.Parse(time.RFC3339Nano, t); err == nil {
			return ts.UTC(), true
		}
	case json.Number:
		// Unix time, in seconds or milliseconds.
		f, err := t.Float64()
		if err != nil || f <= 0 || math.IsInf(f, 0) {
			return time.Time{}, false
		}
		if f < 1e11 {
			return time.UnixMilli(int64(f * 1000)).UTC(), true
		}
		return time.UnixMilli(int64(f)).UTC(), true
	}
	return time.Time{}, false
}

// absent reports whether a value means "no value": JSON null or "NULL".
func absent(v any) bool {
	if v == nil {
		return true
	}
	s, ok := v.(string)
	return ok && (s == "NULL" || s == "")
}

// number returns v as a finite float64: a JSON number or a numeric string.
func number(v any) (float64, bool) {
	var s string
	switch t := v.(type) {
	case json.Number:
		s = string(t)
	case string:
		s = strings.TrimSpace(t)
	default:
		return 0, false
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, false
	}
	return f, true
}

func looksNumeric(s string) bool {
	_, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	return err == nil || errors.Is(err, strconv.ErrRange)
}

func optNumber(v any) *float64 {
	if f, ok := number(v); ok {
		return &f
	}
	return nil
}

// text returns v as text: a string, or a number's literal.
func text(v any) (string, bool) {
	switch t := v.(type) {
	case string:
		if t == "NULL" {
			return "", false
		}
		return t, true
	case json.Number:
		return string(t), true
	}
	return "", false
}

// TopicMatches reports whether an MQTT topic matches a filter with the + and
// # wildcards.
func TopicMatches(filter, topic string) bool {
	fs := strings.Split(filter, "/")
	ts := strings.Split(topic, "/")
	for i, f := range fs {
		if f == "#" {
			return true
		}
		if i >= len(ts) {
			return false
		}
		if f != "+" && f != ts[i] {
			return false
		}
	}
	return len(fs) == len(ts)
}
