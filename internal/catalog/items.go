package catalog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"github.com/sensorhub/sensorhub/internal/auth"
	"github.com/sensorhub/sensorhub/internal/config"
	"github.com/sensorhub/sensorhub/internal/store"
)

// Item is an item as the API shows it.
type Item struct {
	Kind Kind
	Name string
	// Customer is the customer the item is of; empty for every
	// customer.
	Customer string
	// Spec is the item as JSON, with the configuration file's keys;
	// secrets are masked.
	Spec json.RawMessage
	// Source is where the configuration file manages it
	// ("sensorhub.yaml:42"); empty for an item of the catalog.
	Source string
	// Version is the catalog version that last changed an item of the
	// catalog: its ETag.
	Version int64
}

// Mask stands for a secret (a password) the API does not show; given
// back in a change, it keeps the secret as it is.
const Mask = "********"

// MarshalJSON gives {"name", "<singular>": spec, "customer",
// "managed_in", "version"}.
func (it Item) MarshalJSON() ([]byte, error) {
	m := map[string]any{"name": it.Name, it.Kind.Singular(): it.Spec}
	if it.Customer != "" {
		m["customer"] = it.Customer
	}
	if it.Source != "" {
		m["managed_in"] = it.Source
	}
	if it.Version > 0 {
		m["version"] = it.Version
	}
	return json.Marshal(m)
}

// Catalog is the catalog over the API: the items the file provides, read
// only, and those of the store, which are created, changed and deleted
// while sensorhub runs.
type Catalog struct {
	Base
	Store store.Catalog
	Log   *slog.Logger
}

// List gives kind's items, the file's first, and the catalog's version.
func (c *Catalog) List(ctx context.Context, k Kind) (int64, []Item, error) {
	v, items, err := c.Store.ReadCatalog(ctx)
	if err != nil {
		return 0, nil, err
	}
	var out []Item
	moved, _ := seeded(items)
	for _, name := range k.names(c.Config) {
		src := c.source(k, name)
		if c.builtIn(k, name, moved) {
			continue
		}
		spec, customer := k.encode(c.Config, name)
		out = append(out, Item{Kind: k, Name: name, Customer: customer, Spec: mask(k, spec), Source: src})
	}
	for _, it := range items {
		if it.Kind != k.Name() || c.provisioned(k, it.Name) != "" {
			continue
		}
		out = append(out, Item{Kind: k, Name: it.Name, Customer: it.Customer, Spec: mask(k, it.Spec), Version: it.Version})
	}
	return v, out, nil
}

// Get gives kind's item name.
func (c *Catalog) Get(ctx context.Context, k Kind, name string) (Item, error) {
	_, all, err := c.List(ctx, k)
	if err != nil {
		return Item{}, err
	}
	if i := slices.IndexFunc(all, func(it Item) bool { return it.Name == name }); i >= 0 {
		return all[i], nil
	}
	return Item{}, fmt.Errorf("%w: %s %q", ErrNotFound, k.Singular(), name)
}

// Check reads body as kind's item name, with the configuration file's
// keys, and checks it against the rest of the configuration and the
// catalog, as the file is checked: a problem names the item's field. It
// gives the change that makes it, conditional on ifVersion (0: none; -1:
// only if it does not exist; else the item's version it was made from).
func (c *Catalog) Check(ctx context.Context, k Kind, name string, body []byte, ifVersion int64) (store.CatalogChange, error) {
	_, items, err := c.Store.ReadCatalog(ctx)
	if err != nil {
		return store.CatalogChange{}, err
	}
	change, err := c.change(k, name, body, items)
	if err != nil {
		return change, err
	}
	change.IfVersion = ifVersion
	return change, c.fits(items, change)
}

