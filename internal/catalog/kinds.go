package catalog

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/sensorhub/sensorhub/internal/alert"
	"github.com/sensorhub/sensorhub/internal/auth"
	"github.com/sensorhub/sensorhub/internal/config"
	"github.com/sensorhub/sensorhub/internal/store"
)

// Kind is one kind of catalog item (customers, sensor kinds, rules,
// notifiers, report schedules) and where its items go in the
// configuration: a catalog item is what the file would say at that
// place, with the same keys.
type Kind interface {
	// Name is the kind's name in the store and the API's paths: "rules".
	Name() string
	// Singular names one item: "rule".
	Singular() string
	// AdminOnly kinds are edited by admins only; the others by a
	// customer's operators too, for their customer's items.
	AdminOnly() bool

	// names are the items the configuration c has, in order.
	names(c *config.Config) []string
	// field is the configuration's path of c's item name:
	// "alerts.rules.3", "sensors.air".
	field(c *config.Config, name string) string
	// encode is c's item name as JSON with the file's keys, and its
	// customer.
	encode(c *config.Config, name string) (json.RawMessage, string)
	// decode reads the item name of the API or a file: its JSON, made
	// canonical, and the name and customer the body says.
	decode(name string, body []byte) (spec json.RawMessage, own, customer string, err error)
	// put adds (or replaces) the item name of spec to c, whose maps and
	// lists are its own (clone).
	put(c *config.Config, name string, spec json.RawMessage) error
	// remove takes c's item name out.
	remove(c *config.Config, name string)
	// secrets are the keys shown masked.
	secrets() []string
}

// Kinds are the kinds of the catalog, in the order a plan reads them.
var Kinds = []Kind{
	&kind[Customer]{name: store.CatalogCustomers, singular: "customer", admin: true,
		list: func(c *config.Config) []string { return c.Customers },
		at: func(c *config.Config, name string) string {
			return fmt.Sprintf("customers.%d", slices.Index(c.Customers, name))
		},
		get: func(c *config.Config, name string) Customer {
			if c.Money != nil && c.Money.Customers[name] != nil {
				return Customer{Prices: *c.Money.Customers[name]}
			}
			return Customer{}
		},
		set: func(c *config.Config, name string, cu Customer) {
			if !slices.Contains(c.Customers, name) {
				c.Customers = append(c.Customers, name)
			}
			// Without prices of its own, a customer keeps those the file
			// gives it (money.customers).
			if cu.Prices != (config.Prices{}) {
				setPrices(c, name, cu.Prices)
			}
		},
		del: func(c *config.Config, name string) {
			c.Customers = slices.DeleteFunc(c.Customers, func(n string) bool { return n == name })
			setPrices(c, name, config.Prices{})
		},
		ident: func(cu Customer) (string, string) { return cu.Name, "" },
	},
	&kind[*config.Sensor]{name: store.CatalogSensors, singular: "sensor", admin: true,
		list: func(c *config.Config) []string { return c.SensorNames() },
		at:   func(_ *config.Config, name string) string { return "sensors." + name },
		get:  func(c *config.Config, name string) *config.Sensor { return c.Sensors[name] },
		set:  func(c *config.Config, name string, s *config.Sensor) { c.Sensors[name] = s },
		del:  func(c *config.Config, name string) { delete(c.Sensors, name) },
	},
	&kind[*config.DeviceMeta]{name: store.CatalogDevices, singular: "device",
		list: func(c *config.Config) []string { return slices.Sorted(maps.Keys(c.Devices)) },
		at:   func(_ *config.Config, name string) string { return "devices." + name },
		get:  func(c *config.Config, name string) *config.DeviceMeta { return c.Devices[name] },
		set:  func(c *config.Config, name string, d *config.DeviceMeta) { c.Devices[name] = d },
		del:  func(c *config.Config, name string) { delete(c.Devices, name) },
		// A device's metadata is its customer's.
		nameCustomer: func(name string) string { customer, _, _ := strings.Cut(name, "/"); return customer },
		clean: func(d **config.DeviceMeta) {
			if *d != nil && len((*d).Tags) == 0 {
				(*d).Tags = nil
			}
		},
	},
	&kind[*config.Notifier]{name: store.CatalogNotifiers, singular: "notifier", secret: []string{"password", "secret"},
		list: func(c *config.Config) []string { return c.NotifierNames() },
		at:   func(_ *config.Config, name string) string { return "alerts.notifiers." + name },
		get:  func(c *config.Config, name string) *config.Notifier { return c.Alerts.Notifiers[name] },
		set:  func(c *config.Config, name string, n *config.Notifier) { c.Alerts.Notifiers[name] = n },
		del:  func(c *config.Config, name string) { delete(c.Alerts.Notifiers, name) },
		ident: func(n *config.Notifier) (string, string) {
			if n == nil {
				return "", ""
			}
			return "", n.Customer
		},
	},
	listKind(&kind[alert.RuleSpec]{name: store.CatalogRules, singular: "rule",
		ident: func(r alert.RuleSpec) (string, string) { return r.Name, r.Customer },
		clean: func(r *alert.RuleSpec) {
			// An empty list is none, as in the file.
			if len(r.Devices) == 0 {
				r.Devices = nil
			}
			if len(r.Notify) == 0 {
				r.Notify = nil
			}
		},
	}, "alerts.rules", func(c *config.Config) *[]alert.RuleSpec { return &c.Alerts.Rules },
		func(r *alert.RuleSpec) *string { return &r.Name }),
	listKind(&kind[config.ReportSchedule]{name: store.CatalogReports, singular: "report",
		ident: func(r config.ReportSchedule) (string, string) { return r.Name, r.Customer },
	}, "reports", func(c *config.Config) *[]config.ReportSchedule { return &c.Reports },
		func(r *config.ReportSchedule) *string { return &r.Name }),
	listKind(&kind[auth.User]{name: store.CatalogUsers, singular: "user", admin: true, secret: []string{"password_hash"},
		ident: func(u auth.User) (string, string) { return u.Username, "" },
		clean: func(u *auth.User) {
			if len(u.Customers) == 0 {
				u.Customers = nil
			}
		},
	}, "auth.users", func(c *config.Config) *[]auth.User { return &c.Auth.Users },
		func(u *auth.User) *string { return &u.Username }),
	listKind(&kind[auth.Token]{name: store.CatalogTokens, singular: "token", admin: true, secret: []string{"hash"},
		ident: func(t auth.Token) (string, string) { return t.ID, t.Customer },
	}, "auth.tokens", func(c *config.Config) *[]auth.Token { return &c.Auth.Tokens },
		func(t *auth.Token) *string { return &t.ID }),
}

