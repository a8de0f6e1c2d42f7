// Package derive computes the fields that a sensor kind derives by formula
// (expr-lang/expr) from each reading and the device's previous reading.
package derive

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/vm"

	"github.com/sensorhub/sensorhub/internal/reading"
	"github.com/sensorhub/sensorhub/internal/store/series"
)

// FlagErrorPrefix, followed by a derived field's name, marks a reading on
// which that formula failed; the reading is kept without the field.
const FlagErrorPrefix = "derive_error:"

// helpers take a field name; in a formula it is written bare: delta(E).
var helpers = map[string]bool{"delta": true, "rate": true, "increase": true, "prev": true}

// Formula is one compiled derived field.
type Formula struct {
	Name string
	Expr string
	prog *vm.Program
	// uses are the names the formula reads, so that a reading's other
	// fields are not copied for it; all is set when it reads $env, which
	// may name any field.
	uses []string
	all  bool
}

// idents lists the identifiers of a formula.
type idents struct {
	seen map[string]bool
	list []string
}

func (n *idents) Visit(node *ast.Node) {
	if id, ok := (*node).(*ast.IdentifierNode); ok && !n.seen[id.Value] {
		n.seen[id.Value] = true
		n.list = append(n.list, id.Value)
	}
}

// Set is the formulas of one sensor kind, evaluated in name order; a
// formula sees the reading's fields and the derived fields before it.
type Set []Formula

// Compile compiles a sensor kind's formulas. known lists the fields a
// reading of the kind may carry; an empty list accepts any name.
func Compile(formulas map[string]string, known []string) (Set, error) {
	names := make([]string, 0, len(formulas))
	for n := range formulas {
		names = append(names, n)
	}
	sort.Strings(names)
	env := newEnv(nil, nil, nil)
	for _, f := range known {
		env[f] = 0.0
	}
	var set Set
	var errs []error
	for _, n := range names {
		opts := []expr.Option{expr.Env(env), expr.Patch(fieldNames{})}
		if len(known) == 0 {
			opts = append(opts, expr.AllowUndefinedVariables())
		}
		prog, err := expr.Compile(formulas[n], opts...)
		if err != nil {
			errs = append(errs, fmt.Errorf("derive %s: %v", n, err))
			continue
		}
		used := &idents{seen: map[string]bool{}}
		ast.Walk(new(prog.Node()), used)
		set = append(set, Formula{Name: n, Expr: formulas[n], prog: prog, uses: used.list, all: used.seen["$env"]})
		env[n] = 0.0
	}
	return set, errors.Join(errs...)
}

// fieldNames turns the bare field argument of a helper, delta(E), into
// the field's name, so that the helper reads it from both readings.
type fieldNames struct{}

func (fieldNames) Visit(node *ast.Node) {
	call, ok := (*node).(*ast.CallNode)
	if !ok {
		return
	}
	id, ok := call.Callee.(*ast.IdentifierNode)
	if !ok || !helpers[id.Value] {
		return
	}
	for i, a := range call.Arguments {
		if arg, ok := a.(*ast.IdentifierNode); ok {
			ast.Patch(&call.Arguments[i], &ast.StringNode{Value: arg.Value})
		}
	}
}

// Prev is the device's reading just before the one being derived.
type Prev struct {
	Time     time.Time
	MsgCount int64
	Fields   map[string]float64
}

// envFuncs is about how many functions and constants an env holds beside
// the reading's fields.
const envFuncs = 8

