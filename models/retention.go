package models

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// Retention deletes deliveries and events older than a cut-off, in small
// batches walked along the primary key, so each delete holds its locks for
// one short statement (a few milliseconds on MySQL/MariaDB) and the send
// workers keep going beside it.
//
// What is never deleted:
//   - a delivery still in flight or waiting for its outcome (queued,
//     sending, sent, unknown, paused): only delivered, failed and skipped
//     rows go;
//   - a sent event not yet settled (delivery_id NULL): matched and given-up
//     events (delivery_id set, 0 for given up) go.
//
// Counters are kept: delivery_stats and the campaign_runs columns count
// what happened and are not decremented, so a run's figures and the
// dashboard's totals stay as they were; only the rows behind them go.

// RetentionBatch is the most rows one delete statement removes.
const RetentionBatch = 1000

// retentionFinal are the delivery statuses retention may delete.
var retentionFinal = []string{DeliveryDelivered, DeliveryFailed, DeliverySkipped}

// RetentionOptions configure one pass.
type RetentionOptions struct {
	Cutoff time.Time     // rows created before it go
	Batch  int           // rows per delete (default RetentionBatch)
	Pause  time.Duration // wait between batches, leaving the database to other work (0: none)
}

// RetentionResult counts what one pass deleted.
type RetentionResult struct {
	Deliveries, SentEvents, SubscriptionEvents int64
	Batches                                    int
	MaxDelete                                  time.Duration // the longest delete statement (its locks are held that long)
}

// Total is every row deleted.
func (r RetentionResult) Total() int64 {
	return r.Deliveries + r.SentEvents + r.SubscriptionEvents
}

// retentionTable says how one table is pruned.
type retentionTable struct {
	name  string
	keep  string // SQL condition of rows never deleted, or ""
	args  []any
	count func(*RetentionResult, int64)
}

func retentionTables() []retentionTable {
	return []retentionTable{
		{"deliveries", "status NOT IN ?", []any{retentionFinal}, func(r *RetentionResult, n int64) { r.Deliveries += n }},
		{"sent_events", "delivery_id IS NULL", nil, func(r *RetentionResult, n int64) { r.SentEvents += n }},
		{"subscription_events", "", nil, func(r *RetentionResult, n int64) { r.SubscriptionEvents += n }},
	}
}

// PruneOld deletes the deliveries, sent events and subscription events
// created before opt.Cutoff, batch by batch, until none is left or ctx
// ends (what was deleted stays deleted; the next pass goes on).
func PruneOld(ctx context.Context, db *gorm.DB, opt RetentionOptions) (RetentionResult, error) {
	var res RetentionResult
	if opt.Batch <= 0 {
		opt.Batch = RetentionBatch
	}
	cutoff := opt.Cutoff.UTC()
	for _, t := range retentionTables() {
		if err := pruneTable(ctx, db.WithContext(ctx), t, cutoff, opt, &res); err != nil {
			return res, fmt.Errorf("retention: %s: %w", t.name, err)
		}
	}
	return res, nil
}

// pruneTable walks t's primary key from its start, a window of opt.Batch
// rows at a time (an index range read, no scan of the table), deletes the
// window's old rows by id, and stops at the first window whose every row
// is newer than the cut-off: ids grow with creation time, so no older row
// lies beyond it.
func pruneTable(ctx context.Context, db *gorm.DB, t retentionTable, cutoff time.Time, opt RetentionOptions, res *RetentionResult) error {
	type row struct {
		ID        int64
		CreatedAt time.Time
	}
	var after int64
	for ctx.Err() == nil {
		var rows []row
		if err := db.Raw("SELECT id, created_at FROM "+t.name+" WHERE id > ? ORDER BY id LIMIT ?", after, opt.Batch).Scan(&rows).Error; err != nil {
			return err
		}
		if len(rows) == 0 {
			return nil
		}
		after = rows[len(rows)-1].ID
		ids := make([]int64, 0, len(rows))
		for _, r := range rows {
			if r.CreatedAt.Before(cutoff) {
				ids = append(ids, r.ID)
			}
		}
		if len(ids) == 0 {
			return nil
		}
		// The conditions are checked again by the delete itself: a row
		// whose status changed since it was read stays.
		stmt, args := "DELETE FROM "+t.name+" WHERE id IN ? AND created_at < ?", []any{ids, cutoff}
		if t.keep != "" {
			stmt += " AND NOT (" + t.keep + ")"
			args = append(args, t.args...)
		}
		var n int64
		began := time.Now()
		err := retryTx(ctx, db, func(tx *gorm.DB) error {
			r := tx.Exec(stmt, args...)
			n = r.RowsAffected
			return r.Error
		})
		if err != nil {
			return err
		}
		res.MaxDelete = max(res.MaxDelete, time.Since(began))
		t.count(res, n)
		res.Batches++
		if len(ids) < len(rows) {
			return nil // the window reached rows newer than the cut-off
		}
		if opt.Pause > 0 {
			select {
			case <-ctx.Done():
			case <-time.After(opt.Pause):
			}
		}
	}
	return nil
}
