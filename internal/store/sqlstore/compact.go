package sqlstore

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/sensorhub/sensorhub/internal/reading"
	"github.com/sensorhub/sensorhub/internal/store/chunk"
)

// compactor folds recent readings into chunks in the background.
type compactor struct {
	s    *Store
	wake chan struct{}
	quit chan struct{}
	done chan struct{}
	mu   sync.Mutex
	// rows counts the recent readings of each device's day, as this
	// process wrote them since the last look at the table, and due holds
	// the days that reached CompactRows: those are folded at once, without
	// a scan of every device's recent rows.
	rows map[devDay]int
	due  map[devDay]bool
	err  error
}

// devDay is a device's local day.
type devDay struct{ dev, day int64 }

func (s *Store) startCompactor() *compactor {
	c := &compactor{s: s, wake: make(chan struct{}, 1), quit: make(chan struct{}), done: make(chan struct{}),
		rows: map[devDay]int{}, due: map[devDay]bool{}}
	go c.run()
	return c
}

// poke tells the compactor of the recent rows a write added: a device's
// day that has CompactRows readings or more is folded next.
func (c *compactor) poke(ws []written) {
	wake := false
	c.mu.Lock()
	for _, w := range ws {
		g := devDay{w.dev, w.day}
		if c.due[g] {
			continue
		}
		if c.rows[g] += w.n; c.rows[g] >= c.s.opts.CompactRows {
			delete(c.rows, g)
			c.due[g], wake = true, true
		}
	}
	c.mu.Unlock()
	if wake {
		select {
		case c.wake <- struct{}{}:
		default:
		}
	}
}

// takeDue returns the days due and forgets them.
func (c *compactor) takeDue() []devDay {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]devDay, 0, len(c.due))
	for g := range c.due {
		out = append(out, g)
	}
	clear(c.due)
	return out
}

// recount starts the counts again before a scan of the table: what is
// written from now on is counted anew, and counted adds what the scan
// found.
func (c *compactor) recount() {
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.rows)
}

// counted adds to the counts what a scan of the table found of the days
// it left unfolded.
func (c *compactor) counted(left map[devDay]int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for g, n := range left {
		if !c.due[g] {
			c.rows[g] += int(n)
		}
	}
}

func (c *compactor) run() {
	defer close(c.done)
	// A stop interrupts a fold under way: its transaction rolls back and
	// its readings stay as they were.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-c.quit:
			cancel()
		case <-c.done:
		}
	}()
	tick := time.NewTicker(time.Minute)
	defer tick.Stop()
	for {
		var n int
		var err error
		select {
		case <-c.quit:
			c.atStop()
			return
		case <-tick.C:
			// A look at the whole table: the days due by age, and those
			// another process wrote.
			var left map[devDay]int64
			c.recount()
			n, left, err = c.s.compact(ctx, false)
			c.counted(left)
		case <-c.wake:
			n, err = c.s.compactDays(ctx, c.takeDue(), false)
		}
		if err != nil && ctx.Err() == nil {
			c.s.log.Error("store: folding recent readings into chunks failed; they stay as they are, and are tried again", "err", err)
		}
		if n > 0 && ctx.Err() == nil {
			c.s.trim(ctx)
		}
	}
}

// atStop folds the recent readings for at most StopFold, so that a clean
// stop takes a bounded time whatever the number of devices: the readings
// it has no time for stay stored as recent rows, as after a crash, and
// are folded after the next start.
func (c *compactor) atStop() {
	ctx, cancel := context.WithTimeout(context.Background(), c.s.opts.StopFold)
	defer cancel()
	start := time.Now()
	n, _, err := c.s.compact(ctx, true)
	if ctx.Err() != nil {
		c.s.log.Info("store: a clean stop left recent readings to fold after the next start; they are stored",
			"folded_days", n, "took", time.Since(start).Round(time.Millisecond))
		return
	}
	c.s.trim(ctx)
	if err == nil {
		c.s.tidy(ctx)
	}
	c.mu.Lock()
	c.err = err
	c.mu.Unlock()
}

func (c *compactor) stop() error {
	close(c.quit)
	<-c.done
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return fmt.Errorf("store: folding recent readings into chunks: %w", c.err)
	}
	return nil
}

