package derive_test

import (
	"maps"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sensorhub/sensorhub/internal/derive"
	"github.com/sensorhub/sensorhub/internal/reading"
)

func TestFormulas(t *testing.T) {
	set, err := derive.Compile(map[string]string{
		"leak":     "Pres < OpenPres",
		"kwh":      "increase(E)",
		"dE":       "delta(E)",
		"power":    "rate(E) * 3600",
		"lastE":    "prev(E)",
		"interval": "since_prev()",
		"margin":   "Pres - OpenPres",
		"zleak2":   "leak * 2", // sees the derived fields before it
	}, []string{"Pres", "OpenPres", "E"})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2022, 5, 3, 10, 0, 0, 0, time.UTC)
	r := reading.Reading{Time: t0.Add(30 * time.Second), Fields: map[string]float64{"Pres": 5.9, "OpenPres": 6, "E": 12.5}}
	set.Apply(&r, &derive.Prev{Time: t0, Fields: map[string]float64{"E": 48402.3}})
	want := map[string]float64{"leak": 1, "kwh": 12.5, "dE": 12.5 - 48402.3, "lastE": 48402.3, "interval": 30, "zleak2": 2}
	for k, v := range want {
		if got, ok := r.Fields[k]; !ok || got != v {
			t.Errorf("%s = %v (%v), want %v", k, got, ok, v)
		}
	}
	if m := r.Fields["margin"]; m > -0.0999 || m < -0.1001 {
		t.Errorf("margin = %v", m)
	}
	if p := r.Fields["power"]; p != (12.5-48402.3)/30*3600 {
		t.Errorf("power = %v", p)
	}
	if len(r.Flags) != 0 {
		t.Errorf("flags %v", r.Flags)
	}
}

func TestFailingFormulaFlagsOnlyItsField(t *testing.T) {
	set, err := derive.Compile(map[string]string{"kwh": "increase(E)", "double": "E * 2"}, []string{"E"})
	if err != nil {
		t.Fatal(err)
	}
	r := reading.Reading{Time: time.Now(), Fields: map[string]float64{"E": 3}}
	set.Apply(&r, nil) // the device's first reading: no previous one
	if _, ok := r.Fields["kwh"]; ok || !r.HasFlag("derive_error:kwh") {
		t.Errorf("fields %v flags %v, want kwh left out and flagged", r.Fields, r.Flags)
	}
	if r.Fields["double"] != 6 || r.Fields["E"] != 3 {
		t.Errorf("fields %v: the other formula and the reading must stay", r.Fields)
	}
}

func TestCompileErrorsNameTheField(t *testing.T) {
	_, err := derive.Compile(map[string]string{"leak": "Pressure < OpenPres", "ok": "Pres * 2"}, []string{"Pres", "OpenPres"})
	if err == nil || !strings.Contains(err.Error(), "derive leak") || !strings.Contains(err.Error(), "Pressure") {
		t.Fatalf("error %v, want one naming leak and Pressure", err)
	}
	if _, err := derive.Compile(map[string]string{"bad": "Pres +"}, nil); err == nil {
		t.Fatal("a syntax error compiled")
	}
}

func benchSet(b *testing.B, n int) {
	formulas := map[string]string{}
	for i := 0; i < n; i++ {
		formulas["d"+string(rune('a'+i%26))+string(rune('a'+i/26))] = "increase(E) * 2 + P / 3"
	}
	set, err := derive.Compile(formulas, []string{"E", "P"})
	if err != nil {
		b.Fatal(err)
	}
	prev := &derive.Prev{Time: time.Now(), Fields: map[string]float64{"E": 100, "P": 3}}
	for b.Loop() {
		r := reading.Reading{Time: prev.Time.Add(time.Minute), Fields: map[string]float64{"E": 101, "P": 4}}
		set.Apply(&r, prev)
	}
}

// BenchmarkApply is the cost per reading of 0, 5 and 20 derived fields.
func BenchmarkApply0(b *testing.B)  { benchSet(b, 0) }
func BenchmarkApply5(b *testing.B)  { benchSet(b, 5) }
func BenchmarkApply20(b *testing.B) { benchSet(b, 20) }

// FuzzCompile compiles formulas as a configuration would give them and
// applies what compiles to readings: nothing panics, a formula that does
// not compile gets an error that names it, and a formula that fails on a
// reading flags it instead of storing a value that is not a number.
func FuzzCompile(f *testing.F) {
	for _, s := range []string{
		"Pres < OpenPres", "Pres < OpenPres ? 1 : 0", "increase(E)", "rate(E) * 3600", "delta(E)", "prev(P)",
		"since_prev()", "has_prev() && _msg_count > prev(_msg_count) ? _msg_count - prev(_msg_count) - 1 : 0",
		"has_prev() && _msg_count < prev(_msg_count) ? 1 : nil", "(U1 + U2 + U3) / 3", "P / (U1 * I1)",
		"Pres <", "nosuch + 1", "E / 0", "1e308 * 10", `"text"`, "[1, 2]", "len(Pres)",
	} {
		f.Add(s)
	}
	known := []string{"Pres", "OpenPres", "E", "P", "U1", "U2", "U3", "I1", "_msg_count", "_rssi", "_snr"}
	base := time.Date(2026, 5, 1, 8, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, formula string) {
		set, err := derive.Compile(map[string]string{"x": formula}, known)
		if err != nil {
			if !strings.Contains(err.Error(), "derive x") {
				t.Fatalf("compile error that does not name the formula: %v", err)
			}
			return
		}
		for _, prev := range []*derive.Prev{nil, {Time: base.Add(-time.Minute), MsgCount: 4, Fields: map[string]float64{"E": 10, "P": 1}}} {
			r := &reading.Reading{Time: base, MsgCount: 5, Fields: map[string]float64{"Pres": 5.7, "OpenPres": 6, "E": 9, "P": 0, "U1": 230, "U2": 0, "U3": -1, "I1": 0}}
			set.Apply(r, prev)
			v, ok := r.Fields["x"]
			flagged := slices.Contains(r.Flags, derive.FlagErrorPrefix+"x")
			if ok && (math.IsNaN(v) || math.IsInf(v, 0)) {
				t.Fatalf("%q stored %v", formula, v)
			}
			if ok && flagged {
				t.Fatalf("%q both stored %v and flagged the reading", formula, v)
			}
		}
	})
}

