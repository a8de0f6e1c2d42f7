package csvsafe_test

import (
	"strings"
	"testing"

	"github.com/sensorhub/sensorhub/internal/csvsafe"
)

// TestCells: text starting with a formula's character gets an apostrophe;
// numbers, negative ones too, and other text stay as they are.
func TestCells(t *testing.T) {
	for in, want := range map[string]string{
		`=cmd|' /C calc'!A0`:     `'=cmd|' /C calc'!A0`,
		`=HYPERLINK("http://x")`: `'=HYPERLINK("http://x")`,
		"+1+1":                   "'+1+1",
		"-2+3":                   "'-2+3",
		"@SUM(A1)":               "'@SUM(A1)",
		"\tx":                    "'\tx",
		"\rx":                    "'\rx",
		"-3.5":                   "-3.5",
		"+4":                     "+4",
		"-1e-3":                  "-1e-3",
		"centrale-atelier":       "centrale-atelier",
		"":                       "",
	} {
		if got := csvsafe.Cell(in); got != want {
			t.Errorf("Cell(%q) = %q, want %q", in, got, want)
		}
	}
	var b strings.Builder
	w := csvsafe.NewWriter(&b)
	if err := w.Write([]string{"=1+2", "-3.5", "a,b"}); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if got := b.String(); got != "'=1+2,-3.5,\"a,b\"\n" {
		t.Errorf("row %q", got)
	}
}

// TestExcel: the BOM comes first and once, cells are split by the
// separator asked for, and a number with a decimal comma stays a number
// while a formula still gets its apostrophe.
func TestExcel(t *testing.T) {
	var b strings.Builder
	w := csvsafe.NewExcel(&b, ';')
	for _, row := range [][]string{{"Time (Europe/Brussels)", "T (°C)"}, {"2026-12-03 14:15:00", "-3,5"}, {"-2+3", "1;2"}} {
		if err := w.Write(row); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	want := "\ufeffTime (Europe/Brussels);T (°C)\n2026-12-03 14:15:00;-3,5\n'-2+3;\"1;2\"\n"
	if got := b.String(); got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