// trim gives the disk back the space of the recent rows compacted.
func (s *Store) trim(ctx context.Context) {
	if s.d.Trim == "" {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.db.ExecContext(ctx, s.d.Trim); err != nil {
		s.log.Warn("store: giving the space of compacted rows back", "err", err)
	}
}

// tidy gives the disk back the space of deleted and updated rows, as the
// engine keeps them, at a clean stop.
func (s *Store) tidy(ctx context.Context) {
	for _, q := range s.d.Tidy {
		if _, err := s.db.ExecContext(ctx, q); err != nil {
			s.log.Warn("store: giving the space of deleted rows back", "statement", q, "err", err)
		}
	}
}

// Compact folds every recent reading into chunks now. The compactor does
// it in the background; tests and tools call it to see the chunks.
func (s *Store) Compact(ctx context.Context) error {
	_, _, err := s.compact(ctx, true)
	return err
}

// compact folds the days of recent readings that are due (all, with all):
// those with CompactRows readings or more, or received longer than
// CompactAge ago. It returns how many days it folded, and the readings of
// each day it left as recent rows.
func (s *Store) compact(ctx context.Context, all bool) (int, map[devDay]int64, error) {
	rows, err := s.query(ctx, s.db, `SELECT device_id, day, SUM(n), MIN(received) FROM recent GROUP BY device_id, day`)
	if err != nil {
		return 0, nil, err
	}
	age := time.Now().Add(-s.opts.CompactAge).UnixMilli()
	var due []devDay
	left := map[devDay]int64{}
	for rows.Next() {
		var g devDay
		var n, oldest int64
		if err := rows.Scan(&g.dev, &g.day, &n, &oldest); err != nil {
			rows.Close()
			return 0, nil, err
		}
		if all || n >= int64(s.opts.CompactRows) || oldest <= age {
			due = append(due, g)
		} else {
			left[g] = n
		}
	}
	if err := rows.Close(); err != nil {
		return 0, nil, err
	}
	n, err := s.compactDays(ctx, due, all)
	return n, left, err
}

// compactDays folds the recent readings of days, each in a transaction
// of its own, and returns how many it folded.
// A day that fails does not hold back the others; a device removed
// meanwhile has nothing left to fold.
func (s *Store) compactDays(ctx context.Context, days []devDay, whole bool) (int, error) {
	done := 0
	var errs []error
	for _, g := range days {
		err := s.compactDay(ctx, g.dev, g.day, whole)
		switch {
		case err == nil:
			done++
		case errors.Is(err, sql.ErrNoRows):
		case ctx.Err() != nil:
			return done, err
		default:
			errs = append(errs, fmt.Errorf("device %d, day %d: %w", g.dev, g.day, err))
		}
	}
	return done, errors.Join(errs...)
}

// newChunk is a chunk about to be written.
type newChunk struct {
	day         int64
	first, last int64
	rs          []reading.Reading
	summary     []byte
	data        []byte
}

// storedChunk is a chunk as its row tells it, without its data.
type storedChunk struct{ id, first, last, n int64 }

// compactDay folds a device's recent rows of one local day into chunks of
// that day, in one transaction: the rows are decoded in the order they
// were written (a later reading replaces one of the same identity) with
// the chunks they overlap, and written again as new chunks, the rows
// deleted. Chunks of a device never overlap in time.
//
// A chunk just before the new one in time that is not larger than what is
// written joins it (as a binary counter carries), so that a day compacted
// a little at a time ends in a few chunks of halving size and each reading
// is written again only a few times. With
// whole, every chunk of the day joins. A device's earlier days left in
// several chunks are each folded into one: they are over.
func (s *Store) compactDay(ctx context.Context, dev, day int64, whole bool) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		var id int64
		if err := s.queryRow(ctx, tx, `SELECT id FROM devices WHERE id = ?`+s.d.ForUpdate, dev).Scan(&id); err != nil {
			return err
		}
		recent, err := s.ids(ctx, tx, `SELECT id FROM recent WHERE device_id = ? AND day = ? ORDER BY id`, dev, day)
		if err != nil {
			return err
		}
		if len(recent) == 0 {
			return nil
		}
		var rs []reading.Reading
		for _, id := range recent {
			part, err := s.part(ctx, tx, partID{true, id})
			if err != nil {
				return err
			}
			rs = append(rs, part...)
		}
		lo, hi := rs[0].Time.UnixMilli(), rs[0].Time.UnixMilli()
		for i := range rs {
			lo, hi = min(lo, rs[i].Time.UnixMilli()), max(hi, rs[i].Time.UnixMilli())
		}
		chunks, err := s.dayChunks(ctx, tx, dev, day)
		if err != nil {
			return err
		}
		// The chunks to write again: those the new readings overlap and,
		// growing backwards, those not larger than what is written.
		join := map[int64]bool{}
		n := int64(len(rs))
		first := len(chunks) // the first chunk joined, or where the new one goes
		for i, c := range chunks {
			if whole || c.first <= hi && c.last >= lo {
				join[c.id], n = true, n+c.n
				first = min(first, i)
			} else if c.last < lo {
				first = i + 1
			}
		}
		for first--; first >= 0 && chunks[first].n <= n; first-- {
			join[chunks[first].id], n = true, n+chunks[first].n
		}
		var olds []int64
		for _, c := range chunks {
			if join[c.id] {
				olds = append(olds, c.id)
			}
		}
		if err := s.rewrite(ctx, tx, dev, olds, recent, rs); err != nil {
			return err
		}
		return s.foldOverDays(ctx, tx, dev, day)
	})
}

