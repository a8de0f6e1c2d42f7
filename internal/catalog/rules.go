// Package catalog is what operators change while sensorhub runs, kept in
// the store (store.Catalog) beside what the configuration file says: for
// now the alert rules added through the API, which the alert stage
// applies without a restart. The file's own rules stay where they are,
// read only, shown with the line that manages them.
package catalog

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/sensorhub/sensorhub/internal/alert"
	"github.com/sensorhub/sensorhub/internal/plan"
	"github.com/sensorhub/sensorhub/internal/store"
)

// ErrProvisioned is a change refused because the configuration file
// manages the item.
var ErrProvisioned = errors.New("managed in the configuration file")

// ErrNotFound is an item that does not exist.
var ErrNotFound = errors.New("no such item")

// FieldError is a rule refused for one of its fields.
type FieldError struct {
	Field, Msg string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }

// Rule is an alert rule as the API shows it.
type Rule struct {
	// Name is the rule's name, as in Spec.
	Name string          `json:"-"`
	Spec json.RawMessage `json:"rule"`
	// Source is where the configuration manages it ("sensorhub.yaml:42",
	// "built in"); empty for a rule of the catalog.
	Source string `json:"managed_in,omitempty"`
	// Version is the catalog version that last changed a rule of the
	// catalog: its ETag.
	Version int64 `json:"version,omitempty"`
	// Customer is the customer the rule is of; empty for every customer.
	Customer string `json:"-"`
}

// Rules are the alert rules of the configuration and of the catalog.
type Rules struct {
	Store store.Catalog
	// Plan is the compiled configuration, whose rules are provisioned.
	Plan *plan.Plan
}

// List gives the configuration's rules, then the catalog's, and the
// catalog's version.
func (rs *Rules) List(ctx context.Context) (int64, []Rule, error) {
	var out []Rule
	for i, spec := range rs.Plan.Config.Alerts.Rules {
		out = append(out, Rule{Name: spec.Name, Spec: specJSON(spec), Source: rs.Plan.RuleSource(i), Customer: spec.Customer})
	}
	v, items, err := rs.Store.ReadCatalog(ctx)
	if err != nil {
		return 0, nil, err
	}
	for _, it := range items {
		if it.Kind == store.CatalogRules {
			out = append(out, Rule{Name: it.Name, Spec: it.Spec, Version: it.Version, Customer: it.Customer})
		}
	}
	return v, out, nil
}

// Get gives one rule.
func (rs *Rules) Get(ctx context.Context, name string) (Rule, error) {
	_, all, err := rs.List(ctx)
	if err != nil {
		return Rule{}, err
	}
	if i := slices.IndexFunc(all, func(r Rule) bool { return r.Name == name }); i >= 0 {
		return all[i], nil
	}
	return Rule{}, fmt.Errorf("%w: rule %q", ErrNotFound, name)
}

// Put creates or replaces the catalog's rule name with body, a rule with
// the keys of the configuration file, checked as the file's are.
// ifVersion, when not zero, is the version the change was made from (-1:
// only if the rule does not exist). It returns the new catalog version.
func (rs *Rules) Put(ctx context.Context, by, name string, body []byte, ifVersion int64) (int64, error) {
	if src := rs.provisioned(name); src != "" {
		return 0, fmt.Errorf("%w: rule %q is %s", ErrProvisioned, name, src)
	}
	spec, err := DecodeRule(body)
	if err != nil {
		return 0, err
	}
	if spec.Name == "" {
		spec.Name = name
	}
	if spec.Name != name {
		return 0, &FieldError{Field: "name", Msg: fmt.Sprintf("%q differs from the rule's name in the address, %q", spec.Name, name)}
	}
	if _, err := CompileRules(rs.Plan, []alert.RuleSpec{spec}); err != nil {
		return 0, err
	}
	return rs.Store.ChangeCatalog(ctx, by, []store.CatalogChange{{Kind: store.CatalogRules, Name: name, Customer: spec.Customer, Spec: specJSON(spec), IfVersion: ifVersion}})
}

// Delete removes the catalog's rule name: its firing alerts resolve.
func (rs *Rules) Delete(ctx context.Context, by, name string, ifVersion int64) (int64, error) {
	if src := rs.provisioned(name); src != "" {
		return 0, fmt.Errorf("%w: rule %q is %s", ErrProvisioned, name, src)
	}
	if _, err := rs.Get(ctx, name); err != nil {
		return 0, err
	}
	return rs.Store.ChangeCatalog(ctx, by, []store.CatalogChange{{Kind: store.CatalogRules, Name: name, IfVersion: ifVersion}})
}

// provisioned says where the configuration manages the rule name; empty
// when it does not.
func (rs *Rules) provisioned(name string) string {
	for i, spec := range rs.Plan.Config.Alerts.Rules {
		if spec.Name != name {
			continue
		}
		if src := rs.Plan.RuleSource(i); src != "built in" {
			return "managed in " + src
		}
		return "built in: set alerts.rules in the configuration file to change it"
	}
	return ""
}

