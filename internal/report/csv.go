package report

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"time"

	"github.com/sensorhub/sensorhub/internal/csvsafe"
	"github.com/sensorhub/sensorhub/internal/locale"
)

// Tables are the report's tables, each given as CSV.
var Tables = []string{"days", "meters", "demand", "air", "quality"}

// The decimals of the report's figures, in its CSV as on its page.
const (
	kwhDecimals  = 1 // kWh and kW
	pctDecimals  = 1
	nm3Decimals  = 2
	costDecimals = 2
	co2Decimals  = 1
)

// csvTable writes a table's cells for a spreadsheet: numbers rounded as
// the page shows them with the format's decimal mark, times as the
// spreadsheet reads them. The first error stops the writing.
type csvTable struct {
	f   locale.CSVFormat
	w   *csvsafe.Writer
	err error
}

func (t *csvTable) row(cells ...string) {
	if t.err == nil {
		t.err = t.w.Write(cells)
	}
}

func (t *csvTable) num(v float64, decimals int) string { return t.f.Number(v, decimals) }

// maybe is v, or an empty cell for no data.
func (t *csvTable) maybe(v *float64, decimals int) string {
	if v == nil {
		return ""
	}
	return t.f.Number(*v, decimals)
}

func (t *csvTable) at(v time.Time) string { return t.f.Time(v) }

// CSVFormat is the CSV format of the report's locale and zone, or the
// separator sep asks for (";" or ","; "" for the locale's).
func (r *Report) CSVFormat(sep string) (locale.CSVFormat, error) {
	return r.Locale.CSVFormat(sep, r.Period.From.Location())
}

// CSV writes one of Tables for a spreadsheet in format f: a BOM, headers
// that give units and the zone of times, times as 2026-12-03 14:15:00,
// figures rounded as the page shows them; text that a spreadsheet would
// take for a formula is neutralised (csvsafe). Rows are written as they
// are made.
func (r *Report) CSV(w io.Writer, table string, f locale.CSVFormat) error {
	if !slices.Contains(Tables, table) {
		return fmt.Errorf("no table %q (tables: %v)", table, Tables)
	}
	t := &csvTable{f: f, w: csvsafe.NewExcel(w, f.Sep)}
	switch table {
	case "days":
		r.daysCSV(t)
	case "meters":
		r.metersCSV(t)
	case "demand":
		t.row(f.TimeHeader("Quarter"), locale.Header("Demand", "kW"))
		for _, d := range r.Energy.Profile {
			t.row(t.at(d.At), t.num(d.KW, kwhDecimals))
		}
	case "air":
		r.airCSV(t)
	case "quality":
		t.row("Sensor", "Device", "Name", "Expected messages", "Received messages", "Lost messages", "Silent periods", locale.Header("Silent", "h"))
		for _, q := range r.Quality.Rows() {
			t.row(q.Sensor, q.Device, q.Name, strconv.FormatInt(q.Expected, 10), strconv.FormatInt(q.Received, 10),
				strconv.FormatInt(q.Lost, 10), strconv.Itoa(q.SilentPeriods), t.num(q.SilentHours, 2))
		}
	}
	if t.err != nil {
		return t.err
	}
	return t.w.Flush()
}

func (r *Report) daysCSV(t *csvTable) {
	head := []string{"Day"}
	for _, m := range r.Energy.Meters {
		head = append(head, locale.Header("Energy "+m.Device, "kWh"))
	}
	head = append(head, locale.Header("Energy", "kWh"), locale.Header("Estimated", "kWh"))
	if r.Currency != "" {
		head = append(head, locale.Header("Cost", r.Currency), locale.Header("CO2", "kg"))
	}
	t.row(head...)
	for i, d := range r.Energy.Days {
		row := []string{d.Day}
		for _, m := range r.Energy.Meters {
			var v *float64 // no data: an empty cell
			if i < len(m.Days) && m.Days[i].Day == d.Day {
				v = m.Days[i].KWh
			}
			row = append(row, t.maybe(v, kwhDecimals))
		}
		// The part of the total spread over times without readings.
		var estimated *float64
		if d.KWh != nil {
			estimated = &d.EstimatedKWh
		}
		row = append(row, t.maybe(d.KWh, kwhDecimals), t.maybe(estimated, kwhDecimals))
		if r.Currency != "" {
			row = append(row, t.maybe(d.Cost, costDecimals), t.maybe(d.CO2Kg, co2Decimals))
		}
		t.row(row...)
	}
}

