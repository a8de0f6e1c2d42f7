package sqlstore

import (
	"container/list"
	"slices"
	"sync"
	"unsafe"

	"github.com/sensorhub/sensorhub/internal/reading"
)

// tailReadings is how many of a device's newest readings its tail keeps;
// all tails together keep at most the bytes they are given (the store's
// share of the memory budget): the least recently used device's tail
// goes first.
const tailReadings = 16

// tails keep, per device, its newest stored readings decoded: every
// reading from the tail's first on, as of one version of the device's row
// (devices.writes, which every write of the device's readings counts up).
// A reading that arrives a little late (two gateways, or clients posting
// at once) finds its neighbours there without reading the store. A write
// through this store keeps a tail current; a write by another (a second
// ingestor) changes the version, and the tail is not used again.
type tails struct {
	mu  sync.Mutex
	m   map[int64]*list.Element // of *tail
	lru list.List               // most recently used first
	n   int64                   // bytes kept, as readingSize counts them
	max int64
}

type tail struct {
	dev, version int64
	// complete says the device has no reading before the first.
	complete bool
	rs       []reading.Reading // in order of position
	size     int64             // of rs, as readingSize counts it
}

func newTails(maxBytes int64) *tails { return &tails{m: map[int64]*list.Element{}, max: maxBytes} }

// readingSize is about what a decoded reading holds in memory: the
// struct, its strings, and its maps of fields and units at about 64
// bytes an entry (key, value and the map's share; field names are
// short). It reads no map: a tail's size is worked out at every write.
func readingSize(r *reading.Reading) int64 {
	return int64(unsafe.Sizeof(*r)) + int64(len(r.Customer)+len(r.Sensor)+len(r.Device)+len(r.Name)) +
		64*int64(len(r.Fields)+len(r.Units))
}

// bytes is what the tails keep, as readingSize counts it.
func (ts *tails) bytes() int64 {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return ts.n
}

// neighbours answers a query at position (t, seq) from the device's tail
// if it is of the version given and covers the position: the stored
// readings just before and after it. The readings are shared: read only.
func (ts *tails) neighbours(dev, version, t, seq int64) (before, after *reading.Reading, ok bool) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	tl, j, found := ts.find(dev, version, t, seq)
	if tl == nil {
		return nil, nil, false
	}
	if j > 0 {
		before = &tl.rs[j-1]
	}
	if found {
		j++
	}
	if j < len(tl.rs) {
		after = &tl.rs[j]
	}
	return before, after, true
}

// stored says whether the device has a reading at position (t, seq),
// with ok when its tail, of the version given, covers the position.
func (ts *tails) stored(dev, version, t, seq int64) (found, ok bool) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	tl, _, found := ts.find(dev, version, t, seq)
	return found, tl != nil
}

// find looks for a position in the device's tail when it is of the
// version given and covers the position: where it is or would be.
func (ts *tails) find(dev, version, t, seq int64) (tl *tail, j int, found bool) {
	e := ts.m[dev]
	if e == nil {
		return nil, 0, false
	}
	tl = e.Value.(*tail)
	if tl.version < version {
		ts.remove(e) // written by another since
	}
	if tl.version != version {
		return nil, 0, false
	}
	if len(tl.rs) == 0 || !tl.complete && position(&tl.rs[0], t, seq) >= 0 {
		return nil, 0, false
	}
	ts.lru.MoveToFront(e)
	j, found = slices.BinarySearchFunc(tl.rs, t, func(r reading.Reading, t int64) int { return position(&r, t, seq) })
	return tl, j, found
}

// written brings a device's tail to what a write committed: rs (in
// order), the readings it wrote, new or replacing stored ones, took the
// device's row from version to version+1. Before the write the device had
// no reading (empty) or its newest was at (lastTime, lastSeq).
func (ts *tails) written(dev, version int64, empty bool, lastTime, lastSeq int64, rs []reading.Reading) {
	if len(rs) == 0 {
		return
	}
	ts.mu.Lock()
	defer ts.mu.Unlock()
	e := ts.m[dev]
	switch {
	case e != nil && e.Value.(*tail).version == version:
		tl := e.Value.(*tail)
		ts.n -= tl.size
		tl.rs = merge(tl.rs, rs, tl.complete)
		tl.version++
		ts.trim(e)
	case empty || position(&rs[0], lastTime, lastSeq) > 0:
		// Every stored reading from rs[0] on is one of rs.
		if e != nil {
			ts.remove(e)
		}
		tl := &tail{dev: dev, version: version + 1, complete: empty, rs: rs}
		e = ts.lru.PushFront(tl)
		ts.m[dev] = e
		ts.trim(e)
	case e != nil:
		ts.remove(e)
	}
	for ts.n > ts.max && ts.lru.Len() > 0 {
		ts.remove(ts.lru.Back())
	}
}

// merge adds rs to a tail's readings, a reading of rs replacing the one
// of the same position; without complete, those before the tail's first
// stay out.
func merge(old, rs []reading.Reading, complete bool) []reading.Reading {
	out := make([]reading.Reading, 0, len(old)+len(rs))
	i := 0
	for _, r := range rs {
		if !complete && len(old) > 0 && position(&r, old[0].Time.UnixMilli(), old[0].Seq()) < 0 {
			continue
		}
		for i < len(old) && position(&old[i], r.Time.UnixMilli(), r.Seq()) < 0 {
			out = append(out, old[i])
			i++
		}
		if i < len(old) && position(&old[i], r.Time.UnixMilli(), r.Seq()) == 0 {
			i++
		}
		out = append(out, r)
	}
	return append(out, old[i:]...)
}

// trim keeps a tail's newest tailReadings and counts its bytes.
func (ts *tails) trim(e *list.Element) {
	tl := e.Value.(*tail)
	if extra := len(tl.rs) - tailReadings; extra > 0 {
		tl.rs = slices.Clone(tl.rs[extra:])
		tl.complete = false
	}
	tl.size = 0
	for i := range tl.rs {
		tl.size += readingSize(&tl.rs[i])
	}
	ts.n += tl.size
}

// drop forgets a device's tail.
func (ts *tails) drop(dev int64) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if e := ts.m[dev]; e != nil {
		ts.remove(e)
	}
}

func (ts *tails) remove(e *list.Element) {
	tl := e.Value.(*tail)
	ts.n -= tl.size
	delete(ts.m, tl.dev)
	ts.lru.Remove(e)
}
