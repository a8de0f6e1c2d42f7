package notify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"mime"
	"path/filepath"
	"slices"
	"strings"
	"text/template"
	"time"

	"github.com/sensorhub/sensorhub/internal/locale"
	"github.com/wneessen/go-mail"
)

// Email sends events through an SMTP server (Amazon SES's SMTP interface
// included), with a text and an HTML body.
type Email struct {
	Host     string
	Port     int
	Username string
	Password string
	From     string
	To       []string
	// TLS is "none", "starttls" or "tls".
	TLS string
	// Location shows times in the configured zone.
	Location *time.Location
	// Locale writes the figures and times.
	Locale locale.Locale
}

// funcs help the bodies write figures for people, as l writes them.
func funcs(l locale.Locale) map[string]any {
	return map[string]any{
		"duration": func(seconds float64) string {
			return time.Duration(seconds * float64(time.Second)).Round(time.Second).String()
		},
		"num":   l.Number,
		"value": l.Value,
		// cur is " EUR" after an amount of a leak whose customer has
		// prices.
		"cur": func(l *Leak) string {
			if l.Currency == "" {
				return ""
			}
			return " " + l.Currency
		},
		// figure writes a figure that may not be measurable with so many
		// decimals.
		"figure": func(decimals int, v *float64) string {
			if v == nil {
				return "not measurable"
			}
			return l.Number(*v, decimals)
		},
	}
}

// leakMethod says how the leak figures are computed, with the
// installation figures used, for people to judge them.
const leakMethod = `{{define "method"}}{{if eq .Method "flow"}}The leak flow is the mean air flow of {{.IdleReadings}} readings in the non-production hours of the last {{.IdleDays}} days, when only leaks use air; leaks run always, so the air lost is that flow x the time below the opening pressure{{else}}While the line is below its opening pressure, the air lost is the installation's volume ({{num .VolumeL 0}} l) x the pressure drop / the atmospheric pressure ({{.AtmosphericBar}} bar){{end}}, priced at {{value .CostPerNm3}}{{cur .}} per Nm³. The opening pressure is the pressure the line's valve opens at: below it, the line is losing air.{{end}}`

var textBody = template.Must(template.Must(template.New("text").Funcs(funcs(locale.Locale{})).Parse(leakMethod)).Parse(`{{.Ev.Message}}

Rule:      {{.Ev.Rule}} ({{.Ev.Severity}}), {{.Ev.State}}
Device:    {{.Ev.Sensor}} {{.Ev.Device}}{{with .Ev.Name}} ({{.}}){{end}}, customer {{.Ev.Customer}}
Time:      {{.Time}}
{{- with .Ev.Condition}}
Condition: {{.}}{{end}}
{{- range $k, $v := .Ev.Values}}
{{$k}}: {{value $v}}{{with index $.Ev.Units $k}} {{.}}{{end}}{{end}}
{{- with .Ev.Leak}}

Leak, measured by {{if eq .Method "flow"}}the air flow{{else}}pressure decay{{end}}:
Time below opening pressure: {{duration .Seconds}}
Air lost:  {{if .LostNm3}}{{figure 3 .LostNm3}} Nm3, normal cubic metres ({{figure 2 .Cost}}{{cur .}} at {{value .CostPerNm3}}{{cur .}} per Nm3){{else}}not measurable: {{.Reason}}{{end}}
Flow:      {{with .FlowNlMin}}{{figure 1 .}} Nl/min, normal litres per minute{{else}}not measurable{{end}}
If it goes on: {{if .CostPerYear}}{{figure 2 .CostPerDay}}{{cur .}} per day, {{figure 0 .CostPerYear}}{{cur .}} per year{{else}}not measurable{{end}}
How this is computed: {{template "method" .}}{{end}}
{{with .Ev.URL}}
Dashboard: {{.}}{{end}}
`))

var htmlBody = htmltemplate.Must(htmltemplate.Must(htmltemplate.New("html").Funcs(funcs(locale.Locale{})).Parse(leakMethod)).Parse(`<!doctype html><html><body style="font-family:sans-serif">
<h2 style="color:{{if eq .Ev.State "firing"}}#d23b3b{{else}}#1a9b5b{{end}}">{{.Ev.Message}}</h2>
<table cellpadding="4">
<tr><td>Rule</td><td><b>{{.Ev.Rule}}</b> ({{.Ev.Severity}}), {{.Ev.State}}</td></tr>
<tr><td>Device</td><td>{{.Ev.Sensor}} {{.Ev.Device}}{{with .Ev.Name}} ({{.}}){{end}}, customer {{.Ev.Customer}}</td></tr>
<tr><td>Time</td><td>{{.Time}}</td></tr>
{{with .Ev.Condition}}<tr><td>Condition</td><td><code>{{.}}</code></td></tr>{{end}}
{{range $k, $v := .Ev.Values}}<tr><td>{{$k}}</td><td>{{value $v}}{{with index $.Ev.Units $k}} {{.}}{{end}}</td></tr>{{end}}
</table>
{{with .Ev.Leak}}<h3>Leak, measured by {{if eq .Method "flow"}}the air flow{{else}}pressure decay{{end}}</h3>
<table cellpadding="4">
<tr><td>Time below opening pressure</td><td>{{duration .Seconds}}</td></tr>
<tr><td>Air lost</td><td>{{if .LostNm3}}{{figure 3 .LostNm3}} Nm³ (normal cubic metres), {{figure 2 .Cost}}{{cur .}} at {{value .CostPerNm3}}{{cur .}} per Nm³{{else}}<b>not measurable</b>: {{.Reason}}{{end}}</td></tr>
<tr><td>Flow</td><td>{{with .FlowNlMin}}{{figure 1 .}} Nl/min (normal litres per minute){{else}}not measurable{{end}}</td></tr>
<tr><td>If it goes on</td><td><b>{{if .CostPerYear}}{{figure 2 .CostPerDay}}{{cur .}} per day, {{figure 0 .CostPerYear}}{{cur .}} per year{{else}}not measurable{{end}}</b></td></tr>
</table>
<p style="color:#555">How this is computed: {{template "method" .}}</p>{{end}}
{{with .Ev.URL}}<p><a href="{{.}}">Open the device's dashboard</a></p>{{end}}
</body></html>`))

