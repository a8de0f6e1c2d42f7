package reading_test

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sensorhub/sensorhub/internal/config"
	"github.com/sensorhub/sensorhub/internal/reading"
)

var received = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func decode(t testing.TB, payload string) (reading.Reading, error) {
	t.Helper()
	return config.Default().Decoder().Decode(reading.Envelope{Topic: "finemeca/test", Payload: []byte(payload), Received: received, Source: "test"})
}

func lines(t testing.TB, name string) []string {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "..", "testdata", "payloads", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	return out
}

// TestGolden decodes every sample payload and compares the readings with
// the expected ones under testdata/ (regenerate with -update after review).
func TestGolden(t *testing.T) {
	for _, name := range []string{"air.jsonl", "centrale.jsonl", "devicev01.jsonl"} {
		t.Run(name, func(t *testing.T) {
			var got []reading.Reading
			for _, l := range lines(t, name) {
				r, err := decode(t, l)
				if err != nil {
					t.Fatalf("%s: %v", l, err)
				}
				got = append(got, r)
			}
			out, _ := json.MarshalIndent(got, "", "  ")
			golden := filepath.Join("testdata", strings.TrimSuffix(name, ".jsonl")+".golden.json")
			if os.Getenv("UPDATE_GOLDEN") != "" {
				os.WriteFile(golden, append(out, '\n'), 0o644)
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if strings.TrimSpace(string(want)) != strings.TrimSpace(string(out)) {
				t.Errorf("decoded %s differs from %s:\n%s", name, golden, out)
			}
		})
	}
}

func TestDevicev01Facts(t *testing.T) {
	ls := lines(t, "devicev01.jsonl")
	last, err := decode(t, ls[3])
	if err != nil {
		t.Fatal(err)
	}
	// 23:54:41 in Brussels on 17 April 2022 (CEST, UTC+2) is 21:54:41 UTC.
	if want := time.Date(2022, 4, 17, 21, 54, 41, 0, time.UTC); !last.Time.Equal(want) {
		t.Errorf("time %s, want %s", last.Time, want)
	}
	if last.Fields["Temp"] != 14.62 || last.Fields["Hum"] != 61 || last.Units["Hum"] != "%" {
		t.Errorf("fields %v units %v", last.Fields, last.Units)
	}
	second, err := decode(t, ls[1])
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := second.Fields["Hum"]; ok {
		t.Errorf(`"Hum": "NULL" must be absent, got %v`, second.Fields["Hum"])
	}
	if _, ok := second.Fields["Pres"]; ok {
		t.Errorf("a unit without its value must not make a field")
	}
	if len(second.Flags) != 0 {
		t.Errorf("NULL and a lone unit are not problems, got flags %v", second.Flags)
	}
	first, _ := decode(t, ls[0])
	// 9 April 2022 is CEST too: 15:05:06 local is 13:05:06 UTC.
	if want := time.Date(2022, 4, 9, 13, 5, 6, 0, time.UTC); !first.Time.Equal(want) {
		t.Errorf("time %s, want %s", first.Time, want)
	}
}

func TestWinterTime(t *testing.T) {
	r, err := decode(t, `{"Customer":"finemeca","idDevice":7,"Mod":"weath","Time":"2022-01-10 08:00:00","Temp":1}`)
	if err != nil {
		t.Fatal(err)
	}
	if want := time.Date(2022, 1, 10, 7, 0, 0, 0, time.UTC); !r.Time.Equal(want) {
		t.Errorf("winter time %s, want %s (CET is UTC+1)", r.Time, want)
	}
}

// TestBadPayloads checks each line of bad.jsonl against its _expect.
func TestBadPayloads(t *testing.T) {
	for i, l := range lines(t, "bad.jsonl") {
		var c struct {
			Expect string `json:"_expect"`
			Raw    string `json:"raw"`
		}
		if err := json.Unmarshal([]byte(l), &c); err != nil {
			t.Fatal(err)
		}
		t.Run(c.Expect, func(t *testing.T) {
			r, err := decode(t, c.Raw)
			want := ExpectedOutcome(c.Expect)
			if want.Reject != "" {
				var rj *reading.RejectError
				if !errors.As(err, &rj) {
					t.Fatalf("line %d: got reading %+v, want rejection %q", i+1, r, want.Reject)
				}
				if !strings.HasPrefix(rj.Reason, want.Reject) {
					t.Fatalf("line %d: reason %q, want it to start with %q", i+1, rj.Reason, want.Reject)
				}
				return
			}
			if err != nil {
				t.Fatalf("line %d: rejected (%v), want accepted", i+1, err)
			}
			switch i + 1 {
			case 3: // "warm"
				if _, ok := r.Fields["Temp"]; ok || !r.HasFlag("field_rejected:Temp") {
					t.Errorf("Temp %v flags %v, want left out and flagged", r.Fields, r.Flags)
				}
			case 4: // "14.5"
				if r.Fields["Temp"] != 14.5 || len(r.Flags) != 0 {
					t.Errorf("Temp %v flags %v, want 14.5 unflagged", r.Fields["Temp"], r.Flags)
				}
			case 5: // nonsense time
				if !r.Time.Equal(received) || !r.HasFlag(reading.FlagTimeFromReceive) || r.Fields["Temp"] != 14.6 {
					t.Errorf("time %s flags %v, want receive time and flag", r.Time, r.Flags)
				}
			case 9: // NaN and 1e400
				_, temp := r.Fields["Temp"]
				_, pres := r.Fields["Pres"]
				if temp || pres || !r.HasFlag("field_rejected:Temp") || !r.HasFlag("field_rejected:Pres") {
					t.Errorf("fields %v flags %v, want both left out and flagged", r.Fields, r.Flags)
				}
			}
		})
	}
}

// Outcome is what a bad.jsonl line's _expect asks for.
type Outcome struct {
	// Reject is the start of the rejection reason, or "" when accepted.
	Reject string
}

// ExpectedOutcome reads an _expect text such as "reject: invalid JSON".
func ExpectedOutcome(expect string) Outcome {
	if r, ok := strings.CutPrefix(expect, "reject: "); ok {
		return Outcome{Reject: r}
	}
	return Outcome{}
}

func TestRejections(t *testing.T) {
	cases := map[string]string{
		"":                                 "invalid JSON: the payload is empty",
		`{"Customer":"finemeca"} trailing`: "invalid JSON",
		`"text"`:                           "not a JSON object",
		`{"idDevice":1}`:                   "missing customer",
		`{"Customer":"finemeca","idDevice":1,"Mod":"toaster","Temp":1}`: "no sensor kind matches",
		`{"Customer":"finemeca","idDevice":null,"Mod":"weath"}`:         "missing device identity",
	}
	for payload, want := range cases {
		_, err := decode(t, payload)
		if err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("%q: got %v, want a rejection starting %q", payload, err, want)
		}
	}
	big := `{"Customer":"finemeca","idDevice":1,"Mod":"weath","Pad":"` + strings.Repeat("x", 70<<10) + `"}`
	if _, err := decode(t, big); err == nil || !strings.Contains(err.Error(), "payload too large") {
		t.Errorf("70 KiB payload: %v, want payload too large", err)
	}
}

