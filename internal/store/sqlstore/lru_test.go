package sqlstore

import "testing"

// TestLRUCountsWhatItKeeps: a value set again replaces the old one and its
// size, a larger one evicts the least recently used at once, and remove
// gives its bytes back.
func TestLRUCountsWhatItKeeps(t *testing.T) {
	c := newLRU[string](10, func(s string) int { return len(s) })
	c.put("a", "xxxx")
	c.put("b", "yyyy")
	c.put("a", "ignored, a is kept")
	if v, _ := c.get("a"); v != "xxxx" || c.bytes() != 8 {
		t.Fatalf("put kept %q, %d bytes; want xxxx, 8", v, c.bytes())
	}
	c.set("b", "yy") // b replaced: 4 + 2
	if v, _ := c.get("b"); v != "yy" || c.bytes() != 6 {
		t.Fatalf("set kept %q, %d bytes; want yy, 6", v, c.bytes())
	}
	c.set("a", "zzzzzzzz") // 8 + 2 = 10, within 10
	c.set("b", "yyyyy")    // 8 + 5 > 10: a, the least recently used, goes
	if _, ok := c.get("a"); ok || c.bytes() != 5 {
		t.Fatalf("a kept (%v) with %d bytes; want a evicted, 5 bytes", ok, c.bytes())
	}
	c.remove("b")
	if _, ok := c.get("b"); ok || c.bytes() != 0 {
		t.Fatalf("b kept (%v) with %d bytes after remove; want 0", ok, c.bytes())
	}
}
