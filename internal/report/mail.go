package report

import (
	"bytes"
	"fmt"
	htmltemplate "html/template"
	"net/url"
	"slices"
	"strings"
	"text/template"
	"time"

	"github.com/sensorhub/sensorhub/internal/alert/notify"
	"github.com/sensorhub/sensorhub/internal/locale"
)

// Funcs are the helpers the report's templates use to write figures and
// dates for people, in the page and the mail, as locale l writes them.
func Funcs(l locale.Locale) map[string]any {
	// fixed writes a figure with digits decimals; a dash for no data (a
	// nil *float64).
	fixed := func(digits int, v any) string {
		switch v := v.(type) {
		case float64:
			return l.Number(v, digits)
		case *float64:
			if v != nil {
				return l.Number(*v, digits)
			}
		}
		return "–"
	}
	// kwh is a figure of kWh.
	kwh := func(v any) string { return fixed(kwhDecimals, v) }
	// cost is an amount in currency; a dash for no data.
	cost := func(v any, currency string) string {
		switch v := v.(type) {
		case float64:
			return strings.TrimSpace(l.Number(v, costDecimals) + " " + currency)
		case *float64:
			if v != nil {
				return strings.TrimSpace(l.Number(*v, costDecimals) + " " + currency)
			}
		}
		return "–"
	}
	return map[string]any{
		"kwh": kwh,
		"pct": func(v float64) string { return l.Number(v*100, pctDecimals) + " %" },
		"diffpct": func(v *float64) string {
			if v == nil {
				return "–"
			}
			if *v >= 0 {
				return "+" + l.Number(*v, pctDecimals) + " %"
			}
			return l.Number(*v, pctDecimals) + " %"
		},
		"money": func(v float64) string { return l.Number(v, costDecimals) },
		"cost":  cost,
		// co2kg is kg of CO2 in a table's cell; a dash for no data.
		"co2kg": func(v *float64) string {
			if v == nil {
				return "–"
			}
			return l.Number(*v, co2Decimals)
		},
		// co2 is kg of CO2; a dash for no data.
		"co2": func(v *float64) string {
			if v == nil {
				return "–"
			}
			return l.Number(*v, co2Decimals) + " kg CO2"
		},
		"nm3": func(v float64) string { return l.Number(v, nm3Decimals) },
		// num writes any figure with so many decimals; value a reading's
		// value as the dashboard shows it.
		"num":   l.Number,
		"value": l.Value,
		"when":  l.DateTime,
		"day":   l.Date,
		// last is the last day of a period that ends at end.
		"last":  func(end time.Time) string { return l.Date(end.Add(-time.Nanosecond)) },
		"dur":   duration,
		"hours": func(h float64) string { return l.Number(h, 2) + " h" },
		"fixed": fixed,
		// neg and model write the baselines.
		"neg":   func(v float64) float64 { return -v },
		"model": describeModel,
	}
}

// duration writes a number of seconds as people read it: 11 h 40 min,
// 45 min, 30 s.
func duration(sec float64) string {
	d := time.Duration(sec * float64(time.Second))
	if d < time.Minute {
		return fmt.Sprintf("%d s", int(d.Round(time.Second).Seconds()))
	}
	d = d.Round(time.Minute)
	h, m := int(d.Hours()), int(d.Minutes())%60
	switch {
	case h == 0:
		return fmt.Sprintf("%d min", m)
	case m == 0:
		return fmt.Sprintf("%d h", h)
	}
	return fmt.Sprintf("%d h %d min", h, m)
}

const td = `style="padding:4px 8px;border-bottom:1px solid #d0d7de;text-align:left"`

