package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/sensorhub/sensorhub/internal/alert/notify"
	"github.com/sensorhub/sensorhub/internal/catalog"
	"github.com/sensorhub/sensorhub/internal/config"
	"github.com/sensorhub/sensorhub/internal/report"
)

const reportUsage = `usage: sensorhub report --customer C [--period week|month] [--date D] [--from T --to T]
                        [--format text|json|csv|pdf [--table T] [--sep ;|,]] [--output FILE] [--send NAME] [--config FILE] [--data DIR]

Prints a customer's report, by default of the last whole week (--period,
--date: the week or month holding that date; or --from and --to), as text,
JSON, or one table as CSV (--table days|meters|demand|air|quality); or
writes it to --output FILE, which a PDF needs (--format pdf: A4 pages
with the customer's name and logo of branding:).
--send NAME mails it now as the scheduled report NAME of the configuration
or the catalog does (its customer, sections and notifiers), whether or not it was sent.
`

// cmdReport prints or sends a report.
func cmdReport(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("report", stderr)
	fs.Usage = func() { fmt.Fprint(stderr, reportUsage) }
	cfgPath := fs.String("config", "", "configuration file")
	data := fs.String("data", "", "data directory (overrides data_dir)")
	customer := fs.String("customer", "", "the customer")
	period := fs.String("period", "", "week or month (default week)")
	date := fs.String("date", "", "a date in the period (default: the last whole one)")
	from := fs.String("from", "", "start of a range: a date or RFC 3339")
	to := fs.String("to", "", "end of a range")
	format := fs.String("format", "text", "text, json, csv or pdf")
	output := fs.String("output", "", "the file to write it to (default: print it); needed for a PDF")
	table := fs.String("table", "", "the table, with --format csv")
	sep := fs.String("sep", "", "the CSV's separator, ; (with a decimal comma) or , (with a decimal point); the locale's by default")
	send := fs.String("send", "", "mail it now as the scheduled report of this name")
	if err := fs.Parse(args); err != nil {
		return err
	}
	p, err := dataPlan(*cfgPath, *data)
	if err != nil {
		return err
	}
	ctx := context.Background()
	st, err := openExisting(ctx, p.Config, "report")
	if err != nil {
		return err
	}
	defer st.Close()
	// The customers, notifiers and schedules of the catalog too.
	if p, err = (catalog.Base{Config: p.Config, File: p.File}).Current(ctx, st, slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))); err != nil {
		return err
	}
	cfg := p.Config
	log := slog.New(slog.NewTextHandler(stderr, nil))
	var sched *config.ReportSchedule
	if *send != "" {
		i := slices.IndexFunc(cfg.Reports, func(r config.ReportSchedule) bool { return r.Name == *send })
		if i < 0 {
			return fmt.Errorf("report: no scheduled report %q in the configuration (reports:) or the catalog", *send)
		}
		sched = &cfg.Reports[i]
		if *customer == "" {
			*customer = sched.Customer
		}
		if *period == "" {
			*period = sched.Every
		}
	}
	if *customer == "" {
		return errors.New("report: --customer is required")
	}
	if *format == "pdf" && *output == "" && sched == nil {
		return errors.New("report: --format pdf needs --output FILE (a PDF is not printed on a terminal)")
	}
	per, err := report.ParsePeriod(*from, *to, *period, *date, p.Location, time.Now())
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	r, err := (&report.Source{Store: st, Config: cfg, Location: p.Location, Log: log}).Make(ctx, *customer, per)
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	if sched != nil {
		msg, err := report.Mail(r, sched.Sections, p.PublicURL)
		if err != nil {
			return err
		}
		mailers := report.Mailers(p.Notifiers)
		for _, n := range sched.Notify {
			if _, err := notify.Retry(ctx, notify.DefaultBackoff, log, "report "+sched.Name, func() (bool, error) { return mailers[n].Send(ctx, msg) }); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "sent the report of %s, %s to %s, with %s\n", r.Customer, per.From.Format(time.DateOnly), per.To.AddDate(0, 0, -1).Format(time.DateOnly), n)
		}
		return nil
	}
	if *output == "" {
		return writeReport(stdout, r, *format, *table, *sep, p.PublicURL)
	}
	// Written whole to a file beside it, then renamed: a failure leaves
	// no half a report under the name asked for.
	tmp, err := os.CreateTemp(filepath.Dir(*output), "."+filepath.Base(*output)+".*")
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := writeReport(tmp, r, *format, *table, *sep, p.PublicURL); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	if err := os.Rename(tmp.Name(), *output); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	fmt.Fprintf(stdout, "wrote the report of %s, %s to %s, to %s\n", r.Customer, per.From.Format(time.DateOnly), per.To.AddDate(0, 0, -1).Format(time.DateOnly), *output)
	return nil
}

// writeReport writes r to w in format: text, json, csv (one table, with
// the separator sep or the locale's) or pdf.
func writeReport(w io.Writer, r *report.Report, format, table, sep, publicURL string) error {
	switch format {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	case "csv":
		if !slices.Contains(report.Tables, table) {
			return fmt.Errorf("report: --format csv needs --table, one of %v", report.Tables)
		}
		f, err := r.CSVFormat(sep)
		if err != nil {
			return fmt.Errorf("report: --sep: %w", err)
		}
		return r.CSV(w, table, f)
	case "pdf":
		return r.PDF(w, nil)
	case "text":
		text, err := report.Text(r, nil, publicURL)
		if err != nil {
			return err
		}
		_, err = io.WriteString(w, text)
		return err
	}
	return fmt.Errorf("report: --format %q is not text, json, csv or pdf", format)
}
