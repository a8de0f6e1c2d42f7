// Package derive computes the fields that a sensor kind derives by formula
// (expr-lang/expr) from each reading and the device's previous reading.
package derive

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"sort"
	"sync"
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
	env := newEnv().vals
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

// env is the formulas' environment, made once and used again from one
// reading to the next: its helpers read the reading and the previous one
// it points at, and only the values change. Without a reading (r nil) it
// is the environment formulas are checked against, each helper giving a
// value of its type.
type env struct {
	r    *reading.Reading
	prev *Prev
	vals map[string]any
	// funcs are the helpers, by name; named are the values given for
	// the reading, taken out after it (a helper's name given back its
	// helper).
	funcs map[string]any
	named []string
	vm    vm.VM
}

// envs keeps environments for Apply: making one a reading cost more than
// evaluating the formulas.
var envs = sync.Pool{New: func() any { return newEnv() }}

// newEnv makes an environment with its helpers. They have signatures that
// expr calls directly, without reflection, which took more than half of a
// formula's time: a helper that cannot give a value panics with the
// reason, and expr returns it as the formula's error.
func newEnv() *env {
	e := &env{vals: make(map[string]any, 24)}
	value := func(name string) float64 {
		r := e.r
		if r == nil {
			return 0
		}
		if name == reading.FieldMsgCount && r.MsgCount != reading.NoMsgCount {
			return float64(r.MsgCount)
		}
		v, ok := r.Fields[name]
		if !ok {
			panic(fmt.Errorf("no %s in this reading", name))
		}
		return v
	}
	before := func(name string) float64 {
		if e.r == nil {
			return 0
		}
		prev := e.prev
		if prev == nil {
			panic(errNoPrev)
		}
		if name == reading.FieldMsgCount && prev.MsgCount != reading.NoMsgCount {
			return float64(prev.MsgCount)
		}
		v, ok := prev.Fields[name]
		if !ok {
			panic(fmt.Errorf("no %s in the previous reading", name))
		}
		return v
	}
	seconds := func() float64 {
		if e.r == nil {
			return 1
		}
		if e.prev == nil {
			panic(errNoPrev)
		}
		s := e.r.Time.Sub(e.prev.Time).Seconds()
		if s <= 0 {
			panic(errors.New("the previous reading is not older"))
		}
		return s
	}
	e.vals["prev"] = before
	e.vals["has_prev"] = func() bool { return e.r == nil || e.prev != nil }
	// counted tells whether this reading and the previous one both carry
	// a message counter: a LoRaWAN device's status or join event has none,
	// and tells nothing of the messages lost around it.
	e.vals["counted"] = func() bool {
		return e.r == nil || e.r.MsgCount != reading.NoMsgCount && e.prev != nil && e.prev.MsgCount != reading.NoMsgCount
	}
	e.vals["since_prev"] = seconds
	e.vals["delta"] = func(name string) float64 { return value(name) - before(name) }
	e.vals["increase"] = func(name string) float64 {
		v := value(name)
		return series.CounterIncrease(before(name), v)
	}
	e.vals["rate"] = func(name string) float64 {
		v := value(name)
		return (v - before(name)) / seconds()
	}
	e.funcs = maps.Clone(e.vals)
	return e
}

var errNoPrev = errors.New("no previous reading of this device")

// put gives a reading's field its value; a field named like a helper is
// hidden by the helper.
func (e *env) put(name string, v any) {
	if _, ok := e.funcs[name]; !ok {
		e.set(name, v)
	}
}

// set gives a name its value for the reading: a derived field's, which
// later formulas read, even under a helper's name.
func (e *env) set(name string, v any) {
	if _, ok := e.vals[name]; !ok || e.funcs[name] != nil {
		e.named = append(e.named, name)
	}
	e.vals[name] = v
}

// use points e at r and prev, with the fields of r that set reads (every
// field when a formula reads $env).
func (e *env) use(r *reading.Reading, prev *Prev, set Set) {
	e.r, e.prev = r, prev
	all := false
	for _, f := range set {
		all = all || f.all
	}
	if all {
		for k, v := range r.Fields {
			e.put(k, v)
		}
	} else {
		for _, f := range set {
			for _, k := range f.uses {
				if v, ok := r.Fields[k]; ok {
					e.put(k, v)
				}
			}
		}
	}
	if r.MsgCount != reading.NoMsgCount {
		e.put(reading.FieldMsgCount, float64(r.MsgCount))
	}
}

// reset takes the reading's values out of e.
func (e *env) reset() {
	for _, k := range e.named {
		if f, ok := e.funcs[k]; ok {
			e.vals[k] = f
		} else {
			delete(e.vals, k)
		}
	}
	e.named = e.named[:0]
	e.r, e.prev = nil, nil
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
	e := envs.Get().(*env)
	defer envs.Put(e)
	defer e.reset()
	e.use(r, prev, s)
	for _, f := range s {
		out, err := e.vm.Run(f.prog, e.vals)
		if err == nil && out == nil {
			continue // nil: no value on this reading
		}
		v, ok := number(out)
		if err != nil || !ok || math.IsNaN(v) || math.IsInf(v, 0) {
			r.Flags = append(r.Flags, FlagErrorPrefix+f.Name)
			continue
		}
		r.Fields[f.Name] = v
		e.set(f.Name, v)
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
