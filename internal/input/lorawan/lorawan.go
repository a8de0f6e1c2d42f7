// Package lorawan holds what the formats of LoRaWAN network servers
// (ChirpStack, The Things Stack) read alike: a JSON object's members, the
// gateway that heard an uplink best, and a decoded payload's fields.
package lorawan

import (
	"math"
	"time"

	"github.com/sensorhub/sensorhub/internal/reading"
)

// Object is a JSON object as reading.ParseJSON gives it.
type Object map[string]any

// Object is the member k when it is an object, nil otherwise.
func (o Object) Object(k string) Object {
	m, _ := o[k].(map[string]any)
	return m
}

// String is the member k as text; "" when absent or not text.
func (o Object) String(k string) string {
	s, _ := o[k].(string)
	return s
}

// Number is the member k as a number. Protobuf's JSON mapping leaves a
// zero value out: absent reads as 0, present but not a number is not ok.
func (o Object) Number(k string) (float64, bool) {
	v, present := o[k]
	if !present || v == nil {
		return 0, true
	}
	return reading.Number(v)
}

// Bool is the member k as true or false; absent is false.
func (o Object) Bool(k string) bool {
	b, _ := o[k].(bool)
	return b
}

// Counter is the member k as a frame counter: a whole number from 0 to
// 2^32-1, absent being 0.
func (o Object) Counter(k string) (int64, bool) {
	v, ok := o.Number(k)
	if !ok || v < 0 || v > math.MaxUint32 || v != math.Trunc(v) {
		return 0, false
	}
	return int64(v), true
}

// Time is the member k as an RFC 3339 time; zero when absent or not one.
func (o Object) Time(k string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, o.String(k))
	if err != nil {
		return time.Time{}
	}
	return t
}

// Radio is what one gateway heard of an uplink.
type Radio struct {
	Gateway   string
	RSSI, SNR float64
}

// Best is the gateway that heard the uplink best: the strongest signal
// (RSSI), then the clearest (SNR); ok is false when none is given.
func Best(rx []Radio) (best Radio, ok bool) {
	for i, r := range rx {
		if i == 0 || r.RSSI > best.RSSI || r.RSSI == best.RSSI && r.SNR > best.SNR {
			best = r
		}
	}
	return best, len(rx) > 0
}

// Radios reads a list of gateways' metadata: each an object whose
// members gateway, rssi and snr name the gateway and its figures (an
// entry without RSSI is left out).
func Radios(list any, gateway func(Object) string, rssi, snr string) []Radio {
	items, _ := list.([]any)
	var out []Radio
	for _, it := range items {
		m, ok := it.(map[string]any)
		if !ok {
			continue
		}
		o := Object(m)
		if _, present := o[rssi]; !present {
			continue
		}
		r, ok1 := o.Number(rssi)
		s, ok2 := o.Number(snr)
		if !ok1 || !ok2 {
			continue
		}
		out = append(out, Radio{Gateway: gateway(o), RSSI: r, SNR: s})
	}
	return out
}

// Set puts the best gateway's figures on the record.
func Set(rec *reading.Record, rx []Radio) {
	if b, ok := Best(rx); ok {
		rec.Gateway = b.Gateway
		rec.RSSI, rec.SNR = &b.RSSI, &b.SNR
	}
}

// Fields are a decoded payload's values, nested objects and arrays
// flattened with sep: {"temperature":{"1":21.5}} gives temperature_1
// with sep "_".
func Fields(decoded map[string]any, sep string) map[string]any {
	out := map[string]any{}
	reading.Flatten(out, "", sep, decoded)
	return out
}

// DefaultSeparator joins nested names in a decoded payload's fields.
const DefaultSeparator = "_"