// The e-mail's HTML: inline styles and tables only (mail clients drop
// style sheets and scripts), the charts as images of the message.
var htmlMail = htmltemplate.Must(htmltemplate.Must(htmltemplate.New("html").Funcs(Funcs(locale.Locale{})).Parse(AirTemplates)).Parse(`<!doctype html><html><body style="font-family:Arial,sans-serif;color:#1f2328;max-width:720px">
<h2 style="margin-bottom:4px">{{.R.Customer}}: {{day .R.Period.From}} to {{last .R.Period.To}}</h2>
<p style="color:#57606a;margin-top:0">Compared with {{day .R.Previous.From}} to {{last .R.Previous.To}}; times in {{.R.Zone}}.{{with .URL}} <a href="{{.}}">Open the report</a>{{end}}</p>
{{range .R.Notes}}<p style="background:#fff4e5;padding:6px 10px">{{.}}</p>{{end}}
{{if .Energy}}{{with .R.Energy}}
<h3>Energy</h3>
<table cellspacing="0" style="border-collapse:collapse">
<tr><td ` + td + `>Consumed</td><td ` + td + `><b>{{kwh .KWh}} kWh</b> ({{if .PreviousKWh}}{{diffpct .DiffPct}} against {{kwh .PreviousKWh}} kWh{{else}}no readings in the period before to compare with{{end}})</td></tr>
{{if $.R.Currency}}<tr><td ` + td + `>Cost</td><td ` + td + `><b>{{cost .Cost $.R.Currency}}</b> energy{{if .DemandCharge}} + {{cost .DemandCharge $.R.Currency}} demand charge{{range .Demand}} ({{.Month}}: {{kwh .KW}} kW, {{when .At}}){{end}}{{end}}</td></tr>
{{if .CO2Kg}}<tr><td ` + td + `>CO2</td><td ` + td + `>{{co2 .CO2Kg}}</td></tr>{{end}}{{end}}
<tr><td ` + td + `>Peak 15-minute demand</td><td ` + td + `><b>{{kwh .PeakKW}} kW</b>{{if not .PeakAt.IsZero}}, {{when .PeakAt}}{{end}}</td></tr>
<tr><td ` + td + `>Baseload (night)</td><td ` + td + `>{{kwh .BaseloadKW}} kW</td></tr>
<tr><td ` + td + `>At night / on weekends</td><td ` + td + `>{{pct .NightShare}} / {{pct .WeekendShare}}</td></tr>
</table>
<p><img src="cid:days.png" alt="Energy per day" width="640"></p>
<p><img src="cid:demand.png" alt="15-minute demand" width="640"></p>
<table cellspacing="0" style="border-collapse:collapse">
<tr><th ` + td + `>Meter</th><th ` + td + `>kWh</th>{{if $.R.Currency}}<th ` + td + `>Cost</th>{{end}}<th ` + td + `>Change</th><th ` + td + `>Peak kW</th><th ` + td + `>Check</th></tr>
{{range .Meters}}<tr><td ` + td + `>{{.Name}} ({{.Device}})</td><td ` + td + `>{{kwh .KWh}}</td>{{if $.R.Currency}}<td ` + td + `>{{cost .Cost $.R.Currency}}</td>{{end}}<td ` + td + `>{{diffpct .DiffPct}}</td><td ` + td + `>{{kwh .PeakKW}}</td><td ` + td + `>{{range .Resets}}counter reset {{when .}}<br>{{end}}{{range .Gaps}}no reading {{when .From}} to {{when .To}}<br>{{end}}{{if .EstimatedKWh}}{{kwh .EstimatedKWh}} kWh estimated: spread over the gaps by time<br>{{end}}{{range .Invalid}}left out {{when .From}} to {{when .To}}: {{.Reason}} ({{.MarkedBy}})<br>{{end}}</td></tr>
{{end}}</table>
{{end}}{{end}}
{{if .Air}}{{with .R.Air}}
<h3>Compressed air</h3>
<p>Leaks cost <b>{{money .Cost}}{{with $.R.Currency}} {{.}}{{end}}</b>; a year: <b>{{money .CostPerYear}}{{with $.R.Currency}} {{.}}{{end}}</b> (each line's mean cost per day over its days measured x 365).{{with .Unmeasured}} {{.}} lines not measurable.{{end}}{{with .Worst}} The worst leak: {{.Name}}, {{when .Start}}, {{dur .Seconds}}, {{with .LostNm3}}{{nm3 .}} Nm³{{else}}air not measurable{{end}}.{{end}}</p>
{{if .Lines}}<p><img src="cid:air.png" alt="Cost of air leaks per line" width="640"></p>
<table cellspacing="0" style="border-collapse:collapse">
<tr><th ` + td + `>Line</th><th ` + td + `>Leaks</th><th ` + td + `>Below opening pressure</th><th ` + td + `>Air lost, Nm³</th><th ` + td + `>Cost</th><th ` + td + `>A year</th><th ` + td + `>Measured by</th></tr>
{{range .Lines}}<tr><td ` + td + `>{{.Name}} ({{.Device}})</td><td ` + td + `>{{.Leaks}}</td><td ` + td + `>{{dur .SecondsBelow}}</td><td ` + td + `>{{with .LostNm3}}{{nm3 .}}{{else}}not measurable{{end}}</td><td ` + td + `>{{cost .Cost $.R.Currency}}{{if .Cost}}<br>at {{.PricePerNm3}}{{with $.R.Currency}} {{.}}{{end}} per Nm³{{end}}</td><td ` + td + `>{{cost .CostPerYear $.R.Currency}}{{with .Year}}<br>mean of {{printf "%.1f" .Days}} days, {{.First}} to {{.Last}}, x 365{{end}}</td><td ` + td + `>{{template "leakmethod" .}}</td></tr>
{{end}}</table>
<p style="color:#57606a">{{template "leakhow"}}</p>{{end}}
{{with .Compressors}}<h4>Compressor specific power</h4>
<table cellspacing="0" style="border-collapse:collapse">
<tr><th ` + td + `>Compressor</th><th ` + td + `>Energy, kWh</th><th ` + td + `>Air, Nm³</th><th ` + td + `>kW per Nm³/min</th></tr>
{{range .}}<tr><td ` + td + `>{{.Name}}</td><td ` + td + `>{{kwh .Period.KWh}}</td><td ` + td + `>{{nm3 .Period.Nm3}}</td><td ` + td + `>{{with .Period.SpecificPower}}{{fixed 2 .}}{{else}}not known: {{.Reason}}{{end}}</td></tr>
{{end}}</table>
<p style="color:#57606a">{{template "sphow"}}</p>{{end}}
{{end}}{{end}}
{{if .Quality}}{{with .R.Quality}}
<h3>Data quality</h3>
<p>{{.Rejected}} rejected messages.</p>
<table cellspacing="0" style="border-collapse:collapse">
<tr><th ` + td + `>Device</th><th ` + td + `>Expected</th><th ` + td + `>Received</th><th ` + td + `>Lost</th><th ` + td + `>Silent periods</th></tr>
{{range .Devices}}<tr><td ` + td + `>{{.Name}} ({{.Device}})</td><td ` + td + `>{{.Expected}}</td><td ` + td + `>{{.Received}}</td><td ` + td + `>{{.Lost}}</td><td ` + td + `>{{len .Silent}}</td></tr>
{{end}}</table>
{{with .Rest}}{{if .Devices}}<p>The devices that reported worst first; {{.Devices}} more devices: {{.Received}} of {{.Expected}} messages received, {{.Lost}} lost; {{.Lossy}} of them lost messages, {{.Silent}} had silent periods. The attached CSV lists every device.</p>
{{end}}{{end}}{{end}}{{end}}
{{template "baselines" .}}
<p style="color:#57606a">The report is attached as a PDF, its tables as CSV.</p>
</body></html>`))

