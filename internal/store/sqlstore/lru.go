package sqlstore

import (
	"container/list"
	"sync"
)

// lru keeps values by key, the least recently used dropped first once
// their sizes add up to more than max. It keeps what is read of parts
// (chunks and recent rows): a part is never changed, only replaced under
// a new id, so what it keeps never goes stale; and the devices' newest
// readings, which set replaces. A value's size is counted once, when it is
// kept.
type lru[K comparable, V any] struct {
	mu    sync.Mutex
	max   int
	n     int
	size  func(V) int
	order list.List
	items map[K]*list.Element
}

type lruItem[K comparable, V any] struct {
	key  K
	val  V
	size int
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

// put keeps v under k unless k holds a value already.
func (c *lru[K, V]) put(k K, v V) { c.keep(k, v, false) }

// set keeps v under k, replacing what k held.
func (c *lru[K, V]) set(k K, v V) { c.keep(k, v, true) }

func (c *lru[K, V]) keep(k K, v V, replace bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.items[k]; ok {
		if !replace {
			return
		}
		c.drop(e)
	}
	it := &lruItem[K, V]{k, v, c.size(v)}
	c.items[k] = c.order.PushFront(it)
	c.n += it.size
	for c.n > c.max && c.order.Len() > 1 {
		c.drop(c.order.Back())
	}
}

// drop removes an element; c.mu is held.
func (c *lru[K, V]) drop(e *list.Element) {
	it := c.order.Remove(e).(*lruItem[K, V])
	delete(c.items, it.key)
	c.n -= it.size
}

// remove drops what k holds.
func (c *lru[K, V]) remove(k K) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.items[k]; ok {
		c.drop(e)
	}
}

// bytes is what the cache holds, as its size function counts it.
func (c *lru[K, V]) bytes() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}
