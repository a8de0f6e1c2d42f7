package elastic

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
)

// DefaultIndex is the original system's index naming.
const DefaultIndex = "{customer}-{sensor}-data-{yyyy}-{M}-{d}"

var placeholder = regexp.MustCompile(`\{[^}]*\}`)

// placeholders give a reading's index name parts; dates are in the zone
// the writer was given.
var placeholders = map[string]func(customer, sensor string, t time.Time) string{
	"{customer}": func(c, _ string, _ time.Time) string { return c },
	"{sensor}":   func(_, s string, _ time.Time) string { return s },
	"{yyyy}":     func(_, _ string, t time.Time) string { return t.Format("2006") },
	"{MM}":       func(_, _ string, t time.Time) string { return t.Format("01") },
	"{M}":        func(_, _ string, t time.Time) string { return t.Format("1") },
	"{dd}":       func(_, _ string, t time.Time) string { return t.Format("02") },
	"{d}":        func(_, _ string, t time.Time) string { return t.Format("2") },
}

// CheckIndex reports what is wrong with an index name pattern.
func CheckIndex(pattern string) error {
	var unknown []string
	for _, p := range placeholder.FindAllString(pattern, -1) {
		if placeholders[p] == nil {
			unknown = append(unknown, p)
		}
	}
	if len(unknown) > 0 {
		return fmt.Errorf("%q: unknown %s (known: {customer}, {sensor}, {yyyy}, {MM}, {M}, {dd}, {d})", pattern, strings.Join(unknown, ", "))
	}
	if !strings.Contains(pattern, "{customer}") && !strings.Contains(pattern, "{sensor}") && !strings.Contains(pattern, "{d") {
		return fmt.Errorf("%q puts everything in one index: use {customer}, {sensor} and the date ({yyyy}, {M}, {d})", pattern)
	}
	fixed := placeholder.ReplaceAllString(pattern, "")
	switch {
	case fixed != strings.ToLower(fixed):
		return fmt.Errorf("%q: index names are lower case", pattern)
	case strings.ContainsAny(fixed, `\/*?"<>| ,#:`):
		return fmt.Errorf("%q: index names cannot hold a space or any of \\ / * ? \" < > | , # : (found in %q)", pattern, fixed)
	case strings.HasPrefix(pattern, "-") || strings.HasPrefix(pattern, "_") || strings.HasPrefix(pattern, "+"):
		return errors.New("index names cannot start with a minus, underscore or plus sign")
	}
	return nil
}

// IndexName is the index of a reading of customer and sensor at t.
// Customer and sensor names are lower-cased, as index names must be.
func IndexName(pattern, customer, sensor string, t time.Time) string {
	return placeholder.ReplaceAllStringFunc(pattern, func(p string) string {
		if f := placeholders[p]; f != nil {
			return strings.ToLower(f(customer, sensor, t))
		}
		return p
	})
}

// indexPattern matches every index the pattern names, for the index
// template.
func indexPattern(pattern string) string {
	p := placeholder.ReplaceAllString(pattern, "*")
	for strings.Contains(p, "**") {
		p = strings.ReplaceAll(p, "**", "*")
	}
	return p
}