func TestStringDeviceAndEpochTime(t *testing.T) {
	r, err := decode(t, `{"Customer":"finemeca","idDevice":"abc-1","Mod":"air","Time":1651471200,"Pres":"6.1","OpenPres":6}`)
	if err != nil {
		t.Fatal(err)
	}
	if r.Device != "abc-1" || !r.Time.Equal(time.Unix(1651471200, 0)) || r.Fields["Pres"] != 6.1 || r.MsgCount != reading.NoMsgCount {
		t.Errorf("got %+v", r)
	}
	if math.IsNaN(r.Fields["OpenPres"]) || r.Units["Pres"] != "bar" {
		t.Errorf("default unit: %v", r.Units)
	}
}

func FuzzDecode(f *testing.F) {
	for _, name := range []string{"air.jsonl", "centrale.jsonl", "devicev01.jsonl"} {
		for _, l := range lines(f, name) {
			f.Add([]byte(l))
		}
	}
	for _, l := range lines(f, "bad.jsonl") {
		var c struct{ Raw string }
		json.Unmarshal([]byte(l), &c)
		f.Add([]byte(c.Raw))
	}
	dec := config.Default().Decoder()
	f.Fuzz(func(t *testing.T, payload []byte) {
		r, err := dec.Decode(reading.Envelope{Topic: "finemeca/x", Payload: payload, Received: received})
		if err != nil {
			var rj *reading.RejectError
			if !errors.As(err, &rj) || rj.Reason == "" {
				t.Fatalf("error without a reason: %v", err)
			}
			return
		}
		if r.Customer == "" || r.Device == "" || r.Sensor == "" || r.Time.IsZero() {
			t.Fatalf("accepted reading without identity: %+v", r)
		}
		for k, v := range r.Fields {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				t.Fatalf("field %s is not finite: %v", k, v)
			}
		}
	})
}

