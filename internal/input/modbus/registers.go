package modbus

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/sensorhub/sensorhub/internal/config"
)

// Tables are the four Modbus data tables a register map reads.
var Tables = []string{"holding", "input", "coil", "discrete"}

// Types are the encodings of a register value, with their size in
// registers.
var Types = map[string]int{"int16": 1, "uint16": 1, "int32": 2, "uint32": 2, "float32": 2, "float64": 4}

// MaxRegisters and MaxBits are the most registers and coils one Modbus
// request reads.
const (
	MaxRegisters = 125
	MaxBits      = 2000
)

// isBit reports whether a table holds bits (coils, discrete inputs)
// rather than 16-bit registers.
func isBit(table string) bool { return table == "coil" || table == "discrete" }

// width is how many registers (or bits) a value takes.
func width(r config.Register) int {
	if isBit(r.Table) {
		return 1
	}
	return Types[r.Type]
}

// Decode turns the registers of one value, as read (each register's two
// bytes in the order they came), into its number, after its word and
// byte order and scale. words holds at least the type's registers; of a
// coil or discrete input, one word of 0 or 1.
func Decode(r config.Register, words []uint16) (float64, error) {
	if isBit(r.Table) && len(words) > 0 {
		return float64(words[0] & 1), nil
	}
	n, ok := Types[r.Type]
	if !ok {
		return 0, fmt.Errorf("type %q is not one of %s", r.Type, typeNames())
	}
	if len(words) < n {
		return 0, fmt.Errorf("%s needs %d registers, got %d", r.Type, n, len(words))
	}
	b := make([]byte, 0, 2*n)
	for i := range n {
		w := words[i]
		if r.WordOrder == "low_first" {
			w = words[n-1-i]
		}
		if r.ByteOrder == "little" {
			w = w>>8 | w<<8
		}
		b = binary.BigEndian.AppendUint16(b, w)
	}
	var v float64
	switch r.Type {
	case "int16":
		v = float64(int16(binary.BigEndian.Uint16(b)))
	case "uint16":
		v = float64(binary.BigEndian.Uint16(b))
	case "int32":
		v = float64(int32(binary.BigEndian.Uint32(b)))
	case "uint32":
		v = float64(binary.BigEndian.Uint32(b))
	case "float32":
		v = float64(math.Float32frombits(binary.BigEndian.Uint32(b)))
	case "float64":
		v = math.Float64frombits(binary.BigEndian.Uint64(b))
	}
	if r.Scale != 0 {
		v *= r.Scale
	}
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, fmt.Errorf("%s at %d is not a number (%v)", r.Type, r.Address, v)
	}
	return v, nil
}

// TypeNames are the names of Types, smallest first.
var TypeNames = []string{"int16", "uint16", "int32", "uint32", "float32", "float64"}

func typeNames() string { return strings.Join(TypeNames, ", ") }

// Request is one read of contiguous registers (or bits) of a table,
// and the values it holds.
type Request struct {
	Table    string
	Address  int
	Quantity int
	Values   []config.Register
}

// Plan merges the reads of a register map into as few requests as its
// contiguous registers allow, none longer than maxSpan registers (or
// MaxBits bits): registers that follow one another, or overlap, are read
// together. The map must have passed Check.
func Plan(regs []config.Register, maxSpan int) []Request {
	if maxSpan <= 0 || maxSpan > MaxRegisters {
		maxSpan = MaxRegisters
	}
	sorted := slices.Clone(regs)
	slices.SortStableFunc(sorted, func(a, b config.Register) int {
		if c := strings.Compare(a.Table, b.Table); c != 0 {
			return c
		}
		return a.Address - b.Address
	})
	var out []Request
	for _, r := range sorted {
		limit := maxSpan
		if isBit(r.Table) {
			limit = MaxBits
		}
		end := r.Address + width(r)
		if n := len(out); n > 0 {
			last := &out[n-1]
			lastEnd := last.Address + last.Quantity
			if last.Table == r.Table && r.Address <= lastEnd && max(end, lastEnd)-last.Address <= limit {
				last.Quantity = max(end, lastEnd) - last.Address
				last.Values = append(last.Values, r)
				continue
			}
		}
		out = append(out, Request{Table: r.Table, Address: r.Address, Quantity: width(r), Values: []config.Register{r}})
	}
	return out
}
