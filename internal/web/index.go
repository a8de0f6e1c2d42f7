package web

import (
	"html/template"
	"net/http"
	"sort"
	"strconv"
	"time"

	"github.com/sensorhub/sensorhub/internal/store"
)

var indexPage = template.Must(template.New("index").Funcs(template.FuncMap{
	"ago": func(t time.Time) string {
		if t.IsZero() {
			return "never"
		}
		return time.Since(t).Round(time.Second).String() + " ago"
	},
	"pct": formatPct,
}).Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>sensorhub</title>
<style>
body{font-family:system-ui,sans-serif;margin:2rem;color:#1d2733}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:.4rem .6rem;border-bottom:1px solid #dde3ea}
th{background:#f3f6f9}code{background:#f3f6f9;padding:0 .3rem}.muted{color:#67788a}
</style></head><body>
<h1>sensorhub</h1>
<p class="muted">Times in {{.Zone}}. {{len .Devices}} devices. <a href="/api/v1/rejected">{{.Rejected}} rejected messages</a>.</p>
<table aria-label="devices">
<thead><tr><th>Customer</th><th>Kind</th><th>Device</th><th>Name</th><th>Last seen</th><th>Readings</th><th>Lost</th><th>RSSI</th><th>SNR</th><th>Data</th></tr></thead>
<tbody>
{{range .Devices}}<tr><td>{{.Customer}}</td><td>{{.Sensor}}</td><td>{{.Device}}</td><td>{{.Name}}</td>
<td title="{{.LastSeen}}">{{ago .LastSeen}}</td><td>{{.Readings}}</td><td>{{.Lost}} ({{pct .LossRatio}})</td>
<td>{{with .RSSI}}{{.}}{{end}}</td><td>{{with .SNR}}{{.}}{{end}}</td>
<td><a href="/api/v1/latest?customer={{.Customer}}&sensor={{.Sensor}}&device={{.Device}}">latest</a></td></tr>
{{else}}<tr><td colspan="10">No device has sent anything yet. Publish to the MQTT broker or POST to <code>/api/v1/ingest</code>.</td></tr>{{end}}
</tbody></table>
<p class="muted">API: <code>/api/v1/devices</code>, <code>/api/v1/series</code>, <code>/api/v1/latest</code>, <code>/api/v1/rejected</code>, <code>/metrics</code>, <code>/readyz</code>.</p>
</body></html>`))

func (s *Server) index(w http.ResponseWriter, r *http.Request) {
	devs, err := s.Store.Devices(r.Context(), store.DeviceFilter{})
	if err != nil {
		s.internal(w, r, err)
		return
	}
	sort.SliceStable(devs, func(i, j int) bool { return devs[i].Sensor < devs[j].Sensor })
	n, err := s.Store.CountRejected(r.Context(), store.RejectedFilter{})
	if err != nil {
		s.internal(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	indexPage.Execute(w, map[string]any{"Devices": devs, "Rejected": n, "Zone": s.Location.String()})
}

func formatPct(f float64) string {
	return strconv.FormatFloat(f*100, 'f', 1, 64) + "%"
}
