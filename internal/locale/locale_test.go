package locale_test

import (
	"strings"
	"testing"
	"time"

	"github.com/sensorhub/sensorhub/internal/locale"
)

const nbsp = "\u00a0"

// TestNumbersAndDates: each locale's figures and dates, written out by
// hand as people of that locale write them.
func TestNumbersAndDates(t *testing.T) {
	brussels, err := time.LoadLocation("Europe/Brussels")
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 12, 3, 14, 15, 7, 0, brussels)
	jan := time.Date(2026, 1, 9, 8, 5, 0, 0, brussels)
	for _, c := range []struct {
		tag                           string
		n1, n2, value, neg, date, jan string
		dateTime, tm                  string
		sep                           rune
		comma                         bool
	}{
		{"en", "1,234.5", "1,234,567.89", "0.125", "-1,234.5", "2026-12-03", "2026-01-09", "2026-12-03 14:15:07", "14:15:07", ',', false},
		{"fr-BE", "1" + nbsp + "234,5", "1" + nbsp + "234" + nbsp + "567,89", "0,125", "-1" + nbsp + "234,5", "3/12/2026", "9/01/2026", "3/12/2026 14:15:07", "14:15:07", ';', true},
		{"fr", "1" + nbsp + "234,5", "1" + nbsp + "234" + nbsp + "567,89", "0,125", "-1" + nbsp + "234,5", "03/12/2026", "09/01/2026", "03/12/2026 14:15:07", "14:15:07", ';', true},
		{"nl-BE", "1.234,5", "1.234.567,89", "0,125", "-1.234,5", "3/12/2026", "9/01/2026", "3/12/2026 14:15:07", "14:15:07", ';', true},
		{"de-DE", "1.234,5", "1.234.567,89", "0,125", "-1.234,5", "03.12.2026", "09.01.2026", "03.12.2026 14:15:07", "14:15:07", ';', true},
		{"en-US", "1,234.5", "1,234,567.89", "0.125", "-1,234.5", "12/3/2026", "1/9/2026", "12/3/2026 2:15:07 PM", "2:15:07 PM", ',', false},
	} {
		l, err := locale.Parse(c.tag)
		if err != nil {
			t.Fatalf("%s: %v", c.tag, err)
		}
		for _, g := range []struct{ what, got, want string }{
			{"Number(1234.5, 1)", l.Number(1234.5, 1), c.n1},
			{"Number(1234567.891, 2)", l.Number(1234567.891, 2), c.n2},
			{"Value(0.12500001)", l.Value(0.12500001), c.value},
			{"Number(-1234.46, 1)", l.Number(-1234.46, 1), c.neg},
			{"Date", l.Date(at), c.date},
			{"Date(January)", l.Date(jan), c.jan},
			{"DateTime", l.DateTime(at), c.dateTime},
			{"Time", l.Time(at), c.tm},
		} {
			if g.got != g.want {
				t.Errorf("%s %s = %q, want %q", c.tag, g.what, g.got, g.want)
			}
		}
		if sep, comma := l.CSV(); sep != c.sep || comma != c.comma {
			t.Errorf("%s CSV() = %q, %v, want %q, %v", c.tag, sep, comma, c.sep, c.comma)
		}
	}
}

// TestZeroIsDefault: a Locale nobody parsed writes as en does.
func TestZeroIsDefault(t *testing.T) {
	var l locale.Locale
	if got := l.Number(1234.5, 2); got != "1,234.50" {
		t.Errorf("Number = %q", got)
	}
	if got := l.Tag(); got != "en" {
		t.Errorf("Tag = %q", got)
	}
}

// TestUnknown: a tag that is not one, or a language without a date
// format, is an error that says which ones there are.
func TestUnknown(t *testing.T) {
	for _, tag := range []string{"xx", "fr_BE!", "ja", ""} {
		_, err := locale.Parse(tag)
		if err == nil {
			t.Errorf("Parse(%q) gave no error", tag)
			continue
		}
		if !strings.Contains(err.Error(), "fr-BE") {
			t.Errorf("Parse(%q): %v does not list the known locales", tag, err)
		}
	}
}

// TestCSVFormat: numbers without grouping and with the format's decimal
// mark, times as spreadsheets read them in the zone, and the separator
// chosen by the locale or asked for.
func TestCSVFormat(t *testing.T) {
	brussels, _ := time.LoadLocation("Europe/Brussels")
	frBE, _ := locale.Parse("fr-BE")
	f, err := frBE.CSVFormat("", brussels)
	if err != nil {
		t.Fatal(err)
	}
	if f.Sep != ';' || !f.DecimalComma {
		t.Fatalf("fr-BE CSV: %q %v", f.Sep, f.DecimalComma)
	}
	utc := time.Date(2026, 12, 3, 13, 15, 0, 0, time.UTC)
	for _, g := range []struct{ got, want string }{
		{f.Number(1234.56, 1), "1234,6"},
		{f.Value(1234.56789), "1234,568"},
		{f.Value(2.5), "2,5"},
		{f.Value(-0.0001), "0"},
		{f.Time(utc), "2026-12-03 14:15:00"},
		{f.Time(time.Time{}), ""},
		{f.TimeHeader("Time"), "Time (Europe/Brussels)"},
		{locale.Header("E", "kWh"), "E (kWh)"},
		{locale.Header("n", ""), "n"},
	} {
		if g.got != g.want {
			t.Errorf("got %q, want %q", g.got, g.want)
		}
	}
	comma, err := frBE.CSVFormat(",", nil)
	if err != nil || comma.Sep != ',' || comma.DecimalComma || comma.Number(1234.56, 2) != "1234.56" || comma.Time(utc) != "2026-12-03 13:15:00" {
		t.Errorf("sep=, gives %+v, %v", comma, err)
	}
	if _, err := frBE.CSVFormat("|", nil); err == nil {
		t.Error("sep=| gave no error")
	}
}
