package web

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/sensorhub/sensorhub/internal/csvsafe"
	"github.com/sensorhub/sensorhub/internal/locale"
	"github.com/sensorhub/sensorhub/internal/store"
	"github.com/sensorhub/sensorhub/internal/store/series"
)

// MaxExportColumns bounds the devices times fields of one export: each is
// a series read.
const MaxExportColumns = 200

// csvFormat reads format and sep: nil for JSON, else the CSV format of
// the configured locale and zone, or of the separator sep asks for. It
// answers a bad parameter itself and returns false.
func (s *Server) csvFormat(w http.ResponseWriter, q url.Values) (*locale.CSVFormat, bool) {
	switch q.Get("format") {
	case "", "json":
		return nil, true
	case "csv":
	default:
		writeError(w, http.StatusBadRequest, "format must be json or csv")
		return nil, false
	}
	var l locale.Locale
	if c := s.config(); c != nil {
		l = locale.Or(c.Locale)
	}
	f, err := l.CSVFormat(q.Get("sep"), s.Location)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return nil, false
	}
	return &f, true
}

// seriesRequest reads a series request's format, range, step and
// aggregation; it answers a bad one itself and returns false.
func (s *Server) seriesRequest(w http.ResponseWriter, q url.Values) (*locale.CSVFormat, seriesParams, bool) {
	f, ok := s.csvFormat(w, q)
	if !ok {
		return nil, seriesParams{}, false
	}
	p, err := readSeriesParams(q)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return nil, seriesParams{}, false
	}
	return f, p, true
}

// export answers GET /api/v1/export: fields of several devices of one
// sensor kind over one range, as one CSV with a row per time and a column
// per device and field (devices=201,202&fields=Pres,OpenPres).
func (s *Server) export(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	devices, fields := list(q.Get("devices")), list(q.Get("fields"))
	if len(devices) == 0 || len(fields) == 0 {
		writeError(w, http.StatusBadRequest, "devices and fields are required, each a comma-separated list (devices=201,202&fields=Pres)")
		return
	}
	if n := len(devices) * len(fields); n > MaxExportColumns {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("%d devices times %d fields is more than %d columns: export fewer", len(devices), len(fields), MaxExportColumns))
		return
	}
	if q.Get("format") == "" {
		q.Set("format", "csv")
	}
	if q.Get("format") != "csv" {
		writeError(w, http.StatusBadRequest, "format must be csv")
		return
	}
	f, p, ok := s.seriesRequest(w, q)
	if !ok {
		return
	}
	var keys []store.DeviceKey
	var cols []series.Series
	for _, id := range devices {
		k, ok := s.resolveID(w, r, q.Get("customer"), q.Get("sensor"), id)
		if !ok {
			return
		}
		for _, field := range fields {
			out, _, err := s.readSeries(r.Context(), k, field, p)
			if err != nil {
				s.answerError(w, r, err)
				return
			}
			keys, cols = append(keys, k), append(cols, out)
		}
	}
	s.writeSeriesCSV(w, r, *f, keys, cols)
}

// list splits a comma-separated parameter, leaving out empty items.
func list(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// writeSeriesCSV writes series, the one of device keys[i] in column i,
// as CSV for a spreadsheet: a row per time, oldest first, an empty cell
// where a series has no point; headers name the device (when there are
// several), the field, its aggregation and its unit as the dashboard
// shows it; values are rounded as the dashboard shows them.
func (s *Server) writeSeriesCSV(w http.ResponseWriter, r *http.Request, f locale.CSVFormat, keys []store.DeviceKey, cols []series.Series) {
	several := len(cols) > 1 && keys[0] != keys[len(keys)-1]
	head := []string{f.TimeHeader("Time")}
	values := map[time.Time][]string{}
	for i, c := range cols {
		head = append(head, s.seriesHeader(keys[i], c, several))
		for _, pt := range c.Points {
			row := values[pt.Time]
			if row == nil {
				row = make([]string, len(cols))
				values[pt.Time] = row
			}
			row[i] = f.Value(pt.Value)
		}
	}
	times := make([]time.Time, 0, len(values))
	for t := range values {
		times = append(times, t)
	}
	slices.SortFunc(times, func(a, b time.Time) int { return a.Compare(b) })
	name := keys[0].Sensor + "-" + keys[0].Device
	if several {
		name = keys[0].Sensor + "-export"
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="%s-%s.csv"`, name, cols[0].Field))
	cw := csvsafe.NewExcel(w, f.Sep)
	err := cw.Write(head)
	for _, t := range times {
		if err != nil {
			break
		}
		err = cw.Write(append([]string{f.Time(t)}, values[t]...))
	}
	if err == nil {
		err = cw.Flush()
	}
	if err != nil {
		s.Log.Warn("writing a series as CSV", "device", keys[0].Device, "err", err, "ip", r.RemoteAddr)
	}
}

// seriesHeader is a column's header: [device ]field[ agg] (unit), the
// unit the dashboard gives the field (°C rather than the payload's C).
func (s *Server) seriesHeader(k store.DeviceKey, c series.Series, withDevice bool) string {
	name := c.Field
	if c.Agg != "" {
		name += " " + c.Agg
	}
	if withDevice {
		name = k.Device + " " + name
	}
	unit := c.Unit
	if cfg := s.config(); cfg != nil {
		if units, _ := shownFields(cfg.Sensors[k.Sensor]); units[c.Field] != "" {
			unit = units[c.Field]
		}
	}
	return locale.Header(name, unit)
}
