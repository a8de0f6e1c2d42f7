package testenv

import (
	"archive/zip"
	"encoding/xml"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// SheetCell is a cell as a spreadsheet read it: a number (Num, with
// IsNum) or a text (Text).
type SheetCell struct {
	IsNum bool
	Num   float64
	Text  string
}

// Time is a number cell read as a date and time: Excel's serial days
// since 30 December 1899, a wall time without a zone.
func (c SheetCell) Time() time.Time {
	day := time.Duration(c.Num * float64(24*time.Hour))
	return time.Date(1899, 12, 30, 0, 0, 0, 0, time.UTC).Add(day).Round(time.Second)
}

// languages are LibreOffice's language codes (Windows LCIDs) of the
// locales the tests read CSV files in.
var languages = map[string]int{"en": 1033, "fr-BE": 2060, "de-DE": 1031}

// Spreadsheet opens a CSV file in LibreOffice as a person of locale lang
// who chose the separator sep does (special numbers such as dates
// detected), saves it as xlsx and gives its first sheet's cells, row by
// row. Skipped in the fast tier.
func Spreadsheet(t testing.TB, csv []byte, sep rune, lang string) [][]SheetCell {
	t.Helper()
	Needs(t, "LibreOffice")
	dir := t.TempDir()
	in := filepath.Join(dir, "in.csv")
	if err := os.WriteFile(in, csv, 0o600); err != nil {
		t.Fatal(err)
	}
	// Separator, quote, UTF-8, first row, no column types, language,
	// quoted fields not as text, special numbers detected.
	filter := "CSV:" + strconv.Itoa(int(sep)) + ",34,76,1,," + strconv.Itoa(languages[lang]) + ",false,true"
	cmd := exec.Command("soffice", "--headless", "-env:UserInstallation=file://"+filepath.Join(dir, "profile"),
		"--infilter="+filter, "--convert-to", "xlsx", "--outdir", dir, in)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("soffice: %v\n%s", err, out)
	}
	z, err := zip.OpenReader(filepath.Join(dir, "in.xlsx"))
	if err != nil {
		t.Fatal(err)
	}
	defer z.Close()
	var shared struct {
		SI []struct {
			T string `xml:"t"`
		} `xml:"si"`
	}
	var sheet struct {
		Rows []struct {
			Cells []struct {
				Ref  string `xml:"r,attr"`
				Type string `xml:"t,attr"`
				V    string `xml:"v"`
			} `xml:"c"`
		} `xml:"sheetData>row"`
	}
	readXML(t, z, "xl/sharedStrings.xml", &shared)
	readXML(t, z, "xl/worksheets/sheet1.xml", &sheet)
	var out [][]SheetCell
	for _, r := range sheet.Rows {
		var row []SheetCell
		for _, c := range r.Cells {
			// An empty cell is left out of the sheet: its column is in
			// the reference (C2) of the next one.
			for col := column(c.Ref); len(row) < col; {
				row = append(row, SheetCell{})
			}
			switch c.Type {
			case "n", "":
				n, err := strconv.ParseFloat(c.V, 64)
				row = append(row, SheetCell{IsNum: err == nil, Num: n, Text: c.V})
			case "s":
				i, _ := strconv.Atoi(c.V)
				row = append(row, SheetCell{Text: shared.SI[i].T})
			default:
				row = append(row, SheetCell{Text: c.V})
			}
		}
		out = append(out, row)
	}
	return out
}

// column is the index from 0 of a cell reference's column: 0 for A2, 27
// for AB2.
func column(ref string) int {
	n := 0
	for _, r := range ref {
		if r < 'A' || r > 'Z' {
			break
		}
		n = n*26 + int(r-'A'+1)
	}
	return n - 1
}

func readXML(t testing.TB, z *zip.ReadCloser, name string, v any) {
	t.Helper()
	f, err := z.Open(name)
	if err != nil {
		if strings.Contains(name, "sharedStrings") {
			return // a sheet without text
		}
		t.Fatal(err)
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	if err := xml.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}
