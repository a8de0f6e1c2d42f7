package report

import (
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"time"
)

// Tables are the report's tables, each given as CSV.
var Tables = []string{"days", "meters", "demand", "air", "quality"}

// CSV writes one of Tables. Times are RFC 3339 in the report's zone,
// numbers plain, so that a spreadsheet reads them.
func (r *Report) CSV(w io.Writer, table string) error {
	cw := csv.NewWriter(w)
	num := func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
	at := func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.Format(time.RFC3339)
	}
	var rows [][]string
	switch table {
	case "days":
		head := []string{"day"}
		for _, m := range r.Energy.Meters {
			head = append(head, m.Device+" kWh")
		}
		rows = append(rows, append(head, "total kWh"))
		for i, d := range r.Energy.Days {
			row := []string{d.Day}
			for _, m := range r.Energy.Meters {
				v := 0.0
				if i < len(m.Days) && m.Days[i].Day == d.Day {
					v = m.Days[i].KWh
				}
				row = append(row, num(v))
			}
			rows = append(rows, append(row, num(d.KWh)))
		}
	case "meters":
		rows = append(rows, []string{"sensor", "device", "name", "kwh", "previous_kwh", "diff_kwh", "diff_pct", "peak_kw", "peak_at",
			"baseload_kw", "night_share", "weekend_share", "resets", "gaps", "missing_hours"})
		for _, m := range r.Energy.Meters {
			pct, missing := "", 0.0
			if m.DiffPct != nil {
				pct = num(*m.DiffPct)
			}
			for _, g := range m.Gaps {
				missing += g.MissingHours
			}
			rows = append(rows, []string{m.Sensor, m.Device, m.Name, num(m.KWh), num(m.PreviousKWh), num(m.DiffKWh), pct, num(m.PeakKW), at(m.PeakAt),
				num(m.BaseloadKW), num(m.NightShare), num(m.WeekendShare), strconv.Itoa(len(m.Resets)), strconv.Itoa(len(m.Gaps)), num(missing)})
		}
	case "demand":
		rows = append(rows, []string{"quarter", "kw"})
		for _, d := range r.Energy.Profile {
			rows = append(rows, []string{at(d.At), num(d.KW)})
		}
	case "air":
		rows = append(rows, []string{"sensor", "device", "name", "leaks", "seconds_below", "lost_nm3", "cost", "cost_per_year", "worst_start", "worst_seconds", "worst_lost_nm3"})
		for _, l := range r.Air.Lines {
			ws, wsec, wlost := "", "", ""
			if l.Worst != nil {
				ws, wsec, wlost = at(l.Worst.Start), num(l.Worst.Seconds), num(l.Worst.LostNm3)
			}
			rows = append(rows, []string{l.Sensor, l.Device, l.Name, strconv.Itoa(l.Leaks), num(l.SecondsBelow), num(l.LostNm3), num(l.Cost), num(l.CostPerYear), ws, wsec, wlost})
		}
	case "quality":
		rows = append(rows, []string{"sensor", "device", "name", "expected", "received", "lost", "silent_periods", "silent_hours"})
		for _, q := range r.Quality.Rows() {
			rows = append(rows, []string{q.Sensor, q.Device, q.Name, strconv.FormatInt(q.Expected, 10), strconv.FormatInt(q.Received, 10),
				strconv.FormatInt(q.Lost, 10), strconv.Itoa(q.SilentPeriods), num(q.SilentHours)})
		}
	default:
		return fmt.Errorf("no table %q (tables: %v)", table, Tables)
	}
	if err := cw.WriteAll(rows); err != nil {
		return err
	}
	return cw.Error()
}

// FileName is the name of a report's file: report-<customer>-<from>[-<table>].<ext>.
func FileName(r *Report, table, ext string) string {
	name := "report-" + r.Customer + "-" + r.Period.From.Format("2006-01-02")
	if table != "" {
		name += "-" + table
	}
	return name + "." + ext
}
