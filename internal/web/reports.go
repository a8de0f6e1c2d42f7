package web

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sensorhub/sensorhub/internal/alert/notify"
	"github.com/sensorhub/sensorhub/internal/config"
	"github.com/sensorhub/sensorhub/internal/locale"
	"github.com/sensorhub/sensorhub/internal/plan"
	"github.com/sensorhub/sensorhub/internal/report"
)

// ReportTimeout is how long a report's answer may take to write, past
// the server's write timeout.
const ReportTimeout = 5 * time.Minute

// reportOf reads the customer and period of a report request and makes
// the report; it answers the error itself and returns nil.
func (s *Server) reportOf(w http.ResponseWriter, r *http.Request) *report.Report {
	if hiddenCustomer(w, r) {
		return nil
	}
	q := r.URL.Query()
	customer := q.Get("customer")
	if customer == "" {
		if c := s.visibleCustomers(r); len(c) == 1 {
			customer = c[0]
		} else {
			writeError(w, http.StatusBadRequest, "customer is required (one of "+strings.Join(c, ", ")+")")
			return nil
		}
	}
	p, err := report.ParsePeriod(q.Get("from"), q.Get("to"), q.Get("period"), q.Get("date"), s.Location, time.Now())
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return nil
	}
	// A customer of many devices takes seconds: the server's write
	// timeout must not cut the answer.
	_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(ReportTimeout))
	src := &report.Source{Store: s.Store, Config: s.config(), Location: s.Location, Log: s.Log}
	rep, err := src.Make(r.Context(), customer, p)
	if errors.Is(err, report.ErrNoCustomer) {
		writeError(w, http.StatusNotFound, "no customer "+customer)
		return nil
	}
	if err != nil {
		s.internal(w, r, err)
		return nil
	}
	return rep
}

// visibleCustomers are the configured customers the request's principal
// may see.
func (s *Server) visibleCustomers(r *http.Request) []string {
	p := principalOf(r)
	var out []string
	for _, c := range s.config().Customers {
		if p.Sees(c) {
			out = append(out, c)
		}
	}
	return out
}

// report answers GET /api/v1/report: the report as JSON, one of its
// tables as CSV (format=csv&table=, and sep=; or sep=, to choose the
// separator over the locale's), or the whole as a PDF (format=pdf).
func (s *Server) report(w http.ResponseWriter, r *http.Request) {
	table := r.URL.Query().Get("table")
	format := r.URL.Query().Get("format")
	if format == "csv" && !slices.Contains(report.Tables, table) {
		writeError(w, http.StatusBadRequest, "table must be one of "+strings.Join(report.Tables, ", "))
		return
	} else if format != "" && format != "csv" && format != "json" && format != "pdf" {
		writeError(w, http.StatusBadRequest, "format must be json, csv or pdf")
		return
	}
	// A bad separator is told before the report is made.
	sep := r.URL.Query().Get("sep")
	if err := locale.CheckSep(sep); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	rep := s.reportOf(w, r)
	if rep == nil {
		return
	}
	switch format {
	case "pdf":
		s.reportPDF(w, r, rep)
		return
	case "csv":
	default:
		writeJSON(w, rep)
		return
	}
	f, err := rep.CSVFormat(sep)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="%s"`, report.FileName(rep, table, "csv")))
	if err := rep.CSV(w, table, f); err != nil {
		s.Log.Error("writing a report table", "table", table, "err", err)
	}
}

// reportPDF answers the report as a PDF file to download. It is made
// whole before the answer starts, so that a failure is an error status,
// not half a file.
func (s *Server) reportPDF(w http.ResponseWriter, r *http.Request, rep *report.Report) {
	var pdf bytes.Buffer
	if err := rep.PDF(&pdf, nil); err != nil {
		s.internal(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/pdf")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="%s"`, report.PDFName(rep)))
	w.Header().Set("Content-Length", strconv.Itoa(pdf.Len()))
	w.Write(pdf.Bytes())
}

// reportChart answers GET /api/v1/report/chart: one chart as PNG.
func (s *Server) reportChart(w http.ResponseWriter, r *http.Request) {
	name := r.URL.Query().Get("chart")
	if !slices.Contains(report.Charts, name) {
		writeError(w, http.StatusBadRequest, "chart must be one of "+strings.Join(report.Charts, ", "))
		return
	}
	rep := s.reportOf(w, r)
	if rep == nil {
		return
	}
	png, err := rep.Chart(name)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "image/png")
	w.Header().Set("Cache-Control", "private, max-age=300")
	w.Write(png)
}

// reports serves the /reports page.
func (p *Pages) reports(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	customers := p.Server.visibleCustomers(r)
	if q.Get("customer") == "" && len(customers) > 0 {
		q.Set("customer", customers[0])
		r.URL.RawQuery = q.Encode()
	}
	if q.Get("customer") != "" && !principalOf(r).Sees(q.Get("customer")) {
		http.Error(w, "no customer "+q.Get("customer"), http.StatusNotFound)
		return
	}
	rep := p.Server.reportOf(w, r)
	if rep == nil {
		return
	}
	query := url.Values{"customer": {rep.Customer}, "from": {rep.Period.From.Format(time.RFC3339)}, "to": {rep.Period.To.Format(time.RFC3339)}}
	kind := q.Get("period")
	if kind == "" {
		kind = rep.Period.Kind
	}
	p.render(w, r, "reports.html", struct {
		page
		R         *report.Report
		Customers []string
		Kind      string
		Date      string
		Query     template.URL
		Days      int
	}{p.page(r, "Report", "reports"), rep, customers, kind, rep.Period.From.Format(time.DateOnly), template.URL(query.Encode()),
		int(rep.Period.To.Sub(rep.Period.From).Round(24*time.Hour).Hours() / 24)})
}

// sendReportNow mails schedule sc's report of its last whole period with
// its notifiers, now, and says how it went.
func (s *Server) sendReportNow(ctx context.Context, p *plan.Plan, sc *config.ReportSchedule, by string) string {
	per := report.Due(sc, time.Now(), p.Location)
	rep, err := (&report.Source{Store: s.Store, Config: p.Config, Location: p.Location, Log: s.Log}).Make(ctx, sc.Customer, per)
	if err != nil {
		return "Report " + sc.Name + " could not be made: " + err.Error()
	}
	msg, err := report.Mail(rep, sc.Sections, p.PublicURL)
	if err != nil {
		return "Report " + sc.Name + " could not be made: " + err.Error()
	}
	mailers := report.Mailers(p.Notifiers)
	var sent, failed []string
	for _, n := range sc.Notify {
		m := mailers[n]
		if m == nil {
			failed = append(failed, n+" (no such e-mail notifier)")
			continue
		}
		if _, err := notify.Retry(ctx, notify.Backoff{Attempts: 1}, s.Log, "report "+sc.Name, func() (bool, error) { return m.Send(ctx, msg) }); err != nil {
			failed = append(failed, n+" ("+err.Error()+")")
			continue
		}
		sent = append(sent, n)
	}
	s.Log.Info("report sent now", "report", sc.Name, "customer", sc.Customer, "from", per.From, "by", by, "sent", sent, "failed", failed)
	l := locale.Or(p.Config.Locale)
	out := fmt.Sprintf("Report %s of %s to %s", sc.Name, l.Date(per.From), l.Date(per.To.AddDate(0, 0, -1)))
	if len(sent) > 0 {
		out += " sent with " + strings.Join(sent, ", ")
	}
	if len(failed) > 0 {
		out += "; not sent with " + strings.Join(failed, ", ")
	}
	return out + "."
}
