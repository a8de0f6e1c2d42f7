package csvsafe_test

import (
	"bytes"
	"encoding/csv"
	"testing"

	"github.com/sensorhub/sensorhub/internal/csvsafe"
)

func TestCell(t *testing.T) {
	for in, want := range map[string]string{
		`=cmd|' /C calc'!A0`:             `'=cmd|' /C calc'!A0`,
		`=HYPERLINK("http://x","click")`: `'=HYPERLINK("http://x","click")`,
		"+1+cmd":                         "'+1+cmd",
		"-2+3":                           "'-2+3",
		"@SUM(A1:A2)":                    "'@SUM(A1:A2)",
		"\tx":                            "'\tx",
		"\rx":                            "'\rx",
		"-3.5":                           "-3.5",
		"+4":                             "+4",
		"-1e-3":                          "-1e-3",
		"-Inf":                           "'-Inf",
		"-NaN":                           "'-NaN",
		"line 1":                         "line 1",
		"":                               "",
		"12.5":                           "12.5",
	} {
		if got := csvsafe.Cell(in); got != want {
			t.Errorf("Cell(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestWriter(t *testing.T) {
	var b bytes.Buffer
	w := csvsafe.NewWriter(&b)
	if err := w.WriteAll([][]string{{"device", "kWh"}, {`=cmd|' /C calc'!A0`, "-0.5"}}); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&b).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if rows[1][0] != `'=cmd|' /C calc'!A0` || rows[1][1] != "-0.5" {
		t.Errorf("row %q: the name must be neutralised and the number kept", rows[1])
	}
}