// dayChunks lists a device's chunks of a local day, in order of time.
func (s *Store) dayChunks(ctx context.Context, tx *sql.Tx, dev, day int64) ([]storedChunk, error) {
	rows, err := s.query(ctx, tx, `SELECT id, first_time, last_time, n FROM chunks WHERE device_id = ? AND day = ? ORDER BY first_time`, dev, day)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []storedChunk
	for rows.Next() {
		var c storedChunk
		if err := rows.Scan(&c.id, &c.first, &c.last, &c.n); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// foldOverDays folds each of a device's days before day that is in
// several chunks into one.
func (s *Store) foldOverDays(ctx context.Context, tx *sql.Tx, dev, day int64) error {
	days, err := s.ids(ctx, tx, `SELECT day FROM chunks WHERE device_id = ? AND day < ? GROUP BY day HAVING COUNT(*) > 1`, dev, day)
	if err != nil {
		return err
	}
	for _, d := range days {
		chunks, err := s.dayChunks(ctx, tx, dev, d)
		if err != nil {
			return err
		}
		olds := make([]int64, len(chunks))
		for i, c := range chunks {
			olds[i] = c.id
		}
		if err := s.rewrite(ctx, tx, dev, olds, nil, nil); err != nil {
			return err
		}
	}
	return nil
}

// rewrite replaces chunks and recent rows of a device by new chunks of
// their readings, with rs (the recent rows' readings, in the order
// written) replacing the chunks' readings of the same identity.
func (s *Store) rewrite(ctx context.Context, tx *sql.Tx, dev int64, olds, recent []int64, rs []reading.Reading) error {
	// Each identity once, the last written; then in order of identity
	// (time, Seq), which sorts small keys rather than whole readings.
	var all []reading.Reading
	var keys []rowKey
	at := map[rowKey]int{}
	add := func(r *reading.Reading) {
		k := keyOf(dev, r)
		if i, ok := at[k]; ok {
			all[i] = *r
			return
		}
		at[k] = len(all)
		all, keys = append(all, *r), append(keys, k)
	}
	for _, id := range olds {
		part, err := s.part(ctx, tx, partID{false, id})
		if err != nil {
			return err
		}
		for i := range part {
			add(&part[i])
		}
	}
	for i := range rs {
		add(&rs[i])
	}
	order := make([]int, len(keys))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int {
		return cmp.Or(cmp.Compare(keys[a].time, keys[b].time), cmp.Compare(keys[a].seq, keys[b].seq))
	})
	sorted := make([]reading.Reading, len(all))
	for i, j := range order {
		sorted[i] = all[j]
	}
	chunks, err := s.buildChunks(sorted)
	if err != nil {
		return err
	}
	for _, del := range []struct {
		table string
		ids   []int64
	}{{"chunks", olds}, {"recent", recent}} {
		for i := 0; i < len(del.ids); i += 500 {
			part := del.ids[i:min(i+500, len(del.ids))]
			args := make([]any, len(part))
			for j, id := range part {
				args[j] = id
			}
			if _, err := s.exec(ctx, tx, `DELETE FROM `+del.table+` WHERE id IN `+inList(len(part)), args...); err != nil {
				return err
			}
		}
	}
	for _, c := range chunks {
		if err := s.insertChunk(ctx, tx, dev, c); err != nil {
			return err
		}
	}
	return nil
}

func (s *Store) insertChunk(ctx context.Context, tx *sql.Tx, dev int64, c newChunk) error {
	_, err := s.exec(ctx, tx, `INSERT INTO chunks (device_id, day, first_time, last_time, n, summary, data) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		dev, c.day, c.first, c.last, len(c.rs), c.summary, c.data)
	if err != nil {
		return fmt.Errorf("store: chunk: %w", err)
	}
	return nil
}

// buildChunks orders a device's readings and cuts them into chunks: one
// per local day, or more when a day has more than a chunk holds.
func (s *Store) buildChunks(rs []reading.Reading) ([]newChunk, error) {
	sortReadings(rs)
	var out []newChunk
	for i := 0; i < len(rs); {
		day := dayOf(rs[i].Time, s.loc)
		j := i + 1
		for j < len(rs) && j-i < chunk.MaxRows && dayOf(rs[j].Time, s.loc) == day {
			j++
		}
		part := rs[i:j]
		data, err := chunk.Encode(part)
		if err != nil {
			return nil, err
		}
		out = append(out, newChunk{day: day, first: part[0].Time.UnixMilli(), last: part[len(part)-1].Time.UnixMilli(), rs: part,
			summary: chunk.EncodeSummaries(chunk.Summarize(part)), data: data})
		i = j
	}
	return out, nil
}