// DecodeRule reads a rule given as JSON with the configuration file's
// keys ("for": "10m"), refusing unknown keys.
func DecodeRule(body []byte) (alert.RuleSpec, error) {
	var spec alert.RuleSpec
	var doc map[string]any
	if err := json.Unmarshal(body, &doc); err != nil {
		return spec, &FieldError{Field: "rule", Msg: "the body must be a JSON object of a rule's keys (name, sensor, when, for, severity...): " + err.Error()}
	}
	for _, k := range slices.Sorted(maps.Keys(doc)) {
		y, _ := yaml.Marshal(map[string]any{k: doc[k]})
		dec := yaml.NewDecoder(bytes.NewReader(y))
		dec.KnownFields(true)
		if err := dec.Decode(&spec); err != nil {
			msg := err.Error()
			if strings.Contains(msg, "not found in type") {
				msg = "not a key of a rule"
			} else if _, after, ok := strings.Cut(msg, ": "); ok {
				msg = strings.TrimPrefix(after, "line 1: ")
			}
			if k == "" {
				k = `""` // an empty key, named as such
			}
			return spec, &FieldError{Field: k, Msg: msg}
		}
	}
	// An empty list is none, as in the file.
	if len(spec.Devices) == 0 {
		spec.Devices = nil
	}
	if len(spec.Notify) == 0 {
		spec.Notify = nil
	}
	return spec, nil
}

// specJSON is a rule as JSON with the configuration file's keys.
func specJSON(spec alert.RuleSpec) json.RawMessage {
	y, err := yaml.Marshal(spec)
	if err != nil {
		panic(err) // a RuleSpec always marshals
	}
	var doc map[string]any
	if err := yaml.Unmarshal(y, &doc); err != nil {
		panic(err)
	}
	b, err := json.Marshal(doc)
	if err != nil {
		panic(err)
	}
	return b
}

// CompileRules compiles rules of the catalog against p's sensor kinds
// and notifiers, as the file's are compiled; a rule's errors name its
// field.
func CompileRules(p *plan.Plan, specs []alert.RuleSpec) ([]*alert.Rule, error) {
	c := p.Config
	var out []*alert.Rule
	for _, spec := range specs {
		if spec.Customer != "" && !slices.Contains(c.Customers, spec.Customer) {
			return nil, &FieldError{Field: "customer", Msg: fmt.Sprintf("unknown customer %q (use one of %s, or none for every customer)", spec.Customer, strings.Join(c.Customers, ", "))}
		}
		for _, n := range spec.Notify {
			if err := c.NotifierFor(spec.Customer, n); err != "" {
				return nil, &FieldError{Field: "notify", Msg: err}
			}
		}
		if spec.Sensor != alert.AnySensor && c.Sensors[spec.Sensor] == nil {
			return nil, &FieldError{Field: "sensor", Msg: fmt.Sprintf("unknown sensor kind %q (use one of %s, or *)", spec.Sensor, strings.Join(c.SensorNames(), ", "))}
		}
		if len(spec.Notify) == 0 {
			spec.Notify = c.Alerts.Notify
		}
		r, err := alert.Compile(spec, c.KnownFields(spec.Sensor), c.NotifierNames())
		if err != nil {
			var re *alert.RuleError
			if errors.As(err, &re) {
				return nil, &FieldError{Field: re.Field, Msg: re.Msg}
			}
			return nil, &FieldError{Field: "rule", Msg: err.Error()}
		}
		plan.AddLeak(c, r)
		out = append(out, r)
	}
	return out, nil
}

// Watch follows the catalog from version seen (ReadRules'): every poll
// it reads its version, and when it changed, gives apply the rules
// ReadRules gives. It returns when ctx ends.
func Watch(ctx context.Context, cs store.Catalog, p *plan.Plan, seen int64, poll time.Duration, log *slog.Logger, apply func(version int64, rules []*alert.Rule)) {
	for {
		v, err := cs.CatalogVersion(ctx)
		if err != nil && ctx.Err() == nil {
			log.Warn("cannot read the catalog's version; the rules stay as they are", "err", err)
		}
		if err == nil && v != seen {
			if rules, v, err := ReadRules(ctx, cs, p, log); err != nil {
				log.Warn("cannot read the catalog; the rules stay as they are", "err", err)
			} else {
				apply(v, rules)
				seen = v
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(poll):
		}
	}
}

// ReadRules gives the configuration's rules and the catalog's, and the
// catalog's version. A catalog rule that no longer compiles (say a sensor
// kind it names was taken out of the file) is left out and logged.
func ReadRules(ctx context.Context, cs store.Catalog, p *plan.Plan, log *slog.Logger) ([]*alert.Rule, int64, error) {
	v, items, err := cs.ReadCatalog(ctx)
	if err != nil {
		return nil, 0, err
	}
	rules := slices.Clone(p.Rules)
	for _, it := range items {
		if it.Kind != store.CatalogRules {
			continue
		}
		if slices.ContainsFunc(rules, func(r *alert.Rule) bool { return r.Name == it.Name }) {
			log.Warn("a rule of the catalog has the name of one of the configuration file, which wins", "rule", it.Name)
			continue
		}
		spec, err := DecodeRule(it.Spec)
		if err == nil {
			var compiled []*alert.Rule
			if compiled, err = CompileRules(p, []alert.RuleSpec{spec}); err == nil {
				rules = append(rules, compiled...)
				continue
			}
		}
		log.Error("a rule of the catalog no longer compiles; it is left out until it is fixed", "rule", it.Name, "err", err)
	}
	return rules, v, nil
}