var textMail = template.Must(template.Must(template.New("text").Funcs(Funcs(locale.Locale{})).Parse(AirTemplates)).Parse(`{{.R.Customer}}: {{day .R.Period.From}} to {{last .R.Period.To}} (times in {{.R.Zone}})
{{with .URL}}{{.}}
{{end}}{{range .R.Notes}}Note: {{.}}
{{end}}{{if .Energy}}{{with .R.Energy}}
Energy: {{kwh .KWh}} kWh ({{if .PreviousKWh}}{{diffpct .DiffPct}} against {{kwh .PreviousKWh}} kWh{{else}}no readings in the period before to compare with{{end}})
Peak 15-minute demand: {{kwh .PeakKW}} kW{{if not .PeakAt.IsZero}}, {{when .PeakAt}}{{end}}
Baseload: {{kwh .BaseloadKW}} kW; at night {{pct .NightShare}}, on weekends {{pct .WeekendShare}}
{{if $.R.Currency}}Cost: {{cost .Cost $.R.Currency}} energy{{if .DemandCharge}} + {{cost .DemandCharge $.R.Currency}} demand charge{{range .Demand}} ({{.Month}}: {{kwh .KW}} kW, {{when .At}}){{end}}{{end}}{{if .CO2Kg}}; {{co2 .CO2Kg}}{{end}}
{{end}}{{range .Meters}}  {{.Name}} ({{.Device}}): {{kwh .KWh}} kWh{{if $.R.Currency}}, {{cost .Cost $.R.Currency}}{{end}}{{if .Flagged}} (check: {{len .Resets}} resets, {{len .Gaps}} gaps{{if .EstimatedKWh}}, {{kwh .EstimatedKWh}} kWh estimated over them{{end}}){{end}}
{{range .Invalid}}    left out, marked invalid by {{.MarkedBy}}: {{when .From}} to {{when .To}}, {{.Reason}}
{{end}}{{end}}{{end}}{{end}}{{if .Air}}{{with .R.Air}}
Compressed air: leaks cost {{money .Cost}}{{with $.R.Currency}} {{.}}{{end}}, {{money .CostPerYear}}{{with $.R.Currency}} {{.}}{{end}} a year (each line's mean cost per day over its days measured x 365){{with .Unmeasured}}; {{.}} lines not measurable{{end}}
{{range .Lines}}  {{.Name}} ({{.Device}}): {{.Leaks}} leaks, {{dur .SecondsBelow}} below, {{with .LostNm3}}{{nm3 .}} Nm3{{else}}air lost not measurable{{end}}{{if .Cost}}, {{money .Cost}}{{with $.R.Currency}} {{.}}{{end}} at {{value .PricePerNm3}}{{with $.R.Currency}} {{.}}{{end}} per Nm3{{end}}{{with .CostPerYear}}, {{money .}}{{with $.R.Currency}} {{.}}{{end}} a year{{end}}{{with .Year}} (mean of {{num .Days 1}} days, {{.First}} to {{.Last}}){{end}}; {{template "leakmethod" .}}
{{end}}{{if .Lines}}  {{template "leakhow"}}
{{end}}{{range .Compressors}}  Compressor {{.Name}}: {{kwh .Period.KWh}} kWh for {{nm3 .Period.Nm3}} Nm3, {{with .Period.SpecificPower}}{{fixed 2 .}} kW per Nm3/min{{else}}specific power not known: {{.Reason}}{{end}}
{{end}}{{with .Compressors}}  {{template "sphow"}}
{{end}}{{end}}{{end}}{{if .Quality}}{{with .R.Quality}}
Data quality: {{.Rejected}} rejected messages
{{range .Devices}}  {{.Name}} ({{.Device}}): {{.Received}} of {{.Expected}} received, {{.Lost}} lost
{{end}}{{with .Rest}}{{if .Devices}}  and {{.Devices}} more devices: {{.Received}} of {{.Expected}} received, {{.Lost}} lost ({{.Lossy}} lost messages, {{.Silent}} had silent periods); the CSV lists every device
{{end}}{{end}}{{end}}{{end}}{{template "baselines" .}}`))