// change reads body as kind's item name, beside the catalog's items, as
// the API and a file applied give it: the change that makes it, not yet
// checked against the rest of the configuration.
func (c *Catalog) change(k Kind, name string, body []byte, items []store.CatalogItem) (store.CatalogChange, error) {
	if src := c.provisioned(k, name); src != "" {
		return store.CatalogChange{}, fmt.Errorf("%w: %s %q is managed in %s", ErrProvisioned, k.Singular(), name, src)
	}
	if err := checkName(k, name); err != nil {
		return store.CatalogChange{}, err
	}
	i := slices.IndexFunc(items, func(it store.CatalogItem) bool { return it.Kind == k.Name() && it.Name == name })
	var err error
	if k.Name() == store.CatalogUsers {
		var old json.RawMessage
		if i >= 0 {
			old = items[i].Spec
		}
		if body, err = withPasswordHash(body, old); err != nil {
			return store.CatalogChange{}, err
		}
	}
	spec, own, customer, err := k.decode(name, body)
	if err != nil {
		return store.CatalogChange{}, err
	}
	if own != "" && own != name {
		return store.CatalogChange{}, &FieldError{Field: "name", Msg: fmt.Sprintf("%q differs from the %s's name it is given, %q", own, k.Singular(), name)}
	}
	// A secret given back masked is kept, in an item that stays its
	// customer's only: never handed to another.
	if i >= 0 && items[i].Customer == customer {
		if spec, err = unmask(k, spec, items[i].Spec); err != nil {
			return store.CatalogChange{}, err
		}
	}
	if key := masked(k, spec); key != "" {
		return store.CatalogChange{}, &FieldError{Field: key, Msg: "give it again: " + Mask + " keeps the one an item had, and this one has none to keep"}
	}
	return store.CatalogChange{Kind: k.Name(), Name: name, Customer: customer, Spec: spec}, nil
}

// checkName refuses names that could not be an address's last part; a
// device is named customer/sensor/device.
func checkName(k Kind, name string) error {
	if k.Name() == store.CatalogDevices {
		parts := strings.Split(name, "/")
		if len(parts) != 3 || slices.Contains(parts, "") || strings.ContainsAny(name, "\n\t") {
			return &FieldError{Field: "name", Msg: fmt.Sprintf("%q: a device is named customer/sensor/device", name)}
		}
		return nil
	}
	if name == "" || strings.ContainsAny(name, "/ \t\n") || len(name) > 200 {
		return &FieldError{Field: "name", Msg: fmt.Sprintf("%q: a name is 1 to 200 characters, without '/' or spaces", name)}
	}
	return nil
}

// withChanges is items with changes made.
func withChanges(items []store.CatalogItem, changes []store.CatalogChange) []store.CatalogItem {
	after := slices.Clone(items)
	for _, change := range changes {
		i := slices.IndexFunc(after, func(it store.CatalogItem) bool { return it.Kind == change.Kind && it.Name == change.Name })
		switch {
		case change.Spec == nil && i >= 0:
			after = slices.Delete(after, i, i+1)
		case i >= 0:
			after[i].Spec, after[i].Customer = change.Spec, change.Customer
		case change.Spec != nil:
			after = append(after, store.CatalogItem{Kind: change.Kind, Name: change.Name, Customer: change.Customer, Spec: change.Spec})
		}
	}
	return after
}

// newProblems are the problems of the configuration with the catalog
// items after that it did not have with before, each with the item it is
// of (when one is) and the field within it.
func (c *Catalog) newProblems(before, after []store.CatalogItem) []problem {
	had := map[string]bool{}
	cb, atBefore := c.merge(before, nil, nil)
	if _, err := c.check(cb); err != nil {
		for _, e := range unjoin(err) {
			had[problemKey(e, atBefore)] = true
		}
	}
	ca, at := c.merge(after, nil, nil)
	_, err := c.check(ca)
	if err == nil {
		return nil
	}
	var out []problem
	for _, e := range unjoin(err) {
		if !had[problemKey(e, at)] {
			id, field, _ := blame(e, at)
			out = append(out, problem{err: e, item: id, field: field})
		}
	}
	return out
}

// problemKey says which problem e is, the same whatever place in its
// list the item it is of has: by the item and its field, not by the
// configuration's path.
func problemKey(e error, at map[string]key) string {
	fe, ok := errors.AsType[*config.FieldError](e)
	if !ok {
		return e.Error()
	}
	if id, field, ok := blame(e, at); ok {
		return id.kind + "\x00" + id.name + "\x00" + field + "\x00" + fe.Msg
	}
	return fe.Field + "\x00" + fe.Msg
}

type problem struct {
	err   error
	item  key
	field string
}

