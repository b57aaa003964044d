package models

import (
	"context"
	"sort"
	"time"

	"gorm.io/gorm"
)

// Campaign run statuses.
const (
	RunExpanding = "expanding"
	RunSending   = "sending"
	RunPaused    = "paused"
	RunCompleted = "completed"
	RunCanceled  = "canceled"
	RunFailed    = "failed"
)

// CampaignRun is one firing of a campaign, with live counters. The counters
// count deliveries by their current status (queued + sending + sent +
// delivered + failed + skipped + unknown = deliveries created); they only
// change with SET n = n + ?.
type CampaignRun struct {
	ID           int64
	CampaignID   int64
	AppID        int64 `gorm:"column:app_id"`
	Status       string
	ScheduledFor time.Time
	ExpandCursor int64
	Audience     int64
	Queued       int64
	Sending      int64
	Sent         int64
	Delivered    int64
	Failed       int64
	Skipped      int64
	Unknown      int64
	Paused       int64      // deliveries held back by a pause (migration 5)
	Reason       string     // why the run was paused or canceled (migration 5)
	ResendOf     *int64     // the run a "resend to failed" run repeats (migration 5)
	ExpandedAt   *time.Time // the audience is fully expanded (migration 5)
	StartedAt    *time.Time
	FinishedAt   *time.Time
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// GetRun loads a run.
func GetRun(ctx context.Context, db *gorm.DB, id int64) (*CampaignRun, error) {
	var r CampaignRun
	if err := db.WithContext(ctx).First(&r, id).Error; err != nil {
		return nil, translate(err)
	}
	return &r, nil
}

// runCounterColumns are the delivery statuses campaign_runs has a column for.
var runCounterColumns = map[string]bool{
	DeliveryQueued: true, DeliverySending: true, DeliverySent: true, DeliveryDelivered: true,
	DeliveryFailed: true, DeliverySkipped: true, DeliveryUnknown: true,
	DeliveryPaused: true, // campaign_runs.paused (migration 5)
}

// DeliveryStat is one counter: deliveries of an app (and run; 0 for sends
// outside a run) currently in a status, failures split by errcode and skips
// by reason (detail).
type DeliveryStat struct {
	AppID  int64 `gorm:"column:app_id"`
	RunID  int64
	Status string
	Detail string
	N      int64
}

type statKey struct {
	app, run       int64
	status, detail string
}

// StatDeltas accumulates counter changes to apply in one go.
type StatDeltas map[statKey]int64

// Move counts one delivery leaving status from (detail "" unless from is
// failed or skipped) for status to with detail.
func (s StatDeltas) Move(appID int64, runID *int64, from, to, detail string) {
	var run int64
	if runID != nil {
		run = *runID
	}
	if from != "" {
		s[statKey{appID, run, from, ""}]--
	}
	if to != "" {
		s[statKey{appID, run, to, detail}]++
	}
}

// Add counts n deliveries entering a status.
func (s StatDeltas) Add(appID int64, runID *int64, status, detail string, n int64) {
	var run int64
	if runID != nil {
		run = *runID
	}
	s[statKey{appID, run, status, detail}] += n
}

// ApplyStats writes accumulated counter changes with atomic increments:
// delivery_stats rows (upserted) and the matching campaign_runs columns.
// Rows are touched in a fixed order so concurrent writers cannot deadlock.
func ApplyStats(ctx context.Context, db *gorm.DB, s StatDeltas) error {
	return applyStats(db.WithContext(ctx), s)
}

func applyStats(tx *gorm.DB, s StatDeltas) error { return applyStatsOnShard(tx, s, 0) }

// applyStatsOnShard is applyStats writing the delivery_stats rows of shard
// (MySQL/MariaDB; SQLite has one row per key). The engine's claims and
// outcomes write shard 0; a writer whose transactions would otherwise wait
// on theirs for the same counter (the push endpoint's sent → delivered
// against the outcomes' sending → sent) writes another one. Readers sum
// the shards (stat_shards.go).
func applyStatsOnShard(tx *gorm.DB, s StatDeltas, shard int) error {
	keys := make([]statKey, 0, len(s))
	for k, v := range s {
		if v != 0 {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return nil
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := keys[i], keys[j]
		if a.app != b.app {
			return a.app < b.app
		}
		if a.run != b.run {
			return a.run < b.run
		}
		if a.status != b.status {
			return a.status < b.status
		}
		return a.detail < b.detail
	})
	cols := []string{"app_id", "run_id", "status", "detail"}
	sharded := shard != 0 && IsMySQL(tx)
	if sharded {
		cols = append(cols, "shard")
	}
	rows := make([][]any, len(keys))
	for i, k := range keys {
		rows[i] = []any{k.app, k.run, k.status, k.detail}
		if sharded {
			rows[i] = append(rows[i], shard)
		}
		rows[i] = append(rows[i], s[k])
	}
	if err := addCounts(tx, "delivery_stats", cols, rows); err != nil {
		return err
	}
	// The dashboard's hourly counts: one more upsert (dashboard_counts.go).
	if err := feedHourly(tx, time.Now(), s); err != nil {
		return err
	}
	// campaign_runs columns, one UPDATE per run.
	var run int64 = -1
	set := map[string]any{}
	flush := func() error {
		if run <= 0 || len(set) == 0 {
			return nil
		}
		set["updated_at"] = time.Now().UTC()
		return tx.Model(&CampaignRun{}).Where("id = ?", run).Updates(set).Error
	}
	sums := map[string]int64{}
	for _, k := range keys {
		if k.run != run {
			for col, v := range sums {
				set[col] = gorm.Expr("`"+col+"` + ?", v)
			}
			if err := flush(); err != nil {
				return err
			}
			run, set, sums = k.run, map[string]any{}, map[string]int64{}
		}
		if runCounterColumns[k.status] {
			sums[k.status] += s[k]
		}
	}
	for col, v := range sums {
		if v != 0 {
			set[col] = gorm.Expr("`"+col+"` + ?", v)
		}
	}
	return flush()
}

// AppStats returns an app's counters (all runs and single sends together),
// as status → detail → count.
func AppStats(ctx context.Context, db *gorm.DB, appID int64) (map[string]map[string]int64, error) {
	var rows []DeliveryStat
	err := db.WithContext(ctx).Raw(`SELECT status, detail, SUM(n) AS n FROM delivery_stats
		WHERE app_id = ? GROUP BY status, detail`, appID).Scan(&rows).Error
	return statMap(rows), err
}

// RunStats returns one run's counters as status → detail → count.
func RunStats(ctx context.Context, db *gorm.DB, appID, runID int64) (map[string]map[string]int64, error) {
	var rows []DeliveryStat
	err := db.WithContext(ctx).Raw(`SELECT status, detail, n FROM delivery_stats
		WHERE app_id = ? AND run_id = ?`, appID, runID).Scan(&rows).Error
	return statMap(rows), err
}

func statMap(rows []DeliveryStat) map[string]map[string]int64 {
	out := map[string]map[string]int64{}
	for _, r := range rows {
		if r.N == 0 {
			continue
		}
		if out[r.Status] == nil {
			out[r.Status] = map[string]int64{}
		}
		out[r.Status][r.Detail] += r.N
	}
	return out
}
