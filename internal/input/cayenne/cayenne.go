// Package cayenne decodes Cayenne Low Power Payload (LPP), as myDevices
// specifies it: a sequence of (channel, type, value) items, the types
// those of IPSO Smart Objects less 3200, values big-endian.
package cayenne

import (
	"fmt"
	"strconv"
)

// kind is one LPP data type: its name (as ChirpStack's Cayenne LPP codec
// names it), the bytes of one value, how many values, whether signed,
// the divisor, the unit.
type kind struct {
	name    string
	size    int
	parts   []string
	signed  bool
	divisor float64
	unit    string
}

var kinds = map[byte]kind{
	0:   {name: "digitalInput", size: 1, divisor: 1},
	1:   {name: "digitalOutput", size: 1, divisor: 1},
	2:   {name: "analogInput", size: 2, signed: true, divisor: 100},
	3:   {name: "analogOutput", size: 2, signed: true, divisor: 100},
	101: {name: "illuminanceSensor", size: 2, divisor: 1, unit: "lx"},
	102: {name: "presenceSensor", size: 1, divisor: 1},
	103: {name: "temperatureSensor", size: 2, signed: true, divisor: 10, unit: "°C"},
	104: {name: "humiditySensor", size: 1, divisor: 2, unit: "%"},
	113: {name: "accelerometer", size: 2, parts: []string{"x", "y", "z"}, signed: true, divisor: 1000, unit: "g"},
	115: {name: "barometer", size: 2, divisor: 10, unit: "hPa"},
	134: {name: "gyrometer", size: 2, parts: []string{"x", "y", "z"}, signed: true, divisor: 100, unit: "°/s"},
	136: {name: "gpsLocation", size: 3, parts: []string{"latitude", "longitude", "altitude"}, signed: true, divisor: 10000},
}

// Name is the payload decoder's name in the configuration.
const Name = "cayenne_lpp"

// Decode decodes an LPP payload into fields named <type>_<channel>
// (temperatureSensor_3), a value of several parts <type>_<channel>_<part>
// (accelerometer_1_x), with their units.
func Decode(b []byte) (map[string]any, map[string]string, error) {
	fields, units := map[string]any{}, map[string]string{}
	for len(b) > 0 {
		if len(b) < 2 {
			return nil, nil, fmt.Errorf("%d byte left where a channel and a type are expected", len(b))
		}
		ch, typ := b[0], b[1]
		k, ok := kinds[typ]
		if !ok {
			return nil, nil, fmt.Errorf("channel %d: unknown data type %d", ch, typ)
		}
		n := max(1, len(k.parts))
		if len(b) < 2+n*k.size {
			return nil, nil, fmt.Errorf("channel %d: %s needs %d bytes, %d left", ch, k.name, n*k.size, len(b)-2)
		}
		b = b[2:]
		base := k.name + "_" + strconv.Itoa(int(ch))
		for i := range n {
			div := k.divisor
			if typ == 136 && i == 2 {
				div = 100 // altitude, in centimetres
			}
			v := value(b[i*k.size:(i+1)*k.size], k.signed) / div
			name := base
			if k.parts != nil {
				name += "_" + k.parts[i]
			}
			fields[name] = v
			if u := k.unit; u != "" {
				units[name] = u
			} else if typ == 136 {
				units[name] = "°"
				if i == 2 {
					units[name] = "m"
				}
			}
		}
		b = b[n*k.size:]
	}
	return fields, units, nil
}

// value is a big-endian integer of len(b) bytes.
func value(b []byte, signed bool) float64 {
	var u uint64
	for _, c := range b {
		u = u<<8 | uint64(c)
	}
	if signed && len(b) > 0 && b[0]&0x80 != 0 {
		return float64(int64(u) - int64(1)<<(8*len(b)))
	}
	return float64(u)
}
