// Package plan compiles a validated configuration into what the stages
// run: the zone, the payload decoder, the formulas of each sensor kind,
// the alert rules and the notifiers. A plan is immutable: when the
// catalog changes, a new one is built and replaces it as a whole (Live),
// and each stage takes it between two batches.
package plan

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sensorhub/sensorhub/internal/alert"
	"github.com/sensorhub/sensorhub/internal/alert/notify"
	"github.com/sensorhub/sensorhub/internal/config"
	"github.com/sensorhub/sensorhub/internal/derive"
	"github.com/sensorhub/sensorhub/internal/input"
	"github.com/sensorhub/sensorhub/internal/input/modbus"
	"github.com/sensorhub/sensorhub/internal/leak"
	"github.com/sensorhub/sensorhub/internal/locale"
	"github.com/sensorhub/sensorhub/internal/reading"
	"github.com/sensorhub/sensorhub/internal/store"
)

// Plan is a configuration compiled for the stages.
type Plan struct {
	Config   *config.Config
	Location *time.Location
	Decoder  *reading.Decoder
	// Formulas are the derived fields per sensor kind.
	Formulas map[string]derive.Set
	Rules    []*alert.Rule
	// Notifiers are the configured notifiers by name; the alert stage
	// adds the queue's own.
	Notifiers map[string]notify.Notifier
	// PublicURL is where people reach the pages, without a trailing
	// slash; empty when not configured.
	PublicURL string
	// Retention is what the retention job removes.
	Retention store.Retention
	// File is the file the configuration was read from; nil for none.
	File *config.File
	// Version is the version of the catalog the plan was built with; 0
	// for the file's alone.
	Version int64
}

// Live is the plan in force. Store replaces it as a whole and tells each
// stage that asked (OnChange), which applies it between two batches, as
// Prometheus' ApplyConfig does; Load gives the one in force to a request.
type Live struct {
	p    atomic.Pointer[Plan]
	mu   sync.Mutex
	subs []func(*Plan)
}

// NewLive is a live plan starting with p.
func NewLive(p *Plan) *Live {
	l := &Live{}
	l.p.Store(p)
	return l
}

// Load gives the plan in force.
func (l *Live) Load() *Plan { return l.p.Load() }

// Store puts p in force and gives it to each function OnChange was given,
// in order.
func (l *Live) Store(p *Plan) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.p.Store(p)
	for _, fn := range l.subs {
		fn(p)
	}
}

// OnChange calls fn with each plan put in force from now on.
func (l *Live) OnChange(fn func(*Plan)) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.subs = append(l.subs, fn)
}

// Load reads the configuration file at path over the defaults, validates
// it and compiles it; every problem found is reported with the field's
// dotted path and line. An empty path gives the defaults.
func Load(path string) (*Plan, error) {
	cfg, f, err := config.LoadFile(path)
	if err != nil {
		return nil, err
	}
	if err := Check(cfg, f); err != nil {
		return nil, err
	}
	return Compile(cfg, f)
}

// Compile compiles cfg, which Check has accepted. Its errors name the
// field and, with the file cfg was read from (nil for none), its line.
func Compile(cfg *config.Config, f *config.File) (*Plan, error) {
	loc, err := time.LoadLocation(cfg.Timezone)
	if err != nil {
		return nil, fmt.Errorf("timezone: %w", err)
	}
	modbusCounters(cfg)
	p := &Plan{Config: cfg, Location: loc, Decoder: decoder(cfg, loc), Notifiers: notifiers(cfg, loc),
		PublicURL: strings.TrimRight(cfg.PublicURL, "/"), Retention: retention(cfg), File: f}
	var errs []error
	if p.Formulas, err = formulas(cfg, f); err != nil {
		errs = append(errs, err)
	}
	if p.Rules, err = rules(cfg, f); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return p, nil
}

// MustCompile is Compile for a configuration known to be good, such as
// config.Default() in tests.
func MustCompile(cfg *config.Config) *Plan {
	p, err := Compile(cfg, nil)
	if err != nil {
		panic(err)
	}
	return p
}

func decoder(c *config.Config, loc *time.Location) *reading.Decoder {
	d := &reading.Decoder{
		Location:     loc,
		Customers:    map[string]bool{},
		MaxPayload:   int(c.Ingest.MaxPayload),
		MaxDepth:     c.Ingest.MaxDepth,
		MaxFields:    c.Ingest.MaxFields,
		MaxTopic:     c.Ingest.MaxTopic,
		MaxClockSkew: c.Ingest.MaxClockSkew,
		Inputs:       input.New(c.Inputs),
	}
	if len(c.Modbus.Devices) > 0 {
		d.Inputs = append(d.Inputs, modbus.Input())
	}
	for _, cu := range c.Customers {
		d.Customers[cu] = true
	}
	for _, name := range c.SensorNames() {
		s := c.Sensors[name]
		d.Profiles = append(d.Profiles, reading.Profile{
			Name: name, MatchField: s.Match.Field, MatchEquals: s.Match.Equals, MatchTopic: s.Match.Topic,
			Keep: s.Keep, Rename: s.Rename, Units: s.Units,
			Payload: input.PayloadDecoders[s.PayloadDecoder], PayloadName: s.PayloadDecoder,
		})
	}
	return d
}

