// Package chunk encodes one device's readings of a time window as columns,
// compressed: the time and msgCount once per reading, each field a column,
// flags, strings and names sparse. A field of decimals (230.4, 0.93) is
// kept as integers at its decimal scale, as differences from the reading
// before or from the first, whichever is smaller; one that is not is kept
// as Prometheus' XOR floats. The whole is compressed with zstd.
package chunk

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"sort"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/prometheus/prometheus/tsdb/chunkenc"

	"github.com/sensorhub/sensorhub/internal/reading"
	"github.com/sensorhub/sensorhub/internal/wire"
)

// MaxRows is the most readings a chunk holds.
const MaxRows = 1 << 15

const version = 1

// Float column encodings.
const (
	floatDelta  = 1 // decimal integers, each as the difference from the one before
	floatOffset = 2 // decimal integers, each as the difference from the first
	floatXOR    = 3 // Prometheus XOR chunk
)

var (
	// A window of 1 MiB: a chunk's body is one device's day, a few hundred
	// KiB at most before compression, and the 8 MiB window of the level's
	// default kept 16 MiB of history in memory for nothing.
	encoder, _ = zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedBetterCompression), zstd.WithEncoderConcurrency(1),
		zstd.WithWindowSize(1<<20))
	decoder, _ = zstd.NewReader(nil, zstd.WithDecoderConcurrency(0), zstd.WithDecoderMaxMemory(256<<20))
)

// ErrCorrupt is returned for data that is not a chunk this version wrote.
var ErrCorrupt = errors.New("chunk: corrupt or unknown data")

// Encode encodes readings of one device, in order of time then Seq, into a
// chunk. Customer, sensor, device and units are not kept: the chunk's
// place says whose readings they are, and units are kept per device.
func Encode(rs []reading.Reading) ([]byte, error) {
	body, err := encodeBody(rs, floatAuto)
	if err != nil {
		return nil, err
	}
	return encoder.EncodeAll(body, make([]byte, 0, len(body)/4)), nil
}

// floatMode chooses the float encodings: floatAuto picks per column;
// floatQuick, for rows that are kept only until compacted, takes decimal
// deltas or plain floats without weighing them; the others force one, to
// compare candidates.
type floatMode int

const (
	floatAuto floatMode = iota
	floatQuick
	forceDelta
	forceXOR
	forceRaw
)

