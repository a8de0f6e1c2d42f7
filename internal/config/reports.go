package config

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// ReportSections are the sections of a report.
var ReportSections = []string{"energy", "air", "quality", "baseline"}

// ReportSchedule sends a customer's report of each week or month by
// e-mail, once the period is over.
type ReportSchedule struct {
	// Name identifies the schedule: each of its periods is sent once.
	Name     string `yaml:"name"`
	Customer string `yaml:"customer"`
	// Every is "week" (Monday to Monday) or "month".
	Every string `yaml:"every"`
	// Day is when it is sent after the period: a weekday for a week
	// (default monday), a day of the month, 1 to 28, for a month (default
	// 1); At is the local time (default 07:00).
	Day string `yaml:"day,omitempty"`
	At  string `yaml:"at,omitempty"`
	// Sections are those sent (default all): energy, air, quality,
	// baseline.
	Sections []string `yaml:"sections,omitempty"`
	// Notify are the e-mail notifiers (alerts.notifiers) it is sent with.
	Notify []string `yaml:"notify"`
}

// SendAt is when the report of the period that ends at end is sent.
func (r *ReportSchedule) SendAt(end time.Time, loc *time.Location) time.Time {
	hh, mm := 7, 0
	if r.At != "" {
		fmt.Sscanf(r.At, "%d:%d", &hh, &mm)
	}
	end = end.In(loc)
	if r.Every == "month" {
		day := 1
		if r.Day != "" {
			day, _ = strconv.Atoi(r.Day)
		}
		return time.Date(end.Year(), end.Month(), day, hh, mm, 0, 0, loc)
	}
	want := time.Monday
	for d := time.Sunday; d <= time.Saturday; d++ {
		if strings.EqualFold(d.String(), r.Day) {
			want = d
		}
	}
	day := time.Date(end.Year(), end.Month(), end.Day(), 0, 0, 0, 0, loc)
	for day.Weekday() != want {
		day = day.AddDate(0, 0, 1)
	}
	return time.Date(day.Year(), day.Month(), day.Day(), hh, mm, 0, 0, loc)
}

func (c *Config) validateReports(v *validator) {
	seen := map[string]bool{}
	for i, r := range c.Reports {
		at := fmt.Sprintf("reports.%d", i)
		v.name(at+".name", "report", r.Name, seen)
		v.customer(c, at+".customer", r.Customer)
		switch r.Every {
		case "week":
			if r.Day != "" && !slices.ContainsFunc([]time.Weekday{0, 1, 2, 3, 4, 5, 6}, func(d time.Weekday) bool { return strings.EqualFold(d.String(), r.Day) }) {
				v.add(at+".day", "%q is not a weekday (monday ... sunday)", r.Day)
			}
		case "month":
			if d, err := strconv.Atoi(r.Day); r.Day != "" && (err != nil || d < 1 || d > 28) {
				v.add(at+".day", "%q is not a day of the month from 1 to 28", r.Day)
			}
		default:
			v.add(at+".every", "%q is not week or month", r.Every)
		}
		if r.At != "" {
			if t, err := time.Parse("15:04", r.At); err != nil || t.Format("15:04") != r.At {
				v.add(at+".at", "%q is not a local time such as 07:00", r.At)
			}
		}
		for j, s := range r.Sections {
			if !slices.Contains(ReportSections, s) {
				v.add(fmt.Sprintf("%s.sections.%d", at, j), "%q is not one of %s", s, strings.Join(ReportSections, ", "))
			}
		}
		if len(r.Notify) == 0 {
			v.add(at+".notify", "name the e-mail notifiers (alerts.notifiers) the report is sent with")
		}
		for j, n := range r.Notify {
			if nf := c.Alerts.Notifiers[n]; nf == nil || nf.Type != "email" {
				v.add(fmt.Sprintf("%s.notify.%d", at, j), "%q is not an e-mail notifier of alerts.notifiers", n)
			} else if nf.Customer != "" && nf.Customer != r.Customer {
				v.add(fmt.Sprintf("%s.notify.%d", at, j), "%q is customer %s's notifier: a report of %s is not sent with it", n, nf.Customer, r.Customer)
			}
		}
	}
}