// Notify sends one message for ev. Connection failures and temporary (4xx)
// SMTP answers are worth a retry.
func (e *Email) Notify(ctx context.Context, ev Event) (bool, error) {
	loc := e.Location
	if loc == nil {
		loc = time.UTC
	}
	data := struct {
		Ev   Event
		Time string
	}{ev, e.Locale.DateTime(ev.Time.In(loc)) + " " + ev.Time.In(loc).Format("MST")}
	// The parsed bodies are never run themselves, so that each message
	// can clone them with its locale's helpers.
	var text, html strings.Builder
	if err := template.Must(textBody.Clone()).Funcs(funcs(e.Locale)).Execute(&text, data); err != nil {
		return false, err
	}
	h, err := htmlBody.Clone()
	if err != nil {
		return false, err
	}
	if err := h.Funcs(funcs(e.Locale)).Execute(&html, data); err != nil {
		return false, err
	}
	state := strings.ToUpper(ev.State)
	if ev.Repeat {
		state += ", REPEAT"
	}
	return e.Send(ctx, Mail{Subject: fmt.Sprintf("[%s] %s: %s %s %s", state, ev.Rule, ev.Sensor, ev.Device, ev.Name),
		Text: text.String(), HTML: html.String()})
}

// Mail is a message: a text body, an HTML one, images the HTML shows by
// their content id (cid:NAME), and files attached.
type Mail struct {
	Subject, Text, HTML string
	// Inline are PNG images by name; the HTML shows one as
	// <img src="cid:NAME">.
	Inline map[string][]byte
	// Attach are files by name.
	Attach map[string][]byte
}

// Send sends a message through the SMTP server to the recipients.
// Connection failures and temporary (4xx) SMTP answers are worth a retry.
func (e *Email) Send(ctx context.Context, msg Mail) (bool, error) {
	m := mail.NewMsg()
	if err := m.From(e.From); err != nil {
		return false, fmt.Errorf("e-mail from %q: %w", e.From, err)
	}
	if err := m.To(e.To...); err != nil {
		return false, fmt.Errorf("e-mail to %v: %w", e.To, err)
	}
	m.Subject(msg.Subject)
	m.SetDate()
	m.SetBodyString(mail.TypeTextPlain, msg.Text)
	m.AddAlternativeString(mail.TypeTextHTML, msg.HTML)
	for _, name := range sortedNames(msg.Inline) {
		if err := m.EmbedReader(name, bytes.NewReader(msg.Inline[name]), mail.WithFileContentID("<"+name+">"), mail.WithFileContentType(mail.ContentType("image/png"))); err != nil {
			return false, err
		}
	}
	for _, name := range sortedNames(msg.Attach) {
		// The type by the name's extension (a report's PDF is
		// application/pdf), so that mail clients offer to open it.
		var opts []mail.FileOption
		if ct := mime.TypeByExtension(filepath.Ext(name)); ct != "" {
			opts = append(opts, mail.WithFileContentType(mail.ContentType(ct)))
		}
		if err := m.AttachReader(name, bytes.NewReader(msg.Attach[name]), opts...); err != nil {
			return false, err
		}
	}

	opts := []mail.Option{mail.WithPort(e.Port), mail.WithTimeout(15 * time.Second)}
	switch e.TLS {
	case "tls":
		opts = append(opts, mail.WithSSL())
	case "starttls":
		opts = append(opts, mail.WithTLSPolicy(mail.TLSMandatory))
	default:
		opts = append(opts, mail.WithTLSPolicy(mail.NoTLS))
	}
	if e.Username != "" {
		opts = append(opts, mail.WithSMTPAuth(mail.SMTPAuthAutoDiscover), mail.WithUsername(e.Username), mail.WithPassword(e.Password))
	}
	c, err := mail.NewClient(e.Host, opts...)
	if err != nil {
		return false, fmt.Errorf("e-mail client: %w", err)
	}
	if err := c.DialAndSendWithContext(ctx, m); err != nil {
		// A permanent SMTP refusal (5xx: unknown recipient, refused
		// sender) will not change by sending again.
		var se *mail.SendError
		retry := !errors.As(err, &se) || se.ErrorCode() < 500 || se.ErrorCode() > 599
		return retry, fmt.Errorf("e-mail through %s:%d: %w", e.Host, e.Port, err)
	}
	return false, nil
}

func sortedNames(m map[string][]byte) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
