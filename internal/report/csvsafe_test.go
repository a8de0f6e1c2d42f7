package report_test

import (
	"encoding/csv"
	"strings"
	"testing"

	"github.com/sensorhub/sensorhub/internal/report"
)

// TestCSVNeutralisesFormulas: a device whose name or id a spreadsheet
// would run as a formula reaches every table as text, and the numbers,
// negative ones too, stay numbers.
func TestCSVNeutralisesFormulas(t *testing.T) {
	evil := []string{`=cmd|' /C calc'!A0`, `=HYPERLINK("http://example.com","x")`, "@SUM(1+1)", "+1+1", "-2+3", "\tx"}
	r := &report.Report{}
	for i, name := range evil {
		r.Energy.Meters = append(r.Energy.Meters, report.Meter{Sensor: "centrale", Device: name, Name: name, Total: report.Total{BaseloadKW: -1.5}})
		r.Air.Lines = append(r.Air.Lines, report.Line{Sensor: "air", Device: name, Name: name})
		r.Quality.Devices = append(r.Quality.Devices, report.DeviceQuality{Sensor: "air", Device: evil[len(evil)-1-i], Name: name})
	}
	for _, table := range []string{"meters", "air", "quality", "days"} {
		var b strings.Builder
		if err := r.CSV(&b, table); err != nil {
			t.Fatal(err)
		}
		rows, err := csv.NewReader(strings.NewReader(b.String())).ReadAll()
		if err != nil {
			t.Fatalf("%s: %v", table, err)
		}
		for _, row := range rows {
			for _, cell := range row {
				if cell != "" && strings.ContainsRune("=+-@\t\r", rune(cell[0])) && cell != "-1.5" {
					t.Errorf("table %s: cell %q starts a formula", table, cell)
				}
			}
		}
		if table == "meters" && !strings.Contains(b.String(), `'=HYPERLINK(""http://example.com"",""x"")`) {
			t.Errorf("meters: the name is not kept with its quote:\n%s", b.String())
		}
		if table == "meters" && !strings.Contains(b.String(), ",-1.5,") {
			t.Errorf("meters: a negative number must stay a number:\n%s", b.String())
		}
	}
}