// listKind completes k, whose items are the list at path of a
// configuration (listOf), each named by its key nameOf.
func listKind[T any](k *kind[T], path string, listOf func(*config.Config) *[]T, nameOf func(*T) *string) *kind[T] {
	index := func(c *config.Config, name string) int {
		return slices.IndexFunc(*listOf(c), func(it T) bool { return *nameOf(&it) == name })
	}
	k.list = func(c *config.Config) []string {
		list := *listOf(c)
		out := make([]string, len(list))
		for i := range list {
			out[i] = *nameOf(&list[i])
		}
		return out
	}
	k.at = func(c *config.Config, name string) string { return fmt.Sprintf("%s.%d", path, index(c, name)) }
	k.get = func(c *config.Config, name string) T { return (*listOf(c))[index(c, name)] }
	k.set = func(c *config.Config, name string, it T) {
		*nameOf(&it) = name
		if i := index(c, name); i >= 0 {
			(*listOf(c))[i] = it
		} else {
			*listOf(c) = append(*listOf(c), it)
		}
	}
	k.del = func(c *config.Config, name string) {
		*listOf(c) = slices.DeleteFunc(*listOf(c), func(it T) bool { return *nameOf(&it) == name })
	}
	k.setName = func(it *T, name string) { *nameOf(it) = name }
	return k
}

// KindOf is the kind named name ("rules"), or nil.
func KindOf(name string) Kind {
	for _, k := range Kinds {
		if k.Name() == name {
			return k
		}
	}
	return nil
}

// Customer is a customer of the catalog: a tenant whose messages are
// accepted, and its prices (the configuration's money.customers).
type Customer struct {
	Name          string `yaml:"name,omitempty"`
	config.Prices `yaml:",inline"`
}

// setPrices makes p customer's prices in c, whose money block is its own
// (cloneConfig); empty prices take the customer's override out.
func setPrices(c *config.Config, customer string, p config.Prices) {
	if p == (config.Prices{}) {
		if c.Money != nil {
			delete(c.Money.Customers, customer)
		}
		return
	}
	if c.Money == nil {
		c.Money = &config.Money{}
	}
	if c.Money.Customers == nil {
		c.Money.Customers = map[string]*config.Prices{}
	}
	c.Money.Customers[customer] = &p
}

// kind is a Kind whose items are Ts.
type kind[T any] struct {
	name, singular string
	admin          bool
	secret         []string
	list           func(c *config.Config) []string
	at             func(c *config.Config, name string) string
	get            func(c *config.Config, name string) T
	set            func(c *config.Config, name string, it T)
	del            func(c *config.Config, name string)
	// ident is the item's own name (empty when it has no name key) and
	// customer; nil for neither.
	ident func(T) (name, customer string)
	// clean makes a decoded item canonical.
	clean func(*T)
	// setName gives an item whose name is one of its keys its name.
	setName func(*T, string)
	// nameCustomer is the customer an item's name says, for a kind whose
	// items say none.
	nameCustomer func(name string) string
}

