package chunk

import (
	"errors"
	"math"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/sensorhub/sensorhub/internal/reading"
)

func sample(n int, seed uint64) []reading.Reading {
	rng := rand.New(rand.NewPCG(seed, 7))
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	var rs []reading.Reading
	for i := range n {
		r := reading.Reading{
			Time:     t0.Add(time.Duration(i) * 30 * time.Second),
			Received: t0.Add(time.Duration(i)*30*time.Second + time.Duration(rng.IntN(900))*time.Millisecond),
			MsgCount: int64(i + 1),
			Name:     "m1", Gateway: "171",
			Fields: map[string]float64{
				"U1": math.Round((230+rng.NormFloat64())*10) / 10,
				"P":  math.Round((11+rng.NormFloat64()*0.3)*100) / 100,
				"E":  math.Round((1000+float64(i)*0.01)*10) / 10,
				// A computed value: no decimal scale holds it.
				"rate":  rng.Float64() / 3,
				"_rssi": float64(-60 - rng.IntN(20)),
			},
			Strings: map[string]string{"Mod": "centrale"},
		}
		if i%7 == 3 {
			delete(r.Fields, "P")
			r.Flags = []string{"field_rejected:P"}
		}
		if i == 5 {
			r.MsgCount, r.Digest = reading.NoMsgCount, -12345678901
			r.Strings["Time"] = "2099-01-01 00:00:00"
			l := 88.0
			r.Length = &l
			r.Name = "renamed"
		}
		if v, ok := r.Fields["_rssi"]; ok {
			r.RSSI = &v
		}
		rs = append(rs, r)
	}
	return rs
}

// TestRoundTrip: every reading comes back as it went in.
func TestRoundTrip(t *testing.T) {
	for _, n := range []int{0, 1, 2, 3, 100, 2880} {
		rs := sample(n, uint64(n))
		data, err := Encode(rs)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Decode(data)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(rs) {
			t.Fatalf("%d readings: got %d back", n, len(got))
		}
		for i := range rs {
			if !reflect.DeepEqual(got[i], rs[i]) {
				t.Fatalf("%d readings, reading %d:\n got %+v\nwant %+v", n, i, got[i], rs[i])
			}
		}
		pts, err := Field(data, "P")
		if err != nil {
			t.Fatal(err)
		}
		want := 0
		for i := range rs {
			if v, ok := rs[i].Fields["P"]; ok {
				if want >= len(pts) || pts[want].Value != v || pts[want].Time != rs[i].Time.UnixMilli() || pts[want].Seq != rs[i].Seq() {
					t.Fatalf("%d readings: P point %d is %+v, want %v at %s", n, want, pts[min(want, len(pts)-1)], v, rs[i].Time)
				}
				want++
			}
		}
		if len(pts) != want {
			t.Fatalf("%d P points, want %d", len(pts), want)
		}
	}
}

// TestDecimals: a value is kept at the fewest decimal digits that hold it
// exactly, and not as a decimal when none do.
func TestDecimals(t *testing.T) {
	for _, tc := range []struct {
		vals  []float64
		scale int
		ok    bool
	}{
		{[]float64{230.4, 229.9, 231}, 1, true},
		{[]float64{0.93, 0.9, 1}, 2, true},
		{[]float64{1000, -3, 0}, 0, true},
		{[]float64{1.0 / 3}, 0, false},
		{[]float64{1e300}, 0, false},
		{[]float64{0.000001}, 6, true},
	} {
		scale, _, ok := decimals(tc.vals)
		if ok != tc.ok || (ok && scale != tc.scale) {
			t.Errorf("%v: scale %d %v, want %d %v", tc.vals, scale, ok, tc.scale, tc.ok)
		}
	}
}

// TestCorrupt: data that is not a chunk is refused, never a panic.
func TestCorrupt(t *testing.T) {
	data, _ := Encode(sample(50, 1))
	body, _ := decoder.DecodeAll(data, nil)
	for cut := 0; cut < len(body); cut += 7 {
		if _, err := Decode(encoder.EncodeAll(body[:cut], nil)); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("a body cut at %d of %d: %v, want ErrCorrupt", cut, len(body), err)
		}
	}
	if _, err := Decode([]byte("not a chunk")); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("not a chunk: %v", err)
	}
}

func FuzzDecode(f *testing.F) {
	data, _ := Encode(sample(20, 2))
	body, _ := decoder.DecodeAll(data, nil)
	f.Add(body)
	f.Fuzz(func(t *testing.T, body []byte) {
		rs, err := Decode(encoder.EncodeAll(body, nil))
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v is not ErrCorrupt", err)
			}
			return
		}
		// What decodes encodes and decodes to the same.
		again, err := Encode(rs)
		if err != nil {
			return // more rows than a chunk holds
		}
		back, err := Decode(again)
		if err != nil || !reflect.DeepEqual(back, rs) {
			t.Fatalf("re-encoded: %v\n%+v\n%+v", err, back, rs)
		}
	})
}
