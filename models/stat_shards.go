package models

import (
	"math/rand/v2"

	"gorm.io/gorm"
)

// statShards is how many rows a counter may be spread over (migration 11):
// the queued counter of single sends (API messages, console test sends:
// run 0), and the sent and delivered counters the sent-event writer moves
// (SentEventWriter, any run).
//
// Every single send adds one to its app's queued counter in the same
// transaction as its row, so the counter stays exact. On one row, that
// increment's lock is held until the commit is on disk, and concurrent
// API requests queue behind each other's fsync (about 125 a second on the
// 2-core test machine, whatever the CPU left). Spread over 16 rows,
// concurrent requests rarely meet and the database's group commit writes
// their commits together. The engine keeps writing shard 0 (applyStats);
// the sent-event writer a random other one (applyStatsOnShard);
// readers add the shards up (AppStats sums, statMap adds), so a shard may
// go negative while the sum stays exact. MySQL/MariaDB only: SQLite writes
// one transaction at a time anyway.
const statShards = 16

// addQueuedSharded counts n deliveries of app and run entering queued, on
// a random shard other than the engine's.
func addQueuedSharded(tx *gorm.DB, appID int64, runID *int64, n int64) error {
	var run int64
	if runID != nil {
		run = *runID
	}
	if run != 0 || !IsMySQL(tx) {
		// A run's counters are also columns of campaign_runs: one path for
		// them. SQLite runs one writer at a time, so shards would not help;
		// its delivery_stats keeps the key without shard.
		st := StatDeltas{}
		st.Add(appID, runID, DeliveryQueued, "", n)
		return applyStats(tx, st)
	}
	shard := 1 + rand.IntN(statShards-1)
	// An UPDATE of an existing row locks that row only; the first use of a
	// shard inserts it.
	res := tx.Exec(`UPDATE delivery_stats SET n = n + ? WHERE app_id = ? AND run_id = 0 AND status = ? AND detail = '' AND shard = ?`,
		n, appID, DeliveryQueued, shard)
	if res.Error != nil || res.RowsAffected == 1 {
		return res.Error
	}
	return tx.Exec(`INSERT INTO delivery_stats (app_id, run_id, status, detail, shard, n) VALUES (?, 0, ?, '', ?, ?)
		ON DUPLICATE KEY UPDATE n = n + VALUES(n)`, appID, DeliveryQueued, shard, n).Error
}
