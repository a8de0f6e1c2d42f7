package chunk

import (
	"encoding/json"

	"github.com/sensorhub/sensorhub/internal/reading"
)

// Candidate is one way of encoding readings, and the bytes it took.
type Candidate struct {
	Name  string
	Bytes int
}

// Compare encodes each group of readings (one device's window each) with
// each candidate encoding and returns their sizes, to choose the encoding
// by measuring it on real loads. The last candidate is the one Encode
// uses.
func Compare(groups [][]reading.Reading) ([]Candidate, error) {
	cands := []struct {
		name string
		mode floatMode
		zstd bool
	}{
		{"Prometheus XOR floats (chunkenc), no compressor", forceXOR, false},
		{"Prometheus XOR floats (chunkenc) + zstd", forceXOR, true},
		{"float64 as 8 bytes + zstd", forceRaw, true},
		{"decimal integers, delta varints, no compressor", forceDelta, false},
		{"decimal integers, delta varints + zstd", forceDelta, true},
		{"decimal integers, delta or offset from first (chosen per column) + zstd", floatAuto, true},
	}
	out := []Candidate{{Name: "JSON document per reading (the row layout before chunks)"}}
	for _, g := range groups {
		for i := range g {
			doc, err := json.Marshal(&g[i])
			if err != nil {
				return nil, err
			}
			out[0].Bytes += len(doc)
		}
	}
	for _, c := range cands {
		total := 0
		for _, g := range groups {
			body, err := encodeBody(g, c.mode)
			if err != nil {
				return nil, err
			}
			if c.zstd {
				body = encoder.EncodeAll(body, nil)
			}
			total += len(body)
		}
		out = append(out, Candidate{Name: c.name, Bytes: total})
	}
	return out, nil
}
