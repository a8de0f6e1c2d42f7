// Package wire reads the binary forms sensorhub writes (chunks of
// readings, the readings stream): varints and length-prefixed bytes, from
// data that may be cut short or corrupt. The first read past what is
// there sets Err and makes every later read give zero values, so that a
// decoder checks Err once, at its end.
package wire

import "encoding/binary"

// Reader reads B from its start.
type Reader struct {
	B []byte
	// Err is set by the first read that fails: to Corrupt when set.
	Err     error
	Corrupt error
}

// errCorrupt is Err when Corrupt is not set.
type errCorrupt struct{}

func (errCorrupt) Error() string { return "wire: data cut short or corrupt" }

// Fail ends the reading: Err is set and nothing is left.
func (r *Reader) Fail() {
	if r.Err == nil {
		r.Err = r.Corrupt
		if r.Err == nil {
			r.Err = errCorrupt{}
		}
	}
	r.B = nil
}

// Uvarint reads an unsigned varint.
func (r *Reader) Uvarint() uint64 {
	v, n := binary.Uvarint(r.B)
	if n <= 0 {
		r.Fail()
		return 0
	}
	r.B = r.B[n:]
	return v
}

// Varint reads a signed varint.
func (r *Reader) Varint() int64 {
	v, n := binary.Varint(r.B)
	if n <= 0 {
		r.Fail()
		return 0
	}
	r.B = r.B[n:]
	return v
}

// Byte reads one byte.
func (r *Reader) Byte() byte {
	if len(r.B) == 0 {
		r.Fail()
		return 0
	}
	c := r.B[0]
	r.B = r.B[1:]
	return c
}

// Bytes reads n bytes; they are B's, not a copy.
func (r *Reader) Bytes(n uint64) []byte {
	if uint64(len(r.B)) < n {
		r.Fail()
		return nil
	}
	out := r.B[:n]
	r.B = r.B[n:]
	return out
}

// Count reads a count of things, each at least one byte: no more than the
// bytes left.
func (r *Reader) Count() int {
	n := r.Uvarint()
	if n > uint64(len(r.B))+1 {
		r.Fail()
		return 0
	}
	return int(n)
}

// CountOf reads a count of things of at least size bytes each: no more
// than the bytes left hold, so that a corrupt count cannot make a decoder
// allocate more than the data could fill.
func (r *Reader) CountOf(size int) int {
	n := r.Uvarint()
	if n > uint64(len(r.B)/max(size, 1)) {
		r.Fail()
		return 0
	}
	return int(n)
}
