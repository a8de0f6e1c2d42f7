package reading

import (
	"encoding/binary"
	"encoding/json"

	gojson "github.com/goccy/go-json"

	"math"
	"reflect"
	"runtime"
	"testing"
	"time"
)

// streamReadings are readings with every kind of field a reading has, set
// and unset, zero and not.
func streamReadings() []Reading {
	zero, rssi, length := 0.0, -71.5, 1e-7
	brussels, _ := time.LoadLocation("Europe/Brussels")
	return []Reading{
		{Customer: "finemeca", Sensor: "centrale", Device: "m1", Name: "Compresseur \"2\" <atelier>", Gateway: "171",
			Time: time.Date(2026, 10, 25, 2, 30, 0, 123456789, brussels), Received: time.Date(2026, 10, 25, 1, 30, 1, 0, time.UTC),
			Fields:  map[string]float64{"U1": 230.4, "PF": 0.93, "E": 1234567.8, "tiny": 5e-324, "big": math.MaxFloat64, "neg": math.Copysign(0, -1)},
			Units:   map[string]string{"E": "kWh", "U1": "V"},
			Strings: map[string]string{"Mod": "centrale", "é": "\u00e9\u2028\x01"},
			RSSI:    &rssi, SNR: &zero, Length: &length, MsgCount: 9007199254740991,
			Flags: []string{"time_from_receive", "field_rejected:msgCount"}},
		{Customer: "c", Sensor: "air", Device: "d", Time: time.Unix(0, 0).UTC(), Received: time.Unix(1, 0).UTC(),
			Fields: map[string]float64{}, MsgCount: NoMsgCount, Digest: -42},
	}
}

// The readings stream's messages decode to the readings encoded, times
// as the same instants; the JSON of earlier releases (an array, or one
// reading) still decodes; a message cut short, or with bytes after it,
// does not.
func TestReadingsStreamRoundTrip(t *testing.T) {
	rs := streamReadings()
	rs = append(rs, Reading{Customer: "c", Sensor: "air", Device: "zero-times", Fields: map[string]float64{"P": 1}, MsgCount: 3})
	data, err := MarshalReadings(rs)
	if err != nil {
		t.Fatal(err)
	}
	old, err := json.Marshal(rs)
	if err != nil {
		t.Fatal(err)
	}
	if len(data) >= len(old)/2 {
		t.Errorf("a message of %d bytes; the JSON of earlier releases took %d", len(data), len(old))
	}
	got, err := UnmarshalReadings(data)
	if err != nil {
		t.Fatal(err)
	}
	fromOld, err := UnmarshalReadings(old)
	if err != nil {
		t.Fatalf("a message of an earlier release does not decode: %v", err)
	}
	for name, dec := range map[string][]Reading{"round trip": got, "earlier release": fromOld} {
		if len(dec) != len(rs) {
			t.Fatalf("%s: %d readings, want %d", name, len(dec), len(rs))
		}
		for i := range rs {
			want, g := rs[i], dec[i]
			if !want.Time.Equal(g.Time) || !want.Received.Equal(g.Received) || want.Time.IsZero() != g.Time.IsZero() {
				t.Errorf("%s: reading %d times %v, %v; want %v, %v", name, i, g.Time, g.Received, want.Time, want.Received)
			}
			want.Time, want.Received, g.Time, g.Received = time.Time{}, time.Time{}, time.Time{}, time.Time{}
			if !reflect.DeepEqual(want, g) {
				t.Errorf("%s: reading %d\n got %+v\nwant %+v", name, i, g, want)
			}
		}
	}
	if math.Signbit(got[0].Fields["neg"]) != true {
		t.Error("-0 lost its sign")
	}
	one, err := json.Marshal(rs[0])
	if err != nil {
		t.Fatal(err)
	}
	if got, err := UnmarshalReadings(one); err != nil || len(got) != 1 || got[0].Device != "m1" {
		t.Errorf("a message of one reading, as earlier releases published: %v, %v", got, err)
	}
	if _, err := UnmarshalReadings([]byte(`[{"fields": {"P": "x"}}]`)); err == nil {
		t.Error("a message with a text value in fields decoded")
	}
	for cut := range len(data) {
		if _, err := UnmarshalReadings(data[:cut]); err == nil {
			t.Fatalf("a message cut at %d of %d decoded", cut, len(data))
		}
	}
	if _, err := UnmarshalReadings(append(data, 0)); err == nil {
		t.Fatal("a message with a byte after it decoded")
	}
}

