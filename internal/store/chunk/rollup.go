package chunk

import (
	"encoding/binary"
	"math"
	"sort"
	"time"

	"github.com/sensorhub/sensorhub/internal/reading"
)

// Merge adds the summary of later values to s.
func (s *Summary) Merge(o Summary) {
	if o.N == 0 {
		return
	}
	if s.N == 0 {
		*s = o
		return
	}
	s.Counter.Merge(o.Counter)
	s.LastAt, s.Timed = o.LastAt, s.Timed && o.Timed
	s.Sum += o.Sum
	s.Min, s.Max = math.Min(s.Min, o.Min), math.Max(s.Max, o.Max)
}

// Hours are the summaries of each field per hour: the rollup of a day
// whose readings retention removed. The key is the hour's start, Unix
// seconds.
type Hours map[int64]map[string]*Summary

// SummarizeHours sums up readings, in time order, per hour and field.
func SummarizeHours(rs []reading.Reading) Hours {
	out := Hours{}
	for i := range rs {
		h := rs[i].Time.Truncate(time.Hour).Unix()
		sums := out[h]
		if sums == nil {
			sums = map[string]*Summary{}
			out[h] = sums
		}
		addFields(sums, &rs[i])
	}
	return out
}

// Day merges the hours into each field's summary of them all.
func (h Hours) Day() map[string]*Summary {
	out := map[string]*Summary{}
	for _, start := range h.Starts() {
		for f, s := range h[start] {
			d := out[f]
			if d == nil {
				d = &Summary{}
				out[f] = d
			}
			d.Merge(*s)
		}
	}
	return out
}

// MergeHours adds the hours of b to a, an hour of both merged in time
// order (a's first).
func MergeHours(a, b Hours) Hours {
	for start, sums := range b {
		into := a[start]
		if into == nil {
			a[start] = sums
			continue
		}
		for f, s := range sums {
			if d := into[f]; d != nil {
				d.Merge(*s)
			} else {
				into[f] = s
			}
		}
	}
	return a
}

// Starts are the hours' starts, in order.
func (h Hours) Starts() []int64 {
	out := make([]int64, 0, len(h))
	for s := range h {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// EncodeHours encodes hours: the version, the count, and per hour its
// start and its summaries (EncodeSummaries).
func EncodeHours(h Hours) []byte {
	b := []byte{version}
	b = binary.AppendUvarint(b, uint64(len(h)))
	for _, start := range h.Starts() {
		b = binary.AppendVarint(b, start)
		sums := EncodeSummaries(h[start])
		b = binary.AppendUvarint(b, uint64(len(sums)))
		b = append(b, sums...)
	}
	return b
}

// DecodeHours decodes what EncodeHours encoded.
func DecodeHours(data []byte) (Hours, error) {
	r := newReader(data)
	if r.Byte() != version {
		return nil, ErrCorrupt
	}
	out := Hours{}
	for range r.Count() {
		start := r.Varint()
		sums, err := DecodeSummaries(r.Bytes(r.Uvarint()))
		if r.Err != nil {
			return nil, r.Err
		}
		if err != nil {
			return nil, err
		}
		out[start] = sums
	}
	return out, r.Err
}

// DecodeSummaries decodes every field's summary of EncodeSummaries.
func DecodeSummaries(data []byte) (map[string]*Summary, error) {
	out := map[string]*Summary{}
	err := eachSummary(data, func(f string, s Summary) bool {
		out[f] = &s
		return false
	})
	return out, err
}
