package models

import (
	"context"
	"time"

	"gorm.io/gorm"
)

// LoginThrottle counts sign-in attempts per key ("acct:…", "ip:…") in the
// database, so every instance enforces the same limit.
type LoginThrottle struct {
	K           string `gorm:"column:k;primaryKey"`
	Failures    int
	WindowStart time.Time
	LockedUntil *time.Time
}

// TableName pins the table name.
func (LoginThrottle) TableName() string { return "login_throttle" }

// ThrottlePolicy says how many attempts within Window are allowed before a
// key is locked, and for how long. Lock should be at least Window, so the
// window has passed when the lock ends and counting starts afresh.
type ThrottlePolicy struct {
	MaxFailures int
	Window      time.Duration
	Lock        time.Duration
}

// ThrottleAttempt counts one attempt for key before the password is
// checked, so parallel guesses cannot slip past the limit: one atomic
// upsert increments the count (restarting it when the window has passed),
// then the row says whether the key is locked. It returns the zero time
// when the attempt may go ahead, else when the lock ends.
func ThrottleAttempt(ctx context.Context, db *gorm.DB, key string, p ThrottlePolicy, now time.Time) (time.Time, error) {
	var until time.Time
	err := retryTx(ctx, db.WithContext(ctx), func(tx *gorm.DB) error {
		cutoff := now.Add(-p.Window)
		// MySQL evaluates SET left to right with new values: failures is
		// computed before window_start changes. SQLite uses old values throughout.
		var upsert string
		if IsMySQL(tx) {
			upsert = `INSERT INTO login_throttle (k, failures, window_start) VALUES (?, 1, ?)
				ON DUPLICATE KEY UPDATE failures = IF(window_start < ?, 1, failures + 1), window_start = IF(window_start < ?, ?, window_start)`
		} else {
			upsert = `INSERT INTO login_throttle (k, failures, window_start) VALUES (?, 1, ?)
				ON CONFLICT(k) DO UPDATE SET failures = CASE WHEN window_start < ? THEN 1 ELSE failures + 1 END,
				window_start = CASE WHEN window_start < ? THEN ? ELSE window_start END`
		}
		if err := tx.Exec(upsert, key, now, cutoff, cutoff, now).Error; err != nil {
			return err
		}
		var t LoginThrottle
		if err := tx.Where("k = ?", key).First(&t).Error; err != nil {
			return translate(err)
		}
		switch {
		case t.LockedUntil != nil && t.LockedUntil.After(now):
			until = *t.LockedUntil
		case t.Failures > p.MaxFailures:
			until = now.Add(p.Lock)
			return tx.Model(&LoginThrottle{}).Where("k = ?", key).
				Updates(map[string]any{"locked_until": until, "failures": 0, "window_start": now}).Error
		}
		return nil
	})
	return until, err
}

// ThrottleReset clears key after a successful sign-in.
func ThrottleReset(ctx context.Context, db *gorm.DB, key string) error {
	return db.WithContext(ctx).Where("k = ?", key).Delete(&LoginThrottle{}).Error
}

// ThrottleForgive takes back one counted attempt of key (a sign-in from a
// shared address that succeeded should not count against it).
func ThrottleForgive(ctx context.Context, db *gorm.DB, key string) error {
	return db.WithContext(ctx).Exec("UPDATE login_throttle SET failures = failures - 1 WHERE k = ? AND failures > 0", key).Error
}

// PruneThrottle deletes counters whose window and lock have both passed.
func PruneThrottle(ctx context.Context, db *gorm.DB, now time.Time, window time.Duration) (int64, error) {
	res := db.WithContext(ctx).Where("window_start < ? AND (locked_until IS NULL OR locked_until < ?)", now.Add(-window), now).
		Delete(&LoginThrottle{})
	return res.RowsAffected, res.Error
}

// ThrottleLocked returns which of keys are locked at now, with the end of
// each lock.
func ThrottleLocked(ctx context.Context, db *gorm.DB, keys []string, now time.Time) (map[string]time.Time, error) {
	out := map[string]time.Time{}
	if len(keys) == 0 {
		return out, nil
	}
	var rows []LoginThrottle
	if err := db.WithContext(ctx).Where("k IN ? AND locked_until > ?", keys, now.UTC()).Find(&rows).Error; err != nil {
		return nil, err
	}
	for _, r := range rows {
		out[r.K] = *r.LockedUntil
	}
	return out, nil
}