func (k *kind[T]) Name() string                               { return k.name }
func (k *kind[T]) Singular() string                           { return k.singular }
func (k *kind[T]) AdminOnly() bool                            { return k.admin }
func (k *kind[T]) secrets() []string                          { return k.secret }
func (k *kind[T]) names(c *config.Config) []string            { return k.list(c) }
func (k *kind[T]) field(c *config.Config, name string) string { return k.at(c, name) }
func (k *kind[T]) remove(c *config.Config, name string)       { k.del(c, name) }
func (k *kind[T]) identify(it T) (name, customer string)      { return callIdent(k.ident, it) }
func callIdent[T any](f func(T) (string, string), it T) (string, string) {
	if f == nil {
		return "", ""
	}
	return f(it)
}

func (k *kind[T]) encode(c *config.Config, name string) (json.RawMessage, string) {
	it := k.get(c, name)
	_, customer := k.identify(it)
	return toJSON(it), k.customerOf(name, customer)
}

// customerOf is the customer of the item name that says customer.
func (k *kind[T]) customerOf(name, customer string) string {
	if customer == "" && k.nameCustomer != nil {
		return k.nameCustomer(name)
	}
	return customer
}

func (k *kind[T]) decode(name string, body []byte) (json.RawMessage, string, string, error) {
	var it T
	if err := decodeStrict(body, &it, k.singular); err != nil {
		return nil, "", "", err
	}
	if k.clean != nil {
		k.clean(&it)
	}
	own, customer := k.identify(it)
	if k.setName != nil && name != "" {
		k.setName(&it, name)
	}
	return toJSON(it), own, k.customerOf(name, customer), nil
}

func (k *kind[T]) put(c *config.Config, name string, spec json.RawMessage) error {
	var it T
	if err := decodeStrict(spec, &it, k.singular); err != nil {
		return err
	}
	if k.clean != nil {
		k.clean(&it)
	}
	k.set(c, name, it)
	return nil
}

// decodeStrict reads body, a JSON object with the configuration file's
// keys and values ("for": "10m"), into v, refusing unknown keys; an error
// names the key.
func decodeStrict(body []byte, v any, what string) error {
	var doc map[string]any
	if err := json.Unmarshal(body, &doc); err != nil {
		return &FieldError{Field: what, Msg: "the body must be a JSON object with the keys of a " + what + " in the configuration file: " + err.Error()}
	}
	for _, k := range slices.Sorted(maps.Keys(doc)) {
		y, _ := yaml.Marshal(map[string]any{k: doc[k]})
		dec := yaml.NewDecoder(bytes.NewReader(y))
		dec.KnownFields(true)
		if err := dec.Decode(v); err != nil {
			msg := err.Error()
			if strings.Contains(msg, "not found in type") {
				msg = "not a key of a " + what
			} else {
				// One key a document: its line says nothing.
				msg = strings.TrimPrefix(config.YAMLMessage(err), "line 1: ")
			}
			if k == "" {
				k = `""` // an empty key, named as such
			}
			return &FieldError{Field: k, Msg: msg}
		}
	}
	return nil
}

// toJSON is v as JSON with the configuration file's keys.
func toJSON(v any) json.RawMessage {
	y, err := yaml.Marshal(v)
	if err != nil {
		panic(err) // the configuration's types always marshal
	}
	var doc any
	if err := yaml.Unmarshal(y, &doc); err != nil {
		panic(err)
	}
	if doc == nil {
		doc = map[string]any{}
	}
	// As written: "Pres < OpenPres", not "Pres \u003c OpenPres".
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(doc); err != nil {
		panic(err)
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

// cloneConfig is a copy of c whose lists and maps of catalog items are
// its own, to add to or take from.
func cloneConfig(c *config.Config) *config.Config {
	n := *c
	n.Customers = slices.Clone(c.Customers)
	n.Sensors = maps.Clone(c.Sensors)
	if n.Sensors == nil {
		n.Sensors = map[string]*config.Sensor{}
	}
	n.Alerts.Notifiers = maps.Clone(c.Alerts.Notifiers)
	if n.Alerts.Notifiers == nil {
		n.Alerts.Notifiers = map[string]*config.Notifier{}
	}
	n.Alerts.Rules = slices.Clone(c.Alerts.Rules)
	n.Reports = slices.Clone(c.Reports)
	n.Devices = maps.Clone(c.Devices)
	if n.Devices == nil {
		n.Devices = map[string]*config.DeviceMeta{}
	}
	n.Auth.Users = slices.Clone(c.Auth.Users)
	n.Auth.Tokens = slices.Clone(c.Auth.Tokens)
	n.Money = config.CloneMoney(c.Money)
	return &n
}
