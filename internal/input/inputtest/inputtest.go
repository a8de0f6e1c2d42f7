// Package inputtest is what every format's tests run: a golden table of
// the readings and rejections its testdata payloads decode to, and a fuzz
// target over its decoding, both through reading.Decoder as ingest uses
// it, with the sensor kinds of Kinds.
package inputtest

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/sensorhub/sensorhub/internal/input/cayenne"
	"github.com/sensorhub/sensorhub/internal/reading"
)

var update = flag.Bool("update", false, "write the golden files of the format tests")

// Customers are the customers the test decoder knows.
var Customers = []string{"finemeca", "acme"}

// Kinds are the sensor kinds of the test decoder: lora-climate keeps and
// renames a codec's fields, lora-lpp decodes Cayenne LPP, weather keeps
// every field.
var Kinds = []reading.Profile{
	{Name: "lora-climate", MatchTopic: "never/matched",
		Keep:   []string{"temperatureSensor_1", "humiditySensor_2", "temperature"},
		Rename: map[string]string{"temperatureSensor_1": "Temp", "humiditySensor_2": "Hum", "temperature": "Temp"},
		Units:  map[string]string{"Temp": "°C", "Hum": "%"}},
	{Name: "lora-lpp", MatchTopic: "never/matched", Payload: cayenne.Decode, PayloadName: cayenne.Name},
	{Name: "weather", MatchTopic: "never/matched"},
}

// Decoder is a decoder whose input f reads topics.
func Decoder(f reading.Format, topics ...string) *reading.Decoder {
	d := &reading.Decoder{Location: time.UTC, Customers: map[string]bool{}, Profiles: Kinds,
		MaxPayload: 64 << 10, MaxDepth: 8, MaxFields: 256, MaxTopic: 256, MaxClockSkew: time.Hour,
		Inputs: []reading.Input{{Name: "inputs.0", Topics: topics, Format: f}}}
	for _, c := range Customers {
		d.Customers[c] = true
	}
	return d
}

// Case is one message of a golden table: a payload of testdata, the
// topic it comes on, and the decoder that reads it.
type Case struct {
	Name, Topic, File string
	Decoder           *reading.Decoder
	// Edit, when set, changes the payload's JSON before it is sent.
	Edit func(map[string]any)
}

// Received is the receive time of every golden message.
var Received = time.Date(2022, 7, 18, 9, 35, 0, 0, time.UTC)

// Outcome is what a message decodes to, as the golden files keep it:
// the reading, or the readings of a reading.MultiFormat's message.
type Outcome struct {
	Reading  *reading.Reading  `json:"reading,omitempty"`
	Readings []reading.Reading `json:"readings,omitempty"`
	Rejected string            `json:"rejected,omitempty"`
	Customer string            `json:"customer,omitempty"`
}

// Payload reads a payload of testdata, edited by edit when set.
func Payload(t testing.TB, file string, edit func(map[string]any)) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	if edit == nil {
		return b
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	edit(m)
	if b, err = json.Marshal(m); err != nil {
		t.Fatal(err)
	}
	return b
}

// Updating tells whether the test writes its golden files (-update).
func Updating() bool { return *update }

// Golden decodes each case, in order, and compares what it gives with
// testdata/golden/<name>.json (go test -update writes them).
func Golden(t *testing.T, cases []Case) {
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			env := reading.Envelope{Topic: c.Topic, Payload: Payload(t, c.File, c.Edit), Received: Received, Source: "mqtt"}
			rs, err := c.Decoder.DecodeAll(env)
			var out Outcome
			if _, multi := c.Decoder.Inputs[0].Format.(reading.MultiFormat); err != nil {
				rj, ok := errors.AsType[*reading.RejectError](err)
				if !ok {
					t.Fatalf("not a rejection: %v", err)
				}
				out.Rejected, out.Customer = rj.Reason, rj.Customer
			} else if multi {
				out.Readings = rs
			} else {
				out.Reading = &rs[0]
			}
			got, err := json.MarshalIndent(out, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			path := filepath.Join("testdata", "golden", c.Name+".json")
			if *update {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (go test -run %s -update writes it)", err, t.Name())
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s on %s decodes to\n%s\nwant (%s)\n%s", c.File, c.Topic, got, path, want)
			}
		})
	}
}

// Fuzz feeds dec the seeds (topic and testdata file) and what the fuzzer
// makes of them: every message gives readings that every store takes, or
// a rejection with its reason; none panics.
func Fuzz(f *testing.F, dec *reading.Decoder, seeds [][2]string) {
	for _, s := range seeds {
		f.Add(s[0], Payload(f, s[1], nil))
	}
	f.Fuzz(func(t *testing.T, topic string, payload []byte) {
		rs, err := dec.DecodeAll(reading.Envelope{Topic: topic, Payload: payload, Received: Received, Source: "mqtt"})
		if err != nil {
			rj, ok := errors.AsType[*reading.RejectError](err)
			if !ok || rj.Reason == "" {
				t.Fatalf("%v: not a rejection with a reason", err)
			}
			return
		}
		for _, r := range rs {
			checkReading(t, dec, r)
		}
	})
}

// checkReading fails t unless r is a reading every store takes.
func checkReading(t *testing.T, dec *reading.Decoder, r reading.Reading) {
	if !dec.Customers[r.Customer] || r.Device == "" || len(r.Device) > reading.MaxIDLength || !utf8.ValidString(r.Device) {
		t.Fatalf("reading of customer %q, device %q", r.Customer, r.Device)
	}
	if r.Time.IsZero() || r.Time.After(Received.Add(dec.MaxClockSkew)) {
		t.Fatalf("time %s", r.Time)
	}
	known := false
	for _, p := range dec.Profiles {
		known = known || p.Name == r.Sensor
	}
	if !known {
		t.Fatalf("sensor kind %q is not configured", r.Sensor)
	}
	for k, v := range r.Fields {
		if math.IsNaN(v) || math.IsInf(v, 0) || k == "" || strings.ContainsRune(k, 0) {
			t.Fatalf("field %q = %v", k, v)
		}
	}
}
