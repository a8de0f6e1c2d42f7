package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"time"

	"github.com/sensorhub/sensorhub/internal/reading"
	"github.com/sensorhub/sensorhub/internal/store/chunk"
)

// compactor folds recent readings into chunks in the background.
type compactor struct {
	s     *Store
	wake  chan struct{}
	quit  chan struct{}
	done  chan struct{}
	mu    sync.Mutex
	added int
	err   error
}

func (s *Store) startCompactor() *compactor {
	c := &compactor{s: s, wake: make(chan struct{}, 1), quit: make(chan struct{}), done: make(chan struct{})}
	go c.run()
	return c
}

// poke tells the compactor that n readings were added: it looks once a
// device's day may have enough.
func (c *compactor) poke(n int) {
	c.mu.Lock()
	c.added += n
	due := c.added >= c.s.opts.CompactRows
	if due {
		c.added = 0
	}
	c.mu.Unlock()
	if due {
		select {
		case c.wake <- struct{}{}:
		default:
		}
	}
}

func (c *compactor) run() {
	defer close(c.done)
	tick := time.NewTicker(time.Minute)
	defer tick.Stop()
	for {
		select {
		case <-c.quit:
			// A clean stop leaves every reading in chunks.
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			_, err := c.s.compact(ctx, true)
			c.s.trim(ctx)
			cancel()
			c.mu.Lock()
			c.err = err
			c.mu.Unlock()
			return
		case <-tick.C:
		case <-c.wake:
		}
		n, err := c.s.compact(context.Background(), false)
		if err != nil {
			c.s.log.Error("store: folding recent readings into chunks failed; they stay as they are, and are tried again", "err", err)
		}
		if n > 0 {
			c.s.trim(context.Background())
		}
	}
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

// Compact folds every recent reading into chunks now. The compactor does
// it in the background; tests and tools call it to see the chunks.
func (s *Store) Compact(ctx context.Context) error {
	_, err := s.compact(ctx, true)
	return err
}

// compact folds the days of recent readings that are due (all, with all):
// those with CompactRows readings or more, or received longer than
// CompactAge ago. It returns how many days it folded.
func (s *Store) compact(ctx context.Context, all bool) (int, error) {
	type group struct{ dev, day, n, oldest int64 }
	rows, err := s.query(ctx, s.db, `SELECT device_id, day, SUM(n), MIN(received) FROM recent GROUP BY device_id, day`)
	if err != nil {
		return 0, err
	}
	var groups []group
	for rows.Next() {
		var g group
		if err := rows.Scan(&g.dev, &g.day, &g.n, &g.oldest); err != nil {
			rows.Close()
			return 0, err
		}
		groups = append(groups, g)
	}
	if err := rows.Close(); err != nil {
		return 0, err
	}
	age := time.Now().Add(-s.opts.CompactAge).UnixMilli()
	done := 0
	for _, g := range groups {
		if !all && g.n < int64(s.opts.CompactRows) && g.oldest > age {
			continue
		}
		if err := s.compactDay(ctx, g.dev, g.day); err != nil {
			return done, fmt.Errorf("device %d, day %d: %w", g.dev, g.day, err)
		}
		done++
	}
	return done, nil
}

// newChunk is a chunk about to be written.
type newChunk struct {
	first, last int64
	rs          []reading.Reading
	summary     []byte
	data        []byte
}

// compactDay folds a device's recent rows of one local day into the
// chunks of that day, in one transaction: the day's chunks are decoded,
// the recent rows merged in, in the order they were written (a later
// reading replaces one of the same identity), the whole written again as
// new chunks, and the rows deleted.
func (s *Store) compactDay(ctx context.Context, dev, day int64) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		var id int64
		if err := s.queryRow(ctx, tx, `SELECT id FROM devices WHERE id = ?`+s.d.ForUpdate, dev).Scan(&id); err != nil {
			return err
		}
		start, end := dayBounds(day, s.loc)
		olds, err := s.ids(ctx, tx, `SELECT id FROM chunks WHERE device_id = ? AND first_time < ? AND last_time >= ?`, dev, end, start)
		if err != nil {
			return err
		}
		recent, err := s.ids(ctx, tx, `SELECT id FROM recent WHERE device_id = ? AND day = ? ORDER BY id`, dev, day)
		if err != nil {
			return err
		}
		if len(recent) == 0 {
			return nil
		}
		byKey := map[rowKey]reading.Reading{}
		for _, ids := range []struct {
			table string
			ids   []int64
			rows  func([]byte) ([]reading.Reading, error)
		}{{"chunks", olds, chunk.Decode}, {"recent", recent, chunk.DecodeRows}} {
			for _, id := range ids.ids {
				var data []byte
				if err := s.queryRow(ctx, tx, `SELECT data FROM `+ids.table+` WHERE id = ?`, id).Scan(&data); err != nil {
					return err
				}
				rs, err := ids.rows(data)
				if err != nil {
					return fmt.Errorf("%s %d: %w", ids.table, id, err)
				}
				for i := range rs {
					byKey[keyOf(dev, &rs[i])] = rs[i]
				}
			}
		}
		rs := make([]reading.Reading, 0, len(byKey))
		for _, r := range byKey {
			rs = append(rs, r)
		}
		chunks, err := s.buildChunks(rs)
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
	})
}

func (s *Store) insertChunk(ctx context.Context, tx *sql.Tx, dev int64, c newChunk) error {
	_, err := s.exec(ctx, tx, `INSERT INTO chunks (device_id, first_time, last_time, n, summary, data) VALUES (?, ?, ?, ?, ?, ?)`,
		dev, c.first, c.last, len(c.rs), c.summary, c.data)
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
		out = append(out, newChunk{first: part[0].Time.UnixMilli(), last: part[len(part)-1].Time.UnixMilli(), rs: part,
			summary: chunk.EncodeSummaries(chunk.Summarize(part)), data: data})
		i = j
	}
	return out, nil
}
