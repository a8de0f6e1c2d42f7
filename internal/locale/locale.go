// Package locale writes numbers and dates the way the plant's people read
// them, the same on every page, report and e-mail: locale fr-BE writes
// 1 234,5 and 3/12/2026, locale en (the default) 1,234.5 and 2026-12-03.
//
// Numbers come from golang.org/x/text (CLDR); dates from a small table of
// the short numeric date each supported language and region writes, so
// that a date reads the same in Go and in the pages' scripts, which fill
// the same pattern (DatePattern, TimePattern).
package locale

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/text/language"
	"golang.org/x/text/message"
	"golang.org/x/text/number"
)

// Default is the locale of a configuration that sets none.
const Default = "en"

// Shown is the most decimals the dashboard shows of a reading's value;
// Value rounds to it.
const Shown = 3

// dates are the short numeric date and the time of day, as Go layouts,
// by language and language-region. Plain en is ISO 8601: the one numeric
// date no reader takes for another (3/12 is 3 December in Brussels, 12
// March in Chicago), and the one every spreadsheet reads as a date.
var dates = map[string]struct{ date, time string }{
	"en":    {"2006-01-02", "15:04:05"},
	"en-US": {"1/2/2006", "3:04:05 PM"},
	"en-GB": {"02/01/2006", "15:04:05"},
	"en-IE": {"02/01/2006", "15:04:05"},
	"fr":    {"02/01/2006", "15:04:05"},
	"fr-BE": {"2/01/2006", "15:04:05"},
	"fr-CA": {"2006-01-02", "15:04:05"},
	"nl":    {"2-1-2006", "15:04:05"},
	"nl-BE": {"2/01/2006", "15:04:05"},
	"de":    {"02.01.2006", "15:04:05"},
	"it":    {"02/01/2006", "15:04:05"},
	"es":    {"2/1/2006", "15:04:05"},
	"pt":    {"02/01/2006", "15:04:05"},
}

// Locale writes numbers and dates for one language and region. The zero
// Locale is Default.
type Locale struct {
	tag        string
	date, time string
	printer    *message.Printer
	comma      bool
}

// Parse reads a BCP 47 tag such as fr-BE, nl-BE, de or en. A tag that is
// not well formed, or whose language has no dates in the table, is an
// error that lists the ones there are.
func Parse(tag string) (Locale, error) {
	t, err := language.Parse(tag)
	if err != nil {
		return Locale{}, fmt.Errorf("locale %q: %v (known: %s)", tag, err, strings.Join(Known(), ", "))
	}
	base, _ := t.Base()
	region, conf := t.Region()
	d, ok := dates[base.String()+"-"+region.String()]
	if !ok || conf != language.Exact {
		d, ok = dates[base.String()]
	}
	if !ok {
		return Locale{}, fmt.Errorf("locale %q: no date format for language %s (known: %s)", tag, base, strings.Join(Known(), ", "))
	}
	p := message.NewPrinter(t)
	l := Locale{tag: t.String(), date: d.date, time: d.time, printer: p}
	l.comma = strings.Contains(p.Sprint(number.Decimal(1.5, number.Scale(1))), ",")
	return l, nil
}

// Or is the locale tag names, or Default when it names none (a
// configuration that was checked names one).
func Or(tag string) Locale {
	l, err := Parse(tag)
	if err != nil {
		return Locale{}.orDefault()
	}
	return l
}

// Known are the tags with a date format of their own; other regions of
// these languages take their language's.
func Known() []string {
	out := make([]string, 0, len(dates))
	for k := range dates {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// fallback is Default's Locale, made once.
var fallback = sync.OnceValue(func() Locale {
	l, err := Parse(Default)
	if err != nil {
		panic(err) // the table has no Default: a mistake in this file
	}
	return l
})

// orDefault is l, or Default for the zero Locale.
func (l Locale) orDefault() Locale {
	if l.printer != nil {
		return l
	}
	return fallback()
}

// Tag is the BCP 47 tag, for <html lang> and the pages' Intl formats.
func (l Locale) Tag() string { return l.orDefault().tag }

// DatePattern and TimePattern are the Go layouts of Date and Time, for
// the pages' scripts to write the same.
func (l Locale) DatePattern() string { return l.orDefault().date }
func (l Locale) TimePattern() string { return l.orDefault().time }

// Number writes v with decimals digits after the decimal separator and
// the locale's grouping: 1 234,5 in fr-BE (a no-break space, U+00A0,
// keeps the number on one line). NaN and infinities, which no reading
// has, are written as Go writes them.
func (l Locale) Number(v float64, decimals int) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return fmt.Sprint(v)
	}
	return l.orDefault().printer.Sprint(number.Decimal(v, number.Scale(decimals)))
}

// Value writes a reading's value as the dashboard shows it: at most
// Shown decimals, no trailing zeros.
func (l Locale) Value(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return fmt.Sprint(v)
	}
	return l.orDefault().printer.Sprint(number.Decimal(v, number.MaxFractionDigits(Shown)))
}

// Date is t's day, in t's zone: 3/12/2026 in fr-BE.
func (l Locale) Date(t time.Time) string { return t.Format(l.orDefault().date) }

// Time is t's time of day, in t's zone: 14:15:00.
func (l Locale) Time(t time.Time) string { return t.Format(l.orDefault().time) }

// DateTime is Date and Time: 3/12/2026 14:15:00 in fr-BE.
func (l Locale) DateTime(t time.Time) string { return l.Date(t) + " " + l.Time(t) }

// CSV is the separator and decimal mark a spreadsheet of the locale
// expects: where the decimal mark is a comma, cells are separated by
// semicolons (Excel's list separator there).
func (l Locale) CSV() (sep rune, decimalComma bool) {
	if l.orDefault().comma {
		return ';', true
	}
	return ',', false
}
