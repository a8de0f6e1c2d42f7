package chunk

import (
	"errors"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/sensorhub/sensorhub/internal/reading"
)

// TestKeys: the identities of a day of readings decode as they were
// encoded, and a day at a regular interval costs well under a byte a
// reading; one with jittered clocks, gaps, a restart and readings without
// msgCount a few bytes.
func TestKeys(t *testing.T) {
	t0 := time.Date(2026, 3, 29, 0, 0, 0, 0, time.UTC).UnixMilli()
	rng := rand.New(rand.NewPCG(3, 9))
	regular, rough := make([]Key, 0, 1440), make([]Key, 0, 1440)
	for i := range int64(1440) {
		regular = append(regular, Key{t0 + i*60_000, 5000 + i})
		k := Key{t0 + i*60_000 + rng.Int64N(2000), 70 + i + i/100}
		switch {
		case i%97 == 5:
			k.Seq = reading.PayloadDigest([]byte{byte(i), byte(i >> 8)})
		case i > 900:
			k.Seq = i - 900 // the device restarted
		}
		rough = append(rough, k)
	}
	for _, c := range []struct {
		name    string
		keys    []Key
		atMost  float64
		reorder bool
	}{{"regular", regular, 0.2, false}, {"rough", rough, 4, true}} {
		keys := append([]Key(nil), c.keys...)
		if c.reorder {
			rng.Shuffle(len(keys), func(i, j int) { keys[i], keys[j] = keys[j], keys[i] })
			keys = append(keys, keys[:10]...) // the same identities again
		}
		keys = SortKeys(keys)
		if len(keys) != len(c.keys) {
			t.Fatalf("%s: %d keys sorted, want %d", c.name, len(keys), len(c.keys))
		}
		data := EncodeKeys(keys)
		got, err := DecodeKeys(data)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if !reflect.DeepEqual(got, keys) {
			t.Errorf("%s: decoded keys differ from those encoded", c.name)
		}
		perReading := float64(len(data)) / float64(len(keys))
		t.Logf("%s: %d readings in %d bytes, %.2f a reading", c.name, len(keys), len(data), perReading)
		if perReading > c.atMost {
			t.Errorf("%s: %.2f bytes a reading, want at most %v", c.name, perReading, c.atMost)
		}
	}
	for _, bad := range [][]byte{nil, {9}, EncodeKeys(regular)[:20]} {
		if _, err := DecodeKeys(bad); !errors.Is(err, ErrCorrupt) {
			t.Errorf("decoding %x: %v, want ErrCorrupt", bad, err)
		}
	}
}