func formulas(c *config.Config, f *config.File) (map[string]derive.Set, error) {
	out := map[string]derive.Set{}
	var errs []error
	for _, name := range c.SensorNames() {
		s := c.Sensors[name]
		set, err := derive.Compile(Formulas(s), StoredFields(s))
		if err != nil {
			errs = append(errs, f.Errorf("sensors."+name+".derive", "%v", err))
			continue
		}
		if len(set) > 0 {
			out[name] = set
		}
	}
	return out, errors.Join(errs...)
}

// rules compiles the alert rules. A rule on a kind with leak figures gets
// them in its notifications.
func rules(c *config.Config, f *config.File) ([]*alert.Rule, error) {
	var out []*alert.Rule
	var errs []error
	for i, spec := range c.Alerts.Rules {
		if len(spec.Notify) == 0 {
			spec.Notify = c.Alerts.Notify
		}
		r, err := alert.Compile(spec, KnownFields(c, spec.Sensor), c.NotifierNames())
		if err != nil {
			errs = append(errs, ruleErrors(f, fmt.Sprintf("alerts.rules.%d", i), spec.Name, err)...)
			continue
		}
		AddLeak(c, r)
		out = append(out, r)
	}
	return out, errors.Join(errs...)
}

// AddLeak gives a leak rule (its condition reads both the line pressure
// and the opening pressure of a kind with leak figures) the leak figures
// of its kind; a rule on the pressure alone (a pressure too high) gets
// none.
func AddLeak(c *config.Config, r *alert.Rule) {
	if s := c.Sensors[r.Sensor]; s != nil && s.Leak != nil && r.When != "" &&
		slices.Contains(r.Fields, s.Leak.Pressure) && slices.Contains(r.Fields, s.Leak.Opening) {
		l := s.Leak
		r.Leak = &alert.LeakSpec{Pressure: l.Pressure, Opening: l.Opening,
			Params: func(customer, device string) leak.Params { return c.LeakFor(customer, l, device) },
			Currency: func(customer string) string {
				p, _ := c.PricesOf(customer)
				return p.Currency
			}}
	}
}

// retention is the configured retention, for the store.
func retention(c *config.Config) store.Retention {
	r := c.Store.Retention
	return store.Retention{
		Ages: func(customer, sensor string) store.Ages {
			a := r.For(customer, sensor)
			return store.Ages{Raw: a.Raw.Duration(), Hourly: a.Hourly.Duration(), Daily: a.Daily.Duration()}
		},
		Rejected: r.Rejected.Duration(), Alerts: r.Alerts.Duration(), Audit: r.Audit.Duration(),
	}
}

// ruleErrors places each error of a rule's compilation on its field.
func ruleErrors(f *config.File, at, name string, err error) []error {
	var out []error
	for _, e := range unjoin(err) {
		if re, ok := errors.AsType[*alert.RuleError](e); ok {
			out = append(out, f.Errorf(at+"."+re.Field, "rule %q: %s", name, re.Msg))
		} else {
			out = append(out, f.Errorf(at, "rule %q: %v", name, e))
		}
	}
	return out
}

// unjoin is the errors errors.Join made err of, or err alone.
func unjoin(err error) []error {
	if multi, ok := err.(interface{ Unwrap() []error }); ok {
		return multi.Unwrap()
	}
	return []error{err}
}

func notifiers(c *config.Config, loc *time.Location) map[string]notify.Notifier {
	out := map[string]notify.Notifier{}
	for name, n := range c.Alerts.Notifiers {
		switch n.Type {
		case "email":
			out[name] = &notify.Email{Host: n.Host, Port: n.SMTPPort(), Username: n.Username, Password: n.Password,
				From: n.From, To: n.To, TLS: n.SMTPTLS(), Location: loc, Locale: locale.Or(c.Locale)}
		case "webhook":
			timeout := n.Timeout
			if timeout == 0 {
				timeout = 10 * time.Second
			}
			out[name] = &notify.Webhook{URL: n.URL, Secret: n.Secret, Client: &http.Client{Timeout: timeout}}
		}
	}
	return out
}
