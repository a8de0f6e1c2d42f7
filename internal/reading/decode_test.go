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
	"unicode/utf8"

	"github.com/sensorhub/sensorhub/internal/config"
	"github.com/sensorhub/sensorhub/internal/plan"
	"github.com/sensorhub/sensorhub/internal/reading"
)

var received = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func decode(t testing.TB, payload string) (reading.Reading, error) {
	t.Helper()
	return plan.MustCompile(config.Default()).Decoder.Decode(reading.Envelope{Topic: "finemeca/test", Payload: []byte(payload), Received: received, Source: "test"})
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
	dec := plan.MustCompile(config.Default()).Decoder
	f.Fuzz(func(t *testing.T, payload []byte) {
		r, err := dec.Decode(reading.Envelope{Topic: "finemeca/x", Payload: payload, Received: received})
		if err != nil {
			var rj *reading.RejectError
			if !errors.As(err, &rj) || rj.Reason == "" {
				t.Fatalf("error without a reason: %v", err)
			}
			// The reason is kept as text by every store: the parser's
			// messages quote what they show of the payload.
			if !utf8.ValidString(rj.Reason) || strings.ContainsRune(rj.Reason, 0) {
				t.Fatalf("reason %q is not text a store keeps", rj.Reason)
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
	dec := plan.MustCompile(config.Default()).Decoder
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
	dec := plan.MustCompile(config.Default()).Decoder
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

// TestPoisonInputs: values that no store or queue takes are rejected with a
// reason, or replaced and flagged, at decode time, so that no message can
// halt ingestion further on.
func TestPoisonInputs(t *testing.T) {
	base := `"Customer":"finemeca","Mod":"weath","Temp":1`
	for _, tc := range []struct {
		name, payload, reason string
	}{
		{"NUL in the name", `{` + base + `,"idDevice":7,"Device":"name\u0000x"}`, "a text value holds a NUL character"},
		{"NUL in a key", `{` + base + `,"idDevice":7,"T\u0000":1}`, "a field name holds a NUL character"},
		{"idDevice of 5000 characters", `{` + base + `,"idDevice":"` + strings.Repeat("d", 5000) + `"}`, "idDevice too long: 5000 bytes, the limit is 128"},
		{"control character in idDevice", `{` + base + `,"idDevice":"a\nb"}`, `idDevice holds control characters: "a\nb"`},
		{"name too long", `{` + base + `,"idDevice":7,"Device":"` + strings.Repeat("n", 300) + `"}`, "Device too long: 300 bytes, the limit is 256"},
		{"gateway too long", `{` + base + `,"idDevice":7,"idGateway":"` + strings.Repeat("g", 200) + `"}`, "idGateway too long: 200 bytes, the limit is 128"},
	} {
		_, err := decode(t, tc.payload)
		if err == nil || !strings.HasPrefix(err.Error(), tc.reason) {
			t.Errorf("%s: %v, want a rejection starting %q", tc.name, err, tc.reason)
		}
	}
	dec := plan.MustCompile(config.Default()).Decoder
	_, err := dec.Decode(reading.Envelope{Topic: "finemeca/\x00x", Payload: []byte(`{` + base + `,"idDevice":7}`), Received: received})
	if err == nil || !strings.Contains(err.Error(), "NUL") {
		t.Errorf("topic with a NUL: %v, want a rejection", err)
	}
}

// TestTimesOutOfRange: a Time no store can keep (past year 9999 or before
// year 1 in UTC), before 1970 or further ahead than the clock skew allows
// is replaced by the receive time and flagged, the device's text kept; Unix
// microseconds and nanoseconds are read as such.
func TestTimesOutOfRange(t *testing.T) {
	for _, tc := range []struct {
		time string
		want time.Time // zero: replaced by the receive time
		flag string
	}{
		{`1717200000000000`, time.UnixMicro(1717200000000000), ""},
		{`1717200000000000000`, time.Unix(0, 1717200000000000000), ""},
		{`1717200000123`, time.UnixMilli(1717200000123), ""},
		{`"9999-12-31T23:59:59-01:00"`, time.Time{}, reading.FlagTimeInFuture},
		{`"0000-01-01 00:00:00"`, time.Time{}, reading.FlagTimeTooOld},
		{`"0001-01-01 00:00:00"`, time.Time{}, reading.FlagTimeTooOld},
		{`"1969-12-31 23:00:00"`, time.Time{}, reading.FlagTimeTooOld},
		{`"2099-01-01 00:00:00"`, time.Time{}, reading.FlagTimeInFuture},
		{`1e300`, time.Time{}, ""},
		// Within the skew: believed.
		{`"2026-01-02 04:30:00"`, time.Date(2026, 1, 2, 3, 30, 0, 0, time.UTC), ""},
	} {
		r, err := decode(t, `{"Customer":"finemeca","idDevice":7,"Mod":"weath","Temp":1,"Time":`+tc.time+`}`)
		if err != nil {
			t.Errorf("%s: rejected: %v", tc.time, err)
			continue
		}
		if tc.want.IsZero() {
			if !r.Time.Equal(received) || !r.HasFlag(reading.FlagTimeFromReceive) || (tc.flag != "" && !r.HasFlag(tc.flag)) {
				t.Errorf("%s: time %s flags %v, want the receive time flagged %s", tc.time, r.Time, r.Flags, tc.flag)
			}
			if tc.flag != "" && r.Strings["Time"] != strings.Trim(tc.time, `"`) {
				t.Errorf("%s: kept %q", tc.time, r.Strings["Time"])
			}
			if _, err := json.Marshal(r); err != nil {
				t.Errorf("%s: %v", tc.time, err)
			}
			continue
		}
		if !r.Time.Equal(tc.want) || len(r.Flags) != 0 {
			t.Errorf("%s: time %s flags %v, want %s", tc.time, r.Time, r.Flags, tc.want)
		}
	}
}

// TestMsgCountOutOfRange: a msgCount that is not a whole count a float64
// holds exactly is left out and flagged, never wrapped around.
func TestMsgCountOutOfRange(t *testing.T) {
	for _, mc := range []string{`1e30`, `-3`, `2.5`, `"many"`} {
		r, err := decode(t, `{"Customer":"finemeca","idDevice":7,"Mod":"weath","Temp":1,"msgCount":`+mc+`}`)
		if err != nil {
			t.Fatalf("%s: %v", mc, err)
		}
		if r.MsgCount != reading.NoMsgCount || !r.HasFlag("field_rejected:msgCount") {
			t.Errorf("msgCount %s: got %d flags %v, want none and flagged", mc, r.MsgCount, r.Flags)
		}
	}
	r, _ := decode(t, `{"Customer":"finemeca","idDevice":7,"Mod":"weath","Temp":1,"msgCount":9007199254740992}`)
	if r.MsgCount != 1<<53 || r.HasFlag("field_rejected:msgCount") {
		t.Errorf("2^53: %d %v", r.MsgCount, r.Flags)
	}
}

// TestKey: a reading's key is its identity spelt out; the readings
// stream's message IDs are made of it, so a process of another release
// must spell it the same.
func TestKey(t *testing.T) {
	r := reading.Reading{Customer: "finemeca", Sensor: "centrale", Device: "12", Time: time.UnixMilli(1651572000123), MsgCount: 42}
	if got, want := r.Key(), "finemeca/centrale/12/1651572000123/42"; got != want {
		t.Errorf("key %q, want %q", got, want)
	}
	if got := string(r.AppendKey([]byte("x"))); got != "x"+r.Key() {
		t.Errorf("AppendKey %q", got)
	}
}

// TestIdentityWithoutMsgCount: readings with neither Time nor msgCount
// received in one millisecond keep apart when their content differs, and
// a repeated delivery keeps the identity of the first.
func TestIdentityWithoutMsgCount(t *testing.T) {
	a, _ := decode(t, `{"Customer":"finemeca","idDevice":7,"Mod":"weath","Temp":1}`)
	b, _ := decode(t, `{"Customer":"finemeca","idDevice":7,"Mod":"weath","Temp":2}`)
	a2, _ := decode(t, `{"Customer":"finemeca","idDevice":7,"Mod":"weath","Temp":1}`)
	if a.Key() == b.Key() {
		t.Errorf("different readings share the key %s", a.Key())
	}
	if a.Key() != a2.Key() {
		t.Errorf("a repeated delivery has another key: %s, %s", a.Key(), a2.Key())
	}
	if a.Seq() >= reading.NoMsgCount || a.MsgCount != reading.NoMsgCount {
		t.Errorf("seq %d msgCount %d", a.Seq(), a.MsgCount)
	}
	c, _ := decode(t, `{"Customer":"finemeca","idDevice":7,"Mod":"weath","Temp":1,"msgCount":4}`)
	if c.Seq() != 4 || c.Digest != 0 {
		t.Errorf("with a msgCount: seq %d digest %d", c.Seq(), c.Digest)
	}
}

// TestRepeatedHour: a zone-less time in the hour repeated when clocks go
// back names two instants; both are given for ingest to choose from.
func TestRepeatedHour(t *testing.T) {
	dec := plan.MustCompile(config.Default()).Decoder
	at := func(local string) reading.Reading {
		r, err := dec.Decode(reading.Envelope{Topic: "finemeca/x", Received: time.Date(2024, 10, 27, 3, 0, 0, 0, time.UTC),
			Payload: []byte(`{"Customer":"finemeca","idDevice":7,"Mod":"weath","Temp":1,"Time":"` + local + `"}`)})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	r := at("2024-10-27 02:30:00")
	if want := time.Date(2024, 10, 27, 0, 30, 0, 0, time.UTC); !r.Time.Equal(want) {
		t.Errorf("02:30: time %s, want the first instant %s", r.Time, want)
	}
	if want := time.Date(2024, 10, 27, 1, 30, 0, 0, time.UTC); !r.TimeLater.Equal(want) {
		t.Errorf("02:30: later %s, want %s", r.TimeLater, want)
	}
	for _, local := range []string{"2024-10-27 01:59:00", "2024-10-27 03:00:00", "2024-03-31 02:30:00"} {
		if r := at(local); !r.TimeLater.IsZero() {
			t.Errorf("%s is not repeated, got a later instant %s", local, r.TimeLater)
		}
	}
}

// TestEnvelopeRoundTrip: an envelope comes back from the queue as it went
// in, in its binary form and in the JSON of earlier releases.
func TestEnvelopeRoundTrip(t *testing.T) {
	for _, e := range []reading.Envelope{
		{Topic: "finemeca/air/201", Payload: []byte("{\"a\":1}\x00\xff"), Received: time.Date(2026, 1, 2, 3, 4, 5, 6789, time.UTC),
			Source: "mqtt", Customer: "acme", ReplayOf: 42, Size: 70000},
		{Topic: "http/ingest", Payload: []byte("\x1f\x8b\x08\x00 cut short"), Received: time.Date(2026, 1, 2, 3, 4, 5, 6789, time.UTC),
			Source: "http", Reason: "the body does not decode as gzip (Content-Encoding): unexpected EOF"},
	} {
		envelopeRoundTrip(t, e)
	}
}

func envelopeRoundTrip(t *testing.T, e reading.Envelope) {
	t.Helper()
	b, err := e.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	got, err := reading.UnmarshalEnvelope(b)
	if err != nil || fmt.Sprint(got) != fmt.Sprint(e) {
		t.Fatalf("binary: %+v (%v), want %+v", got, err, e)
	}
	old, _ := json.Marshal(e)
	if got, err := reading.UnmarshalEnvelope(old); err != nil || fmt.Sprint(got) != fmt.Sprint(e) {
		t.Fatalf("JSON of earlier releases: %+v (%v)", got, err)
	}
	for cut := range len(b) {
		if _, err := reading.UnmarshalEnvelope(b[:cut]); err == nil {
			t.Fatalf("an envelope cut at %d of %d decoded", cut, len(b))
		}
	}
}

// TestGatewayReason: a message the gateway gave a reason (a body that did
// not decode) is rejected with that reason, and says when only its first
// bytes travelled.
func TestGatewayReason(t *testing.T) {
	dec := plan.MustCompile(config.Default()).Decoder
	payload := []byte(`{"Customer":"finemeca","idDevice":1,"Mod":"air","Pres":6}`)
	for _, c := range []struct {
		size int
		want string
	}{
		{0, "the body does not decode as gzip"},
		{70000, fmt.Sprintf("the body does not decode as gzip; its first %d bytes of 70000 are kept", len(payload))},
	} {
		_, err := dec.Decode(reading.Envelope{Topic: "finemeca/x", Payload: payload, Received: received, Source: "http",
			Reason: "the body does not decode as gzip", Size: c.size})
		var rj *reading.RejectError
		if !errors.As(err, &rj) || !strings.HasPrefix(rj.Reason, c.want) {
			t.Errorf("size %d: %v, want rejected: %s", c.size, err, c.want)
		}
	}
}