// newEnv is the formulas' environment for r: the fields that set reads
// (every field when a formula reads $env, or set is nil), the helpers
// reading r and prev.
func newEnv(r *reading.Reading, prev *Prev, set Set) map[string]any {
	all, uses := set == nil, 0
	for _, f := range set {
		all, uses = all || f.all, uses+len(f.uses)
	}
	n := envFuncs
	if r != nil {
		n += min(len(r.Fields), uses) + 1
		if all {
			n += len(r.Fields)
		}
	}
	// Sized at once: growing it field by field cost more than the rest.
	env := make(map[string]any, n)
	if r != nil {
		if all {
			for k, v := range r.Fields {
				env[k] = v
			}
		} else {
			for _, f := range set {
				for _, k := range f.uses {
					if v, ok := r.Fields[k]; ok {
						env[k] = v
					}
				}
			}
		}
		if r.MsgCount != reading.NoMsgCount {
			env[reading.FieldMsgCount] = float64(r.MsgCount)
		}
	}
	value := func(name string) (float64, error) {
		if r == nil {
			return 0, nil
		}
		if name == reading.FieldMsgCount && r.MsgCount != reading.NoMsgCount {
			return float64(r.MsgCount), nil
		}
		v, ok := r.Fields[name]
		if !ok {
			return 0, fmt.Errorf("no %s in this reading", name)
		}
		return v, nil
	}
	before := func(name string) (float64, error) {
		if r == nil {
			return 0, nil
		}
		if prev == nil {
			return 0, errors.New("no previous reading of this device")
		}
		if name == reading.FieldMsgCount && prev.MsgCount != reading.NoMsgCount {
			return float64(prev.MsgCount), nil
		}
		v, ok := prev.Fields[name]
		if !ok {
			return 0, fmt.Errorf("no %s in the previous reading", name)
		}
		return v, nil
	}
	seconds := func() (float64, error) {
		if r == nil {
			return 1, nil
		}
		if prev == nil {
			return 0, errors.New("no previous reading of this device")
		}
		s := r.Time.Sub(prev.Time).Seconds()
		if s <= 0 {
			return 0, errors.New("the previous reading is not older")
		}
		return s, nil
	}
	env["prev"] = before
	env["has_prev"] = func() bool { return r == nil || prev != nil }
	// counted tells whether this reading and the previous one both carry
	// a message counter: a LoRaWAN device's status or join event has none,
	// and tells nothing of the messages lost around it.
	env["counted"] = func() bool {
		return r == nil || r.MsgCount != reading.NoMsgCount && prev != nil && prev.MsgCount != reading.NoMsgCount
	}
	env["since_prev"] = seconds
	// both reads a field in this reading and the previous one.
	both := func(name string) (v, p float64, err error) {
		if v, err = value(name); err == nil {
			p, err = before(name)
		}
		return v, p, err
	}
	env["delta"] = func(name string) (float64, error) {
		v, p, err := both(name)
		return v - p, err
	}
	env["increase"] = func(name string) (float64, error) {
		v, p, err := both(name)
		return series.CounterIncrease(p, v), err
	}
	env["rate"] = func(name string) (float64, error) {
		v, p, err := both(name)
		if err != nil {
			return 0, err
		}
		s, err := seconds()
		return (v - p) / s, err
	}
	return env
}

// Clear removes from r what Apply added: the derived fields and their
// error flags.
func (s Set) Clear(r *reading.Reading) {
	for _, f := range s {
		delete(r.Fields, f.Name)
		r.Flags = slices.DeleteFunc(r.Flags, func(fl string) bool { return fl == FlagErrorPrefix+f.Name })
	}
}

// Apply adds the derived fields to r, given the device's previous reading
// (nil when there is none). A formula that gives nil adds nothing. A formula that fails leaves its field out and
// flags the reading; the reading is always kept.
func (s Set) Apply(r *reading.Reading, prev *Prev) {
	if len(s) == 0 {
		return
	}
	env := newEnv(r, prev, s)
	for _, f := range s {
		out, err := expr.Run(f.prog, env)
		if err == nil && out == nil {
			continue // nil: no value on this reading
		}
		v, ok := number(out)
		if err != nil || !ok || math.IsNaN(v) || math.IsInf(v, 0) {
			r.Flags = append(r.Flags, FlagErrorPrefix+f.Name)
			continue
		}
		r.Fields[f.Name] = v
		env[f.Name] = v
	}
}

// number reads a formula's result: a number, or a boolean as 1 or 0 (a
// leak flag).
func number(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case int:
		return float64(x), true
	case bool:
		if x {
			return 1, true
		}
		return 0, true
	}
	return 0, false
}
