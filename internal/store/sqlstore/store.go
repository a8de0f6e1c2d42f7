package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/sensorhub/sensorhub/internal/store"
	"github.com/sensorhub/sensorhub/internal/store/chunk"
)

// Options tune a store.
type Options struct {
	// Location is the zone whose midnights end the chunks' days.
	Location *time.Location
	Log      *slog.Logger
	// Compact runs the compactor in this process: the process that writes
	// (ingest) does; one that only reads does not.
	Compact bool
	// CompactRows and CompactAge fold a device's day of recent readings
	// into its chunk once it has this many, or its oldest was received
	// this long ago.
	CompactRows int
	CompactAge  time.Duration
	// StopFold bounds what a clean stop spends folding recent readings
	// into chunks (5 s when zero): what is left stays stored as recent
	// rows and is folded after the next start.
	StopFold time.Duration
	// CacheBytes bounds what the store keeps decoded in memory (96 MiB
	// when zero): a quarter for the identities of the parts read last,
	// three eighths for the fields' values of the chunks read last, a
	// quarter for the readings of the devices' open days (tails), an
	// eighth for each device's newest reading (for the formulas of the
	// next). A SQLite store's page cache, outside Go's heap, is an eighth
	// more.
	CacheBytes int64
}

// Store is a store.Store on a SQL database.
type Store struct {
	db   *sql.DB
	d    *Dialect
	loc  *time.Location
	log  *slog.Logger
	opts Options

	// mu serialises this process' writers: SQLite has one writer at a
	// time, and waiting here is cheaper than retrying when it is busy.
	mu sync.Mutex
	// ids caches the ids of devices and fields, and units known written
	// (each device's fields': at 10,000 devices of 11 fields, 110,000 of
	// them, so kept as a small number into unitNames).
	idMu      sync.Mutex
	devices   map[store.DeviceKey]int64
	fields    map[string]int64
	units     map[unitKey]uint32
	unitNames []string
	unitIDs   map[string]uint32

	// keys keeps the identities (time, Seq) of the parts read last, so
	// that the late readings of a day, which each are looked for in that
	// day's parts, decode each part once; columns keeps the fields' values
	// of the chunks read last, for the charts that read them again.
	keys    *lru[partID, []rowKey]
	columns *lru[column, []chunk.Point]
	// latest keeps devices' newest readings decoded, for the formulas of
	// the next.
	latest *lru[int64, cachedLatest]
	// tails keep devices' newest readings decoded, for readings that
	// arrive a little late.
	tails *tails

	compactor *compactor

	closeOnce sync.Once
	closeErr  error
	onClose   []func()
}

type unitKey struct{ device, field int64 }

// maxUnits bounds the different units remembered.
const maxUnits = 1 << 12

// knownUnit is the unit known written for k; idMu is held.
func (s *Store) knownUnit(k unitKey) (string, bool) {
	id, ok := s.units[k]
	if !ok {
		return "", false
	}
	return s.unitNames[id], true
}

// noteUnit notes u written for k; idMu is held.
func (s *Store) noteUnit(k unitKey, u string) {
	id, ok := s.unitIDs[u]
	if !ok {
		if len(s.unitNames) >= maxUnits {
			// Units are few; so many come from what devices send. Known
			// units are only a shortcut: forgotten, they are written again.
			clear(s.units)
			clear(s.unitIDs)
			s.unitNames = s.unitNames[:0]
		}
		id = uint32(len(s.unitNames))
		s.unitNames = append(s.unitNames, u)
		s.unitIDs[u] = id
	}
	s.units[k] = id
}

// column names one field's values in a chunk.
type column struct {
	chunk int64
	field string
}

