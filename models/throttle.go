package models

import (
	"context"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// LoginThrottle counts failed sign-ins per key ("acct:EMAIL", "ip:ADDR") in
// the database, so every instance enforces the same limit.
type LoginThrottle struct {
	K           string `gorm:"column:k;primaryKey"`
	Failures    int
	WindowStart time.Time
	LockedUntil *time.Time
}

// TableName pins the table name.
func (LoginThrottle) TableName() string { return "login_throttle" }

// ThrottlePolicy says how many failures within Window lock a key, and for how long.
type ThrottlePolicy struct {
	MaxFailures int
	Window      time.Duration
	Lock        time.Duration
}

// LockedUntil returns when key is locked until (zero when it is not).
func ThrottleLockedUntil(ctx context.Context, db *gorm.DB, key string, now time.Time) (time.Time, error) {
	var t LoginThrottle
	err := db.WithContext(ctx).Where("k = ?", key).First(&t).Error
	if err != nil {
		if translate(err) == ErrNotFound {
			return time.Time{}, nil
		}
		return time.Time{}, err
	}
	if t.LockedUntil != nil && t.LockedUntil.After(now) {
		return *t.LockedUntil, nil
	}
	return time.Time{}, nil
}

// ThrottleFail records one failure for key and locks it when the policy says so.
func ThrottleFail(ctx context.Context, db *gorm.DB, key string, p ThrottlePolicy, now time.Time) error {
	return db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var t LoginThrottle
		q := tx.Where("k = ?", key)
		if IsMySQL(tx) {
			q = q.Clauses(lockingClause())
		}
		err := q.First(&t).Error
		if err != nil && translate(err) != ErrNotFound {
			return err
		}
		if err != nil || now.Sub(t.WindowStart) > p.Window {
			t = LoginThrottle{K: key, WindowStart: now}
		}
		t.Failures++
		if t.Failures >= p.MaxFailures {
			until := now.Add(p.Lock)
			t.LockedUntil = &until
			t.Failures = 0
			t.WindowStart = now
		}
		return tx.Clauses(clause.OnConflict{UpdateAll: true}).Create(&t).Error
	})
}

// ThrottleReset clears key after a successful sign-in.
func ThrottleReset(ctx context.Context, db *gorm.DB, key string) error {
	return db.WithContext(ctx).Where("k = ?", key).Delete(&LoginThrottle{}).Error
}
