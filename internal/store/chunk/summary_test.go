package chunk

import (
	"encoding/binary"
	"math"
	"testing"
)

// TestSummaryVersions: summaries keep the whole counter (peak, top,
// resets) and the times of their first and last values, and say so; those of the earlier encoding still decode, not
// exact, their peak taken as their first value and top as their last.
func TestSummaryVersions(t *testing.T) {
	var s Summary
	for i, v := range []float64{100, 99.9, 100.5, 2, 3} {
		s.Add(int64(1000+i*60000), v)
	}
	data := EncodeSummaries(map[string]*Summary{"E": &s})
	got, ok, err := DecodeSummary(data, "E")
	if err != nil || !ok || got != s || !Exact(data) || !Timed(data) {
		t.Fatalf("decoded %+v %v %v (exact %v), want %+v", got, ok, err, Exact(data), s)
	}
	if !s.Timed || s.FirstAt != 1000 || s.LastAt != 241000 {
		t.Errorf("summary %+v: want its values from 1000 to 241000 ms", s)
	}
	if s.Resets != 1 || s.Peak != 100.5 || s.Top != 3 || math.Abs(s.Increase-3.5) > 1e-9 {
		t.Errorf("summary %+v: want 1 reset, peak 100.5, top 3, increase 0.5 + 2 + 1", s)
	}

	old := []byte{version}
	old = binary.AppendUvarint(old, 1)
	old = appendString(old, "E")
	old = binary.AppendUvarint(old, 3)
	for _, v := range []float64{30, 9, 11, 9, 11, 2} {
		old = binary.LittleEndian.AppendUint64(old, math.Float64bits(v))
	}
	got, ok, err = DecodeSummary(old, "E")
	if err != nil || !ok || Exact(old) || got.N != 3 || got.First != 9 || got.Last != 11 || got.Increase != 2 || got.Peak != 9 || got.Top != 11 || got.Resets != 0 || got.Timed {
		t.Errorf("an earlier summary decoded as %+v %v %v (exact %v)", got, ok, err, Exact(old))
	}
}
