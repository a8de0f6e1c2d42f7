package catalog

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/sensorhub/sensorhub/internal/config"
	"github.com/sensorhub/sensorhub/internal/plan"
	"github.com/sensorhub/sensorhub/internal/store"
)

// The catalog as a file, for configuration as code: Export writes the
// catalog's items as YAML, by kind and name, with the configuration
// file's keys; Diff says what making a store's catalog that of such a
// file changes, checked as a whole, for Apply to make at once.

// Export is the catalog's items as YAML: customers, sensors, notifiers,
// rules and reports, each a map of the items by name. Secrets are in
// clear: the file is kept as the configuration file is.
func Export(ctx context.Context, cs store.Catalog) ([]byte, error) {
	v, items, err := cs.ReadCatalog(ctx)
	if err != nil {
		return nil, err
	}
	doc := &yaml.Node{Kind: yaml.MappingNode}
	for _, k := range Kinds {
		byName := &yaml.Node{Kind: yaml.MappingNode}
		for _, it := range items {
			if it.Kind != k.Name() {
				continue
			}
			var spec any
			if err := json.Unmarshal(it.Spec, &spec); err != nil {
				return nil, fmt.Errorf("catalog: %s %q: %w", it.Kind, it.Name, err)
			}
			var n yaml.Node
			if err := n.Encode(spec); err != nil {
				return nil, err
			}
			byName.Content = append(byName.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: it.Name}, &n)
		}
		if len(byName.Content) > 0 {
			doc.Content = append(doc.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: k.Name()}, byName)
		}
	}
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "# The catalog of sensorhub (version %d): what is edited in the browser and over the API.\n", v)
	buf.WriteString("# sensorhub catalog apply FILE makes a store's catalog this; it holds secrets in clear.\n")
	if len(doc.Content) == 0 {
		buf.WriteString("{}\n")
		return buf.Bytes(), nil
	}
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(doc); err != nil {
		return nil, err
	}
	return buf.Bytes(), enc.Close()
}

// Diff reads a file Export wrote (or one written by hand: ${ENV}
// references are expanded) and gives the changes that make the store's
// catalog hold its items, checked together as the API checks one, and a
// line saying each: "+ rules acme-high", "~ notifiers ops", "- ...".
// With prune, the catalog's items the file does not have are deleted.
func (c *Catalog) Diff(ctx context.Context, path string, data []byte, prune bool) ([]store.CatalogChange, []string, error) {
	data, err := config.ExpandEnv(data)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	var doc map[string]map[string]any
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil && err.Error() != "EOF" {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	_, items, err := c.Store.ReadCatalog(ctx)
	if err != nil {
		return nil, nil, err
	}
	var changes []store.CatalogChange
	var lines []string
	var errs []error
	for kind := range doc {
		if KindOf(kind) == nil {
			errs = append(errs, fmt.Errorf("%s: %s: not a kind of the catalog (%s)", path, kind, strings.Join(kindNames(), ", ")))
		}
	}
	for _, k := range Kinds {
		names := sortedKeys(doc[k.Name()])
		for _, name := range names {
			at := k.Name() + "." + name
			body, err := json.Marshal(doc[k.Name()][name])
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %s: %w", path, at, err))
				continue
			}
			if string(body) == "null" {
				body = []byte("{}")
			}
			change, err := c.change(k, name, body, items)
			if fe, ok := errors.AsType[*FieldError](err); ok {
				errs = append(errs, fmt.Errorf("%s: %s.%w", path, at, fe))
				continue
			} else if err != nil {
				errs = append(errs, fmt.Errorf("%s: %s: %w", path, at, err))
				continue
			}
			// Each change is made from the item as read: one changed
			// meanwhile refuses them all.
			i := slices.IndexFunc(items, func(it store.CatalogItem) bool { return it.Kind == k.Name() && it.Name == name })
			ifVersion := int64(-1)
			switch {
			case i < 0:
				lines = append(lines, "+ "+k.Name()+" "+name)
			case !bytes.Equal(items[i].Spec, change.Spec) || items[i].Customer != change.Customer:
				lines = append(lines, "~ "+k.Name()+" "+name)
				ifVersion = items[i].Version
			default:
				continue
			}
			change.IfVersion = ifVersion
			changes = append(changes, change)
		}
		if !prune {
			continue
		}
		for _, it := range items {
			if _, ok := doc[k.Name()][it.Name]; it.Kind == k.Name() && !ok {
				lines = append(lines, "- "+k.Name()+" "+it.Name)
				changes = append(changes, store.CatalogChange{Kind: k.Name(), Name: it.Name, IfVersion: it.Version})
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, nil, err
	}
	for _, pb := range c.newProblems(items, withChanges(items, changes)) {
		if pb.item.kind != "" {
			at := strings.TrimSuffix(pb.item.kind+"."+pb.item.name+"."+pb.field, ".")
			errs = append(errs, fmt.Errorf("%s: %s: %s", path, at, fieldMsg(pb.err)))
			continue
		}
		errs = append(errs, fmt.Errorf("%s: %w", path, pb.err))
	}
	return changes, lines, errors.Join(errs...)
}

// Current is the plan of the base and the catalog as it is, for a
// command that reads the store: the built-in items are not moved.
func (b Base) Current(ctx context.Context, cs store.Catalog, log *slog.Logger) (*plan.Plan, error) {
	v, items, err := cs.ReadCatalog(ctx)
	if err != nil {
		return nil, err
	}
	return b.Compile(v, items, log)
}

func kindNames() []string {
	var out []string
	for _, k := range Kinds {
		out = append(out, k.Name())
	}
	return out
}

func sortedKeys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
