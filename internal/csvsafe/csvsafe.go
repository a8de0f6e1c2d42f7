// Package csvsafe writes CSV that a spreadsheet opens without running a
// formula from the data: a cell that is not a plain number and starts
// with =, +, -, @, a tab or a carriage return is written with a leading
// apostrophe (OWASP's rule for CSV injection). A plain number (one that
// strconv.ParseFloat reads, such as -3.5) is written as it is, so that
// spreadsheets still add it up.
package csvsafe

import (
	"encoding/csv"
	"io"
	"strconv"
	"strings"
)

// Cell is s as a CSV cell that no spreadsheet reads as a formula.
func Cell(s string) string {
	if s == "" || !strings.ContainsAny(s[:1], "=+-@\t\r") {
		return s
	}
	if _, err := strconv.ParseFloat(s, 64); err == nil && strings.Trim(s, "+-.0123456789eE") == "" {
		return s // a plain number, not Inf, NaN nor hexadecimal
	}
	return "'" + s
}

// Writer is a csv.Writer whose cells go through Cell.
type Writer struct {
	w   *csv.Writer
	row []string
}

// NewWriter writes CSV to w.
func NewWriter(w io.Writer) *Writer { return &Writer{w: csv.NewWriter(w)} }

// Write writes one record, each cell through Cell.
func (w *Writer) Write(record []string) error {
	w.row = w.row[:0]
	for _, c := range record {
		w.row = append(w.row, Cell(c))
	}
	return w.w.Write(w.row)
}

// Flush writes what is buffered and returns the first error of any
// write or of the flush.
func (w *Writer) Flush() error {
	w.w.Flush()
	return w.w.Error()
}