// TestLotRoundTrip: a gateway's lot of envelopes comes back from the queue
// as the envelopes that went in, in order; a single envelope reads as a
// lot of one; a lot cut short, or with bytes after it, does not decode.
func TestLotRoundTrip(t *testing.T) {
	received := time.Date(2026, 1, 2, 3, 4, 5, 6789, time.UTC)
	var envs []Envelope
	var parts [][]byte
	for i := range 3 {
		e := Envelope{Topic: "finemeca/air/20" + string(rune('0'+i)), Payload: []byte(`{"i":` + string(rune('0'+i)) + `}`),
			Received: received.Add(time.Duration(i)), Source: "mqtt", Customer: "acme"}
		if i == 2 {
			e.Reason, e.Size = "the body does not decode as gzip", 70000
		}
		b, err := e.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		envs, parts = append(envs, e), append(parts, b)
	}
	lot := MarshalLot(parts)
	got, err := UnmarshalEnvelopes(lot)
	if err != nil || !reflect.DeepEqual(got, envs) {
		t.Fatalf("lot: %+v (%v), want %+v", got, err, envs)
	}
	if got, err := UnmarshalEnvelopes(parts[0]); err != nil || !reflect.DeepEqual(got, envs[:1]) {
		t.Fatalf("one envelope: %+v (%v), want %+v", got, err, envs[:1])
	}
	for cut := range len(lot) {
		if _, err := UnmarshalEnvelopes(lot[:cut]); err == nil {
			t.Fatalf("a lot cut at %d of %d decoded", cut, len(lot))
		}
	}
	if _, err := UnmarshalEnvelopes(append(lot, 0)); err == nil {
		t.Fatal("a lot with a byte after it decoded")
	}
}

// BenchmarkReadingsStream writes and reads a message of 500 power meters'
// readings, in the stream's form and in the JSON of earlier releases.
func BenchmarkReadingsStream(b *testing.B) {
	rs := make([]Reading, 500)
	for i := range rs {
		rssi := -80.0
		rs[i] = Reading{Customer: "finemeca", Sensor: "centrale", Device: "m" + string(rune('a'+i%26)), Gateway: "171",
			Time: time.Unix(1700000000+int64(i), 0).UTC(), Received: time.Unix(1700000001+int64(i), 0).UTC(),
			Fields: map[string]float64{"U1": 230.1, "U2": 231.2, "U3": 229.9, "I1": 16.5, "I2": 16.6, "I3": 16.4, "P": 11.21, "PF": 0.93, "E": 1000 + float64(i), "_rssi": -80, "_snr": 9.3},
			Units:  map[string]string{"E": "kWh", "U1": "V", "_rssi": "dBm"}, Strings: map[string]string{"Mod": "centrale"},
			RSSI: &rssi, MsgCount: int64(i)}
	}
	for _, c := range []struct {
		name string
		enc  func([]Reading) ([]byte, error)
	}{{"binary", MarshalReadings}, {"json", func(rs []Reading) ([]byte, error) { return gojson.Marshal(rs) }}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				data, err := c.enc(rs)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := UnmarshalReadings(data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestCorruptCountsAllocateLittle: a message of the readings stream or a
// lot whose counts claim more items than its bytes could hold is refused
// without making room for them.
func TestCorruptCountsAllocateLittle(t *testing.T) {
	zeros := make([]byte, 2<<20)
	readings := binary.AppendUvarint([]byte{readingsMagic, 1}, 2_000_000)
	readings = streamZstdW.EncodeAll(append(readings, zeros...), nil)
	fields := append([]byte{readingsMagic, 1, 1, 0, 0, 0, 0, 0, 0, 0}, binary.AppendUvarint(nil, 200_000)...)
	fields = streamZstdW.EncodeAll(append(fields, zeros...), nil)
	lot := append(binary.AppendUvarint([]byte{lotMagic, 1}, 2_000_000), zeros...)
	for name, decode := range map[string]func() error{
		"readings": func() error { _, err := UnmarshalReadings(readings); return err },
		"fields":   func() error { _, err := UnmarshalReadings(fields); return err },
		"lot":      func() error { _, err := UnmarshalEnvelopes(lot); return err },
	} {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		err := decode()
		runtime.ReadMemStats(&after)
		if err == nil {
			t.Errorf("%s: a corrupt count decoded", name)
		}
		if n := after.TotalAlloc - before.TotalAlloc; n > 16<<20 {
			t.Errorf("%s: refusing a corrupt count allocated %d MiB", name, n>>20)
		}
	}
}
