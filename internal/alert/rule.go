package alert

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"text/template"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/vm"

	"github.com/sensorhub/sensorhub/internal/config"
	"github.com/sensorhub/sensorhub/internal/reading"
)

// Severities are the severities a rule can have.
var Severities = []string{"info", "warning", "critical"}

// AnySensor in a rule's sensor applies it to every sensor kind.
const AnySensor = config.AnySensor

// FieldLossRatio, in a rule's expression, is the device's message loss
// ratio over the last hour.
const FieldLossRatio = reading.FieldLossRatio

// LossWindow is the window of FieldLossRatio.
const LossWindow = time.Hour

// RuleSpec is an alert rule as the configuration writes it.
type RuleSpec = config.Rule

// Rule is a compiled rule.
type Rule struct {
	RuleSpec
	Timing
	when, clear *vm.Program
	msg         *template.Template
	// Fields are the reading fields the expressions read, shown in the
	// notifications.
	Fields []string
	// Leak, set for rules on an air kind, adds the leak figures.
	Leak *LeakSpec
}

// Condition is the expression people are shown.
func (r *Rule) Condition() string {
	if r.Timing.NoDataFor > 0 {
		return fmt.Sprintf("no data for %s", r.Timing.NoDataFor)
	}
	return r.When
}

// Applies reports whether the rule watches the device.
func (r *Rule) Applies(customer, sensor, device string) bool {
	if r.Sensor != AnySensor && r.Sensor != sensor || r.Customer != "" && r.Customer != customer {
		return false
	}
	return len(r.Devices) == 0 || slices.Contains(r.Devices, device)
}

// RuleError is a problem with one setting of a rule.
type RuleError struct {
	Field, Msg string
}

func (e *RuleError) Error() string { return e.Field + ": " + e.Msg }

// Compile checks and compiles a rule. known lists the fields its
// readings may carry (nil accepts any name); notifiers are the names a
// rule may notify.
func Compile(spec RuleSpec, known []string, notifiers []string) (*Rule, error) {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, &RuleError{Field: field, Msg: fmt.Sprintf(format, args...)})
	}
	r := &Rule{RuleSpec: spec}
	r.Timing = Timing{For: spec.For, NoDataFor: spec.NoDataFor, RepeatEvery: spec.RepeatEvery, NotifyResolved: spec.NotifyResolved == nil || *spec.NotifyResolved}
	switch {
	case spec.When == "" && spec.NoDataFor <= 0:
		bad("when", "a rule needs a condition (when) or a silence (no_data_for)")
	case spec.When != "" && spec.NoDataFor > 0:
		bad("no_data_for", "a rule has a condition (when) or a silence (no_data_for), not both: write two rules")
	case spec.ClearWhen != "" && spec.When == "":
		bad("clear_when", "needs when")
	}
	if spec.For < 0 {
		bad("for", "must not be negative")
	}
	if spec.NoDataFor < 0 {
		bad("no_data_for", "must not be negative")
	}
	if spec.RepeatEvery < 0 {
		bad("repeat_every", "must not be negative")
	}
	if !slices.Contains(Severities, spec.Severity) {
		bad("severity", "%q is not one of %s", spec.Severity, strings.Join(Severities, ", "))
	}
	for _, n := range spec.Notify {
		if !slices.Contains(notifiers, n) {
			bad("notify", "unknown notifier %q (alerts.notifiers has: %s)", n, strings.Join(notifiers, ", "))
		}
	}
	env := map[string]any{}
	for _, f := range known {
		env[f] = 0.0
	}
	env[FieldLossRatio] = 0.0
	opts := []expr.Option{expr.Env(env), expr.AsBool()}
	if known == nil {
		opts = append(opts, expr.AllowUndefinedVariables())
	}
	fields := map[string]bool{}
	compile := func(field, src string) *vm.Program {
		if src == "" {
			return nil
		}
		p, err := expr.Compile(src, opts...)
		if err != nil {
			bad(field, "%v", err)
			return nil
		}
		node := p.Node()
		ast.Walk(&node, identifiers(fields))
		return p
	}
	r.when = compile("when", spec.When)
	r.clear = compile("clear_when", spec.ClearWhen)
	for f := range fields {
		r.Fields = append(r.Fields, f)
	}
	sort.Strings(r.Fields)
	msg := spec.Message
	if msg == "" {
		msg = defaultMessage
	}
	var err error
	if r.msg, err = template.New(spec.Name).Option("missingkey=zero").Funcs(messageFuncs).Parse(msg); err != nil {
		bad("message", "%v", err)
	}
	return r, errors.Join(errs...)
}

// messageFuncs help a message template write figures.
var messageFuncs = template.FuncMap{
	"percent": func(ratio float64) float64 { return ratio * 100 },
}

const defaultMessage = `{{.Rule}} {{.State}} on {{.Sensor}} {{.Device}}{{with .Name}} ({{.}}){{end}}`

// identifiers collects the names an expression reads.
type identifiers map[string]bool

func (ids identifiers) Visit(node *ast.Node) {
	if id, ok := (*node).(*ast.IdentifierNode); ok {
		ids[id.Value] = true
	}
}

// Eval evaluates the condition and the clearing condition on env.
func (r *Rule) Eval(m *vm.VM, env map[string]any) (cond, clear bool, err error) {
	out, err := m.Run(r.when, env)
	if err != nil {
		return false, false, err
	}
	cond, _ = out.(bool)
	if r.clear == nil {
		return cond, !cond, nil
	}
	out, err = m.Run(r.clear, env)
	if err != nil {
		return cond, false, err
	}
	clear, _ = out.(bool)
	return cond, clear, nil
}

// MessageData is what a rule's message template sees.
type MessageData struct {
	Rule, Severity, State          string
	Customer, Sensor, Device, Name string
	Values                         map[string]float64
	Units                          map[string]string
	Time                           string
	NoDataFor                      time.Duration
}

// Message renders the rule's message.
func (r *Rule) Message(d MessageData) string {
	var b strings.Builder
	if err := r.msg.Execute(&b, d); err != nil {
		return fmt.Sprintf("%s %s on %s %s (message template: %v)", d.Rule, d.State, d.Sensor, d.Device, err)
	}
	return b.String()
}
