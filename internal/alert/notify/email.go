package notify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"slices"
	"strings"
	"text/template"
	"time"

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
}

// funcs help the bodies write figures for people.
var funcs = map[string]any{
	"duration": func(seconds float64) string {
		return time.Duration(seconds * float64(time.Second)).Round(time.Second).String()
	},
	// cur is " EUR" after an amount of a leak whose customer has prices.
	"cur": func(l *Leak) string {
		if l.Currency == "" {
			return ""
		}
		return " " + l.Currency
	},
}

var textBody = template.Must(template.New("text").Funcs(funcs).Parse(`{{.Ev.Message}}

Rule:      {{.Ev.Rule}} ({{.Ev.Severity}}), {{.Ev.State}}
Device:    {{.Ev.Sensor}} {{.Ev.Device}}{{with .Ev.Name}} ({{.}}){{end}}, customer {{.Ev.Customer}}
Time:      {{.Time}}
{{- with .Ev.Condition}}
Condition: {{.}}{{end}}
{{- range $k, $v := .Ev.Values}}
{{$k}}: {{$v}}{{with index $.Ev.Units $k}} {{.}}{{end}}{{end}}
{{- with .Ev.Leak}}

Leak, estimated from the pressure decay ({{printf "%.0f" .VolumeL}} l installation):
Time below opening pressure: {{duration .Seconds}}
Air lost:  {{printf "%.3f" .LostNm3}} Nm3 ({{printf "%.2f" .Cost}}{{cur .}} at {{.CostPerNm3}}{{cur .}} per Nm3)
Flow:      {{printf "%.1f" .FlowNlMin}} Nl/min
If it goes on: {{printf "%.2f" .CostPerDay}}{{cur .}} per day, {{printf "%.0f" .CostPerYear}}{{cur .}} per year{{end}}
{{with .Ev.URL}}
Dashboard: {{.}}{{end}}
`))

var htmlBody = htmltemplate.Must(htmltemplate.New("html").Funcs(funcs).Parse(`<!doctype html><html><body style="font-family:sans-serif">
<h2 style="color:{{if eq .Ev.State "firing"}}#d23b3b{{else}}#1a9b5b{{end}}">{{.Ev.Message}}</h2>
<table cellpadding="4">
<tr><td>Rule</td><td><b>{{.Ev.Rule}}</b> ({{.Ev.Severity}}), {{.Ev.State}}</td></tr>
<tr><td>Device</td><td>{{.Ev.Sensor}} {{.Ev.Device}}{{with .Ev.Name}} ({{.}}){{end}}, customer {{.Ev.Customer}}</td></tr>
<tr><td>Time</td><td>{{.Time}}</td></tr>
{{with .Ev.Condition}}<tr><td>Condition</td><td><code>{{.}}</code></td></tr>{{end}}
{{range $k, $v := .Ev.Values}}<tr><td>{{$k}}</td><td>{{$v}}{{with index $.Ev.Units $k}} {{.}}{{end}}</td></tr>{{end}}
</table>
{{with .Ev.Leak}}<h3>Leak, estimated from the pressure decay</h3>
<table cellpadding="4">
<tr><td>Time below opening pressure</td><td>{{duration .Seconds}}</td></tr>
<tr><td>Air lost</td><td>{{printf "%.3f" .LostNm3}} Nm³ ({{printf "%.2f" .Cost}}{{cur .}} at {{.CostPerNm3}}{{cur .}} per Nm³)</td></tr>
<tr><td>Flow</td><td>{{printf "%.1f" .FlowNlMin}} Nl/min</td></tr>
<tr><td>If it goes on</td><td><b>{{printf "%.2f" .CostPerDay}}{{cur .}} per day, {{printf "%.0f" .CostPerYear}}{{cur .}} per year</b></td></tr>
</table>{{end}}
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
	}{ev, ev.Time.In(loc).Format("2006-01-02 15:04:05 MST")}
	var text, html strings.Builder
	if err := textBody.Execute(&text, data); err != nil {
		return false, err
	}
	if err := htmlBody.Execute(&html, data); err != nil {
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
		if err := m.AttachReader(name, bytes.NewReader(msg.Attach[name])); err != nil {
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