// describe says the problem as the items it is of are named, such as
// `rule "leak" (notify.0): unknown notifier "ops"`, not by the place of
// the item in a configuration (alerts.rules.4.notify.0).
func (pb problem) describe() string {
	k := KindOf(pb.item.kind)
	if k == nil {
		return pb.err.Error()
	}
	name := fmt.Sprintf("%s %q", k.Singular(), pb.item.name)
	msg := strings.TrimPrefix(fieldMsg(pb.err), name+": ")
	if pb.field != "" {
		name += " (" + pb.field + ")"
	}
	return name + ": " + msg
}

// fits checks the catalog items with change made: it refuses the change
// for a problem it brings (one the items did not have before), named on
// the item's field when it is the changed item's.
func (c *Catalog) fits(items []store.CatalogItem, change store.CatalogChange) error {
	var others []string
	for _, pb := range c.newProblems(items, withChanges(items, []store.CatalogChange{change})) {
		if pb.item == (key{change.Kind, change.Name}) && change.Spec != nil {
			field := pb.field
			if field == "" {
				field = strings.TrimSuffix(change.Kind, "s")
			}
			return &FieldError{Field: field, Msg: fieldMsg(pb.err)}
		}
		others = append(others, pb.describe())
	}
	if len(others) == 0 {
		return nil
	}
	if change.Spec == nil {
		return fmt.Errorf("%w: %s %q is needed: %s", ErrInUse, strings.TrimSuffix(change.Kind, "s"), change.Name, strings.Join(others, "; "))
	}
	return &FieldError{Field: strings.TrimSuffix(change.Kind, "s"), Msg: strings.Join(others, "; ")}
}

// fieldMsg is an error's message without the field it names.
func fieldMsg(err error) string {
	if fe, ok := errors.AsType[*config.FieldError](err); ok {
		return fe.Msg
	}
	return err.Error()
}

// Put creates or replaces kind's item name of the catalog with body (see
// Check), by by, and gives the new catalog version.
func (c *Catalog) Put(ctx context.Context, by string, k Kind, name string, body []byte, ifVersion int64) (int64, error) {
	change, err := c.Check(ctx, k, name, body, ifVersion)
	if err != nil {
		return 0, err
	}
	return c.Store.ChangeCatalog(ctx, by, []store.CatalogChange{change})
}

// Delete removes kind's item name of the catalog, unless other items
// need it (ErrInUse): a rule's firing alerts resolve, a customer's
// messages are rejected from then on.
func (c *Catalog) Delete(ctx context.Context, by string, k Kind, name string, ifVersion int64) (int64, error) {
	if src := c.provisioned(k, name); src != "" {
		return 0, fmt.Errorf("%w: %s %q is managed in %s", ErrProvisioned, k.Singular(), name, src)
	}
	_, items, err := c.Store.ReadCatalog(ctx)
	if err != nil {
		return 0, err
	}
	i := slices.IndexFunc(items, func(it store.CatalogItem) bool { return it.Kind == k.Name() && it.Name == name })
	if i < 0 {
		if c.source(k, name) == "built in" {
			return 0, fmt.Errorf("%w: %s %q is built in", ErrProvisioned, k.Singular(), name)
		}
		return 0, fmt.Errorf("%w: %s %q", ErrNotFound, k.Singular(), name)
	}
	change := store.CatalogChange{Kind: k.Name(), Name: name, IfVersion: ifVersion}
	if err := c.fits(items, change); err != nil {
		return 0, err
	}
	return c.Store.ChangeCatalog(ctx, by, []store.CatalogChange{change})
}

// mask replaces the values of kind's secret keys in spec by Mask.
func mask(k Kind, spec json.RawMessage) json.RawMessage {
	if len(k.secrets()) == 0 {
		return spec
	}
	var doc map[string]any
	if json.Unmarshal(spec, &doc) != nil {
		return spec
	}
	for _, s := range k.secrets() {
		if v, ok := doc[s].(string); ok && v != "" {
			doc[s] = Mask
		}
	}
	b, _ := json.Marshal(doc)
	return b
}

// MaskSecrets is spec, an item of kind (as the audit log keeps it), with
// its secrets masked.
func MaskSecrets(kind string, spec json.RawMessage) json.RawMessage {
	k := KindOf(kind)
	if k == nil || spec == nil {
		return spec
	}
	return mask(k, spec)
}

