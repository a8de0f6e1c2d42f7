// Package csvsafe writes CSV that a spreadsheet opens without running a
// formula from the data: a cell that is not a plain number and starts
// with =, +, -, @, a tab or a carriage return is written with a leading
// apostrophe (OWASP's rule for CSV injection). A plain number (one that
// strconv.ParseFloat reads, such as -3.5) is written as it is, so that
// spreadsheets still add it up, with a decimal point or a decimal comma.
//
// NewExcel writes what Excel opens as it is: a UTF-8 byte order mark
// first (without it Excel reads the file in the machine's code page and
// °C becomes Â°C) and the separator of the reader's locale.
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
	n := strings.Replace(s, ",", ".", 1) // a decimal comma
	if _, err := strconv.ParseFloat(n, 64); err == nil && strings.Trim(n, "+-.0123456789eE") == "" {
		return s // a plain number, not Inf, NaN nor hexadecimal
	}
	return "'" + s
}

// BOM is the UTF-8 byte order mark that tells Excel a CSV file is UTF-8.
const BOM = "\ufeff"

// Writer is a csv.Writer whose cells go through Cell.
type Writer struct {
	w   *csv.Writer
	row []string
	// bom is written before the first record, when set.
	bom io.Writer
}

// NewWriter writes CSV to w.
func NewWriter(w io.Writer) *Writer { return &Writer{w: csv.NewWriter(w)} }

// NewExcel writes CSV for a spreadsheet to w: the BOM first, then the
// records separated by sep (',' or ';').
func NewExcel(w io.Writer, sep rune) *Writer {
	cw := csv.NewWriter(w)
	cw.Comma = sep
	return &Writer{w: cw, bom: w}
}

// Write writes one record, each cell through Cell.
func (w *Writer) Write(record []string) error {
	if w.bom != nil {
		if _, err := io.WriteString(w.bom, BOM); err != nil {
			return err
		}
		w.bom = nil
	}
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
