package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/sensorhub/sensorhub/internal/reading"
	"github.com/sensorhub/sensorhub/internal/store/chunk"
)

// The row layout of the release before this one kept each reading as a
// JSON document in readings, each value in points, and per-minute, hour
// and day aggregates in rollups. Its last schema version was the dialect's
// Legacy; the version before it lacked only the rejected messages'
// binding.
const legacyBinding = `ALTER TABLE rejected ADD COLUMN binding TEXT NOT NULL DEFAULT '';
UPDATE rejected SET binding = customer WHERE reason LIKE 'customer % refused: this sender may only send for %';`

// upgradeLegacy adds the chunk tables to a database of the row layout.
func (s *Store) upgradeLegacy(ctx context.Context, conn *sql.Conn, v int) error {
	if v < s.d.Legacy-1 {
		return fmt.Errorf("schema version %d: %w", v, errLegacyTooOld)
	}
	s.log.Info("store: converting the row layout of the release before to chunks; readings are kept", "version", v)
	return s.inTx(ctx, conn, func(tx *sql.Tx) error {
		if v == s.d.Legacy-1 {
			if err := execAll(ctx, tx, legacyBinding); err != nil {
				return err
			}
		}
		if err := execAll(ctx, tx, s.d.ddl(chunkSchema)); err != nil {
			return err
		}
		return s.setVersion(ctx, tx, versionConverting)
	})
}

// convert moves every device's readings from the row layout into chunks,
// one device a transaction, then drops the row layout's tables. Stopped
// half-way, it goes on where it was at the next start: a device's rows
// leave in the transaction that writes its chunks.
func (s *Store) convert(ctx context.Context, conn *sql.Conn) error {
	var total int
	if err := conn.QueryRowContext(ctx, `SELECT COUNT(DISTINCT device_id) FROM readings`).Scan(&total); err != nil {
		return err
	}
	start := time.Now()
	for done := 0; ; done++ {
		var dev int64
		err := conn.QueryRowContext(ctx, `SELECT device_id FROM readings LIMIT 1`).Scan(&dev)
		if errors.Is(err, sql.ErrNoRows) {
			break
		}
		if err != nil {
			return err
		}
		n, err := s.convertDevice(ctx, conn, dev)
		if err != nil {
			return fmt.Errorf("convert device %d: %w", dev, err)
		}
		s.log.Info("store: device converted to chunks", "device_id", dev, "readings", n, "done", done+1, "of", total)
	}
	err := s.inTx(ctx, conn, func(tx *sql.Tx) error {
		if err := execAll(ctx, tx, "DROP TABLE points;\nDROP TABLE rollups;\nDROP TABLE readings;"); err != nil {
			return err
		}
		return s.setVersion(ctx, tx, versionChunks)
	})
	if err != nil {
		return err
	}
	if s.d.Reclaim != "" {
		// The row layout's space back to the disk.
		if _, err := conn.ExecContext(ctx, s.d.Reclaim); err != nil {
			return fmt.Errorf("reclaim the space of the row layout: %w", err)
		}
	}
	s.log.Info("store: converted to chunks", "devices", total, "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// convertDevice writes one device's readings as chunks, a day at a time,
// and removes its rows, in one transaction.
func (s *Store) convertDevice(ctx context.Context, conn *sql.Conn, dev int64) (int, error) {
	n := 0
	err := s.inTx(ctx, conn, func(tx *sql.Tx) error {
		var day []reading.Reading
		var newest *reading.Reading
		flush := func() error {
			if len(day) == 0 {
				return nil
			}
			chunks, err := s.buildChunks(day)
			if err != nil {
				return err
			}
			for _, c := range chunks {
				if err := s.insertChunk(ctx, tx, dev, c); err != nil {
					return err
				}
			}
			r := day[len(day)-1]
			newest, day = &r, nil
			return nil
		}
		// A page at a time, in order: a connection reads one result at a
		// time, and the chunks are written between pages.
		var after struct {
			time  any
			count int64
		}
		for {
			query, args := `SELECT time, msg_count, doc FROM readings WHERE device_id = ? ORDER BY time, msg_count LIMIT 5000`, []any{dev}
			if after.time != nil {
				query = `SELECT time, msg_count, doc FROM readings WHERE device_id = ? AND (time > ? OR time = ? AND msg_count > ?)
					ORDER BY time, msg_count LIMIT 5000`
				args = append(args, after.time, after.time, after.count)
			}
			rows, err := s.query(ctx, tx, query, args...)
			if err != nil {
				return err
			}
			var page []reading.Reading
			for rows.Next() {
				var doc string
				if err := rows.Scan(&after.time, &after.count, &doc); err != nil {
					rows.Close()
					return err
				}
				var r reading.Reading
				if err := json.Unmarshal([]byte(doc), &r); err != nil {
					rows.Close()
					return fmt.Errorf("a reading's document: %w", err)
				}
				page = append(page, r)
			}
			if err := rows.Close(); err != nil {
				return err
			}
			for _, r := range page {
				if len(day) > 0 && dayOf(r.Time, s.loc) != dayOf(day[0].Time, s.loc) {
					if err := flush(); err != nil {
						return err
					}
				}
				day = append(day, r)
				n++
			}
			if len(page) < 5000 {
				break
			}
		}
		if err := flush(); err != nil {
			return err
		}
		if newest != nil {
			latest, err := chunk.EncodeRow(newest)
			if err != nil {
				return err
			}
			if _, err := s.exec(ctx, tx, `UPDATE devices SET latest = ?, last_seq = ? WHERE id = ?`,
				latest, newest.Seq(), dev); err != nil {
				return err
			}
		}
		for _, table := range []string{"points", "rollups", "readings"} {
			if _, err := s.exec(ctx, tx, `DELETE FROM `+table+` WHERE device_id = ?`, dev); err != nil {
				return err
			}
		}
		return nil
	})
	return n, err
}
