package storetest

import (
	"encoding/json"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sensorhub/sensorhub/internal/store"
)

// testCatalog: each change raises the version and is audited with what
// was before and after; a change made from an old version of an item is
// refused and changes nothing of its batch; a change that changes
// nothing raises no version.
func testCatalog(t *testing.T, s store.Store) {
	cs, ok := inner(s).(store.Catalog)
	if !ok {
		t.Fatal("the store has no catalog")
	}
	c := ctx(t)
	if v, err := cs.CatalogVersion(c); err != nil || v != 0 {
		t.Fatalf("a new catalog is at version %d (%v), want 0", v, err)
	}
	rule := func(max int) json.RawMessage {
		b, _ := json.Marshal(map[string]any{"name": "hot", "sensor": "devicev01", "when": "Temp > " + string(rune('0'+max))})
		return b
	}
	v1, err := cs.ChangeCatalog(c, "alice", []store.CatalogChange{
		{Kind: store.CatalogCustomers, Name: "acme", Spec: json.RawMessage(`{"name": "acme"}`), Source: "sensorhub.yaml:3"},
		{Kind: store.CatalogRules, Name: "hot", Customer: "acme", Spec: rule(5), IfVersion: -1},
	})
	if err != nil || v1 != 1 {
		t.Fatalf("first change: version %d, %v; want 1", v1, err)
	}
	v, items, err := cs.ReadCatalog(c)
	if err != nil || v != 1 || len(items) != 2 {
		t.Fatalf("read: version %d, %d items, %v", v, len(items), err)
	}
	if it := items[0]; it.Kind != store.CatalogCustomers || it.Name != "acme" || it.Source != "sensorhub.yaml:3" || it.Version != 1 || string(it.Spec) != `{"name":"acme"}` {
		t.Errorf("customer %+v (spec %s)", it, it.Spec)
	}
	if it := items[1]; it.Kind != store.CatalogRules || it.Customer != "acme" || !jsonEqual(it.Spec, rule(5)) {
		t.Errorf("rule %+v (spec %s)", it, it.Spec)
	}

	// The same again changes nothing.
	if v, err := cs.ChangeCatalog(c, "alice", []store.CatalogChange{{Kind: store.CatalogRules, Name: "hot", Customer: "acme", Spec: rule(5)}}); err != nil || v != 1 {
		t.Errorf("an unchanged item: version %d, %v; want 1", v, err)
	}
	// Creating what exists, or changing from an old version, is refused,
	// and the batch it is in changes nothing.
	for _, ch := range [][]store.CatalogChange{
		{{Kind: store.CatalogNotifiers, Name: "ops", Spec: json.RawMessage(`{}`)}, {Kind: store.CatalogRules, Name: "hot", Spec: rule(6), IfVersion: -1}},
		{{Kind: store.CatalogNotifiers, Name: "ops", Spec: json.RawMessage(`{}`)}, {Kind: store.CatalogRules, Name: "hot", Spec: rule(6), IfVersion: 7}},
		{{Kind: store.CatalogRules, Name: "cold", Spec: rule(6), IfVersion: 1}},
	} {
		if _, err := cs.ChangeCatalog(c, "bob", ch); !errors.Is(err, store.ErrConflict) {
			t.Errorf("%+v: %v, want a conflict", ch, err)
		}
	}
	if v, items, _ := cs.ReadCatalog(c); v != 1 || len(items) != 2 {
		t.Errorf("after refused changes: version %d, %d items; want 1 and 2", v, len(items))
	}

	// Two editors of the same version of the rule: one wins.
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range 2 {
		wg.Go(func() {
			_, errs[i] = cs.ChangeCatalog(c, []string{"alice", "bob"}[i], []store.CatalogChange{{Kind: store.CatalogRules, Name: "hot", Customer: "acme", Spec: rule(6 + i), IfVersion: 1}})
		})
	}
	wg.Wait()
	if conflicts := slices.IndexFunc(errs, func(e error) bool { return errors.Is(e, store.ErrConflict) }); conflicts < 0 || errs[1-conflicts] != nil {
		t.Fatalf("two editors of version 1: %v, want one conflict and one change", errs)
	}
	if v, _ := cs.CatalogVersion(c); v != 2 {
		t.Errorf("version %d after one more change, want 2", v)
	}

	// Deleted; deleting what does not exist changes nothing.
	v3, err := cs.ChangeCatalog(c, "alice", []store.CatalogChange{{Kind: store.CatalogRules, Name: "hot"}, {Kind: store.CatalogRules, Name: "none"}})
	if err != nil || v3 != 3 {
		t.Fatalf("delete: version %d, %v; want 3", v3, err)
	}
	if _, items, _ := cs.ReadCatalog(c); len(items) != 1 {
		t.Errorf("%d items after the rule's deletion, want 1", len(items))
	}

	all, err := cs.Audit(c, store.AuditQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 4 {
		t.Fatalf("%d audit entries, want 4 (customer, rule, rule changed, rule deleted): %+v", len(all), all)
	}
	del, changed, created := all[0], all[1], all[2]
	if del.Version != 3 || del.By != "alice" || del.Customer != "acme" || del.After != nil || changed.After == nil || !jsonEqual(del.Before, changed.After) {
		t.Errorf("deletion %+v", del)
	}
	if created.Before != nil || !jsonEqual(created.After, rule(5)) || !jsonEqual(changed.Before, rule(5)) || changed.Version != 2 {
		t.Errorf("creation %+v, change %+v", created, changed)
	}
	if time.Since(del.At) > time.Minute || del.At.Before(created.At) {
		t.Errorf("audited at %s, %s", created.At, del.At)
	}
	if got, _ := cs.Audit(c, store.AuditQuery{Customers: []string{""}}); len(got) != 1 || got[0].Kind != store.CatalogCustomers {
		t.Errorf("global entries: %+v", got)
	}
	if got, _ := cs.Audit(c, store.AuditQuery{Kind: store.CatalogRules, Before: del.ID, Limit: 1}); len(got) != 1 || got[0].ID != changed.ID {
		t.Errorf("a page of the rules' entries: %+v", got)
	}
	if n, err := cs.RemoveAudit(c, time.Now().Add(time.Minute)); err != nil || n != 4 {
		t.Errorf("removed %d audit entries (%v), want 4", n, err)
	}
}

func jsonEqual(a, b json.RawMessage) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	ja, _ := json.Marshal(x)
	jb, _ := json.Marshal(y)
	return string(ja) == string(jb)
}