// masked is the first of kind's secret keys whose value in spec is
// Mask; empty for none.
func masked(k Kind, spec json.RawMessage) string {
	var doc map[string]any
	if len(k.secrets()) == 0 || json.Unmarshal(spec, &doc) != nil {
		return ""
	}
	for _, s := range k.secrets() {
		if doc[s] == Mask {
			return s
		}
	}
	return ""
}

// unmask puts back in spec the secrets given as Mask, from old.
func unmask(k Kind, spec, old json.RawMessage) (json.RawMessage, error) {
	var doc, was map[string]any
	if len(k.secrets()) == 0 || json.Unmarshal(spec, &doc) != nil || json.Unmarshal(old, &was) != nil {
		return spec, nil
	}
	changed := false
	for _, s := range k.secrets() {
		if doc[s] == Mask {
			doc[s], changed = was[s], true
			if was[s] == nil {
				delete(doc, s)
			}
		}
	}
	if !changed {
		return spec, nil
	}
	return json.Marshal(doc)
}

// withPasswordHash reads a user given with "password" (in clear, never
// kept or shown) as one with its bcrypt "password_hash"; a user changed
// without a password keeps the one it had.
func withPasswordHash(body, old json.RawMessage) (json.RawMessage, error) {
	var doc map[string]any
	if json.Unmarshal(body, &doc) != nil {
		return body, nil // refused, naming the field, by the decoding
	}
	switch pw := doc["password"].(type) {
	case nil:
		if h, _ := doc["password_hash"].(string); h == "" || h == Mask {
			var was map[string]any
			json.Unmarshal(old, &was)
			if was["password_hash"] == nil {
				return nil, &FieldError{Field: "password", Msg: "a new user needs a password (8 characters or more)"}
			}
			doc["password_hash"] = was["password_hash"]
		}
	case string:
		hash, err := auth.HashPassword(pw)
		if err != nil {
			return nil, &FieldError{Field: "password", Msg: err.Error()}
		}
		doc["password_hash"] = hash
	default:
		return nil, &FieldError{Field: "password", Msg: "a password is a string"}
	}
	delete(doc, "password")
	return json.Marshal(doc)
}

// PatchDevices gives the changes that set, on the metadata of each of
// devs, the keys of patch (name, site, line, location, tags; null takes
// one out), checked together; a device left with none has its metadata
// deleted.
func (c *Catalog) PatchDevices(ctx context.Context, devs []store.Device, patch map[string]any) ([]store.CatalogChange, error) {
	k := KindOf(store.CatalogDevices)
	_, items, err := c.Store.ReadCatalog(ctx)
	if err != nil {
		return nil, err
	}
	var changes []store.CatalogChange
	for _, d := range devs {
		name := config.DeviceName(d.Customer, d.Sensor, d.Device)
		if src := c.provisioned(k, name); src != "" {
			return nil, fmt.Errorf("%w: device %s is managed in %s", ErrProvisioned, name, src)
		}
		doc := map[string]any{}
		if i := slices.IndexFunc(items, func(it store.CatalogItem) bool { return it.Kind == k.Name() && it.Name == name }); i >= 0 {
			json.Unmarshal(items[i].Spec, &doc)
		}
		for key, v := range patch {
			if v == nil {
				delete(doc, key)
			} else {
				doc[key] = v
			}
		}
		body, _ := json.Marshal(doc)
		spec, _, customer, err := k.decode(name, body)
		if err != nil {
			return nil, err
		}
		change := store.CatalogChange{Kind: k.Name(), Name: name, Customer: customer, Spec: spec}
		if len(doc) == 0 {
			change.Spec = nil
		}
		changes = append(changes, change)
	}
	var problems []string
	for _, pb := range c.newProblems(items, withChanges(items, changes)) {
		if pb.field != "" {
			return nil, &FieldError{Field: pb.field, Msg: fieldMsg(pb.err)}
		}
		problems = append(problems, pb.err.Error())
	}
	if len(problems) > 0 {
		return nil, &FieldError{Field: "device", Msg: strings.Join(problems, "; ")}
	}
	return changes, nil
}
