package sqlstore

import (
	"container/list"
	"sync"
)

// lru keeps values by key, the least recently used dropped first once
// their sizes add up to more than max. It keeps what is read of parts
// (chunks and recent rows): a part is never changed, only replaced under
// a new id, so what it keeps never goes stale.
type lru[K comparable, V any] struct {
	mu    sync.Mutex
	max   int
	n     int
	size  func(V) int
	order list.List
	items map[K]*list.Element
}

type lruItem[K comparable, V any] struct {
	key K
	val V
}

func newLRU[K comparable, V any](max int, size func(V) int) *lru[K, V] {
	return &lru[K, V]{max: max, size: size, items: map[K]*list.Element{}}
}

func (c *lru[K, V]) get(k K) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.items[k]
	if !ok {
		var zero V
		return zero, false
	}
	c.order.MoveToFront(e)
	return e.Value.(*lruItem[K, V]).val, true
}

func (c *lru[K, V]) put(k K, v V) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.items[k]; ok {
		return
	}
	c.items[k] = c.order.PushFront(&lruItem[K, V]{k, v})
	c.n += c.size(v)
	for c.n > c.max && c.order.Len() > 1 {
		old := c.order.Remove(c.order.Back()).(*lruItem[K, V])
		delete(c.items, old.key)
		c.n -= c.size(old.val)
	}
}

// set keeps v under k, replacing what k held.
func (c *lru[K, V]) set(k K, v V) {
	c.mu.Lock()
	if e, ok := c.items[k]; ok {
		it := e.Value.(*lruItem[K, V])
		c.n += c.size(v) - c.size(it.val)
		it.val = v
		c.order.MoveToFront(e)
		c.mu.Unlock()
		return
	}
	c.mu.Unlock()
	c.put(k, v)
}

// remove drops what k holds.
func (c *lru[K, V]) remove(k K) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.items[k]; ok {
		c.order.Remove(e)
		delete(c.items, k)
		c.n -= c.size(e.Value.(*lruItem[K, V]).val)
	}
}

// bytes is what the cache holds, as its size function counts it.
func (c *lru[K, V]) bytes() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}
