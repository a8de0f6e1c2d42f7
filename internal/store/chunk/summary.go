package chunk

import (
	"encoding/binary"
	"math"
	"sort"

	"github.com/sensorhub/sensorhub/internal/reading"
	"github.com/sensorhub/sensorhub/internal/store/series"
)

// Summary is what one field's values of a chunk add up to, in time order:
// enough to answer any aggregation of a day without reading the values.
// Its Counter holds the count, the first and last values and the counter
// increase from the first value to the last (series.Counter's rule).
type Summary struct {
	series.Counter
	Sum, Min, Max float64
	// FirstAt and LastAt are the times of the first and the last value,
	// Unix milliseconds, when Timed: the counter increase between two
	// summaries is spread over the time between them (series.Spread).
	// Summaries encoded before they were kept are not Timed.
	FirstAt, LastAt int64
	Timed           bool
}

// Add adds a value at ms (Unix milliseconds) after those already added.
func (s *Summary) Add(ms int64, v float64) {
	if s.N == 0 {
		s.Min, s.Max = v, v
		s.FirstAt, s.Timed = ms, true
	}
	s.LastAt = ms
	s.Counter.Add(v)
	s.Sum += v
	s.Min, s.Max = math.Min(s.Min, v), math.Max(s.Max, v)
}

// summaryVersion is the encoding of summaries with the whole Counter and
// the times of the first and last values; those of counterVersion lack
// the times, those of version, before both, also the Counter's peak, top
// and resets.
const (
	counterVersion = 2
	summaryVersion = 3
)

// Exact reports whether encoded summaries hold the whole Counter: those
// written before it did count any drop as a reset and merge only
// approximately (their peak is taken as their first value, their top as
// their last).
func Exact(data []byte) bool {
	return len(data) > 0 && (data[0] == counterVersion || data[0] == summaryVersion)
}

// Timed reports whether encoded summaries hold the times of their first
// and last values.
func Timed(data []byte) bool { return len(data) > 0 && data[0] == summaryVersion }

// Summarize sums up each field of readings in time order.
func Summarize(rs []reading.Reading) map[string]*Summary {
	out := map[string]*Summary{}
	for i := range rs {
		addFields(out, &rs[i])
	}
	return out
}

// addFields adds a reading's values to the summaries of its fields.
func addFields(sums map[string]*Summary, r *reading.Reading) {
	ms := r.Time.UnixMilli()
	for f, v := range r.Fields {
		s := sums[f]
		if s == nil {
			s = &Summary{}
			sums[f] = s
		}
		s.Add(ms, v)
	}
}

// EncodeSummaries encodes a chunk's summaries.
func EncodeSummaries(sums map[string]*Summary) []byte {
	names := make([]string, 0, len(sums))
	for f := range sums {
		names = append(names, f)
	}
	sort.Strings(names)
	b := []byte{summaryVersion}
	b = binary.AppendUvarint(b, uint64(len(names)))
	for _, f := range names {
		s := sums[f]
		b = appendString(b, f)
		b = binary.AppendUvarint(b, uint64(s.N))
		for _, v := range []float64{s.Sum, s.Min, s.Max, s.First, s.Last, s.Increase, s.Peak, s.Top} {
			b = binary.LittleEndian.AppendUint64(b, math.Float64bits(v))
		}
		b = binary.AppendUvarint(b, uint64(s.Resets))
		b = binary.AppendVarint(b, s.FirstAt)
		b = binary.AppendVarint(b, s.LastAt)
	}
	return b
}

// DecodeSummary finds one field's summary in encoded summaries; false when
// the chunk has no value of it.
func DecodeSummary(data []byte, field string) (Summary, bool, error) {
	var out Summary
	var found bool
	err := eachSummary(data, func(f string, s Summary) bool {
		if f == field {
			out, found = s, true
		}
		return found
	})
	if err != nil {
		return Summary{}, false, err
	}
	return out, found, nil
}

// eachSummary calls fn with each field's summary of encoded summaries,
// until fn returns true.
func eachSummary(data []byte, fn func(field string, s Summary) (stop bool)) error {
	r := newReader(data)
	v := r.Byte()
	if v != version && v != counterVersion && v != summaryVersion {
		return ErrCorrupt
	}
	for range r.Count() {
		f := r.string()
		var s Summary
		s.N = int64(r.Uvarint())
		fields := []*float64{&s.Sum, &s.Min, &s.Max, &s.First, &s.Last, &s.Increase}
		if v >= counterVersion {
			fields = append(fields, &s.Peak, &s.Top)
		}
		vals := r.Bytes(uint64(len(fields)) * 8)
		if r.Err != nil {
			return r.Err
		}
		for i, p := range fields {
			*p = math.Float64frombits(binary.LittleEndian.Uint64(vals[8*i:]))
		}
		if v >= counterVersion {
			s.Resets = int64(r.Uvarint())
		} else {
			s.Peak, s.Top = s.First, s.Last
		}
		if v == summaryVersion {
			s.FirstAt, s.LastAt, s.Timed = r.Varint(), r.Varint(), true
		}
		if r.Err != nil {
			return r.Err
		}
		if fn(f, s) {
			return nil
		}
	}
	return r.Err
}

// EncodeRow encodes one reading as a recent row: the chunk's columns for
// a single reading, not compressed.
func EncodeRow(r *reading.Reading) ([]byte, error) {
	return encodeBody([]reading.Reading{*r}, floatQuick)
}

// DecodeRow decodes a recent row.
func DecodeRow(data []byte) (reading.Reading, error) {
	var out reading.Reading
	err := decodeBody(data, func(d *decoded) error {
		if d.n != 1 {
			return ErrCorrupt
		}
		out = d.readings()[0]
		return nil
	}, "")
	return out, err
}

// EncodeRows encodes readings, in order of time then Seq, as an
// uncompressed chunk body: a write's new readings of a device, kept so
// until they are compacted.
func EncodeRows(rs []reading.Reading) ([]byte, error) { return encodeBody(rs, floatQuick) }

// DecodeRows decodes what EncodeRows encoded.
func DecodeRows(data []byte) ([]reading.Reading, error) {
	var out []reading.Reading
	err := decodeBody(data, func(d *decoded) error {
		out = d.readings()
		return nil
	}, "")
	return out, err
}