// Open opens the store on db, brings its schema up to date (converting a
// database of the row layout), and starts the compactor when asked.
func Open(ctx context.Context, db *sql.DB, d *Dialect, opts Options) (*Store, error) {
	if opts.Location == nil {
		opts.Location = time.UTC
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.CompactRows <= 0 {
		opts.CompactRows = 1024
	}
	if opts.CompactAge <= 0 {
		opts.CompactAge = 15 * time.Minute
	}
	if opts.StopFold <= 0 {
		opts.StopFold = 5 * time.Second
	}
	if opts.CacheBytes <= 0 {
		opts.CacheBytes = 96 << 20
	}
	s := &Store{db: db, d: d, loc: opts.Location, log: opts.Log, opts: opts,
		devices: map[store.DeviceKey]int64{}, fields: map[string]int64{}, units: map[unitKey]uint32{}, unitIDs: map[string]uint32{},
		keys:    newLRU[partID](int(opts.CacheBytes/4), func(k []rowKey) int { return len(k) * int(unsafe.Sizeof(rowKey{})) }),
		columns: newLRU[column](int(opts.CacheBytes*3/8), func(p []chunk.Point) int { return len(p) * int(unsafe.Sizeof(chunk.Point{})) }),
		latest:  newLRU[int64](int(opts.CacheBytes/8), func(c cachedLatest) int { return int(readingSize(c.r)) }),
		tails:   newTails(opts.CacheBytes / 4)}
	if err := s.migrate(ctx); err != nil {
		return nil, fmt.Errorf("store: %s: %w", d.Name, err)
	}
	if err := s.ensureInstallation(ctx); err != nil {
		return nil, fmt.Errorf("store: %s: %w", d.Name, err)
	}
	if opts.Compact {
		s.compactor = s.startCompactor()
	}
	return s, nil
}

// CacheBytes are what the store's caches hold, by cache, for the
// sensorhub_memory_cache_bytes gauges.
func (s *Store) CacheBytes() map[string]int64 {
	return map[string]int64{"store_parts": int64(s.keys.bytes()), "store_columns": int64(s.columns.bytes()), "store_tails": s.tails.bytes(), "store_latest": int64(s.latest.bytes())}
}

// Location is the zone whose midnights start the chunks' days.
func (s *Store) Location() *time.Location { return s.loc }

// DB is the database, for the web sessions kept in it.
func (s *Store) DB() *sql.DB { return s.db }

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.db.PingContext(ctx); err != nil {
		return s.d.Classify(err)
	}
	return nil
}

// Close stops the compactor, which first folds every recent reading into
// chunks, and closes the database.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		var err error
		if s.compactor != nil {
			err = s.compactor.stop()
		}
		s.closeErr = errors.Join(err, s.db.Close())
		for _, f := range s.onClose {
			f()
		}
	})
	return s.closeErr
}

// OnClose has f called when the store closes, after its database.
func (s *Store) OnClose(f func()) { s.onClose = append(s.onClose, f) }

// q rebinds a query for the dialect.
func (s *Store) q(query string) string { return s.d.rebind(query) }

// exec and the helpers below run a query with the dialect's placeholders
// on a transaction or the database.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func (s *Store) exec(ctx context.Context, q querier, query string, args ...any) (sql.Result, error) {
	return q.ExecContext(ctx, s.q(query), args...)
}

func (s *Store) query(ctx context.Context, q querier, query string, args ...any) (*sql.Rows, error) {
	return q.QueryContext(ctx, s.q(query), args...)
}

func (s *Store) queryRow(ctx context.Context, q querier, query string, args ...any) *sql.Row {
	return q.QueryRowContext(ctx, s.q(query), args...)
}

// tx runs f in a transaction of this process' one writer, committed when
// f returns nil; the engine's outages are marked as such.
func (s *Store) tx(ctx context.Context, f func(tx *sql.Tx) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return s.d.Classify(fmt.Errorf("store: begin: %w", err))
	}
	defer tx.Rollback()
	if err := f(tx); err != nil {
		return s.d.Classify(err)
	}
	if err := tx.Commit(); err != nil {
		return s.d.Classify(fmt.Errorf("store: commit: %w", err))
	}
	return nil
}

// snapshot runs f's reads on one state of the database, in a read-only
// transaction of the dialect's Snapshot isolation: a list of a device's
// parts and the parts read after it agree, while a compactor or retention,
// of this process or another, rewrites them meanwhile. It takes no lock and
// waits for no writer.
func (s *Store) snapshot(ctx context.Context, f func(tx *sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, &sql.TxOptions{Isolation: s.d.Snapshot, ReadOnly: true})
	if err != nil {
		return s.d.Classify(fmt.Errorf("store: begin: %w", err))
	}
	defer tx.Rollback()
	if err := f(tx); err != nil {
		return err
	}
	return tx.Commit()
}

// inList is "(?, ?, ?)" for n values.
func inList(n int) string { return "(" + strings.TrimSuffix(strings.Repeat("?, ", n), ", ") + ")" }

// trimSpace and splitLines serve the schema scripts.
func trimSpace(s string) string    { return strings.TrimSpace(s) }
func splitLines(s string) []string { return strings.Split(s, "\n") }