// mailData is what the mail's templates show.
type mailData struct {
	R                    *Report
	URL                  string
	Energy, Air, Quality bool
	Baseline             bool
}

func newMailData(r *Report, sections []string, publicURL string) mailData {
	has := func(s string) bool { return len(sections) == 0 || slices.Contains(sections, s) }
	data := mailData{R: r, Energy: has("energy"), Air: has("air"), Quality: has("quality"), Baseline: has("baseline") && len(r.Baselines) > 0}
	if publicURL != "" {
		q := url.Values{"customer": {r.Customer}, "from": {r.Period.From.Format(time.RFC3339)}, "to": {r.Period.To.Format(time.RFC3339)}}
		data.URL = strings.TrimRight(publicURL, "/") + "/reports?" + q.Encode()
	}
	return data
}

// Text is the report as plain text, the sections asked for (all when none
// is).
func Text(r *Report, sections []string, publicURL string) (string, error) {
	var text bytes.Buffer
	t := template.Must(textMail.Clone()).Funcs(Funcs(r.Locale))
	err := t.Execute(&text, newMailData(r, sections, publicURL))
	return text.String(), err
}

// Mail is the report as an e-mail: the sections asked for (all when none
// is), the charts inline, the tables attached as CSV and the whole as a
// PDF, a link to the page when publicURL is set.
func Mail(r *Report, sections []string, publicURL string) (notify.Mail, error) {
	data := newMailData(r, sections, publicURL)
	has := map[string]bool{"energy": data.Energy, "air": data.Air, "quality": data.Quality, "baseline": data.Baseline}
	var html bytes.Buffer
	// The parsed template is never run itself, so that each mail can
	// clone it with its locale's helpers.
	h, err := htmlMail.Clone()
	if err != nil {
		return notify.Mail{}, err
	}
	if err := h.Funcs(Funcs(r.Locale)).Execute(&html, data); err != nil {
		return notify.Mail{}, err
	}
	text, err := Text(r, sections, publicURL)
	if err != nil {
		return notify.Mail{}, err
	}
	m := notify.Mail{
		Subject: fmt.Sprintf("Report %s, %s to %s", r.Customer, r.Locale.Date(r.Period.From), r.Locale.Date(r.Period.To.AddDate(0, 0, -1))),
		Text:    text, HTML: html.String(), Inline: map[string][]byte{}, Attach: map[string][]byte{},
	}
	charts := map[string]string{"days": "energy", "demand": "energy", "air": "air", "cusum": "baseline"}
	for _, c := range Charts {
		if !has[charts[c]] || c == "air" && len(r.Air.Lines) == 0 {
			continue
		}
		png, err := r.Chart(c)
		if err != nil {
			return notify.Mail{}, err
		}
		m.Inline[c+".png"] = png
	}
	csv, err := r.CSVFormat("")
	if err != nil {
		return notify.Mail{}, err
	}
	tables := map[string]string{"days": "energy", "meters": "energy", "demand": "energy", "air": "air", "quality": "quality"}
	for _, t := range Tables {
		if !has[tables[t]] {
			continue
		}
		var b bytes.Buffer
		if err := r.CSV(&b, t, csv); err != nil {
			return notify.Mail{}, err
		}
		m.Attach[FileName(r, t, "csv")] = b.Bytes()
	}
	// The PDF, for those who forward the report as it is.
	var pdf bytes.Buffer
	if err := r.PDF(&pdf, sections); err != nil {
		return notify.Mail{}, err
	}
	m.Attach[PDFName(r)] = pdf.Bytes()
	return m, nil
}