func (r *Report) metersCSV(t *csvTable) {
	t.row(r.priced([]string{"Sensor", "Device", "Name", locale.Header("Energy", "kWh"), locale.Header("Previous energy", "kWh"), locale.Header("Difference", "kWh"),
		locale.Header("Difference", "%"), locale.Header("Peak demand", "kW"), t.f.TimeHeader("Peak at"), locale.Header("Baseload", "kW"),
		locale.Header("At night", "%"), locale.Header("On weekends", "%"), "Counter resets", "Gaps", locale.Header("Missing", "h"), locale.Header("Estimated", "kWh"), "Invalid intervals"},
		locale.Header("Cost", r.Currency), locale.Header("CO2", "kg"), "Currency")...)
	for _, m := range r.Energy.Meters {
		missing := 0.0
		for _, g := range m.Gaps {
			missing += g.MissingHours
		}
		t.row(r.priced([]string{m.Sensor, m.Device, m.Name, t.num(m.KWh, kwhDecimals), t.maybe(m.PreviousKWh, kwhDecimals), t.maybe(m.DiffKWh, kwhDecimals),
			t.maybe(m.DiffPct, pctDecimals), t.num(m.PeakKW, kwhDecimals), t.at(m.PeakAt), t.num(m.BaseloadKW, kwhDecimals),
			t.num(m.NightShare*100, pctDecimals), t.num(m.WeekendShare*100, pctDecimals), strconv.Itoa(len(m.Resets)), strconv.Itoa(len(m.Gaps)),
			t.num(missing, 2), t.num(m.EstimatedKWh, kwhDecimals), strconv.Itoa(len(m.Invalid))},
			t.maybe(m.Cost, costDecimals), t.maybe(m.CO2Kg, co2Decimals), r.Currency)...)
	}
}

func (r *Report) airCSV(t *csvTable) {
	t.row(r.priced([]string{"Sensor", "Device", "Name", "Leaks", locale.Header("Below opening pressure", "s"), locale.Header("Air lost", "Nm³"),
		locale.Header("Cost", r.Currency), locale.Header("Cost a year", r.Currency),
		t.f.TimeHeader("Worst leak start"), locale.Header("Worst leak", "s"), locale.Header("Worst leak air lost", "Nm³"),
		"Method", locale.Header("Year from", "days"), "Not measurable"},
		locale.Header("Price", r.Currency+"/Nm³"), "Currency")...)
	for _, l := range r.Air.Lines {
		ws, wsec, wlost, days := "", "", "", ""
		if l.Worst != nil {
			ws, wsec, wlost = t.at(l.Worst.Start), t.num(l.Worst.Seconds, 0), t.maybe(l.Worst.LostNm3, nm3Decimals)
		}
		if l.Year != nil {
			days = t.num(l.Year.Days, 1)
		}
		t.row(r.priced([]string{l.Sensor, l.Device, l.Name, strconv.Itoa(l.Leaks), t.num(l.SecondsBelow, 0), t.maybe(l.LostNm3, nm3Decimals),
			t.maybe(l.Cost, costDecimals), t.maybe(l.CostPerYear, costDecimals), ws, wsec, wlost, l.Method, days, l.Reason},
			t.f.Value(l.PricePerNm3), r.Currency)...)
	}
}

// priced is row with the money cells after it when the customer has
// prices: a CSV without them keeps its columns.
func (r *Report) priced(row []string, money ...string) []string {
	if r.Currency == "" {
		return row
	}
	return append(row, money...)
}

// FileName is the name of a report's file: report-<customer>-<from>[-<table>].<ext>.
func FileName(r *Report, table, ext string) string {
	name := "report-" + r.Customer + "-" + r.Period.From.Format("2006-01-02")
	if table != "" {
		name += "-" + table
	}
	return name + "." + ext
}
