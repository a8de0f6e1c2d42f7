package reading

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// stdParse is how payloads were read before jsontext: encoding/json with
// UseNumber, one value and nothing after it. It is the reference the
// parser must agree with.
func stdParse(payload []byte) (any, string) {
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, "invalid JSON: the payload is empty"
		}
		return nil, "invalid JSON"
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, "invalid JSON: unexpected data after the JSON value"
	}
	if _, ok := v.(map[string]any); !ok {
		return nil, "not a JSON object: the payload is " + jsonKind(v)
	}
	return v, ""
}

// checkParse compares parseObject and the decodeFlat parser with
// encoding/json on one payload.
func checkParse(t *testing.T, payload []byte) {
	t.Helper()
	want, wantReason := stdParse(payload)
	got, err := parseObject(payload)
	if wantReason != "" {
		if err == nil || !strings.HasPrefix(err.Error(), wantReason) {
			t.Fatalf("%q: got %v (%v), want a rejection starting %q", payload, got, err, wantReason)
		}
		return
	}
	if err != nil {
		t.Fatalf("%q: rejected (%v), encoding/json reads %v", payload, err, want)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%q: got %#v, want %#v", payload, got, want)
	}
	// A parser and map used before, as decodeFlat reuses them: the same
	// object, and depth and NUL notes that cover what it holds.
	p := parsers.Get().(*parser)
	defer p.release()
	obj := map[string]any{}
	if _, err := p.parse([]byte(`{"stale":{"x":"\u0000"}}`), obj); err != nil {
		t.Fatal(err)
	}
	clear(obj)
	if _, err := p.parse(payload, obj); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(obj, want) {
		t.Fatalf("%q: reused parser got %#v, want %#v", payload, obj, want)
	}
	if d := depth(want); p.depth < d {
		t.Fatalf("%q: parser depth %d, the object's %d", payload, p.depth, d)
	}
	if checkText(want) != nil && !p.nul {
		t.Fatalf("%q: a NUL character not noted", payload)
	}
}

var parseCases = []string{
	``, ` `, `{}`, ` {"a":1} `, `{"a":1}{}`, `{"a":1} x`, `{"a":1}}`, `{"a":1`, `{"a":}`, `{a:1}`, `{"a":1,}`,
	`[1,2,3]`, `"text"`, `12.5`, `true`, `null`, `[1,2`,
	`{"a":1,"a":"two"}`, `{"a":{"b":1},"a":2}`, `{"a":"x\u0000","a":1}`, `{"n\u0000":1}`,
	`{"a":"\u00e9\ud83d\ude00\n\"\\"}`, "{\"a\":\"\xff\xfeb\"}", "{\"\xc3\":\"\xed\xa0\x80\"}", `{"a":"\ud800"}`,
	`{"a":1e400,"b":-0,"c":0.0000001,"d":12345678901234567890123}`, `{"a":[],"b":{},"c":[[{"d":[null,true,false]}]]}`,
	`{"Customer":"finemeca","idDevice":301,"U1":231.2,"U-U":"V","Time":"2022-05-02 23:59:30"}`,
	`{"` + strings.Repeat("k", 40) + `":"` + strings.Repeat("v", 40) + `"}`,
}

func TestParseLikeEncodingJSON(t *testing.T) {
	for _, c := range parseCases {
		checkParse(t, []byte(c))
	}
	for _, c := range lines(t) {
		checkParse(t, []byte(c))
	}
}

// TestParseSharesNames: names and short texts read before are shared, not
// allocated again; what is shared does not change what is read.
func TestParseSharesNames(t *testing.T) {
	payload := []byte(`{"Customer":"finemeca","idDevice":"a1","U1":231.2,"U-U":"V"}`)
	p := new(parser)
	obj := map[string]any{}
	if _, err := p.parse(payload, obj); err != nil {
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(100, func() {
		clear(obj)
		if _, err := p.parse(payload, obj); err != nil {
			t.Fatal(err)
		}
	})
	// The number's text and its box are all that is allocated.
	if allocs > 2 {
		t.Errorf("%v allocations to read the payload again, want at most 2", allocs)
	}
	if obj["Customer"] != "finemeca" || obj["idDevice"] != "a1" || obj["U-U"] != "V" || obj["U1"] != json.Number("231.2") {
		t.Errorf("read %v", obj)
	}
}

func FuzzParse(f *testing.F) {
	for _, c := range parseCases {
		f.Add([]byte(c))
	}
	for _, c := range lines(f) {
		f.Add([]byte(c))
	}
	f.Fuzz(func(t *testing.T, payload []byte) { checkParse(t, payload) })
}

// lines are the sample payloads, one a line.
func lines(t testing.TB) []string {
	var out []string
	for _, name := range []string{"air.jsonl", "centrale.jsonl", "devicev01.jsonl", "bad.jsonl"} {
		b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "payloads", name))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, strings.Split(strings.TrimSpace(string(b)), "\n")...)
	}
	return out
}