func encodeBody(rs []reading.Reading, mode floatMode) ([]byte, error) {
	if len(rs) > MaxRows {
		return nil, fmt.Errorf("chunk: %d readings, at most %d", len(rs), MaxRows)
	}
	n := len(rs)
	b := make([]byte, 0, 64+n*24)
	b = append(b, version)
	b = binary.AppendUvarint(b, uint64(n))
	col := make([]int64, n)
	for i := range rs {
		col[i] = rs[i].Time.UnixMilli()
	}
	b = appendDoD(b, col)
	for i := range rs {
		col[i] = rs[i].MsgCount
	}
	b = appendDelta(b, col)
	for i := range rs {
		col[i] = rs[i].Received.UnixMilli() - rs[i].Time.UnixMilli()
	}
	b = appendDelta(b, col)
	var digests []int64
	var present []bool
	for i := range rs {
		present = append(present, rs[i].Digest != 0)
		if rs[i].Digest != 0 {
			digests = append(digests, rs[i].Digest)
		}
	}
	b = appendPresence(b, present)
	for _, d := range digests {
		b = binary.AppendVarint(b, d)
	}
	b = appendStrings(b, rs, func(r *reading.Reading) (string, bool) { return r.Name, r.Name != "" })
	b = appendStrings(b, rs, func(r *reading.Reading) (string, bool) { return r.Gateway, r.Gateway != "" })
	b = appendOptFloat(b, rs, func(r *reading.Reading) (float64, bool) {
		if r.Length == nil {
			return 0, false
		}
		return *r.Length, true
	}, mode)
	b = appendFlags(b, rs)
	keys := map[string]bool{}
	for i := range rs {
		for k := range rs[i].Strings {
			keys[k] = true
		}
	}
	b = binary.AppendUvarint(b, uint64(len(keys)))
	for _, k := range sortedKeys(keys) {
		b = appendString(b, k)
		b = appendStrings(b, rs, func(r *reading.Reading) (string, bool) { s, ok := r.Strings[k]; return s, ok })
	}
	fields := map[string]bool{}
	for i := range rs {
		for k := range rs[i].Fields {
			fields[k] = true
		}
	}
	b = binary.AppendUvarint(b, uint64(len(fields)))
	for _, f := range sortedKeys(fields) {
		b = appendString(b, f)
		b = appendOptFloat(b, rs, func(r *reading.Reading) (float64, bool) { v, ok := r.Fields[f]; return v, ok }, mode)
	}
	return b, nil
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// appendDoD writes an int64 column as its first value, first difference,
// then differences of differences: a regular clock costs nothing.
func appendDoD(b []byte, v []int64) []byte {
	var prev, prevDelta int64
	for i, x := range v {
		switch i {
		case 0:
			b = binary.AppendVarint(b, x)
		case 1:
			prevDelta = x - prev
			b = binary.AppendVarint(b, prevDelta)
		default:
			d := x - prev
			b = binary.AppendVarint(b, d-prevDelta)
			prevDelta = d
		}
		prev = x
	}
	return b
}

// appendDelta writes an int64 column as differences from the value before.
func appendDelta(b []byte, v []int64) []byte {
	var prev int64
	for _, x := range v {
		b = binary.AppendVarint(b, x-prev)
		prev = x
	}
	return b
}

// appendPresence writes which rows have a value: 0 for all, 1 for none,
// 2 and a bitmap otherwise.
func appendPresence(b []byte, present []bool) []byte {
	all, none := true, true
	for _, p := range present {
		all = all && p
		none = none && !p
	}
	switch {
	case all:
		return append(b, 0)
	case none:
		return append(b, 1)
	}
	b = append(b, 2)
	bm := make([]byte, (len(present)+7)/8)
	for i, p := range present {
		if p {
			bm[i/8] |= 1 << (i % 8)
		}
	}
	return append(b, bm...)
}

// appendStrings writes an optional text column: its presence, a
// dictionary, and an index into it per row that has a value.
func appendStrings(b []byte, rs []reading.Reading, get func(*reading.Reading) (string, bool)) []byte {
	present := make([]bool, len(rs))
	index := map[string]int{}
	var dict []string
	var idx []int
	for i := range rs {
		s, ok := get(&rs[i])
		present[i] = ok
		if !ok {
			continue
		}
		j, seen := index[s]
		if !seen {
			j = len(dict)
			index[s] = j
			dict = append(dict, s)
		}
		idx = append(idx, j)
	}
	b = appendPresence(b, present)
	b = binary.AppendUvarint(b, uint64(len(dict)))
	for _, s := range dict {
		b = appendString(b, s)
	}
	if len(dict) > 1 {
		for _, j := range idx {
			b = binary.AppendUvarint(b, uint64(j))
		}
	}
	return b
}

// appendFlags writes the rows that have flags: few have any.
func appendFlags(b []byte, rs []reading.Reading) []byte {
	var rows []int
	for i := range rs {
		if len(rs[i].Flags) > 0 {
			rows = append(rows, i)
		}
	}
	b = binary.AppendUvarint(b, uint64(len(rows)))
	prev := 0
	for _, i := range rows {
		b = binary.AppendUvarint(b, uint64(i-prev))
		prev = i
		b = binary.AppendUvarint(b, uint64(len(rs[i].Flags)))
		for _, f := range rs[i].Flags {
			b = appendString(b, f)
		}
	}
	return b
}

// appendOptFloat writes an optional float column: presence, then the
// values of the rows that have one.
func appendOptFloat(b []byte, rs []reading.Reading, get func(*reading.Reading) (float64, bool), mode floatMode) []byte {
	present := make([]bool, len(rs))
	vals := make([]float64, 0, len(rs))
	for i := range rs {
		v, ok := get(&rs[i])
		present[i] = ok
		if ok {
			vals = append(vals, v)
		}
	}
	b = appendPresence(b, present)
	if len(vals) == 0 {
		return b
	}
	// Length-prefixed, so that a reader of another field skips it.
	col := appendFloats(nil, vals, mode)
	b = binary.AppendUvarint(b, uint64(len(col)))
	return append(b, col...)
}

// appendFloats writes a float column with the encoding that suits it.
func appendFloats(b []byte, vals []float64, mode floatMode) []byte {
	if mode == forceRaw {
		b = append(b, 0)
		for _, v := range vals {
			b = binary.LittleEndian.AppendUint64(b, math.Float64bits(v))
		}
		return b
	}
	scale, ints, ok := decimals(vals)
	if !ok && mode == floatQuick {
		return appendFloats(b, vals, forceRaw)
	}
	if ok && mode != forceXOR {
		delta := appendDelta(nil, ints)
		if mode == forceDelta || mode == floatQuick {
			return append(append(b, floatDelta, byte(scale)), delta...)
		}
		offset := make([]byte, 0, len(delta))
		offset = binary.AppendVarint(offset, ints[0])
		for _, x := range ints[1:] {
			offset = binary.AppendVarint(offset, x-ints[0])
		}
		// The smaller after compression: estimated by the bytes' entropy.
		if cost(offset) < cost(delta) {
			return append(append(b, floatOffset, byte(scale)), offset...)
		}
		return append(append(b, floatDelta, byte(scale)), delta...)
	}
	c := chunkenc.NewXORChunk()
	app, _ := c.Appender()
	for i, v := range vals {
		app.Append(0, int64(i), v)
	}
	b = append(b, floatXOR)
	b = binary.AppendUvarint(b, uint64(len(c.Bytes())))
	return append(b, c.Bytes()...)
}

// maxScale is the most decimal digits a value is kept with as an integer.
const maxScale = 9

// decimals finds the fewest decimal digits that hold every value exactly,
// and the values as integers at that scale; false when there is none (a
// value with more digits, too large, or not finite).
func decimals(vals []float64) (int, []int64, bool) {
	scale := 0
	for _, v := range vals {
		for scale <= maxScale && !exactAt(v, scale) {
			scale++
		}
		if scale > maxScale {
			return 0, nil, false
		}
	}
	p := pow10[scale]
	ints := make([]int64, len(vals))
	for i, v := range vals {
		ints[i] = int64(math.Round(v * p))
	}
	return scale, ints, true
}

var pow10 = [...]float64{1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9}

// exactAt reports whether v, times 10^scale, is an integer that gives v
// back when divided again, within float64's exact integers.
func exactAt(v float64, scale int) bool {
	x := math.Round(v * pow10[scale])
	return math.Abs(x) < 1<<53 && x/pow10[scale] == v && !(v == 0 && math.Signbit(v))
}

// cost estimates the compressed size of b: its length times the entropy
// of its bytes.
func cost(b []byte) float64 {
	var hist [256]int
	for _, c := range b {
		hist[c]++
	}
	n := float64(len(b))
	bits := 0.0
	for _, h := range hist {
		if h > 0 {
			p := float64(h) / n
			bits -= float64(h) * math.Log2(p)
		}
	}
	return bits
}

// Point is one value of a field in a chunk.
type Point struct {
	Time, Seq int64
	Value     float64
}

// Decode decodes a chunk's readings, in their order. Customer, sensor,
// device and units are for the caller to set.
func Decode(data []byte) ([]reading.Reading, error) {
	var out []reading.Reading
	err := decode(data, func(d *decoded) error {
		out = d.readings()
		return nil
	}, "")
	return out, err
}

// Field decodes one field's values, with their readings' time and Seq.
func Field(data []byte, field string) ([]Point, error) {
	var out []Point
	err := decode(data, func(d *decoded) error {
		out = d.field(field)
		return nil
	}, field)
	return out, err
}

// decoded is a chunk read back as columns.
type decoded struct {
	n                   int
	times, counts, recv []int64
	digests             []int64 // per row, 0 without
	names, gateways     []string
	lengths             []*float64
	flags               [][]string
	strings             map[string][]*string
	fields              map[string][]*float64
	order               []string
}

func (d *decoded) seq(i int) int64 {
	if d.counts[i] == reading.NoMsgCount && d.digests[i] != 0 {
		return d.digests[i]
	}
	return d.counts[i]
}

func (d *decoded) readings() []reading.Reading {
	out := make([]reading.Reading, d.n)
	for i := range out {
		r := &out[i]
		r.Time = timeOf(d.times[i])
		r.Received = timeOf(d.times[i] + d.recv[i])
		r.MsgCount = d.counts[i]
		r.Digest = d.digests[i]
		r.Name, r.Gateway = d.names[i], d.gateways[i]
		r.Length = d.lengths[i]
		r.Flags = d.flags[i]
		r.Fields = make(map[string]float64, len(d.order))
		for _, f := range d.order {
			if v := d.fields[f][i]; v != nil {
				r.Fields[f] = *v
			}
		}
		for k, col := range d.strings {
			if s := col[i]; s != nil {
				if r.Strings == nil {
					r.Strings = map[string]string{}
				}
				r.Strings[k] = *s
			}
		}
		if v, ok := r.Fields[reading.FieldRSSI]; ok {
			r.RSSI = &v
		}
		if v, ok := r.Fields[reading.FieldSNR]; ok {
			r.SNR = &v
		}
	}
	return out
}

func (d *decoded) field(name string) []Point {
	col := d.fields[name]
	out := make([]Point, 0, len(col))
	for i, v := range col {
		if v != nil {
			out = append(out, Point{Time: d.times[i], Seq: d.seq(i), Value: *v})
		}
	}
	return out
}

func timeOf(ms int64) time.Time { return time.UnixMilli(ms).UTC() }

// reader reads a chunk's body.
type reader struct{ wire.Reader }

func newReader(b []byte) *reader { return &reader{wire.Reader{B: b, Corrupt: ErrCorrupt}} }

func (r *reader) string() string { return string(r.Bytes(r.Uvarint())) }

func (r *reader) presence(n int) []bool {
	out := make([]bool, n)
	switch r.Byte() {
	case 0:
		for i := range out {
			out[i] = true
		}
	case 1:
	case 2:
		bm := r.Bytes(uint64((n + 7) / 8))
		for i := range out {
			out[i] = len(bm) > i/8 && bm[i/8]&(1<<(i%8)) != 0
		}
	default:
		r.Fail()
	}
	return out
}

func (r *reader) dod(n int) []int64 {
	out := make([]int64, n)
	var prev, delta int64
	for i := range out {
		switch i {
		case 0:
			out[i] = r.Varint()
		case 1:
			delta = r.Varint()
			out[i] = prev + delta
		default:
			delta += r.Varint()
			out[i] = prev + delta
		}
		prev = out[i]
	}
	return out
}

func (r *reader) delta(n int) []int64 {
	out := make([]int64, n)
	var prev int64
	for i := range out {
		prev += r.Varint()
		out[i] = prev
	}
	return out
}

func (r *reader) strings(n int) []*string {
	present := r.presence(n)
	dict := make([]string, r.Count())
	for i := range dict {
		dict[i] = r.string()
	}
	out := make([]*string, n)
	for i, p := range present {
		if !p || r.Err != nil {
			continue
		}
		j := uint64(0)
		if len(dict) > 1 {
			j = r.Uvarint()
		}
		if j >= uint64(len(dict)) {
			r.Fail()
			continue
		}
		out[i] = &dict[j]
	}
	return out
}

// skipStrings reads past an optional string column.
func (r *reader) skipStrings(n int) {
	present := r.presence(n)
	dict := r.Count()
	for range dict {
		r.Bytes(r.Uvarint())
	}
	if dict <= 1 {
		return
	}
	for _, p := range present {
		if p && r.Err == nil {
			r.Uvarint()
		}
	}
}

// floats reads an optional float column; with skip, only past it (nil).
func (r *reader) floats(n int, skip bool) []*float64 {
	present := r.presence(n)
	k := 0
	for _, p := range present {
		if p {
			k++
		}
	}
	var col *reader
	if k > 0 {
		col = newReader(r.Bytes(r.Uvarint()))
	}
	if skip || r.Err != nil {
		return nil
	}
	out := make([]*float64, n)
	if k == 0 {
		return out
	}
	vals := col.values(k)
	if col.Err != nil {
		r.Fail()
		return out
	}
	j := 0
	for i, p := range present {
		if p {
			out[i] = &vals[j]
			j++
		}
	}
	return out
}

func (r *reader) values(k int) []float64 {
	vals := make([]float64, k)
	switch enc := r.Byte(); enc {
	case 0:
		for i := range vals {
			if b := r.Bytes(8); b != nil {
				vals[i] = math.Float64frombits(binary.LittleEndian.Uint64(b))
			}
		}
	case floatDelta, floatOffset:
		scale := int(r.Byte())
		if scale > maxScale {
			r.Fail()
			return vals
		}
		var x, base int64
		for i := range vals {
			v := r.Varint()
			switch {
			case enc == floatDelta:
				x += v
			case i == 0:
				x, base = v, v
			default:
				x = base + v
			}
			vals[i] = float64(x) / pow10[scale]
		}
	case floatXOR:
		data := r.Bytes(r.Uvarint())
		if len(data) < 2 || int(binary.BigEndian.Uint16(data)) != k {
			r.Fail()
			return vals
		}
		c, err := chunkenc.FromData(chunkenc.EncXOR, data)
		if err != nil {
			r.Fail()
			return vals
		}
		it := c.Iterator(nil)
		for i := range vals {
			if it.Next() == chunkenc.ValNone {
				r.Fail()
				return vals
			}
			_, vals[i] = it.At()
		}
		if it.Err() != nil {
			r.Fail()
		}
	default:
		r.Fail()
	}
	return vals
}

// decode decompresses and reads a chunk, then calls fn with it; with
// field set, the other fields' columns are skipped.
func decode(data []byte, fn func(*decoded) error, field string) error {
	body, err := decoder.DecodeAll(data, nil)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	return decodeBody(body, fn, field)
}

// decodeBody reads an uncompressed chunk body.
func decodeBody(body []byte, fn func(*decoded) error, field string) (err error) {
	defer func() {
		// A damaged file is an error, not a crash of the process.
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: %v", ErrCorrupt, p)
		}
	}()
	r := newReader(body)
	if r.Byte() != version {
		return ErrCorrupt
	}
	n := r.Count()
	if n > MaxRows {
		return ErrCorrupt
	}
	d := &decoded{n: n, strings: map[string][]*string{}, fields: map[string][]*float64{}}
	d.times = r.dod(n)
	d.counts = r.delta(n)
	if field == "" {
		d.recv = r.delta(n)
	} else {
		for range n {
			r.Varint() // a field's values do not need the receive times
		}
	}
	d.digests = make([]int64, n)
	for i, p := range r.presence(n) {
		if p {
			d.digests[i] = r.Varint()
		}
	}
	if field == "" {
		d.names, d.gateways = deref(r.strings(n)), deref(r.strings(n))
	} else {
		r.skipStrings(n)
		r.skipStrings(n)
	}
	d.lengths = r.floats(n, field != "")
	d.flags = make([][]string, n)
	row := 0
	for range r.Count() {
		row += int(r.Uvarint())
		k := r.Count()
		if row >= n {
			r.Fail()
			break
		}
		for range k {
			d.flags[row] = append(d.flags[row], r.string())
		}
	}
	for range r.Count() {
		k := r.string()
		d.strings[k] = r.strings(n)
	}
	for range r.Count() {
		f := r.string()
		d.order = append(d.order, f)
		d.fields[f] = r.floats(n, field != "" && f != field)
	}
	if r.Err != nil {
		return r.Err
	}
	return fn(d)
}

func deref(col []*string) []string {
	out := make([]string, len(col))
	for i, s := range col {
		if s != nil {
			out[i] = *s
		}
	}
	return out
}
