package locale

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// CSVTime is the layout of a time in a CSV file: the one every
// spreadsheet reads as a date and time whatever its language, without the
// T and offset of RFC 3339 that Excel leaves as text.
const CSVTime = "2006-01-02 15:04:05"

// CSVFormat is how a CSV file is written for a spreadsheet: its
// separator, its decimal mark, and the zone of its times.
type CSVFormat struct {
	Sep          rune
	DecimalComma bool
	Zone         *time.Location
}

// CheckSep checks a separator asked for: empty (the locale's), ";" or
// ",".
func CheckSep(sep string) error {
	if sep != "" && sep != ";" && sep != "," {
		return fmt.Errorf("sep %q is not ; or ,", sep)
	}
	return nil
}

// CSVFormat is the locale's CSV format, or the one sep asks for: ";"
// (with a decimal comma, as a spreadsheet that splits on semicolons
// expects) or "," (with a decimal point); "" is the locale's.
func (l Locale) CSVFormat(sep string, zone *time.Location) (CSVFormat, error) {
	f := CSVFormat{Zone: zone}
	switch sep {
	case "":
		f.Sep, f.DecimalComma = l.CSV()
	case ";":
		f.Sep, f.DecimalComma = ';', true
	case ",":
		f.Sep = ','
	default:
		return CSVFormat{}, CheckSep(sep)
	}
	if f.Zone == nil {
		f.Zone = time.UTC
	}
	return f, nil
}

// Number writes v with decimals digits, without grouping (which a
// spreadsheet would read as text), with the format's decimal mark.
func (f CSVFormat) Number(v float64, decimals int) string {
	return f.mark(strconv.FormatFloat(v, 'f', decimals, 64))
}

// Value writes a reading's value as the dashboard shows it: at most
// Shown decimals, no trailing zeros.
func (f CSVFormat) Value(v float64) string {
	s := strconv.FormatFloat(v, 'f', Shown, 64)
	s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	if s == "-0" {
		s = "0"
	}
	return f.mark(s)
}

func (f CSVFormat) mark(s string) string {
	if f.DecimalComma {
		return strings.Replace(s, ".", ",", 1)
	}
	return s
}

// Time writes t in the format's zone as CSVTime; empty for the zero time
// (no data).
func (f CSVFormat) Time(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.In(f.Zone).Format(CSVTime)
}

// Day writes t's day in the format's zone, as CSVTime's date.
func (f CSVFormat) Day(t time.Time) string { return t.In(f.Zone).Format(time.DateOnly) }

// TimeHeader is the header of a column of times: it says their zone,
// which the cells cannot.
func (f CSVFormat) TimeHeader(name string) string {
	return name + " (" + f.Zone.String() + ")"
}

// Header is a column's header with its unit: E (kWh).
func Header(name, unit string) string {
	if unit == "" {
		return name
	}
	return name + " (" + unit + ")"
}