// TestEnvReadsAnyField: a formula reads the fields it names, and one that
// reads $env may name any field of the reading, even one whose name is not
// an identifier.
func TestEnvReadsAnyField(t *testing.T) {
	set, err := derive.Compile(map[string]string{"a": "P * 2", "b": `$env["P-1"] + a`}, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := reading.Reading{Time: time.Now(), Fields: map[string]float64{"P": 3, "P-1": 10}}
	set.Apply(&r, nil)
	if r.Fields["a"] != 6 || r.Fields["b"] != 16 || len(r.Flags) != 0 {
		t.Fatalf("fields %v, flags %v; want a 6 and b 16", r.Fields, r.Flags)
	}
}

// TestApplyAgainAndAgain: readings derived one after another, on several
// goroutines at once, each see their own values and their own previous
// reading, however many came before.
func TestApplyAgainAndAgain(t *testing.T) {
	set, err := derive.Compile(map[string]string{"kwh": "increase(E)", "lost": "_msg_count - prev(_msg_count) - 1", "double": "E * 2"}, []string{"E", "_msg_count"})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 5, 1, 8, 0, 0, 0, time.UTC)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			prev := &derive.Prev{Time: t0, MsgCount: 0, Fields: map[string]float64{"E": float64(g)}}
			for i := 1; i <= 5000; i++ {
				e := float64(g) + float64(i)*0.5
				r := reading.Reading{Time: t0.Add(time.Duration(i) * time.Minute), MsgCount: int64(i * (i + 1) / 2), Fields: map[string]float64{"E": e}}
				set.Apply(&r, prev)
				if r.Fields["kwh"] != 0.5 || r.Fields["double"] != 2*e || r.Fields["lost"] != float64(i-1) || len(r.Flags) != 0 {
					t.Errorf("goroutine %d, reading %d: fields %v flags %v", g, i, r.Fields, r.Flags)
					return
				}
				prev = &derive.Prev{Time: r.Time, MsgCount: r.MsgCount, Fields: r.Fields}
			}
		})
	}
	wg.Wait()
}

// TestDerivedFieldNamedLikeAHelper: a derived field named like a helper
// is what later formulas read under that name, and the next reading has
// the helper again; a reading's field of that name is hidden by it.
func TestDerivedFieldNamedLikeAHelper(t *testing.T) {
	set, err := derive.Compile(map[string]string{"rate": "delta(E) / since_prev()", "rate_h": "rate * 3600"}, []string{"E", "prev"})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 5, 1, 8, 0, 0, 0, time.UTC)
	for i := 1; i <= 3; i++ {
		r := reading.Reading{Time: t0.Add(time.Duration(i) * time.Minute), Fields: map[string]float64{"E": float64(6 * i), "prev": 1}}
		set.Apply(&r, &derive.Prev{Time: t0.Add(time.Duration(i-1) * time.Minute), Fields: map[string]float64{"E": float64(6 * (i - 1))}})
		if r.Fields["rate"] != 0.1 || r.Fields["rate_h"] != 360 || len(r.Flags) != 0 {
			t.Fatalf("reading %d: fields %v flags %v", i, r.Fields, r.Flags)
		}
	}
}

// BenchmarkApplyMeter is a power meter's reading (eleven fields) with the
// formulas every kind has (loss, restart, repeat from the counter).
func BenchmarkApplyMeter(b *testing.B) {
	set, err := derive.Compile(map[string]string{
		"_lost":    `!has_prev() ? 0 : !counted() ? nil : _msg_count > prev(_msg_count) ? _msg_count - prev(_msg_count) - 1 : 0`,
		"_restart": `counted() && _msg_count < prev(_msg_count) ? 1 : nil`,
		"_repeat":  `counted() && _msg_count == prev(_msg_count) ? 1 : nil`,
	}, nil)
	if err != nil {
		b.Fatal(err)
	}
	fields := map[string]float64{"U1": 230, "U2": 231, "U3": 229, "I1": 16, "I2": 17, "I3": 16, "P": 11, "PF": 0.93, "E": 1000, "_rssi": -80, "_snr": 9}
	prev := &derive.Prev{Time: time.Now(), MsgCount: 1, Fields: fields}
	b.ReportAllocs()
	for b.Loop() {
		r := reading.Reading{Time: prev.Time.Add(time.Minute), MsgCount: 2, Fields: maps.Clone(fields)}
		set.Apply(&r, prev)
	}
}
