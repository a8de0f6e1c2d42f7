package report

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"time"

	"github.com/sensorhub/sensorhub/internal/csvsafe"
)

// Tables are the report's tables, each given as CSV.
var Tables = []string{"days", "meters", "demand", "air", "quality"}

// CSV writes one of Tables. Times are RFC 3339 in the report's zone,
// numbers plain, so that a spreadsheet reads them; text that a
// spreadsheet would take for a formula is neutralised (csvsafe). Rows are
// written as they are made.
func (r *Report) CSV(w io.Writer, table string) error {
	if !slices.Contains(Tables, table) {
		return fmt.Errorf("no table %q (tables: %v)", table, Tables)
	}
	cw := csvsafe.NewWriter(w)
	var err error
	write := func(row []string) {
		if err == nil {
			err = cw.Write(row)
		}
	}
	num := func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
	maybe := func(v *float64) string {
		if v == nil {
			return "" // no data
		}
		return num(*v)
	}
	at := func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.Format(time.RFC3339)
	}
	switch table {
	case "days":
		head := []string{"day"}
		for _, m := range r.Energy.Meters {
			head = append(head, m.Device+" kWh")
		}
		head = append(head, "total kWh", "estimated kWh")
		if r.Currency != "" {
			head = append(head, "total cost "+r.Currency, "total CO2 kg")
		}
		write(head)
		for i, d := range r.Energy.Days {
			row := []string{d.Day}
			for _, m := range r.Energy.Meters {
				var v *float64 // no data: an empty cell
				if i < len(m.Days) && m.Days[i].Day == d.Day {
					v = m.Days[i].KWh
				}
				row = append(row, maybe(v))
			}
			// The part of the total spread over times without readings.
			var estimated *float64
			if d.KWh != nil {
				estimated = &d.EstimatedKWh
			}
			row = append(row, maybe(d.KWh), maybe(estimated))
			if r.Currency != "" {
				row = append(row, maybe(d.Cost), maybe(d.CO2Kg))
			}
			write(row)
		}
	case "meters":
		write(r.priced([]string{"sensor", "device", "name", "kwh", "previous_kwh", "diff_kwh", "diff_pct", "peak_kw", "peak_at",
			"baseload_kw", "night_share", "weekend_share", "resets", "gaps", "missing_hours", "estimated_kwh", "invalid_intervals"}, "cost", "co2_kg", "currency"))
		for _, m := range r.Energy.Meters {
			pct, missing := "", 0.0
			if m.DiffPct != nil {
				pct = num(*m.DiffPct)
			}
			for _, g := range m.Gaps {
				missing += g.MissingHours
			}
			write(r.priced([]string{m.Sensor, m.Device, m.Name, num(m.KWh), maybe(m.PreviousKWh), maybe(m.DiffKWh), pct, num(m.PeakKW), at(m.PeakAt),
				num(m.BaseloadKW), num(m.NightShare), num(m.WeekendShare), strconv.Itoa(len(m.Resets)), strconv.Itoa(len(m.Gaps)), num(missing), num(m.EstimatedKWh), strconv.Itoa(len(m.Invalid))}, maybe(m.Cost), maybe(m.CO2Kg), r.Currency))
		}
	case "demand":
		write([]string{"quarter", "kw"})
		for _, d := range r.Energy.Profile {
			write([]string{at(d.At), num(d.KW)})
		}
	case "air":
		write(r.priced([]string{"sensor", "device", "name", "leaks", "seconds_below", "lost_nm3", "cost", "cost_per_year", "worst_start", "worst_seconds", "worst_lost_nm3", "method", "year_days", "not_measurable"}, "price_per_nm3", "currency"))
		for _, l := range r.Air.Lines {
			ws, wsec, wlost, days := "", "", "", ""
			if l.Worst != nil {
				ws, wsec, wlost = at(l.Worst.Start), num(l.Worst.Seconds), maybe(l.Worst.LostNm3)
			}
			if l.Year != nil {
				days = num(l.Year.Days)
			}
			write(r.priced([]string{l.Sensor, l.Device, l.Name, strconv.Itoa(l.Leaks), num(l.SecondsBelow), maybe(l.LostNm3), maybe(l.Cost), maybe(l.CostPerYear), ws, wsec, wlost, l.Method, days, l.Reason}, num(l.PricePerNm3), r.Currency))
		}
	case "quality":
		write([]string{"sensor", "device", "name", "expected", "received", "lost", "silent_periods", "silent_hours"})
		for _, q := range r.Quality.Rows() {
			write([]string{q.Sensor, q.Device, q.Name, strconv.FormatInt(q.Expected, 10), strconv.FormatInt(q.Received, 10),
				strconv.FormatInt(q.Lost, 10), strconv.Itoa(q.SilentPeriods), num(q.SilentHours)})
		}
	}
	if err != nil {
		return err
	}
	return cw.Flush()
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