func BenchmarkDecode(b *testing.B) {
	payload := []byte(lines(b, "centrale.jsonl")[0])
	dec := config.Default().Decoder()
	env := reading.Envelope{Topic: "finemeca/centrale/301", Payload: payload, Received: received}
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := dec.Decode(env); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRawUnmarshal is the baseline: encoding/json into a map, which
// decoding cannot beat since it starts with it.
func BenchmarkRawUnmarshal(b *testing.B) {
	payload := []byte(lines(b, "centrale.jsonl")[0])
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	for b.Loop() {
		var m map[string]any
		if err := json.Unmarshal(payload, &m); err != nil {
			b.Fatal(err)
		}
	}
}

// TestLimits: a message nested too deep, with too many fields, or on too
// long a topic is rejected with a reason that names the setting; one at
// the limits is taken.
func TestLimits(t *testing.T) {
	dec := config.Default().Decoder()
	base := `"Customer":"finemeca","idDevice":201,"Mod":"air","Pres":6.1`
	nested := func(n int) string { return strings.Repeat(`{"a":`, n-1) + `1` + strings.Repeat(`}`, n-1) }
	fields := func(n int) string {
		var b strings.Builder
		for i := range n - 4 {
			fmt.Fprintf(&b, `,"F%d":%d`, i, i)
		}
		return b.String()
	}
	for _, tc := range []struct {
		name, topic, payload, reason string
	}{
		{"depth at the limit", "finemeca/air/201", `{` + base + `,"x":` + nested(8) + `}`, ""},
		{"too deep", "finemeca/air/201", `{` + base + `,"x":` + nested(9) + `}`, "JSON nested too deep: 9 levels, the limit is 8 (ingest.max_depth)"},
		{"fields at the limit", "finemeca/air/201", `{` + base + fields(256) + `}`, ""},
		{"too many fields", "finemeca/air/201", `{` + base + fields(257) + `}`, "too many fields: 257, the limit is 256 (ingest.max_fields)"},
		{"topic at the limit", strings.Repeat("t", 256), `{` + base + `}`, ""},
		{"topic too long", strings.Repeat("t", 257), `{` + base + `}`, "topic too long: 257 bytes, the limit is 256 (ingest.max_topic)"},
	} {
		_, err := dec.Decode(reading.Envelope{Topic: tc.topic, Payload: []byte(tc.payload), Received: received})
		switch {
		case tc.reason == "" && err != nil:
			t.Errorf("%s: rejected: %v", tc.name, err)
		case tc.reason != "" && (err == nil || err.Error() != tc.reason):
			t.Errorf("%s: %v, want %q", tc.name, err, tc.reason)
		}
	}
}
