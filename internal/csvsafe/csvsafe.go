// Package csvsafe writes CSV that a spreadsheet opens as data: a text
// cell that a spreadsheet would read as a formula is neutralised, as
// OWASP's "CSV injection" advice says.
package csvsafe

import (
	"encoding/csv"
	"io"
	"strconv"
	"strings"
)

// Cell is v as a spreadsheet reads it as text: a cell that starts with
// =, +, -, @, a tab or a carriage return gets a leading ' (a device named
// =HYPERLINK(...) stays a name). A plain number (-3.5, 1e-3) is written
// as it is, so that it stays a number in the spreadsheet.
func Cell(v string) string {
	if v == "" || !strings.ContainsRune("=+-@\t\r", rune(v[0])) || number(v) {
		return v
	}
	return "'" + v
}

// number says v is a plain decimal number: digits, a sign, a point and an
// exponent, and nothing a spreadsheet could take for a formula.
func number(v string) bool {
	if strings.ContainsFunc(v, func(r rune) bool {
		return !(r >= '0' && r <= '9' || r == '-' || r == '+' || r == '.' || r == 'e' || r == 'E')
	}) {
		return false
	}
	_, err := strconv.ParseFloat(v, 64)
	return err == nil
}

// Writer is a csv.Writer whose every cell goes through Cell.
type Writer struct {
	w   *csv.Writer
	row []string
}

// NewWriter writes CSV to w.
func NewWriter(w io.Writer) *Writer { return &Writer{w: csv.NewWriter(w)} }

// Write writes one row.
func (w *Writer) Write(record []string) error {
	w.row = w.row[:0]
	for _, v := range record {
		w.row = append(w.row, Cell(v))
	}
	return w.w.Write(w.row)
}

// WriteAll writes the rows and flushes.
func (w *Writer) WriteAll(records [][]string) error {
	for _, r := range records {
		if err := w.Write(r); err != nil {
			return err
		}
	}
	w.w.Flush()
	return w.w.Error()
}

// Flush writes what is buffered.
func (w *Writer) Flush() { w.w.Flush() }

// Error is the first error of a write or a flush.
func (w *Writer) Error() error { return w.w.Error() }
