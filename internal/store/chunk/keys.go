package chunk

import (
	"cmp"
	"encoding/binary"
	"slices"
)

// Key is a reading's identity within its device: its time (Unix
// milliseconds) and Seq.
type Key struct{ Time, Seq int64 }

func compareKeys(a, b Key) int { return cmp.Or(cmp.Compare(a.Time, b.Time), cmp.Compare(a.Seq, b.Seq)) }

// SortKeys orders keys by time, then Seq, leaving each key once.
func SortKeys(keys []Key) []Key {
	slices.SortFunc(keys, compareKeys)
	return slices.Compact(keys)
}

// EncodeKeys encodes the identities of a device's readings of one day,
// which SortKeys ordered: the times as differences of differences and the
// Seqs as differences, compressed. A day of readings at a regular interval
// with msgCount counting up costs about two bytes a reading before
// compression, and much less after.
func EncodeKeys(keys []Key) []byte {
	times, seqs := make([]int64, len(keys)), make([]int64, len(keys))
	for i, k := range keys {
		times[i], seqs[i] = k.Time, k.Seq
	}
	body := binary.AppendUvarint(nil, uint64(len(keys)))
	body = appendDoD(body, times)
	body = appendDelta(body, seqs)
	return encoder.EncodeAll(body, []byte{version})
}

// DecodeKeys decodes what EncodeKeys encoded.
func DecodeKeys(data []byte) ([]Key, error) {
	if len(data) == 0 || data[0] != version {
		return nil, ErrCorrupt
	}
	body, err := decoder.DecodeAll(data[1:], nil)
	if err != nil {
		return nil, ErrCorrupt
	}
	r := newReader(body)
	n := r.Count()
	times := r.dod(n)
	seqs := r.delta(n)
	if r.Err != nil || len(r.B) != 0 {
		return nil, ErrCorrupt
	}
	out := make([]Key, n)
	for i := range out {
		out[i] = Key{times[i], seqs[i]}
	}
	return out, nil
}
